"""`neuralshade serve` under load: N concurrent clients POST a mask to /v1/shade for M seconds.

The server runs as `neuralshade serve` in a subprocess on a free port of the loopback
interface (no other address is ever contacted). After a warm-up (the model loaded, every client
connected once), N client threads, each with its own keep-alive connection, send the same
mask (a seeded random mask of SIZE², PNG) to /v1/shade back to back for M seconds. Recorded:

- requests per second; latency per request (milliseconds from sending to the whole answer):
  p50, p95, p99, mean, max; the server's own computation time (its ``X-Milliseconds``), p50;
- errors: any answer other than a 200 PNG, or a failed connection (the script exits with
  status 1 unless there are none);
- the server process's resident memory (RSS; psutil where installed, else /proc), sampled
  every 0.5 s, and its growth from the first quarter of the run to the last (medians), to show
  that serving leaks nothing.

    python benchmarks/serve_load.py --clients 4 --seconds 60       # the figures
    python benchmarks/serve_load.py --quick                         # smoke test (seconds)

The JSON goes to ``benchmarks/results/serve_load.json`` (``serve_load_quick.json`` with
``--quick``). The clients share the machine with the server (on 2 cores, they take part of
it), so the figures are those of a loopback client, not of the server alone.
"""

from __future__ import annotations

import argparse
import http.client
import io
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import RESULTS, record
from PIL import Image

from neuralshade.imageio import to_uint8
from neuralshade.masks import random_mask

HOST = "127.0.0.1"  # the loopback interface only
SAMPLE_SECONDS = 0.5
STARTUP_SECONDS = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def mask_png(size: int, seed: int = 0) -> bytes:
    out = io.BytesIO()
    Image.fromarray(to_uint8(random_mask(size, np.random.default_rng(seed)))).save(out, "PNG")
    return out.getvalue()


def rss_mb(pid: int) -> float | None:
    """A process's resident memory in MB (10^6 B); None once it is gone."""
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss / 1e6
    except ImportError:
        pass
    except Exception:  # psutil.NoSuchProcess and the like
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        return None
    return None


def start_server(port: int, args: argparse.Namespace) -> subprocess.Popen:
    """`neuralshade serve` on HOST:port, answering /healthz; its stderr goes to a file."""
    command = [sys.executable, "-m", "neuralshade", "serve", "--host", HOST, "--port", str(port),
               "--log-level", "warning", "--workers", str(args.workers),
               "--queue", str(max(16, args.clients))]  # fmt: skip
    if args.model:
        command += ["--model", args.model]
    with open(args.server_log, "wb") as log:  # the server keeps its own handle
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}: see {args.server_log}")
        try:
            status, _, _ = request(HOST, port, "GET", "/healthz")
            if status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"the server did not answer within {STARTUP_SECONDS} s")


def request(host, port, method, path, body=None, headers=None, conn=None):
    """(status, headers, body) of one request, on ``conn`` if given (kept alive)."""
    own = conn is None
    conn = conn or http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        if own:
            conn.close()


def client(port: int, body: bytes, path: str, until: float, out: dict[str, list]) -> None:
    """POST ``body`` back to back until ``until``; record each latency, server time, error."""
    headers = {"Content-Type": "image/png"}
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    while time.perf_counter() < until:
        start = time.perf_counter()
        try:
            status, answer, data = request(HOST, port, "POST", path, body, headers, conn)
        except (OSError, http.client.HTTPException) as exc:
            out["errors"].append(f"{type(exc).__name__}: {exc}")
            conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=60)
            continue
        seconds = time.perf_counter() - start
        if status != 200 or not data.startswith(b"\x89PNG"):
            out["errors"].append(f"{status}: {data[:200]!r}")
            continue
        out["latency"].append(seconds)
        out["server_ms"].append(float(answer.get("x-milliseconds", "nan")))
    conn.close()


def sampler(pid: int, stop: threading.Event, samples: list[tuple[float, float]]) -> None:
    start = time.perf_counter()
    while not stop.is_set():
        value = rss_mb(pid)
        if value is not None:
            samples.append((time.perf_counter() - start, value))
        stop.wait(SAMPLE_SECONDS)


def quarters(samples: list[tuple[float, float]]) -> dict[str, Any]:
    """The RSS's medians over the first and the last quarter of the run, and the growth."""
    values = [v for _, v in samples]
    q = max(1, len(values) // 4)
    first, last = float(np.median(values[:q])), float(np.median(values[-q:]))
    return {
        "first_quarter_mb": first,
        "last_quarter_mb": last,
        "growth_mb": last - first,
        "growth_fraction": (last - first) / first,
        "min_mb": min(values),
        "max_mb": max(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="the server's --model (default: its own)")
    parser.add_argument("--size", type=int, default=256, help="mask side, pixels (default 256)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument("--seconds", type=float, default=60, help="run length (default 60)")
    parser.add_argument("--workers", type=int, default=2, help="server threads (default 2)")
    parser.add_argument("--quick", action="store_true", help="2 clients, 3 s, 64² (smoke test)")
    parser.add_argument("--out", type=Path, default=None, help="the JSON (default: results/)")
    parser.add_argument("--server-log", type=Path, default=None, help="the server's output")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.seconds, args.size = 2, 3.0, 64
    stem = "serve_load_quick" if args.quick else "serve_load"
    out_path = args.out or RESULTS / f"{stem}.json"
    args.server_log = args.server_log or Path(os.environ.get("TMPDIR", "/tmp")) / f"{stem}.log"

    body = mask_png(args.size)
    path = "/v1/shade"
    port = free_port()
    server = start_server(port, args)
    try:
        # warm-up, untimed: the first requests (the model itself is loaded as the server starts)
        warm = [request(HOST, port, "POST", path, body, {"Content-Type": "image/png"})
                for _ in range(max(3, args.clients))]  # fmt: skip
        warm_errors = [f"{s}: {d[:200]!r}" for s, _, d in warm if s != 200]
        results = {"latency": [], "server_ms": [], "errors": []}
        per_client = [{"latency": [], "server_ms": [], "errors": []} for _ in range(args.clients)]
        samples: list[tuple[float, float]] = []
        stop = threading.Event()
        watcher = threading.Thread(target=sampler, args=(server.pid, stop, samples))
        watcher.start()
        start = time.perf_counter()
        until = start + args.seconds
        threads = [
            threading.Thread(target=client, args=(port, body, path, until, o)) for o in per_client
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        stop.set()
        watcher.join()
        for o in per_client:
            for key in results:
                results[key] += o[key]
        status, _, health = request(HOST, port, "GET", "/healthz")
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()

    latency_ms = np.array(results["latency"]) * 1e3
    errors = warm_errors + results["errors"]
    done = len(latency_ms)
    figures = {
        "requests": done,
        "seconds": elapsed,
        "requests_per_second": done / elapsed,
        "latency_ms": {
            f"p{q}": float(np.percentile(latency_ms, q)) if done else None for q in (50, 95, 99)
        }
        | {
            "mean": float(latency_ms.mean()) if done else None,
            "max": float(latency_ms.max()) if done else None,
        },
        "server_ms_p50": float(np.median(results["server_ms"])) if done else None,
        "errors": len(errors),
        "error_examples": errors[:5],
        "rss": quarters(samples) if samples else None,
        "rss_samples_mb": [round(v, 1) for _, v in samples],
        "healthy_after": status == 200,
    }
    record(
        out_path,
        "serve_load",
        args.quick,
        {
            "endpoint": path,
            "model": args.model,
            "mask": {"size": args.size, "png_bytes": len(body), "seed": 0},
            "clients": args.clients,
            "server": {"workers": args.workers, "host": HOST},
            **figures,
        },
        **versions(),
    )
    lat = figures["latency_ms"]
    rss = figures["rss"] or {}
    if done:
        print(
            f"{args.clients} clients, {args.size}² masks, {elapsed:.1f} s: {done} requests, "
            f"{figures['requests_per_second']:.1f}/s; latency p50 {lat['p50']:.0f} ms, p95 "
            f"{lat['p95']:.0f} ms, p99 {lat['p99']:.0f} ms (computing: "
            f"{figures['server_ms_p50']:.0f} ms); errors {len(errors)}; RSS "
            f"{rss.get('first_quarter_mb', 0):.0f} → {rss.get('last_quarter_mb', 0):.0f} MB"
        )
    if errors or not done or status != 200:
        print(f"error: {len(errors)} failed requests, e.g. {errors[:3]}", file=sys.stderr)
        sys.exit(1)


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("fastapi", "uvicorn", "starlette")}


if __name__ == "__main__":
    main()

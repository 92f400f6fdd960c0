"""The measured cost of a room dataset: render it with the README's command and time every part.

Runs the dataset driver (:func:`neuralshade.data.generate.generate`, as ``neuralshade dataset
room`` does) on the README's dataset — 250 scenes × 4 views of 128², the noisy pass at 4 spp
with every G-buffer, the reference pass at 1024 spp — into ``--data`` (outside the work tree:
it holds about 2 GB), or with ``--ao`` the README's AO dataset (deep shading's inputs and the
converged AO alone), and records the wall time and the process's CPU time of what this run
rendered. The dataset resumes, and so does this record: a run that is killed and started again
renders only the missing views and adds its time to the JSON's earlier runs (the JSON is
rewritten after every ``--every`` views, so a kill loses at most that many views' timing; the
views themselves are never lost). The JSON says whether the dataset is complete and how many
views were timed; a view rendered while the benchmark was not running is on disk but untimed.

Mitsuba's LLVM backend already renders one view on every core, so the default is one worker.
CPU seconds are the process's user + system time: another job sharing the cores inflates the
wall time, much less the CPU time; ``cpu_busy`` (CPU / (wall × cores)) shows how much of the
machine this run had.

    python benchmarks/room_dataset.py --data /work/data/room    # 1000 views, ~3 h on 2 cores
    python benchmarks/room_dataset.py --data /work/data/room --stop-after 100  # a sample of it
    python benchmarks/room_dataset.py --ao --data /work/data/room-ao    # the AO dataset
    python benchmarks/room_dataset.py --quick --data /tmp/rq    # 2 scenes × 2 views of 32²
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

from common import RESULTS, record

from neuralshade.data.generate import generate, load_config, missing_samples

FULL = {"count": 250, "views": 4, "size": 128, "seed": 0, "spp": 4, "reference_spp": 1024}
QUICK = {"count": 2, "views": 2, "size": 32, "seed": 0, "spp": 4, "reference_spp": 64}
# the README's AO dataset: deep shading's inputs and the converged AO, no converged path
AO = {"buffers": ["position", "normal", "depth", "albedo"], "reference_buffers": ["ao"]}


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def folder_bytes(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the dataset directory")
    parser.add_argument("--quick", action="store_true", help="2 scenes × 2 views of 32²")
    parser.add_argument(
        "--ao", action="store_true", help="the README's AO dataset (--reference-buffers ao)"
    )
    parser.add_argument("--every", type=int, default=10, help="views between JSON updates")
    parser.add_argument(
        "--stop-after",
        type=int,
        default=None,
        help="stop once this run has rendered about this many views (a sample of the cost; "
        "run again to go on)",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON output path")
    args = parser.parse_args(argv)
    values = {**(QUICK if args.quick else FULL), **(AO if args.ao else {})}
    config = load_config(values, source="room")
    stem = f"room_dataset{'_ao' if args.ao else ''}{'_quick' if args.quick else ''}"
    out = args.out or RESULTS / f"{stem}.json"

    earlier: list[dict] = []
    if out.exists():
        previous = json.loads(out.read_text())
        if previous.get("config") == config.model_dump(mode="json"):
            earlier = previous["runs"]
    total = config.count * config.views
    run = {"views": 0, "wall_seconds": 0.0, "cpu_seconds": 0.0}

    def write() -> None:
        runs = [*earlier, run] if run["views"] else earlier
        views = sum(r["views"] for r in runs)
        wall = sum(r["wall_seconds"] for r in runs)
        cpu = sum(r["cpu_seconds"] for r in runs)
        per_view = wall / views if views else None
        missing = len(missing_samples(args.data))
        samples, done = args.data / "samples", total - missing
        result = {
            "data": str(args.data),
            "config": config.model_dump(mode="json"),
            "views": total,
            "views_on_disk": total - missing,
            "views_timed": views,
            "complete": missing == 0,
            "runs": runs,
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "seconds_per_view": per_view,
            "cpu_seconds_per_view": cpu / views if views else None,
            "cpu_busy": cpu / (wall * (os.cpu_count() or 1)) if wall else None,
            "hours_for_all_views": per_view * total / 3600 if per_view else None,
            "bytes_per_view": folder_bytes(samples) / done if done else None,
        }
        record(out, stem.removesuffix("_quick"), args.quick, result)

    # shards of about `every` views, in order: the driver renders only what a shard misses
    parts = -(-total // args.every)
    for i in range(parts):
        if args.stop_after is not None and run["views"] >= args.stop_after:
            break
        wall0, cpu0 = time.perf_counter(), cpu_seconds()
        rendered = generate(args.data, config, shard=(i, parts), quiet=True)["rendered"]
        if not rendered:
            continue
        run["views"] += rendered
        run["wall_seconds"] += time.perf_counter() - wall0
        run["cpu_seconds"] += cpu_seconds() - cpu0
        write()
        print(
            f"part {i + 1}/{parts}; this run {run['views']} views in "
            f"{run['wall_seconds']:.0f} s ({run['wall_seconds'] / run['views']:.2f} s/view)",
            flush=True,
        )
    write()


if __name__ == "__main__":
    main()

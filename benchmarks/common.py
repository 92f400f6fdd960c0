"""Shared by the benchmark scripts: the machine's description, timing, and the JSON record."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuralshade.imageio import write_json

RESULTS = Path(__file__).parent / "results"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine(**versions: str) -> dict[str, Any]:
    """What the figures were measured on; ``versions`` adds libraries beyond numpy and torch."""
    return {
        "cpu_model": cpu_model(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        **versions,
    }


def timed(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> list[float]:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times; the seconds of each."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def interleaved_ms(calls: dict[str, Any], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median milliseconds of each call, timed in rounds that run every call in turn.

    This VM's speed drifts from minute to minute; taking turns exposes every
    contender to the same drift, so their ratios hold even when the absolute times move.
    In its turn a call runs once untimed, then once timed: a small network run right after a
    large one would otherwise pay for the memory the large one just handed back.
    """
    for call in calls.values():
        for _ in range(warmup):
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            call()
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) * 1e3 for name, t in times.items()}


def record(out: Path, name: str, quick: bool, payload: dict[str, Any], **versions: str) -> None:
    """Write a benchmark's JSON with the command line and the machine, atomically."""
    write_json(
        out,
        {
            "benchmark": name,
            "command": " ".join(["python", *sys.argv]),
            "quick": quick,
            "machine": machine(**versions),
            **payload,
        },
    )
    print(f"wrote {out}")


def enlarged_picture(image: np.ndarray, scale: int) -> np.ndarray:
    """A picture (H, W) or (H, W, 3) in [0, 1] clipped, as RGB, each pixel a scale × scale block
    (for grids of small renders)."""
    image = np.clip(np.asarray(image, np.float32), 0, 1)
    image = image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)
    return image.repeat(scale, axis=0).repeat(scale, axis=1)


def scored(calls: dict[str, Callable], views: list, score: Callable) -> dict[str, Any]:
    """Per method (``calls``: name → view → prediction): ``score(prediction, view)`` of each
    view ({metric: value}) and their means: {name: {"mean", "views"}}."""
    out: dict[str, Any] = {}
    with torch.inference_mode():
        for name, call in calls.items():
            per_view = [score(call(view).float(), view) for view in views]
            means = {k: float(np.mean([p[k] for p in per_view])) for k in per_view[0]}
            out[name] = {"mean": means, "views": per_view}
    return out

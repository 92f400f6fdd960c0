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

"""Timing for the side-by-side speed figures: warm up, then the median of several runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch


def median_seconds(
    fn: Callable[[], Any], repeats: int, *, warmup: int = 1, device: torch.device | None = None
) -> tuple[float, Any]:
    """(median seconds of ``repeats`` calls after ``warmup`` untimed ones, the last result).

    On CUDA the device is synchronised around each call, so queued kernels are counted.
    """

    def sync() -> None:
        if device is not None and device.type == "cuda":
            torch.cuda.synchronize(device)

    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(max(1, repeats)):
        sync()
        start = time.perf_counter()
        result = fn()
        sync()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result

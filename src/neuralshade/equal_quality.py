"""Time to equal quality: the fewest samples at which a renderer matches a target error.

A network that replaces a Monte Carlo renderer is fairly timed against the renderer at the
sample count where the renderer is as accurate as the network, not at an arbitrary one
(REFERENCES.md, "Monte Carlo denoising": "time to equal quality"). This module finds that count
for any renderer; it names no task. The caller supplies

    error_at(n) -> (error, seconds)

the mean error over the test images of the renderer at n samples (per pixel) and its seconds
per image, and :func:`time_to_equal_quality` searches n:

1. It walks the ladder up (by default 1, 2, 4, …, 4096) and stops at the first rung whose error
   reaches the target (error ≤ target; ≥ with ``higher_is_better``, for PSNR or SSIM).
2. It bisects the integers between the last rung that failed (0 below the first rung) and that
   rung, keeping "lo fails, hi passes", until they are adjacent, or within ``rel_tol`` · hi.
   The answer is hi.

Noise. A renderer's error falls with n only on average: its measured curve is noisy, and a
lucky n may pass below the true crossing or an unlucky one fail above it. The search never
reports an n whose own measurement failed: among everything it evaluated, every n below the
answer failed and every n from the answer up passed, so the answer is where the *measured*
curve crosses the target, found from below. An n it did not evaluate may still pass by luck
below the answer, and its precision is the width of the band of n where the error is within
the noise of the target. Averaging over more images narrows that band. ``monotone`` in the
result says whether the evaluated errors, in order of n, only improved; False is a sign that
the noise is of the order of the steps between the evaluated n.

>>> result = time_to_equal_quality(lambda n: (1.0 / n, 0.01 * n), target=0.3)
>>> result["samples"], result["reached"]
(4, True)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from neuralshade.errors import ConfigError, InputError
from neuralshade.metrics import get_metric

ErrorAt = Callable[[int], tuple[float, float]]
DEFAULT_LADDER: tuple[int, ...] = tuple(2**k for k in range(13))  # 1 … 4096


def time_to_equal_quality(
    error_at: ErrorAt,
    target: float,
    ladder: Sequence[int] = DEFAULT_LADDER,
    *,
    higher_is_better: bool = False,
    rel_tol: float = 0.0,
) -> dict[str, Any]:
    """The smallest n whose measured error reaches ``target``, and the renderer's time there.

    error_at: n → (error, seconds per image), both finite; called once per n evaluated.
    target: the error to reach (e.g. the network's, on the same images against the same
        reference).
    ladder: the rungs to walk, strictly increasing positive integers.
    higher_is_better: reach means error ≥ target (a similarity such as PSNR) instead of ≤.
    rel_tol: stop bisecting once the bracket is at most ``rel_tol`` · hi wide (0: exact
        integer; 0.05 saves evaluations when each costs minutes and noise blurs the answer
        anyway).

    Returns a JSON-friendly dict: ``samples``, ``error``, ``seconds`` (at the answer),
    ``reached`` (False when no rung reaches the target: then they are the best rung's),
    ``target``, ``monotone`` (see the module docstring) and ``curve``, every evaluation
    ``{"samples", "error", "seconds"}`` in order of n.
    """
    rungs = _check_ladder(ladder)
    if not math.isfinite(target):
        raise ConfigError(f"the target error must be a finite number, got {target}")
    if not 0.0 <= rel_tol < 1.0:
        raise ConfigError(f"rel_tol must be in [0, 1), got {rel_tol}")
    measured: dict[int, tuple[float, float]] = {}

    def passes(n: int) -> bool:
        if n not in measured:
            measured[n] = _measure(error_at, n)
        error = measured[n][0]
        return error >= target if higher_is_better else error <= target

    lo, hi = 0, None  # 0 samples: no image, which never reaches anything
    for n in rungs:
        if passes(n):
            hi = n
            break
        lo = n
    if hi is not None:
        while hi - lo > max(1.0, rel_tol * hi):
            mid = (lo + hi) // 2
            if passes(mid):
                hi = mid
            else:
                lo = mid
        answer = hi
    else:
        sign = -1.0 if higher_is_better else 1.0
        answer = min(measured, key=lambda n: (sign * measured[n][0], n))

    curve = [{"samples": n, "error": e, "seconds": s} for n, (e, s) in sorted(measured.items())]
    errors = [point["error"] for point in curve]
    steps = np.diff(errors) * (-1.0 if higher_is_better else 1.0)
    return {
        "samples": answer,
        "error": measured[answer][0],
        "seconds": measured[answer][1],
        "reached": hi is not None,
        "target": float(target),
        "monotone": bool((steps <= 0).all()),
        "curve": curve,
    }


def _check_ladder(ladder: Sequence[int]) -> list[int]:
    rungs = list(ladder)
    if not rungs or any(
        isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in rungs
    ):
        raise ConfigError(f"the ladder must be positive integers, got {rungs}")
    if any(b <= a for a, b in itertools.pairwise(rungs)):
        raise ConfigError(f"the ladder must be strictly increasing, got {rungs}")
    return [int(n) for n in rungs]


def _measure(error_at: ErrorAt, n: int) -> tuple[float, float]:
    error, seconds = error_at(n)
    error, seconds = float(error), float(seconds)
    if not (math.isfinite(error) and math.isfinite(seconds)):
        raise InputError(
            f"error_at({n}) gave error {error}, seconds {seconds}: both must be finite"
        )
    return error, seconds


# ---- the error of images against references ------------------------------------------------


def mean_error(
    images: Sequence[np.ndarray], references: Sequence[np.ndarray], metric: str = "l1"
) -> float:
    """The mean over images of a registered metric (:mod:`neuralshade.metrics`).

    images, references: equally many (H, W, C) float arrays, image i against reference i.
    """
    if len(images) != len(references) or not images:
        raise InputError(
            f"need as many images as references, at least one: {len(images)} and {len(references)}"
        )
    per_image = get_metric(metric).per_image
    values = [
        float(per_image(_batch(image), _batch(reference)))
        for image, reference in zip(images, references, strict=True)
    ]
    return float(np.mean(values))


def images_error_at(
    render: Callable[[int, int], tuple[np.ndarray, float]],
    references: Sequence[np.ndarray],
    metric: str = "l1",
) -> ErrorAt:
    """``error_at`` for a renderer of several test images.

    render(i, n) → (image i at n samples (H, W, C), seconds it took); give each (i, n) its own
    seed, so that rungs and images have independent noise. error_at(n) is the mean ``metric``
    of the images against ``references`` and their mean seconds.
    """
    get_metric(metric)

    def error_at(n: int) -> tuple[float, float]:
        images, seconds = zip(*(render(i, n) for i in range(len(references))), strict=True)
        return mean_error(images, references, metric), float(np.mean(seconds))

    return error_at


def _batch(image: np.ndarray) -> torch.Tensor:
    """(H, W, C) array → (1, C, H, W) float32 tensor."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim != 3:
        raise InputError(f"images must be (H, W, C) arrays, got shape {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None]

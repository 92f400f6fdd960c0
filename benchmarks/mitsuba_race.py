"""Shared by the deep-shading benchmarks: Mitsuba 3 at n samples per pixel, raced to a quality.

A race view is a dict holding ``mitsuba`` (a callable giving the Mitsuba scene and the
:func:`~neuralshade.render.mitsuba.gbuffer.render_gbuffers` settings it renders with) and
``reference`` (the converged target, (C, H, W)); a score compares a render with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from neuralshade.equal_quality import time_to_equal_quality
from neuralshade.render.mitsuba.gbuffer import render_gbuffers

Score = Callable[[torch.Tensor, torch.Tensor], float]  # (render, reference), each (C, H, W)


def warm_seconds(
    scene: Any, common: dict, n: int, seed: int, warm: bool, buffer: str
) -> tuple[np.ndarray, float]:
    """Mitsuba's ``buffer`` at n samples per pixel, (H, W, C), and its seconds; ``warm``: one
    untimed call first, so the kernel for this n is compiled (and cached) before the timed one."""
    if warm:
        render_gbuffers(scene, spp=n, seed=seed + 7, buffers=[buffer], **common)
    start = time.perf_counter()
    image = render_gbuffers(scene, spp=n, seed=seed, buffers=[buffer], **common)[buffer]
    return image, time.perf_counter() - start


class MitsubaRacer:
    """Mitsuba 3's ``buffer`` at n samples per pixel on the race views, each (view, n) rendered
    once, scored by ``score`` against the view's reference."""

    def __init__(self, views: list[dict[str, Any]], buffer: str, score: Score):
        self.scenes = [view["mitsuba"]() for view in views]  # (Mitsuba scene, its settings)
        self.references = [v["reference"] for v in views]
        self.buffer, self.score = buffer, score
        self.cache: dict[int, tuple[list[float], float]] = {}

    def at(self, n: int) -> tuple[float, float]:
        """(mean score, mean seconds per image) at n samples per pixel, warm."""
        if n not in self.cache:
            values, seconds = [], []
            for k, (scene, common) in enumerate(self.scenes):
                image, s = warm_seconds(
                    scene, common, n, seed=1000 * n + k, warm=k == 0, buffer=self.buffer
                )
                render = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
                values.append(float(self.score(render, self.references[k])))
                seconds.append(s)
            self.cache[n] = (values, float(np.mean(seconds)))
        values, seconds = self.cache[n]
        return float(np.mean(values)), seconds


def race(
    targets: dict[str, float],
    views: list[dict[str, Any]],
    ladder,
    names: dict[str, str],
    *,
    buffer: str,
    metric: str,
    score: Score,
    higher_is_better: bool,
    unit: str = "spp",
) -> dict[str, Any]:
    """The samples per pixel Mitsuba needs to reach each method's mean ``metric`` on ``views``
    (``targets``: method → its mean there): {metric: targets, equal_quality, mitsuba_curve}."""
    racer = MitsubaRacer(views, buffer, score)
    equal = {}
    for name, target in targets.items():
        result = time_to_equal_quality(racer.at, target, ladder, higher_is_better=higher_is_better)
        equal[name] = result
        print(f"    Mitsuba matches {names[name]} ({metric} {target:.4f}) at {result['samples']} "
              f"{unit}{'' if result['reached'] else ' (not reached)'}: "
              f"{result['seconds'] * 1e3:.0f} ms")  # fmt: skip
    curve = {str(n): {metric: float(np.mean(v)), "seconds": s}
             for n, (v, s) in sorted(racer.cache.items())}  # fmt: skip
    return {metric: targets, "equal_quality": equal, "mitsuba_curve": curve}

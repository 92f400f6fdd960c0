"""What the one-pass G-buffer costs next to Mitsuba's own ``path`` integrator.

Both render the same small room (a box of rectangles, a glossy sphere, a small sphere light)
at the same resolution, spp and max_depth; each is warmed up (JIT compile), then timed, and the
medians compared. ``render_gbuffers`` computes every buffer of :data:`.gbuffer.BUFFERS`.

    python -m neuralshade.render.mitsuba.benchmark            # 64² × 64 spp
    python -m neuralshade.render.mitsuba.benchmark --size 32 --spp 16 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from neuralshade.render.mitsuba_scene import load_mitsuba


def room_scene(size: int) -> Any:
    """A CNSR-like room as a ``mi.Scene``: floor y = −0.5, ceiling 2.5, three walls, a
    roughplastic sphere (r = 0.5), a sphere light (r = 0.125, radiance 35), a 75° camera
    rendering ``size`` × ``size`` through a box filter."""
    mi = load_mitsuba()
    t = mi.ScalarTransform4f()

    def diffuse(rgb: list[float]) -> dict:
        return {"type": "diffuse", "reflectance": {"type": "rgb", "value": rgb}}

    def wall(at: list[float], axis: list[float], angle: float, scale: list[float], rgb) -> dict:
        to_world = t.translate(at).rotate(axis, angle).scale(scale)
        return {"type": "rectangle", "to_world": to_world, "bsdf": diffuse(rgb)}

    white = [0.8, 0.8, 0.8]
    return mi.load_dict(
        {
            "type": "scene",
            "floor": wall([0, -0.5, 0], [1, 0, 0], -90, [3, 3, 1], white),
            "ceiling": wall([0, 2.5, 0], [1, 0, 0], 90, [3, 3, 1], white),
            "back": wall([0, 1, -3], [0, 1, 0], 0, [3, 1.5, 1], [0.8, 0.2, 0.1]),
            "left": wall([-3, 1, 0], [0, 1, 0], 90, [3, 1.5, 1], [0.1, 0.7, 0.2]),
            "right": wall([3, 1, 0], [0, 1, 0], -90, [3, 1.5, 1], [0.2, 0.3, 0.8]),
            "ball": {
                "type": "sphere",
                "center": [0.5, 0.0, -0.5],
                "radius": 0.5,
                "bsdf": {
                    "type": "roughplastic",
                    "alpha": 0.25,
                    "diffuse_reflectance": {"type": "rgb", "value": [0.9, 0.6, 0.1]},
                },
            },
            "light": {
                "type": "sphere",
                "center": [-0.8, 1.6, 0.3],
                "radius": 0.125,
                "emitter": {"type": "area", "radiance": {"type": "rgb", "value": [35, 35, 35]}},
            },
            "sensor": {
                "type": "perspective",
                "fov": 75,
                "to_world": t.look_at(origin=[0.6, 1.4, 2.8], target=[0, 0.6, 0], up=[0, 1, 0]),
                "film": {
                    "type": "hdrfilm",
                    "width": size,
                    "height": size,
                    "rfilter": {"type": "box"},
                },
            },
        }
    )


def _median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def gbuffer_cost(
    size: int = 64, spp: int = 64, max_depth: int = 5, repeats: int = 7
) -> dict[str, Any]:
    """Seconds of ``path`` and of ``render_gbuffers`` (every buffer; beauty alone) on
    :func:`room_scene`, and their ratios. Both results are pulled into numpy, so the times
    include the wait for the kernels."""
    from neuralshade.render.mitsuba.gbuffer import render_gbuffers

    mi = load_mitsuba()
    scene = room_scene(size)
    path = mi.load_dict({"type": "path", "max_depth": max_depth})
    path_s = _median_seconds(
        lambda: np.asarray(mi.render(scene, integrator=path, spp=spp, seed=1)), repeats
    )
    all_s = _median_seconds(
        lambda: render_gbuffers(scene, spp=spp, seed=1, max_depth=max_depth), repeats
    )
    beauty_s = _median_seconds(
        lambda: render_gbuffers(scene, spp=spp, seed=1, max_depth=max_depth, buffers=["beauty"]),
        repeats,
    )
    return {
        "size": size,
        "spp": spp,
        "max_depth": max_depth,
        "repeats": repeats,
        "cpu_count": os.cpu_count(),
        "variant": mi.variant(),
        "path_s": path_s,
        "gbuffers_s": all_s,
        "beauty_only_s": beauty_s,
        "ratio_all": all_s / path_s,
        "ratio_beauty_only": beauty_s / path_s,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=64, help="image width and height")
    parser.add_argument("--spp", type=int, default=64, help="samples per pixel")
    parser.add_argument("--max-depth", type=int, default=5, help="path length, Mitsuba's sense")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs (median reported)")
    args = parser.parse_args(argv)
    print(json.dumps(gbuffer_cost(args.size, args.spp, args.max_depth, args.repeats), indent=2))


if __name__ == "__main__":
    main()

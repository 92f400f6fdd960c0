"""A small fixed room as a ``mi.Scene``: the scene the G-buffer tests render.

What the G-buffer costs next to Mitsuba's ``path`` is measured on random PrimitiveRooms by
``benchmarks/room_costs.py``.
"""

from __future__ import annotations

from typing import Any

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

"""PrimitiveRoom: CNSR's playground scene, drawn at random as a :class:`~.model.Scene`.

A Cornell-box-like room: floor 6 × 6 at y = −0.5, ceiling at 2.5, four walls 3 high, each
wall its own fully saturated colour (random hue, S = V = 1), floor and ceiling white, all
Lambertian. Up to five objects (sphere of radius 0.5, cube, dodecahedron, cylinder, teapot;
the meshes are CNSR's, in ``assets/primitive-room``), each present with p = 0.5, placed in
random order at x, z ∈ [−2.25, 2.25] at least 1.55 apart (5 tries, else left out), turned
about y at random and resting on the floor; each a random hue with roughness 1.0, 0.5 or 0.05
(p = 0.33, 0.33, 0.34). One sphere light, radius 0.125, radiance 35, at x, z ∈ [−2.25, 2.25],
y ∈ [1, 1.85], hidden from the camera. Each view: fov 75°, 1.5–3 from the room's centre
axis at a height of 1–2, looking at a point of [0, 1] × [0, 2] × [0, 1]. Material indices
(the id buffer) are CNSR's: floor 0, ceiling 1, walls 2–5, dodecahedron 7, cylinder 8,
cube 9, sphere 10, teapot 11.

Randomness: lighting, geometry and material (CNSR's factors 0, 1, 2) and the cameras are
drawn from four independent streams, ``np.random.SeedSequence([seed, index, stream])``, so
the scene depends only on (seed, index), and :func:`factor_varied_rooms` redraws one factor
with everything else bit for bit the same. Materials are drawn for all five objects, present
or not, so that the geometry does not move the material stream.

Where this differs from CNSR's code (``renderer/randomize/scene_randomizer.py``): there the
objects' (x, z) went into an integer array, which truncated them to {−2, …, 2}; here they are
continuous, as the paper's ranges say. There x and z of the camera took independent angles
and radii; here one angle and one radius put the camera 1.5–3 from the centre axis. The
teapot is lifted by 0.0079 so that it rests on the floor instead of sinking into it.
"""

from __future__ import annotations

import bisect
import colorsys
import math
from collections.abc import Mapping
from typing import Literal

import numpy as np

from neuralshade.errors import ConfigError
from neuralshade.scenes.model import (
    Camera,
    Film,
    Light,
    Material,
    Mesh,
    Rectangle,
    Rotation,
    Scene,
    Shape,
    Sphere,
    SphereLight,
    Transform,
)

Factor = Literal["lighting", "geometry", "material"]
FACTORS: tuple[Factor, ...] = ("lighting", "geometry", "material")  # CNSR's factors 0, 1, 2
_CAMERA_STREAM = 3

FLOOR_Y = -0.5
CEILING_Y = 2.5
HALF_SIZE = 3.0  # the floor is 6 × 6
FOV = 75.0  # every view's horizontal field of view, degrees
PLACEMENT = 2.25  # objects and the light at x, z ∈ [−2.25, 2.25]
MIN_SEPARATION = 1.55
PLACEMENT_TRIES = 5
ROUGHNESS = (1.0, 0.5, 0.05)  # drawn for u ∈ [0, 0.33), [0.33, 0.66), [0.66, 1)
ROUGHNESS_BOUNDS = (0.33, 0.66)
LIGHT_RADIUS = 0.125
LIGHT_RADIANCE = 35.0

# name, mesh asset (None: the analytic sphere), lowest local y (from the files' bounds),
# material index
OBJECTS = (
    ("sphere", None, -0.5, 10),
    ("cube", "primitive-room/cube_bigger.obj", 0.0, 9),
    ("dodecahedron", "primitive-room/dodecahedron.obj", 0.0, 7),
    ("cylinder", "primitive-room/cylinder.obj", 0.0, 8),
    ("teapot", "primitive-room/teapot2.obj", -0.00788524747, 11),
)

# name, centre, rotations turning the rectangle's +z normal into the room, half extents,
# material index; the walls' hues are drawn in this order
_h = (CEILING_Y - FLOOR_Y) / 2
_WALLS = (
    ("back-wall", (0.0, FLOOR_Y + _h, -HALF_SIZE), (), (HALF_SIZE, _h, 1.0), 2),
    ("front-wall", (0.0, FLOOR_Y + _h, HALF_SIZE), (((0, 1, 0), 180.0),), (HALF_SIZE, _h, 1.0), 5),
    ("left-wall", (-HALF_SIZE, FLOOR_Y + _h, 0.0), (((0, 1, 0), 90.0),), (HALF_SIZE, _h, 1.0), 3),
    ("right-wall", (HALF_SIZE, FLOOR_Y + _h, 0.0), (((0, 1, 0), -90.0),), (HALF_SIZE, _h, 1.0), 4),
)
_FLOOR_CEILING = (
    ("floor", (0.0, FLOOR_Y, 0.0), (((1, 0, 0), -90.0),), (HALF_SIZE, HALF_SIZE, 1.0), 0),
    ("ceiling", (0.0, CEILING_Y, 0.0), (((1, 0, 0), 90.0),), (HALF_SIZE, HALF_SIZE, 1.0), 1),
)


def random_room(seed: int, index: int, views: int = 1, *, film: Film | None = None) -> Scene:
    """The PrimitiveRoom scene number ``index`` of the set drawn with ``seed``.

    ``views`` cameras (Scene.cameras); ``film`` defaults to 64 × 64 as in CNSR. The same
    arguments give the same scene, bit for bit.
    """
    _check_ints(seed=seed, index=index, views=views)
    return _room(seed, index, views, film, {})


def factor_varied_rooms(
    seed: int,
    index: int,
    factor: Factor,
    count: int,
    *,
    views: int = 1,
    film: Film | None = None,
) -> list[Scene]:
    """``count`` rooms that differ only in ``factor``: the first is ``random_room(seed, index)``,
    each other one redraws that factor (from its own stream) and shares the other two factors
    and the cameras exactly.
    """
    _check_ints(seed=seed, index=index, views=views, count=count)
    if factor not in FACTORS:
        raise ConfigError(f"unknown factor {factor!r}; factors: {', '.join(FACTORS)}")
    return [_room(seed, index, views, film, {factor: k} if k else {}) for k in range(count)]


def drawn_room(
    seed: int,
    index: int,
    views: int = 1,
    *,
    film: Film | None = None,
    redraw: Mapping[str, int] | None = None,
) -> Scene:
    """Room ``index`` of ``seed`` with each factor f of ``redraw`` taken from its member
    ``redraw[f]`` (0: the room's own draw; k: the k-th member of :func:`factor_varied_rooms`)."""
    _check_ints(seed=seed, index=index, views=views)
    redraw = {f: int(k) for f, k in (redraw or {}).items() if k}
    unknown = sorted(set(redraw) - set(FACTORS))
    if unknown:
        raise ConfigError(f"unknown factor(s) {unknown}; factors: {', '.join(FACTORS)}")
    return _room(seed, index, views, film, redraw)


def _check_ints(**values: int) -> None:
    for name, value in values.items():
        low = 0 if name in ("seed", "index") else 1
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")


def _room(seed: int, index: int, views: int, film: Film | None, redraw: dict[str, int]) -> Scene:
    """The room whose factor f is drawn from stream (seed, index, f) or, for f in ``redraw``,
    from (seed, index, f, redraw[f])."""

    def rng(stream: int, name: str) -> np.random.Generator:
        key = [int(seed), int(index), stream] + ([redraw[name]] if name in redraw else [])
        return np.random.default_rng(np.random.SeedSequence(key))

    lighting, geometry, material = (rng(i, name) for i, name in enumerate(FACTORS))
    cameras = rng(_CAMERA_STREAM, "cameras")
    return Scene(
        film=film or Film(width=64, height=64),
        cameras=[_camera(cameras) for _ in range(views)],
        shapes=_geometry(geometry),
        materials=_materials(material),
        lights=_lighting(lighting),
        lights_hidden=True,
    )


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(rng.random())


def _lighting(rng: np.random.Generator) -> list[Light]:
    x = _uniform(rng, -PLACEMENT, PLACEMENT)
    y = _uniform(rng, 1.0, 1.85)
    z = _uniform(rng, -PLACEMENT, PLACEMENT)
    radiance = (LIGHT_RADIANCE,) * 3
    return [SphereLight(id="light", position=(x, y, z), radius=LIGHT_RADIUS, radiance=radiance)]


def _panel(name: str, centre, rotations, half) -> Rectangle:
    rotate = [Rotation(axis=axis, degrees=degrees) for axis, degrees in rotations]
    return Rectangle(
        id=name, material=name, to_world=Transform(translate=centre, rotate=rotate, scale=half)
    )


def _geometry(rng: np.random.Generator) -> list[Shape]:
    """The room's panels, then the objects that were placed (in OBJECTS order)."""
    placed: dict[int, tuple[float, float, float]] = {}  # object → (x, z, degrees)
    for k in rng.permutation(len(OBJECTS)):
        if rng.random() <= 0.5:
            continue
        for _ in range(PLACEMENT_TRIES):
            x, z = _uniform(rng, -PLACEMENT, PLACEMENT), _uniform(rng, -PLACEMENT, PLACEMENT)
            if all(math.hypot(x - px, z - pz) >= MIN_SEPARATION for px, pz, _ in placed.values()):
                placed[int(k)] = (x, z, _uniform(rng, 0.0, 360.0))
                break
    shapes: list[Shape] = [_panel(*panel[:4]) for panel in _WALLS + _FLOOR_CEILING]
    for k, (name, asset, bottom, _index) in enumerate(OBJECTS):
        if k not in placed:
            continue
        x, z, degrees = placed[k]
        to_world = Transform(
            translate=(x, FLOOR_Y - bottom, z), rotate=[Rotation(axis=(0, 1, 0), degrees=degrees)]
        )
        if asset is None:
            shapes.append(Sphere(id=name, material=name, radius=-bottom, to_world=to_world))
        else:
            shapes.append(Mesh(id=name, material=name, asset=asset, to_world=to_world))
    return shapes


def _hue(rng: np.random.Generator) -> tuple[float, float, float]:
    return tuple(float(c) for c in colorsys.hsv_to_rgb(float(rng.random()), 1.0, 1.0))


def _materials(rng: np.random.Generator) -> dict[str, Material]:
    out = {name: Material(albedo=_hue(rng), index=i) for name, *_, i in _WALLS}
    out.update({name: Material(index=i) for name, *_, i in _FLOOR_CEILING})
    for name, _asset, _bottom, i in OBJECTS:
        albedo = _hue(rng)
        roughness = ROUGHNESS[bisect.bisect_right(ROUGHNESS_BOUNDS, float(rng.random()))]
        out[name] = Material(albedo=albedo, roughness=roughness, index=i)
    return out


def _camera(rng: np.random.Generator) -> Camera:
    angle = _uniform(rng, 0.0, 2 * math.pi)
    distance = _uniform(rng, 1.5, 3.0)
    height = _uniform(rng, 1.0, 2.0)
    target = (_uniform(rng, 0, 1), _uniform(rng, 0, 2), _uniform(rng, 0, 1))
    origin = (distance * math.sin(angle), height, distance * math.cos(angle))
    return Camera(origin=origin, target=target, fov=FOV, near=0.01, far=100.0)

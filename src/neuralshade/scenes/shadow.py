"""Shadow-insertion scenes: a textured ground, occluders already there, one inserted object.

:func:`random_shadow_scene` draws a :class:`ShadowScene` (plain data, JSON): a ground plane
with a texture (:mod:`neuralshade.scenes.textures`), one to three **occluders** and one
inserted **object** standing on it (the PrimitiveRoom's meshes and sphere, scaled and turned),
lit by a **key light** — a sun (``directional``, hard shadows) or a sphere light (soft
shadows) at a random direction, size and colour — and a bluish **sky** (a ``constant``
environment, a fraction of the key light's irradiance), seen by one camera looking down at
them. :mod:`neuralshade.render.mitsuba.shadow` renders its quintuple.

Units: metres-like, y up; the ground is the plane y = 0; the key light's ``strength`` is the
irradiance it gives a ground point facing it unoccluded (an unshadowed white ground point
under it has radiance strength · cos θ / π).
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from neuralshade.config import Settings
from neuralshade.scenes.model import (
    BUILTIN_TEXTURES,
    Camera,
    ConstantLight,
    DirectionalLight,
    Film,
    Material,
    Mesh,
    Rectangle,
    Rotation,
    Scene,
    Shape,
    Sphere,
    SphereLight,
    Texture,
    Transform,
)
from neuralshade.scenes.room import OBJECTS

GROUND_HALF = 60.0  # the ground is 120 × 120: it fills every view to beyond its edges
KEY_STRENGTH = 3.0  # irradiance of the key light on a ground point facing it
OBJECT_HEIGHT = (0.5, 1.4)  # the inserted object's and occluders' heights
PLACEMENT = 2.6  # occluders at x, z within this radius of the view's target
OBJECT_PLACEMENT = 1.4  # the inserted object nearer the middle
CLEARANCE = 0.15  # the least gap between two shapes' footprints
PLACEMENT_TRIES = 20
CAMERA_CLEARANCE = 0.5  # the least gap between the camera and a sphere light's surface

LightKind = Literal["sun", "sphere"]


class ShadowScene(Settings):
    """A scene and which of its shapes and lights play which part."""

    scene: Scene = Field(description="the whole scene, with the object, one camera")
    ground: str = Field("ground", description="id of the ground plane")
    occluders: list[str] = Field(description="ids of the shapes already in the scene")
    object: str = Field("object", description="id of the inserted object")
    key_light: str = Field("key", description="id of the light whose shadows are masked")
    sky: str | None = Field("sky", description="id of the environment light, if any")

    @model_validator(mode="after")
    def _check_ids(self) -> ShadowScene:
        shapes = {s.id for s in self.scene.shapes}
        lights = {light.id for light in self.scene.lights}
        for name in (self.ground, self.object, *self.occluders):
            if name not in shapes:
                raise ValueError(f"no shape {name!r} in the scene")
        if self.key_light not in lights or (self.sky is not None and self.sky not in lights):
            raise ValueError(f"lights {self.key_light!r}, {self.sky!r}: not all in the scene")
        if self.key_light_type not in ("directional", "sphere"):
            raise ValueError("the key light must be directional or a sphere light")
        return self

    @property
    def key(self) -> DirectionalLight | SphereLight:
        return next(x for x in self.scene.lights if x.id == self.key_light)

    @property
    def key_light_type(self) -> str:
        return next(x.type for x in self.scene.lights if x.id == self.key_light)

    def without(self, ids: Sequence[str]) -> Scene:
        """The scene without the shapes ``ids`` (their materials kept)."""
        return self.scene.model_copy(
            update={"shapes": [s for s in self.scene.shapes if s.id not in set(ids)]}
        )


def _direction(elevation: float, azimuth: float) -> np.ndarray:
    """Unit vector at ``elevation`` above the ground and ``azimuth`` about y, degrees."""
    e, a = math.radians(elevation), math.radians(azimuth)
    return np.array([math.cos(e) * math.sin(a), math.sin(e), math.cos(e) * math.cos(a)])


def _warm_white(rng: np.random.Generator) -> np.ndarray:
    """A light colour between warm (sunset) and neutral, max channel 1."""
    t = rng.uniform(0.0, 1.0)
    colour = np.array([1.0, 0.85 + 0.15 * t, 0.65 + 0.35 * t])
    return colour / colour.max()


def _placed_shape(
    rng: np.random.Generator, name: str, kind: int, x: float, z: float, height: float
) -> tuple[Shape, Material]:
    """PrimitiveRoom shape ``kind`` (its OBJECTS row) standing on the ground at (x, z),
    ``height`` tall, turned about y, in a random colour and roughness."""
    _, asset, bottom, _ = OBJECTS[kind]
    hue, sat = rng.uniform(0, 1), rng.uniform(0.2, 0.9)
    albedo = tuple(float(c) for c in colorsys.hsv_to_rgb(hue, sat, rng.uniform(0.35, 0.9)))
    material = Material(albedo=albedo, roughness=float(rng.choice([1.0, 0.6, 0.35])))
    if asset is None:  # the analytic sphere, radius 0.5 about its centre
        r = height / 2
        shape: Shape = Sphere(id=name, material=name, radius=r,
                              to_world=Transform(translate=(x, r, z)))  # fmt: skip
        return shape, material
    width = height * rng.uniform(0.7, 1.4)  # the meshes are about 1 tall and 1 wide
    to_world = Transform(
        translate=(x, -bottom * height, z),
        rotate=[Rotation(axis=(0, 1, 0), degrees=float(rng.uniform(0, 360)))],
        scale=(width, height, width),
    )
    return Mesh(id=name, material=name, asset=asset, to_world=to_world), material


def _footprint(kind: int, height: float) -> float:
    """Radius of a circle about the shape's foot that holds it (widest scale 1.4 × height)."""
    return 0.5 * height if OBJECTS[kind][1] is None else 0.75 * 1.4 * height


FACTORS = ("objects", "ground", "light", "view")
"""The parts of a scene drawn from streams of their own, so any one can be drawn anew alone."""


def random_shadow_scene(
    seed: int | Mapping[str, int],
    size: int = 128,
    occluders: tuple[int, int] = (1, 3),
    lights: Sequence[LightKind] = ("sun", "sphere"),
    textures: Sequence[str] = BUILTIN_TEXTURES,
) -> ShadowScene:
    """The scene drawn from ``seed``: one seed, or one per factor of :data:`FACTORS` (the
    shapes and where they stand; the ground's texture and colour; the key light and sky; the
    camera), each factor from its own generator. ``occluders``: (low, high) shapes already
    there besides the object; ``lights``: the key light kinds to draw from; ``textures``: the
    ground textures (builtin names or image files); ``size``: the view's side in pixels."""
    seeds = seed if isinstance(seed, Mapping) else {f: seed for f in FACTORS}
    missing = sorted(set(FACTORS) - set(seeds))
    if missing:
        raise ValueError(f"random_shadow_scene: no seed for {missing}")
    rngs = {f: np.random.default_rng([seeds[f], k]) for k, f in enumerate(FACTORS)}
    rng = rngs["objects"]
    target = np.array([rng.uniform(-0.3, 0.3), 0.3, rng.uniform(-0.3, 0.3)])

    # ---- shapes: the object near the middle, then the occluders around it, none touching
    count = int(rng.integers(occluders[0], occluders[1] + 1))
    kinds = rng.integers(0, len(OBJECTS), count + 1)
    heights = rng.uniform(*OBJECT_HEIGHT, count + 1)
    placed: list[tuple[float, float, float]] = []
    shapes: list[Shape] = []
    materials: dict[str, Material] = {}
    for k in range(count + 1):
        name = "object" if k == 0 else f"occluder{k}"
        reach = OBJECT_PLACEMENT if k == 0 else PLACEMENT
        radius = _footprint(int(kinds[k]), float(heights[k]))
        for _ in range(PLACEMENT_TRIES):
            r, a = reach * math.sqrt(rng.uniform()), rng.uniform(0, 2 * math.pi)
            x, z = target[0] + r * math.cos(a), target[2] + r * math.sin(a)
            if all(math.hypot(x - px, z - pz) >= radius + pr + CLEARANCE for px, pz, pr in placed):
                break
        else:  # no room left: this occluder is left out (the object always has room)
            continue
        placed.append((x, z, radius))
        shape, material = _placed_shape(rng, name, int(kinds[k]), x, z, float(heights[k]))
        shapes.append(shape)
        materials[name] = material

    # ---- the ground
    rng = rngs["ground"]
    texture = Texture(image=str(rng.choice(list(textures))), tiles=float(rng.uniform(2, 12)),
                      seed=int(rng.integers(0, 2**31)))  # fmt: skip
    hue = rng.uniform(0, 1)
    ground_albedo = colorsys.hsv_to_rgb(hue, rng.uniform(0.0, 0.5), rng.uniform(0.5, 1.0))
    materials["ground"] = Material(albedo=tuple(float(c) for c in ground_albedo), texture=texture)
    ground = Rectangle(
        id="ground", material="ground",
        to_world=Transform(rotate=[Rotation(axis=(1, 0, 0), degrees=-90.0)],
                           scale=(GROUND_HALF, GROUND_HALF, 1.0)),
    )  # fmt: skip

    # ---- lights: a sun or a sphere light, and the sky
    rng = rngs["light"]
    kind = str(rng.choice(list(lights)))
    towards = _direction(rng.uniform(25, 65), rng.uniform(0, 360))
    colour = _warm_white(rng)
    if kind == "sun":
        irradiance = tuple(float(c) for c in KEY_STRENGTH * colour)
        key = DirectionalLight(id="key", direction=tuple(float(c) for c in -towards),
                               irradiance=irradiance)  # fmt: skip
    else:
        distance, radius = rng.uniform(5.0, 9.0), rng.uniform(0.15, 0.8)
        # an unoccluded sphere of radiance L subtends sin²α = (r/d)², so irradiance π L sin²α
        radiance = KEY_STRENGTH / (math.pi * (radius / distance) ** 2) * colour
        position = target * np.array([1, 0, 1]) + distance * towards
        key = SphereLight(id="key", position=tuple(float(c) for c in position), radius=radius,
                          radiance=tuple(float(c) for c in radiance))  # fmt: skip
    sky_colour = np.array(colorsys.hsv_to_rgb(rng.uniform(0.55, 0.65), rng.uniform(0.1, 0.5), 1))
    sky_radiance = rng.uniform(0.1, 0.45) * KEY_STRENGTH / math.pi * sky_colour
    sky = ConstantLight(id="sky", radiance=tuple(float(c) for c in sky_radiance))

    # ---- the camera, looking down at the middle
    rng = rngs["view"]
    view = _direction(rng.uniform(30, 60), rng.uniform(0, 360))
    origin = target + rng.uniform(4.5, 7.0) * view
    camera = Camera(origin=tuple(float(c) for c in origin), target=tuple(float(c) for c in target),
                    fov=float(rng.uniform(40, 50)))  # fmt: skip

    if kind == "sphere":  # a camera inside (or grazing) the light: the light backs away
        position = np.asarray(key.position)
        gap = np.linalg.norm(origin - position) - key.radius
        if gap < CAMERA_CLEARANCE:
            position = position + (CAMERA_CLEARANCE - gap + key.radius) * towards
            key = key.model_copy(update={"position": tuple(float(c) for c in position)})

    scene = Scene(
        film=Film(width=size, height=size), cameras=[camera],
        shapes=[ground, *shapes], materials=materials, lights=[key, sky], lights_hidden=True,
    )  # fmt: skip
    occluder_ids = [s.id for s in shapes if s.id != "object"]
    return ShadowScene(scene=scene, occluders=occluder_ids)

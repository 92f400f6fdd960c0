"""The shadow-insertion quintuple of a :class:`~neuralshade.scenes.shadow.ShadowScene`, exact.

ARShadowGAN's authors had annotators draw the masks of their quintuples; a renderer knows
them. :func:`render_quintuple` gives, for the scene's one camera, (H, W) float32 maps and
(H, W, 3) linear renders:

- ``with_object``: the scene path-traced (Mitsuba's ``path``) with the inserted object;
- ``without_object``: the same without it, traced with the same seed (so the two share their
  noise wherever the object changes nothing);
- ``mask``: the fraction of each pixel's area where the object is the first thing seen (its
  visible coverage, antialiased); ``robject``: the same for the occluders;
- ``rshadow``: on the ground, the fraction of the key light's irradiance the occluders block,
  1 − E(occluders) / E(nothing), soft under a sphere light;
- ``objshadow``: on the ground, the fraction the inserted object blocks on top of that,
  (E(occluders) − E(occluders and object)) / E(nothing): the object's own shadow, as it darkens
  the picture (where an occluder already shades the ground it adds nothing).

The maps are estimated by casting rays ourselves rather than by an integrator, so that each is
exactly what it says: ``supersample``² stratified camera rays per pixel (their first hits give
the coverages), and from every ground hit ``light_samples`` shadow rays to the key light (one
for a sun; stratified over the cone a sphere light subtends, each weighted by its cosine on
the ground), tested against the occluders alone and the object alone. Shadows on anything but
the ground (one occluder on another) are not counted: the task inserts shadows on the ground.
"""

from __future__ import annotations

import math

import numpy as np

from neuralshade.render.mitsuba.scene_dict import get_mitsuba, to_mitsuba
from neuralshade.scenes.shadow import ShadowScene

SHADOW_EPSILON = 1e-3  # shadow rays start this far above the ground


def render_quintuple(
    setup: ShadowScene,
    *,
    spp: int = 64,
    max_depth: int = 4,
    supersample: int = 4,
    light_samples: int = 16,
    seed: int = 0,
    variant: str = "llvm_ad_rgb",
) -> dict[str, np.ndarray]:
    """The renders and exact maps of ``setup`` (see the module); ``spp``, ``max_depth``: the
    path tracer's; ``seed``: its sampler's."""
    mi = get_mitsuba(variant)
    integrator = {"type": "path", "max_depth": max_depth}
    out: dict[str, np.ndarray] = {}
    scenes = {"with_object": setup.scene, "without_object": setup.without([setup.object])}
    for name, scene in scenes.items():
        loaded = to_mitsuba(scene, integrator=integrator, variant=variant)
        out[name] = np.asarray(mi.render(loaded, spp=spp, seed=seed), np.float32)[:, :, :3]
    out.update(shadow_maps(setup, supersample=supersample, light_samples=light_samples,
                           variant=variant))  # fmt: skip
    return out


def shadow_maps(
    setup: ShadowScene, *, supersample: int = 4, light_samples: int = 16,
    variant: str = "llvm_ad_rgb",
) -> dict[str, np.ndarray]:  # fmt: skip
    """``mask``, ``robject``, ``rshadow``, ``objshadow``: (H, W) float32 in [0, 1]."""
    mi = get_mitsuba(variant)
    import drjit as dr

    film = setup.scene.film
    h, w, s = film.height, film.width, supersample
    # the lights are hidden from the camera, as in the renders (hide_emitters)
    everything = to_mitsuba(setup.scene.model_copy(update={"lights": []}), variant=variant)
    ids = [shape.id() for shape in everything.shapes()]
    pointers = dict(zip(ids, everything.shapes(), strict=True))

    # ---- camera rays: s × s stratified per pixel, row-major over the (h·s, w·s) grid
    v, u = np.meshgrid((np.arange(h * s) + 0.5) / (h * s), (np.arange(w * s) + 0.5) / (w * s),
                       indexing="ij")  # fmt: skip
    sensor = everything.sensors()[0]
    rays, _ = sensor.sample_ray(
        0.0, 0.5, mi.Point2f(u.ravel().astype(np.float32), v.ravel().astype(np.float32)),
        mi.Point2f(0.5, 0.5),
    )  # fmt: skip
    hit = everything.ray_intersect(rays)

    def first_hit(names: list[str]) -> np.ndarray:
        found = dr.zeros(mi.Bool, h * w * s * s)
        for name in names:
            found |= hit.shape == mi.ShapePtr(pointers[name])
        return np.asarray(found, bool)

    def per_pixel(values: np.ndarray) -> np.ndarray:  # (h·s·w·s,) → (h, w) means
        return values.reshape(h, s, w, s).mean(axis=(1, 3)).astype(np.float32)

    ground = first_hit([setup.ground])
    out = {"mask": per_pixel(first_hit([setup.object])),
           "robject": per_pixel(first_hit(setup.occluders))}  # fmt: skip

    # ---- shadow rays from the ground hits, against the occluders alone and the object alone
    points = np.asarray(hit.p, np.float32).reshape(3, -1).T[ground]  # (P, 3)
    if not len(points):  # no ground in view: nothing to shade
        out["rshadow"] = out["objshadow"] = np.zeros((h, w), np.float32)
        return out
    points[:, 1] = SHADOW_EPSILON
    directions, weights, lengths = _light_samples(setup, points, light_samples)
    k = directions.shape[1]
    origins = np.repeat(points, k, axis=0)
    ray = mi.Ray3f(mi.Point3f(*origins.T), mi.Vector3f(*directions.reshape(-1, 3).T))
    ray.maxt = mi.Float(lengths.reshape(-1))
    free_of = {}
    for part, names in (("occluders", setup.occluders), ("object", [setup.object])):
        if not names:  # nothing of this part in the scene: every ray is free of it
            free_of[part] = np.ones((len(points), k), bool)
            continue
        shapes = setup.scene.model_copy(
            update={"shapes": [x for x in setup.scene.shapes if x.id in names], "lights": []}
        )
        test = to_mitsuba(shapes, variant=variant)
        free_of[part] = ~np.asarray(test.ray_test(ray), bool).reshape(-1, k)
    total = weights.sum(axis=1)
    lit_occ = (weights * free_of["occluders"]).sum(axis=1)
    lit_both = (weights * (free_of["occluders"] & free_of["object"])).sum(axis=1)
    rshadow, objshadow = np.zeros(ground.shape, np.float32), np.zeros(ground.shape, np.float32)
    rshadow[ground] = 1.0 - lit_occ / total
    objshadow[ground] = (lit_occ - lit_both) / total
    out["rshadow"], out["objshadow"] = per_pixel(rshadow), per_pixel(objshadow)
    return out


def _light_samples(
    setup: ShadowScene, points: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directions (P, K, 3) from ground ``points`` (P, 3) to the key light, their weights
    (P, K) (the cosine on the ground) and the ray lengths (P, K) that stop short of the light.

    A sun: one direction, unlimited. A sphere light: K = ``count`` directions stratified
    (a ⌈√K⌉² grid jittered by a fixed generator) uniformly over the cone it subtends, which is
    its irradiance's integral sampled uniformly in solid angle."""
    key = setup.key
    if key.type == "directional":
        d = -np.asarray(key.direction, np.float64)
        d /= np.linalg.norm(d)
        directions = np.broadcast_to(d.astype(np.float32), (len(points), 1, 3)).copy()
        weights = np.full((len(points), 1), max(float(d[1]), 0.0), np.float32)
        return directions, weights, np.full((len(points), 1), np.inf, np.float32)
    centre = np.asarray(key.position, np.float64)
    to_centre = centre - points  # (P, 3)
    dist = np.linalg.norm(to_centre, axis=1, keepdims=True)
    axis = to_centre / dist
    cos_max = np.sqrt(np.maximum(0.0, 1.0 - (key.radius / dist) ** 2))  # (P, 1)
    n = math.ceil(math.sqrt(count))
    rng = np.random.default_rng(0)
    grid = (np.stack(np.meshgrid(np.arange(n), np.arange(n), indexing="ij"), -1).reshape(-1, 2)
            + rng.uniform(size=(n * n, 2))) / n  # fmt: skip
    cos_t = 1.0 - grid[None, :, 0] * (1.0 - cos_max)  # uniform in solid angle over the cone
    sin_t = np.sqrt(np.maximum(0.0, 1.0 - cos_t**2))
    phi = 2 * math.pi * grid[None, :, 1]
    # an orthonormal frame about each axis
    helper = np.where(np.abs(axis[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]])
    t1 = np.cross(axis, helper)
    t1 /= np.linalg.norm(t1, axis=1, keepdims=True)
    t2 = np.cross(axis, t1)
    directions = (cos_t[..., None] * axis[:, None] + (sin_t * np.cos(phi))[..., None] * t1[:, None]
                  + (sin_t * np.sin(phi))[..., None] * t2[:, None])  # fmt: skip
    weights = np.maximum(directions[..., 1], 0.0)  # cos θ on the ground (normal +y)
    lengths = np.broadcast_to(dist - key.radius, weights.shape)
    return directions.astype(np.float32), weights.astype(np.float32), lengths.astype(np.float32)


def exposure(linear: np.ndarray, percentile: float = 99.0, white: float = 0.9) -> float:
    """The factor that maps ``linear`` (H, W, 3)'s ``percentile`` luminance to ``white``."""
    luminance = linear @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    level = float(np.percentile(luminance, percentile))
    return white / level if level > 0 else 1.0

"""One-pass G-buffer integrator on Mitsuba 3: every CNSR buffer from the same camera samples.

:func:`render_gbuffers` traces ``spp`` jittered camera rays per pixel, vectorised in Dr.Jit over
all pixels × samples, and follows each one as Mitsuba's ``path`` integrator does (emitter
sampling and BSDF sampling joined by the power heuristic, Russian roulette from depth 5), so
``beauty`` has the same mean as ``path`` at the same ``max_depth``. The auxiliary rays (AO,
shadow, mirror) start at the same first hits. Every buffer is the plain average of its per-sample
values over the pixel (a box filter, whatever the film's ``rfilter``), so at low ``spp`` the
buffers are the noisy ones a denoiser sees, and edges mix foreground and background values.

Buffers, float32 ``(H, W, C)``; "facing normal" is the shading normal flipped, where needed, to
face the ray that arrived (the side that ray sees); every geometric buffer is 0 where the camera
ray hits nothing:

- ``beauty`` (3): linear radiance, the ``path`` estimate.
- ``beauty_variance`` (3): per channel, the variance of the pixel's ``beauty`` estimate: the
  unbiased sample variance of the per-sample values divided by ``spp`` (needs ``spp ≥ 2``).
  ``diffuse_variance``, ``specular_variance``, ``albedo_variance``, ``normal_variance`` (3) and
  ``depth_variance`` (1) are the same for their buffers (KPCN's per-buffer variances); they are
  rendered only when asked for by name (not in the default "all": :data:`DEFAULT_BUFFERS`).
- ``position`` (3): world-space first hit. ``depth`` (1): camera-ray hit distance, from the
  lens (the camera's position for a pinhole), not from the near clipping plane.
- ``normal`` (3): world-space facing shading normal in [−1, 1] (averaged, not renormalised).
- ``id`` (1): per shape, from ``ids`` (shape id → value, 0 for a shape it leaves out) where
  given (a scene model's material index / its largest:
  :func:`~neuralshade.scenes.model.surface_ids`, CNSR's id), else material
  id / number of materials: the scene's distinct BSDFs numbered 1 … M in the order they are
  first used by its shapes sorted by id (the scene dict's keys) — a numbering that changes
  with the set of shapes, so it names a material only within one scene.
- ``albedo`` (3): the diffuse reflectance of the first hit's BSDF: π × its value under a
  diffuse-only ``BSDFContext`` at normal incidence and exitance (a Lambert lobe's ρ; a blend's
  weighted diffuse part; 0 for a conductor or a dielectric). Not Mitsuba's
  ``eval_diffuse_reflectance``, whose fallback for a BSDF without a diffuse lobe evaluates the
  whole BSDF at normal exitance: for a glossy conductor that is its specular peak (30 625 for
  GGX α = 0.0025, and any blend with one inherits it).
- ``roughness`` (1): per shape, from ``roughness`` (shape id → value) where given, else from its
  BSDF: √(mean α) where it has an ``alpha``/``alpha_u``/``alpha_v`` parameter (CNSR: α =
  roughness²), 0 for one with a delta lobe and no α (smooth conductor, dielectric, plastic),
  1 otherwise (Lambertian).
- ``direct`` (3): emission seen by the camera + light reaching the first hit straight from an
  emitter (emitter sampling there and the BSDF-sampled ray that hits an emitter, with their MIS
  weights): paths of at most one bounce. ``indirect`` (3): the rest of the same paths.
- ``diffuse`` (3): the light reflected by the diffuse lobes of the first hit's BSDF (its value
  under a diffuse-only ``BSDFContext``, for the emitter sample and for the sampled direction; a
  sampled delta lobe gives nothing). ``specular`` (3): the rest: the glossy and delta lobes, and
  emission seen by the camera (CNSR: specular = beauty − diffuse).
  Each path's contribution is split both ways at once, so direct + indirect = diffuse + specular
  = beauty to float rounding.
- ``mirror`` (3): the camera ray reflected about the facing normal (a unit vector).
  ``mirror_hit``, ``mirror_normal`` (3): position and facing normal of the first hit along it,
  0 where it hits nothing.
- ``shadows`` (1): fraction of the scene's lights visible from the first hit: per emitter other
  than an environment (``constant``, ``envmap``), one sampled point, visible when the hit faces
  it, it emits toward the hit and the shadow ray is unoccluded; 1 on background and in a scene
  without such lights.
- ``ao`` (1): fraction of cosine-weighted directions about the facing normal whose ray travels
  ``ao_radius`` without a hit (one ray per sample); 1 on background.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from neuralshade.errors import ConfigError

#: name → channels of every buffer :func:`render_gbuffers` can return.
BUFFERS: dict[str, int] = {
    "beauty": 3,
    "beauty_variance": 3,
    "position": 3,
    "normal": 3,
    "depth": 1,
    "id": 1,
    "albedo": 3,
    "roughness": 1,
    "direct": 3,
    "indirect": 3,
    "diffuse": 3,
    "specular": 3,
    "mirror": 3,
    "mirror_hit": 3,
    "mirror_normal": 3,
    "shadows": 1,
    "ao": 1,
}
#: the buffers "all" means (``buffers=None``): every one but the variances of the features
DEFAULT_BUFFERS: tuple[str, ...] = tuple(BUFFERS)
#: variance buffer → the buffer whose per-pixel mean it is the variance of
VARIANCES: dict[str, str] = {
    "beauty_variance": "beauty",
    "diffuse_variance": "diffuse",
    "specular_variance": "specular",
    "albedo_variance": "albedo",
    "normal_variance": "normal",
    "depth_variance": "depth",
}
BUFFERS.update({n: BUFFERS[b] for n, b in VARIANCES.items()})

_RR_DEPTH = 5  # Mitsuba's path integrator's default
_LANES_PER_PASS = 1 << 20  # samples traced at once; bounds the memory of one pass
_ALPHA_KEYS = ("alpha", "alpha_u", "alpha_v")


def render_gbuffers(
    scene: Any,
    *,
    spp: int,
    seed: int = 0,
    buffers: Sequence[str] | None = None,
    ao_radius: float = 1.0,
    max_depth: int = 5,
    roughness: Mapping[str, float] | None = None,
    sensor: int = 0,
    hide_emitters: bool = False,
    ids: Mapping[str, float] | None = None,
) -> dict[str, np.ndarray]:
    """Render ``buffers`` (default: all of :data:`BUFFERS`) of ``scene`` in one pass.

    scene: a ``mi.Scene`` loaded under a JIT variant (``llvm_ad_rgb``, ``cuda_ad_rgb``).
    spp: samples per pixel. seed: same seed, same scene, same bytes. ao_radius: AO ray length in
    world units. max_depth: Mitsuba's meaning (1: emitters only, 2: direct light, …).
    roughness: shape id → roughness, overriding the value read from the shape's BSDF.
    ids: shape id → its ``id`` buffer value (shapes it leaves out, a light's sphere say: 0);
    None: the BSDFs' numbering (module docstring).
    sensor: index into ``scene.sensors()``; its film's crop size gives (H, W).
    hide_emitters: camera rays pass through emitting shapes (CNSR's hidden lights; Mitsuba's
    ``hide_emitters``): every buffer shows what lies behind them, which they still light.

    Returns name → float32 ``(H, W, BUFFERS[name])``; the module docstring defines each buffer.
    With ``buffers=None`` and ``spp == 1``, ``beauty_variance`` is left out. Only the work the
    requested buffers need is done (Dr.Jit evaluates lazily).

    Example::

        out = render_gbuffers(scene, spp=16, buffers=["beauty", "albedo", "normal"])
        out["normal"].shape  # (H, W, 3)
    """
    if not isinstance(spp, (int, np.integer)) or spp < 1:
        raise ConfigError(f"spp must be a positive integer, got {spp!r}")
    return render_gbuffer_levels(
        scene, levels=[spp], seed=seed, buffers=buffers, ao_radius=ao_radius,
        max_depth=max_depth, roughness=roughness, sensor=sensor, hide_emitters=hide_emitters,
        ids=ids,
    )[spp]  # fmt: skip


def render_gbuffer_levels(
    scene: Any,
    *,
    levels: Sequence[int],
    seed: int = 0,
    buffers: Sequence[str] | None = None,
    ao_radius: float = 1.0,
    max_depth: int = 5,
    roughness: Mapping[str, float] | None = None,
    sensor: int = 0,
    hide_emitters: bool = False,
    ids: Mapping[str, float] | None = None,
) -> dict[int, dict[str, np.ndarray]]:
    """The buffers at several sample counts from one render, as a progressive renderer gives
    them: level n is the average of the render's first n samples per pixel, so every level
    is an unbiased estimate of its own and the levels share their first samples.

    levels: increasing sample counts (``[1, 4, 16, 64]``); the render traces the largest.
    The other arguments are :func:`render_gbuffers`'s; the variances are left out of a level
    of one sample (a variance needs two). With one level the result is
    :func:`render_gbuffers`'s, byte for byte.

    Returns level → name → float32 ``(H, W, C)``.
    """
    import drjit as dr
    import mitsuba as mi

    levels = _check_levels(levels)
    spp = levels[-1]
    names = _check(spp, buffers, ao_radius, max_depth, mi.variant())
    sensor_obj = scene.sensors()[sensor]
    w, h = (int(v) for v in sensor_obj.film().crop_size())
    n_pix = w * h
    tables = _shape_tables(mi, scene, roughness or {}, ids)
    per_pass = max(1, min(spp, _LANES_PER_PASS // n_pix))
    squared = {VARIANCES[n] for n in names if n in VARIANCES}
    wanted = (set(names) - set(VARIANCES)) | squared
    sums: dict[str, np.ndarray] = {}  # per pixel: Σ over samples, and Σ x² for the variances
    out: dict[int, dict[str, np.ndarray]] = {}
    done = 0
    for level in levels:
        while done < level:  # passes end at every level, so each level is a prefix of samples
            k = min(per_pass, level - done)
            sampler = mi.load_dict({"type": "independent"})
            sampler.seed((seed * 1_000_003 + done) & 0xFFFFFFFF, n_pix * k)
            lanes = _trace(
                mi, scene, sensor_obj, sampler, tables, k, ao_radius, max_depth, hide_emitters
            )
            per_lane = {name: lanes[name] for name in wanted}
            for name in squared:
                per_lane[f"{name}_squared"] = [dr.square(c) for c in lanes[name]]
            dr.eval(per_lane)  # one kernel for every buffer: block_sum would launch one each
            reduced = {
                name: [dr.block_sum(c, k) if k > 1 else c for c in chans]
                for name, chans in per_lane.items()
            }
            dr.eval(reduced)
            for name, chans in reduced.items():
                block = np.stack([np.asarray(c, np.float64) for c in chans], axis=-1)
                sums[name] = sums.get(name, 0.0) + block
            done += k
        out[level] = _averages(sums, names, level, (h, w))
    return out


def _averages(
    sums: Mapping[str, np.ndarray], names: Sequence[str], n: int, size: tuple[int, int]
) -> dict[str, np.ndarray]:
    """Per-pixel means of ``n`` samples' ``sums``, and the variances of those means."""
    out = {}
    for name in names:
        if name in VARIANCES:
            if n < 2:
                continue
            base = VARIANCES[name]
            mean = sums[base] / n
            var = (sums[f"{base}_squared"] - n * np.square(mean)) / (n - 1)
            value = np.maximum(var, 0.0) / n
        else:
            value = sums[name] / n
        out[name] = value.reshape(*size, BUFFERS[name]).astype(np.float32)
    return out


def _check_levels(levels: Sequence[int]) -> list[int]:
    """Sample counts: positive integers, strictly increasing."""
    values = list(levels)
    if not values or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in values):
        raise ConfigError(f"levels must be positive integers, got {values!r}")
    if any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise ConfigError(f"levels must increase, got {values!r}")
    return [int(v) for v in values]


def bsdf_roughness(bsdf: Any) -> float:
    """A Mitsuba BSDF's roughness in CNSR's sense (α = roughness²), as the module docs define."""
    import mitsuba as mi

    params = mi.traverse(bsdf)
    alphas = []
    for key in params.keys():
        parts = key.split(".")
        while parts and parts[-1] in ("value", "data"):
            parts.pop()
        if parts and parts[-1] in _ALPHA_KEYS:
            alphas.append(float(np.mean(np.asarray(params[key]))))
    if alphas:
        return math.sqrt(max(0.0, float(np.mean(alphas))))
    return 0.0 if mi.has_flag(bsdf.flags(), mi.BSDFFlags.Delta) else 1.0


def _check(
    spp: int, buffers: Sequence[str] | None, ao_radius: float, max_depth: int, variant: str
) -> list[str]:
    """The buffer names to render, after checking the arguments a caller can get wrong."""
    if not (variant or "").startswith(("llvm", "cuda")):
        raise ConfigError(
            f"render_gbuffers needs a JIT Mitsuba variant (llvm_ad_rgb or cuda_ad_rgb), "
            f"not {variant!r}: load the scene after mi.set_variant('llvm_ad_rgb')"
        )
    if not isinstance(spp, (int, np.integer)) or spp < 1:
        raise ConfigError(f"spp must be a positive integer, got {spp!r}")
    if not isinstance(max_depth, (int, np.integer)) or max_depth < 1:
        raise ConfigError(f"max_depth must be an integer >= 1, got {max_depth!r}")
    if not ao_radius > 0:
        raise ConfigError(f"ao_radius must be > 0, got {ao_radius!r}")
    if buffers is None:
        return [b for b in DEFAULT_BUFFERS if spp > 1 or b not in VARIANCES]
    unknown = [b for b in buffers if b not in BUFFERS]
    if unknown:
        raise ConfigError(f"unknown buffers {unknown}; known: {', '.join(BUFFERS)}")
    asked = [b for b in buffers if b in VARIANCES]
    if asked and spp < 2:
        raise ConfigError(f"{asked[0]} needs spp >= 2 (a variance needs two samples)")
    return list(dict.fromkeys(buffers))


def _shape_tables(
    mi: Any, scene: Any, roughness: Mapping[str, float], given: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """Per-shape ``id`` and ``roughness`` values as Float tables indexed by Dr.Jit shape pointer
    (``given``: the ids per shape id, else the BSDFs' numbering)."""
    shapes = sorted(scene.shapes(), key=lambda s: s.id())
    names = [s.id() for s in shapes]
    for what, table in (("roughness", roughness), ("ids", given or {})):
        unknown = set(table) - set(names)
        if unknown:
            raise ConfigError(
                f"{what} names shapes the scene lacks: {sorted(unknown)}; its shapes: {names}"
            )
    material: dict[int, int] = {}
    for s in shapes:
        material.setdefault(_pointer(mi, mi.BSDFPtr(s.bsdf())), len(material) + 1)
    size = 1 + max((_pointer(mi, mi.ShapePtr(s)) for s in shapes), default=0)
    ids = np.zeros(size, np.float32)
    rough = np.zeros(size, np.float32)
    for s in shapes:
        slot = _pointer(mi, mi.ShapePtr(s))
        if given is not None:
            ids[slot] = given.get(s.id(), 0.0)
        else:
            ids[slot] = material[_pointer(mi, mi.BSDFPtr(s.bsdf()))] / len(material)
        rough[slot] = roughness.get(s.id(), bsdf_roughness(s.bsdf()))
    return {"id": mi.Float(ids), "roughness": mi.Float(rough)}


def _pointer(mi: Any, ptr: Any) -> int:
    """The registry index Dr.Jit uses for one Mitsuba object (what a ShapePtr lane holds)."""
    import drjit as dr

    return int(dr.reinterpret_array(mi.UInt32, ptr)[0])


def _diffuse_reflectance(mi: Any, bsdf: Any, si: Any, active: Any) -> Any:
    """π × the BSDF's diffuse lobes at normal incidence and exitance: a Lambert lobe's ρ."""
    import drjit as dr

    normal = mi.SurfaceInteraction3f(si)
    normal.wi = mi.Vector3f(0.0, 0.0, 1.0)
    ctx = mi.BSDFContext(mi.TransportMode.Radiance, int(mi.BSDFFlags.Diffuse))
    return bsdf.eval(ctx, normal, mi.Vector3f(0.0, 0.0, 1.0), active) * dr.pi


def _mis(pdf_a: Any, pdf_b: Any) -> Any:
    """Power-heuristic weight of technique a, as Mitsuba's path integrator computes it."""
    import drjit as dr

    a, b = dr.square(pdf_a), dr.square(pdf_b)
    w = a / (a + b)
    return dr.select(dr.isfinite(w), w, 0.0)


def _facing(n: Any, d: Any) -> Any:
    """``n`` flipped where needed to face against direction ``d`` (toward the ray's origin)."""
    import drjit as dr

    return dr.select(dr.dot(n, d) > 0, -n, n)


def _emission(mi: Any, scene: Any, si: Any, prev_si: Any, prev_pdf: Any, prev_delta: Any, active):
    """Emitted radiance at ``si`` reached by BSDF sampling from ``prev_si``, MIS-weighted."""
    import drjit as dr

    emitter = si.emitter(scene, active)
    ds = mi.DirectionSample3f(scene, si, prev_si)
    em_pdf = scene.pdf_emitter_direction(prev_si, ds, active & ~prev_delta)
    radiance = emitter.eval(si, active & (prev_pdf > 0)) * _mis(prev_pdf, em_pdf)
    return dr.select(active, radiance, 0.0)


def _scatter(mi: Any, scene: Any, sampler: Any, si: Any, bsdf: Any, active: Any):
    """Emitter sampling and BSDF sampling at one vertex, as in Mitsuba's path integrator.

    Returns (light, wo, bsdf_val, bs, weight): the emitter sample's radiance × MIS weight in
    local direction ``wo`` (0 where not sampled), the BSDF value there, the BSDF sample and its
    weight (value × cos / pdf).
    """
    import drjit as dr

    ctx = mi.BSDFContext()
    active_em = active & mi.has_flag(bsdf.flags(), mi.BSDFFlags.Smooth)
    ds, em_weight = scene.sample_emitter_direction(si, sampler.next_2d(), True, active_em)
    active_em &= ds.pdf != 0
    wo = si.to_local(ds.d)
    val, pdf, bs, weight = bsdf.eval_pdf_sample(
        ctx, si, wo, sampler.next_1d(), sampler.next_2d(), active
    )
    mis = dr.select(ds.delta, 1.0, _mis(ds.pdf, pdf))
    light = dr.select(active_em, em_weight * mis, 0.0)
    return light, wo, val, bs, dr.select(active, weight, 0.0)


def _roulette(mi: Any, sampler: Any, throughput: Any, eta: Any, depth: int, active: Any):
    """(keep, scale): whether each path goes on, and the weight that keeps the estimate unbiased."""
    import drjit as dr

    t_max = dr.max(throughput)
    keep = active & (t_max != 0)
    if depth < _RR_DEPTH:
        return keep, mi.Float(1.0)
    prob = dr.minimum(t_max * dr.square(eta), 0.95)
    return keep & (sampler.next_1d() < prob), dr.rcp(prob)


def _trace(
    mi, scene, sensor, sampler, tables, k, ao_radius, max_depth, hide_emitters=False
) -> dict[str, list]:
    """Per-sample values of every buffer (lazy Dr.Jit arrays, one per channel), pixel-major.

    Lane ``i`` is sample ``i % k`` of pixel ``i // k`` (row-major).
    """
    import drjit as dr

    film = sensor.film()
    w, h = (int(v) for v in film.crop_size())
    # opaque constants: one compiled kernel serves every spp and image size of a scene
    idx = dr.arange(mi.UInt32, w * h * k) // dr.opaque(mi.UInt32, k)
    width = dr.opaque(mi.UInt32, w)
    pos = mi.Vector2f(mi.Float(idx % width), mi.Float(idx // width)) + sampler.next_2d()
    aperture = sampler.next_2d() if sensor.needs_aperture_sample() else mi.Point2f(0.5)
    time = sensor.shutter_open()
    if sensor.shutter_open_time() > 0:
        time += sampler.next_1d() * sensor.shutter_open_time()
    size = mi.Vector2f(dr.opaque(mi.Float, w), dr.opaque(mi.Float, h))
    ray, ray_weight = sensor.sample_ray(time, 0.5, pos / size, aperture)

    # ---- first hit: the G-buffer ----
    si = scene.ray_intersect(ray, mi.RayFlags.All, True)
    t = mi.Float(si.t)
    if hide_emitters:  # through a hidden light: in and out of a sphere, so at most twice
        for _ in range(2):
            through = si.is_valid() & si.shape.is_emitter()
            behind = scene.ray_intersect(si.spawn_ray(ray.d), mi.RayFlags.All, True, through)
            t = dr.select(through, t + behind.t, t)
            si = dr.select(through, behind, si)
    hit = si.is_valid()
    # Mitsuba's projective cameras start a ray on the near clipping plane: depth is measured
    # from the lens (the camera's position for a pinhole) instead, whatever the near clip
    if hasattr(sensor, "near_clip"):
        forward = dr.normalize(sensor.world_transform() @ mi.Vector3f(0, 0, 1))
        t = t + sensor.near_clip() / dr.dot(ray.d, forward)
    n = _facing(si.sh_frame.n, ray.d)
    shape = dr.reinterpret_array(mi.UInt32, si.shape)
    bsdf = si.bsdf(ray)
    out: dict[str, Any] = {
        "position": dr.select(hit, si.p, 0.0),
        "normal": dr.select(hit, n, 0.0),
        "depth": dr.select(hit, t, 0.0),
        "id": dr.gather(mi.Float, tables["id"], shape, hit),
        "roughness": dr.gather(mi.Float, tables["roughness"], shape, hit),
        "albedo": dr.select(hit, _diffuse_reflectance(mi, bsdf, si, hit), 0.0),
    }

    mirror = ray.d - 2 * dr.dot(ray.d, n) * n
    mray = si.spawn_ray(mirror)
    msi = scene.ray_intersect(mray, mi.RayFlags.All, False, hit)
    mhit = hit & msi.is_valid()
    out["mirror"] = dr.select(hit, mirror, 0.0)
    out["mirror_hit"] = dr.select(mhit, msi.p, 0.0)
    out["mirror_normal"] = dr.select(mhit, _facing(msi.sh_frame.n, mray.d), 0.0)

    # environment emitters (constant, envmap) light from everywhere: AO measures their shadowing
    emitters = [e for e in scene.emitters() if not e.is_environment()]
    visible = mi.Float(0.0)
    for emitter in emitters:
        ds, weight = emitter.sample_direction(si, sampler.next_2d(), hit)
        lit = hit & (ds.pdf > 0) & (dr.max(weight) > 0) & (dr.dot(ds.d, n) > 0)
        lit &= ~scene.ray_test(si.spawn_ray_to(ds.p), lit)
        visible = visible + mi.Float(lit)
    out["shadows"] = dr.select(hit, visible / len(emitters) if emitters else 1.0, 1.0)

    local = mi.warp.square_to_cosine_hemisphere(sampler.next_2d())
    ao_ray = si.spawn_ray(mi.Frame3f(n).to_world(local))
    ao_ray.maxt = dr.opaque(mi.Float, ao_radius)
    out["ao"] = dr.select(hit, mi.Float(~scene.ray_test(ao_ray, hit)), 1.0)

    # ---- the path: first vertex, split into diffuse and non-diffuse lobes ----
    emitted = ray_weight * _emission(
        mi, scene, si, dr.zeros(mi.Interaction3f), mi.Float(1.0), mi.Bool(True), mi.Bool(True)
    )
    # (Dr.Jit's in-place operators change every name bound to the array: no shared zeros here)
    nee_d, nee_s, t_d, t_s = (mi.Color3f(0.0) for _ in range(4))
    # radiance arriving at the first vertex over one more segment (direct) and over more
    bounce1, rest = mi.Color3f(0.0), mi.Color3f(0.0)
    if max_depth > 1:
        active = hit
        light, wo, val, bs, weight = _scatter(mi, scene, sampler, si, bsdf, active)
        diffuse_ctx = mi.BSDFContext(mi.TransportMode.Radiance, int(mi.BSDFFlags.Diffuse))
        nee = ray_weight * val * light
        nee_d = ray_weight * bsdf.eval(diffuse_ctx, si, wo, active & (dr.max(light) > 0)) * light
        nee_s = nee - nee_d
        smooth = active & ~mi.has_flag(bs.sampled_type, mi.BSDFFlags.Delta) & (bs.pdf > 0)
        f_d = bsdf.eval(diffuse_ctx, si, bs.wo, smooth)
        w_d = dr.select(smooth, dr.minimum(f_d / bs.pdf, weight), 0.0)
        t_d, t_s = ray_weight * w_d, ray_weight * (weight - w_d)
        eta = bs.eta
        active, scale = _roulette(mi, sampler, t_d + t_s, eta, 1, active)
        beta = mi.Color3f(scale)
        ray = si.spawn_ray(si.to_world(bs.wo))
        prev_si = mi.Interaction3f(si)
        prev_pdf, prev_delta = bs.pdf, mi.has_flag(bs.sampled_type, mi.BSDFFlags.Delta)

        # ---- later vertices: the same for both lobes, so carried once as `beta` ----
        for depth in range(1, max_depth):
            si = scene.ray_intersect(ray, mi.RayFlags.All, False, active)
            le = beta * _emission(mi, scene, si, prev_si, prev_pdf, prev_delta, active)
            if depth == 1:
                bounce1 = le
            else:
                rest = rest + le
            if depth + 1 == max_depth:
                break
            active = active & si.is_valid()
            bsdf = si.bsdf(ray)
            light, _, val, bs, weight = _scatter(mi, scene, sampler, si, bsdf, active)
            rest = rest + beta * val * light
            beta, eta = beta * weight, eta * bs.eta
            active, scale = _roulette(mi, sampler, (t_d + t_s) * beta, eta, depth + 1, active)
            beta = beta * scale
            ray = si.spawn_ray(si.to_world(bs.wo))
            prev_si = mi.Interaction3f(si)
            prev_pdf, prev_delta = bs.pdf, mi.has_flag(bs.sampled_type, mi.BSDFFlags.Delta)

    direct_d = t_d * bounce1 + nee_d
    direct_s = emitted + nee_s + t_s * bounce1
    indirect_d, indirect_s = t_d * rest, t_s * rest
    out["direct"] = direct_d + direct_s
    out["indirect"] = indirect_d + indirect_s
    out["diffuse"] = direct_d + indirect_d
    out["specular"] = direct_s + indirect_s
    out["beauty"] = (direct_d + indirect_d) + (direct_s + indirect_s)
    return {name: _channels(mi, value) for name, value in out.items()}


def _channels(mi: Any, value: Any) -> list:
    """A Dr.Jit Float or 3-vector as a list of Float channels."""
    if isinstance(value, mi.Float):
        return [value]
    return [mi.Float(value[c]) for c in range(3)]

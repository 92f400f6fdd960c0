"""The ao2d beauty image at n AO rays per pixel, by our renderer and by Mitsuba 3, timed.

These are the renderers' sides of a time-to-equal-quality comparison
(:mod:`neuralshade.equal_quality`): each function renders one mask at ``samples`` AO rays per
pixel with a given seed and returns ``(beauty, seconds)``, beauty (H, W, 3) float32 sRGB in
[0, 1], seconds the wall time of that image.

* :func:`render_ours`: :func:`~neuralshade.render.heightfield.render` with ``ao_samples = n``
  and every other parameter as given, from the mask (its distance field included) to beauty.
* :func:`render_mitsuba`: Mitsuba traces the AO (and, for a hard shadow, the shadow ray) on a
  marching-cubes mesh of the scene (:mod:`.mitsuba_scene`); the buffers then go through our
  shading, :func:`~neuralshade.render.heightfield.shade`, with our primary hits' normals and
  materials, so the two beauty images differ only where the traced buffers do. The one-off
  work, the distance field, the mesh and Mitsuba's BVH, is done by :func:`prepare_mitsuba`
  and timed apart (``MitsubaScene.build_seconds``). Mitsuba compiles its kernels on the first
  call with given settings, the seed included, so each image is traced twice with the same
  settings and the second call is timed; the first call's extra time is added to
  ``MitsubaScene.jit_seconds``. The timed call traces a primary ray, a hard shadow ray and the
  AO rays of every pixel; the seconds are that call and our shading. The buffers our shading
  takes from our renderer (primary hits' normals and materials, and a soft shadow, below) do
  not depend on the samples: ``prepare_mitsuba`` computes them once and times them apart
  (``MitsubaScene.our_buffers_seconds``), as Mitsuba's own primary and shadow rays, in the
  timed call, stand for them.

Soft shadows. Our ``softness > 0`` shadow is not a sampled area light but the sphere-tracing
penumbra estimate min over the shadow ray of d / (softness · t): deterministic (it does not
depend on the samples or seed) and defined by distances to the surface, which a BVH's ray
queries do not give. Mitsuba therefore traces the shadow only when it is the hard one
(``softness = 0``); for a soft shadow it uses our shadow buffer, and its time counts only a
hard shadow ray per pixel (a soft shadow by an area light would cost it more rays).
An area light traced by Mitsuba would converge to another image than the one the network
learned, so it would measure the difference of the two shadow models, not of the renderers.

The error reference: which truth the renderers are measured against.

* The network learned the dataset's targets, :func:`render_ours` at the dataset's parameters
  (default ``ao_mode`` "auto": "azimuthal" for sharp edges, at 64 rays). Its output estimates
  the converged image of *that* scene: our SDF geometry, our soft shadow.
* So the reference is :func:`render_reference`: our renderer at the same parameters with
  ``REFERENCE_SAMPLES`` = 4096 AO rays and its own seed. Both our AO estimators ("azimuthal",
  "montecarlo") are unbiased for the same integral (tests/render/test_heightfield.py checks them
  against a closed form). "azimuthal" samples only the azimuth, stratified, and integrates the
  elevation exactly, so its error falls about as 1/n rather than 1/√n. On four 256² letter
  masks at the bundled model's settings (``benchmarks/equal_quality.py``) its beauty L1 against
  this reference is 0.0029 at 8 rays and 0.0003 at 64, where the network's is 0.0045; two
  8192-ray renders of 128² masks with different seeds differ by 0.000006. Mitsuba would be a
  worse truth: its 3D rays leave an L1 of 0.0019 at 256 rays (0.00065 at 4096 on 128²), and it
  traces another geometry.
* Mitsuba converges to a slightly different image: its mesh bevels the shapes' sharp edges by
  about a voxel (0.5 px), and its primary hits, AO origins and hard shadow edges follow the
  mesh. Its error against this reference therefore levels off at a floor instead of falling to
  0, and if the floor lies above the network's error, Mitsuba never reaches it; the result
  says so (``reached`` False) rather than choosing a reference that flatters one renderer.
  Measured on the masks above, the floor is out of sight: Mitsuba's L1 still halves from 64
  rays to 256 (0.0039 to 0.0019), as 1/√n noise does, so it lies below 0.002, under the
  network's error.
  Against a Mitsuba reference the same argument would turn round against our renderer; the
  mesh is Mitsuba's approximation of our scene, not the other way round.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from neuralshade.errors import ConfigError
from neuralshade.render import mitsuba_scene
from neuralshade.render.heightfield import (
    ExtrudedField,
    RenderParams,
    key_light_shadow,
    linear_to_srgb,
    mask_sdf,
    primary_hits,
    render,
    shade,
    to_pixels,
)

REFERENCE_SAMPLES = 4096
# Mitsuba's mesh: marching cubes at this step, in pixels (mitsuba_scene.extrusion_shapes)
MESH_VOXEL = 0.5


def render_ours(
    mask: np.ndarray,
    params: RenderParams,
    samples: int,
    *,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, float]:
    """Our renderer's beauty at ``samples`` AO rays per pixel: ((H, W, 3) float32 sRGB, seconds).

    mask: (H, W) float in [0, 1]. params: every setting but ``ao_samples``, which is
    ``samples``. The seconds cover everything from the mask on (distance field included).
    """
    p = params.model_copy(update={"ao_samples": int(samples)})
    start = time.perf_counter()
    beauty = render(mask, p, seed=seed, device=device).beauty
    if beauty.device.type == "cuda":
        torch.cuda.synchronize(beauty.device)
    seconds = time.perf_counter() - start
    return _channels_last(beauty), seconds


def render_reference(
    mask: np.ndarray,
    params: RenderParams,
    *,
    seed: int = 0,
    samples: int = REFERENCE_SAMPLES,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """The truth the others are measured against (module docstring): (H, W, 3) float32 sRGB."""
    return render_ours(mask, params, samples, seed=seed, device=device)[0]


@dataclass
class MitsubaScene:
    """One mask's scene prepared for Mitsuba, with the buffers that do not depend on the samples.

    points, normals: (H·W, 3) our primary hits, pixel-major; shadow: (H·W,) our soft shadow, or
    None when Mitsuba traces the hard one. build_seconds: distance field, mesh and BVH, once.
    our_buffers_seconds: computing points, normals (and shadow), once; not in any image's
    seconds. jit_seconds: Mitsuba's compile time so far (first calls minus timed calls).
    """

    scene: Any
    params: RenderParams
    size: tuple[int, int]
    points: torch.Tensor
    normals: torch.Tensor
    shadow: torch.Tensor | None
    build_seconds: float
    our_buffers_seconds: float
    triangles: int
    jit_seconds: float = field(default=0.0)


def prepare_mitsuba(
    mask: np.ndarray, params: RenderParams, *, voxel: float = MESH_VOXEL
) -> MitsubaScene:
    """Build a mask's Mitsuba scene (``llvm_ad_rgb``, CPU) and the sample-independent buffers.

    mask: (H, W) float in [0, 1]. Mitsuba casts one primary ray per pixel centre, so
    ``params.supersample`` must be 1. Raises NeuralShadeError when Mitsuba cannot load.
    """
    if params.supersample != 1:
        raise ConfigError(
            f"the Mitsuba path casts one primary ray per pixel: supersample must be 1, "
            f"got {params.supersample}"
        )
    mitsuba_scene.load_mitsuba()
    import drjit as dr

    start = time.perf_counter()
    sdf = mask_sdf(mask, params.sdf_method)
    shapes = mitsuba_scene.extrusion_shapes(sdf, params, voxel=voxel)
    scene = mitsuba_scene.build_scene(shapes, sdf.shape, margin=params.reach() + 1.0)
    dr.sync_thread()  # Dr.Jit runs kernels asynchronously: the build is done only here
    build_seconds = time.perf_counter() - start
    triangles = int(shapes["extrusion"].face_count()) if shapes else 0

    start = time.perf_counter()
    geometry = ExtrudedField(torch.from_numpy(sdf), params.height, params.bevel)
    points, normals = primary_hits(geometry, 1, torch.device("cpu"))
    shadow = key_light_shadow(geometry, points, normals, params) if params.softness > 0 else None
    our_buffers_seconds = time.perf_counter() - start
    return MitsubaScene(
        scene, params, sdf.shape, points, normals, shadow, build_seconds, our_buffers_seconds,
        triangles,
    )  # fmt: skip


def render_mitsuba(
    prepared: MitsubaScene, samples: int, *, seed: int = 0
) -> tuple[np.ndarray, float]:
    """Beauty with Mitsuba's AO at ``samples`` rays per pixel: ((H, W, 3) float32 sRGB, seconds).

    The seconds are Mitsuba's traced call after its kernels are compiled and our shading of
    its buffers; the compile time goes to ``prepared.jit_seconds``.
    """
    p = prepared.params.model_copy(update={"ao_samples": int(samples)})
    start = time.perf_counter()
    mitsuba_scene.render_ao_shadow(prepared.scene, prepared.size, p, seed=seed)
    first = time.perf_counter() - start

    start = time.perf_counter()
    traced = mitsuba_scene.render_ao_shadow(prepared.scene, prepared.size, p, seed=seed)
    beauty = mitsuba_beauty(prepared, traced)
    seconds = time.perf_counter() - start
    prepared.jit_seconds += max(0.0, first - seconds)
    return beauty, seconds


def mitsuba_beauty(prepared: MitsubaScene, traced: dict[str, np.ndarray]) -> np.ndarray:
    """Our shading of Mitsuba's buffers: ``traced`` from ``render_ao_shadow`` ((H, W) ``ao``
    and ``shadow``) → (H, W, 3) float32 sRGB. The shadow is ours when it is soft."""
    h, w = prepared.size
    ao = torch.from_numpy(traced["ao"]).reshape(-1)
    shadow = prepared.shadow
    if shadow is None:
        shadow = torch.from_numpy(traced["shadow"]).reshape(-1)
    radiance = shade(prepared.points, prepared.normals, ao, shadow, prepared.params)
    return _channels_last(linear_to_srgb(to_pixels(radiance, h, w, 1)))


def _channels_last(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) tensor → (H, W, 3) float32 array."""
    return np.ascontiguousarray(image.detach().float().cpu().numpy().transpose(1, 2, 0))

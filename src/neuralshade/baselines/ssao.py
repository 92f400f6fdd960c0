"""Screen-space ambient occlusion (SSAO), normal-oriented hemisphere variant.

Mittring, "Finding Next Gen — CryEngine 2", SIGGRAPH 2007 course (points sampled around the
pixel, tested against the depth buffer), in the common hemisphere-kernel form: ``samples``
points in the hemisphere of radius R about the normal, each projected to the image; a point
whose depth lies behind the depth buffer there (by more than a bias) is inside geometry and
counts as occluded, weighted by a range check smoothstep(0, 1, R / |z_p − z_buffer|) so that
an occluder far in front of the pixel (another object across a depth edge) fades out.
AO = 1 − (weighted occluded count) / samples.

The kernel (shared by all pixels, drawn from ``seed``): points uniform in the hemisphere's
volume (uniform directions, length R·u^⅓), as Mittring's sphere samples are; per pixel it is
turned about the normal by a random angle from a seeded 4×4 interleaved tile. (The popular
kernel that crowds points toward the centre, lengths scaled by lerp(0.1, 1, (i/n)²), misses
occluders more than R/3 away: against ray-traced AO it erred about twice as much.) Samples:
depth taps per pixel (16 by default). The bias is 0.05·R in depth (world units): it hides
self-occlusion by the faces of a flat surface's pixels (each pixel's depth is that of its
centre) at the cost of missing occluders nearer than that; on ground seen at a grazing angle a
pixel spans more depth than that and the ground still darkens itself.

SSAO estimates the fraction of the hemisphere's *volume* inside geometry, not the fraction of
cosine-weighted rays blocked within R, so it follows ray-traced AO only roughly.
Known artefacts (screen space): nothing off-screen or hidden behind the first visible layer
occludes; everything behind a visible surface counts as solid (halos behind objects, which the
range check only dims); self-occlusion on grazing surfaces; a 4×4 noise pattern (no blur).
"""

from __future__ import annotations

import math

import torch

from neuralshade.baselines.camera import (
    fetch,
    interleave_blur,
    interleaved_noise,
    norm,
    prepare_view,
    project,
)

_BIAS = 0.05  # × radius: see the module docstring


def hemisphere_kernel(samples: int, generator: torch.Generator) -> torch.Tensor:
    """(samples, 3) points uniform in the volume of the unit hemisphere about +z."""
    d = torch.randn(samples, 3, generator=generator)
    d[:, 2] = d[:, 2].abs()
    d = d / torch.linalg.vector_norm(d, dim=1, keepdim=True).clamp_min(1e-6)
    return d * torch.rand(samples, 1, generator=generator) ** (1 / 3)


def _tangent_frame(normal: torch.Tensor, angle: torch.Tensor):
    """(t, b): unit tangents (N, 3, H, W) about ``normal``, turned by ``angle`` (H, W) radians."""
    # a helper axis not parallel to the normal: y, unless the normal is near y
    helper = torch.zeros_like(normal)
    near_y = normal[:, 1:2].abs() > 0.9
    helper[:, 0:1] = near_y.to(normal.dtype)
    helper[:, 1:2] = (~near_y).to(normal.dtype)
    t0 = torch.linalg.cross(helper, normal, dim=1)
    t0 = t0 / norm(t0, keepdim=True).clamp_min(1e-6)
    b0 = torch.linalg.cross(normal, t0, dim=1)
    c, s = torch.cos(angle), torch.sin(angle)
    return c * t0 + s * b0, c * b0 - s * t0


def ssao(
    position: torch.Tensor,
    normal: torch.Tensor,
    *,
    focal: float,
    radius: float = 1.0,
    samples: int = 16,
    seed: int = 0,
    blur: bool = True,
) -> torch.Tensor:
    """Ambient occlusion of each pixel by hemisphere SSAO (see the module docstring).

    position: (N, 3, H, W) camera space (x left, y up, z forward), world units, 0 on background.
    normal: (N, 3, H, W) camera space, unit, facing the camera, 0 on background.
    focal: pixels per unit at depth 1 (:func:`neuralshade.baselines.camera.focal_pixels`).
    radius: R, world units. samples: hemisphere points (depth taps) per pixel.
    seed: picks the kernel and the 4×4 rotation tile.
    blur: average the interleaved noise away: the 4×4 depth-aware blur real-time renderers run
    after such sampling (:func:`~neuralshade.baselines.camera.interleave_blur`).
    Returns (N, 1, H, W) AO in [0, 1] (1 = unoccluded, and on background).

    Example::

        ao = ssao(p_cam, n_cam, focal=focal_pixels(75, "x", 64, 64), radius=1.0)
    """
    position, normal, hit = prepare_view(position, normal)
    n, _, h, w = position.shape
    gen = torch.Generator().manual_seed(seed)
    kernel = (hemisphere_kernel(samples, gen) * radius).tolist()
    angle = 2 * math.pi * interleaved_noise(gen, 1, h, w).to(position)
    t, b = _tangent_frame(normal, angle)
    depth = position[:, 2:3]
    occlusion = torch.zeros(n, h, w, dtype=position.dtype, device=position.device)
    for kx, ky, kz in kernel:
        point = position + kx * t + ky * b + kz * normal
        z = point[:, 2]
        ahead = z > 0  # a point behind the camera has no pixel
        u, v = project(torch.where(ahead[:, None], point, 1.0), focal, h, w)
        found, inside = fetch(depth, u, v)
        found = found[:, 0]
        behind = found <= z - _BIAS * radius
        near = (radius / (depth[:, 0] - found).abs().clamp_min(1e-6)).clamp(max=1)
        weight = near * near * (3 - 2 * near)  # smoothstep(0, 1, ·)
        occlusion += torch.where(ahead & inside & (found > 0) & behind, weight, 0.0)
    ao = 1 - occlusion / samples
    ao = interleave_blur(ao, position, hit) if blur else ao
    return torch.where(hit, ao, 1.0)[:, None]

"""Horizon-based ambient occlusion (HBAO): Bavoil, Sainz, Dimitrov, "Image-Space Horizon-Based
Ambient Occlusion", SIGGRAPH 2008 talk / ShaderX7.

AO = 1 − (1/2π) ∫ (sin h(φ) − sin t(φ)) W(φ) dφ over slice directions φ, where t is the
elevation of the tangent and h that of the horizon, both measured from the plane perpendicular
to the view vector within the slice the direction sweeps (the paper's xy plane, taken per pixel
so that it holds off the image centre too), and W(r) = 1 − r²/R² attenuates by the distance r
of the occluder. As in the paper, the attenuation is applied per tap: marching outward, each
tap that raises the horizon adds W(r_i)·(sin h_i − sin h_{i−1}), so a far occluder adds only
the part of the horizon it raises, weakly. It is not cosine-weighted, and W dims occluders
that a ray of length R meets in full, so it differs from ray-traced AO even with many taps.

Per pixel, ``directions`` slice directions evenly spaced over 2π about the pixel's own view
vector (see :mod:`neuralshade.baselines.gtao` on why not evenly on the image), turned by a
random angle per pixel from a seeded 4×4 interleaved tile, each marched with ``steps`` taps at
image distances (k + j)/steps·r_px, k = 0 … steps − 1 (j the pixel's jitter, at least 1 px),
r_px = radius·focal / z; taps beyond ``radius`` in 3D are ignored. Taps: directions·steps
per pixel (48 by default). Horizons are measured as the taps' elevation above the tangent plane
(:mod:`neuralshade.baselines.horizon`), which gives exact zero on flat ground and so replaces
the paper's angle bias.

Known artefacts (screen space): nothing off-screen or hidden behind the first visible layer
occludes; what lies behind a visible surface counts as solid; a 4×4 noise pattern (no blur is
applied here); banding where few steps cover a large radius.
"""

from __future__ import annotations

import math

import torch

from neuralshade.baselines.camera import interleave_blur, interleaved_noise, prepare_view
from neuralshade.baselines.horizon import elevations, screen_radius, slice_frame, view_basis


def hbao(
    position: torch.Tensor,
    normal: torch.Tensor,
    *,
    focal: float,
    radius: float = 1.0,
    directions: int = 8,
    steps: int = 6,
    seed: int = 0,
    blur: bool = True,
) -> torch.Tensor:
    """Ambient occlusion of each pixel by HBAO (see the module docstring).

    position: (N, 3, H, W) camera space (x left, y up, z forward), world units, 0 on background.
    normal: (N, 3, H, W) camera space, unit, facing the camera, 0 on background.
    focal: pixels per unit at depth 1 (:func:`neuralshade.baselines.camera.focal_pixels`).
    radius: R, world units. directions: image directions per pixel. steps: taps per direction.
    seed: picks the 4×4 rotation/jitter tile.
    blur: average the interleaved noise away: the 4×4 depth-aware blur real-time renderers run
    after such sampling (:func:`~neuralshade.baselines.camera.interleave_blur`).
    Returns (N, 1, H, W) AO in [0, 1] (1 = unoccluded, and on background).

    Example::

        ao = hbao(p_cam, n_cam, focal=focal_pixels(75, "x", 64, 64), radius=1.0)
    """
    position, normal, hit = prepare_view(position, normal)
    n, _, h, w = position.shape
    noise = interleaved_noise(torch.Generator().manual_seed(seed), 2, h, w).to(position)
    k = torch.arange(steps, dtype=position.dtype, device=position.device)[:, None, None, None]
    offsets = ((k + noise[1]) / steps * screen_radius(position, focal, radius)).clamp_min(1)
    occlusion = torch.zeros(n, h, w, dtype=position.dtype, device=position.device)
    basis = view_basis(position)
    for i in range(directions):
        phi = (2 * math.pi * (i + noise[0]) / directions).expand(n, h, w)
        frame = slice_frame(basis, normal, phi)
        tangent = -frame.gamma  # the tangent's elevation on the + side of the slice
        best = torch.sin(tangent)
        for e, r, valid in elevations(position, normal, frame, 1, offsets, radius):
            sin_h = torch.sin((tangent + e).clamp(max=math.pi / 2))
            rise = valid & (sin_h > best)
            occlusion += torch.where(rise, (sin_h - best) * (1 - (r / radius) ** 2), 0.0)
            best = torch.where(rise, sin_h, best)
    ao = (1 - occlusion / directions).clamp(0, 1)
    ao = interleave_blur(ao, position, hit) if blur else ao
    return torch.where(hit, ao, 1.0)[:, None]

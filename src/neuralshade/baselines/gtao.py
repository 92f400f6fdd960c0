"""Ground-truth ambient occlusion (GTAO): Jimenez, Wu, Pesce, Jarabo, "Practical Realtime
Strategies for Accurate Indirect Occlusion", SIGGRAPH 2016 course / Activision tech. memo.

Cosine-weighted visibility, V = (1/π) ∫ V(ω) (n·ω)⁺ dω, written in slices about the view
vector v̂: a direction is (φ, θ), φ ∈ [0, π) the slice's angle about v̂, θ ∈ (−π, π] its
angle from v̂ within the slice, dω = |sin θ| dθ dφ. In a slice the normal projects to n_p
(length ‖n_p‖, angle γ), so n·ω = ‖n_p‖ cos(θ − γ), and a heightfield is visible between two
horizons h₁ ≤ 0 ≤ h₂, clamped to the normal's hemisphere (h₁ ≥ γ − π/2, h₂ ≤ γ + π/2). The
inner integral has the closed form

    â = ¼(−cos(2h₁ − γ) + cos γ + 2h₁ sin γ) + ¼(−cos(2h₂ − γ) + cos γ + 2h₂ sin γ),

and V = mean over slices of ‖n_p‖·â. Per pixel, ``slices`` slice angles φ evenly spaced over
π about the pixel's own view vector (evenly spaced image directions are not even slices off
the image centre: 56° off-axis they over-count the open sky by up to 9 %), turned by a random
angle per pixel from a seeded 4×4 interleaved tile; each slice is searched on both sides of
the pixel with ``steps`` depth-buffer taps at image distances ((k + j)/steps)²·r_px,
k = 0 … steps − 1 (dense near the pixel, where the cosine weights occluders most; j the
pixel's jitter from the same tile; at least 1 px), r_px = radius·focal / z. A tap counts when
it lies within ``radius`` of the pixel in 3D: exactly the occluders a ray of length ``radius``
(the reference's AO rays) can meet. Taps: 2·slices·steps per pixel (64 by default). Horizons
are measured as the taps' elevation above the tangent plane
(:mod:`neuralshade.baselines.horizon`), the same angle for taps on the slice and exact zero
for flat ground. V is divided by the same slices' value with no occluder (which tends to 1 as
slices grow), so open ground reads exactly 1 at any slice count.

Known artefacts (screen space): nothing off-screen or hidden behind the first visible layer
occludes; everything behind a visible surface within ``radius`` is taken as solid (a thin
object darkens what lies behind it as a thick one would); the interleaved rotation leaves a
4×4 pattern of noise (no blur is applied here); few taps can step over thin occluders.
"""

from __future__ import annotations

import math

import torch

from neuralshade.baselines.camera import interleave_blur, interleaved_noise, prepare_view
from neuralshade.baselines.horizon import elevations, screen_radius, slice_frame, view_basis


def gtao(
    position: torch.Tensor,
    normal: torch.Tensor,
    *,
    focal: float,
    radius: float = 1.0,
    slices: int = 4,
    steps: int = 8,
    seed: int = 0,
    blur: bool = True,
) -> torch.Tensor:
    """Ambient occlusion (visibility) of each pixel by GTAO (see the module docstring).

    position: (N, 3, H, W) camera space (x left, y up, z forward), world units, 0 on background.
    normal: (N, 3, H, W) camera space, unit, facing the camera, 0 on background.
    focal: pixels per unit at depth 1 (:func:`neuralshade.baselines.camera.focal_pixels`).
    radius: AO radius, world units. slices: image directions per pixel, each searched on both
    sides. steps: taps per side. seed: picks the 4×4 rotation/jitter tile.
    blur: average the interleaved noise away: the 4×4 depth-aware blur real-time renderers run
    after such sampling (:func:`~neuralshade.baselines.camera.interleave_blur`).
    Returns (N, 1, H, W) visibility in [0, 1] (1 = unoccluded, and on background).

    Example::

        ao = gtao(p_cam, n_cam, focal=focal_pixels(75, "x", 64, 64), radius=1.0)
    """
    position, normal, hit = prepare_view(position, normal)
    n, _, h, w = position.shape
    noise = interleaved_noise(torch.Generator().manual_seed(seed), 2, h, w).to(position)
    k = torch.arange(steps, dtype=position.dtype, device=position.device)[:, None, None, None]
    offsets = (((k + noise[1]) / steps) ** 2 * screen_radius(position, focal, radius)).clamp_min(1)
    visibility = torch.zeros(n, h, w, dtype=position.dtype, device=position.device)
    open_sky = torch.zeros_like(visibility)
    basis = view_basis(position)
    for i in range(slices):
        phi = (math.pi * (i + noise[0]) / slices).expand(n, h, w)
        frame = slice_frame(basis, normal, phi)
        gamma = frame.gamma
        inner = torch.zeros_like(visibility)
        for side in (1, -1):
            lift = torch.zeros_like(visibility)  # the horizon's elevation above the tangent
            for e, _, valid in elevations(position, normal, frame, side, offsets, radius):
                lift = torch.maximum(lift, torch.where(valid, e, 0.0))
            # the horizon stays on its side of the view vector (θ₂ ≥ 0 ≥ θ₁); lift ≥ 0 is the
            # clamp to the normal's hemisphere
            lift = torch.minimum(lift, math.pi / 2 + side * gamma)
            theta = gamma + side * (math.pi / 2 - lift)
            inner += 0.25 * (-torch.cos(2 * theta - gamma) + torch.cos(gamma))
            inner += 0.5 * theta * torch.sin(gamma)
        visibility += frame.length * inner
        # the same slice unoccluded (horizons on the tangent): â = cos γ + γ sin γ
        open_sky += frame.length * (torch.cos(gamma) + gamma * torch.sin(gamma))
    ao = (visibility / open_sky.clamp_min(1e-6)).clamp(0, 1)
    ao = interleave_blur(ao, position, hit) if blur else ao
    return torch.where(hit, ao, 1.0)[:, None]

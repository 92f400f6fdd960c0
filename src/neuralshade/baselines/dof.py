"""Real-time depth of field by scatter-as-gather: Jimenez, "Next Generation Post Processing in
Call of Duty: Advanced Warfare", SIGGRAPH 2014 course (Advances in Real-Time Rendering), with
Sousa, "CryENGINE 3 Graphics Gems", SIGGRAPH 2013 course, and McGuire's public write-ups of the
same idea; the circle of confusion is the thin lens of Potmesil & Chakravarty, "A Lens and
Aperture Camera Model for Synthetic Image Generation", SIGGRAPH 1981.

Circle of confusion. A thin lens of radius R focused on the plane z = d_f (both along the
optical axis) images a point at depth z as a disc of diameter

    c = 2·R·F·|1/z − 1/d_f|   pixels,

F the focal length in pixels (pixels per unit of x/z): a ray through the lens point a meets the
image at x/z + a·(1/d_f − 1/z). This is Mitsuba 3's ``thinlens`` sensor (its focal plane is
z = ``focus_distance``, not a sphere), so z is the depth along the axis, not the distance to
the camera; sky (z = 0 here) is the limit z → ∞, c = 2·R·F/d_f.

Gather. Every pixel q spreads its radiance uniformly over its own CoC disc, 1/area(c_q) per
pixel with area(c) = max(π c²/4, 1) px. Pixel p gathers that light back through one fixed disc
pattern: itself (a 1 px tap) and ``samples`` taps (48 by default) on a Vogel spiral, tap k at
angle k·(golden angle) + θ₀ and radius r·√((k + ½)/samples), rounded to whole pixels (no
bilinear filtering: it would invent colours between a foreground and what lies behind it), each
tap standing for a = max(π r² − 1, 0)/samples pixels. r is the largest c/2 + ½ in the batch
(after ``max_coc``), the farthest any pixel's light reaches; θ₀ is drawn from ``seed``. The
same integer offsets at every pixel make each tap a shifted view of the buffers (cheap), and
an isolated light on a constant-CoC plane keeps its energy exactly; a zero-CoC image has a = 0
and comes back unchanged.

A tap q at whole-pixel offset ρ covers p by the soft edge cover(c, ρ) = clamp(c/2 + ½ − ρ, 0, 1)
and is split by depth, with inverse depths u = 1/z (sky 0), into
- foreground, weight f = clamp((1 − z_q/z_p)/0.05, 0, 1) (q at least 5 % nearer than p counts
  fully): it spreads by its full CoC over whatever lies behind it, w_f = f·cover(c_q, ρ)·a /
  area(c_q), and its accumulated weight α = Σ w_f is the fraction of p's light it supplies;
- background (the rest, p itself included), spread limited to min(c_q, c_p): something behind p
  cannot blur over p by more than p is blurred itself, so a sharp foreground keeps its
  silhouette. w_b = (1 − f)·cover(min(c_q, c_p), ρ)·a / area(c_q); p's own tap has weight
  1/area(c_p).
The layers are composited near over far, out = Σ w_f·C_q / max(α, 1) + (1 − min(α, 1))·
Σ w_b·C_q / Σ w_b. A uniform colour therefore stays uniform at any CoC, and on a constant-CoC
plane (no foreground) the gather samples the disc average a scatter gives. Off-image taps are
ignored (weight 0), not clamped to the border: the background normalisation makes up for them,
while a foreground running off the image spreads less onto pixels near the border.

Cost: ``samples`` shifted views of the padded buffers and about 15 elementwise operations on
each, at full resolution: roughly 0.2 s for a 512² image on one busy CPU core at the default 48
taps. ``max_coc`` clamps every CoC (diameter, px), bounding both the blur and the radius r.

Departures from the published real-time versions: everything runs at full resolution in one
pass (no half-resolution buffers, no prefilter, no median postfilter, no temporal
accumulation); the gather radius is one for the whole image, not Jimenez's per-tile maximum
CoC (per-pixel offsets would need a gather per tap, several times slower on a CPU); the
foreground alpha is the gathered foreground light itself (Σ w_f), not a tuned scale of it.

Known artefacts: undersampling — a CoC well below the largest in the image is sampled by only
about samples·(c/c_max)² taps, so its blur shows the tap pattern, and when a CoC's area is much
larger than ``samples`` pixels an isolated highlight turns into a fixed pattern of ``samples``
dots rather than a filled disc (the engines' per-tile radius, prefilter and postfilter hide
this; here raise ``samples`` or lower ``max_coc``); only what the pinhole image shows can be
blurred, so the background hidden behind a blurred foreground's edge is missing (the visible
background nearby stands in for it), and inside that edge the foreground stays opaque where a
real lens would show the background through it; depth is compared per pixel, so a surface seen
at a grazing angle splits into foreground and background by a 5 % depth step; pixels near the
border gather fewer taps.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from neuralshade.errors import InputError

_FOREGROUND_GAP = 0.05
_GOLDEN_ANGLE = math.pi * (3 - math.sqrt(5))


def circle_of_confusion(
    z: torch.Tensor,
    *,
    focus_distance: float | torch.Tensor,
    aperture_radius: float | torch.Tensor,
    focal: float,
) -> torch.Tensor:
    """Thin-lens circle of confusion diameter, in pixels (Mitsuba 3's ``thinlens`` sensor).

    z: (N, 1, H, W) depth along the optical axis, world units, > 0; 0 = no hit (sky), taken as
    infinitely far. focus_distance: depth of the plane in focus, world units. aperture_radius:
    the lens radius, world units. Each a float or an (N,) tensor, one per image.
    focal: pixels per unit of x/z (:func:`neuralshade.baselines.camera.focal_pixels`).
    Returns (N, 1, H, W) c = 2·R·F·|1/z − 1/d_f| ≥ 0.

    Example::

        coc = circle_of_confusion(z, focus_distance=4.0, aperture_radius=0.05, focal=f)
    """
    if z.ndim != 4 or z.shape[1] != 1:
        raise InputError(f"z must be (N, 1, H, W) depths, got {tuple(z.shape)}")
    if (z < 0).any():
        raise InputError("z must be >= 0 (depth along the optical axis; 0 = sky)")
    d_f = torch.as_tensor(focus_distance, dtype=z.dtype, device=z.device)
    radius = torch.as_tensor(aperture_radius, dtype=z.dtype, device=z.device)
    if (d_f <= 0).any() or (radius < 0).any():
        raise InputError("focus_distance must be > 0 and aperture_radius >= 0")
    d_f, radius = (v.reshape(-1, 1, 1, 1) if v.ndim else v for v in (d_f, radius))
    inv_z = torch.where(z > 0, 1 / z.clamp_min(torch.finfo(z.dtype).tiny), 0.0)
    return 2 * radius * focal * (inv_z - 1 / d_f).abs()


def gather_dof(
    color: torch.Tensor,
    coc: torch.Tensor,
    z: torch.Tensor,
    *,
    samples: int = 48,
    max_coc: float | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Defocus an all-in-focus image by scatter-as-gather (see the module docstring).

    color: (N, 3, H, W) linear HDR radiance of the pinhole image. coc: (N, 1, H, W) circle of
    confusion diameters, pixels (:func:`circle_of_confusion`). z: (N, 1, H, W) depth along the
    axis, 0 = sky (infinitely far). samples: spiral taps per pixel, besides the pixel itself.
    max_coc: clamp every CoC to this diameter, pixels (None: no clamp). seed: picks the
    spiral's rotation. Returns (N, 3, H, W) the defocused radiance.

    Example::

        out = gather_dof(rgb, circle_of_confusion(z, focus_distance=4.0, aperture_radius=0.05,
                                                  focal=f), z)
    """
    n, _, h, w = color.shape if color.ndim == 4 else (0, 0, 0, 0)
    if color.ndim != 4 or color.shape[1] != 3 or coc.shape != (n, 1, h, w) or z.shape != coc.shape:
        raise InputError(
            "color must be (N, 3, H, W) and coc, z (N, 1, H, W); got "
            f"{tuple(color.shape)}, {tuple(coc.shape)}, {tuple(z.shape)}"
        )
    if samples < 1:
        raise InputError(f"samples must be >= 1, got {samples}")
    if bool((z < 0).any()):
        raise InputError("z must be >= 0: the depth along the view (0: nothing hit, the sky)")
    coc = coc.to(color).clamp(0, max_coc)
    inv_z = torch.where(z > 0, 1 / z.to(color).clamp_min(torch.finfo(color.dtype).tiny), 0.0)
    reach = coc / 2 + 0.5  # the soft edge's outer rim is c/2 + ½
    radius = float(reach.max())
    tap_area = max(math.pi * radius**2 - 1, 0.0) / samples
    density = 1 / (math.pi / 4 * coc**2).clamp_min(1)  # light per pixel of a spread pixel
    # 1/(gap·u): a tap's (u_q − u_p)·this is its foreground ramp; 0 on sky, never in front
    ramp = torch.where(inv_z > 0, 1 / (_FOREGROUND_GAP * inv_z).clamp_min(1e-30), 0.0)
    pad = math.ceil(radius)
    # off the image: density 0, so those taps weigh nothing
    buffers = F.pad(
        torch.cat([color, torch.ones_like(coc), reach, inv_z, ramp, density], 1),
        (pad, pad, pad, pad),
    )  # (N, 8, H + 2·pad, W + 2·pad)

    theta0 = 2 * math.pi * torch.rand((), generator=torch.Generator().manual_seed(seed)).item()
    fg = torch.zeros(n, 4, h, w, dtype=color.dtype, device=color.device)  # (Σ w·C, Σ w)
    bg = torch.zeros_like(fg)
    for k in range(samples):
        angle = theta0 + k * _GOLDEN_ANGLE
        scale = radius * math.sqrt((k + 0.5) / samples)
        dx, dy = round(scale * math.cos(angle)), round(scale * math.sin(angle))
        tap = buffers[:, :, pad + dy : pad + dy + h, pad + dx : pad + dx + w]
        tap_light, tap_reach, tap_inv_z, tap_ramp, tap_density = tap.split([4, 1, 1, 1, 1], 1)
        rho = math.hypot(dx, dy)
        front = ((tap_inv_z - inv_z) * tap_ramp).clamp(0, 1)
        w_fg = front * (tap_reach - rho).clamp(0, 1) * tap_density
        w_bg = (torch.minimum(tap_reach, reach) - rho).clamp(0, 1) * tap_density
        w_bg -= front * w_bg
        fg.addcmul_(w_fg, tap_light)
        bg.addcmul_(w_bg, tap_light)
    fg, bg = fg * tap_area, bg * tap_area
    bg += torch.cat([color, torch.ones_like(coc)], 1) * density  # the pixel itself: cover 1, 1 px
    alpha = fg[:, 3:]
    return fg[:, :3] / alpha.clamp_min(1) + (1 - alpha.clamp(max=1)) * bg[:, :3] / bg[:, 3:]

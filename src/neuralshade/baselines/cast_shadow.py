"""A geometric shadow for an object pasted into a picture, from the shadows already there.

The occluders in the picture (``robject``) and their shadows (``rshadow``) show where the light
comes from and how long shadows are, in image space. Under one distant light, a shadow on the
ground is close to the object's silhouette swept along one image-space displacement v: the
union of the silhouette shifted by t·v for t in [0, 1], less the object itself
(:func:`cast_mask`). So:

1. **The light** (:func:`estimate_light`): the v whose sweep of the occluders best matches
   their shadow, by IoU, over 36 directions (10° apart) and every whole-pixel length up to
   the image's diagonal, then 17 directions 1° apart around the best. For each direction the
   masks are resampled (bilinear, > 0.5) onto a grid turned so that v runs along its rows; in
   a row, the distance D from each pixel back to the nearest occluder pixel is one
   ``cummax``, and a pixel lies in the sweep of length L iff 0 < D ≤ L. One histogram of D
   then gives the IoU of every length at once, so a 128² picture takes tens of milliseconds
   on one CPU core. The coarse search runs at half resolution. Shadows that leave the frame
   are matched where they are visible (the sweep is counted inside the frame only), at the
   shortest length that fits them.
2. **Its length for the new object**: an object twice as tall in the picture casts a shadow
   twice as long, so the object's v is the occluders' v times the ratio of their heights.
   The height of a mask (:func:`mask_height`) is its largest number of pixels in one column:
   for one object without holes, its vertical extent at its tallest column; for several
   occluders side by side, the tallest one's rather than the span of all.
3. **The darkness**: per channel, the mean colour inside the occluders' shadow (rshadow > 0.5)
   over that of a ring of lit pixels around it (2 to 5 pixels from it, rshadow < 0.1, not an
   occluder nor the object), clamped to [0, 1]: the fraction of the light the shadow leaves.
4. **The shadow**: the object's mask cast along its v (:func:`object_shadow_mask`), its edge
   softened by a 3×3 box filter, and the picture multiplied there by the darkness:
   out = image · (1 − s · (1 − darkness)), s the soft mask times (1 − mask) (the object's
   own pixels are never darkened) times (1 − rshadow) (a pixel already in the occluders'
   shadow gets no darker: there is one light).

Fallback. Without occluders or without their shadow (either mask empty), or when no sweep
meets the shadow at all, there is nothing to measure: v is straight down-right, 0.5 × the
object's height long, and the darkness 0.5 (:data:`FALLBACK_PER_HEIGHT`,
:data:`FALLBACK_DARKNESS`); the darkness alone falls back when the ring is empty.
:class:`Light` says which images took it (``fitted``).

Limits: one light, shadows on a ground seen roughly upright (the sweep of the whole silhouette
is the shadow of an upright prism); perspective, a sloping ground and several lights are not
modelled; occluders of different heights get one v between theirs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from neuralshade.errors import InputError

ANGLES = 36  # the coarse search's directions, 10° apart
FINE_STEPS = 8  # the fine search: this many 1° steps either side of the coarse best
IOU_TIE = 0.005  # sweeps this close to the best IoU count as a tie, won by the shortest
FALLBACK_PER_HEIGHT = (0.5 / math.sqrt(2), 0.5 / math.sqrt(2))  # down-right, 0.5 × height
FALLBACK_DARKNESS = 0.5
RING = (2, 5)  # the lit ring around the occluders' shadow: this many pixels from it


@dataclass(frozen=True)
class Light:
    """The light as the occluders' shadows show it, one row per image (B images).

    Attributes:
        shift: (B, 2) the occluders' shadow displacement v in pixels, (x right, y down);
            on the fallback path, the fallback's for the occluders' height (zeros without
            occluders).
        per_height: (B, 2) v per pixel of object height (shift / occluder height): an
            object h pixels tall casts its shadow along h · per_height.
        darkness: (B, 3) per channel, the fraction of the light a shadowed pixel keeps, [0, 1].
        fitted: (B,) bool, True where v was measured, False where the fallback was taken.
        iou: (B,) IoU of the best sweep with the occluders' shadow (NaN on the fallback).
    """

    shift: Tensor
    per_height: Tensor
    darkness: Tensor
    fitted: Tensor
    iou: Tensor


def _check(image: Tensor | None, **masks: Tensor) -> None:
    """image (B, 3, H, W) floating, each mask (B, 1, H, W), H and W >= 2, else InputError."""
    first = next(iter(masks.values()))
    b, h, w = first.shape[0], *first.shape[-2:]
    if first.dim() != 4 or min(h, w) < 2:
        raise InputError(f"masks must be (B, 1, H, W) with H, W >= 2, got {tuple(first.shape)}")
    for name, m in masks.items():
        if not isinstance(m, Tensor) or tuple(m.shape) != (b, 1, h, w):
            got = tuple(m.shape) if isinstance(m, Tensor) else type(m).__name__
            raise InputError(f"{name} must be (B, 1, H, W) = {(b, 1, h, w)}, got {got}")
    if image is not None and (
        not isinstance(image, Tensor)
        or tuple(image.shape) != (b, 3, h, w)
        or not image.is_floating_point()
    ):
        got = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise InputError(f"image must be a float (B, 3, H, W) = {(b, 3, h, w)}, got {got}")


def _shift_grid(h: int, w: int, offset: Tensor) -> Tensor:
    """grid_sample grid (B, H, W, 2) reading pixel p − offset: the image moved by ``offset``
    (B, 2) pixels, (x, y)."""
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=offset.dtype, device=offset.device),
        torch.arange(w, dtype=offset.dtype, device=offset.device),
        indexing="ij",
    )
    x = xs - offset[:, 0, None, None]  # (B, H, W)
    y = ys - offset[:, 1, None, None]
    return torch.stack([x / (w - 1) * 2 - 1, y / (h - 1) * 2 - 1], dim=-1)


def cast_mask(mask: Tensor, v: Tensor) -> Tensor:
    """The sweep of a mask along v, less the mask itself: where its shadow falls.

    mask: (B, 1, H, W), inside where > 0.5. v: (B, 2) displacement in pixels (x right, y
    down). The union over t in [0, 1] of the mask moved by t·v, sampled every pixel of the
    way (bilinear, > 0.5), outside the mask. Returns (B, 1, H, W) of 0.0 and 1.0, in mask's
    dtype (float32 at least).
    """
    _check(None, mask=mask)
    dtype = torch.promote_types(mask.dtype, torch.float32)
    inside = (mask > 0.5).to(dtype)
    v = v.to(dtype)
    h, w = mask.shape[-2:]
    steps = max(1, math.ceil(float(v.norm(dim=1).max())))
    swept = inside
    for k in range(1, steps + 1):
        grid = _shift_grid(h, w, v * (k / steps))
        moved = F.grid_sample(inside, grid, mode="bilinear", align_corners=True)
        swept = torch.maximum(swept, moved)
    return ((swept > 0.5) & (inside == 0)).to(dtype)


def mask_height(mask: Tensor) -> Tensor:
    """(B, 1, H, W) mask (> 0.5) → (B,) its height in pixels: the largest number of its pixels
    in one column (0 for an empty mask)."""
    return (mask > 0.5).sum(dim=2).amax(dim=(1, 2)).to(torch.float32)


def _rotated(masks: Tensor, angles: Tensor, size: int) -> Tensor:
    """The masks (C, H, W) resampled onto ``size``² grids centred on the image, one per angle,
    turned so that the grid's rows run along (cos θ, sin θ): (K, C + 1, size, size), nearest
    samples, zeros outside the image, and a last channel 1 inside the image."""
    c, h, w = masks.shape
    k = len(angles)
    cos, sin = angles.cos(), angles.sin()
    sx, sy = (size - 1) / (w - 1), (size - 1) / (h - 1)  # grid pixels to image pixels, normed
    theta = torch.zeros(k, 2, 3, dtype=masks.dtype, device=masks.device)
    theta[:, 0, 0], theta[:, 0, 1] = sx * cos, -sx * sin
    theta[:, 1, 0], theta[:, 1, 1] = sy * sin, sy * cos
    grid = F.affine_grid(theta, [k, c + 1, size, size], align_corners=True)
    stack = torch.cat([masks, torch.ones_like(masks[:1])]).expand(k, c + 1, h, w)
    return F.grid_sample(stack, grid, mode="nearest", align_corners=True)


def _sweep_iou(occluders: Tensor, shadow: Tensor, angles: Tensor) -> Tensor:
    """IoU of the occluders' sweep with their shadow for every angle and length:
    (K, L + 1), column L the sweep of length L pixels (column 0: none).

    occluders, shadow: (H, W) bool, disjoint.
    """
    h, w = occluders.shape
    size = math.ceil(math.hypot(h, w)) + 2
    samples = _rotated(torch.stack([occluders, shadow]).float(), angles, size)
    occ, shd, frame = (samples > 0.5).unbind(dim=1)  # (K, S, S) each
    position = torch.arange(size, dtype=torch.float32, device=occ.device).expand_as(occ)
    last = torch.where(occ, position, -2.0 * size).cummax(dim=-1).values
    # distance to the nearest occluder pixel before it in the row (0 on one), capped
    distance = (position - last).clamp(max=size + 1).long().flatten(1)
    outside = frame & ~occ
    counts = torch.zeros(len(angles), 2, size + 2, device=occ.device)
    counts[:, 0].scatter_add_(1, distance, (outside & shd).flatten(1).float())
    counts[:, 1].scatter_add_(1, distance, outside.flatten(1).float())
    inter, swept = counts[:, :, : size + 1].cumsum(dim=-1).unbind(dim=1)  # (K, L + 1)
    union = shd.flatten(1).sum(1, keepdim=True).float() + swept - inter
    return inter / union.clamp_min(1)


def _fit(occluders: Tensor, shadow: Tensor) -> tuple[Tensor, float]:
    """(v (2,) pixels, IoU) of the sweep that best matches the shadow.

    The coarse directions at half resolution (2×2 max pool: a thin shadow stays), then 1°
    steps around the best at full resolution. Of the sweeps within IoU_TIE of the best, the
    shortest: a shadow cut off by the frame fits every length that leaves it, and the
    shortest is the one the picture shows.
    """
    device = occluders.device
    halves = F.max_pool2d(torch.stack([occluders, shadow]).float(), 2, ceil_mode=True) > 0.5
    coarse = torch.arange(ANGLES, device=device) * (2 * math.pi / ANGLES)
    iou = _sweep_iou(halves[0], halves[1] & ~halves[0], coarse)
    best = coarse[int(iou.amax(dim=1).argmax())]
    fine = best + torch.arange(-FINE_STEPS, FINE_STEPS + 1, device=device) * (math.pi / 180)
    iou = _sweep_iou(occluders, shadow, fine)
    near_best = (iou >= iou.max() - IOU_TIE).any(dim=0)  # (L + 1,)
    length = int(near_best.nonzero()[0])
    k = int(iou[:, length].argmax())
    v = length * torch.stack([fine[k].cos(), fine[k].sin()])
    return v, float(iou[k, length])


def shadow_darkness(image: Tensor, rshadow: Tensor, objects: Tensor) -> tuple[Tensor, Tensor]:
    """Per channel, mean colour in the shadow over that of the lit ring around it.

    image: (B, 3, H, W) in [0, 1]; rshadow: (B, 1, H, W) soft; objects: (B, 1, H, W), pixels
    to leave out of the ring (> 0.5). Returns ((B, 3) darkness clamped to [0, 1], (B,) bool:
    measured, False where the shadow or the ring is empty; those rows are FALLBACK_DARKNESS).
    """
    shadow = (rshadow > 0.5).to(image.dtype)
    near, touching = (F.max_pool2d(shadow, 2 * r + 1, 1, r) for r in (RING[1], RING[0] - 1))
    ring = near * (1 - touching) * (rshadow < 0.1) * (objects <= 0.5)
    n_shadow, n_ring = shadow.sum(dim=(2, 3)), ring.sum(dim=(2, 3))  # (B, 1)
    dark = (image * shadow).sum(dim=(2, 3)) / n_shadow.clamp_min(1)  # (B, 3)
    lit = (image * ring).sum(dim=(2, 3)) / n_ring.clamp_min(1)
    ratio = (dark / lit.clamp_min(1e-6)).clamp(0, 1)
    measured = (n_shadow[:, 0] > 0) & (n_ring[:, 0] > 0)
    return torch.where(measured[:, None], ratio, FALLBACK_DARKNESS), measured


def estimate_light(
    image: Tensor, robject: Tensor, rshadow: Tensor, mask: Tensor | None = None
) -> Light:
    """The light's image-space shadow displacement and the shadows' darkness, per image.

    image: (B, 3, H, W) in [0, 1]; robject: (B, 1, H, W) the occluders; rshadow: (B, 1, H, W)
    their shadows, soft, in [0, 1]; mask: (B, 1, H, W) an inserted object, left out of the lit
    ring (optional). Masks count where > 0.5. See the module docstring for the method and the
    fallback.
    """
    masks = {"robject": robject, "rshadow": rshadow}
    _check(image, **masks, **({} if mask is None else {"mask": mask}))
    occluders, shadows = robject > 0.5, (rshadow > 0.5) & (robject <= 0.5)
    height = mask_height(robject)
    fallback = torch.tensor(FALLBACK_PER_HEIGHT, device=image.device)
    shift, iou = [], []
    for occ, shd, tall in zip(occluders[:, 0], shadows[:, 0], height, strict=True):
        v, score = _fit(occ, shd) if occ.any() and shd.any() else (None, 0.0)
        fitted = v is not None and score > 0
        shift.append(v if fitted else fallback * tall)
        iou.append(score if fitted else math.nan)
    shift_t = torch.stack(shift).float()
    iou_t = torch.tensor(iou, device=image.device)
    fitted_t = ~iou_t.isnan()
    per_height = torch.where(
        fitted_t[:, None], shift_t / height.clamp_min(1)[:, None], fallback.expand_as(shift_t)
    )
    objects = robject if mask is None else torch.maximum(robject, mask)
    darkness, _ = shadow_darkness(image, rshadow, objects)
    darkness = torch.where(fitted_t[:, None], darkness, FALLBACK_DARKNESS)
    return Light(shift_t, per_height, darkness, fitted_t, iou_t)


def object_shadow_mask(mask: Tensor, light: Light) -> Tensor:
    """The inserted object's cast shadow: its mask (B, 1, H, W) swept along its height times
    ``light.per_height`` (:func:`cast_mask`). Returns (B, 1, H, W) of 0.0 and 1.0."""
    v = light.per_height * mask_height(mask).to(light.per_height.device)[:, None]
    return cast_mask(mask, v)


def cast_shadow(image: Tensor, mask: Tensor, robject: Tensor, rshadow: Tensor) -> Tensor:
    """The picture with the inserted object's shadow cast as the occluders' are.

    image: (B, 3, H, W) in [0, 1], the picture with the object, without its shadow; mask:
    (B, 1, H, W) the object, in [0, 1]; robject: (B, 1, H, W) the occluders already in the
    picture; rshadow: (B, 1, H, W) their shadows, soft, in [0, 1]. Returns (B, 3, H, W) in
    [0, 1]. :func:`estimate_light` gives the light it used and whether it fell back;
    :func:`object_shadow_mask` the shadow's mask.

    >>> image, mask = torch.full((1, 3, 32, 32), 0.8), torch.zeros(1, 1, 32, 32)
    >>> mask[..., 8:16, 8:16] = 1
    >>> out = cast_shadow(image, mask, torch.zeros_like(mask), torch.zeros_like(mask))
    >>> out[0, 0, 17, 17].item(), out[0, 0, 10, 10].item()  # fallback: down-right, half as dark
    (0.4000000059604645, 0.800000011920929)
    """
    light = estimate_light(image, robject, rshadow, mask)
    hard = object_shadow_mask(mask, light).to(image.dtype)
    soft = F.avg_pool2d(hard, 3, 1, 1, count_include_pad=False) * (1 - mask) * (1 - rshadow)
    darkness = light.darkness.to(image.dtype)[:, :, None, None]
    return (image * (1 - soft * (1 - darkness))).clamp(0, 1)

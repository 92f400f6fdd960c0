"""The geometric shadow baseline on synthetic pictures: a shadow made by sweeping a square along
a known v gives v back; the inserted object's shadow falls along v scaled by its height, as dark
as the occluders'; the fallback without occluders; the object's own pixels stay as they are."""

import math

import pytest
import torch
import torch.nn.functional as F

from neuralshade.baselines.cast_shadow import (
    FALLBACK_DARKNESS,
    FALLBACK_PER_HEIGHT,
    cast_mask,
    cast_shadow,
    estimate_light,
    mask_height,
    object_shadow_mask,
)
from neuralshade.errors import InputError

SIZE = 96
GROUND = torch.tensor([0.6, 0.7, 0.8])  # the picture's colour where lit
DARKNESS = torch.tensor([0.5, 0.6, 0.7])  # the fraction of it the occluders' shadow keeps


def square(top, left, side, size=SIZE):
    m = torch.zeros(1, 1, size, size)
    m[..., top : top + side, left : left + side] = 1
    return m


def scene(v, occluder=(20, 20, 12)):
    """(image, robject, rshadow): a uniform ground, a grey square occluder and its shadow, the
    square swept along v (pixels, x right, y down), darkened to DARKNESS."""
    robject = square(*occluder)
    rshadow = cast_mask(robject, torch.tensor([v], dtype=torch.float32))
    image = GROUND.view(1, 3, 1, 1) * (1 - rshadow * (1 - DARKNESS.view(1, 3, 1, 1)))
    image = torch.where(robject > 0.5, torch.tensor(0.3), image)
    return image, robject, rshadow


def test_cast_mask_is_the_sweep_less_the_mask():
    dot = torch.zeros(1, 1, 9, 12)
    dot[..., 4, 3] = 1
    swept = cast_mask(dot, torch.tensor([[5.0, 0.0]]))
    expected = torch.zeros_like(dot)
    expected[..., 4, 4:9] = 1  # the five pixels it passes, not its own
    torch.testing.assert_close(swept, expected)
    diagonal = cast_mask(dot, torch.tensor([[-3.0, 3.0]]))  # down-left
    assert diagonal[0, 0].nonzero().tolist() == [[5, 2], [6, 1], [7, 0]]


@pytest.mark.parametrize("v", [(25.0, 12.0), (-7.0, 30.0), (18.0, -18.0), (-30.0, 0.0), (5.0, 4.0)])
def test_the_estimate_recovers_the_sweep_that_made_the_shadow(v):
    image, robject, rshadow = scene(v, occluder=(40, 40, 12))
    light = estimate_light(image, robject, rshadow)
    assert light.fitted.tolist() == [True] and light.iou.item() > 0.85  # pixel rounding
    assert torch.linalg.vector_norm(light.shift[0] - torch.tensor(v)) < 2.0, light.shift
    torch.testing.assert_close(light.per_height, light.shift / 12)


def test_a_soft_shadow_mask_gives_the_same_estimate():
    image, robject, rshadow = scene((20.0, 10.0))
    soft = F.avg_pool2d(rshadow, 3, 1, 1)  # a penumbra: values in (0, 1) at the edge
    light = estimate_light(image, robject, soft)
    assert torch.linalg.vector_norm(light.shift[0] - torch.tensor([20.0, 10.0])) < 2.0


def test_a_shadow_cut_by_the_frame_is_fitted_at_the_length_it_shows():
    # the square at x 20…31 casts 40 px to the left: 20 of them are in the picture
    image, robject, rshadow = scene((-40.0, 0.0))
    light = estimate_light(image, robject, rshadow)
    assert light.shift[0, 0].item() == pytest.approx(-20, abs=2)
    assert abs(light.shift[0, 1].item()) < 2


def test_the_object_s_shadow_falls_along_v_scaled_by_its_height_as_dark_as_the_occluders():
    v = torch.tensor([12.0, 6.0])
    image, robject, rshadow = scene(tuple(v.tolist()))  # a 12-pixel occluder
    mask = square(50, 30, 24)  # twice as tall: a shadow twice as long
    image = torch.where(mask > 0.5, torch.tensor(0.9), image)
    light = estimate_light(image, robject, rshadow, mask)
    torch.testing.assert_close(light.darkness[0], DARKNESS, atol=1e-6, rtol=0)
    out = cast_shadow(image, mask, robject, rshadow)

    expected = cast_mask(mask, 2 * v[None])  # where it must fall
    hard = object_shadow_mask(mask, light)
    assert (hard * expected).sum() / torch.maximum(hard, expected).sum() > 0.9  # IoU
    # inside it, away from the softened edge: ground × darkness, per channel
    core = (-F.max_pool2d(-hard, 3, 1, 1)) > 0.5
    assert core.sum() > 200
    shaded = GROUND * DARKNESS
    for c in range(3):
        torch.testing.assert_close(out[0, c][core[0, 0]], shaded[c].expand(int(core.sum())))
    # beyond a pixel of the cast mask nothing changes
    far = F.max_pool2d(hard, 3, 1, 1) < 0.5
    assert torch.equal(out.expand(1, 3, SIZE, SIZE)[far.expand(1, 3, SIZE, SIZE)],
                       image[far.expand(1, 3, SIZE, SIZE)])  # fmt: skip


def test_the_object_s_own_pixels_and_the_occluders_shadow_are_never_darkened():
    image, robject, rshadow = scene((10.0, 25.0))
    mask = square(22, 36, 16)  # beside the occluder: its shadow sweeps over the old one
    out = cast_shadow(image, mask, robject, rshadow)
    changed = (out != image).any(dim=1, keepdim=True)
    assert changed.any()
    assert not (changed & (mask > 0.5)).any()
    assert not (changed & (rshadow > 0.5)).any()
    assert (out <= image).all()  # a shadow only darkens


def test_without_occluders_the_fallback_casts_down_right_at_half_darkness():
    image = GROUND.view(1, 3, 1, 1).expand(1, 3, SIZE, SIZE).clone()
    mask = square(30, 30, 20)
    none = torch.zeros_like(mask)
    light = estimate_light(image, none, none, mask)
    assert light.fitted.tolist() == [False] and math.isnan(light.iou.item())
    torch.testing.assert_close(light.per_height[0], torch.tensor(FALLBACK_PER_HEIGHT))
    assert light.darkness.eq(FALLBACK_DARKNESS).all()
    out = cast_shadow(image, mask, none, none)
    darkened = (out < image).any(dim=1)[0].nonzero().float()  # (n, 2) rows, columns
    assert darkened.shape[0] > 0
    # the shadow lies below and right of the object: 0.5 × 20 px along the diagonal
    assert (darkened.mean(dim=0) > 40).all()
    tip = 30 + 19 + round(10 / math.sqrt(2))  # the last row / column the sweep reaches
    torch.testing.assert_close(out[0, :, tip - 1, tip - 1], GROUND * FALLBACK_DARKNESS)
    assert torch.equal(out[..., tip + 2 :, :], image[..., tip + 2 :, :])


def test_occluders_without_a_shadow_fall_back_too_in_a_batch_with_one_that_fits():
    fit = scene((15.0, 5.0))
    image = torch.cat([fit[0], fit[0]])
    robject = torch.cat([fit[1], fit[1]])
    rshadow = torch.cat([fit[2], torch.zeros_like(fit[2])])
    light = estimate_light(image, robject, rshadow)
    assert light.fitted.tolist() == [True, False]
    torch.testing.assert_close(light.shift[1], torch.tensor(FALLBACK_PER_HEIGHT) * 12)
    torch.testing.assert_close(light.darkness[1], torch.full((3,), FALLBACK_DARKNESS))


def test_the_height_of_a_mask_is_its_tallest_column():
    masks = torch.cat([square(10, 10, 12), square(10, 10, 12) + square(50, 40, 20),
                       torch.zeros(1, 1, SIZE, SIZE)])  # fmt: skip
    masks[1, 0, 30:40, 10] = 1  # a stray column below the first square, apart from it: 22
    assert mask_height(masks).tolist() == [12.0, 22.0, 0.0]


def test_masks_of_another_size_are_input_errors_naming_them():
    image, robject, rshadow = scene((5.0, 5.0))
    with pytest.raises(InputError, match=r"rshadow must be \(B, 1, H, W\) = \(1, 1, 96, 96\)"):
        estimate_light(image, robject, rshadow[..., :50])
    with pytest.raises(InputError, match=r"image must be.*\(1, 3, 96, 96\).*\(1, 1, 96, 96\)"):
        cast_shadow(robject, robject, robject, rshadow)

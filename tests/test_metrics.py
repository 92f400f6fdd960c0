"""Metrics: SSIM against scikit-image, the others against numpy, shapes, errors, gradients, and
the registry (every entry against an independent formula)."""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

from neuralshade import metrics
from neuralshade.errors import ConfigError, InputError
from neuralshade.metrics import (
    L1,
    MSE,
    PSNR,
    SSIM,
    balanced_error_rate,
    compute,
    get_metric,
    l1,
    local_ber,
    masked_ssim,
    metric_names,
    mse,
    paired_difference,
    psnr,
    register_metric,
    relmse,
    rmse,
    shadow_mask_from_images,
    smape,
    ssim,
    ssim_map,
)


def skimage_ssim(
    x: np.ndarray, y: np.ndarray, data_range: float = 1.0, sigma: float = 1.5
) -> np.ndarray:
    """Per-image SSIM of (B, C, H, W) arrays by scikit-image, with the settings metrics.py uses.

    scikit-image's Gaussian window has radius int(3.5 σ + 0.5): 11 × 11 at σ = 1.5, 9 × 9 at 1.
    """
    return np.array(
        [
            structural_similarity(
                a.astype(np.float64),
                b.astype(np.float64),
                gaussian_weights=True,
                sigma=sigma,
                use_sample_covariance=False,
                data_range=data_range,
                channel_axis=0,
            )
            for a, b in zip(x, y, strict=True)
        ]
    )


def random_pair(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random(shape), rng.random(shape)


def structured_pair(shape, seed=0):
    """A diagonal gradient with rings, and a blurred, noisy copy of it: SSIM well inside (0, 1)."""
    batch, channels, height, width = shape
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width] / max(height, width)
    x = np.empty(shape)
    for c in range(channels):
        phase = 2.0 * c
        x[:, c] = 0.5 * (rows + cols) * 0.5 + 0.25 * (1 + np.sin(25 * np.hypot(rows, cols) + phase))
    blurred = gaussian_filter(x, sigma=(0, 0, 1.2, 1.2))
    y = np.clip(blurred + rng.normal(0, 0.05, size=shape), 0, 1)
    return x, y


PAIRS = {"random": random_pair, "structured": structured_pair}
SHAPES = {"grey": (2, 1, 24, 29), "rgb": (2, 3, 20, 17)}


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-12), (torch.float32, 2e-6)])
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("make", PAIRS.values(), ids=PAIRS.keys())
def test_ssim_equals_scikit_image(make, shape, dtype, tolerance):
    x, y = make(shape)
    ours = ssim(torch.tensor(x, dtype=dtype), torch.tensor(y, dtype=dtype), reduction="none")
    expected = skimage_ssim(x, y)
    assert expected.max() < 0.99  # the pair is not (nearly) identical
    np.testing.assert_allclose(ours.double().numpy(), expected, rtol=0, atol=tolerance)
    np.testing.assert_allclose(
        ssim(torch.tensor(x, dtype=dtype), torch.tensor(y, dtype=dtype)).item(),
        expected.mean(),
        rtol=0,
        atol=tolerance,
    )


def test_ssim_equals_scikit_image_for_another_data_range():
    x, y = structured_pair((1, 3, 16, 16))
    x, y = 255 * x, 255 * y
    ours = ssim(torch.tensor(x), torch.tensor(y), data_range=255.0, reduction="none")
    np.testing.assert_allclose(ours.numpy(), skimage_ssim(x, y, data_range=255.0), atol=1e-12)


def test_ssim_of_an_image_with_itself_is_one():
    x = torch.rand(3, 3, 16, 16)
    torch.testing.assert_close(ssim(x, x, reduction="none"), torch.ones(3))


def test_ssim_is_symmetric():
    x, y = (torch.tensor(a) for a in structured_pair((2, 3, 16, 16)))
    torch.testing.assert_close(ssim(x, y, reduction="none"), ssim(y, x, reduction="none"))


def test_ssim_map_covers_the_valid_windows_and_averages_to_ssim():
    x, y = torch.rand(2, 3, 20, 15), torch.rand(2, 3, 20, 15)
    local = ssim_map(x, y)
    assert local.shape == (2, 3, 10, 5)
    torch.testing.assert_close(local.mean(dim=(1, 2, 3)), ssim(x, y, reduction="none"))


def test_ssim_gradients_pass_gradcheck():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(1, 2, 6, 7, dtype=torch.float64, generator=generator, requires_grad=True)
    y = torch.rand(1, 2, 6, 7, dtype=torch.float64, generator=generator, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: ssim(a, b, window_size=5, sigma=1.0), (x, y))


def test_ssim_gradients_are_finite_and_nonzero():
    x, y = (torch.tensor(a, dtype=torch.float32) for a in structured_pair((2, 3, 16, 16)))
    x.requires_grad_(True)
    ssim(x, y).backward()
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().max() > 0


def test_psnr_matches_the_formula():
    x, y = random_pair((3, 2, 8, 9), seed=1)
    expected = 10 * np.log10(4.0 / ((x - y) ** 2).mean(axis=(1, 2, 3)))
    ours = psnr(torch.tensor(x), torch.tensor(y), data_range=2.0, reduction="none")
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(
        psnr(torch.tensor(x), torch.tensor(y), data_range=2.0).item(), expected.mean(), rtol=1e-12
    )


def test_psnr_of_identical_images_is_infinite():
    x = torch.rand(2, 3, 4, 4)
    assert torch.isinf(psnr(x, x, reduction="none")).all()
    assert psnr(x, x).item() == float("inf")


def test_l1_and_mse_match_numpy():
    x, y = random_pair((3, 2, 5, 6), seed=2)
    tx, ty = torch.tensor(x), torch.tensor(y)
    np.testing.assert_allclose(l1(tx, ty).item(), np.abs(x - y).mean(), rtol=1e-12)
    np.testing.assert_allclose(
        l1(tx, ty, reduction="none").numpy(), np.abs(x - y).mean(axis=(1, 2, 3)), rtol=1e-12
    )
    np.testing.assert_allclose(mse(tx, ty).item(), ((x - y) ** 2).mean(), rtol=1e-12)


@pytest.mark.parametrize("metric", [l1, mse, psnr, ssim])
def test_reduction_none_gives_one_value_per_image_and_mean_a_scalar(metric):
    x, y = torch.rand(4, 3, 12, 12), torch.rand(4, 3, 12, 12)
    per_image = metric(x, y, reduction="none")
    assert per_image.shape == (4,)
    assert metric(x, y).shape == ()
    torch.testing.assert_close(metric(x, y), per_image.mean())


@pytest.mark.parametrize("metric", [l1, mse, psnr, ssim])
def test_unknown_reduction_is_a_config_error(metric):
    x = torch.rand(1, 1, 12, 12)
    with pytest.raises(ConfigError, match="'sum'.*mean, none"):
        metric(x, x, reduction="sum")


@pytest.mark.parametrize("metric", [l1, mse, psnr, ssim])
def test_different_shapes_are_an_input_error_naming_both(metric):
    with pytest.raises(InputError, match=r"\(1, 3, 12, 12\).*\(1, 1, 12, 12\)"):
        metric(torch.rand(1, 3, 12, 12), torch.rand(1, 1, 12, 12))


@pytest.mark.parametrize("metric", [l1, psnr, ssim])
def test_non_4d_input_is_an_input_error_giving_expected_and_actual(metric):
    with pytest.raises(InputError, match=r"\(B, C, H, W\).*\(3, 12, 12\)"):
        metric(torch.rand(3, 12, 12), torch.rand(3, 12, 12))


def test_integer_images_are_an_input_error():
    x = torch.zeros(1, 1, 12, 12, dtype=torch.uint8)
    with pytest.raises(InputError, match="floating-point.*uint8"):
        l1(x, x)


def test_image_smaller_than_the_ssim_window_is_an_input_error():
    x = torch.rand(1, 3, 10, 30)
    with pytest.raises(InputError, match=r"11×11.*\(1, 3, 10, 30\)"):
        ssim(x, x)


@pytest.mark.parametrize("window_size", [0, 4, 2.0])
def test_bad_window_size_is_a_config_error(window_size):
    x = torch.rand(1, 1, 12, 12)
    with pytest.raises(ConfigError, match="window_size"):
        ssim(x, x, window_size=window_size)


def test_mixed_precision_inputs_are_compared_in_the_wider_type():
    x, y = (torch.tensor(a) for a in structured_pair((1, 3, 16, 16)))
    torch.testing.assert_close(
        ssim(x.half(), y.double()),
        ssim(x.half().double(), y.double()),
    )


@pytest.mark.parametrize(
    "module, reference",
    [
        (L1(reduction="none"), lambda x, y: np.abs(x - y).mean(axis=(1, 2, 3))),
        (MSE(), lambda x, y: ((x - y) ** 2).mean()),
        (
            PSNR(data_range=2.0, reduction="none"),
            lambda x, y: 10 * np.log10(4.0 / ((x - y) ** 2).mean(axis=(1, 2, 3))),
        ),
        (
            SSIM(data_range=2.0, window_size=9, sigma=1.0, reduction="none"),
            lambda x, y: skimage_ssim(x, y, data_range=2.0, sigma=1.0),
        ),
    ],
    ids=["L1", "MSE", "PSNR", "SSIM"],
)
def test_module_computes_its_metric_with_its_own_settings(module, reference):
    # settings other than the defaults, each checked against numpy or scikit-image: a module
    # that dropped one would give the default's value
    x, y = structured_pair((2, 3, 20, 17), seed=3)
    ours, expected = module(torch.tensor(x), torch.tensor(y)).numpy(), reference(x, y)
    assert ours.shape == np.shape(expected)  # (B,) for reduction "none", else a scalar
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12)


def test_module_settings_change_the_value():
    # the settings above are not ones the metric happens to ignore on this pair
    x, y = (torch.tensor(a) for a in structured_pair((2, 3, 20, 17), seed=3))
    assert not torch.allclose(PSNR(data_range=2.0)(x, y), PSNR()(x, y))
    assert not torch.allclose(
        SSIM(data_range=2.0, window_size=9, sigma=1.0)(x, y), SSIM()(x, y), atol=1e-3
    )


# ---- relMSE and SMAPE ----------------------------------------------------------------------


def test_relmse_and_smape_match_their_formulas():
    x, y = structured_pair((3, 3, 12, 14), seed=4)
    np.testing.assert_allclose(
        relmse(torch.tensor(x), torch.tensor(y), reduction="none").numpy(),
        ((x - y) ** 2 / (y**2 + 0.01)).mean(axis=(1, 2, 3)),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        smape(torch.tensor(x), torch.tensor(y), eps=0.1).item(),
        (np.abs(x - y) / (np.abs(x) + np.abs(y) + 0.1)).mean(),
        rtol=1e-12,
    )


def test_relmse_weighs_an_error_by_the_reference_not_the_estimate():
    dark, bright = torch.full((1, 1, 4, 4), 0.1), torch.full((1, 1, 4, 4), 0.9)
    # the same absolute error costs more against a dark reference
    assert relmse(dark + 0.05, dark) > 10 * relmse(bright + 0.05, bright)
    assert not torch.allclose(relmse(dark, bright), relmse(bright, dark))
    torch.testing.assert_close(smape(dark, bright), smape(bright, dark))


# ---- the registry --------------------------------------------------------------------------


def capped_psnr(x, y):
    with np.errstate(divide="ignore"):
        return np.minimum(100.0, 10 * np.log10(1.0 / ((x - y) ** 2).mean(axis=(1, 2, 3))))


# every registered metric's value by an independent implementation: numpy or scikit-image
INDEPENDENT = {
    "l1": lambda x, y: np.abs(x - y).mean(axis=(1, 2, 3)),
    "mse": lambda x, y: ((x - y) ** 2).mean(axis=(1, 2, 3)),
    "psnr": capped_psnr,
    "ssim": lambda x, y: skimage_ssim(x, y),
    "dssim": lambda x, y: (1 - skimage_ssim(x, y)) / 2,
    "relmse": lambda x, y: ((x - y) ** 2 / (y**2 + 0.01)).mean(axis=(1, 2, 3)),
    "smape": lambda x, y: (np.abs(x - y) / (np.abs(x) + np.abs(y) + 0.01)).mean(axis=(1, 2, 3)),
    "log_l1": lambda x, y: np.abs(np.log1p(np.maximum(x, 0)) - np.log1p(np.maximum(y, 0)))
    .mean(axis=(1, 2, 3)),
}


def test_every_registered_metric_has_an_independent_check():
    assert set(metric_names()) == set(INDEPENDENT)


@pytest.mark.parametrize("name", metric_names())
def test_registered_metric_equals_an_independent_implementation(name):
    x, y = structured_pair((3, 3, 16, 18), seed=5)
    ours = get_metric(name).per_image(torch.tensor(x), torch.tensor(y))
    assert ours.shape == (3,)
    np.testing.assert_allclose(ours.numpy(), INDEPENDENT[name](x, y), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", metric_names())
def test_registered_metric_is_finite_for_identical_images(name):
    x = torch.rand(2, 3, 12, 12)
    values = get_metric(name).per_image(x, x)
    assert torch.isfinite(values).all()
    np.testing.assert_allclose(values.numpy(), INDEPENDENT[name](x.numpy(), x.numpy()), atol=1e-6)


def test_registered_psnr_is_capped_at_100_db():
    x = torch.rand(2, 3, 12, 12)
    y = x.clone()
    y[1] += 0.1
    values = get_metric("psnr").per_image(x, y)
    assert values[0].item() == 100.0
    np.testing.assert_allclose(values[1].item(), 20.0, rtol=1e-5)


@pytest.mark.parametrize("name", metric_names())
def test_higher_is_better_says_which_way_a_closer_estimate_moves(name):
    target = torch.tensor(structured_pair((2, 3, 16, 16), seed=6)[0], dtype=torch.float32)
    noise = torch.randn(target.shape, generator=torch.Generator().manual_seed(0))
    close, far = (target + 0.02 * noise).clamp(0, 1), (target + 0.2 * noise).clamp(0, 1)
    metric = get_metric(name)
    better = metric.per_image(close, target)
    worse = metric.per_image(far, target)
    assert (better > worse).all() if metric.higher_is_better else (better < worse).all()


def test_metric_shows_its_unit_and_format():
    assert get_metric("psnr").show(40.1234) == "40.12 dB"
    assert get_metric("l1").show(0.0039123) == "0.0039"
    assert get_metric("psnr").unit == "dB" and get_metric("ssim").unit == ""
    assert all(get_metric(name).description for name in metric_names())


def test_unknown_metric_is_a_config_error_listing_the_known_ones():
    with pytest.raises(ConfigError, match="'lpips'.*l1, mse, psnr, ssim, dssim, relmse"):
        get_metric("lpips")


def test_registering_a_taken_name_is_refused_and_keeps_the_first():
    with pytest.raises(ValueError, match="'l1' is already registered"):
        register_metric("l1", higher_is_better=True, description="impostor")
    assert get_metric("l1").per_image is metrics._l1_per_image


def test_compute_gives_each_named_metric_per_image():
    x, y = structured_pair((2, 3, 16, 16), seed=7)
    out = compute(["ssim", "l1"], torch.tensor(x), torch.tensor(y))
    assert list(out) == ["ssim", "l1"]
    for name, values in out.items():
        np.testing.assert_allclose(values.numpy(), INDEPENDENT[name](x, y), rtol=1e-10)


def test_compute_checks_every_name_first():
    x = torch.rand(1, 3, 12, 12)
    with pytest.raises(ConfigError, match="'psnr_db'.*known metrics"):
        compute(["l1", "psnr_db"], x, x)
    with pytest.raises(ConfigError, match="list of metric names.*'l1'"):
        compute("l1", x, x)


def test_compute_checks_the_images():
    with pytest.raises(InputError, match=r"\(1, 3, 12, 12\).*\(1, 1, 12, 12\)"):
        compute(["l1"], torch.rand(1, 3, 12, 12), torch.rand(1, 1, 12, 12))


# ---- masked metrics and binary masks -------------------------------------------------------


def test_rmse_is_on_the_255_scale_over_all_pixels_and_channels():
    x = torch.zeros(2, 3, 4, 5, dtype=torch.float64)
    y = x.clone()
    y[0] = 0.1  # every value off by 0.1: 25.5 levels
    y[1, 2, 0, 0] = 1.0  # one value of 60 off by 1: √(1/60) · 255
    np.testing.assert_allclose(rmse(x, y, reduction="none").numpy(), [25.5, 255 / np.sqrt(60)])
    np.testing.assert_allclose(rmse(x, y).item(), (25.5 + 255 / np.sqrt(60)) / 2)
    np.testing.assert_allclose(rmse(x, y, scale=1.0, reduction="none").numpy()[0], 0.1)


def test_masked_rmse_counts_only_the_mask_s_pixels_in_every_channel():
    rng = np.random.default_rng(8)
    x, y = rng.random((2, 3, 6, 7)), rng.random((2, 3, 6, 7))
    mask = np.zeros((2, 1, 6, 7))
    mask[0, 0, 1:4, 2:6] = 1.0
    mask[1, 0, 5, 0] = 0.7  # soft values count above 0.5
    mask[1, 0, 0, 0] = 0.3
    expected = []
    for b in range(2):
        inside = mask[b, 0] > 0.5
        diffs = np.stack([(x[b, c] - y[b, c])[inside] for c in range(3)])  # (3, n)
        expected.append(255 * np.sqrt((diffs**2).mean()))
    got = rmse(torch.tensor(x), torch.tensor(y), torch.tensor(mask), reduction="none")
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


def test_an_empty_mask_gives_nan_for_its_image_and_the_mean_skips_it():
    x, y = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.2)
    mask = torch.zeros(2, 1, 4, 4)
    mask[1, :, :2] = 1
    per_image = rmse(x, y, mask, reduction="none")
    assert torch.isnan(per_image[0]) and per_image[1].item() == pytest.approx(51.0)
    assert rmse(x, y, mask).item() == pytest.approx(51.0)
    assert torch.isnan(rmse(x, y, torch.zeros(2, 1, 4, 4)))  # no image has a pixel


def test_masked_ssim_averages_scikit_image_s_ssim_map_inside_the_mask():
    x, y = structured_pair((2, 3, 20, 17), seed=9)
    mask = np.zeros((2, 1, 20, 17))
    mask[0, 0, 3:12, 4:15] = 1  # partly within 5 pixels of the border: those do not count
    mask[1, 0, 8:10, 6:9] = 1
    expected = []
    for b in range(2):
        _, full = structural_similarity(x[b], y[b], gaussian_weights=True, sigma=1.5,
                                        use_sample_covariance=False, data_range=1.0,
                                        channel_axis=0, full=True)  # fmt: skip
        inside = mask[b, 0, 5:-5, 5:-5] > 0.5  # the windows wholly inside the image
        expected.append(full[:, 5:-5, 5:-5][:, inside].mean())
    got = masked_ssim(torch.tensor(x), torch.tensor(y), torch.tensor(mask), reduction="none")
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-12)
    ones = torch.ones(2, 1, 20, 17, dtype=torch.float64)  # the whole image: plain SSIM
    torch.testing.assert_close(masked_ssim(torch.tensor(x), torch.tensor(y), ones),
                               ssim(torch.tensor(x), torch.tensor(y)))  # fmt: skip
    border = torch.zeros(1, 1, 20, 17)
    border[..., :5, :] = 1  # only pixels too near the border for a window: undefined
    assert torch.isnan(masked_ssim(torch.rand(1, 1, 20, 17), torch.rand(1, 1, 20, 17), border))


def hand_masks():
    """A 4×4 true mask of 5 pixels and a prediction with 3 of them and 2 false ones:
    TP 3, FN 2, FP 2, TN 9."""
    true = np.zeros((4, 4))
    true[0, :3] = true[1, :2] = 1
    pred = np.zeros((4, 4))
    pred[0, :3] = 1  # 3 hits
    pred[3, 2:] = 1  # 2 false alarms
    return pred, true


def test_ber_and_local_ber_match_hand_counted_rates():
    pred, true = hand_masks()
    tp, fn, fp, tn = 3, 2, 2, 9
    assert (pred * true).sum() == tp and ((1 - pred) * (1 - true)).sum() == tn
    p, t = torch.tensor(pred)[None, None], torch.tensor(true)[None, None]
    ber = balanced_error_rate(p, t, reduction="none")
    expected = 1 - (tp / (tp + fn) + tn / (tn + fp)) / 2
    np.testing.assert_allclose(ber.numpy(), [expected], rtol=1e-6)  # rates in float32
    np.testing.assert_allclose(local_ber(p, t, reduction="none").numpy(), [fn / (tp + fn)])
    assert balanced_error_rate(t, t).item() == 0 and balanced_error_rate(1 - t, t).item() == 1
    assert balanced_error_rate(torch.zeros_like(t), t).item() == 0.5  # predicts nothing
    assert local_ber(torch.ones_like(t), t).item() == 0  # a full prediction misses nothing


def test_ber_is_nan_where_a_rate_is_undefined_and_the_mean_skips_it():
    pred, true = (torch.tensor(a, dtype=torch.float32)[None, None] for a in hand_masks())
    empty, full = torch.zeros_like(true), torch.ones_like(true)
    trues = torch.cat([true, empty, full])  # no TPR for the empty one, no TNR for the full
    preds = torch.cat([pred, pred, pred])
    ber = balanced_error_rate(preds, trues, reduction="none")
    assert not torch.isnan(ber[0]) and torch.isnan(ber[1:]).all()
    torch.testing.assert_close(balanced_error_rate(preds, trues), ber[0])
    local = local_ber(preds, trues, reduction="none")
    assert torch.isnan(local[1]) and local[2].item() == pytest.approx(1 - 5 / 16)


def test_masks_of_other_shapes_are_input_errors_naming_them():
    x = torch.rand(2, 3, 8, 8)
    with pytest.raises(
        InputError, match=r"mask must be \(B, 1, H, W\) = \(2, 1, 8, 8\).*\(2, 3, 8, 8\)"
    ):
        rmse(x, x, x)
    with pytest.raises(InputError, match=r"true must be a mask batch.*\(2, 3, 8, 8\)"):
        balanced_error_rate(torch.rand(2, 1, 8, 8), x)
    with pytest.raises(InputError, match=r"pred must be.*\(2, 1, 8, 8\).*\(1, 1, 8, 8\)"):
        local_ber(torch.rand(1, 1, 8, 8), torch.rand(2, 1, 8, 8))
    with pytest.raises(InputError, match=r"mask must be"):
        masked_ssim(torch.rand(1, 3, 12, 12), torch.rand(1, 3, 12, 12), torch.rand(1, 1, 12, 11))


def test_the_shadow_mask_is_where_rec709_luma_drops_by_more_than_the_threshold():
    before = np.full((1, 3, 2, 4), 0.6)
    after = before.copy()
    after[0, :, 0, 0] -= 0.05  # grey darkening of 12.75 levels: in
    after[0, :, 0, 1] -= 0.03  # 7.65 levels: out
    after[0, :, 0, 2] += 0.2  # brighter: out
    after[0, 2, 0, 3] -= 0.3  # blue only: luma −0.0217 (5.5 levels): out
    after[0, 1, 1, 0] -= 0.1  # green only: luma −0.0715 (18 levels): in
    after[0, 0, 1, 1] -= 0.15  # red only: luma −0.0319 (8.1 levels): out ...
    after[0, 0, 1, 2] -= 0.2  # ... −0.0425 (10.8 levels): in
    luma = lambda im: 0.2126 * im[:, 0] + 0.7152 * im[:, 1] + 0.0722 * im[:, 2]  # noqa: E731
    expected = (luma(before) - luma(after) > 10 / 255)[:, None].astype(np.float64)
    got = shadow_mask_from_images(torch.tensor(before), torch.tensor(after))
    assert got.shape == (1, 1, 2, 4) and got.dtype == torch.float64
    np.testing.assert_array_equal(got.numpy(), expected)
    np.testing.assert_array_equal(expected[0, 0], [[1, 0, 0, 0], [1, 0, 1, 0]])
    loose = shadow_mask_from_images(torch.tensor(before), torch.tensor(after), threshold=0.02)
    np.testing.assert_array_equal(loose[0, 0].numpy(), [[1, 1, 0, 1], [1, 1, 1, 0]])


def test_paired_difference_agrees_with_the_t_interval_on_normal_differences():
    rng = np.random.default_rng(3)
    b = rng.normal(30, 8, 400)
    a = b + rng.normal(1.5, 4, 400)  # paired: the images' own spread cancels
    got = paired_difference(a, b)
    d = a - b
    half = 1.96 * d.std(ddof=1) / np.sqrt(d.size)
    assert got["n"] == 400 and got["mean"] == pytest.approx(d.mean(), rel=1e-12)
    assert got["low"] == pytest.approx(d.mean() - half, abs=0.1 * half)
    assert got["high"] == pytest.approx(d.mean() + half, abs=0.1 * half)


def test_paired_difference_covers_the_true_mean_about_95_times_in_100():
    rng = np.random.default_rng(4)
    hits = 0
    for i in range(200):
        b = rng.normal(0, 1, 40)
        a = b + rng.exponential(1.0, 40) - 1.0  # skewed differences, true mean 0
        ci = paired_difference(a, b, resamples=1000, seed=i)
        hits += ci["low"] <= 0 <= ci["high"]
    assert 0.88 <= hits / 200 <= 0.99


def test_paired_difference_of_a_constant_shift_is_the_shift_and_drops_nan_pairs():
    b = [4.0, 9.0, float("nan"), 1.0]
    got = paired_difference([5.5, 10.5, 3.0, 2.5], b)
    assert got == {"mean": 1.5, "low": 1.5, "high": 1.5, "n": 3}
    assert paired_difference([1.0, 3.0], [3.0, 1.0], seed=1) == paired_difference(
        [1.0, 3.0], [3.0, 1.0], seed=1)  # fmt: skip
    assert paired_difference([float("nan")], [1.0])["n"] == 0
    with pytest.raises(ValueError, match="one length"):
        paired_difference([1.0, 2.0], [1.0])

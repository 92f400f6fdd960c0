"""Losses: every registered loss is a finite, differentiable scalar, least for a perfect
prediction; the mixed and log-space losses match their formulas; the registry's errors."""

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from neuralshade import losses
from neuralshade.errors import ConfigError
from neuralshade.losses import (
    LOSSES,
    build_loss,
    from_log_space,
    loss_names,
    predicts_log1p,
    register,
    to_log_space,
)


def image(seed: int, shape=(2, 3, 16, 16)) -> torch.Tensor:
    """A smooth random image in [0, 1]: structure for SSIM to see, not just noise."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(shape[0], shape[1], 4, 4, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=shape[2:], mode="bicubic").clamp(0, 1)


def target_for(name: str) -> torch.Tensor:
    """[0, 1] colours for linear losses; HDR radiance up to e³ − 1 ≈ 19 for log-space ones."""
    target = image(0)
    return torch.expm1(3 * target) if predicts_log1p(name) else target


def perfect_prediction(name: str, target: torch.Tensor) -> torch.Tensor:
    return to_log_space(target) if predicts_log1p(name) else target.clone()


@pytest.mark.parametrize("name", loss_names())
def test_loss_is_least_for_a_perfect_prediction_and_grows_with_the_error(name):
    loss = build_loss(name)
    target = target_for(name)
    perfect = perfect_prediction(name, target)
    error = image(1) - 0.5  # (2, 3, 16, 16), structured, both signs
    values = [loss(perfect + scale * error, target).item() for scale in (0.0, 0.05, 0.2, 0.5)]
    assert values[0] == pytest.approx(0.0, abs=1e-6)
    assert values == sorted(values) and len(set(values)) == len(values), values


@pytest.mark.parametrize("name", loss_names())
def test_loss_is_a_finite_scalar_that_backpropagates(name):
    target = target_for(name)
    pred = (perfect_prediction(name, target) + 0.1 * (image(2) - 0.5)).requires_grad_(True)
    value = build_loss(name)(pred, target)
    assert value.shape == ()
    assert torch.isfinite(value)
    value.backward()
    assert torch.isfinite(pred.grad).all()
    assert pred.grad.abs().max() > 0


def test_default_loss_is_l1():
    assert build_loss() is LOSSES["l1"]
    assert loss_names()[0] == "l1"


def skimage_ssim(x: np.ndarray, y: np.ndarray, data_range: float = 1.0) -> float:
    """Mean SSIM of (B, C, H, W) images by scikit-image, 11 × 11 Gaussian window, σ = 1.5."""
    return np.mean(
        [
            structural_similarity(
                a,
                b,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
                data_range=data_range,
                channel_axis=0,
            )
            for a, b in zip(x, y, strict=True)
        ]
    )


LINEAR_FORMULAS = {
    "l1": lambda p, t: np.abs(p - t).mean(),
    "mse": lambda p, t: ((p - t) ** 2).mean(),
    "ssim": lambda p, t: 1 - skimage_ssim(p, t),
    "l1+ssim": lambda p, t: 0.84 * (1 - skimage_ssim(p, t)) + 0.16 * np.abs(p - t).mean(),
}


def test_every_loss_has_its_formula_checked():
    checked = {"logl1", "logssim", "logl1+logssim", "pul1", "pul1+ssim"}
    assert set(LINEAR_FORMULAS) | checked == set(loss_names())


@pytest.mark.parametrize("name", LINEAR_FORMULAS)
def test_linear_losses_match_numpy_and_scikit_image(name):
    # the l1+ssim mix is Zhao et al.'s: 0.84 of the SSIM term, 0.16 of the L1
    pred, target = image(3).double(), image(4).double()
    expected = LINEAR_FORMULAS[name](pred.numpy(), target.numpy())
    np.testing.assert_allclose(build_loss(name)(pred, target).item(), expected, atol=1e-12)


def test_logl1_is_twice_the_l1_distance_to_log1p_of_the_target():
    rng = np.random.default_rng(0)
    target, pred = rng.exponential(3.0, size=(2, 3, 8, 8)), rng.normal(1.0, 0.5, (2, 3, 8, 8))
    expected = 2 * np.abs(pred - np.log1p(target)).mean()
    value = build_loss("logl1")(torch.tensor(pred), torch.tensor(target))
    np.testing.assert_allclose(value.item(), expected, rtol=1e-12)


def test_logssim_is_one_minus_ssim_of_log1p_target_and_prediction():
    rng = np.random.default_rng(1)
    target = np.expm1(3 * image(5).double().numpy())
    pred = np.log1p(target) + rng.normal(0, 0.1, target.shape)
    expected = 1 - skimage_ssim(np.log1p(target), pred, data_range=losses.LOG_SSIM_DATA_RANGE)
    value = build_loss("logssim")(torch.tensor(pred), torch.tensor(target))
    np.testing.assert_allclose(value.item(), expected, atol=1e-12)


def test_only_log_losses_predict_log1p():
    log_losses = {"logl1", "logssim", "logl1+logssim"}
    assert {name for name in loss_names() if predicts_log1p(name)} == log_losses


def test_cnsr_s_loss_is_logl1_plus_logssim():
    rng = np.random.default_rng(2)
    target = torch.tensor(np.expm1(3 * image(6).double().numpy()))
    pred = torch.log1p(target) + torch.tensor(rng.normal(0, 0.2, tuple(target.shape)))
    both = build_loss("logl1")(pred, target) + build_loss("logssim")(pred, target)
    assert build_loss("logl1+logssim")(pred, target).item() == pytest.approx(both.item(), abs=1e-12)


def test_log_space_round_trips_and_clamps_negative_radiance_to_zero():
    radiance = torch.tensor([0.0, 0.5, 3.0, 250.0], dtype=torch.float64)
    torch.testing.assert_close(from_log_space(to_log_space(radiance)), radiance)
    assert to_log_space(torch.tensor([-0.01, -5.0])).tolist() == [0.0, 0.0]
    assert from_log_space(torch.tensor([-0.3])).item() == 0.0


def test_unknown_loss_is_a_config_error_listing_the_known_ones():
    with pytest.raises(ConfigError, match="'huber'") as caught:
        build_loss("huber")
    for name in loss_names():
        assert name in str(caught.value)
    with pytest.raises(ConfigError, match="'huber'"):
        predicts_log1p("huber")


def test_registering_a_taken_name_is_refused_and_keeps_the_original():
    original = LOSSES["l1"]
    with pytest.raises(ValueError, match="'l1' is already registered"):
        register("l1")(lambda pred, target: pred.sum())
    assert LOSSES["l1"] is original


def test_registered_loss_is_built_by_name(monkeypatch):
    monkeypatch.setattr(losses, "LOSSES", dict(LOSSES))
    monkeypatch.setattr(losses, "_LOG1P_OUTPUT", set(losses._LOG1P_OUTPUT))

    @register("log-mse", log1p_output=True)
    def log_mse(pred, target):
        return (pred - to_log_space(target)).square().mean()

    assert losses.build_loss("log-mse") is log_mse
    assert losses.predicts_log1p("log-mse")
    assert "log-mse" in losses.loss_names()


def test_pu_losses_compare_in_oidns_transfer_space_at_the_targets_exposure():
    """pul1 is L1 after × the target's exposure and OIDN's PU curve: so it ignores a common
    brightness (exposure undoes it), and pul1+ssim mixes it with SSIM there as OIDN does."""
    from neuralshade.metrics import ssim
    from neuralshade.models.oidn import autoexposure, pu_forward

    gen = torch.Generator().manual_seed(3)
    target = torch.rand(2, 3, 24, 24, generator=gen) * 4
    pred = target * (1 + 0.3 * torch.randn(2, 3, 24, 24, generator=gen))
    e = autoexposure(target).reshape(-1, 1, 1, 1)
    p, t = pu_forward(pred * e), pu_forward(target * e)
    want = (p - t).abs().mean()
    assert torch.allclose(build_loss("pul1")(pred, target), want, rtol=1e-5)
    assert torch.allclose(build_loss("pul1")(10 * pred, 10 * target), want, rtol=1e-4)
    mixed = 0.84 * (1 - ssim(p, t, data_range=1.0)) + 0.16 * want
    assert torch.allclose(build_loss("pul1+ssim")(pred, target), mixed, rtol=1e-5)
    assert float(build_loss("pul1")(target, target)) == 0.0
    pred.requires_grad_(True)
    build_loss("pul1")(pred - 10, target).backward()  # below zero: PU's linear toe, a gradient
    assert float(pred.grad.abs().sum()) > 0

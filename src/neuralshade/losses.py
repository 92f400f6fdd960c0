"""Training losses, by name: a registry of ``loss(pred, target) -> scalar tensor``.

``build_loss(name)`` returns the loss; an unknown name raises :class:`ConfigError` listing the
known ones (``loss_names()``). Every loss takes ``pred`` and ``target`` of shape (B, C, H, W)
and returns a scalar tensor that backpropagates into ``pred``.

Linear-space losses (target and prediction in the same units, colours in [0, 1]):

- ``l1`` (default): mean |pred − target|.
- ``mse``: mean (pred − target)².
- ``ssim``: 1 − SSIM(pred, target), data range 1.
- ``l1+ssim``: 0.84·(1 − SSIM) + 0.16·L1, the mix of Zhao, Gallo, Frosio and Kautz, "Loss
  Functions for Image Restoration with Neural Networks" (IEEE TCI 2017), who found it better
  than either term alone. They use multi-scale SSIM and a Gaussian-weighted L1; here the SSIM
  is single-scale (11×11, σ = 1.5) and the L1 plain.

Log-space losses for HDR targets (Granskog et al., "Compositional Neural Scene
Representations for Shading Inference", SIGGRAPH 2020). With these **the network's output
Y is in log1p space**: it predicts log(1 + y) of the linear HDR value y, the loss compares Y
with ``to_log_space(target)``, and inference must apply ``from_log_space`` (expm1) to get
radiance back. ``predicts_log1p(name)`` says which losses these are.

- ``logl1``: 2·mean |Y − log1p(y)|.
- ``logssim``: 1 − SSIM(log1p(y), Y) with a fixed data range L = ``LOG_SSIM_DATA_RANGE`` = 1
  (log1p units). SSIM's L only sets its stabilising constants C1 = (0.01·L)², C2 = (0.03·L)²,
  which matter where local means and variances are near zero (dark, flat regions). A fixed L
  keeps each image's loss independent of what else is in its batch (and of the batch split
  across DistributedDataParallel ranks) and keeps the constants from collapsing on an all-dark
  batch, which a batch-max L would do. L = 1 is the log1p of linear e − 1 ≈ 1.7, the scale of
  lit diffuse surfaces: the range the constants should be small against.
- ``logl1+logssim``: their sum, CNSR's loss.

Transfer-space losses for HDR targets, as Open Image Denoise trains its networks (its
``training/loss.py``, ``color.py``): the prediction is linear HDR light like the target, and
both are compared after OIDN's input transform: × the *target's* exposure
(:func:`neuralshade.models.oidn.autoexposure`: OIDN takes the noisy colour's, which the loss
does not see; the two agree to the noise), then OIDN's PU curve normalised so that 65504 → 1
(perceptually uniform: log-like in the highlights, a power law in the shadows). Values below 0
keep PU's linear toe, so a negative prediction has a gradient.

- ``pul1``: mean |PU(p) − PU(t)|.
- ``pul1+ssim``: 0.16·L1 + 0.84·(1 − SSIM) in PU space, data range 1, OIDN's default mix
  (``l1_msssim``) with single-scale SSIM (11×11, σ = 1.5): five MS-SSIM scales need crops of
  more than 160 pixels.

>>> loss = build_loss("l1+ssim")
>>> x = torch.rand(2, 3, 16, 16)
>>> float(loss(x, x))
0.0
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from neuralshade import metrics
from neuralshade.errors import ConfigError

Loss = Callable[[Tensor, Tensor], Tensor]

LOSSES: dict[str, Loss] = {}
DEFAULT_LOSS = "l1"
# Zhao et al. 2017's weight of the SSIM term in their SSIM + L1 mix.
SSIM_WEIGHT = 0.84
LOG_SSIM_DATA_RANGE = 1.0

_LOG1P_OUTPUT: set[str] = set()


def register(name: str, *, log1p_output: bool = False) -> Callable[[Loss], Loss]:
    """Decorator adding a loss under ``name``; a name already taken raises ValueError.

    ``log1p_output=True`` marks a loss whose prediction is in log1p space (see module doc).
    """
    if name in LOSSES:
        raise ValueError(f"loss {name!r} is already registered; pick another name")

    def add(loss: Loss) -> Loss:
        LOSSES[name] = loss
        if log1p_output:
            _LOG1P_OUTPUT.add(name)
        return loss

    return add


def loss_names() -> tuple[str, ...]:
    """The registered loss names, in registration order (the default, ``l1``, first)."""
    return tuple(LOSSES)


def build_loss(name: str = DEFAULT_LOSS) -> Loss:
    """The loss registered as ``name``: ``loss(pred, target) -> scalar``. Unknown → ConfigError."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ConfigError(
            f"unknown loss {name!r}; known losses: {', '.join(loss_names())}"
        ) from None


def predicts_log1p(name: str) -> bool:
    """Whether a network trained with loss ``name`` outputs log1p(value): apply expm1 after."""
    build_loss(name)
    return name in _LOG1P_OUTPUT


def to_log_space(linear: Tensor) -> Tensor:
    """log1p of a linear HDR value ≥ 0, any shape. Negative values are taken as 0: radiance is
    non-negative, and the small negatives a reconstruction filter's negative lobes leave would
    otherwise distort (or, below −1, NaN) the loss."""
    return torch.log1p(linear.clamp_min(0))


def from_log_space(log1p_value: Tensor) -> Tensor:
    """Inverse of :func:`to_log_space`: expm1, clamped at 0 (a network output can dip below)."""
    return torch.expm1(log1p_value).clamp_min(0)


# ---- linear space -------------------------------------------------------------------------


@register("l1")
def l1_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error. pred, target: (B, C, H, W)."""
    return metrics.l1(pred, target)


@register("mse")
def mse_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error. pred, target: (B, C, H, W)."""
    return metrics.mse(pred, target)


@register("ssim")
def ssim_loss(pred: Tensor, target: Tensor) -> Tensor:
    """1 − SSIM, data range 1. pred, target: (B, C, H, W) in [0, 1], H, W ≥ 11."""
    return 1.0 - metrics.ssim(pred, target, data_range=1.0)


@register("l1+ssim")
def l1_ssim_loss(pred: Tensor, target: Tensor) -> Tensor:
    """0.84·(1 − SSIM) + 0.16·L1 (Zhao et al. 2017). pred, target: (B, C, H, W) in [0, 1]."""
    return SSIM_WEIGHT * ssim_loss(pred, target) + (1.0 - SSIM_WEIGHT) * l1_loss(pred, target)


# ---- log space (prediction is log1p of the HDR value) -------------------------------------


@register("logl1", log1p_output=True)
def log_l1_loss(pred: Tensor, target: Tensor) -> Tensor:
    """2·mean |Y − log1p(y)| (Granskog et al. 2020). pred Y: (B, C, H, W) in log1p space;
    target y: (B, C, H, W) linear HDR, ≥ 0."""
    return 2.0 * metrics.l1(pred, to_log_space(target))


@register("logssim", log1p_output=True)
def log_ssim_loss(pred: Tensor, target: Tensor) -> Tensor:
    """1 − SSIM(log1p(y), Y), data range ``LOG_SSIM_DATA_RANGE`` (Granskog et al. 2020).
    pred Y: (B, C, H, W) in log1p space; target y: linear HDR ≥ 0; H, W ≥ 11."""
    return 1.0 - metrics.ssim(to_log_space(target), pred, data_range=LOG_SSIM_DATA_RANGE)


@register("logl1+logssim", log1p_output=True)
def log_l1_ssim_loss(pred: Tensor, target: Tensor) -> Tensor:
    """``logl1`` + ``logssim``, summed with equal weights as CNSR trains every generator but
    GQN (its ``"loss": ["logl1", "logssim"]``)."""
    return log_l1_loss(pred, target) + log_ssim_loss(pred, target)


# ---- OIDN's transfer space (prediction and target linear HDR) -----------------------------


def to_pu_space(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Both (B, 3, H, W) linear HDR × the target's exposure, through OIDN's normalised PU curve
    (clamped above at 65504 as OIDN's input is)."""
    from neuralshade.models.oidn import HDR_MAX, autoexposure, pu_forward

    exposure = autoexposure(target.detach()).reshape(-1, 1, 1, 1)
    return (pu_forward((t * exposure).clamp(max=HDR_MAX)) for t in (pred, target))


@register("pul1")
def pu_l1_loss(pred: Tensor, target: Tensor) -> Tensor:
    """mean |PU(p) − PU(t)| in OIDN's transfer space (module doc). pred, target: linear HDR
    (B, 3, H, W), target ≥ 0."""
    p, t = to_pu_space(pred, target)
    return metrics.l1(p, t)


@register("pul1+ssim")
def pu_l1_ssim_loss(pred: Tensor, target: Tensor) -> Tensor:
    """0.16·L1 + 0.84·(1 − SSIM) in OIDN's transfer space, data range 1 (module doc).
    pred, target: linear HDR (B, 3, H, W), H, W ≥ 11."""
    return l1_ssim_loss(*to_pu_space(pred, target))

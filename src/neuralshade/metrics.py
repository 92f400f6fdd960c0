"""Image quality metrics: L1, MSE, PSNR, SSIM, relMSE and SMAPE, as torch functions, modules
and a registry by name; masked RMSE and SSIM, and error rates of binary masks, as functions.

Images are float tensors ``(B, C, H, W)`` on any device; colour images are in [0, 1] unless a
``data_range`` says otherwise. Each metric is a function (``ssim(x, y)``) and a module
(``SSIM()``) that calls it, so it can sit in a loss or an evaluation loop alike.

Reductions: every function takes ``reduction="mean" | "none"``. ``"none"`` gives one value per
image, shape ``(B,)`` (the mean over channels and pixels of that image); ``"mean"`` gives the
mean of those per-image values, a scalar. For PSNR this is the mean of per-image PSNRs (the
figure papers report), not the PSNR of the batch's pooled MSE.

PSNR of two identical images is ``inf`` (MSE = 0); a batch mean containing one is ``inf`` too.

SSIM is Wang et al. (2004) with an 11×11 Gaussian window (σ = 1.5), C1 = (0.01·L)²,
C2 = (0.03·L)², population (co)variances, per channel, over the "valid" region only (windows
that lie wholly inside the image). These are the choices of scikit-image's
``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=L, channel_axis=...)``, and the two agree (tests/test_metrics.py).

relMSE and SMAPE are the Monte Carlo denoising literature's relative errors (REFERENCES.md,
"Monte Carlo denoising"). They are not symmetric: ``x`` is the estimate, ``y`` the reference.

Masked metrics (the DESOBA benchmark's, REFERENCES.md "Shadow generation for inserted
objects"): :func:`rmse` on the 0–255 scale over the whole image or inside a mask,
:func:`masked_ssim` (SSIM averaged inside a mask), the balanced error rate of binary masks
(:func:`balanced_error_rate`, :func:`local_ber`), and :func:`shadow_mask_from_images`, the
mask of where one image is darker than another. Masks are ``(B, 1, H, W)``, a pixel counting
where its value is > 0.5. A value that is undefined for an image (a mask with no pixel inside)
is NaN for that image, and ``reduction="mean"`` averages the others (nanmean; NaN if none).
:func:`paired_difference` says whether one method's per-image scores beat another's by more
than the images' spread allows (the mean difference and its bootstrap confidence interval).

The registry (``get_metric(name)``, ``metric_names()``, ``compute(names, pred, target)``) holds
each metric as a :class:`Metric`: its per-image function ``(pred, target) (B, C, H, W) → (B,)``
with the default settings, whether higher is better, a description, and its unit and format
in reports. Registered values are always finite for finite inputs, so they go into JSON as
they are: the registered ``psnr`` is capped at ``PSNR_CAP_DB`` (100 dB, identical images).

>>> x = torch.rand(2, 3, 32, 32)
>>> ssim(x, x).item()
1.0
>>> psnr(x, (x + 0.1).clamp(0, 1), reduction="none").shape
torch.Size([2])
>>> {name: v.shape for name, v in compute(["l1", "psnr"], x, x).items()}
{'l1': torch.Size([2]), 'psnr': torch.Size([2])}
>>> get_metric("psnr").show(40.123)
'40.12 dB'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuralshade.errors import ConfigError, InputError

REDUCTIONS: tuple[str, ...] = ("mean", "none")
# relMSE's and SMAPE's ε: keeps the ratio finite where the reference (and estimate) are dark.
RELATIVE_EPS = 0.01
PSNR_CAP_DB = 100.0


# ---- checks at the public boundary -------------------------------------------------------


def _check_pair(x: Tensor, y: Tensor) -> None:
    """Both (B, C, H, W) floating tensors of the same shape, else InputError naming the shapes."""
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, Tensor):
            raise InputError(f"{name} must be a torch.Tensor (B, C, H, W), got {type(t).__name__}")
        if t.dim() != 4:
            raise InputError(
                f"{name} must be a 4D image batch (B, C, H, W), got shape {tuple(t.shape)}"
            )
        if not t.is_floating_point():
            raise InputError(f"{name} must be a floating-point tensor, got dtype {t.dtype}")
    if x.shape != y.shape:
        raise InputError(
            f"x and y must have the same shape (B, C, H, W): x is {tuple(x.shape)}, "
            f"y is {tuple(y.shape)}"
        )
    if x.numel() == 0:
        raise InputError(f"the images are empty: shape {tuple(x.shape)}")


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{name} must be positive, got {value}")


def _check_mask(mask: Tensor, like: Tensor, name: str = "mask") -> Tensor:
    """``mask`` (B, 1, H, W) matching ``like``'s (B, ·, H, W), as a bool tensor of value > 0.5;
    else InputError giving the expected and the actual shape."""
    expected = (like.shape[0], 1, *like.shape[-2:])
    if not isinstance(mask, Tensor) or tuple(mask.shape) != expected:
        got = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        raise InputError(f"{name} must be (B, 1, H, W) = {expected}, got {got}")
    return mask > 0.5


def _reduce(per_image: Tensor, reduction: str, skip_nan: bool = False) -> Tensor:
    """(B,) → scalar mean for "mean" (of the non-NaN values with ``skip_nan``), unchanged for
    "none"."""
    if reduction == "mean":
        return per_image.nanmean() if skip_nan else per_image.mean()
    if reduction == "none":
        return per_image
    raise ConfigError(f"unknown reduction {reduction!r}; known: {', '.join(REDUCTIONS)}")


# ---- pixel-wise errors ---------------------------------------------------------------------


def l1(x: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
    """Mean absolute error. x, y: (B, C, H, W). Returns a scalar, or (B,) with "none"."""
    _check_pair(x, y)
    return _reduce((x - y).abs().mean(dim=(1, 2, 3)), reduction)


def mse(x: Tensor, y: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error. x, y: (B, C, H, W). Returns a scalar, or (B,) with "none"."""
    _check_pair(x, y)
    return _reduce((x - y).square().mean(dim=(1, 2, 3)), reduction)


def psnr(x: Tensor, y: Tensor, data_range: float = 1.0, reduction: str = "mean") -> Tensor:
    """Peak signal-to-noise ratio in dB, 10·log10(L² / MSE) per image, L = ``data_range``.

    x, y: (B, C, H, W). Returns the mean of the per-image values (scalar), or (B,) with
    ``reduction="none"``. Identical images give ``inf``.

    >>> psnr(torch.zeros(1, 1, 4, 4), torch.full((1, 1, 4, 4), 0.1)).item()  # doctest: +ELLIPSIS
    20.0...
    """
    _check_positive("data_range", data_range)
    per_image = 10.0 * torch.log10(data_range**2 / mse(x, y, reduction="none"))
    return _reduce(per_image, reduction)


def relmse(x: Tensor, y: Tensor, eps: float = RELATIVE_EPS, reduction: str = "mean") -> Tensor:
    """Relative mean squared error, mean of (x − y)² / (y² + ε) over channels and pixels.

    x: (B, C, H, W) the estimate; y: the reference, same shape. ε = 0.01 is the value of the
    relMSE reported by KPCN (Bako, Vogels et al., "Kernel-Predicting Convolutional Networks for
    Denoising Monte Carlo Renderings", SIGGRAPH 2017) and the denoisers compared with it;
    REFERENCES.md gives the formula. Those papers take it on linear HDR radiance; on
    display-referred images it weighs errors in dark pixels up to 1/ε = 100× more than in white
    ones. Returns a scalar, or (B,) with "none".

    >>> half, one = torch.full((1, 1, 2, 2), 0.5), torch.ones(1, 1, 2, 2)
    >>> relmse(half, one).item()  # 0.25 / 1.01  # doctest: +ELLIPSIS
    0.2475...
    """
    _check_pair(x, y)
    _check_positive("eps", eps)
    return _reduce(((x - y).square() / (y.square() + eps)).mean(dim=(1, 2, 3)), reduction)


def smape(x: Tensor, y: Tensor, eps: float = RELATIVE_EPS, reduction: str = "mean") -> Tensor:
    """Symmetric mean absolute percentage error, mean of |x − y| / (|x| + |y| + ε), in [0, 1).

    x, y: (B, C, H, W), estimate and reference. The form and ε = 0.01 of Vogels et al.,
    "Denoising with Kernel Prediction and Asymmetric Loss Functions" (SIGGRAPH 2018). Returns a
    scalar, or (B,) with "none".
    """
    _check_pair(x, y)
    _check_positive("eps", eps)
    return _reduce(((x - y).abs() / (x.abs() + y.abs() + eps)).mean(dim=(1, 2, 3)), reduction)


def rmse(
    x: Tensor,
    y: Tensor,
    mask: Tensor | None = None,
    scale: float = 255.0,
    reduction: str = "mean",
) -> Tensor:
    """Root mean squared error on the 0–``scale`` scale: scale · √mean((x − y)²) per image.

    x, y: (B, C, H, W) in [0, 1]; the mean is over every channel and pixel, or with ``mask``
    (B, 1, H, W) over every channel of the pixels where mask > 0.5 (DESOBA's local RMSE,
    "LRMSE"; without it, "GRMSE"). An image whose mask has no such pixel gets NaN, and the
    "mean" reduction is then the mean of the other images (nanmean). Returns a scalar, or
    (B,) with "none".

    >>> rmse(torch.zeros(1, 3, 2, 2), torch.full((1, 3, 2, 2), 0.1)).item()  # doctest: +ELLIPSIS
    25.5...
    """
    _check_pair(x, y)
    _check_positive("scale", scale)
    squared = (x - y).square()
    if mask is None:
        mean = squared.mean(dim=(1, 2, 3))
    else:
        inside = _check_mask(mask, x).to(squared.dtype)
        # 0 / 0 = NaN where the mask is empty
        mean = (squared * inside).sum(dim=(1, 2, 3)) / (inside.sum(dim=(1, 2, 3)) * x.shape[1])
    return _reduce(scale * mean.sqrt(), reduction, skip_nan=mask is not None)


# ---- binary masks --------------------------------------------------------------------------


def _binary_pair(pred: Tensor, true: Tensor) -> tuple[Tensor, Tensor]:
    """pred and true (B, 1, H, W) of one shape, as bool tensors of value > 0.5."""
    if not isinstance(true, Tensor) or true.dim() != 4 or true.shape[1] != 1:
        got = tuple(true.shape) if isinstance(true, Tensor) else type(true).__name__
        raise InputError(f"true must be a mask batch (B, 1, H, W), got {got}")
    return _check_mask(pred, true, "pred"), true > 0.5


def _rate(hits: Tensor, of: Tensor) -> Tensor:
    """Per image, the fraction of the pixels ``of`` that are ``hits`` (NaN where ``of`` has
    none): (B, 1, H, W) bool each → (B,) float32."""
    return (hits & of).sum(dim=(1, 2, 3)).float() / of.sum(dim=(1, 2, 3)).float()


def balanced_error_rate(pred: Tensor, true: Tensor, reduction: str = "mean") -> Tensor:
    """Balanced error rate of a predicted binary mask, 1 − (TPR + TNR) / 2, in [0, 1].

    pred, true: (B, 1, H, W) masks, a pixel positive where its value > 0.5. TPR = TP / (TP +
    FN), the fraction of the true mask's pixels predicted; TNR = TN / (TN + FP), of the pixels
    outside it left out. 0 for a perfect mask, 0.5 for an empty or a full prediction.
    DESOBA's "GBER" of shadow masks. An image whose true mask is empty (no TPR) or full (no
    TNR) gets NaN, and "mean" averages the others. Returns a scalar, or (B,) with "none".
    """
    p, t = _binary_pair(pred, true)
    per_image = 1 - (_rate(p, t) + _rate(~p, ~t)) / 2
    return _reduce(per_image, reduction, skip_nan=True)


def local_ber(pred: Tensor, true: Tensor, reduction: str = "mean") -> Tensor:
    """1 − TPR: the fraction of the true mask's pixels the prediction misses, in [0, 1].

    pred, true: (B, 1, H, W) masks (> 0.5). DESOBA's "LBER", the error rate inside the true
    shadow. NaN for an image whose true mask is empty; "mean" averages the others. Returns a
    scalar, or (B,) with "none".
    """
    p, t = _binary_pair(pred, true)
    return _reduce(1 - _rate(p, t), reduction, skip_nan=True)


# Rec. 709 luma weights of linear R, G, B (also sRGB's primaries)
REC709_LUMA = (0.2126, 0.7152, 0.0722)
# 10 of 255 levels: see shadow_mask_from_images
SHADOW_THRESHOLD = 10 / 255


def shadow_mask_from_images(
    before: Tensor, after: Tensor, threshold: float = SHADOW_THRESHOLD
) -> Tensor:
    """Where ``after`` is darker than ``before``: the mask of a shadow cast between the two.

    before, after: (B, 3, H, W) RGB in [0, 1] (an image without and with the shadow). A pixel
    is in the mask where the Rec. 709 luma (0.2126 R + 0.7152 G + 0.0722 B) of ``after`` is
    below that of ``before`` by more than ``threshold``. The default, 10/255, sits above what
    8-bit quantisation (half a level), compression and render noise (a few levels) change in
    an unshadowed pixel, and well below what a visible shadow removes (a shadow taking 30 % of
    the light off a mid-grey surface darkens it by about 38 levels). What it misses: the
    faint outer edge of a soft penumbra, and shadows on surfaces so dark that 10 levels is
    most of their brightness (the difference is absolute, not relative).

    Returns (B, 1, H, W), 1.0 in the mask and 0.0 elsewhere, in ``before``'s dtype.
    """
    _check_pair(before, after)
    if before.shape[1] != 3:
        raise InputError(f"the images must be RGB (B, 3, H, W), got shape {tuple(before.shape)}")
    if not threshold >= 0:
        raise ConfigError(f"threshold must be >= 0, got {threshold}")
    weights = torch.tensor(REC709_LUMA, dtype=before.dtype, device=before.device).view(1, 3, 1, 1)
    darkening = ((before - after) * weights).sum(dim=1, keepdim=True)  # (B, 1, H, W)
    return (darkening > threshold).to(before.dtype)


# ---- SSIM ----------------------------------------------------------------------------------


def gaussian_window(
    window_size: int,
    sigma: float,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """1D Gaussian, exp(−k²/2σ²) at integer offsets k = −r..r (r = window_size // 2), sum 1.

    Shape (window_size,). The same taps as scipy.ndimage.gaussian_filter with radius r.
    """
    offsets = torch.arange(window_size, dtype=dtype, device=device) - (window_size - 1) / 2
    taps = torch.exp(-(offsets**2) / (2.0 * sigma**2))
    return taps / taps.sum()


def _filter_valid(images: Tensor, window: Tensor) -> Tensor:
    """Separable Gaussian blur of every channel, valid region: (B, C, H, W) → (B, C, H', W')."""
    channels, size = images.shape[1], window.numel()
    vertical = window.view(1, 1, size, 1).repeat(channels, 1, 1, 1)  # (C, 1, size, 1)
    horizontal = window.view(1, 1, 1, size).repeat(channels, 1, 1, 1)  # (C, 1, 1, size)
    blurred = F.conv2d(images, vertical, groups=channels)
    return F.conv2d(blurred, horizontal, groups=channels)


def ssim_map(
    x: Tensor,
    y: Tensor,
    data_range: float = 1.0,
    window_size: int = 11,
    sigma: float = 1.5,
) -> Tensor:
    """Local SSIM of every window that lies inside the image, per channel.

    x, y: (B, C, H, W) with H, W ≥ ``window_size``; values span ``data_range`` (L).
    Returns (B, C, H − window_size + 1, W − window_size + 1). Computed in float32 at least
    (float64 stays float64): the variances are differences of nearly equal means.
    """
    _check_pair(x, y)
    if not (isinstance(window_size, int) and window_size > 0 and window_size % 2 == 1):
        raise ConfigError(f"window_size must be a positive odd integer, got {window_size!r}")
    _check_positive("sigma", sigma)
    _check_positive("data_range", data_range)
    height, width = x.shape[-2:]
    if height < window_size or width < window_size:
        raise InputError(
            f"SSIM needs images of at least {window_size}×{window_size} pixels "
            f"(B, C, H ≥ {window_size}, W ≥ {window_size}), got shape {tuple(x.shape)}"
        )

    dtype = torch.promote_types(torch.promote_types(x.dtype, y.dtype), torch.float32)
    x, y = x.to(dtype), y.to(dtype)
    channels = x.shape[1]
    window = gaussian_window(window_size, sigma, dtype=dtype, device=x.device)
    # One grouped conv filters all five moments of every channel at once.
    moments = torch.cat([x, y, x * x, y * y, x * y], dim=1)  # (B, 5C, H, W)
    mu_x, mu_y, mu_xx, mu_yy, mu_xy = _filter_valid(moments, window).split(channels, dim=1)

    var_x = mu_xx - mu_x * mu_x
    var_y = mu_yy - mu_y * mu_y
    cov_xy = mu_xy - mu_x * mu_y
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    luminance = (2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    structure = (2 * cov_xy + c2) / (var_x + var_y + c2)
    return luminance * structure


def ssim(
    x: Tensor,
    y: Tensor,
    data_range: float = 1.0,
    window_size: int = 11,
    sigma: float = 1.5,
    reduction: str = "mean",
) -> Tensor:
    """Structural similarity (Wang et al. 2004), in (−1, 1], 1 for identical images.

    x, y: (B, C, H, W), H, W ≥ ``window_size``; ``data_range`` is L (1.0 for [0, 1] images).
    The mean of :func:`ssim_map` over channels and pixels: a scalar batch mean, or (B,) with
    ``reduction="none"``. Differentiable in both arguments; symmetric.

    >>> x = torch.rand(1, 3, 16, 16)
    >>> ssim(x, x).item()
    1.0
    """
    per_image = ssim_map(x, y, data_range, window_size, sigma).mean(dim=(1, 2, 3))
    return _reduce(per_image, reduction)


def masked_ssim(
    x: Tensor,
    y: Tensor,
    mask: Tensor,
    data_range: float = 1.0,
    window_size: int = 11,
    sigma: float = 1.5,
    reduction: str = "mean",
) -> Tensor:
    """SSIM averaged over the pixels of a mask: DESOBA's local SSIM ("LSSIM").

    x, y: (B, C, H, W) as for :func:`ssim`; mask: (B, 1, H, W), a pixel inside where > 0.5.
    The mean over channels of :func:`ssim_map`'s values at the windows centred on mask
    pixels. :func:`ssim_map` covers the windows inside the image only, so mask pixels within
    ``window_size // 2`` (5) of the border do not count; an image with no other mask pixel
    gets NaN, and "mean" averages the others. Whole-image SSIM is :func:`ssim`. Returns a
    scalar, or (B,) with "none".
    """
    local = ssim_map(x, y, data_range, window_size, sigma)  # (B, C, H − 2r, W − 2r)
    r = window_size // 2
    height, width = x.shape[-2:]
    inside = _check_mask(mask, x)[..., r : height - r, r : width - r].to(local.dtype)
    per_image = (local * inside).sum(dim=(1, 2, 3)) / (inside.sum(dim=(1, 2, 3)) * x.shape[1])
    return _reduce(per_image, reduction, skip_nan=True)


# ---- modules -------------------------------------------------------------------------------


class L1(nn.Module):
    """Module form of :func:`l1`."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return l1(x, y, reduction=self.reduction)


class MSE(nn.Module):
    """Module form of :func:`mse`."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return mse(x, y, reduction=self.reduction)


class PSNR(nn.Module):
    """Module form of :func:`psnr`."""

    def __init__(self, data_range: float = 1.0, reduction: str = "mean") -> None:
        super().__init__()
        self.data_range = data_range
        self.reduction = reduction

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return psnr(x, y, data_range=self.data_range, reduction=self.reduction)


class SSIM(nn.Module):
    """Module form of :func:`ssim`.

    >>> SSIM(reduction="none")(torch.rand(2, 1, 12, 12), torch.rand(2, 1, 12, 12)).shape
    torch.Size([2])
    """

    def __init__(
        self,
        data_range: float = 1.0,
        window_size: int = 11,
        sigma: float = 1.5,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.data_range = data_range
        self.window_size = window_size
        self.sigma = sigma
        self.reduction = reduction

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return ssim(x, y, self.data_range, self.window_size, self.sigma, self.reduction)


def paired_difference(
    a: Sequence[float], b: Sequence[float], confidence: float = 0.95,
    resamples: int = 10000, seed: int = 0,
) -> dict[str, float]:
    """The mean of ``a − b`` over paired values (two methods' scores of the same images) and
    its bootstrap confidence interval (scipy's BCa, ``resamples`` draws, seeded): is one
    method better than another on these images, or is the gap within what the images' spread
    allows? Pairs with a NaN on either side are left out. Returns ``{"mean", "low", "high",
    "n"}``; identical differences give an interval of width 0.

    >>> d = paired_difference([3.0, 5.0, 4.0, 6.0], [1.0, 3.0, 2.0, 4.0])
    >>> d["mean"], d["low"], d["high"], d["n"]
    (2.0, 2.0, 2.0, 4)
    """
    import numpy as np
    from scipy.stats import bootstrap

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired_difference needs two 1-D sequences of one length, got "
                         f"{x.shape} and {y.shape}")  # fmt: skip
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    d = (x - y)[~(np.isnan(x) | np.isnan(y))]
    if d.size == 0:
        return {"mean": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0}
    mean = float(d.mean())
    if d.size == 1 or np.all(d == d[0]):  # no spread: the interval is the value
        return {"mean": mean, "low": mean, "high": mean, "n": int(d.size)}
    ci = bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=resamples,
                   method="BCa", rng=np.random.default_rng(seed)).confidence_interval  # fmt: skip
    return {"mean": mean, "low": float(ci.low), "high": float(ci.high), "n": int(d.size)}


# ---- registry: metrics by name, for evaluations and reports -----------------------------

PerImage = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Metric:
    """A registered metric.

    per_image: (pred, target), each (B, C, H, W) → (B,), finite for finite inputs.
    higher_is_better: True for similarities (PSNR, SSIM), False for errors.
    description: one line for tables and ``--help``.
    unit: shown after the value in reports ("dB"), "" for none.
    fmt: the value's format spec in reports (".4f").
    """

    name: str
    per_image: PerImage
    higher_is_better: bool
    description: str
    unit: str = ""
    fmt: str = ".4f"

    def show(self, value: float) -> str:
        """The value as a report writes it: ``40.12 dB``, ``0.0039``."""
        text = format(value, self.fmt)
        return f"{text} {self.unit}" if self.unit else text


_METRICS: dict[str, Metric] = {}


def register_metric(
    name: str,
    *,
    higher_is_better: bool,
    description: str,
    unit: str = "",
    fmt: str = ".4f",
) -> Callable[[PerImage], PerImage]:
    """Decorator registering a per-image function ``(pred, target) → (B,)`` as metric ``name``.

    Registering a name twice is a programming error (ValueError).
    """
    if name in _METRICS:
        raise ValueError(f"metric {name!r} is already registered; pick another name")

    def add(per_image: PerImage) -> PerImage:
        _METRICS[name] = Metric(name, per_image, higher_is_better, description, unit, fmt)
        return per_image

    return add


def metric_names() -> tuple[str, ...]:
    """The registered metric names, in registration order."""
    return tuple(_METRICS)


def get_metric(name: str) -> Metric:
    """The metric registered as ``name``; an unknown name raises ConfigError listing the known."""
    try:
        return _METRICS[name]
    except KeyError:
        raise ConfigError(
            f"unknown metric {name!r}; known metrics: {', '.join(metric_names())}"
        ) from None


def compute(names: Sequence[str], pred: Tensor, target: Tensor) -> dict[str, Tensor]:
    """Each named metric of every image: {name: (B,)}. pred, target: (B, C, H, W).

    Every name is checked before anything is computed (ConfigError for an unknown one).
    """
    if isinstance(names, str):
        raise ConfigError(f"compute takes a list of metric names, got the string {names!r}")
    metrics = [get_metric(name) for name in names]
    _check_pair(pred, target)
    return {m.name: m.per_image(pred, target) for m in metrics}


@register_metric("l1", higher_is_better=False, description="mean absolute error")
def _l1_per_image(pred: Tensor, target: Tensor) -> Tensor:
    return l1(pred, target, reduction="none")


@register_metric("mse", higher_is_better=False, description="mean squared error", fmt=".3g")
def _mse_per_image(pred: Tensor, target: Tensor) -> Tensor:
    return mse(pred, target, reduction="none")


@register_metric(
    "psnr",
    higher_is_better=True,
    description=f"peak signal-to-noise ratio, data range 1, capped at {PSNR_CAP_DB:g} dB",
    unit="dB",
    fmt=".2f",
)
def _psnr_per_image(pred: Tensor, target: Tensor) -> Tensor:
    # identical images give inf, which JSON cannot hold
    return psnr(pred, target, reduction="none").clamp(max=PSNR_CAP_DB)


@register_metric(
    "ssim",
    higher_is_better=True,
    description="structural similarity, 11×11 Gaussian window (σ 1.5), data range 1",
)
def _ssim_per_image(pred: Tensor, target: Tensor) -> Tensor:
    return ssim(pred, target, reduction="none")


@register_metric(
    "dssim",
    higher_is_better=False,
    description="structural dissimilarity (1 − SSIM) / 2, as Deep Shading reports it",
    fmt=".4f",
)
def _dssim_per_image(pred: Tensor, target: Tensor) -> Tensor:
    return (1 - ssim(pred, target, reduction="none")) / 2


@register_metric(
    "relmse",
    higher_is_better=False,
    description=f"relative MSE (p − t)² / (t² + {RELATIVE_EPS:g}), as KPCN reports it",
    fmt=".3g",
)
def _relmse_per_image(pred: Tensor, target: Tensor) -> Tensor:
    return relmse(pred, target, reduction="none")


@register_metric(
    "smape",
    higher_is_better=False,
    description=f"symmetric absolute percentage error |p − t| / (|p| + |t| + {RELATIVE_EPS:g})",
)
def _smape_per_image(pred: Tensor, target: Tensor) -> Tensor:
    return smape(pred, target, reduction="none")


@register_metric(
    "log_l1",
    higher_is_better=False,
    description="mean |log1p p − log1p t| of linear radiance, CNSR's HDR error",
    fmt=".4f",
)
def _log_l1_per_image(pred: Tensor, target: Tensor) -> Tensor:
    return l1(torch.log1p(pred.clamp(min=0)), torch.log1p(target.clamp(min=0)), reduction="none")

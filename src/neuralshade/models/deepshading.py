"""Deep Shading's network (Nalbach et al., EGSR 2017): deferred-shading buffers to an effect.

The network as its authors' Caffe definition gives it (the one circulating from the paper's
release, ``REFERENCES.md``: its indirect-light net, 7 → 1 channels, as re-implementations copy
it), for ``widths`` = 16, 32, 64, 128, 256 and ``groups`` = 1, 2, 4, 8, 16, levels finest first:

    level 1  H × W     in → 16 ────────────── concat → 32 + 16 → out
                         ↓ 2×2 average pool      ↑ bilinear ×2
    level 2  H/2       16 → 32 /2 ──────────── concat → 64 + 32 → 32 /2
                         ↓                       ↑
    level 3  H/4       32 → 64 /4 ──────────── concat → 128 + 64 → 64 /4
                         ↓                       ↑
    level 4  H/8       64 → 128 /8 ─────────── concat → 256 + 128 → 128 /8
                         ↓                       ↑
    level 5  H/16      128 → 256 /16 ────────────┘

(each ``a → b /g`` a 3×3 conv from a to b channels in g groups.)
Every conv is zero-padded, has a bias and is followed by LeakyReLU (slope 0.01), except the
last one, whose output is the network's (``final``). One conv per level and side, as the
definition has (the original U-Net has two). A decoder level concatenates the upsampled level
below *first* and its encoder's output second, as the definition does: with contiguous
groups, most of a grouped decoder conv's groups therefore read only the upsampled features
or only the skip (at level 4, 5 of 8 groups the former, 2 the latter, one both). At 6 → 1
channels it has 133,345 parameters (``tests/models/test_deepshading.py`` derives the count
layer by layer) and costs 2.21 GMAC at 512² (torch's FLOP counter); one output pixel sees
142 input pixels across (``receptive_field``), ±71 px. The paper's other effects may have
used other widths: ``widths`` and ``groups`` take them.

What we chose, where the definition says nothing or we run other inputs:

- **Upsampling.** The definition upsamples with a fixed (learning rate 0) deconvolution:
  kernel 4, stride 2, pad 1, one group per channel, Caffe's bilinear filler. That is bilinear
  ×2 (corners not aligned) inside the image, and reads zeros beyond its border, where
  interpolation would repeat the edge pixel; :func:`upsample_zero_border` computes exactly
  that, so the authors' trained weights would give their outputs here.
- **Any size.** The definition takes sides that are multiples of 16 (the paper's 768 × 512
  are). Here the input is zero-padded on the right and bottom to a multiple of
  ``total_stride`` and the output cropped back, as :class:`~neuralshade.models.unet.ShadeUNet`
  does.
- **Output.** The definition ends in LeakyReLU 0.01 (``final="leaky_relu"``); the default
  here is the raw conv output (``"none"``), and ``"sigmoid"`` and ``"relu"`` bound it, as the
  task's target asks (AO in [0, 1], indirect light >= 0).
- **Initialisation.** torch's default (Kaiming-uniform). The definition draws Gaussian weights
  with σ = 0.011 (down) and 0.01 (up): without normalisation that shrinks the signal about
  tenfold per conv on the way down (level 5 starts at ~1e-6 of an input in [0, 1]), so the
  coarse levels start out mute.
- **Loss** (SSIM, 8-px window, in the definition) is the task's, not the network's.
"""

import torch
import torch.nn.functional as F
from torch import nn

from neuralshade.errors import InputError
from neuralshade.models import register
from neuralshade.models.unet import (
    check_int,
    conv_inputs,
    log_inputs_of,
    pool_inputs,
    upsample_inputs,
)

SLOPE = 0.01  # LeakyReLU's negative slope, the definition's
_FINALS = {
    "none": nn.Identity,
    "sigmoid": nn.Sigmoid,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(SLOPE),
}


def upsample_zero_border(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear ×2 that reads zeros beyond the border: (B, C, h, w) -> (B, C, 2h, 2w).

    The published net's fixed deconvolution (kernel 4, stride 2, pad 1, taps ¼ ¾ ¾ ¼ per axis):
    interpolating the input with one ring of zeros around it and dropping the two outer rings
    of the result gives it exactly. ``size`` = (2h, 2w) comes from the caller (the skip's
    shape) so that an exported graph ties the two: torch.export cannot prove that the
    doubled size of a pooled map equals the map it was pooled from.
    """
    h, w = size
    y = F.interpolate(F.pad(x, (1, 1, 1, 1)), size=(h + 4, w + 4), mode="bilinear")
    return y[..., 2 : h + 2, 2 : w + 2]


@register("deepshading")
class DeepShading(nn.Module):
    """Deep Shading's U-Net: buffers (any channels) to an effect (any channels), any size.

    Level k (of ``len(widths)``, finest first) works at 1/2^(k−1) of the input resolution;
    each level has one 3×3 conv with ``groups[k]`` groups on the way down (after a 2×2 average
    pooling, below the first) and one on the way up (after the fixed bilinear upsampling of
    the level below, concatenated with the encoder's output). The last conv, on level 1,
    outputs ``out_channels``. See the module's docstring for what is the paper's and what is
    ours.

    Args:
        in_channels: channels of the input buffers.
        out_channels: channels of the output.
        widths: channels of each level, finest first (at least two levels).
        groups: groups of both 3×3 convs of each level, finest first (same length as
            widths); each must divide the channels its convs read and write.
        final: activation of the output: ``"none"``, ``"sigmoid"``, ``"relu"`` or
            ``"leaky_relu"`` (slope 0.01, the definition's).
        log_inputs: input channels read as log1p(max(x, 0)) (HDR light among the inputs;
            :class:`~neuralshade.models.unet.LogInputs`). Not in the definition; default none.

    Attributes:
        border_is_ground: True, as for ShadeUNet: every conv and upsampling reads zeros
            beyond the border and the net learns the image's edges from whole images, so
            inference runs it on the bare image (``neuralshade.infer``).
        total_stride: the input is zero-padded to a multiple of this (2^(len(widths) − 1)).
        receptive_field: width in input pixels of the window one output pixel depends on
            (142 at the defaults, whatever the widths: it depends on the levels).
        strides: ``(total_stride,)``, for tiling on the network's grid.

    Shapes:
        x: (B, in_channels, H, W), any H, W >= 1 -> (B, out_channels, H, W), unbounded
        unless ``final`` bounds it.

    Example:
        >>> model = DeepShading(in_channels=6, out_channels=1).eval()
        >>> model(torch.rand(1, 6, 97, 130)).shape
        torch.Size([1, 1, 97, 130])
    """

    border_is_ground = True

    def __init__(
        self,
        in_channels: int = 6,
        out_channels: int = 1,
        widths: tuple[int, ...] = (16, 32, 64, 128, 256),
        groups: tuple[int, ...] = (1, 2, 4, 8, 16),
        final: str = "none",
        log_inputs: tuple[int, ...] | None = None,
    ):
        super().__init__()
        check_int("in_channels", in_channels, 1)
        check_int("out_channels", out_channels, 1)
        if not isinstance(widths, (list, tuple)) or len(widths) < 2:
            raise ValueError(f"widths must list the channels of two levels or more, got {widths!r}")
        for w in widths:
            check_int("each of widths", w, 1)
        if not isinstance(groups, (list, tuple)) or len(groups) != len(widths):
            raise ValueError(
                f"groups must give one count per level ({len(widths)} levels), got {groups!r}"
            )
        for g in groups:
            check_int("each of groups", g, 1)
        if final not in _FINALS:
            raise ValueError(f"final must be one of {', '.join(map(repr, _FINALS))}, got {final!r}")

        self.in_channels = in_channels
        self.out_channels = out_channels
        self.total_stride = 2 ** (len(widths) - 1)
        self.strides = (self.total_stride,)
        self.log_inputs = log_inputs_of(in_channels, log_inputs)

        n = len(widths)
        reads = [in_channels, *widths[:-1]]
        self.down = nn.ModuleList(
            _conv(k, reads[k], widths[k], groups[k], nn.LeakyReLU(SLOPE)) for k in range(n)
        )
        self.up = nn.ModuleList(
            _conv(
                k,
                widths[k + 1] + widths[k],
                widths[k] if k > 0 else out_channels,
                groups[k],
                nn.LeakyReLU(SLOPE) if k > 0 else _FINALS[final](),
            )
            for k in reversed(range(n - 1))
        )
        self.receptive_field = _receptive_field(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in_channels, H, W) -> (B, out_channels, H, W)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise InputError(
                f"DeepShading expects input (B, {self.in_channels}, H, W), got shape "
                f"{tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        s = self.total_stride
        y = F.pad(x, (0, -w % s, 0, -h % s))  # zeros, as every conv reads beyond the border
        y = y if self.log_inputs is None else self.log_inputs(y)
        skips = []
        for k, level in enumerate(self.down):
            y = level(F.avg_pool2d(y, 2) if k > 0 else y)
            skips.append(y)
        for level, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            y = level(torch.cat([upsample_zero_border(y, skip.shape[-2:]), skip], dim=1))
        return y[..., :h, :w]


def _conv(level: int, c_in: int, c_out: int, groups: int, activation: nn.Module) -> nn.Sequential:
    """3×3 conv (zero-padded, grouped, with bias) → activation, of level ``level`` (0-based)."""
    if c_in % groups or c_out % groups:
        raise ValueError(
            f"groups[{level}] = {groups} must divide the channels of level {level + 1}'s convs; "
            f"one reads {c_in} and writes {c_out}"
        )
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, groups=groups), activation)


def _receptive_field(model: DeepShading) -> int:
    """Widest window of input pixels (per axis) that one interior output pixel depends on.

    Follows an output pixel's interval of dependencies back through every path, as
    :func:`neuralshade.models.unet._receptive_field` does: the zero-border upsampling reads the
    same pixels as plain bilinear ×2 away from the border, and 2×2 average pooling those of
    any 2×2 block reduction. The widest over one period of the stride grid counts.
    """
    n = len(model.down)

    def encoder(k: int, lo: int, hi: int) -> tuple[int, int]:
        lo, hi = conv_inputs(model.down[k], lo, hi)
        return encoder(k - 1, *pool_inputs(lo, hi)) if k > 0 else (lo, hi)

    def decoder(k: int, lo: int, hi: int) -> tuple[int, int]:
        if k == n - 1:
            return encoder(k, lo, hi)
        lo, hi = conv_inputs(model.up[n - 2 - k], lo, hi)
        skip = encoder(k, lo, hi)
        deep = decoder(k + 1, *upsample_inputs(lo, hi))
        return min(skip[0], deep[0]), max(skip[1], deep[1])

    windows = [decoder(0, o, o) for o in range(model.total_stride)]
    return max(hi - lo + 1 for lo, hi in windows)

"""ResConv: the convolutional encoder-decoder with additive skips of the nn-experiments AO post.

Reproduced from defgsus/nn-experiments (``ResConv`` / ``ConvLayer``): unpadded convolutions
shrink the image through the encoder, transposed convolutions grow it back through the
mirrored decoder, and each decoder layer after the first adds the encoder output of the
same size to its input. At the defaults (3 → 3 channels, 32 channels, kernel 7, stride 2 at
the 3rd layer) it has 411,561 parameters (``tests/models/test_resconv.py`` counts them), and a
128×128 image goes

    encoder 128 → 122 → 116 → 55 → 49 → 43
    decoder  43 →  49 →  55 → 115 (zero-padded to 116) → 122 → 128

State-dict keys follow the source (``encoder.layer_1.bn.weight``, ``decoder.layer_5.conv.bias``,
…), so its weights map one to one.
"""

import torch
import torch.nn.functional as F
from torch import nn

from neuralshade.errors import InputError
from neuralshade.models import register

_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}


class ConvLayer(nn.Module):
    """BatchNorm over the input (optional) → unpadded conv → activation (optional).

    A transposed layer given ``output_size`` zero-pads its output on the right and bottom
    up to that size, as the source does (the conv itself is never asked for the size, so a
    stride-2 layer yields its natural ``(n - 1) * stride + kernel`` and the rest is zeros).

    x: (B, in_channels, H, W) -> (B, out_channels, H', W')
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        batch_norm: bool,
        activation: str | None,
        transposed: bool,
    ):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels) if batch_norm else None
        conv = nn.ConvTranspose2d if transposed else nn.Conv2d
        self.conv = conv(in_channels, out_channels, kernel_size, stride)
        self.act = _ACTIVATIONS[activation]() if activation else None

    def forward(self, x: torch.Tensor, output_size: torch.Size | None = None) -> torch.Tensor:
        if self.bn is not None:
            x = self.bn(x)
        x = self.conv(x)
        if output_size is not None:
            x = F.pad(x, (0, output_size[-1] - x.shape[-1], 0, output_size[-2] - x.shape[-2]))
        if self.act is not None:
            x = self.act(x)
        return x


@register("resconv")
class ResConv(nn.Module):
    """Image-to-image encoder-decoder: ``layers`` convs down, as many transposed convs up.

    Every layer is BatchNorm on its input → conv → activation, except the last encoder
    layer and the last decoder layer, which are bare convs (linear outputs). Decoder layer
    k ≥ 2 adds encoder output ``layers + 1 - k`` to its input; decoder layer 1 takes the
    bottleneck alone. Decoder layer k restores the size of encoder output ``layers - k``
    (encoder output 0 is the input), so the output is as large as the input.

    Args:
        in_channels: channels of the input image.
        out_channels: channels of the output image.
        channels: channels of every hidden feature map.
        kernel_size: kernel of every conv and transposed conv (no padding).
        layers: number of encoder layers (the decoder has as many).
        strides: one stride per encoder layer, none above ``kernel_size`` (it would skip
            pixels); the decoder mirrors them.
        activation: ``"gelu"`` or ``"relu"``.
        batch_norm: BatchNorm on the input of every layer but the two last ones.

    Attributes:
        min_size: smallest input height and width, in pixels (43 at the defaults).
        receptive_field: width in input pixels of the window one output pixel can see
            (85 at the defaults); see :func:`receptive_field`.

    Shapes:
        x: (B, in_channels, H, W) with H, W >= min_size -> (B, out_channels, H, W),
        unbounded (no output activation).

    Example:
        >>> model = ResConv().eval()
        >>> model(torch.rand(1, 3, 97, 130)).shape
        torch.Size([1, 3, 97, 130])
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        channels: int = 32,
        kernel_size: int = 7,
        layers: int = 5,
        strides: tuple[int, ...] = (1, 1, 2, 1, 1),
        activation: str = "gelu",
        batch_norm: bool = True,
    ):
        super().__init__()
        for name, value in [
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("channels", channels),
            ("kernel_size", kernel_size),
            ("layers", layers),
        ]:
            _check_positive_int(name, value)
        if not isinstance(strides, (list, tuple)) or len(strides) != layers:
            raise ValueError(
                f"strides must list one stride per encoder layer ({layers} for layers={layers}), "
                f"got {strides!r}"
            )
        for stride in strides:
            _check_positive_int("each of strides", stride)
            if stride > kernel_size:
                raise ValueError(
                    f"strides must not exceed kernel_size ({kernel_size}), got {strides!r}: "
                    "a larger stride skips input pixels"
                )
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(map(repr, _ACTIVATIONS))}, "
                f"got {activation!r}"
            )
        if not isinstance(batch_norm, bool):
            raise ValueError(f"batch_norm must be true or false, got {batch_norm!r}")

        self.in_channels = in_channels
        self.out_channels = out_channels
        self.strides = tuple(strides)
        kernels = [kernel_size] * layers
        self.min_size = min_input_size(kernels, self.strides)
        self.receptive_field = receptive_field(kernels, self.strides)

        def layer(i: int, c_in: int, c_out: int, stride: int, transposed: bool) -> ConvLayer:
            hidden = i < layers - 1
            return ConvLayer(
                c_in,
                c_out,
                kernel_size,
                stride,
                batch_norm=batch_norm and hidden,
                activation=activation if hidden else None,
                transposed=transposed,
            )

        enc_channels = [in_channels] + [channels] * layers
        dec_channels = [channels] * layers + [out_channels]
        self.encoder = nn.ModuleDict(
            {
                f"layer_{i + 1}": layer(i, enc_channels[i], enc_channels[i + 1], s, False)
                for i, s in enumerate(self.strides)
            }
        )
        self.decoder = nn.ModuleDict(
            {
                f"layer_{i + 1}": layer(i, dec_channels[i], dec_channels[i + 1], s, True)
                for i, s in enumerate(reversed(self.strides))
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in_channels, H, W), H, W >= min_size -> (B, out_channels, H, W)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels or min(x.shape[-2:]) < self.min_size:
            raise InputError(
                f"ResConv expects input (B, {self.in_channels}, H, W) with H and W at least "
                f"{self.min_size}, got shape {tuple(x.shape)}; pad or crop the image to fit"
            )
        states = [x]  # the input, then each encoder layer's output
        for layer in self.encoder.values():
            states.append(layer(states[-1]))
        y = states[-1]
        for k, layer in enumerate(self.decoder.values(), start=1):
            if k > 1:
                y = y + states[-k]
            y = layer(y, output_size=states[-k - 1].shape[-2:])
        return y


def min_input_size(kernels: list[int], strides: tuple[int, ...]) -> int:
    """Smallest input size (pixels, per axis) for which every unpadded conv has an output.

    Walks back from a 1-pixel bottleneck: a layer needs ``(n_out - 1) * stride + kernel``.
    """
    size = 1
    for k, s in zip(reversed(kernels), reversed(strides), strict=True):
        size = (size - 1) * s + k
    return size


def receptive_field(kernels: list[int], strides: tuple[int, ...]) -> int:
    """Widest window of input pixels (per axis) that one interior output pixel depends on.

    The skips only add shorter paths whose windows lie inside it (no stride exceeds its
    kernel, so no pixel falls between windows), so the deepest path, through every encoder
    and every decoder layer, sets it:

    - from the bottleneck down, the encoder sees the standard ``R = 1 + sum((k - 1) * jump)``
      input pixels, ``jump`` being the product of the strides before each layer; bottleneck
      pixels are ``J`` (the product of all strides) input pixels apart;
    - from the output up, a transposed conv's output pixel ``o`` depends on its input pixels
      ``i`` with ``0 <= o - stride * i < k``; following that interval back through the decoder
      gives the bottleneck pixels an output pixel depends on. How many depends on where the
      pixel sits on the stride grid, so take the widest over one period of ``J`` positions.

    The window is ``R + J * (span of that bottleneck interval)``: 43 + 2 * 21 = 85 at the
    defaults, the encoder's 43 doubled less one.
    """
    size, jump = 1, 1
    for k, s in zip(kernels, strides, strict=True):
        size += (k - 1) * jump
        jump *= s
    widest = 0
    for o in range(jump):
        lo = hi = o
        for k, s in zip(kernels, strides, strict=True):  # the last decoder layer first
            lo, hi = -((k - 1 - lo) // s), hi // s  # ceil((lo - k + 1) / s), floor(hi / s)
        widest = max(widest, hi - lo)
    return size + jump * widest


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")

"""ShadeUNet: a multi-scale encoder-decoder that sees far, costs little and leaves no stripes.

Built for ao2d to fix the three faults of ResConv (``models/resconv.py``):

- **Reach.** ResConv sees 42 px either side (``benchmarks/results/ao2d_models.json``:
  ``networks.resconv.receptive_field_px`` // 2), so a shadow longer than that ends in a step.
  Here five levels go down to 1/32 of the input and the receptive field is several hundred
  pixels (``receptive_field``), far beyond the longest shadow and AO radius the renderer makes.
- **Cost.** ResConv runs 32 channels of 7×7 convs at full resolution. Here the full-resolution
  image is folded into 2×2 blocks (pixel unshuffle, lossless) before the first conv, most of the
  work happens at 1/8-1/32 of the pixels, and the only full-resolution layers are 1×1.
- **Stripes.** A stride-2 transposed conv with kernel 7 gives every other output pixel a
  different set of weights: the checkerboard. Here every upsampling is bilinear, followed by
  convs (resize-then-conv), so no pixel is treated differently by its position on the grid.

Two heads turn the level-1 features (half resolution) into the output:

- ``"mask"`` (ao2d's): two half-resolution images, the colour the pixel would have if it were
  ground and the colour it would have if it were the top of a shape. Both are upsampled
  bilinearly and the full-resolution mask picks one per pixel (inside = mask >= 0.5, the
  renderer's own rule, ``sdf.exact_sdf``). So a shape's outline in the output is exactly the
  mask's, however coarse the features, and no conv runs at full resolution, where one costs
  most.
- ``"direct"`` (G-buffer to an effect: AO, indirect light): no input channel is a mask, so
  the edges must come from the input buffers themselves. The features are upsampled to full
  resolution and concatenated with the input, and a :class:`DirectHead` of 1×1 convs maps
  each pixel's (features, buffers) to its output: where depth or normal jump between two
  pixels, the output can jump too, however smooth the features. It generalises the mask
  head's per-pixel choice between two colours to any per-pixel function of the buffers.

Every conv is zero-padded and the input is zero-padded up to a multiple of ``total_stride``;
with masks (white = shape) zero is empty ground, which is exactly what the renderer puts beyond
the image. So trained on whole images, the network treats borders as the renderer does.
"""

import torch
import torch.nn.functional as F
from torch import nn

from neuralshade.errors import InputError
from neuralshade.models import register

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}
_HEADS = ("mask", "direct", "kernel")


class ConvBN(nn.Sequential):
    """Conv (zero-padded, no bias) → BatchNorm → activation (optional).

    The BatchNorm folds into the conv for inference (:func:`fuse_batch_norm`).
    x: (B, in_channels, H, W) -> (B, out_channels, H / stride, W / stride)
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, activation: str | None):
        layers = [
            nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        ]
        if activation:
            layers.append(_ACTIVATIONS[activation]())
        super().__init__(*layers)


class LogInputs(nn.Module):
    """Chosen input channels taken as log1p(max(x, 0)), the rest passed through: HDR light in
    the range the other buffers have (a highlight of 30 becomes 3.4). Its channel mask is a
    non-persistent buffer (the constructor argument is the state) and it exports to ONNX.

    x: (B, C, H, W) -> (B, C, H, W)
    """

    def __init__(self, in_channels: int, channels: tuple[int, ...]):
        super().__init__()
        bad = [c for c in channels if not (isinstance(c, int) and 0 <= c < in_channels)]
        if bad or len(set(channels)) != len(channels):
            raise ValueError(
                f"log_inputs must list distinct input channels in [0, {in_channels}), got "
                f"{list(channels)!r}"
            )
        mask = torch.zeros(1, in_channels, 1, 1, dtype=torch.bool)
        mask[:, list(channels)] = True
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(self.mask, torch.log1p(x.clamp_min(0)), x)


def log_inputs_of(in_channels: int, channels) -> "LogInputs | None":
    """A :class:`LogInputs` for ``channels``, or None for none (the network is unchanged)."""
    if channels is None or (isinstance(channels, (list, tuple)) and not channels):
        return None
    if not isinstance(channels, (list, tuple)):
        raise ValueError(f"log_inputs must be a list of input channels, got {channels!r}")
    return LogInputs(in_channels, tuple(channels))


class ResBlock(nn.Module):
    """Two 3×3 ConvBNs with an identity skip: act(x + bn(conv(act(bn(conv(x))))))."""

    def __init__(self, channels: int, activation: str):
        super().__init__()
        self.body = nn.Sequential(
            ConvBN(channels, channels, 3, 1, activation), ConvBN(channels, channels, 3, 1, None)
        )
        self.act = _ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class UpLevel(nn.Module):
    """Decoder step: 1×1 to the skip's width, bilinear ×2, add the skip, 3×3 ConvBN.

    The 1×1 runs before the upsampling, at a quarter of the pixels.
    """

    def __init__(self, c_in: int, c_out: int, activation: str):
        super().__init__()
        self.reduce = ConvBN(c_in, c_out, 1, 1, None)
        self.mix = ConvBN(c_out, c_out, 3, 1, activation)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(self.reduce(x), size=skip.shape[-2:], mode="bilinear")
        return self.mix(up + skip)


class DirectHead(nn.Module):
    """Level-1 features and the input buffers to the output image, at full resolution.

    Bilinear ×2 of the features, concatenated with the input, → 1×1 ConvBN (to as many
    channels as the features) → 1×1 conv: a small per-pixel network of (features, buffers).
    1×1 rather than 3×3: the edges are in the buffers already, and a 3×3 here would make the
    whole network 40 % dearer (at 512², 6 → 1 channels, default widths, torch's FLOP counter:
    1.82 GMAC, with a 3×3 ConvBN in its place 2.56; with the mask head 1.72).

    features: (B, c_features, H / 2, W / 2), x: (B, c_input, H, W) -> (B, c_out, H, W)
    """

    def __init__(self, c_features: int, c_input: int, c_out: int, activation: str):
        super().__init__()
        self.mix = ConvBN(c_features + c_input, c_features, 1, 1, activation)
        self.out = nn.Conv2d(c_features, c_out, 1)

    def forward(
        self, features: torch.Tensor, x: torch.Tensor, valid: tuple[int, int] | None = None
    ) -> torch.Tensor:
        """``valid``: the image's own (H, W) within a zero-padded ``x`` (the caller crops)."""
        up = F.interpolate(features, size=x.shape[-2:], mode="bilinear")
        return self.out(self.mix(torch.cat([up, x], dim=1)))


class KernelHead(DirectHead):
    """The direct head, blended per pixel with a kernel-filtered input: a denoiser's head.

    Besides the direct colour, a 1×1 conv on the same per-pixel features gives the logits of
    a ``size`` × ``size`` kernel (softmax-normalised, as KPCN's) and of a blend weight α. The
    kernel averages the noisy input channels ``channels`` around the pixel (in linear light:
    channels the network reads as log1p are taken back with expm1, filtered, and returned to
    log1p, so the average is of the light itself and not of its log), and the output is
    α · filtered + (1 − α) · direct. A kernel can only average what is there, so where the
    noise is low (many samples) it keeps every texture edge and highlight of the input,
    sharp, which a colour predicted from half-resolution features blurs; where the noise is
    high the direct colour takes over. The kernel is applied as a sum of ``size²`` shifted
    slices (exports to ONNX), the input replicated at the border.

    features: (B, c_features, H / 2, W / 2), x: (B, c_input, H, W) -> (B, c_out, H, W)
    """

    def __init__(
        self,
        c_features: int,
        c_input: int,
        c_out: int,
        activation: str,
        channels: list[int],
        size: int,
        linear: list[bool],
    ):
        super().__init__(c_features, c_input, c_out, activation)
        self.channels, self.size, self.linear = list(channels), size, list(linear)
        mask = torch.tensor(self.linear, dtype=torch.bool).view(1, -1, 1, 1)
        self.register_buffer("mask", mask, persistent=False)
        self.kernel = nn.Conv2d(c_features, size * size + 1, 1)
        with torch.no_grad():  # starts as a box filter given little weight (α = 0.12)
            self.kernel.weight.mul_(0.1)
            self.kernel.bias.zero_()
            self.kernel.bias[-1] = -2.0

    def forward(
        self, features: torch.Tensor, x: torch.Tensor, valid: tuple[int, int] | None = None
    ) -> torch.Tensor:
        """``valid``: the image's own (H, W) within a zero-padded ``x``: the output is cropped
        to it and the kernel replicates the image's own border, not the padding."""
        up = F.interpolate(features, size=x.shape[-2:], mode="bilinear")
        mixed = self.mix(torch.cat([up, x], dim=1))
        if valid is not None:
            mixed, x = mixed[..., : valid[0], : valid[1]], x[..., : valid[0], : valid[1]]
        direct = self.out(mixed)
        logits = self.kernel(mixed)
        k = self.size
        weights = torch.softmax(logits[:, : k * k], dim=1)
        alpha = torch.sigmoid(logits[:, k * k :])
        source = x[:, self.channels]
        if any(self.linear):  # exp − 1: ONNX has no expm1 (x >= 0 here, so no precision lost)
            source = torch.where(self.mask, torch.exp(source) - 1, source)
        h, w = x.shape[-2:]
        padded = F.pad(source, (k // 2,) * 4, mode="replicate")
        filtered = sum(
            weights[:, i * k + j : i * k + j + 1] * padded[..., i : i + h, j : j + w]
            for i in range(k)
            for j in range(k)
        )
        if any(self.linear):
            filtered = torch.where(self.mask, torch.log1p(filtered.clamp_min(0)), filtered)
        return alpha * filtered + (1 - alpha) * direct


class FiLM(nn.Module):
    """Feature-wise linear modulation (Perez et al. 2018) from a per-image condition vector.

    A small MLP maps the condition (the light, the shape height) to a scale and a shift per
    channel of every level; a level's features y become y · (1 + γ) + β. The last layer starts
    at zero, so an untrained FiLM leaves the network as it is.

    c: (B, c_cond) -> [(γ, β) per level, each (B, width, 1, 1)]
    """

    def __init__(self, c_cond: int, widths: list[int], hidden: int = 64):
        super().__init__()
        self.widths = list(widths)
        self.mlp = nn.Sequential(
            nn.Linear(c_cond, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 2 * sum(widths)),
        )
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, c: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        out, start = [], 0
        params = self.mlp(c)  # (B, 2 * sum(widths))
        for w in self.widths:
            gamma, beta = params[:, start : start + 2 * w, None, None].chunk(2, dim=1)
            out.append((1 + gamma, beta))
            start += 2 * w
        return out


@register("unet")
class ShadeUNet(nn.Module):
    """Mask (or any buffers) to shaded image through ``len(widths)`` resolution levels.

    Level 1 works at 1/2 of the input resolution (after a 2×2 pixel unshuffle), level k at
    1/2^k. Each level below the first starts with a stride-2 3×3 ConvBN and has
    ``blocks[k]`` residual blocks; the decoder climbs back with :class:`UpLevel`. The mask
    head, a 1×1 conv on level 1, gives ``2 * out_channels`` half-resolution images, the
    ground colour and the shape colour; they are upsampled bilinearly and input channel 0
    (the mask) picks one per pixel: shape where it is >= 0.5. The direct head
    (:class:`DirectHead`) makes the output at full resolution from the upsampled level-1
    features and the input buffers.

    Args:
        in_channels: channels of the input image.
        out_channels: channels of the output image.
        widths: channels of each level, finest first.
        blocks: residual blocks per level, finest first (same length as widths).
        activation: ``"relu"``, ``"gelu"`` or ``"silu"``.
        head: ``"mask"`` (input channel 0 is a mask that picks between two predicted
            colours: ao2d), ``"direct"`` (any input buffers, a prediction per pixel) or
            ``"kernel"`` (the direct head blended with a predicted kernel over the input
            channels ``kernel_inputs``: :class:`KernelHead`, a denoiser).
        log_inputs: input channels read as log1p(max(x, 0)) (:class:`LogInputs`: HDR light
            among the inputs); the direct head sees them so too. Default none.
        residual: input channels, one per output channel, added to the direct head's output
            (as the layers read them: log1p where ``log_inputs`` says so), so that the network
            learns a correction of an input (depth of field: the pinhole render) rather than
            the image itself; the head's last conv then starts at zero, the network at the
            input. Default none.
        bound: input channels, one per output channel, each a ceiling on its output channel:
            the direct head's output is at most the largest value of that input channel (as
            the layers read it) in the ``bound_window`` × ``bound_window`` window around the
            pixel, as TAA clamps a history to its neighbourhood. For a denoiser, whose output
            estimates the mean of the noisy samples around it, it stops the rare wild
            extrapolation (an input unlike the training data, brightened a hundredfold) and
            leaves the output alone where the network behaves. Default none.
        bound_window: side of the bound's window, odd (default 15).
        kernel_inputs: for the kernel head, the input channels filtered, one per output
            channel (a denoiser's noisy colour).
        kernel_size: side of the kernel head's kernel, odd (default 5).
        condition: the last ``condition`` input channels are per-image constants (a light
            direction, a height): instead of entering the convs, their spatial mean drives a
            :class:`FiLM` that scales and shifts every level's features. 0 (default): none;
            every input channel enters the convs. The other arguments' channel indices count
            the remaining (image) channels.

    Attributes:
        border_is_ground: True: the zero padding is the renderer's empty ground beyond the
            frame, so inference runs it on the bare image (``neuralshade.infer``).
        total_stride: the input is zero-padded to a multiple of this (2^len(widths)).
        receptive_field: width in input pixels of the window one output pixel depends on.
        strides: ``(total_stride,)``, for tiling on the network's grid.

    Shapes:
        x: (B, in_channels, H, W), any H, W >= 1 -> (B, out_channels, H, W), unbounded.

    Example:
        >>> model = ShadeUNet().eval()
        >>> model(torch.rand(1, 1, 97, 130)).shape
        torch.Size([1, 3, 97, 130])
    """

    border_is_ground = True

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 3,
        widths: tuple[int, ...] = (16, 32, 48, 64, 96),
        blocks: tuple[int, ...] = (0, 1, 2, 2, 2),
        activation: str = "relu",
        head: str = "mask",
        log_inputs: tuple[int, ...] | None = None,
        residual: tuple[int, ...] | None = None,
        bound: tuple[int, ...] | None = None,
        bound_window: int = 15,
        kernel_inputs: tuple[int, ...] | None = None,
        kernel_size: int = 5,
        condition: int = 0,
    ):
        super().__init__()
        for name, value in [
            ("in_channels", in_channels),
            ("out_channels", out_channels),
        ]:
            check_int(name, value, 1)
        if not isinstance(widths, (list, tuple)) or not widths:
            raise ValueError(f"widths must list the channels of at least one level, got {widths!r}")
        for w in widths:
            check_int("each of widths", w, 1)
        if not isinstance(blocks, (list, tuple)) or len(blocks) != len(widths):
            raise ValueError(
                f"blocks must give one count per level ({len(widths)} levels), got {blocks!r}"
            )
        for b in blocks:
            check_int("each of blocks", b, 0)
        if head not in _HEADS:
            raise ValueError(f"head must be one of {', '.join(map(repr, _HEADS))}, got {head!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {', '.join(map(repr, _ACTIVATIONS))}, "
                f"got {activation!r}"
            )

        check_int("condition", condition, 0)
        if condition >= in_channels:
            raise ValueError(
                f"condition ({condition}) must leave at least one of the {in_channels} input "
                "channels for the image"
            )
        self.in_channels = in_channels
        self.condition = condition
        in_channels -= condition  # what the convs read
        self.out_channels = out_channels
        self.total_stride = 2 ** len(widths)
        self.strides = (self.total_stride,)
        self.log_inputs = log_inputs_of(in_channels, log_inputs)

        self.stem = nn.Sequential(
            nn.PixelUnshuffle(2), ConvBN(4 * in_channels, widths[0], 3, 1, activation)
        )
        self.down = nn.ModuleList()
        for k, (w, n) in enumerate(zip(widths, blocks, strict=True)):
            entry = [] if k == 0 else [ConvBN(widths[k - 1], w, 3, 2, activation)]
            self.down.append(nn.Sequential(*entry, *(ResBlock(w, activation) for _ in range(n))))
        self.up = nn.ModuleList(
            UpLevel(widths[k + 1], widths[k], activation) for k in reversed(range(len(widths) - 1))
        )
        # one (γ, β) per encoder level, then per decoder level, in the order forward meets them
        levels = [*widths, *reversed(widths[:-1])]
        self.film = FiLM(condition, levels) if condition else None
        check_int("kernel_size", kernel_size, 1)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (centred on its pixel), got {kernel_size}")
        if head == "kernel":
            if kernel_inputs is None:
                raise ValueError("head 'kernel' needs kernel_inputs: the input channels filtered")
            channels = _residual(kernel_inputs, in_channels, out_channels, head, "kernel_inputs")
            logged = self.log_inputs.mask.flatten().tolist() if self.log_inputs else []
            linear = [bool(logged and logged[c]) for c in channels]
            self.head = KernelHead(
                widths[0], in_channels, out_channels, activation, channels, kernel_size, linear
            )
        elif kernel_inputs is not None:
            raise ValueError(f"kernel_inputs needs head 'kernel', got head {head!r}")
        elif head == "mask":
            self.head = nn.Conv2d(widths[0], 2 * out_channels, 1)
        else:
            self.head = DirectHead(widths[0], in_channels, out_channels, activation)
        self.residual = _residual(residual, in_channels, out_channels, head)
        if self.residual is not None:
            nn.init.zeros_(self.head.out.weight)
            nn.init.zeros_(self.head.out.bias)
        self.bound = _residual(bound, in_channels, out_channels, head, "bound")
        check_int("bound_window", bound_window, 1)
        if bound_window % 2 == 0:
            raise ValueError(f"bound_window must be odd (centred on its pixel), got {bound_window}")
        self.bound_window = bound_window
        self.receptive_field = max(
            _receptive_field(self),
            bound_window if bound else 1,
            kernel_size if head == "kernel" else 1,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in_channels, H, W) -> (B, out_channels, H, W)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise InputError(
                f"ShadeUNet expects input (B, {self.in_channels}, H, W), got shape {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        s = self.total_stride
        film = iter(())
        if self.film is not None:  # the constants' mean, before any padding dilutes it
            film = iter(self.film(x[:, -self.condition :].mean(dim=(2, 3))))
            x = x[:, : -self.condition]
        x = F.pad(x, (0, -w % s, 0, -h % s))  # zeros: empty ground, as beyond the image
        z = x if self.log_inputs is None else self.log_inputs(x)  # what the layers read
        y = self.stem(z)
        skips = []
        for level in self.down:
            y = _modulate(level(y), film)
            skips.append(y)
        for up, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            y = _modulate(up(y, skip), film)
        if isinstance(self.head, DirectHead):
            out = self.head(y, z, (h, w))[..., :h, :w]
            z = z[..., :h, :w]
            if self.residual is not None:
                out = out + z[:, self.residual]
            if self.bound is not None:
                k = self.bound_window
                out = torch.minimum(out, F.max_pool2d(z[:, self.bound], k, 1, k // 2))
            return out
        y = F.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear")
        ground, raised = y.chunk(2, dim=1)
        return torch.where(x[:, :1] >= 0.5, raised, ground)[..., :h, :w]


def _modulate(y: torch.Tensor, film) -> torch.Tensor:
    """y · γ + β with the next (γ, β) of a FiLM's iterator, or y where there is none. The
    product keeps y's memory layout (channels-last where inference runs so; ``addcmul`` with
    β first would hand the next convolution a tensor to reorder) and takes β in place."""
    scale_shift = next(film, None)
    return y if scale_shift is None else (y * scale_shift[0]).add_(scale_shift[1])


def _residual(
    channels, in_channels: int, out_channels: int, head: str, name: str = "residual"
) -> list[int] | None:
    """The checked ``residual`` (or ``bound``) argument of :class:`ShadeUNet` (None: none)."""
    if channels is None:
        return None
    if head not in ("direct", "kernel"):
        raise ValueError(f"{name} needs head 'direct' or 'kernel' (the mask head picks colours)")
    if (
        not isinstance(channels, (list, tuple))
        or len(channels) != out_channels
        or not all(isinstance(c, int) and 0 <= c < in_channels for c in channels)
    ):
        raise ValueError(
            f"{name} must list {out_channels} input channels in [0, {in_channels}), one per "
            f"output channel, got {channels!r}"
        )
    return list(channels)


def fuse_batch_norm(model: nn.Module) -> nn.Module:
    """Fold the BatchNorm of every :class:`ConvBN` into its conv, in place (eval only).

    conv(x)·γ/σ + (β − μγ/σ) is one conv with scaled weights and a bias: the same output, one
    pass over the memory fewer. Modules without ConvBN (ResConv, whose BatchNorm comes before
    its conv) are left as they are. Returns the model.
    """
    for module in model.modules():
        if isinstance(module, ConvBN) and isinstance(module[1], nn.BatchNorm2d):
            conv, bn = module[0], module[1]
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            fused = nn.Conv2d(
                conv.in_channels,
                conv.out_channels,
                conv.kernel_size,
                conv.stride,
                conv.padding,
                bias=True,
            ).to(conv.weight.device)
            with torch.no_grad():
                fused.weight.copy_(conv.weight * scale[:, None, None, None])
                bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
                fused.bias.copy_(bn.bias + (bias - bn.running_mean) * scale)
            module[0], module[1] = fused, nn.Identity()
    return model


def _receptive_field(model: ShadeUNet) -> int:
    """Widest window of input pixels (per axis) that one interior output pixel depends on.

    Follows an output pixel's interval of dependencies back through every path
    (:func:`conv_inputs`, :func:`upsample_inputs`, :func:`pool_inputs` for the pixel
    unshuffle). A decoder level reads both its skip and the level below, so its interval is
    the union of both paths'. The width depends on where the pixel sits on the network's
    stride grid: the widest over one period counts.
    """
    n = len(model.down)

    def encoder(k: int, lo: int, hi: int) -> tuple[int, int]:
        lo, hi = conv_inputs(model.down[k], lo, hi)
        if k > 0:
            return encoder(k - 1, lo, hi)
        return pool_inputs(*conv_inputs(model.stem, lo, hi))

    def decoder(k: int, lo: int, hi: int) -> tuple[int, int]:
        if k == n - 1:
            return encoder(k, lo, hi)
        up = model.up[n - 2 - k]
        lo, hi = conv_inputs(up.mix, lo, hi)
        skip = encoder(k, lo, hi)
        deep = decoder(k + 1, *conv_inputs(up.reduce, *upsample_inputs(lo, hi)))
        return min(skip[0], deep[0]), max(skip[1], deep[1])

    widest = 0
    for o in range(model.total_stride):
        # counted at full resolution: the direct head's convs run there; the mask head's one
        # conv is 1×1, which reads one pixel at any resolution. The direct head's own input
        # pixels lie inside the window of the features it reads.
        lo, hi = decoder(0, *upsample_inputs(*conv_inputs(model.head, o, o)))
        widest = max(widest, hi - lo + 1)
    return widest


def conv_inputs(module: nn.Module, lo: int, hi: int) -> tuple[int, int]:
    """Input pixels lo' … hi' (per axis) that outputs lo … hi of ``module``'s convs read.

    The convs run one after the other, in the order of ``module.modules()``; a zero-padded
    conv's output j reads inputs j·s − p … j·s − p + k − 1.
    """
    for conv in reversed([m for m in module.modules() if isinstance(m, nn.Conv2d)]):
        k, s, p = conv.kernel_size[0], conv.stride[0], conv.padding[0]
        lo, hi = lo * s - p, hi * s - p + k - 1
    return lo, hi


def upsample_inputs(lo: int, hi: int) -> tuple[int, int]:
    """Coarse pixels that fine pixels lo … hi of a bilinear ×2 upsampling read.

    Corners not aligned: fine pixel i reads coarse ⌊(2i − 1) / 4⌋ and the next.
    """
    return (2 * lo - 1) // 4, (2 * hi - 1) // 4 + 1


def pool_inputs(lo: int, hi: int) -> tuple[int, int]:
    """Fine pixels that coarse pixels lo … hi of a 2×2 block reduction read (pixel
    unshuffle, 2×2 pooling): coarse j covers fine 2j and 2j + 1."""
    return 2 * lo, 2 * hi + 1


def check_int(name: str, value, least: int) -> None:
    """Raise ValueError naming ``name`` unless ``value`` is an int (not a bool) >= ``least``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")

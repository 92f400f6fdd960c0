"""ARShadowGAN's networks: a ResNet U-Net, the shadow generator built on it, SRGAN's critic.

ARShadowGAN (Liu et al., CVPR 2020), as the Everypixel "ARShadowGAN-like" series rebuilds it
(REFERENCES.md, "Shadow generation for inserted objects"):

- ``resnet-unet`` (:class:`ResNetUNet`): segmentation-models-pytorch's ``Unet`` with a
  ResNet-18 or ResNet-34 encoder. The attention block is one (ResNet-34, RGB + object mask →
  occluder mask and occluder shadow); the generator's body is another.
- ``arshadow-generator`` (:class:`ShadowGenerator`): a ResNet-18 U-Net to 16 features, a
  coarse residual from them, a refined residual from them after four pre-activation convs;
  both residuals added to the input picture.
- ``srgan-discriminator`` (:class:`SRGANDiscriminator`): SRGAN's discriminator (Ledig et al.,
  CVPR 2017), its dense layers made independent of the image size.

The ResNet encoder is written here in plain torch, not imported from torchvision: the PyPI
torchvision wheel is built against CUDA torch libraries, and with the CPU torch build this
project runs on its C ops fail to load (and segmentation-models-pytorch and timm need it).
Its module layout and parameter names are torchvision's exactly (``conv1``, ``bn1``,
``maxpool``, ``layer1.0.conv1.weight``, ``layer3.0.downsample.0.weight``, …), so a torchvision
ResNet's ``state_dict`` (without ``fc.*``) loads into :attr:`ResNetUNet.encoder` as it is,
given weights to load. The decoder's names follow segmentation-models-pytorch's ``Unet``
(``decoder.blocks.0.conv1.0.weight``, ``segmentation_head.0.weight``).
"""

import torch
import torch.nn.functional as F
from torch import nn

from neuralshade.errors import InputError
from neuralshade.models import register
from neuralshade.models.unet import check_int

# BasicBlocks per stage, as torchvision's resnet18 and resnet34
ENCODERS: dict[str, tuple[int, int, int, int]] = {
    "resnet18": (2, 2, 2, 2),
    "resnet34": (3, 4, 6, 3),
}
ENCODER_CHANNELS = (64, 64, 128, 256, 512)  # the five feature levels, 1/2 … 1/32 (width 64)


def encoder_channels(width: int = 64) -> tuple[int, ...]:
    """Channels of the five feature levels of an encoder whose first conv has ``width``
    (torchvision's ResNets: 64)."""
    return tuple(width * c // 64 for c in ENCODER_CHANNELS)
TOTAL_STRIDE = 32


# ---- the ResNet encoder, torchvision's layout ------------------------------------------------


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).

    The shortcut is ``downsample`` (1×1 conv with the stride, BatchNorm) where the block
    changes the size or the width, else the identity.
    x: (B, c_in, H, W) -> (B, c_out, H / stride, W / stride)
    """

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + shortcut)


class ResNetEncoder(nn.Module):
    """The body of torchvision's ResNet-18/34 (no average pool, no ``fc``), first conv taking
    ``in_channels``; returns the five feature levels a U-Net joins.

    Initialised as torchvision does: convs Kaiming-normal (fan out, ReLU), BatchNorm 1 and 0.
    ``width``: the first conv's channels, every stage's in proportion (64: torchvision's; a
    CPU preset narrows it).

    x: (B, in_channels, H, W) -> [(B, w, H/2, W/2) after ``relu``, (B, w, H/4, W/4)
    ``layer1``, (B, 2w, H/8, W/8) ``layer2``, (B, 4w, H/16, W/16) ``layer3``, (B, 8w, H/32,
    W/32) ``layer4``] (sizes rounded up), w = ``width``
    """

    def __init__(self, in_channels: int, blocks: tuple[int, int, int, int], width: int = 64):
        super().__init__()
        channels = encoder_channels(width)
        self.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c_in = width
        for i, (c_out, n) in enumerate(zip(channels[1:], blocks, strict=True)):
            stride = 1 if i == 0 else 2
            layer = [BasicBlock(c_in if k == 0 else c_out, c_out, stride if k == 0 else 1)
                     for k in range(n)]  # fmt: skip
            self.add_module(f"layer{i + 1}", nn.Sequential(*layer))
            c_in = c_out
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def stages(self) -> list[list[nn.Module]]:
        """The modules from one feature level to the next, in order (level 0 from the input)."""
        return [
            [self.conv1, self.bn1, self.relu],
            [self.maxpool, self.layer1],
            [self.layer2],
            [self.layer3],
            [self.layer4],
        ]

    def forward(self, x: torch.Tensor, levels: int = 5) -> list[torch.Tensor]:
        """The first ``levels`` feature levels (all five by default)."""
        features = []
        for stage in self.stages()[:levels]:
            for module in stage:
                x = module(x)
            features.append(x)
        return features


# ---- the U-Net -----------------------------------------------------------------------------


def conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    """3×3 conv (no bias) → BatchNorm → ReLU: smp's ``Conv2dReLU`` with BatchNorm."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )


class DecoderBlock(nn.Module):
    """Nearest upsampling to the skip's size (about ×2), concatenate the skip (if any), two
    3×3 ConvBNReLUs.

    x: (B, c_in, h, w), skip: (B, c_skip, H, W) or None, size: (H, W) -> (B, c_out, H, W)
    """

    def __init__(self, c_in: int, c_skip: int, c_out: int):
        super().__init__()
        self.conv1 = conv_bn_relu(c_in + c_skip, c_out)
        self.conv2 = conv_bn_relu(c_out, c_out)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None, size) -> torch.Tensor:
        x = F.interpolate(x, size=size, mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


class UNetDecoder(nn.Module):
    """Five :class:`DecoderBlock`s from the 1/32 features up to full resolution, joining the
    1/16 … 1/2 features on the way; the last block has no skip.

    features: the encoder's five levels, size: the input's (H, W) -> (B, channels[-1], H, W)
    """

    def __init__(self, channels: tuple[int, ...], encoder: tuple[int, ...] = ENCODER_CHANNELS):
        super().__init__()
        c_in = [encoder[-1], *channels[:-1]]
        c_skip = [*reversed(encoder[:-1]), 0]
        self.blocks = nn.ModuleList(
            DecoderBlock(i, s, o) for i, s, o in zip(c_in, c_skip, channels, strict=True)
        )

    def forward(self, features: list[torch.Tensor], size) -> torch.Tensor:
        x = features[-1]
        skips = [*reversed(features[:-1]), None]
        for block, skip in zip(self.blocks, skips, strict=True):
            x = block(x, skip, size if skip is None else skip.shape[-2:])
        return x


@register("resnet-unet")
class ResNetUNet(nn.Module):
    """U-Net with a ResNet-18/34 encoder: segmentation-models-pytorch's ``Unet``, in plain torch.

    Encoder (:class:`ResNetEncoder`, torchvision's names): a 7×7 stride-2 conv from
    ``in_channels`` to 64, then the ResNet stages; features at 1/2 (after ``relu``), 1/4
    (``layer1``), 1/8, 1/16 and 1/32. Decoder: five blocks, each nearest ×2, concatenation of
    the encoder's features at that scale (none for the last, at full resolution), two
    [3×3 conv, BatchNorm, ReLU]; then a 3×3 conv to ``out_channels`` (no activation: logits
    or values, as the caller's loss wants). No pretrained weights: nothing can be downloaded
    here (REFERENCES.md); a torchvision state dict loads into ``encoder`` if one is at hand.

    Any size: each decoder block upsamples to the size of the features it joins (the
    encoder's stride-2 convs round odd sizes up), the last to the input's, so a picture of any
    size runs as it is, with no padding beyond the convs' own (segmentation-models-pytorch
    needs multiples of 32 and doubles blindly; at a multiple of 32 the two agree). This keeps
    the network exportable to ONNX with a dynamic height and width.

    Args:
        in_channels: channels of the input (the first conv takes them).
        out_channels: channels of the output.
        encoder: ``"resnet18"`` (BasicBlocks [2, 2, 2, 2], 11.2 M parameters) or
            ``"resnet34"`` ([3, 4, 6, 3], 21.3 M).
        decoder_channels: output channels of the five decoder blocks, coarse to fine
            (smp's default [256, 128, 64, 32, 16]).
        encoder_width: the encoder's first width (64: torchvision's ResNet, whose weights
            would load; 32 quarters the parameters, for a CPU).

    Attributes:
        total_stride: 32, the encoder's deepest level.
        strides: ``(total_stride,)``, for tiling on the network's grid.
        min_size: smallest H and W (2: BatchNorm needs two values per channel to train).
        receptive_field: width in input pixels of the window one output pixel depends on,
            counted through every path (:func:`receptive_field`): 563 for ResNet-18, 1,027
            for ResNet-34; more than the 128² and 256² pictures it is trained on, so every
            output pixel sees the whole picture.

    Shapes:
        x: (B, in_channels, H, W), H, W >= 2 -> (B, out_channels, H, W), unbounded.

    Example:
        >>> model = ResNetUNet(in_channels=4, out_channels=2).eval()
        >>> model(torch.rand(1, 4, 64, 80)).shape
        torch.Size([1, 2, 64, 80])
    """

    total_stride = TOTAL_STRIDE
    strides = (TOTAL_STRIDE,)
    min_size = 2

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 1,
        encoder: str = "resnet34",
        decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16),
        encoder_width: int = 64,
    ):
        super().__init__()
        check_int("in_channels", in_channels, 1)
        check_int("encoder_width", encoder_width, 1)
        check_int("out_channels", out_channels, 1)
        if encoder not in ENCODERS:
            raise ValueError(
                f"encoder must be one of {', '.join(map(repr, ENCODERS))}, got {encoder!r}"
            )
        if not isinstance(decoder_channels, (list, tuple)) or len(decoder_channels) != 5:
            raise ValueError(
                f"decoder_channels must list the channels of the 5 decoder blocks, "
                f"got {decoder_channels!r}"
            )
        for c in decoder_channels:
            check_int("each of decoder_channels", c, 1)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.encoder = ResNetEncoder(in_channels, ENCODERS[encoder], encoder_width)
        self.decoder = UNetDecoder(tuple(decoder_channels), encoder_channels(encoder_width))
        self.segmentation_head = nn.Sequential(
            nn.Conv2d(decoder_channels[-1], out_channels, 3, 1, 1)
        )
        self.receptive_field = receptive_field(self)

    def _checked(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels or min(x.shape[-2:]) < self.min_size:
            raise InputError(
                f"{type(self).__name__} expects input (B, {self.in_channels}, H, W) with H and "
                f"W at least {self.min_size}, got shape {tuple(x.shape)}"
            )
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in_channels, H, W), H, W >= 2 -> (B, out_channels, H, W)."""
        features = self.encoder(self._checked(x))
        return self.segmentation_head(self.decoder(features, x.shape[-2:]))

    def features(self, x: torch.Tensor, level: int) -> torch.Tensor:
        """The encoder's features at ``level`` (0: 1/2 after ``relu``, 1: ``layer1``, 1/4;
        2: ``layer2``, 1/8; 3: ``layer3``; 4: ``layer4``, 1/32), for a perceptual loss.

        x: (B, in_channels, H, W) -> (B, C_level, about H / 2^(level+1), W / 2^(level+1)),
        C_level = 64, 64, 128, 256, 512. Only the layers up to that level run.
        """
        if not (isinstance(level, int) and 0 <= level < len(ENCODER_CHANNELS)):
            raise ValueError(f"level must be an integer in [0, 5), got {level!r}")
        return self.encoder(self._checked(x), levels=level + 1)[-1]


# ---- the receptive field -------------------------------------------------------------------


def _window(modules, lo: int, hi: int) -> tuple[int, int]:
    """Input pixels lo' … hi' (per axis) that outputs lo … hi of ``modules``, run in order,
    read through their main path: every conv and max pool, a BasicBlock's conv1 and conv2 (its
    1×1 shortcut reads a pixel conv1 reads already). An output j of a (kernel k, stride s,
    padding p) op reads inputs j·s − p … j·s − p + k − 1."""
    ops = []
    for module in modules:
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.MaxPool2d)) and not _in_shortcut(module, m):
                ops.append(m)
    for m in reversed(ops):
        k, s, p = (v if isinstance(v, int) else v[0] for v in (m.kernel_size, m.stride, m.padding))
        lo, hi = lo * s - p, hi * s - p + k - 1
    return lo, hi


def _in_shortcut(root: nn.Module, module: nn.Module) -> bool:
    return any(
        b.downsample is not None and any(module is m for m in b.downsample.modules())
        for b in root.modules()
        if isinstance(b, BasicBlock)
    )


def encoder_receptive_field(encoder: ResNetEncoder, level: int) -> int:
    """Window width (input pixels) of one feature at ``level`` (0 … 4): 435 at level 4 for
    ResNet-18, 899 for ResNet-34 (the published figures of their last stage)."""
    lo, hi = _window([m for stage in encoder.stages()[: level + 1] for m in stage], 0, 0)
    return hi - lo + 1


def receptive_field(model: ResNetUNet, after: tuple[nn.Module, ...] = ()) -> int:
    """Widest window of input pixels (per axis) one output pixel of the U-Net depends on, or
    of the U-Net followed by the full-resolution modules ``after`` (a generator's heads): the
    widest :func:`window` over one period of the 32-pixel grid."""
    widths = [hi - lo + 1 for lo, hi in (window(model, o, after) for o in range(TOTAL_STRIDE))]
    return max(widths)


def window(model: ResNetUNet, pixel: int, after: tuple[nn.Module, ...] = ()) -> tuple[int, int]:
    """Input pixels lo … hi (per axis, of the padded input) that output ``pixel`` reads.

    Follows the pixel's interval back through every path: a decoder block reads its skip
    (the encoder's features at that level) and the block below, through a nearest ×2 (fine
    pixel i reads coarse ⌊i / 2⌋), so its interval is the union of both.
    """
    stages = model.encoder.stages()
    blocks = model.decoder.blocks
    last = len(blocks) - 1

    def encoder(level: int, lo: int, hi: int) -> tuple[int, int]:
        """Input interval of features lo … hi at ``level``."""
        for stage in reversed(stages[: level + 1]):
            lo, hi = _window(stage, lo, hi)
        return lo, hi

    def decoder(k: int, lo: int, hi: int) -> tuple[int, int]:
        """Input interval of outputs lo … hi of decoder block k (0: the coarsest, whose input
        is encoder level 4 and skip level 3; block 4 has no skip)."""
        lo, hi = _window([blocks[k]], lo, hi)
        below = encoder(last, lo // 2, hi // 2) if k == 0 else decoder(k - 1, lo // 2, hi // 2)
        if k == last:
            return below
        skip = encoder(last - 1 - k, lo, hi)
        return min(skip[0], below[0]), max(skip[1], below[1])

    return decoder(last, *_window([model.segmentation_head, *after], pixel, pixel))


# ---- the shadow generator ------------------------------------------------------------------


@register("arshadow-generator")
class ShadowGenerator(nn.Module):
    """ARShadowGAN's shadow generation network: picture, object mask and attention maps → the
    picture with the object's shadow, as the input picture plus a predicted residual.

    A :class:`ResNetUNet` (ResNet-18 encoder) turns the input into ``features`` (16) channels.
    The coarse residual is a 3×3 conv of them to 3 channels; the refined residual is a 3×3 conv
    to 3 channels of the features after ``refine_blocks`` (4) × [BatchNorm, ReLU, 3×3 conv
    features → features]. Each residual is added to the input picture (the first 3 input
    channels). Pictures are in [−1, 1], as the original trains them: the caller maps [0, 1]
    pictures to 2x − 1 before and back after, and clamps; masks and attention maps stay in
    [0, 1]. The outputs are not bounded.

    Args:
        in_channels: input channels, the picture's 3 first: 6 = RGB, object mask, occluder
            mask, occluder shadow (ARShadowGAN's); 4 without the attention maps.
        encoder: the U-Net's encoder, ``"resnet18"`` (ARShadowGAN's) or ``"resnet34"``.
        decoder_channels: the U-Net's decoder widths, coarse to fine.
        features: channels the U-Net outputs, read by both heads.
        refine_blocks: the refinement's [BatchNorm, ReLU, 3×3 conv] layers.
        encoder_width: the U-Net encoder's first width (64: torchvision's ResNet).

    Attributes:
        receptive_field: as the U-Net's, through the refinement too (595 at the defaults).
        min_size, total_stride, strides: the U-Net's.

    Shapes:
        x: (B, in_channels, H, W), H, W >= 17 -> refined picture (B, 3, H, W);
        :meth:`coarse_and_refined` gives both pictures.

    Example:
        >>> model = ShadowGenerator().eval()
        >>> model(torch.rand(1, 6, 32, 48) * 2 - 1).shape
        torch.Size([1, 3, 32, 48])
    """

    out_channels = 3
    total_stride = TOTAL_STRIDE
    strides = (TOTAL_STRIDE,)
    min_size = ResNetUNet.min_size

    def __init__(
        self,
        in_channels: int = 6,
        encoder: str = "resnet18",
        decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16),
        features: int = 16,
        refine_blocks: int = 4,
        encoder_width: int = 64,
    ):
        super().__init__()
        check_int("in_channels", in_channels, 3)
        check_int("features", features, 1)
        check_int("refine_blocks", refine_blocks, 0)
        self.in_channels = in_channels
        self.unet = ResNetUNet(in_channels, features, encoder, decoder_channels, encoder_width)
        self.coarse = nn.Conv2d(features, 3, 3, 1, 1)
        layers = []
        for _ in range(refine_blocks):
            layers += [nn.BatchNorm2d(features), nn.ReLU(), nn.Conv2d(features, features, 3, 1, 1)]
        self.refine = nn.Sequential(*layers)
        self.refined = nn.Conv2d(features, 3, 3, 1, 1)
        self.receptive_field = receptive_field(self.unet, (self.refine, self.refined))

    def coarse_and_refined(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, in_channels, H, W) -> (coarse, refined), each (B, 3, H, W), both in the
        picture's [−1, 1] scale (unbounded); the training loss takes both."""
        f = self.unet(x)
        image = x[:, :3]
        return image + self.coarse(f), image + self.refined(self.refine(f))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in_channels, H, W) -> the refined picture (B, 3, H, W)."""
        return self.coarse_and_refined(x)[1]


class MirrorAveraged(nn.Module):
    """An attention block read twice, on the picture and on its mirror image (left to right),
    the two readings' probabilities averaged (the mirror's mirrored back); the output is the
    logits of that mean, so the maps thresholded at probability 0.5 read it as they read the
    block. A mirrored scene is as valid a scene (its light mirrored too), and the block was
    trained on pictures mirrored at random, so the readings differ only by the block's errors:
    where they disagree, the mean decides. Twice the block's time. Not the original's (ours:
    ``options.mirror`` of the shadow task).

    Shapes:
        x: (B, C, H, W) -> (B, out_channels, H, W), as the block.
    """

    def __init__(self, block: nn.Module):
        super().__init__()
        self.block = block
        for name in ("in_channels", "out_channels", "receptive_field", "min_size",
                     "total_stride", "strides"):  # fmt: skip
            if hasattr(block, name):
                setattr(self, name, getattr(block, name))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = (torch.sigmoid(self.block(x)) + torch.sigmoid(self.block(x.flip(-1))).flip(-1)) / 2
        p = p.clamp(1e-6, 1 - 1e-6)
        return torch.log(p) - torch.log1p(-p)


class ShadowPipeline(nn.Module):
    """ARShadowGAN at inference: the attention block's maps thresholded, then the generator.

    Built from two trained networks (not registered: a checkpoint holds its parts), so that
    inference and ONNX export run one module. Pictures here are in [0, 1]: the input is the
    picture and the object's mask; the attention block reads them as they are, the generator
    reads the picture as 2x − 1, the mask and the attention maps thresholded at ``threshold``
    (a generator of 4 input channels reads no maps, and needs no attention block). The
    output is the refined picture mapped back to [0, 1] (not clamped: the task's ``finish``
    does that and keeps the object's own pixels).

    Shapes:
        x: (B, 4, H, W) picture and mask in [0, 1], H, W >= 17 -> (B, 3, H, W).
    """

    in_channels = 4
    out_channels = 3
    total_stride = TOTAL_STRIDE
    strides = (TOTAL_STRIDE,)
    min_size = ResNetUNet.min_size

    def __init__(
        self, attention: nn.Module | None, generator: nn.Module, threshold: float = 0.5
    ):
        super().__init__()
        self.reads_maps = generator.in_channels == 6
        if self.reads_maps and attention is None:
            raise ValueError("a generator that reads attention maps needs the attention block")
        self.attention = attention if self.reads_maps else None
        self.generator, self.threshold = generator, threshold
        self.receptive_field = max(generator.receptive_field,
                                   getattr(self.attention, "receptive_field", 0))  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 4, H, W) picture and mask in [0, 1] -> (B, 3, H, W) picture, about [0, 1]."""
        image, mask = x[:, :3], x[:, 3:4]
        parts = [image * 2 - 1, mask]
        if self.reads_maps:
            maps = (torch.sigmoid(self.attention(x)) > self.threshold).to(x.dtype)
            parts.append(maps)
        return (self.generator(torch.cat(parts, 1)) + 1) / 2


# ---- the discriminator ---------------------------------------------------------------------


@register("srgan-discriminator")
class SRGANDiscriminator(nn.Module):
    """SRGAN's discriminator: eight 3×3 convs, then a realness score per image.

    Convs of width·(1, 1, 2, 2, 4, 4, 8, 8) channels, stride 2 at the 2nd, 4th, 6th and 8th,
    BatchNorm after every conv but the first, LeakyReLU 0.2 after each (64 … 512 at the
    default width, as Ledig et al.). Two departures, both for the way it is used here:

    - SRGAN's Dense(1024) reads the flattened 6×6×512 map of its 96² crops, so it fixes the
      input size. Here a global average pool takes the map to 8·width numbers first, then
      Linear → 16·width (1024) → LeakyReLU 0.2 → Linear → 1: the same layers on any size
      (128², 256²).
    - No sigmoid: the output is a raw score, for the least-squares GAN loss ARShadowGAN trains
      with, (D(real) − 1)² + D(fake)², which is taken on the score itself.

    Args:
        in_channels: input channels (3: a picture; 4: picture and object mask).
        width: channels of the first conv, the multiplier of all the others (64 as SRGAN; a
            CPU preset narrows it).

    Shapes:
        x: (B, in_channels, H, W), any H, W >= 1 -> (B, 1) scores, unbounded.

    Example:
        >>> SRGANDiscriminator(in_channels=4, width=8)(torch.rand(2, 4, 64, 64)).shape
        torch.Size([2, 1])
    """

    out_channels = 1

    def __init__(self, in_channels: int = 3, width: int = 64):
        super().__init__()
        check_int("in_channels", in_channels, 1)
        check_int("width", width, 1)
        self.in_channels = in_channels
        layers = [nn.Conv2d(in_channels, width, 3, 1, 1), nn.LeakyReLU(0.2)]
        c_in = width
        for i, m in enumerate((1, 2, 2, 4, 4, 8, 8)):
            c_out = width * m
            layers += [
                nn.Conv2d(c_in, c_out, 3, 2 if i % 2 == 0 else 1, 1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.LeakyReLU(0.2),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(c_in, 16 * width),
            nn.LeakyReLU(0.2),
            nn.Linear(16 * width, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in_channels, H, W) -> (B, 1)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise InputError(
                f"SRGANDiscriminator expects input (B, {self.in_channels}, H, W), "
                f"got shape {tuple(x.shape)}"
            )
        return self.classifier(self.features(x))

"""CNSR's networks (Granskog, Rousselle, Papas, Novák, SIGGRAPH 2020; REFERENCES.md).

A scene is seen in K observed views; an **encoder** turns each view (its buffers and its camera)
into a representation, the **partition** aggregates a scene's K representations into one and
splits its dimensions into lighting, geometry and material, and a **generator** shades a query
view from its G-buffer, its camera and the scene's representation.

Shapes (B scenes, K observed views, r = ``representation_dim``, P = ``pose_dim`` = 16):

- a pose is the flattened 4×4 view matrix: (N, P);
- encoders: views (N, C, H, W) and their poses (N, P) → (N, r, 1, 1) (``cnsr-pool``,
  ``cnsr-pyramid``) or (N, r, H/4, W/4) (``cnsr-tower``);
- the partition: (B, K, r, h, w) → the scenes' representations (B, r, h, w);
- generators: query buffers (B, Cq, H, W), the query pose (B, P) and the representation
  (B, r, h, w) → (B, ``out_channels``, H, W); trained with ``logl1`` / ``logssim`` they predict
  log1p of the radiance (the loss names say so: :func:`neuralshade.losses.predicts_log1p`);
  ``cnsr-gqn`` predicts it always, and returns the KL term of its ELBO beside it.

``cnsr`` chains the three as one module (one optimiser, one checkpoint).

The configuration keys and defaults are the original's (its ``util/settings.py`` and
``configs/room_*.json``) so that a user of it can read ours; where ours differs it says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuralshade.models import register

FACTORS = ("lighting", "geometry", "material")
"""The partitions, in the order of the representation's dimensions (CNSR's factors 0, 1, 2)."""


def _tile(v: Tensor, size: Sequence[int]) -> Tensor:
    """(N, P) or (N, P, 1, 1) → (N, P, *size): a per-image vector as constant channels."""
    return v.reshape(v.shape[0], -1, 1, 1).expand(-1, -1, *size)


def _check_images(x: Tensor, what: str, channels: int, multiple: int) -> None:
    """Raise ValueError unless ``x`` is (N, channels, H, W) with H and W multiples of
    ``multiple``; ``what`` names it in the message."""
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"{what} must be (N, {channels}, H, W), got {tuple(x.shape)}")
    if x.shape[-1] % multiple or x.shape[-2] % multiple:
        raise ValueError(f"{what} must be a multiple of {multiple} px, got {tuple(x.shape)}")


def _check_views(x: Tensor, pose: Tensor, in_channels: int, pose_dim: int, multiple: int) -> None:
    _check_images(x, "views", in_channels, multiple)
    if pose.shape[0] != x.shape[0] or pose[0].numel() != pose_dim:
        raise ValueError(f"poses must be ({x.shape[0]}, {pose_dim}), got {tuple(pose.shape)}")


# ---- encoders --------------------------------------------------------------------------------


@register("cnsr-tower")
class TowerEncoder(nn.Module):
    """GQN's Tower: two 2×2/2 stages with residual skips, the pose joined at a quarter of the
    resolution. (N, C, H, W), (N, P) → (N, r, H/4, W/4); H and W multiples of 4."""

    def __init__(self, in_channels: int = 10, representation_dim: int = 256, pose_dim: int = 16):
        super().__init__()
        self.in_channels, self.representation_dim, self.pose_dim = (
            in_channels, representation_dim, pose_dim
        )  # fmt: skip
        self.out_channels = representation_dim
        r, p = representation_dim, pose_dim
        self.conv1 = nn.Conv2d(in_channels, r, 2, stride=2)
        self.conv2 = nn.Conv2d(r, r // 2, 3, padding=1)
        self.conv3 = nn.Conv2d(r // 2, r, 2, stride=2)
        self.skip1 = nn.Conv2d(r, r, 2, stride=2)
        self.skip2 = nn.Conv2d(r + p, r, 3, padding=1)
        self.conv4 = nn.Conv2d(r + p, r // 2, 3, padding=1)
        self.conv5 = nn.Conv2d(r // 2, r, 3, padding=1)
        self.conv6 = nn.Conv2d(r, r, 1)

    def example_inputs(self, batch: int = 2) -> tuple[Tensor, Tensor]:
        """Views and poses it takes (the registry's generic tests run every model on these)."""
        return torch.rand(batch, self.in_channels, 16, 20), torch.randn(batch, self.pose_dim)

    def forward(self, x: Tensor, pose: Tensor) -> Tensor:
        _check_views(x, pose, self.in_channels, self.pose_dim, 4)
        half = F.relu(self.conv1(x))
        y = F.relu(self.conv3(F.relu(self.conv2(half)))) + F.relu(self.skip1(half))
        y = torch.cat([y, _tile(pose, y.shape[-2:])], dim=1)  # (N, r + P, H/4, W/4)
        y = F.relu(self.conv5(F.relu(self.conv4(y)))) + F.relu(self.skip2(y))
        return F.relu(self.conv6(y))


@register("cnsr-pool")
class PoolEncoder(TowerEncoder):
    """The Tower averaged over its positions: (N, C, H, W), (N, P) → (N, r, 1, 1). The
    original's default encoder (≈ 2.0 M parameters for 10 input channels at r = 256)."""

    def forward(self, x: Tensor, pose: Tensor) -> Tensor:
        return super().forward(x, pose).mean(dim=(-2, -1), keepdim=True)


@register("cnsr-pyramid")
class PyramidEncoder(nn.Module):
    """The pose joined to the input, 2×2/2 convolutions doubling 32 channels down to 8×8,
    then one 8×8/8 convolution: (N, C, size, size), (N, P) → (N, r, 1, 1). ``size`` (the
    original's ``render_size``) is 16 × a power of two."""

    def __init__(
        self, in_channels: int = 10, representation_dim: int = 256, pose_dim: int = 16,
        size: int = 64,
    ):  # fmt: skip
        super().__init__()
        halvings = math.log2(size / 16) if size >= 16 else -1
        if halvings != int(halvings) or halvings < 0:
            raise ValueError(f"size must be 16 times a power of two, got {size}")
        self.in_channels, self.representation_dim, self.pose_dim, self.size = (
            in_channels, representation_dim, pose_dim, size
        )  # fmt: skip
        self.out_channels = representation_dim
        width = 32
        self.input = nn.Conv2d(in_channels + pose_dim, width, 2, stride=2)
        self.convs = nn.ModuleList()
        for _ in range(int(halvings)):
            self.convs.append(nn.Conv2d(width, 2 * width, 2, stride=2))
            width *= 2
        self.out = nn.Conv2d(width, representation_dim, 8, stride=8)

    def example_inputs(self, batch: int = 2) -> tuple[Tensor, Tensor]:
        """Views and poses it takes."""
        size = (batch, self.in_channels, self.size, self.size)
        return torch.rand(size), torch.randn(batch, self.pose_dim)

    def forward(self, x: Tensor, pose: Tensor) -> Tensor:
        _check_views(x, pose, self.in_channels, self.pose_dim, 1)
        if x.shape[-2:] != (self.size, self.size):
            raise ValueError(f"views must be {self.size}×{self.size}, got {tuple(x.shape)}")
        y = F.relu(self.input(torch.cat([x, _tile(pose, x.shape[-2:])], dim=1)))
        for conv in self.convs:
            y = F.relu(conv(y))
        return F.relu(self.out(y))


# ---- the partition ---------------------------------------------------------------------------


def basket(x: Tensor, low: Tensor | float, high: Tensor | float, steepness: float) -> Tensor:
    """CNSR's soft mask of the interval [low, high] of positions x in (0, 1]: about 0 inside,
    1 outside, edges ``steepness`` steep; the product with its copies shifted by ±1 keeps an
    interval that touches 0 or 1 from leaking in at the other end."""

    def one(lo, hi):
        return (1 - torch.sigmoid(steepness * (x - lo))) + torch.sigmoid(steepness * (x - hi))

    return one(low, high) * one(low - 1, high - 1) * one(low + 1, high + 1)


@register("cnsr-partition")
class Partition(nn.Module):
    """The scene's representation from its K views' (mean or max), split into lighting,
    geometry and material partitions (CNSR's aggregation; no convolutions).

    In a training batch whose scenes vary one factor (all else equal), the varied factor's
    partition keeps each scene's own mean over its views and every other dimension takes the
    batch mean (the factor-batch rule), so only that partition can tell the scenes apart.

    latent_separation: partition at all (else a plain mean or max). adaptive_separation: the
    split points are learned (softmax of ``deltas`` → cumulative sum) and the masks are
    sigmoids whose steepness grows from ``start_sigmoid`` to ``end_sigmoid`` over
    ``sharpening`` training steps, then to ``sharpen_sigmoid`` over ``final_sharpening``;
    else fixed thirds with hard edges. empty_partition: a fourth, null partition whose
    dimensions are zeroed, and a loss ``partition_loss`` · r / 256 · (1 − its share) that
    rewards growing it (adaptive only). gradient_reg (ρ): in a factor batch, the gradient g of
    each dimension outside the varied partition becomes ρ (mean over the batch of g − g) +
    (1 − ρ) g on its way back (DC-IGN's correction: at 1, its difference from the batch mean;
    as those dimensions hold the batch mean, the encoder then learns nothing through them from
    that batch). The original rewrites the gradient after the backward pass has reached the
    encoder, where it changes nothing; here it is applied during the backward pass.
    aggregation: ``mean`` or ``max`` over the views where no factor rule applies.

    The step count that drives the steepness is a buffer (``step``), saved with the weights;
    it advances on every training forward with a factor.
    """

    def __init__(
        self,
        representation_dim: int = 256,
        latent_separation: bool = True,
        adaptive_separation: bool = True,
        empty_partition: bool = False,
        partition_loss: float = 0.01,
        start_sigmoid: float = 5.0,
        end_sigmoid: float = 100.0,
        sharpen_sigmoid: float = 100.0,
        sharpening: int = 500_000,
        final_sharpening: int = 100_000,
        gradient_reg: float = 0.0,
        aggregation: str = "mean",
    ):
        super().__init__()
        if aggregation not in ("mean", "max"):
            raise ValueError(f"aggregation must be 'mean' or 'max', got {aggregation!r}")
        if empty_partition and not (latent_separation and adaptive_separation):
            raise ValueError("empty_partition needs latent_separation and adaptive_separation")
        if sharpening <= 0 or final_sharpening <= 0:
            raise ValueError("sharpening and final_sharpening must be positive step counts")
        if not 0 <= gradient_reg <= 1:
            raise ValueError(f"gradient_reg must be in [0, 1], got {gradient_reg}")
        self.representation_dim = self.out_channels = representation_dim
        self.latent_separation, self.adaptive_separation = latent_separation, adaptive_separation
        self.empty_partition, self.partition_loss = empty_partition, partition_loss
        self.start_sigmoid, self.end_sigmoid = start_sigmoid, end_sigmoid
        self.sharpen_sigmoid = sharpen_sigmoid
        self.sharpening, self.final_sharpening = sharpening, final_sharpening
        self.gradient_reg, self.aggregation = gradient_reg, aggregation
        self.deltas = nn.Parameter(torch.ones(4 if empty_partition else 3))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        # each dimension's position in (0, 1): the centre of its 1/r slot (the original puts
        # dimension i at (i + 1) / r, so its last one sits on the edge at 1 and is half mixed)
        self.register_buffer(
            "positions", (torch.arange(representation_dim) + 0.5) / representation_dim,
            persistent=False,
        )  # fmt: skip

    def steepness(self, step: int | None = None) -> float:
        """The sigmoids' steepness at training ``step`` (default: the current one)."""
        step = int(self.step) if step is None else step
        if step <= self.sharpening:
            rise = (self.end_sigmoid - self.start_sigmoid) * step / self.sharpening
            return self.start_sigmoid + rise
        late = self.end_sigmoid + (self.sharpen_sigmoid - self.end_sigmoid) * (
            step - self.sharpening
        ) / self.final_sharpening
        return min(max(late, self.end_sigmoid), self.sharpen_sigmoid)

    def sizes(self) -> Tensor:
        """Each partition's share of the dimensions: (3,) lighting, geometry, material, or (4,)
        with the null partition; fixed thirds when not adaptive."""
        if self.latent_separation and self.adaptive_separation:
            return torch.softmax(self.deltas, dim=0)
        return torch.full((3,), 1 / 3, device=self.deltas.device)

    def outside(self, factor: int) -> Tensor:
        """(r,) about 1 on the dimensions outside partition ``factor`` (0 lighting, 1 geometry,
        2 material), about 0 inside it."""
        if not 0 <= factor < 3:
            raise ValueError(f"factor must be 0, 1 or 2 ({', '.join(FACTORS)}), got {factor}")
        if not self.adaptive_separation:
            index = torch.arange(self.representation_dim, device=self.positions.device)
            third = self.representation_dim // 3
            ends = (0, third, 2 * third, self.representation_dim)
            inside = (index >= ends[factor]) & (index < ends[factor + 1])
            return (~inside).to(self.deltas.dtype)
        splits = torch.cumsum(self.sizes(), dim=0)
        low = splits[factor - 1] if factor else 0.0
        return basket(self.positions, low, splits[factor], self.steepness())

    def example_inputs(self, batch: int = 2) -> tuple[Tensor, int]:
        """The encoders' outputs for ``batch`` scenes × 3 views, and a factor."""
        return torch.randn(batch, 3, self.representation_dim, 1, 1), 1

    def forward(self, views: Tensor, factor: int | None = None) -> tuple[Tensor, Tensor]:
        """views: (B, K, r, h, w) the encoders' outputs for B scenes × K views; factor: the
        factor a training batch varies (0, 1, 2), or None (a random batch, inference).
        Returns the scenes' representations (B, r, h, w) and the partition loss (a scalar,
        0 without the null partition)."""
        if views.ndim != 5 or views.shape[2] != self.representation_dim:
            raise ValueError(
                f"views must be (B, K, {self.representation_dim}, h, w), got {tuple(views.shape)}"
            )
        ruled = self.latent_separation and factor is not None
        if ruled:
            own = views.mean(dim=1)  # (B, r, h, w)
            batch = views.mean(dim=(0, 1), keepdim=True)[0]  # (1, r, h, w)
            outside = self.outside(factor).view(1, -1, 1, 1)
            rep = (1 - outside) * own + outside * batch
            if self.training:
                self.step += 1
                if self.gradient_reg > 0 and rep.requires_grad:
                    rep.register_hook(self._pull(outside))
        elif self.aggregation == "max":
            rep = views.max(dim=1).values
        else:
            rep = views.mean(dim=1)
        loss = views.new_zeros(())
        if self.empty_partition:
            sizes = self.sizes()
            null = basket(self.positions, torch.cumsum(sizes, 0)[2], 1.0, self.steepness())
            rep = rep * null.clamp(0, 1).view(1, -1, 1, 1)
            loss = self.partition_loss * self.representation_dim / 256 * (1 - sizes[3])
        return rep, loss

    def _pull(self, outside: Tensor):
        reg = self.gradient_reg

        def hook(grad: Tensor) -> Tensor:
            mean = grad.mean(dim=0, keepdim=True)
            return reg * outside * (mean - grad) + (1 - outside * reg) * grad

        return hook

    def swap(self, a: Tensor, b: Tensor, factor: int) -> Tensor:
        """Scene ``a``'s representation with partition ``factor`` taken from ``b`` (both
        (B, r, h, w)): the composition of two scenes."""
        outside = self.outside(factor).view(1, -1, 1, 1)
        return outside * a + (1 - outside) * b


# ---- generators ------------------------------------------------------------------------------


def _fit(r: Tensor, size: Sequence[int]) -> Tensor:
    """A representation (B, r, h, w) at ``size``: a vector tiled, a map resized (nearest)."""
    if r.shape[-2:] == (1, 1):
        return _tile(r, size)
    return F.interpolate(r, size=tuple(size), mode="nearest")


class _Generator(nn.Module):
    """What every generator shares: its sizes, the multiple of pixels its query buffers must
    be, and inputs for the registry's generic tests."""

    def __init__(
        self, query_channels: int, representation_dim: int, pose_dim: int, out_channels: int,
        multiple: int,
    ):  # fmt: skip
        super().__init__()
        self.query_channels, self.representation_dim = query_channels, representation_dim
        self.pose_dim, self.out_channels, self.multiple = pose_dim, out_channels, multiple

    def _check(self, x: Tensor) -> None:
        _check_images(x, "query buffers", self.query_channels, self.multiple)

    def example_inputs(self, batch: int = 2) -> tuple[Tensor, Tensor, Tensor]:
        """Query buffers, the query pose and a representation it takes."""
        size = (self.multiple * max(1, 16 // self.multiple),) * 2
        x, pose = torch.rand(batch, self.query_channels, *size), torch.randn(batch, self.pose_dim)
        return x, pose, torch.randn(batch, self.representation_dim, 1, 1)


@register("cnsr-pixel")
class PixelGenerator(_Generator):
    """The Pixel generator (the original's "PixelCNN"): 1×1 convolutions only, each pixel shaded
    from its own buffers, the camera and the representation, re-joined at every layer as the
    ``propagate_*`` switches say; LeakyReLU; a final ReLU with ``end_relu``.
    (B, Cq, H, W), (B, P), (B, r, h, w) → (B, out_channels, H, W).

    Defaults are the original's: 8 layers of 512 units, buffers not re-joined; its room preset
    uses 10 layers with ``propagate_buffers`` (≈ 4.2 M parameters for normal, position, id)."""

    def __init__(
        self,
        query_channels: int = 7,
        representation_dim: int = 256,
        pose_dim: int = 16,
        out_channels: int = 3,
        layers: int = 8,
        hidden_units: int = 512,
        propagate_buffers: bool = False,
        propagate_representation: bool = True,
        propagate_viewpoint: bool = True,
        end_relu: bool = True,
    ):
        super().__init__(query_channels, representation_dim, pose_dim, out_channels, 1)
        self.end_relu = end_relu
        self.propagate = (propagate_buffers, propagate_representation, propagate_viewpoint)
        sizes = (query_channels, representation_dim, pose_dim)
        joined = sum(n for n, on in zip(sizes, self.propagate, strict=True) if on)
        self.input = nn.Conv2d(query_channels + representation_dim + pose_dim, hidden_units, 1)
        self.layers = nn.ModuleList(
            nn.Conv2d(hidden_units + joined, hidden_units, 1) for _ in range(layers)
        )
        self.final = nn.Conv2d(hidden_units, out_channels, 1)

    def forward(self, x: Tensor, pose: Tensor, representation: Tensor) -> Tensor:
        self._check(x)
        if representation.shape[-2:] != (1, 1):
            return self.tiled(x, pose, representation)
        # a vector representation: its and the pose's share of each 1×1 convolution is the
        # same at every pixel, a per-image bias, computed once (the original tiles them and
        # convolves every pixel: the same sums, (r + P) more multiply-adds per pixel per
        # layer); and the pixels run as rows of matrix products (N, H·W, C), which CPUs do
        # about 2.7× faster than 1×1 convolutions of these sizes
        b, _, h, w = x.shape
        r, v = representation.flatten(1), pose.reshape(b, -1)
        joined = [t for t, on in zip((r, v), self.propagate[1:], strict=True) if on]
        joined = torch.cat(joined, dim=1) if joined else None
        xs = x.flatten(2).transpose(1, 2)  # (B, H·W, Cq)
        y = F.leaky_relu(_rows(self.input, xs, torch.cat([v, r], dim=1)))
        pixels = [xs] if self.propagate[0] else []
        for layer in self.layers:
            y = F.leaky_relu(_rows(layer, torch.cat([y, *pixels], dim=-1), joined))
        y = _rows(self.final, y, None).transpose(1, 2).reshape(b, -1, h, w)
        return F.relu(y) if self.end_relu else y

    def tiled(self, x: Tensor, pose: Tensor, representation: Tensor) -> Tensor:
        """The forward pass as the original runs it: representation and pose tiled to every
        pixel and concatenated (a map representation, the Tower's, takes this path)."""
        size = x.shape[-2:]
        r, v = _fit(representation, size), _tile(pose, size)
        extra = [t for t, on in zip((x, r, v), self.propagate, strict=True) if on]
        y = F.leaky_relu(self.input(torch.cat([x, v, r], dim=1)))
        for layer in self.layers:
            y = F.leaky_relu(layer(torch.cat([y, *extra], dim=1)))
        y = self.final(y)
        return F.relu(y) if self.end_relu else y


def _rows(layer: nn.Conv2d, pixels: Tensor, vector: Tensor | None) -> Tensor:
    """The 1×1 convolution ``layer`` of [pixels, vector tiled] concatenated (in that order),
    on pixels as rows (B, H·W, c): the vector's (B, k) share of the weights is a per-image
    bias. Returns (B, H·W, out)."""
    weight = layer.weight[:, :, 0, 0]
    c = pixels.shape[-1]
    out = F.linear(pixels, weight[:, :c])
    if vector is None:
        return out + layer.bias
    return out + F.linear(vector, weight[:, c:], layer.bias)[:, None, :]


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(),
        nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(),
    )  # fmt: skip


@register("cnsr-unet")
class UNetGenerator(_Generator):
    """The U-Net generator: double 3×3 convolutions at ``widths`` (max-pooled between levels,
    to 1×1 at 64 px with the original's seven levels), the representation and the camera joined
    at every encoder level, 4×4/2 transposed convolutions up, skips concatenated; a final 1×1.
    (B, Cq, H, W), (B, P), (B, r, h, w) → (B, out_channels, H, W); H and W multiples of
    2^(levels − 1). The original's widths (≈ 80.6 M parameters) are the default."""

    def __init__(
        self,
        query_channels: int = 7,
        representation_dim: int = 256,
        pose_dim: int = 16,
        out_channels: int = 3,
        widths: Sequence[int] = (128, 256, 512, 512, 512, 512, 512),
        end_relu: bool = True,
    ):
        widths = list(widths)
        if len(widths) < 2:
            raise ValueError(f"widths needs two levels or more, got {widths}")
        multiple = 2 ** (len(widths) - 1)
        super().__init__(query_channels, representation_dim, pose_dim, out_channels, multiple)
        self.end_relu = end_relu
        joined = representation_dim + pose_dim
        ins = [query_channels, *widths[:-1]]
        self.down = nn.ModuleList(
            _double_conv(i + joined, w) for i, w in zip(ins, widths, strict=True)
        )
        self.upscale = nn.ModuleList(
            nn.ConvTranspose2d(widths[k + 1], widths[k], 4, stride=2, padding=1)
            for k in reversed(range(len(widths) - 1))
        )
        self.up = nn.ModuleList(
            _double_conv(2 * widths[k], widths[k]) for k in reversed(range(len(widths) - 1))
        )
        self.final = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x: Tensor, pose: Tensor, representation: Tensor) -> Tensor:
        self._check(x)
        skips = []
        y = x
        for k, block in enumerate(self.down):
            if k:
                y = F.max_pool2d(y, 2)
            size = y.shape[-2:]
            y = block(torch.cat([y, _fit(representation, size), _tile(pose, size)], dim=1))
            skips.append(y)
        for upscale, block, skip in zip(self.upscale, self.up, reversed(skips[:-1]), strict=True):
            y = block(torch.cat([upscale(y), skip], dim=1))
        y = self.final(y)
        return F.relu(y) if self.end_relu else y


class _LSTMCore(nn.Module):
    """A convolutional LSTM cell (5×5): forget, input, output gates and the candidate state
    from [h, x]."""

    def __init__(self, inputs: int, state: int):
        super().__init__()
        self.gates = nn.Conv2d(state + inputs, 4 * state, 5, padding=2)

    def forward(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        f, i, o, s = self.gates(torch.cat([h, x], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(s)
        return torch.sigmoid(o) * torch.tanh(c), c


class _GRUCore(nn.Module):
    """A convolutional GRU cell (5×5): reset and update gates from [h, x], the candidate from
    [reset · h, x]."""

    def __init__(self, inputs: int, state: int):
        super().__init__()
        self.gates = nn.Conv2d(state + inputs, 2 * state, 5, padding=2)
        self.state = nn.Conv2d(state + inputs, state, 5, padding=2)

    def forward(self, x: Tensor, h: Tensor, c: Tensor | None = None) -> tuple[Tensor, None]:
        reset, update = torch.sigmoid(self.gates(torch.cat([h, x], dim=1))).chunk(2, dim=1)
        s = torch.tanh(self.state(torch.cat([reset * h, x], dim=1)))
        return h * (1 - update) + s * update, None


@register("cnsr-gqn")
class GQNGenerator(_Generator):
    """GQN's generator: ``core_count`` recurrent convolutional cores (LSTM or GRU, 5×5) at
    1/``downscaling`` of the resolution, each drawing a latent z and adding its state, upscaled,
    to a canvas; a 1×1 convolution of the canvas is the mean of log1p of the image.

    Training (``target`` given): an inference core reads the target and z is drawn from its
    posterior; the KL divergence from the prior is returned per image for the ELBO (the task
    adds the likelihood under σ annealed 2.0 → 0.7). Otherwise z is drawn from the prior.
    (B, Cq, H, W), (B, P), (B, r, h, w)[, target (B, out_channels, H, W), linear] →
    (log1p mean (B, out_channels, H, W), KL (B,)); H and W multiples of ``downscaling``.

    The original feeds the inference core the linear target, downsampled; here its log1p, the
    space the likelihood is in, so that HDR highlights do not saturate the cores.
    """

    def __init__(
        self,
        query_channels: int = 7,
        representation_dim: int = 256,
        pose_dim: int = 16,
        out_channels: int = 3,
        cell_type: str = "LSTM",
        latent_dim: int = 3,
        state_dim: int = 128,
        core_count: int = 12,
        downscaling: int = 4,
        weight_sharing: bool = False,
        upscale_sharing: bool = True,
    ):
        if cell_type not in ("LSTM", "GRU"):
            raise ValueError(f"cell_type must be 'LSTM' or 'GRU', got {cell_type!r}")
        super().__init__(query_channels, representation_dim, pose_dim, out_channels, downscaling)
        self.latent_dim, self.state_dim = latent_dim, state_dim
        self.core_count, self.downscaling = core_count, downscaling
        core = _LSTMCore if cell_type == "LSTM" else _GRUCore
        given = pose_dim + representation_dim
        cores = 1 if weight_sharing else core_count
        self.inference = nn.ModuleList(
            core(given + out_channels + state_dim, state_dim) for _ in range(cores)
        )
        self.generator = nn.ModuleList(
            core(given + latent_dim + query_channels, state_dim) for _ in range(cores)
        )
        self.prior = nn.Conv2d(state_dim, 2 * latent_dim, 5, padding=2)
        self.posterior = nn.Conv2d(state_dim, 2 * latent_dim, 5, padding=2)
        self.observation = nn.Conv2d(state_dim, out_channels, 1)
        # no biases: nothing is added that the input does not hold
        self.downsample = nn.Conv2d(
            query_channels, query_channels, downscaling, stride=downscaling, bias=False
        )
        self.upsample = nn.ModuleList(
            nn.ConvTranspose2d(state_dim, state_dim, downscaling, stride=downscaling, bias=False)
            for _ in range(1 if upscale_sharing else core_count)
        )

    @staticmethod
    def _normal(params: Tensor) -> torch.distributions.Normal:
        mean, scale = params.chunk(2, dim=1)
        return torch.distributions.Normal(mean, F.softplus(scale))

    def forward(
        self, x: Tensor, pose: Tensor, representation: Tensor, target: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        self._check(x)
        d = self.downscaling
        small = (x.shape[-2] // d, x.shape[-1] // d)
        given = torch.cat([_tile(pose, small), _fit(representation, small)], dim=1)
        x_small = self.downsample(x)
        y_small = None if target is None else F.interpolate(torch.log1p(target), size=small)
        zeros = x.new_zeros(x.shape[0], self.state_dim, *small)
        gen_h, gen_c, inf_h, inf_c = zeros, zeros, zeros, zeros
        canvas = x.new_zeros(x.shape[0], self.state_dim, *x.shape[-2:])
        kl = x.new_zeros(x.shape[0])
        for k in range(self.core_count):
            prior = self._normal(self.prior(gen_h))
            if y_small is None:
                z = prior.sample()
            else:
                cell = self.inference[k % len(self.inference)]
                inf_h, inf_c = cell(torch.cat([gen_h, y_small, given], dim=1), inf_h, inf_c)
                posterior = self._normal(self.posterior(inf_h))
                z = posterior.rsample()
                kl = kl + torch.distributions.kl_divergence(posterior, prior).sum(dim=(1, 2, 3))
            cell = self.generator[k % len(self.generator)]
            gen_h, gen_c = cell(torch.cat([given, z, x_small], dim=1), gen_h, gen_c)
            canvas = canvas + self.upsample[k % len(self.upsample)](gen_h)
        return self.observation(canvas), kl


ENCODERS = ("cnsr-pool", "cnsr-tower", "cnsr-pyramid")
GENERATORS = ("cnsr-pixel", "cnsr-unet", "cnsr-gqn")
HELPERS = ("sum", "copy")
"""The original's helpers in a chain: ``sum`` adds its query passes (linear radiance: direct +
indirect → beauty); ``copy`` runs generator ``index`` of the chain again (its weights) on its
own passes."""
LINK_KEYS = {"name", "args", "query_passes", "output_passes", "override_train",
             "override_sample", "detach", "discard_loss", "index"}  # fmt: skip


class _Sum(nn.Module):
    """The original's Sum generator: its query buffers, each ``channels`` wide, added."""

    def __init__(self, channels: int, count: int):
        super().__init__()
        self.channels, self.count = channels, count

    def forward(self, x: Tensor, pose: Tensor, representation: Tensor) -> Tensor:
        return x.unflatten(1, (self.count, self.channels)).sum(dim=1)


@register("cnsr")
class CNSR(nn.Module):
    """CNSR's whole model as one module (one optimiser, one checkpoint): an ``encoder``, the
    ``partition`` and a ``generator``, each a model spec ``{"name", "args"}`` of this file's
    (defaults: Pool, the partition's defaults, Pixel); ``representation_dim`` (the original's
    key), when given, is every part's unless its own args say otherwise.

    forward(observed (B, K, C, H, W), observed_pose (B, K, P), query (B, Cq, H', W'),
    query_pose (B, P), factor=None, target=None) → (prediction (B, out_channels, H', W'),
    the scenes' representations (B, r, h, w), the partition loss (scalar), the KL of GQN's
    ELBO per scene (B,), zeros for the other generators). ``factor``: the factor a training
    batch varies (0 lighting, 1 geometry, 2 material) or None; ``target``: the query's image
    (linear), which only GQN reads, in training.

    **A chain of generators** (the original's ``generators`` list) instead of one: give
    ``generators``, a list of links ``{"name", "args", "query_passes", "output_passes",
    "override_train", "override_sample", "detach", "discard_loss"}`` (a ``copy`` link names
    the ``index`` of the generator it runs again) and ``pass_channels`` ({buffer: channels}).
    Link i reads its query passes, concatenated, from the query's buffers as overridden so
    far: a link with ``override_train`` (in training) or ``override_sample`` (otherwise)
    replaces the buffers named by its output passes with what it predicted, linear (detached
    with ``detach``), for the links after it. Then ``query`` and ``target`` are dicts of
    named buffers, the prediction is a list: each link's output, its ``output_passes``
    concatenated (log1p for a learned generator, linear for ``sum``), and the KL is per link
    (links, B). A link's loss is left out with ``discard_loss`` (the task reads it).
    """

    def __init__(
        self,
        encoder: dict[str, Any] | None = None,
        partition: dict[str, Any] | None = None,
        generator: dict[str, Any] | None = None,
        representation_dim: int | None = None,
        generators: list[dict[str, Any]] | None = None,
        pass_channels: dict[str, int] | None = None,
    ):
        super().__init__()
        from neuralshade.models import build  # the registry imports this file

        if generators is not None and generator is not None:
            raise ValueError("give generator or generators (a chain), not both")

        def part(key: str, spec: dict[str, Any] | None, default: str, allowed, **extra):
            spec = dict(spec or {})
            name = spec.pop("name", default)
            if name not in allowed:
                raise ValueError(f"{key} must be one of {', '.join(allowed)}, got {name!r}")
            unknown = set(spec) - {"args"}
            if unknown:
                raise ValueError(f"{key}: a spec holds name and args, not {sorted(unknown)}")
            args = {**extra, **spec.get("args", {})}
            if representation_dim is not None:
                args.setdefault("representation_dim", representation_dim)
            return build(name, **args)

        self._pass_channels = dict(pass_channels or {})
        self.encoder = part("encoder", encoder, "cnsr-pool", ENCODERS)
        self.partition = part("partition", partition, "cnsr-partition", ("cnsr-partition",))
        self.links: list[dict[str, Any]] = []
        if generators is None:
            self.generator = part("generator", generator, "cnsr-pixel", GENERATORS)
            learned = [self.generator]
        else:
            self.generator = None
            learned = self._chain(generators, dict(pass_channels or {}), part)
        dims = {"encoder": self.encoder.representation_dim,
                "partition": self.partition.representation_dim,
                **{f"generator {i}": g.representation_dim for i, g in enumerate(learned)}}
        if len(set(dims.values())) > 1:  # fmt: skip
            raise ValueError(f"representation_dim differs between the parts: {dims}")
        for g in learned:
            if self.encoder.pose_dim != g.pose_dim:
                raise ValueError(
                    f"pose_dim differs: encoder {self.encoder.pose_dim}, generator {g.pose_dim}"
                )
        last = learned[-1] if generators is None else None
        self.in_channels = self.encoder.in_channels
        self.out_channels = last.out_channels if last is not None else sum(
            dict(pass_channels or {})[p] for p in self.links[-1]["output_passes"]
        )  # fmt: skip
        self.representation_dim = self.encoder.representation_dim

    def _chain(self, links: list[dict[str, Any]], channels: dict[str, int], part) -> list:
        """Build the chain's generators (``self.chain``: the learned ones, a copy sharing its
        original's module) and check each link's passes; returns the learned generators."""
        if not links:
            raise ValueError("generators: give one link or more")
        self.chain = nn.ModuleList()
        modules: list[nn.Module] = []  # per link: its module (a copy: its original's)
        for i, link in enumerate(links):
            link = dict(link)
            unknown = set(link) - LINK_KEYS
            if unknown:
                raise ValueError(f"generators[{i}]: unknown keys {sorted(unknown)}; "
                                 f"known: {sorted(LINK_KEYS)}")  # fmt: skip
            name = link.get("name", "cnsr-pixel")
            queries = list(link.get("query_passes", []))
            outputs = list(link.get("output_passes", []))
            missing = [p for p in (*queries, *outputs) if p not in channels]
            if missing or not outputs:
                raise ValueError(f"generators[{i}]: needs output_passes, and pass_channels for "
                                 f"every pass (missing: {missing})")  # fmt: skip
            width = sum(channels[p] for p in queries)
            out = sum(channels[p] for p in outputs)
            if name == "sum":
                widths = {channels[p] for p in queries}
                if len(queries) < 2 or len(widths) > 1 or widths != {out}:
                    raise ValueError(f"generators[{i}]: sum adds 2 or more query passes as wide "
                                     "as its output")  # fmt: skip
                module: nn.Module = _Sum(out, len(queries))
            elif name == "copy":
                j = link.get("index")
                if not isinstance(j, int) or not 0 <= j < i or links[j].get("name") in HELPERS:
                    raise ValueError(f"generators[{i}]: copy needs the index of an earlier "
                                     "learned generator")  # fmt: skip
                module = modules[j]
                if (module.query_channels, module.out_channels) != (width, out):
                    raise ValueError(f"generators[{i}]: its passes are not as wide as "
                                     f"generator {j}'s")  # fmt: skip
            else:
                spec = {"name": name, "args": link.get("args", {})}
                module = part(f"generators[{i}]", spec, "cnsr-pixel", GENERATORS,
                              query_channels=width, out_channels=out)  # fmt: skip
                self.chain.append(module)
            modules.append(module)
            self.links.append({
                "name": name, "query_passes": queries, "output_passes": outputs,
                "override_train": bool(link.get("override_train", False)),
                "override_sample": bool(link.get("override_sample", False)),
                "detach": bool(link.get("detach", False)),
                "discard_loss": bool(link.get("discard_loss", False)),
                "channels": [channels[p] for p in outputs],
            })  # fmt: skip
        self._modules_of_links = modules
        return list(self.chain)

    def spec_args(self) -> dict[str, Any]:
        """Every part's complete spec (its defaults filled in), so a sidecar rebuilds it."""
        out = {k: getattr(self, k).spec for k in ("encoder", "partition")}
        if self.generator is not None:
            return {**out, "generator": self.generator.spec}
        links = []
        for link, module in zip(self.links, self._modules_of_links, strict=True):
            entry = {k: v for k, v in link.items() if k != "channels"}
            if link["name"] in GENERATORS:
                entry["args"] = {k: v for k, v in module.spec["args"].items()
                                 if k not in ("query_channels", "out_channels")}  # fmt: skip
            elif link["name"] == "copy":
                entry["index"] = self._modules_of_links.index(module)
            links.append(entry)
        return {**out, "generators": links, "pass_channels": dict(self._pass_channels)}

    def example_inputs(self, batch: int = 2) -> tuple[Any, ...]:
        """Three observed views of ``batch`` scenes and a query view, as it takes them (a
        chain: every pass it names, by name)."""
        views, poses = self.encoder.example_inputs(3 * batch)
        first = self.generator if self.generator is not None else self._modules_of_links[0]
        query, query_pose, _ = first.example_inputs(batch)
        if self.generator is None:
            query = {p: torch.rand(batch, c, *query.shape[-2:])
                     for p, c in self._pass_channels.items()}  # fmt: skip
        return views.unflatten(0, (batch, 3)), poses.unflatten(0, (batch, 3)), query, query_pose

    def forward(
        self,
        observed: Tensor,
        observed_pose: Tensor,
        query: Tensor | dict[str, Tensor],
        query_pose: Tensor,
        factor: int | None = None,
        target: Tensor | dict[str, Tensor] | None = None,
    ) -> tuple[Any, Tensor, Tensor, Tensor]:
        b, k = observed.shape[:2]
        views = self.encoder(observed.flatten(0, 1), observed_pose.flatten(0, 1))
        representation, partition_loss = self.partition(views.unflatten(0, (b, k)), factor)
        if self.generator is None:
            outs, kl = self.run_chain(query, query_pose, representation, target)
            return outs, representation, partition_loss, kl
        out, kl = _generate(self.generator, query, query_pose, representation, target)
        return out, representation, partition_loss, kl

    def run_chain(
        self,
        buffers: dict[str, Tensor],
        pose: Tensor,
        representation: Tensor,
        target: dict[str, Tensor] | None = None,
    ) -> tuple[list[Tensor], Tensor]:
        """Each link's output (its output passes concatenated) and each link's KL (links, B):
        zeros but for a GQN link given its target."""
        state = dict(buffers)
        outs, kls = [], []
        for link, module in zip(self.links, self._modules_of_links, strict=True):
            x = torch.cat([state[p] for p in link["query_passes"]], dim=1)
            want = None
            if target is not None and isinstance(module, GQNGenerator):
                want = torch.cat([target[p] for p in link["output_passes"]], dim=1)
            out, kl = _generate(module, x, pose, representation, want)
            outs.append(out)
            kls.append(kl)
            if link["override_train"] if self.training else link["override_sample"]:
                linear = out if link["name"] == "sum" else torch.expm1(out).clamp(min=0)
                linear = linear.detach() if link["detach"] else linear
                state.update(zip(link["output_passes"],
                                 linear.split(link["channels"], dim=1), strict=True))  # fmt: skip
        return outs, torch.stack(kls)


def _generate(module: nn.Module, x: Tensor, pose: Tensor, representation: Tensor,
              target: Tensor | None) -> tuple[Tensor, Tensor]:  # fmt: skip
    """A generator's output and its KL (zeros but for GQN, which reads ``target``)."""
    if isinstance(module, GQNGenerator):
        return module(x, pose, representation, target)
    return module(x, pose, representation), x.new_zeros(x.shape[0])

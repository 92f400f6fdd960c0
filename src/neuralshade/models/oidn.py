"""Open Image Denoise's U-Net in torch, able to start from the weights OIDN ships.

Intel Open Image Denoise (OIDN 2.x, Apache-2.0) runs one U-Net per kind of input; for a noisy
HDR render with its albedo and normal it is ``rt_hdr_alb_nrm`` (quality ``high`` and
``balanced``) or ``rt_hdr_alb_nrm_small`` (``fast``). :class:`OIDNUNet` is that network with
OIDN's input and output processing around it, so that with OIDN's weights
(:func:`oidn_weights`) it gives OIDN's own output (``tests/models/test_oidn_unet.py``: to
3e-5 of the library's), and trained on from them it is OIDN fine-tuned to a renderer's
scenes: the ``denoise`` task's ``init: {net: {checkpoint: "oidn:rt_hdr_alb_nrm"}}``.

The network (OIDN's ``training/model.py``, read to write this one): 3 × 3 convolutions with
ReLU; encoder ``enc_conv0``, ``enc_conv1`` at full resolution, then ``enc_conv2..4`` each after
a 2 × 2 max pool, ``enc_conv5a/b`` after a fourth; decoder levels 4 to 1, each a nearest 2×
upsampling concatenated with the encoder's output at that resolution (the input itself at
level 1) and two convolutions; ``dec_conv0`` → the colour, no activation. Widths (``size``):

    base   32 32 48 64 80 96 96 | 112 112  96 96  64 64  64 32 | 3
    small  32 32 32 32 32 32 32 |  64  64  64 64  64 32  32 32 | 3

Input processing, as OIDN's CPU device does it (``HDR`` mode, the transfer function ``PU``):

- colour × the exposure (:func:`autoexposure`: 0.18 over the geometric mean of the luminance
  of 16 × 16-pixel bins, over the bins brighter than 1e-8), NaN → 0, clamped to [0, 65504],
  then the PU curve (Aydin et al. 2008's perceptually uniform encoding, fitted at 100 cd/m²)
  normalised so that 65504 → 1;
- albedo: NaN → 0, clamped to [0, 1]; normal: NaN → 0, clamped to [-1, 1], then × 0.5 + 0.5;
- zero padding on the right and bottom to a multiple of 16.

Output: the network's colour, clamped to [0, 1], through the inverse PU curve, ÷ the
exposure: linear HDR light (B, 3, H, W). Not clamped at 0 below (OIDN's inverse transfer is
linear there), so training sees a gradient for a colour that dips below zero; the task clamps
what it returns.

The exposure is the image's own: a tile of a larger image would take its own; :meth:`whole_image`
fixes it for the calls inside (``infer.predict`` sets the whole image's before tiling).

Shapes: input (B, 3 | 6 | 9, H, W): colour, then albedo, then normal; output (B, 3, H, W).
"""

from __future__ import annotations

import contextlib
import functools
import struct
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuralshade.errors import ConfigError
from neuralshade.models import register

#: the widths of OIDN's ``unet`` and ``unet_small``: encoder convs 0, 1, 2, 3, 4, 5a, 5b;
#: decoder convs 4a, 4b, 3a, 3b, 2a, 2b, 1a, 1b
SIZES = {
    "base": ((32, 32, 48, 64, 80, 96, 96), (112, 112, 96, 96, 64, 64, 64, 32)),
    "small": ((32, 32, 32, 32, 32, 32, 32), (64, 64, 64, 64, 64, 32, 32, 32)),
}
#: OIDN's receptive field of ``unet`` in pixels (``core/unet_filter.h``)
RECEPTIVE_FIELD = 174
ALIGNMENT = 16  # four 2 × 2 pools

# the PU curve's fit (OIDN's core/color.h, training/color.py)
PU_A, PU_B, PU_C, PU_D = 1.41283765e03, 1.64593172e00, 4.31384981e-01, -2.94139609e-03
PU_E, PU_F, PU_G = 1.92653254e-01, 6.26026094e-03, 9.98620152e-01
PU_Y0, PU_Y1 = 1.57945760e-06, 3.22087631e-02
PU_X0, PU_X1 = 2.23151711e-03, 3.70974749e-01
HDR_MAX = 65504.0  # the largest half float: the brightest light OIDN takes
LUMA = (0.212671, 0.715160, 0.072169)
EXPOSURE_KEY, EXPOSURE_BIN, EXPOSURE_EPS = 0.18, 16, 1e-8


def _pu(y: Tensor) -> Tensor:
    """The PU curve, y ≥ 0 (linear) → x, unnormalised."""
    low = PU_A * y
    mid = PU_B * y.clamp_min(PU_Y0).pow(PU_C) + PU_D
    high = PU_E * torch.log(y.clamp_min(PU_Y1) + PU_F) + PU_G
    return torch.where(y <= PU_Y0, low, torch.where(y <= PU_Y1, mid, high))


def _pu_inverse(x: Tensor) -> Tensor:
    """Inverse of :func:`_pu`."""
    low = x / PU_A
    mid = ((x.clamp_min(PU_X0) - PU_D) / PU_B).pow(1.0 / PU_C)
    high = torch.exp((x.clamp_min(PU_X1) - PU_G) / PU_E) - PU_F
    return torch.where(x <= PU_X0, low, torch.where(x <= PU_X1, mid, high))


PU_NORM = float(_pu(torch.tensor(HDR_MAX, dtype=torch.float64)))


def pu_forward(y: Tensor) -> Tensor:
    """Linear light in [0, 65504] → [0, 1], OIDN's ``PU`` transfer function."""
    return _pu(y) / PU_NORM


def pu_inverse(x: Tensor) -> Tensor:
    """[0, 1] → linear light, the inverse of :func:`pu_forward`."""
    return _pu_inverse(x * PU_NORM)


def autoexposure(color: Tensor) -> Tensor:
    """OIDN's exposure of HDR colours (B, 3, H, W) → (B,): ``0.18 / 2^mean(log2 L)`` over the
    mean luminances L of ceil(H/16) × ceil(W/16) bins (bin i spans rows i·H//n to
    (i+1)·H//n), those above 1e-8; 1 where none is."""
    h, w = color.shape[-2:]
    c = torch.nan_to_num(color, nan=0.0, posinf=0.0, neginf=0.0).clamp_min(0.0).clamp_max(HDR_MAX)
    lum = sum(k * c[:, i] for i, k in enumerate(LUMA))  # (B, H, W)
    # bin sums as matrix products with each axis's 0/1 bin membership (exportable to ONNX at
    # any size: no indexing by computed positions)
    rows, cols = _bins(h, color.device), _bins(w, color.device)  # (nh, H), (nw, W)
    sums = rows @ lum.double() @ cols.T  # float64: exact enough at any size
    area = rows.sum(1)[:, None] * cols.sum(1)[None, :]
    mean = (sums / area).flatten(1)
    valid = mean > EXPOSURE_EPS
    logs = torch.where(valid, torch.log2(mean.clamp_min(EXPOSURE_EPS)), 0.0).sum(1)
    count = valid.sum(1)
    exposure = EXPOSURE_KEY / torch.exp2(logs / count.clamp_min(1))
    return torch.where(count > 0, exposure, 1.0).to(color.dtype)


def _bins(n: int, device: torch.device) -> Tensor:
    """(bins, n) float64: row i marks pixels i·n//bins to (i+1)·n//bins − 1, bins = ⌈n/16⌉."""
    bins = (n + EXPOSURE_BIN - 1) // EXPOSURE_BIN
    edges = torch.arange(bins + 1, device=device) * n // bins
    pixel = torch.arange(n, device=device)
    inside = (pixel[None, :] >= edges[:-1, None]) & (pixel[None, :] < edges[1:, None])
    return inside.double()


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


@register("oidn-unet")
class OIDNUNet(nn.Module):
    """OIDN's ``unet`` (``size="base"``) or ``unet_small`` (``"small"``) with its HDR input
    and output processing (the module's docs). (B, in_channels, H, W) → (B, 3, H, W).

    Args:
        in_channels: 3 (colour), 6 (+ albedo) or 9 (+ normal), OIDN's order.
        out_channels: 3.
        size: ``"base"`` or ``"small"`` (:data:`SIZES`).
    """

    border_is_ground = True  # pads right and bottom itself, as OIDN does: runs on bare images
    min_size = 1

    def __init__(self, in_channels: int = 9, out_channels: int = 3, size: str = "base"):
        super().__init__()
        if in_channels not in (3, 6, 9):
            raise ConfigError(
                f"oidn-unet reads a colour, an albedo and a normal (3, 6 or 9 channels), "
                f"got in_channels={in_channels}"
            )
        if out_channels != 3:
            raise ConfigError(f"oidn-unet predicts a colour (3 channels), got {out_channels}")
        if size not in SIZES:
            raise ConfigError(f"oidn-unet size must be one of {sorted(SIZES)}, got {size!r}")
        self.in_channels, self.out_channels, self.size = in_channels, out_channels, size
        (e0, e1, e2, e3, e4, e5a, e5b), (d4a, d4b, d3a, d3b, d2a, d2b, d1a, d1b) = SIZES[size]
        ic = in_channels
        self.enc_conv0, self.enc_conv1 = _conv(ic, e0), _conv(e0, e1)
        self.enc_conv2, self.enc_conv3, self.enc_conv4 = _conv(e1, e2), _conv(e2, e3), _conv(e3, e4)
        self.enc_conv5a, self.enc_conv5b = _conv(e4, e5a), _conv(e5a, e5b)
        self.dec_conv4a, self.dec_conv4b = _conv(e5b + e3, d4a), _conv(d4a, d4b)
        self.dec_conv3a, self.dec_conv3b = _conv(d4b + e2, d3a), _conv(d3a, d3b)
        self.dec_conv2a, self.dec_conv2b = _conv(d3b + e1, d2a), _conv(d2a, d2b)
        self.dec_conv1a, self.dec_conv1b = _conv(d2b + ic, d1a), _conv(d1a, d1b)
        self.dec_conv0 = _conv(d1b, out_channels)
        self.receptive_field = RECEPTIVE_FIELD
        self.strides = (ALIGNMENT,)
        self._exposure: Tensor | None = None

    @contextlib.contextmanager
    def whole_image(self, x: Tensor) -> Iterator[None]:
        """Calls inside take the exposure of the input ``x`` (B or 1, C, H, W): a whole
        image's, for its tiles."""
        previous, self._exposure = self._exposure, autoexposure(x[:, :3])
        try:
            yield
        finally:
            self._exposure = previous

    def process_input(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Raw buffers (B, C, H, W) → the network's input (OIDN's input processing), and the
        exposure (B, 1, 1, 1)."""
        color = x[:, :3]
        exposure = autoexposure(color) if self._exposure is None else self._exposure
        exposure = exposure.to(x).reshape(-1, 1, 1, 1)
        clean = torch.nan_to_num(x, nan=0.0, posinf=HDR_MAX, neginf=0.0)
        parts = [pu_forward((clean[:, :3] * exposure).clamp_min(0.0).clamp_max(HDR_MAX))]
        if self.in_channels >= 6:
            parts.append(clean[:, 3:6].clamp_min(0.0).clamp_max(1.0))
        if self.in_channels == 9:
            parts.append(clean[:, 6:9].clamp_min(-1.0).clamp_max(1.0) * 0.5 + 0.5)
        return torch.cat(parts, 1), exposure

    def network(self, x: Tensor) -> Tensor:
        """The U-Net alone on processed input (B, C, H, W), H and W multiples of 16."""
        relu, pool = F.relu, functools.partial(F.max_pool2d, kernel_size=2, stride=2)

        def up(t: Tensor) -> Tensor:
            return F.interpolate(t, scale_factor=2.0, mode="nearest")

        x = x.contiguous(memory_format=torch.channels_last)  # faster convolutions on a CPU
        y = relu(self.enc_conv0(x))
        pool1 = pool(relu(self.enc_conv1(y)))
        pool2 = pool(relu(self.enc_conv2(pool1)))
        pool3 = pool(relu(self.enc_conv3(pool2)))
        y = pool(relu(self.enc_conv4(pool3)))
        y = relu(self.enc_conv5b(relu(self.enc_conv5a(y))))
        y = relu(self.dec_conv4b(relu(self.dec_conv4a(torch.cat((up(y), pool3), 1)))))
        y = relu(self.dec_conv3b(relu(self.dec_conv3a(torch.cat((up(y), pool2), 1)))))
        y = relu(self.dec_conv2b(relu(self.dec_conv2a(torch.cat((up(y), pool1), 1)))))
        y = relu(self.dec_conv1b(relu(self.dec_conv1a(torch.cat((up(y), x), 1)))))
        return self.dec_conv0(y)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"oidn-unet takes (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        inp, exposure = self.process_input(x)
        inp = F.pad(inp, (0, (ALIGNMENT - w % ALIGNMENT) % ALIGNMENT,
                          0, (ALIGNMENT - h % ALIGNMENT) % ALIGNMENT))  # fmt: skip
        out = self.network(inp)[..., :h, :w]
        return pu_inverse(out.clamp_max(1.0)) / exposure

    def example_inputs(self) -> tuple[Tensor]:
        x = torch.rand(1, self.in_channels, 32, 32) * 2
        if self.in_channels == 9:
            x[:, 6:] = x[:, 6:] - 1
        return (x,)


# ---- OIDN's own weights


def _elf_symbol(data: bytes, name: str) -> bytes:
    """The bytes of the defined symbol ``name`` of an ELF64 little-endian file."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ConfigError("OIDN's library is not a 64-bit little-endian ELF file")
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)
    ]
    wanted = name.encode()
    for _, kind, _, _, offset, size, link, _, _, entsize in sections:
        if kind not in (2, 11):  # SHT_SYMTAB, SHT_DYNSYM
            continue
        strings = sections[link][4]
        for j in range(size // entsize):
            sname, _, _, index, value, ssize = struct.unpack_from(
                "<IBBHQQ", data, offset + j * entsize
            )
            start = strings + sname
            if data[start : start + len(wanted) + 1] != wanted + b"\0" or not 0 < index < shnum:
                continue
            _, _, _, address, section_offset, *_ = sections[index]
            at = value - address + section_offset
            return data[at : at + ssize]
    raise ConfigError(f"OIDN's library has no symbol {name}")


def parse_tza(blob: bytes) -> dict[str, np.ndarray]:
    """OIDN's TZA weights format (version 2): magic 0x41D7, a table of named tensors (name,
    dims, layout ``x``/``oihw``, type ``f``/``h``, offset) → {name: float32 array}."""
    if len(blob) < 12 or struct.unpack_from("<H", blob, 0)[0] != 0x41D7 or blob[2] != 2:
        raise ConfigError("not an OIDN weights blob (TZA version 2)")
    (at,) = struct.unpack_from("<Q", blob, 4)
    (count,) = struct.unpack_from("<I", blob, at)
    at += 4
    tensors = {}
    for _ in range(count):
        (length,) = struct.unpack_from("<H", blob, at)
        name = blob[at + 2 : at + 2 + length].decode()
        at += 2 + length
        ndims = blob[at]
        dims = struct.unpack_from(f"<{ndims}I", blob, at + 1)
        at += 1 + 4 * ndims + ndims  # dims, then the layout's letters
        kind = chr(blob[at])
        (offset,) = struct.unpack_from("<Q", blob, at + 1)
        at += 9
        dtype = {"f": np.float32, "h": np.float16}[kind]
        values = np.frombuffer(blob, dtype, int(np.prod(dims)), offset).reshape(dims)
        tensors[name] = values.astype(np.float32)
    return tensors


@functools.cache
def oidn_weights(name: str = "rt_hdr_alb_nrm") -> dict[str, Tensor]:
    """OIDN's trained weights ``name`` (``rt_hdr_alb_nrm``: HDR colour + albedo + normal,
    quality high; ``rt_hdr_alb_nrm_small``: fast; ``rt_hdr``, ``rt_hdr_alb``, …) as an
    :class:`OIDNUNet` state dict, read from the installed pyoidn's library (nothing is
    downloaded). Unknown name → ConfigError."""
    from neuralshade.baselines.oidn import library

    data = library("OpenImageDenoise_core").read_bytes()
    blob = _elf_symbol(data, f"_ZN4oidn5blobs7weights{len(name)}{name}E")
    return {k: torch.from_numpy(v) for k, v in parse_tza(blob).items()}


def from_oidn(name: str = "rt_hdr_alb_nrm") -> OIDNUNet:
    """An :class:`OIDNUNet` holding OIDN's weights ``name``: OIDN itself, in torch."""
    weights = oidn_weights(name)
    size = "small" if weights["enc_conv2.weight"].shape[0] == SIZES["small"][0][2] else "base"
    from neuralshade.models import build

    model = build("oidn-unet", in_channels=weights["enc_conv0.weight"].shape[1], size=size)
    model.load_state_dict(weights)
    return model


def blend(
    state: dict[str, Tensor], alpha: float, base: str = "rt_hdr_alb_nrm"
) -> dict[str, Tensor]:
    """Weights α·``state`` + (1 − α)·OIDN's ``base``: WiSE-FT (Wortsman et al., "Robust
    fine-tuning of zero-shot models", CVPR 2022), the fine-tuned network interpolated back
    towards the one it started from, which keeps most of the fine-tuning's gain on its own data
    and most of the original's robustness elsewhere. α = 1: ``state``; 0: OIDN's."""
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"blend alpha must lie in [0, 1], got {alpha}")
    shipped = oidn_weights(base)
    if set(shipped) != set(state) or any(shipped[k].shape != state[k].shape for k in state):
        raise ConfigError(f"these weights are not of OIDN's {base} network: cannot blend them")
    return {k: alpha * v.detach().float() + (1.0 - alpha) * shipped[k] for k, v in state.items()}

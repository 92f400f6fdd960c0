"""KPCN (Bako, Vogels et al., SIGGRAPH 2017): a path tracer's noisy buffers to denoised radiance.

Kernel-Predicting Convolutional Networks for Denoising Monte Carlo Renderings, as published
(``REFERENCES.md``, "Monte Carlo denoising"). The image is denoised as two components with
two networks of the same architecture and separate weights, and recombined:

    diffuse  → ÷ (albedo + ε) ──→ branch "diffuse"  ──→ × (albedo + ε) ─┐
                                                                        + → radiance
    specular → log(1 + s) ──────→ branch "specular" ──→ exp(·) − 1 ─────┘

A branch is ``layers`` (8) convs of ``conv_kernel`` × ``conv_kernel`` (5 × 5, zero-padded,
with bias), ``width`` (100) channels, ReLU after every conv but the last. The last conv
outputs, per pixel:

- ``mode="kernel"`` (KPCN): ``kernel_size``² (21² = 441) weights, softmax-normalised, that
  average the branch's own preprocessed noisy colour over the pixel's ``kernel_size`` ×
  ``kernel_size`` neighbourhood (:func:`apply_kernels`);
- ``mode="direct"`` (DPCN, the paper's direct-prediction variant): the branch's colour itself.

At the defaults: 2,688,641 parameters per branch in kernel mode, 1,593,203 in direct mode
(``tests/models/test_kpcn.py`` derives them layer by layer).

Input: (B, 26, H, W), the raw linear buffers a path tracer writes (the names and meaning of
``render/mitsuba/gbuffer.py``), in this order (:data:`LAYOUT`):

    channels  buffer
    0-2       diffuse            per-pixel mean (noisy), linear radiance
    3-5       diffuse_variance   per channel, the variance of that mean
    6-8       specular           per-pixel mean, linear radiance
    9-11      specular_variance
    12-14     albedo             per-pixel mean, in [0, 1]
    15-17     albedo_variance
    18-20     normal             per-pixel mean, world space, in [-1, 1]
    21-23     normal_variance
    24        depth              per-pixel mean, world units, 0 where nothing was hit
    25        depth_variance

Preprocessing, inside ``forward`` (:meth:`KPCN.preprocess`), as KPCN's:

- diffuse demodulated, d / (albedo + ε), its variance by the same factor squared;
- specular as log(1 + s) (s clamped to >= 0 first), its variance by the delta method,
  var / (1 + s)²;
- each variance reduced to one channel, the mean over its channels;
- depth divided by the image's largest depth (per batch item; by 1 where all depths are 0)
  into [0, 1], its variance by the same factor squared;
- horizontal and vertical gradients (:func:`gradients`: forward differences, 0 in the last
  column and row) of the branch's colour and of the features (albedo, normal, depth).

Each branch reads (B, 34, H, W) (:data:`BRANCH_CHANNELS`): its colour (3), its variance (1),
the colour's gradients (6), then the features both share: albedo, normal, depth (7), their
variances (3) and gradients (14). ε = 0.00316, the paper's (and the value public
re-implementations of KPCN use).

Output: (B, 3, H, W), diffuse × (albedo + ε) + max(exp(specular) − 1, 0), linear radiance.

Training, as KPCN: :meth:`KPCN.branches` gives each branch's prediction in its own domain
(demodulated diffuse, log specular), and :meth:`KPCN.transform` maps the reference diffuse and
specular buffers into the same domains (with the *input's* albedo, the one the output is
remodulated with); one L1 loss per branch. As the branches share no weight, the sum of the
two losses trains each exactly as training it alone would (unless a clip of the gradients'
global norm couples them). ``forward`` gives the recombined
image, so a task can also fine-tune both on it.

What we chose, where the paper says nothing or we could not check it:

- **Border of the kernels.** The softmax runs over the taps inside the image only
  (:func:`kernel_weights`; the others get weight 0): away from the border that is the
  paper's softmax over all k² taps, and at the border a kernel stays a weighted average of
  the pixels it has, so a constant image stays constant (the test). Plain zero padding would
  darken a border ``kernel_size // 2`` wide; dividing by the weights' in-image sum after a
  plain softmax would do the same as ours in exact arithmetic, but where a kernel puts all
  its weight beyond the border its in-image weights underflow to 0 and the division to 0 / 0
  (we met it in a random net).
- **Applying the kernels.** For each of the ``kernel_size`` rows of a kernel, a strided view
  of the row's horizontal neighbours (``Tensor.unfold``, no copy) times that row's weights,
  summed (:func:`apply_kernels`). Measured at 128², k = 21, one CPU thread: 20 ms forward,
  140 ms forward + backward, against 163 / 311 ms for ``F.unfold`` of all k² taps at once,
  which holds 3·k² floats a pixel (87 MB at 128², 5.5 GB at 1024²; this holds 3·k, 21 times
  less); a loop over the k² shifted images runs as fast but took six minutes to export to
  ONNX (441 dynamic slices), this one 17 s. The masked softmax costs 56 ms at that size, a
  plain one 24.
- **Gradients.** Forward differences, of the preprocessed colour and features (the buffers
  the branch reads), zero in the last column and row, where the next pixel is missing.
- **Initialisation.** Xavier-uniform weights and zero biases; the paper initialises with
  Xavier's method, as we read it (``REFERENCES.md`` does not say).
- **Outputs.** The specular output is clamped to >= 0 after exp(·) − 1 (a direct-mode
  prediction may go below 0; a kernel's average of log(1 + s) >= 0 cannot); the diffuse is not.

Reach: one output pixel depends on input pixels up to ``receptive_field // 2`` away
(:func:`receptive_field`), and on the whole image's largest depth, which normalises the depth.
So a tiled inference (``neuralshade.infer`` tiles above 2048² pixels) normalises each tile's
depth by the tile's own largest depth, not the image's.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from neuralshade.errors import InputError
from neuralshade.models import register
from neuralshade.models.unet import check_int

#: the input's buffers, in order, and their channels
LAYOUT: tuple[tuple[str, int], ...] = (
    ("diffuse", 3),
    ("diffuse_variance", 3),
    ("specular", 3),
    ("specular_variance", 3),
    ("albedo", 3),
    ("albedo_variance", 3),
    ("normal", 3),
    ("normal_variance", 3),
    ("depth", 1),
    ("depth_variance", 1),
)
IN_CHANNELS = sum(c for _, c in LAYOUT)  # 26
OUT_CHANNELS = 3
#: the albedo's ε in the diffuse demodulation, the paper's
EPS = 0.00316
MODES = ("kernel", "direct")
_BRANCHES = ("diffuse", "specular")
#: the channels each branch reads:
#:   colour 3 + its variance 1 + its x, y gradients 6                                    = 10
#:   features albedo 3 + normal 3 + depth 1 = 7, their variances 3, their gradients 14  = 24
BRANCH_CHANNELS = 34


def split(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The input's buffers by name, as views: (B, 26, H, W) -> {name: (B, c, H, W)}, the names
    and channel counts c of :data:`LAYOUT`."""
    if x.ndim != 4 or x.shape[1] != IN_CHANNELS:
        raise InputError(
            f"KPCN expects input (B, {IN_CHANNELS}, H, W) ({', '.join(n for n, _ in LAYOUT)}), "
            f"got shape {tuple(x.shape)}"
        )
    return dict(zip([n for n, _ in LAYOUT], x.split([c for _, c in LAYOUT], dim=1), strict=True))


def gradients(x: torch.Tensor) -> torch.Tensor:
    """Forward differences: (B, C, H, W) -> (B, 2C, H, W), the C horizontal ones
    x[.., i, j+1] − x[.., i, j] then the C vertical ones x[.., i+1, j] − x[.., i, j]; 0 in the
    last column (horizontal) and the last row (vertical)."""
    dx = F.pad(x[..., :, 1:] - x[..., :, :-1], (0, 1))
    dy = F.pad(x[..., 1:, :] - x[..., :-1, :], (0, 0, 0, 1))
    return torch.cat([dx, dy], dim=1)


def in_image_taps(k: int, h: int, w: int, device: torch.device | None = None) -> torch.Tensor:
    """Which taps of a k × k kernel (k odd) at each pixel fall inside an h × w image:
    (k², h, w) bool, tap t = i·k + j reading pixel (y + i − k // 2, x + j − k // 2)."""
    r = k // 2

    def inside(n: int) -> torch.Tensor:  # (k, n): tap row (column) i of pixel y inside?
        at = torch.arange(k, device=device)[:, None] - r + torch.arange(n, device=device)
        return (at >= 0) & (at < n)

    return (inside(h)[:, None, :, None] & inside(w)[None, :, None, :]).flatten(0, 1)


def kernel_weights(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over each pixel's in-image taps: (B, k², H, W) logits -> (B, k², H, W) weights,
    0 on the taps beyond the border, summing to 1 over the others (k odd; tap order as in
    :func:`in_image_taps`). Away from the border, the paper's softmax over all k² taps."""
    k = math.isqrt(logits.shape[1])
    if logits.ndim != 4 or k * k != logits.shape[1] or k % 2 == 0:
        raise InputError(f"kernel logits must be (B, k², H, W), k odd, got {tuple(logits.shape)}")
    inside = in_image_taps(k, logits.shape[2], logits.shape[3], logits.device)
    # the centre tap is always inside, so every pixel's maximum is finite
    return logits.masked_fill(~inside, -math.inf).softmax(dim=1)


def apply_kernels(colour: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Per-pixel kernels applied to an image that is zero beyond its border.

    out[b, c, y, x] = Σ_t weights[b, t, y, x] · colour[b, c, y + i − r, x + j − r] over the
    taps t = i·k + j (row-major, as ``F.unfold`` orders them; r = k // 2); the same kernel
    serves every channel. With :func:`kernel_weights`, a weighted average of the in-image
    neighbours.

    Args:
        colour: (B, C, H, W).
        weights: (B, k², H, W), k odd.

    Returns:
        (B, C, H, W). Memory: the sum holds one (B, C, H, W, k) product at a time.
    """
    k = math.isqrt(weights.shape[1])
    if weights.ndim != 4 or k * k != weights.shape[1] or k % 2 == 0:
        raise InputError(f"kernel weights must be (B, k², H, W), k odd, got {tuple(weights.shape)}")
    if weights.shape[0] != colour.shape[0] or weights.shape[2:] != colour.shape[2:]:
        raise InputError(
            f"kernel weights {tuple(weights.shape)} and colour {tuple(colour.shape)} differ in "
            "batch or size"
        )
    r = k // 2
    h = colour.shape[2]
    padded = F.pad(colour, (r, r, r, r))  # (B, C, H + 2r, W + 2r)
    total = 0
    for i, row in enumerate(weights.unflatten(1, (k, k)).unbind(1)):  # row i: (B, k, H, W)
        window = padded[:, :, i : i + h].unfold(3, k, 1)  # (B, C, H, W, k), a view
        total = total + (window * row.permute(0, 2, 3, 1).unsqueeze(1)).sum(-1)  # (B, C, H, W)
    return total


def receptive_field(mode: str, kernel_size: int, layers: int, conv_kernel: int) -> int:
    """Width in input pixels (per axis) of the window one output pixel depends on (the depth
    normalisation's image-wide maximum aside).

    A branch's convs see layers·(conv_kernel − 1) + 1 pixels of its inputs, centred; the
    gradients there read one pixel further on the far side (x + 1, y + 1): + 1. A kernel,
    predicted *at* the output pixel, averages the colour ``kernel_size // 2`` pixels either
    side of it: that window is centred on the same pixel, so it widens the reach only where it
    is the wider of the two (the two windows nest, they do not add up).
    Defaults: max(8·4 + 2, 21) = 34, ±17.
    """
    convs = layers * (conv_kernel - 1) + 2
    return max(convs, kernel_size) if mode == "kernel" else convs


@register("kpcn")
class KPCN(nn.Module):
    """KPCN: noisy diffuse, specular and feature buffers -> denoised radiance, any size.

    Two branches (diffuse, specular) of ``layers`` convs each, separate weights; see the
    module's docstring for the input layout, the preprocessing, and what is the paper's and
    what is ours.

    Args:
        in_channels: must be 26, the fixed layout's channels (:data:`LAYOUT`).
        out_channels: must be 3 (radiance).
        mode: ``"kernel"`` (KPCN: per-pixel softmax kernels over the noisy colour) or
            ``"direct"`` (DPCN: the colour itself).
        kernel_size: side of the predicted kernels, odd (kernel mode; unused in direct mode).
        layers: convs per branch.
        width: channels of every conv but the last.
        conv_kernel: side of the convs' kernels, odd.
        eps: ε in the demodulation, diffuse / (albedo + ε).

    Attributes:
        receptive_field: width in input pixels of the window one output pixel depends on
            (34 at the defaults; :func:`receptive_field`).
        nets: {"diffuse": branch, "specular": branch}, each an ``nn.Sequential`` of convs and
            ReLUs reading (B, 34, H, W).

    Shapes:
        x: (B, 26, H, W), any H, W >= 1 -> (B, 3, H, W), linear radiance.

    Example:
        >>> model = KPCN(width=8, layers=3, kernel_size=5).eval()
        >>> model(torch.rand(1, 26, 37, 50)).shape
        torch.Size([1, 3, 37, 50])
    """

    def __init__(
        self,
        in_channels: int = IN_CHANNELS,
        out_channels: int = OUT_CHANNELS,
        mode: str = "kernel",
        kernel_size: int = 21,
        layers: int = 8,
        width: int = 100,
        conv_kernel: int = 5,
        eps: float = EPS,
    ):
        super().__init__()
        check_int("in_channels", in_channels, 1)
        check_int("out_channels", out_channels, 1)
        if in_channels != IN_CHANNELS:
            raise ValueError(
                f"in_channels must be {IN_CHANNELS}, KPCN's fixed input layout "
                f"({', '.join(n for n, _ in LAYOUT)}), got {in_channels!r}"
            )
        if out_channels != OUT_CHANNELS:
            raise ValueError(
                f"out_channels must be {OUT_CHANNELS} (radiance), got {out_channels!r}"
            )
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
        for name, value in [("kernel_size", kernel_size), ("conv_kernel", conv_kernel)]:
            check_int(name, value, 1)
            if value % 2 == 0:
                raise ValueError(f"{name} must be odd (a kernel centred on its pixel), got {value}")
        check_int("layers", layers, 1)
        check_int("width", width, 1)
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < math.inf:
            raise ValueError(f"eps must be a number > 0, got {eps!r}")

        self.in_channels = in_channels
        self.out_channels = out_channels
        self.mode = mode
        self.eps = eps
        out = kernel_size**2 if mode == "kernel" else OUT_CHANNELS
        self.nets = nn.ModuleDict(
            {b: _branch(BRANCH_CHANNELS, out, layers, width, conv_kernel) for b in _BRANCHES}
        )
        self.receptive_field = receptive_field(mode, kernel_size, layers, conv_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 26, H, W) -> (B, 3, H, W), denoised diffuse + specular, linear radiance."""
        out = self.untransform(self.branches(x), split(x)["albedo"], self.eps)
        return out["diffuse"] + out["specular"]

    def branches(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each branch's prediction in its own domain: x: (B, 26, H, W) ->
        {"diffuse": (B, 3, H, W) demodulated, "specular": (B, 3, H, W) log(1 + s)}; compare
        them with :meth:`transform` of the references."""
        inputs = self.preprocess(x)
        out = {}
        for name, net in self.nets.items():
            y = net(inputs[name])
            if self.mode == "kernel":  # over the branch's colour, its input's first 3 channels
                y = apply_kernels(inputs[name][:, :3], kernel_weights(y))
            out[name] = y
        return out

    def preprocess(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The branches' inputs: x: (B, 26, H, W) -> {"diffuse", "specular": (B, 34, H, W)}.

        Channels: 0-2 the colour (demodulated diffuse, log(1 + s) specular), 3 its variance
        (transformed likewise, mean over channels), 4-9 its gradients (:func:`gradients`),
        10-12 albedo, 13-15 normal, 16 depth / the image's largest depth, 17-19 the variances
        of albedo, normal (means over channels) and depth (/ the largest depth²), 20-33 the
        gradients of albedo, normal and depth (7 horizontal, then 7 vertical).
        """
        buf = split(x)
        colour = self.transform(buf["diffuse"], buf["specular"], buf["albedo"], self.eps)
        variance = {
            "diffuse": buf["diffuse_variance"] / (buf["albedo"] + self.eps) ** 2,
            # the delta method: d log(1 + s) / ds = 1 / (1 + s)
            "specular": buf["specular_variance"] / (1 + buf["specular"].clamp_min(0)) ** 2,
        }
        largest = buf["depth"].amax(dim=(1, 2, 3), keepdim=True)  # (B, 1, 1, 1)
        largest = torch.where(largest > 0, largest, torch.ones_like(largest))
        features = torch.cat([buf["albedo"], buf["normal"], buf["depth"] / largest], dim=1)
        shared = torch.cat(
            [
                features,  # (B, 7, H, W)
                buf["albedo_variance"].mean(dim=1, keepdim=True),
                buf["normal_variance"].mean(dim=1, keepdim=True),
                buf["depth_variance"] / largest**2,
                gradients(features),  # (B, 14, H, W)
            ],
            dim=1,
        )
        return {
            name: torch.cat(
                [
                    colour[name],
                    variance[name].mean(dim=1, keepdim=True),
                    gradients(colour[name]),
                    shared,
                ],
                dim=1,
            )
            for name in _BRANCHES
        }

    @staticmethod
    def transform(
        diffuse: torch.Tensor, specular: torch.Tensor, albedo: torch.Tensor, eps: float = EPS
    ) -> dict[str, torch.Tensor]:
        """Diffuse and specular radiance into the branches' domains: {"diffuse": diffuse /
        (albedo + eps), "specular": log(1 + max(specular, 0))}, each (B, 3, H, W).

        For the references of a training pair, pass the *input's* albedo
        (``split(x)["albedo"]``): the output is remodulated with it (:meth:`untransform`).
        """
        return {"diffuse": diffuse / (albedo + eps), "specular": torch.log1p(specular.clamp_min(0))}

    @staticmethod
    def untransform(
        branches: dict[str, torch.Tensor], albedo: torch.Tensor, eps: float = EPS
    ) -> dict[str, torch.Tensor]:
        """The inverse of :meth:`transform`: {"diffuse": diffuse × (albedo + eps), "specular":
        max(exp(specular) − 1, 0)}, each (B, 3, H, W) linear radiance."""
        return {
            "diffuse": branches["diffuse"] * (albedo + eps),
            "specular": torch.expm1(branches["specular"]).clamp_min(0),
        }


def _branch(c_in: int, c_out: int, layers: int, width: int, kernel: int) -> nn.Sequential:
    """``layers`` zero-padded convs c_in -> width -> ... -> width -> c_out, ReLU between them;
    Xavier-uniform weights, zero biases."""
    channels = [c_in, *[width] * (layers - 1), c_out]
    modules: list[nn.Module] = []
    for n in range(layers):
        conv = nn.Conv2d(channels[n], channels[n + 1], kernel, padding=kernel // 2)
        nn.init.xavier_uniform_(conv.weight)
        nn.init.zeros_(conv.bias)
        modules += [conv, nn.ReLU()] if n < layers - 1 else [conv]
    return nn.Sequential(*modules)

"""Mitsuba's pinhole camera and pixel lookups in torch, for the screen-space baselines.

Conventions (Mitsuba's, and the room dataset's ``pose``): camera space has x to the **left**,
y up and z forward (the camera looks down +z), in world units. Image row 0 is the top and
column 0 the left, so a point with x > 0 lands left of the image centre (a smaller column).
Pixel coordinates (u, v) are (column, row) with pixel centres on integers: rounding gives the
pixel a point falls on.

A view's G-buffers here are ``position: (N, 3, H, W)`` and ``normal: (N, 3, H, W)``, camera
space; background pixels (nothing hit) have position and normal all zero.
"""

from __future__ import annotations

import math

import torch

from neuralshade.errors import InputError

FOV_AXES = ("x", "y", "diagonal", "smaller", "larger")


def view_space(
    position: torch.Tensor, normal: torch.Tensor, pose: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """World-space G-buffers to camera space.

    position, normal: (N, 3, H, W) world space (normal: unit or zero on background).
    pose: (N, 16) or (16,), the world-to-camera 4×4 matrix flattened row-major (the room
    dataset's ``pose``; rigid, so normals turn by its rotation).
    Returns (position, normal), (N, 3, H, W) camera space; background (normal all zero) stays 0.
    """
    check_view_buffers(position, normal, "world")
    pose = torch.as_tensor(pose, dtype=position.dtype, device=position.device)
    batch = position.shape[0]
    if pose.shape[-1] != 16 or pose.ndim not in (1, 2) or pose.numel() not in (16, 16 * batch):
        raise InputError(f"pose must be (N, 16) or (16,) with N = {batch}; got {tuple(pose.shape)}")
    m = pose.reshape(-1, 4, 4).expand(batch, 4, 4)
    rot, shift = m[:, :3, :3], m[:, :3, 3]
    p = torch.einsum("nij,njhw->nihw", rot, position) + shift[:, :, None, None]
    n = torch.einsum("nij,njhw->nihw", rot, normal)
    hit = (normal != 0).any(1, keepdim=True)  # a hit at the world origin has position 0
    return torch.where(hit, p, 0.0), torch.where(hit, n, 0.0)


def focal_pixels(fov_degrees: float, fov_axis: str, height: int, width: int) -> float:
    """Pixels per unit of x/z (or y/z) at depth 1: the focal length in pixels.

    fov_degrees: Mitsuba's ``fov``, the full angle along ``fov_axis`` (``"x"``: the width,
    Mitsuba's default; ``"y"``: the height; ``"diagonal"``, ``"smaller"``, ``"larger"``).
    Pixels are square, so one focal length serves both axes.
    """
    extents = {
        "x": width,
        "y": height,
        "diagonal": math.hypot(width, height),
        "smaller": min(width, height),
        "larger": max(width, height),
    }
    if fov_axis not in extents:
        raise InputError(f"fov_axis must be one of {FOV_AXES}, got {fov_axis!r}")
    return extents[fov_axis] / 2 / math.tan(math.radians(fov_degrees) / 2)


def project(
    p_cam: torch.Tensor, focal: float, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel coordinates (u, v) of camera-space points.

    p_cam: (N, 3, ...) camera space with z > 0. Returns u (column), v (row), each (N, ...),
    pixel centres on integers (see the module docstring).
    """
    x, y, z = p_cam.unbind(1)
    # x is left and y up, while columns grow rightward and rows downward
    return (width - 1) / 2 - focal * x / z, (height - 1) / 2 - focal * y / z


def fetch(
    buffer: torch.Tensor, u: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest-pixel lookup of ``buffer`` at pixel coordinates (u, v).

    buffer: (N, C, H, W). u, v: (N, ...) pixel coordinates. Returns (values (N, C, ...), inside
    (N, ...) bool); values off the image are 0. Nearest, not bilinear: interpolating across a
    depth edge would invent surfaces between the foreground and what lies behind it.
    """
    n, c, h, w = buffer.shape
    col, row = torch.round(u).long(), torch.round(v).long()
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    index = torch.where(inside, row * w + col, 0).reshape(n, 1, -1)
    values = torch.gather(buffer.reshape(n, c, h * w), 2, index.expand(n, c, -1))
    values = values.reshape(n, c, *u.shape[1:]) * inside[:, None]
    return values, inside


def check_view_buffers(position: torch.Tensor, normal: torch.Tensor, space: str = "camera") -> None:
    """Raise InputError unless position and normal are matching float (N, 3, H, W) tensors."""
    if position.ndim != 4 or position.shape[1] != 3 or normal.shape != position.shape:
        raise InputError(
            f"position and normal must both be (N, 3, H, W) {space} space; got "
            f"{tuple(position.shape)} and {tuple(normal.shape)}"
        )
    if not (position.is_floating_point() and normal.is_floating_point()):
        raise InputError(f"position and normal must be float, got {position.dtype}")


def interleaved_noise(generator: torch.Generator, channels: int, height: int, width: int):
    """(channels, H, W) uniform [0, 1) values: one 4×4 tile drawn from ``generator``, repeated.

    The classic interleaved pattern: 16 neighbouring pixels use 16 different rotations or
    jitters (what a 4×4 blur, where one follows, averages away); same seed, same tile.
    """
    tile = torch.rand(channels, 4, 4, generator=generator)
    return tile.repeat(1, -(-height // 4), -(-width // 4))[:, :height, :width]


def pixel_grid(n: int, height: int, width: int, device=None):
    """(u, v): each pixel's own column and row, (N, H, W) float32."""
    v, u = torch.meshgrid(
        torch.arange(height, dtype=torch.float32, device=device),
        torch.arange(width, dtype=torch.float32, device=device),
        indexing="ij",
    )
    return u.expand(n, height, width), v.expand(n, height, width)


def prepare_view(
    position: torch.Tensor, normal: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Checked camera-space buffers: (position, unit normal, hit (N, H, W) bool).

    A pixel is a hit when its normal is not zero and its position is in front of the camera;
    the normal is renormalised (the renderer averages it over the pixel).
    """
    check_view_buffers(position, normal)
    length = norm(normal, keepdim=True)
    hit = (length[:, 0] > 0) & (position[:, 2] > 0)
    return position, normal / length.clamp_min(1e-12), hit


def norm(x: torch.Tensor, keepdim: bool = False) -> torch.Tensor:
    """Euclidean length over dim 1 of (N, C, ...) vectors.

    The plain sum of squares: ``torch.linalg.vector_norm(x, dim=1)`` on an (N, 3, H, W) image
    is a strided reduction some fifty times slower on CPU.
    """
    return (x * x).sum(1, keepdim=keepdim).sqrt()


def interleave_blur(
    ao: torch.Tensor, position: torch.Tensor, hit: torch.Tensor, tolerance: float = 0.05
) -> torch.Tensor:
    """The blur real-time renderers run after interleaved sampling (:func:`interleaved_noise`).

    ao: (N, H, W); position: (N, 3, H, W) camera space; hit: (N, H, W) bool. Each pixel takes
    the weighted mean over offsets −2 … 2 in x and y, weights (½, 1, 1, 1, ½) on each axis:
    every phase of the 4×4 noise tile counts once and the window is centred (a plain 4×4 box
    would shift the image by half a pixel). Only hit pixels whose depth is within
    ``tolerance`` × the pixel's own take part, so AO does not bleed across depth edges.
    Background stays as it is.
    """
    n, h, w = ao.shape
    z = position[:, 2]
    pad = (2, 2, 2, 2)
    ao_p = torch.nn.functional.pad(ao, pad)
    z_p = torch.nn.functional.pad(z, pad)
    hit_p = torch.nn.functional.pad(hit, pad)
    taps = (0.5, 1.0, 1.0, 1.0, 0.5)
    total = torch.zeros_like(ao)
    weight = torch.zeros_like(ao)
    for dy, wy in enumerate(taps):
        for dx, wx in enumerate(taps):
            zs = z_p[:, dy : dy + h, dx : dx + w]
            ok = hit_p[:, dy : dy + h, dx : dx + w] & ((zs - z).abs() <= tolerance * z.abs())
            total += torch.where(ok, wy * wx * ao_p[:, dy : dy + h, dx : dx + w], 0.0)
            weight += torch.where(ok, wy * wx, 0.0)
    return torch.where(hit & (weight > 0), total / weight.clamp_min(1e-12), ao)

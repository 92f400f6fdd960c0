"""Horizon search along an image line: the part HBAO and GTAO share.

A step (du, dv) on the image from pixel p sweeps the plane through the eye and p (a *slice*):
every point whose projection lies on that image line is in it. In the slice, with v̂ the unit
vector from p to the eye and ŝ the unit direction perpendicular to v̂ on the side the step goes,
an angle θ is measured from v̂ (positive toward ŝ). The normal projected into the slice, n_p,
has length ``length`` and angle ``gamma``; the tangent on side σ = ±1 lies at γ + σ·π/2.

Each sample's height is measured as its **elevation above the tangent plane** within the slice,
e = atan2(n·d / |n_p|, d·T_σ) for d = q − p. For a sample in the slice this is exactly the angle
from the tangent toward the normal (so the horizon angle is θ = γ + σ(π/2 − e)); a sample a
rounded pixel off the line but on the tangent plane still gets e = 0, where the angle of d
itself would see a false occluder on every flat, tilted surface. Only taps above the tangent
plane count.

Positions are camera space (N, 3, H, W), world units; screen offsets are pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch

from neuralshade.baselines.camera import fetch, norm, pixel_grid

_EPS = 1e-6
_FLAT = 1e-4  # sin of the elevation under which a tap counts as on the tangent plane


class Slice(NamedTuple):
    """One slice per pixel: its image direction and its frame."""

    du: torch.Tensor  # (N, H, W) unit step on the image, columns
    dv: torch.Tensor  # (N, H, W) unit step on the image, rows
    gamma: torch.Tensor  # (N, H, W) angle of the projected normal from the view vector
    length: torch.Tensor  # (N, H, W) length of the normal projected into the slice
    tangent: torch.Tensor  # (N, 3, H, W) unit tangent in the slice on the + side


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / norm(x, keepdim=True).clamp_min(_EPS)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(1)


class ViewBasis(NamedTuple):
    """Per pixel, v̂ (toward the eye) and two unit vectors e1, e2 completing an orthonormal
    basis, each (N, 3, H, W): the axis and the plane that slice angles are measured in."""

    view: torch.Tensor
    e1: torch.Tensor
    e2: torch.Tensor


def view_basis(position: torch.Tensor) -> ViewBasis:
    """The :class:`ViewBasis` of each pixel of ``position`` (N, 3, H, W), camera space."""
    view = _unit(-position)
    # e1 = ŷ × v̂, never zero: v̂ has z < 0
    e1 = _unit(torch.stack([view[:, 2], torch.zeros_like(view[:, 2]), -view[:, 0]], 1))
    return ViewBasis(view, e1, torch.linalg.cross(view, e1, dim=1))


def slice_frame(basis: ViewBasis, normal: torch.Tensor, phi: torch.Tensor) -> Slice:
    """The slice of each pixel at angle ``phi`` (N, H, W) radians about its view vector.

    normal: (N, 3, H, W) camera space, unit, facing the camera.
    The angle is measured about the view vector itself, not on the image: away from the image
    centre, evenly spaced image directions are unevenly spaced slices (a wide lens bunches
    them), and the slice integral needs even ones.
    """
    view = basis.view
    side = torch.cos(phi)[:, None] * basis.e1 + torch.sin(phi)[:, None] * basis.e2
    # the slice's direction parallel to the image (z = 0), and the image step it makes
    d = side - (side[:, 2] / view[:, 2].clamp(max=-_EPS))[:, None] * view
    step = torch.stack([-d[:, 0], -d[:, 1]], 1)
    step = step / norm(step, keepdim=True).clamp_min(_EPS)
    # (side, view) is an orthonormal basis of the slice: n_p's coordinates in it
    across, along = _dot(normal, side), _dot(normal, view)
    gamma = torch.atan2(across, along)
    tangent = -torch.sin(gamma)[:, None] * view + torch.cos(gamma)[:, None] * side
    length = (across * across + along * along).sqrt()
    return Slice(step[:, 0], step[:, 1], gamma, length, tangent)


def elevations(
    position: torch.Tensor,
    normal: torch.Tensor,
    frame: Slice,
    side: int,
    offsets: torch.Tensor,
    radius: float,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """March one side of a slice; per step yield (e, r, valid), each (N, H, W).

    side: +1 (along (du, dv)) or −1. offsets: (steps, N or 1, H, W) screen distances in pixels,
    one march step each. e: elevation above the tangent plane in the slice (radians, in
    [−π, π]); r: distance |q − p| in world units; valid: q is on the image, a hit, above the
    tangent plane, and nearer than ``radius`` (a ray of that length is blocked only within it).
    """
    n, _, h, w = position.shape
    u0, v0 = pixel_grid(n, h, w, position.device)
    tangent = side * frame.tangent
    height_scale = 1.0 / frame.length.clamp_min(_EPS)
    for offset in offsets:
        q, inside = fetch(position, u0 + side * frame.du * offset, v0 + side * frame.dv * offset)
        d = q - position
        r = norm(d)
        height = _dot(normal, d)
        e = torch.atan2(height * height_scale, _dot(d, tangent))
        # on the tangent plane (to rounding) is not above it: a tap rounded to the far side of
        # the normal would otherwise read atan2(+0, −x) = π, a wall
        above = height > _FLAT * r
        yield e, r, inside & (q[:, 2] > 0) & (r < radius) & above


def screen_radius(position: torch.Tensor, focal: float, radius: float) -> torch.Tensor:
    """(N, H, W) pixels that ``radius`` world units span at each pixel's depth (radius·f / z)."""
    return radius * focal / position[:, 2].clamp_min(_EPS)

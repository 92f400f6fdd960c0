"""Evaluating any signed distance field: rendering, meshing, and comparing shapes.

Everything here takes an SDF as a plain callable ``sdf(points) -> values``, with ``points`` a
``(N, 3)`` float32 tensor in world units and ``values`` an ``(N,)`` tensor of signed distances
in the same units, **negative inside, positive outside**. An analytic shape
(:mod:`neuralshade.fields.shapes`), a mesh (:class:`~neuralshade.fields.shapes.MeshSDF`) and a
trained network are used the same way. Only :func:`sdf_gradient` (and so the normals of
:func:`sphere_trace` and :func:`project_to_surface`) needs the callable to be differentiable
by torch autograd; nothing assumes an analytic gradient, because a network has none.

SDFs are evaluated in chunks of ``chunk_size`` points, so memory stays bounded whatever the
image or grid size.

- :func:`sphere_trace` renders the zero level set from a pinhole :class:`Camera`
  (:func:`look_at`, :func:`orbit_camera`) with Lambert + ambient shading.
- :func:`evaluate_grid` and :func:`extract_mesh` sample the field on a regular grid and run
  scikit-image's marching cubes.
- :func:`occupancy_iou` compares the inside sets of two fields; :func:`chamfer_distance` compares
  point sets, e.g. drawn from meshes by :func:`sample_surface`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from scipy.spatial import cKDTree

from neuralshade.errors import ConfigError, InputError

SDF = Callable[[torch.Tensor], torch.Tensor]
"""A signed distance field: ``(N, 3)`` float32 points → ``(N,)`` distances, negative inside."""

DEFAULT_CHUNK = 65536
"""Points per SDF call: small enough for any network on CPU, large enough to keep it busy."""


def evaluate_sdf(sdf: SDF, points: torch.Tensor, chunk_size: int = DEFAULT_CHUNK) -> torch.Tensor:
    """Evaluate ``sdf`` at ``points`` ``(N, 3)`` in chunks, without autograd; returns ``(N,)``."""
    with torch.no_grad():
        parts = [sdf(chunk).reshape(-1) for chunk in torch.split(points, chunk_size)]
    return torch.cat(parts) if parts else points.new_zeros(0)


def sdf_gradient(
    sdf: SDF, points: torch.Tensor, chunk_size: int = DEFAULT_CHUNK
) -> tuple[torch.Tensor, torch.Tensor]:
    """Values ``(N,)`` and gradients ``(N, 3)`` of ``sdf`` at ``points`` ``(N, 3)``, by autograd.

    Works inside ``torch.no_grad()`` (autograd is switched on here). The results are detached:
    this is for evaluation, not for training through the gradient. The parameters of a network
    get no ``.grad`` from it, since only the gradient with respect to the points is taken.
    """
    values, gradients = [], []
    for chunk in torch.split(points, chunk_size):
        with torch.enable_grad():
            chunk = chunk.detach().requires_grad_(True)
            value = sdf(chunk).reshape(-1)
            if not value.requires_grad:
                raise InputError(
                    "the SDF's output does not depend on its input points through torch "
                    "autograd, so it has no gradient (normals); write it with torch operations"
                )
            (gradient,) = torch.autograd.grad(value.sum(), chunk)
        values.append(value.detach())
        gradients.append(gradient)
    if not values:
        return points.new_zeros(0), points.new_zeros(0, 3)
    return torch.cat(values), torch.cat(gradients)


def project_to_surface(
    sdf: SDF, points: torch.Tensor, steps: int = 5, chunk_size: int = DEFAULT_CHUNK
) -> torch.Tensor:
    """Move ``points`` ``(N, 3)`` onto the zero level set: ``p ← p − sdf(p) ∇sdf(p) / |∇sdf(p)|²``.

    One step lands an exact SDF's point on its surface (where the gradient is defined); more
    steps are for fields that are only distance bounds (CSG) or learned. Points should start
    near the surface: far away the nearest surface point may not be the one reached.
    """
    for _ in range(steps):
        values, gradients = sdf_gradient(sdf, points, chunk_size)
        # dividing by |∇|² rather than |∇| makes it a Newton step, also right for fields whose
        # gradient is not unit length
        norm2 = gradients.square().sum(dim=1).clamp_min(1e-12)
        points = points - (values / norm2)[:, None] * gradients
    return points


# ---------------------------------------------------------------------------------------------
# Cameras and sphere tracing


@dataclass(frozen=True)
class Camera:
    """A pinhole camera.

    eye: (3,) position, world units. forward, right, up: (3,) orthonormal unit vectors, world
    space (the image's x axis is ``right``, its y axis ``up``). fov_deg: vertical field of view
    in degrees; pixels are square.
    """

    eye: tuple[float, float, float]
    forward: tuple[float, float, float]
    right: tuple[float, float, float]
    up: tuple[float, float, float]
    fov_deg: float

    def rays(
        self, size: tuple[int, int], device: str | torch.device = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One ray per pixel centre, row 0 at the top: origins and unit directions, ``(H*W, 3)``."""
        height, width = size
        tan_half = math.tan(math.radians(self.fov_deg) / 2)
        aspect = width / height
        ys = (1 - 2 * (torch.arange(height, device=device) + 0.5) / height) * tan_half
        xs = (2 * (torch.arange(width, device=device) + 0.5) / width - 1) * tan_half * aspect
        y, x = torch.meshgrid(ys, xs, indexing="ij")  # (H, W) each
        basis = torch.tensor([self.forward, self.right, self.up], device=device)  # (3, 3)
        directions = torch.stack([torch.ones_like(x), x, y], dim=-1).reshape(-1, 3) @ basis
        directions = directions / directions.norm(dim=1, keepdim=True)
        origins = torch.tensor(self.eye, device=device).expand_as(directions)
        return origins, directions


def look_at(
    eye: Sequence[float],
    target: Sequence[float] = (0.0, 0.0, 0.0),
    up: Sequence[float] = (0.0, 1.0, 0.0),
    fov_deg: float = 40.0,
) -> Camera:
    """A :class:`Camera` at ``eye`` looking at ``target``, with ``up`` pointing up in the image."""
    if not 0 < fov_deg < 180:
        raise ConfigError(f"field of view must be in (0, 180) degrees, got {fov_deg}")
    eye_, target_, up_ = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    forward = target_ - eye_
    if np.linalg.norm(forward) == 0:
        raise ConfigError(f"camera eye and target are the same point {tuple(eye)}; move the eye")
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up_)
    if np.linalg.norm(right) < 1e-9:
        raise ConfigError(
            f"camera up {tuple(up)} is parallel to the viewing direction; give another up vector"
        )
    right /= np.linalg.norm(right)
    true_up = np.cross(right, forward)
    as_tuple = lambda v: tuple(float(c) for c in v)  # noqa: E731
    return Camera(as_tuple(eye_), as_tuple(forward), as_tuple(right), as_tuple(true_up), fov_deg)


def orbit_camera(
    azimuth_deg: float,
    elevation_deg: float,
    distance: float = 3.0,
    target: Sequence[float] = (0.0, 0.0, 0.0),
    fov_deg: float = 40.0,
) -> Camera:
    """A :class:`Camera` on a sphere of radius ``distance`` around ``target``, looking at it.

    y is up. Azimuth 0 puts the camera on the +z axis, 90 on +x; elevation is the angle above
    the xz plane, in (−90, 90) degrees.
    """
    if not -90 < elevation_deg < 90:
        raise ConfigError(f"elevation must be in (-90, 90) degrees, got {elevation_deg}")
    azimuth, elevation = math.radians(azimuth_deg), math.radians(elevation_deg)
    offset = distance * np.array(
        [
            math.cos(elevation) * math.sin(azimuth),
            math.sin(elevation),
            math.cos(elevation) * math.cos(azimuth),
        ]
    )
    return look_at(np.asarray(target, dtype=np.float64) + offset, target, fov_deg=fov_deg)


class TraceResult(NamedTuple):
    """What :func:`sphere_trace` returns, all on its ``device``.

    image: (H, W, 3) float32 in [0, 1], linear (no gamma). hit: (H, W) bool. depth: (H, W)
    float32, distance from the eye along the ray to the hit, world units; ``inf`` where missed.
    normal: (H, W, 3) float32 unit normals from the SDF's gradient; zero where missed.
    """

    image: torch.Tensor
    hit: torch.Tensor
    depth: torch.Tensor
    normal: torch.Tensor


def _ray_box(
    origins: torch.Tensor, directions: torch.Tensor, low: float, high: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Entry and exit distances ``(N,)`` of rays through the cube [low, high]³ (slab method).

    Rays that miss have entry > exit. Entry is clamped to 0 so an eye inside the box works.
    """
    inverse = 1.0 / directions  # ±inf on axis-parallel rays, which the slab test handles
    t1, t2 = (low - origins) * inverse, (high - origins) * inverse
    # fmin/fmax skip the NaN of 0 · inf (an origin exactly on a slab plane of a parallel ray)
    near = torch.fmin(t1, t2).amax(dim=1).clamp_min(0)
    far = torch.fmax(t1, t2).amin(dim=1)
    return near, far


def sphere_trace(
    sdf: SDF,
    camera: Camera,
    size: int | tuple[int, int],
    *,
    max_steps: int = 128,
    hit_tolerance: float = 1e-3,
    step_scale: float = 0.9,
    bounds: tuple[float, float] = (-1.0, 1.0),
    color: Sequence[float] = (0.8, 0.8, 0.8),
    background: Sequence[float] = (1.0, 1.0, 1.0),
    ambient: float = 0.2,
    light_dir: Sequence[float] | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    device: str | torch.device = "cpu",
) -> TraceResult:
    """Render the zero level set of ``sdf`` by sphere tracing, all pixels at once.

    Each ray starts where it enters the cube ``[bounds[0], bounds[1]]³`` and steps forward by
    ``step_scale · sdf(p)``; it hits when ``sdf(p) < hit_tolerance`` and misses when it leaves
    the cube or after ``max_steps`` steps. An exact SDF is 1-Lipschitz, so ``step_scale = 1``
    never steps through the surface; a learned SDF is not exactly, so the default 0.9 is a
    little cautious, and a poorly fitted network may need 0.5. Rays that graze a silhouette
    need many steps: a too small ``max_steps`` thins silhouettes.

    Normals are the normalised autograd gradient of ``sdf`` at the hit points (so ``sdf`` must
    be differentiable; it need not have an analytic gradient). Shading is Lambert + ambient:
    ``color · (ambient + (1 − ambient) · max(0, n · l))``, ``background`` where missed. The
    default light comes from over the camera's upper left; ``light_dir`` points towards the
    light, world space. Safe to call inside ``torch.no_grad()``.

    size: ``S`` for S × S or ``(H, W)`` pixels. Returns a :class:`TraceResult`.
    """
    height, width = (size, size) if isinstance(size, int) else size
    if height < 1 or width < 1:
        raise ConfigError(f"image size must be positive, got {size!r}")
    if not 0 < step_scale <= 1:
        raise ConfigError(f"step_scale must be in (0, 1], got {step_scale}")
    origins, directions = camera.rays((height, width), device)
    near, far = _ray_box(origins, directions, *bounds)

    depth = near.clone()
    hit = torch.zeros_like(near, dtype=torch.bool)
    active = torch.nonzero(near <= far).squeeze(1)  # indices of rays still marching
    for _ in range(max_steps):
        if active.numel() == 0:
            break
        t = depth[active]
        values = evaluate_sdf(sdf, origins[active] + t[:, None] * directions[active], chunk_size)
        arrived = values < hit_tolerance
        hit[active[arrived]] = True
        t = torch.where(arrived, t, t + step_scale * values)
        depth[active] = t
        active = active[~arrived & (t <= far[active])]

    normal = torch.zeros_like(directions)
    points = origins[hit] + depth[hit, None] * directions[hit]
    _, gradient = sdf_gradient(sdf, points, chunk_size)
    normal[hit] = gradient / gradient.norm(dim=1, keepdim=True).clamp_min(1e-12)

    if light_dir is None:
        forward, right, up = (torch.tensor(v) for v in (camera.forward, camera.right, camera.up))
        light = -forward - 0.5 * right + 0.7 * up
    else:
        light = torch.as_tensor(light_dir, dtype=torch.float32)
    light = (light / light.norm()).to(device)
    lambert = (normal @ light).clamp_min(0)  # (H*W,)
    shade = ambient + (1 - ambient) * lambert
    color_ = torch.as_tensor(color, dtype=torch.float32, device=device)
    background_ = torch.as_tensor(background, dtype=torch.float32, device=device)
    image = torch.where(hit[:, None], shade[:, None] * color_, background_).clamp(0, 1)
    depth = torch.where(hit, depth, torch.full_like(depth, math.inf))
    return TraceResult(
        image.reshape(height, width, 3),
        hit.reshape(height, width),
        depth.reshape(height, width),
        normal.reshape(height, width, 3),
    )


# ---------------------------------------------------------------------------------------------
# Grids and meshes


def evaluate_grid(
    sdf: SDF,
    resolution: int,
    bounds: tuple[float, float] = (-1.0, 1.0),
    chunk_size: int = DEFAULT_CHUNK,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """``sdf`` at the nodes of a regular grid; returns ``(R, R, R)`` float32, indexed [x, y, z].

    Node ``(i, j, k)`` is ``bounds[0] + (i, j, k) · h`` with ``h = (bounds[1] − bounds[0]) /
    (R − 1)``, so the grid includes both bounds. Evaluated a block of x-slabs at a time.
    """
    if resolution < 2:
        raise ConfigError(f"grid resolution must be at least 2, got {resolution}")
    axis = torch.linspace(bounds[0], bounds[1], resolution, device=device)
    volume = np.empty((resolution,) * 3, dtype=np.float32)
    slabs = max(1, chunk_size // resolution**2)
    for start in range(0, resolution, slabs):
        xs = axis[start : start + slabs]
        block = torch.stack(torch.meshgrid(xs, axis, axis, indexing="ij"), dim=-1)  # (s, R, R, 3)
        values = evaluate_sdf(sdf, block.reshape(-1, 3), chunk_size)
        volume[start : start + len(xs)] = values.reshape(len(xs), resolution, resolution).cpu()
    return volume


def extract_mesh(
    sdf: SDF,
    resolution: int = 128,
    bounds: tuple[float, float] = (-1.0, 1.0),
    level: float = 0.0,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """The ``level`` set of ``sdf`` as a triangle mesh, by marching cubes on a grid.

    The grid is :func:`evaluate_grid`'s (``resolution``³ nodes over the cube); vertices lie on
    grid edges, so their error is a fraction of a cell ``h = (bounds[1] − bounds[0]) /
    (resolution − 1)`` on smooth surfaces, more at sharp edges (which marching cubes rounds
    off). Faces are oriented with outward normals (towards larger values). A shape cut by the
    cube's faces gives an open mesh.

    Returns vertices ``(V, 3)`` float32 in world units and faces ``(F, 3)`` int64 indices.
    Raises :class:`~neuralshade.errors.InputError` when no grid node is on each side of
    ``level`` (the level set is empty at this resolution).
    """
    from skimage.measure import marching_cubes

    volume = evaluate_grid(sdf, resolution, bounds, chunk_size, device)
    low, high = float(volume.min()), float(volume.max())
    if not low < level < high:
        side = "above" if low >= level else "below"
        raise InputError(
            f"the level set sdf = {level} is empty: on the {resolution}³ grid over "
            f"[{bounds[0]}, {bounds[1]}]³ the SDF ranges over [{low:.4g}, {high:.4g}], all {side} "
            "the level. The shape may lie outside the bounds, be thinner than a grid cell "
            "(raise the resolution), or the field may not be trained yet"
        )
    step = (bounds[1] - bounds[0]) / (resolution - 1)
    # "descent" orients the faces towards increasing values: outwards for an SDF (a test
    # checks that the mesh's volume comes out positive)
    vertices, faces, _, _ = marching_cubes(
        volume, level, spacing=(step, step, step), gradient_direction="descent"
    )
    return (vertices + bounds[0]).astype(np.float32), faces.astype(np.int64)


def occupancy_iou(
    sdf_a: SDF,
    sdf_b: SDF,
    *,
    resolution: int | None = None,
    n: int | None = None,
    rng: np.random.Generator | None = None,
    bounds: tuple[float, float] = (-1.0, 1.0),
    chunk_size: int = DEFAULT_CHUNK,
    device: str | torch.device = "cpu",
) -> float:
    """Intersection over union of the inside sets (``sdf < 0``) of two fields in the cube.

    Give either ``resolution`` (the nodes of :func:`evaluate_grid`'s grid: deterministic, but
    biased for thin parts smaller than a cell) or ``n`` uniform random points drawn from
    ``rng`` (unbiased; the standard error of the IoU is about ``sqrt(IoU (1 − IoU) / n_union)``).
    Raises :class:`~neuralshade.errors.InputError` when neither field has any inside sample.
    """
    if (resolution is None) == (n is None):
        raise ConfigError("occupancy_iou needs exactly one of resolution= (grid) or n= (random)")
    if resolution is not None:
        inside_a = evaluate_grid(sdf_a, resolution, bounds, chunk_size, device) < 0
        inside_b = evaluate_grid(sdf_b, resolution, bounds, chunk_size, device) < 0
    else:
        if rng is None or n < 1:
            raise ConfigError(f"random IoU needs n >= 1 and a numpy Generator rng, got n={n}")
        points = rng.uniform(bounds[0], bounds[1], size=(n, 3)).astype(np.float32)
        points_ = torch.from_numpy(points).to(device)
        inside_a = (evaluate_sdf(sdf_a, points_, chunk_size) < 0).cpu().numpy()
        inside_b = (evaluate_sdf(sdf_b, points_, chunk_size) < 0).cpu().numpy()
    union = np.count_nonzero(inside_a | inside_b)
    if union == 0:
        raise InputError(
            "neither SDF is negative at any sample, so both inside sets are empty and the IoU "
            "is undefined; check that the shapes lie inside the bounds"
        )
    return np.count_nonzero(inside_a & inside_b) / union


def _points_array(points: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    if isinstance(points, torch.Tensor):
        points = points.detach().cpu().numpy()
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
        raise InputError(f"{name} must be a non-empty (N, 3) array of points, got {points.shape}")
    return points


def sample_surface(
    vertices: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` points uniformly distributed over the area of a triangle mesh, drawn from ``rng``.

    vertices: (V, 3), world units. faces: (F, 3) int vertex indices. Returns (n, 3) float32.
    A face is chosen with probability proportional to its area, then a point in it uniformly
    (barycentric coordinates by the square-root method).
    """
    vertices = _points_array(vertices, "vertices").astype(np.float64)
    a, b, c = (vertices[faces[:, i]] for i in range(3))  # (F, 3) each
    areas = np.linalg.norm(np.cross(b - a, c - a), axis=1)
    if not areas.sum() > 0:
        raise InputError("the mesh has no area (no faces, or all degenerate); nothing to sample")
    face = rng.choice(len(faces), size=n, p=areas / areas.sum())
    u, v = rng.random((2, n))
    root = np.sqrt(u)[:, None]
    points = (1 - root) * a[face] + root * (1 - v[:, None]) * b[face] + root * v[:, None] * c[face]
    return points.astype(np.float32)


def chamfer_distance(
    points_a: np.ndarray | torch.Tensor, points_b: np.ndarray | torch.Tensor
) -> float:
    """Symmetric Chamfer distance between point sets ``(N, 3)`` and ``(M, 3)``, world units.

    The average of the two directed means of nearest-neighbour *distances* (not squared
    distances): ``(mean_a min_b |a − b| + mean_b min_a |a − b|) / 2``. Moving a set by a small
    shift (less than half its point spacing) thus gives the length of the shift. Exact nearest
    neighbours, by scipy's cKDTree.
    """
    a = _points_array(points_a, "points_a").astype(np.float64)
    b = _points_array(points_b, "points_b").astype(np.float64)
    a_to_b = cKDTree(b).query(a)[0].mean()
    b_to_a = cKDTree(a).query(b)[0].mean()
    return float((a_to_b + b_to_a) / 2)

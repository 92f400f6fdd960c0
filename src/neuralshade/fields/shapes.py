"""The true shapes a field is fitted to: analytic SDFs, closed meshes, and training samples.

Every shape is an SDF callable as :mod:`neuralshade.fields.geometry` expects:
``(N, 3)`` float32 points → ``(N,)`` signed distances, negative inside, in the shape's units.
All shapes fit in the cube [−1, 1]³ with a margin.

- **Analytic shapes** (``SHAPES``, :func:`analytic_shape`): torch expressions, differentiable.
  Each says whether it is an *exact* Euclidean SDF or only a *bound*: a CSG difference
  ``max(a, −b)`` of exact SDFs has the right sign and zero level set and is exact inside, but
  outside it only bounds the distance from below. Use exact ones where distances are compared.
- **Meshes** (:func:`load_mesh`, :class:`MeshSDF`): a closed triangle mesh from an OBJ, PLY or
  STL file, normalised into the cube, with exact signed distances.
- **Samples** (:func:`sample_points`): points near the surface and in the volume, with their
  true SDF values, for fitting.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import torch

from neuralshade.errors import ConfigError, InputError
from neuralshade.fields.geometry import (
    DEFAULT_CHUNK,
    SDF,
    evaluate_sdf,
    extract_mesh,
    project_to_surface,
    sample_surface,
)
from neuralshade.sdf import cached_njit

# ---------------------------------------------------------------------------------------------
# Analytic SDFs (Inigo Quilez's formulas); sizes and positions in world units


def _vector(value: Sequence[float] | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


def sphere_sdf(
    points: torch.Tensor, center: Sequence[float] = (0.0, 0.0, 0.0), radius: float = 0.6
) -> torch.Tensor:
    """Exact SDF of a sphere: ``|p − center| − radius``. points: (N, 3); returns (N,)."""
    return (points - _vector(center, points)).norm(dim=-1) - radius


def box_sdf(
    points: torch.Tensor,
    half_size: Sequence[float] = (0.6, 0.4, 0.5),
    rounding: float = 0.0,
) -> torch.Tensor:
    """Exact SDF of an axis-aligned box centred at the origin, edges rounded with ``rounding``.

    half_size: the half extents including the rounding; ``rounding`` <= the smallest of them.
    points: (N, 3); returns (N,).
    """
    q = points.abs() - (_vector(half_size, points) - rounding)
    outside = q.clamp_min(0).norm(dim=-1)
    inside = q.amax(dim=-1).clamp_max(0)
    return outside + inside - rounding


def torus_sdf(points: torch.Tensor, major: float = 0.55, minor: float = 0.22) -> torch.Tensor:
    """Exact SDF of a torus around the y axis (its ring in the xz plane), centred at the origin.

    major: ring radius; minor: tube radius. points: (N, 3); returns (N,).
    """
    ring = points[..., [0, 2]].norm(dim=-1) - major
    return torch.stack([ring, points[..., 1]], dim=-1).norm(dim=-1) - minor


def capsule_sdf(
    points: torch.Tensor,
    a: Sequence[float] = (-0.45, -0.3, 0.0),
    b: Sequence[float] = (0.45, 0.3, 0.0),
    radius: float = 0.3,
) -> torch.Tensor:
    """Exact SDF of a capsule: the points within ``radius`` of the segment ``a``–``b``."""
    a_, b_ = _vector(a, points), _vector(b, points)
    ab, ap = b_ - a_, points - a_
    along = ((ap @ ab) / (ab @ ab)).clamp(0, 1)
    return (ap - along[..., None] * ab).norm(dim=-1) - radius


@dataclass(frozen=True)
class AnalyticShape:
    """A named analytic SDF. Call it with ``(N, 3)`` points to get ``(N,)`` distances.

    exact: whether the values are true Euclidean distances (else only the sign and the zero
    level set are right, and ``|sdf|`` is at most the distance). description: one line for listings.
    """

    name: str
    sdf: Callable[[torch.Tensor], torch.Tensor]
    exact: bool
    description: str

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        if points.ndim != 2 or points.shape[1] != 3:
            raise InputError(f"{self.name}: points must be (N, 3), got {tuple(points.shape)}")
        return self.sdf(points)


SHAPES: dict[str, AnalyticShape] = {}
"""The built-in analytic shapes by name."""


def register(
    name: str, *, exact: bool, description: str
) -> Callable[[Callable[[torch.Tensor], torch.Tensor]], Callable[[torch.Tensor], torch.Tensor]]:
    """Decorator adding an SDF function to ``SHAPES`` under ``name``; refuses duplicates."""

    def add(sdf: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
        if name in SHAPES:
            raise ValueError(f"shape {name!r} is already registered")
        SHAPES[name] = AnalyticShape(name, sdf, exact, description)
        return sdf

    return add


register("sphere", exact=True, description="sphere of radius 0.6 at the origin")(sphere_sdf)
register("torus", exact=True, description="torus around y, ring radius 0.55, tube 0.22")(torus_sdf)
register("capsule", exact=True, description="capsule of radius 0.3 round a tilted segment")(
    capsule_sdf
)


@register("box", exact=True, description="box of half size (0.6, 0.4, 0.5), edges rounded 0.08")
def rounded_box(points: torch.Tensor) -> torch.Tensor:
    """The ``box`` shape: :func:`box_sdf` with rounded edges."""
    return box_sdf(points, rounding=0.08)


@register(
    "box_minus_sphere",
    exact=False,
    description="cube of half size 0.55 minus a sphere of radius 0.7: a frame with round windows",
)
def box_minus_sphere(points: torch.Tensor) -> torch.Tensor:
    """CSG difference ``max(box, −sphere)``: exact inside, a lower bound on the distance outside.

    The sphere (radius 0.7, between the cube's half size 0.55 and its half edge diagonal 0.78)
    cuts a round window into each face and hollows the inside, leaving the twelve edges.
    """
    return torch.maximum(box_sdf(points, (0.55, 0.55, 0.55)), -sphere_sdf(points, radius=0.7))


def analytic_shape(name: str) -> AnalyticShape:
    """The built-in shape ``name``; raises InputError listing the known names otherwise."""
    if name not in SHAPES:
        raise InputError(f"unknown shape {name!r}; known shapes: {', '.join(sorted(SHAPES))}")
    return SHAPES[name]


# ---------------------------------------------------------------------------------------------
# Meshes

MESH_SUFFIXES = (".obj", ".ply", ".stl")


@dataclass(frozen=True)
class Normalisation:
    """The similarity that :func:`load_mesh` applied: ``unit = (original − center) · scale``.

    center: (3,) in the file's units; scale: unit-cube units per file unit. Distances scale by
    ``scale`` too: an SDF value ``d`` in the cube is ``d / scale`` in the file's units.
    """

    center: tuple[float, float, float]
    scale: float

    def to_unit(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) points in the file's units → the normalised cube."""
        return (np.asarray(points) - np.asarray(self.center)) * self.scale

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) points in the normalised cube → the file's units."""
        return np.asarray(points) / self.scale + np.asarray(self.center)

    @property
    def matrix(self) -> np.ndarray:
        """(4, 4) homogeneous matrix of :meth:`to_unit` (trimesh's ``apply_transform`` form)."""
        matrix = np.diag([self.scale, self.scale, self.scale, 1.0])
        matrix[:3, 3] = -self.scale * np.asarray(self.center)
        return matrix


def _check_closed(mesh, name: str) -> None:
    """Raise InputError unless ``mesh`` is a closed, consistently oriented triangle surface."""
    if len(mesh.faces) == 0:
        raise InputError(f"{name}: the mesh has no triangles (an empty file or a point cloud?)")
    fix = (
        "repair it first, e.g. close the holes with trimesh.repair.fill_holes, MeshLab "
        "(Filters → Remeshing → Close Holes) or Blender's 3D-Print Toolbox, or remesh it "
        "(e.g. voxel remesh) into a closed surface"
    )
    if not mesh.is_watertight:
        raise InputError(
            f"{name}: the mesh is not watertight (some edges do not have exactly two faces), so "
            f"inside and outside are undefined and the signed distance has no sign; {fix}"
        )
    if not mesh.is_winding_consistent:
        raise InputError(
            f"{name}: the faces are not consistently oriented (neighbours disagree on which "
            "side is out); fix them with trimesh.repair.fix_normals or MeshLab "
            "(Filters → Normals → Re-Orient all faces coherently)"
        )
    if not abs(mesh.volume) > 1e-9 * np.prod(mesh.extents):
        raise InputError(f"{name}: the mesh encloses no volume (it is flat or degenerate)")


def load_mesh(path: str | os.PathLike, margin: float = 0.1):
    """Read a closed triangle mesh and scale it into the cube [−(1 − margin), 1 − margin]³.

    The bounding box's centre goes to the origin and its longest side to ``2 (1 − margin)``
    (uniform scale, so distances keep their ratios). Faces are flipped if needed so normals
    point outwards. Multi-part files (an OBJ with several objects) are merged.

    Returns ``(mesh, normalisation)``: a ``trimesh.Trimesh`` in the cube and the
    :class:`Normalisation` that maps the file's coordinates to it. Raises
    :class:`~neuralshade.errors.InputError`, naming the file, when it is missing, not an
    OBJ/PLY/STL file, unreadable, has no triangles, or is not a closed surface.
    """
    import trimesh

    path = Path(path)
    if not 0 <= margin < 1:
        raise ConfigError(f"margin must be in [0, 1), got {margin}")
    if not path.is_file():
        raise InputError(f"{path}: no such file; check the path")
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise InputError(
            f"{path}: unsupported mesh format {path.suffix!r}; "
            f"use one of {', '.join(MESH_SUFFIXES)}"
        )
    # trimesh reports damaged files with many exception types, depending on the format
    try:
        mesh = trimesh.load(path, force="mesh", process=True)
    except Exception as err:
        raise InputError(
            f"{path}: cannot read it as a mesh ({type(err).__name__}: {err}); the file is "
            "corrupt or truncated; re-export it"
        ) from err
    _check_closed(mesh, str(path))
    if mesh.volume < 0:
        mesh.invert()
    low, high = mesh.bounds
    normalisation = Normalisation(
        tuple(float(c) for c in (low + high) / 2), float(2 * (1 - margin) / (high - low).max())
    )
    mesh.apply_transform(normalisation.matrix)
    return mesh, normalisation


# ---------------------------------------------------------------------------------------------
# Exact closest points on a triangle mesh: a bounding volume hierarchy compiled by numba

_LEAF_SIZE = 8  # triangles per BVH leaf: 8 was fastest on a sphere, 1 to 16 tried


@numba.njit(inline="always")
def _closest_on_triangle(triangles, f, px, py, pz):
    """Closest point on triangle ``f`` of ``triangles`` ``(F, 3, 3)`` to ``(px, py, pz)``.

    Ericson, *Real-Time Collision Detection*, 5.1.5, in scalars (no allocation in the inner
    loop). Returns ``(x, y, z, feature)``, feature 0, 1, 2 = vertex a, b, c; 3, 4, 5 = edge ab,
    bc, ca; 6 = the face's interior. A degenerate triangle can give NaN.
    """
    t = triangles[f]
    ax, ay, az = t[0, 0], t[0, 1], t[0, 2]
    bx, by, bz = t[1, 0], t[1, 1], t[1, 2]
    cx, cy, cz = t[2, 0], t[2, 1], t[2, 2]
    abx, aby, abz = bx - ax, by - ay, bz - az
    acx, acy, acz = cx - ax, cy - ay, cz - az
    d1 = abx * (px - ax) + aby * (py - ay) + abz * (pz - az)
    d2 = acx * (px - ax) + acy * (py - ay) + acz * (pz - az)
    if d1 <= 0 and d2 <= 0:
        return ax, ay, az, 0
    d3 = abx * (px - bx) + aby * (py - by) + abz * (pz - bz)
    d4 = acx * (px - bx) + acy * (py - by) + acz * (pz - bz)
    if d3 >= 0 and d4 <= d3:
        return bx, by, bz, 1
    vc = d1 * d4 - d3 * d2
    if vc <= 0 and d1 >= 0 and d3 <= 0:
        v = d1 / (d1 - d3)
        return ax + v * abx, ay + v * aby, az + v * abz, 3
    d5 = abx * (px - cx) + aby * (py - cy) + abz * (pz - cz)
    d6 = acx * (px - cx) + acy * (py - cy) + acz * (pz - cz)
    if d6 >= 0 and d5 <= d6:
        return cx, cy, cz, 2
    vb = d5 * d2 - d1 * d6
    if vb <= 0 and d2 >= 0 and d6 <= 0:
        w = d2 / (d2 - d6)
        return ax + w * acx, ay + w * acy, az + w * acz, 5
    va = d3 * d6 - d5 * d4
    if va <= 0 and d4 - d3 >= 0 and d5 - d6 >= 0:
        w = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        return bx + w * (cx - bx), by + w * (cy - by), bz + w * (cz - bz), 4
    v = vb / (va + vb + vc)
    w = vc / (va + vb + vc)
    return ax + v * abx + w * acx, ay + v * aby + w * acy, az + v * abz + w * acz, 6


def _build_bvh(triangles: np.ndarray, leaf_size: int) -> tuple[np.ndarray, ...]:
    """A balanced BVH over ``triangles`` ``(F, 3, 3)``, built one level at a time in NumPy.

    Every node's triangles are split in two halves at the median centre along the longest
    axis of their centres, down to leaves of at most ``leaf_size`` triangles, all at one depth
    ``L``. The tree is implicit: node ``k`` has children ``2k + 1`` and ``2k + 2``; the leaves
    are nodes ``2^L − 1 …``. Returns the triangle order ``(F,)``, the nodes' boxes
    ``(2^(L+1) − 1, 2, 3)`` (min, max) and the leaves' bounds ``(2^L + 1,)`` into the order.
    """
    low, high = triangles.min(axis=1), triangles.max(axis=1)  # (F, 3) each
    centre = (low + high) / 2
    n = len(triangles)
    depth = max(0, int(np.ceil(np.log2(n / leaf_size))))
    order = np.arange(n)
    bounds = np.array([0, n])
    for _ in range(depth):
        segment = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))  # (F,) node of each
        ordered = centre[order]
        spread = np.maximum.reduceat(ordered, bounds[:-1]) - np.minimum.reduceat(
            ordered, bounds[:-1]
        )
        key = ordered[np.arange(n), spread.argmax(axis=1)[segment]]
        order = order[np.lexsort((key, segment))]
        bounds = np.insert(bounds, np.arange(1, len(bounds)), (bounds[:-1] + bounds[1:]) // 2)
    levels = [
        np.stack(
            [
                np.minimum.reduceat(low[order], bounds[:-1]),
                np.maximum.reduceat(high[order], bounds[:-1]),
            ],
            axis=1,
        )
    ]  # (2^L, 2, 3) leaf boxes, then each level up from pairs of children
    while len(levels[-1]) > 1:
        children = levels[-1]
        levels.append(
            np.stack(
                [
                    np.minimum(children[0::2, 0], children[1::2, 0]),
                    np.maximum(children[0::2, 1], children[1::2, 1]),
                ],
                axis=1,
            )
        )
    return order, np.concatenate(levels[::-1]), bounds


@numba.njit(inline="always")
def _box_distance2(boxes, node, px, py, pz):
    """Squared distance from ``(px, py, pz)`` to box ``node`` of ``boxes`` (0 inside it)."""
    box = boxes[node]
    dx = max(box[0, 0] - px, px - box[1, 0], 0.0)
    dy = max(box[0, 1] - py, py - box[1, 1], 0.0)
    dz = max(box[0, 2] - pz, pz - box[1, 2], 0.0)
    return dx * dx + dy * dy + dz * dz


@cached_njit
def _closest_on_mesh(points, triangles, usable, order, boxes, bounds):
    """For each of ``points`` ``(N, 3)``: the nearest triangle, the closest point on it and its
    feature (see :func:`_closest_on_triangle`), by depth-first branch and bound over the BVH of
    :func:`_build_bvh`, nearer child first. Triangles with ``usable[f]`` False are skipped.
    Returns faces ``(N,)``, closest points ``(N, 3)``, features ``(N,)``."""
    n = points.shape[0]
    first_leaf = len(bounds) - 2  # 2^L − 1
    faces = np.empty(n, dtype=np.int64)
    closest = np.empty((n, 3))
    features = np.empty(n, dtype=np.int64)
    stack = np.empty(256, dtype=np.int64)  # holds at most one node per level, plus one
    for i in range(n):
        px, py, pz = points[i, 0], points[i, 1], points[i, 2]
        best = np.inf
        stack[0] = 0
        top = 1
        while top:
            top -= 1
            node = stack[top]
            if _box_distance2(boxes, node, px, py, pz) >= best:
                continue  # best improved since the node was pushed
            if node < first_leaf:
                near, far = 2 * node + 1, 2 * node + 2
                d_near = _box_distance2(boxes, near, px, py, pz)
                d_far = _box_distance2(boxes, far, px, py, pz)
                if d_far < d_near:
                    near, far, d_near, d_far = far, near, d_far, d_near
                if d_far < best:
                    stack[top] = far
                    top += 1
                if d_near < best:
                    stack[top] = near
                    top += 1
                continue
            leaf = node - first_leaf
            for j in range(bounds[leaf], bounds[leaf + 1]):
                f = order[j]
                if not usable[f]:
                    continue
                x, y, z, feature = _closest_on_triangle(triangles, f, px, py, pz)
                distance2 = (px - x) ** 2 + (py - y) ** 2 + (pz - z) ** 2
                if distance2 < best:
                    best = distance2
                    faces[i] = f
                    closest[i, 0], closest[i, 1], closest[i, 2] = x, y, z
                    features[i] = feature
    return faces, closest, features


class MeshSDF:
    """Exact signed distance to a closed triangle mesh (a ``trimesh.Trimesh``).

    Calling it with ``(N, 3)`` float32 points gives ``(N,)`` float32 signed distances (in the
    mesh's units, negative inside) on the points' device. It is differentiable: the gradient is
    the unit vector from the closest surface point (first derivatives only).

    How: the distance is exact, to the closest point on the nearest triangle (Ericson's
    point–triangle test in float64), found by branch and bound over a bounding volume hierarchy
    compiled by numba (one thread). The sign is that of ``(p − closest) · n`` with ``n`` the
    angle-weighted pseudo-normal of the closest feature (face, edge or vertex; Bærentzen &
    Aanæs 2005), exact for a closed, consistently oriented mesh. (trimesh's own
    ``closest_point`` and ``contains`` need the rtree package, which neuralshade does not require.)

    Speed: points far from a finely tessellated surface cost most, as more boxes come within
    the distance. The first use in a fresh environment compiles the query kernel (then cached
    on disk).

    Limitations: a self-intersecting mesh gets wrong signs where parts overlap. Near-ties
    between features at very sharp vertices may pick a pseudo-normal that gives the wrong
    sign within rounding error of the surface.
    """

    def __init__(self, mesh) -> None:
        _check_closed(mesh, "MeshSDF")
        vertices = np.asarray(mesh.vertices, dtype=np.float64)
        faces = np.asarray(mesh.faces, dtype=np.int64)
        flipped = mesh.volume < 0
        if flipped:  # inward normals: reverse the faces rather than the sign
            faces = faces[:, ::-1].copy()
        self.vertices, self.faces = vertices, faces
        self._triangles = np.ascontiguousarray(vertices[faces])  # (F, 3 corners, 3)
        a, b, c = self._triangles.transpose(1, 0, 2)
        cross = np.cross(b - a, c - a)
        doubled_area = np.linalg.norm(cross, axis=1, keepdims=True)
        longest = np.max([np.linalg.norm(e, axis=1) for e in (b - a, c - b, a - c)], axis=0)
        # a zero-area face of a closed mesh lies on its neighbours' edges: skipping it loses
        # no surface, and its normal would be undefined
        self._usable = doubled_area[:, 0] > 1e-12 * longest**2
        face_normals = np.divide(
            cross, doubled_area, out=np.zeros_like(cross), where=self._usable[:, None]
        )
        # trimesh orders a face's unique edges as (v0, v1), (v1, v2), (v2, v0): ab, bc, ca;
        # reversing a face (v2, v1, v0) makes its edges the old bc, ab, ca
        face_edges = np.asarray(mesh.faces_unique_edges)
        if flipped:
            face_edges = face_edges[:, [1, 0, 2]]
        self._normals = self._pseudo_normals(len(vertices), face_edges, face_normals)
        self._bvh = _build_bvh(self._triangles, _LEAF_SIZE)

    def _pseudo_normals(
        self, n_vertices: int, face_edges: np.ndarray, face_normals: np.ndarray
    ) -> np.ndarray:
        """Angle-weighted pseudo-normals by face and feature, ``(F, 7, 3)``: vertex a, b, c,
        edge ab, bc, ca, face. Unnormalised: only the side they point to matters."""
        corners = self._triangles
        vertex_normals = np.zeros((n_vertices, 3))
        for k in range(3):
            u = corners[:, (k + 1) % 3] - corners[:, k]
            v = corners[:, (k + 2) % 3] - corners[:, k]
            cosine = np.einsum("ij,ij->i", u, v) / np.maximum(
                np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1), 1e-300
            )
            angle = np.arccos(np.clip(cosine, -1, 1))
            np.add.at(vertex_normals, self.faces[:, k], angle[:, None] * face_normals)
        # an edge's two faces each see it under the angle π, so plain sums are angle-weighted
        edge_normals = np.zeros((int(face_edges.max()) + 1, 3))
        np.add.at(edge_normals, face_edges, face_normals[:, None, :].repeat(3, axis=1))
        return np.concatenate(
            [vertex_normals[self.faces], edge_normals[face_edges], face_normals[:, None]], axis=1
        )

    def signed_distance(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Signed distances ``(N,)`` and their gradients ``(N, 3)`` (unit) at ``(N, 3)`` points.

        NumPy float64 in and out, in the mesh's units.
        """
        query = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3)
        if not np.isfinite(query).all():
            raise InputError("MeshSDF: the points contain NaN or infinite coordinates")
        faces, closest, features = _closest_on_mesh(
            query, self._triangles, self._usable, *self._bvh
        )
        normal = self._normals[faces, features]
        offset = query - closest
        best = np.linalg.norm(offset, axis=1)
        sign = np.sign(np.einsum("ij,ij->i", offset, normal))
        with np.errstate(invalid="ignore", divide="ignore"):
            gradient = sign[:, None] * offset / best[:, None]
        on_surface = best < 1e-12
        gradient[on_surface] = normal[on_surface] / np.linalg.norm(
            normal[on_surface], axis=1, keepdims=True
        ).clip(1e-300)
        return sign * best, gradient

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        if points.ndim != 2 or points.shape[1] != 3:
            raise InputError(f"MeshSDF: points must be (N, 3), got {tuple(points.shape)}")
        return _MeshDistance.apply(points, self)


class _MeshDistance(torch.autograd.Function):
    """Makes :class:`MeshSDF` differentiable: its gradient is known in closed form."""

    @staticmethod
    def forward(ctx, points: torch.Tensor, mesh_sdf: MeshSDF) -> torch.Tensor:
        values, gradient = mesh_sdf.signed_distance(points.detach().cpu().numpy())
        ctx.save_for_backward(torch.from_numpy(gradient).to(points))
        return torch.from_numpy(values).to(points)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        (gradient,) = ctx.saved_tensors
        return grad_output[:, None] * gradient, None


# ---------------------------------------------------------------------------------------------
# Training samples

SURFACE_MESH_RESOLUTION = 64
"""Grid for the marching-cubes mesh whose samples seed the surface points of a non-mesh SDF."""


def surface_samples(
    shape: SDF,
    n: int,
    rng: np.random.Generator,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """``n`` points on the surface of ``shape``, about uniform by area; ``(n, 3)`` float32.

    A :class:`MeshSDF` is sampled exactly on its triangles. Any other SDF is meshed by marching
    cubes (:data:`SURFACE_MESH_RESOLUTION`), sampled by area, and the samples projected onto
    the true zero level set along the gradient (:func:`project_to_surface`), which removes
    the faceting error; the density keeps an error of the order of a grid cell.
    """
    if isinstance(shape, MeshSDF):
        points = sample_surface(shape.vertices, shape.faces, n, rng)
        return torch.from_numpy(points).to(device)
    vertices, faces = extract_mesh(
        shape, SURFACE_MESH_RESOLUTION, chunk_size=chunk_size, device=device
    )
    points = torch.from_numpy(sample_surface(vertices, faces, n, rng)).to(device)
    return project_to_surface(shape, points, chunk_size=chunk_size)


def sample_points(
    shape: SDF,
    n: int,
    rng: np.random.Generator,
    near_fraction: float = 0.8,
    sigma: float | Sequence[float] = (0.01, 0.05),
    *,
    bounds: tuple[float, float] = (-1.0, 1.0),
    chunk_size: int = DEFAULT_CHUNK,
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points for fitting an SDF, with the true values; deterministic given ``rng``'s state.

    The first ``round(n · near_fraction)`` points are surface samples
    (:func:`surface_samples`) moved by isotropic Gaussian noise, split evenly between the
    standard deviations in ``sigma`` (world units; a small one for detail, a larger one for
    the field around it, as in DeepSDF). The rest are uniform in the cube
    ``[bounds[0], bounds[1]]³``. Near points pushed out of the cube are clamped back into it.

    Returns points ``(n, 3)`` float32 and their SDF values ``(n,)`` float32, on ``device``.
    """
    sigmas = [float(sigma)] if np.isscalar(sigma) else [float(s) for s in sigma]
    if n < 1:
        raise ConfigError(f"number of sample points must be at least 1, got {n}")
    if not 0 <= near_fraction <= 1:
        raise ConfigError(f"near_fraction must be in [0, 1], got {near_fraction}")
    if not sigmas or min(sigmas) <= 0:
        raise ConfigError(f"sigma must be positive (one value or several), got {sigma!r}")
    n_near = round(n * near_fraction)
    parts = []
    if n_near:
        surface = surface_samples(shape, n_near, rng, chunk_size=chunk_size, device=device)
        groups = np.array_split(np.arange(n_near), len(sigmas))
        scales = np.concatenate([np.full(len(g), s) for g, s in zip(groups, sigmas, strict=True)])
        noise = rng.standard_normal((n_near, 3)) * scales[:, None]
        parts.append((surface + torch.from_numpy(noise).to(surface)).clamp(*bounds))
    uniform = rng.uniform(bounds[0], bounds[1], size=(n - n_near, 3))
    parts.append(torch.from_numpy(uniform).to(device=device, dtype=torch.float32))
    points = torch.cat(parts)
    return points, evaluate_sdf(shape, points, chunk_size).to(torch.float32)

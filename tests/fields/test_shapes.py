"""True shapes: analytic SDFs, meshes read from files and their exact SDF, fitting samples."""

import numpy as np
import pytest
import torch
import trimesh
from scipy import stats
from scipy.spatial import cKDTree

from neuralshade.errors import InputError
from neuralshade.fields.shapes import (
    SHAPES,
    MeshSDF,
    analytic_shape,
    load_mesh,
    sample_points,
    sphere_sdf,
    surface_samples,
)


def winding_numbers(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Generalised winding numbers (van Oosterom & Strackee solid angles): 1 inside, 0 out."""
    corners = triangles[None] - points[:, None, None]  # (N, F, 3, 3)
    a, b, c = corners[..., 0, :], corners[..., 1, :], corners[..., 2, :]
    la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
    numerator = np.einsum("nfi,nfi->nf", a, np.cross(b, c))
    denominator = (
        la * lb * lc
        + np.einsum("nfi,nfi->nf", a, b) * lc
        + np.einsum("nfi,nfi->nf", b, c) * la
        + np.einsum("nfi,nfi->nf", c, a) * lb
    )
    return 2 * np.arctan2(numerator, denominator).sum(axis=1) / (4 * np.pi)


def brute_force_distance(points: np.ndarray, mesh: trimesh.Trimesh) -> np.ndarray:
    """Distance to the nearest of all triangles, by trimesh's per-pair closest point."""
    n, f = len(points), len(mesh.faces)
    triangles = np.broadcast_to(mesh.triangles, (n, f, 3, 3)).reshape(-1, 3, 3)
    queries = np.repeat(points, f, axis=0)
    closest = trimesh.triangles.closest_point(triangles, queries)
    return np.linalg.norm(queries - closest, axis=1).reshape(n, f).min(axis=1)


# --- analytic shapes -------------------------------------------------------------------------


def test_unknown_shape_lists_the_known_names():
    with pytest.raises(InputError, match="known shapes: box, box_minus_sphere, capsule"):
        analytic_shape("teapot")
    assert analytic_shape("torus") is SHAPES["torus"]


def test_analytic_sdfs_have_their_closed_form_values():
    values = {
        "sphere": ([0, 0, 0], -0.6),  # centre: minus the radius
        "box": ([0, 0, 0], -0.4),  # centre: minus the smallest half size
        "torus": ([0.55, 0, 0], -0.22),  # on the ring: minus the tube radius
        "capsule": ([0, 0, 0], -0.3),  # on the segment: minus the radius
    }
    for name, (point, expected) in values.items():
        value = SHAPES[name](torch.tensor([point], dtype=torch.float32))
        assert value.item() == pytest.approx(expected, abs=1e-6), name
    # outside along an axis: the gap to the surface
    assert SHAPES["box"](torch.tensor([[0.9, 0.0, 0.0]])).item() == pytest.approx(0.3, abs=1e-6)
    assert SHAPES["torus"](torch.tensor([[0.0, 0.5, 0.0]])).item() == pytest.approx(
        np.hypot(0.55, 0.5) - 0.22, abs=1e-6
    )


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_shape_fits_in_the_cube_with_a_margin(name):
    shape = SHAPES[name]
    surface = surface_samples(shape, 4000, np.random.default_rng(0))
    assert surface.abs().max() < 0.95
    corners = torch.tensor([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)])
    assert (shape(corners.float()) > 0).all()


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_exact_shapes_give_the_distance_to_their_surface(name):
    """|sdf| against the distance to dense surface samples (a brute-force, independent SDF);
    the CSG shape only bounds it from below."""
    shape = SHAPES[name]
    rng = np.random.default_rng(1)
    surface = surface_samples(shape, 60000, rng).numpy()
    assert np.abs(shape(torch.from_numpy(surface)).numpy()).max() < 1e-5  # projected onto it
    queries = torch.from_numpy(rng.uniform(-1, 1, (2000, 3)).astype(np.float32))
    values = shape(queries).numpy()
    nearest = cKDTree(surface).query(queries.numpy())[0]  # >= the true distance
    spacing = 0.02  # about the largest gap between 60k samples on these areas
    if shape.exact:
        np.testing.assert_allclose(np.abs(values), nearest, atol=spacing)
    else:
        assert (np.abs(values) <= nearest + 1e-6).all()


@pytest.mark.parametrize("name", [n for n in sorted(SHAPES) if SHAPES[n].exact])
def test_exact_sdfs_have_unit_gradient_almost_everywhere(name):
    points = torch.rand(4000, 3) * 2 - 1
    points.requires_grad_(True)
    (gradient,) = torch.autograd.grad(SHAPES[name](points).sum(), points)
    norm = gradient.norm(dim=1)
    # off the measure-zero medial axis (where the gradient jumps) |∇sdf| = 1
    assert ((norm - 1).abs() < 1e-4).float().mean() > 0.99


# --- meshes ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def icosphere():
    return trimesh.creation.icosphere(subdivisions=3, radius=0.6)


def test_mesh_sdf_of_an_icosphere_matches_the_sphere_within_its_faceting(icosphere):
    # the mesh is inscribed: it deviates from the sphere by at most r − (closest face plane)
    faceting = 0.6 - np.einsum("ij,ij->i", icosphere.face_normals, icosphere.triangles[:, 0]).min()
    points = torch.rand(20000, 3) * 2 - 1
    mesh_values = MeshSDF(icosphere)(points)
    exact = sphere_sdf(points)
    assert (mesh_values - exact).abs().max() <= faceting + 1e-5
    clear = exact.abs() > faceting
    assert torch.equal(mesh_values[clear] < 0, exact[clear] < 0)


def test_mesh_sdf_is_the_exact_distance_with_the_winding_number_sign():
    """Against brute force over all triangles and generalised winding numbers, on a torus
    (saddles, concave parts) and a box (sharp edges and corners), near and far."""
    rng = np.random.default_rng(2)
    for mesh in (
        trimesh.creation.torus(major_radius=0.55, minor_radius=0.22, major_sections=24),
        trimesh.creation.box(extents=(1.2, 0.8, 1.0)),
    ):
        surface = mesh.sample(200, seed=3)
        points = np.concatenate(
            [rng.uniform(-1, 1, (200, 3)), surface + rng.normal(0, 0.02, surface.shape)]
        )
        values = MeshSDF(mesh)(torch.from_numpy(points).float()).double().numpy()
        np.testing.assert_allclose(np.abs(values), brute_force_distance(points, mesh), atol=1e-6)
        inside = winding_numbers(points.astype(np.float32), mesh.triangles) > 0.5
        clear = np.abs(values) > 1e-5  # float32 points right on the surface may go either way
        assert np.array_equal((values < 0)[clear], inside[clear])


def test_mesh_sdf_gradient_is_that_of_its_values(icosphere):
    """The closed-form backward against central differences of the forward, off the medial
    axis; on a sphere it is about radial, outward."""
    sdf = MeshSDF(icosphere)
    points = torch.tensor([[0.9, 0.05, 0.0], [0.0, 0.3, 0.1], [0.1, 0.0, -0.8]], requires_grad=True)
    (gradient,) = torch.autograd.grad(sdf(points).sum(), points)
    step = 1e-3
    offsets = step * torch.eye(3)
    differences = torch.stack(
        [(sdf(points.detach() + o) - sdf(points.detach() - o)) / (2 * step) for o in offsets], dim=1
    )
    assert torch.allclose(gradient, differences, atol=1e-3)
    radial = points.detach() / points.detach().norm(dim=1, keepdim=True)
    assert ((gradient * radial).sum(dim=1) > 0.99).all()


def test_mesh_sdf_orients_an_inside_out_mesh(icosphere):
    flipped = icosphere.copy()
    flipped.invert()
    points = torch.tensor([[0.0, 0.0, 0.0], [0.9, 0.0, 0.0]])
    assert torch.allclose(MeshSDF(flipped)(points), MeshSDF(icosphere)(points))


@pytest.mark.parametrize("suffix", [".obj", ".ply", ".stl"])
def test_load_mesh_reads_each_format_into_the_cube(tmp_path, icosphere, suffix):
    original = icosphere.copy()
    original.apply_scale((3.0, 1.5, 2.0))
    original.apply_translation((5.0, -2.0, 1.0))
    original.invert()  # inside out in the file: load_mesh turns it right
    path = tmp_path / f"shape{suffix}"
    original.export(path)
    mesh, normalisation = load_mesh(path, margin=0.1)
    assert mesh.volume > 0
    assert np.allclose(mesh.bounds, [[-0.9, -0.45, -0.6], [0.9, 0.45, 0.6]], atol=1e-6)
    assert np.allclose(normalisation.to_original(mesh.bounds), original.bounds, atol=1e-5)
    assert np.allclose(
        normalisation.to_unit(original.vertices),
        original.copy().apply_transform(normalisation.matrix).vertices,
    )
    assert MeshSDF(mesh)(torch.zeros(1, 3)).item() < 0


def test_load_mesh_refuses_a_mesh_with_a_hole(tmp_path, icosphere):
    open_mesh = trimesh.Trimesh(icosphere.vertices, icosphere.faces[1:])
    open_mesh.export(tmp_path / "holey.stl")
    with pytest.raises(InputError, match="holey.stl: the mesh is not watertight.*repair"):
        load_mesh(tmp_path / "holey.stl")
    with pytest.raises(InputError, match="not watertight"):
        MeshSDF(open_mesh)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.ply", b"garbage, not a mesh\n" * 4, "cannot read it as a mesh"),
        ("empty.obj", b"", "no triangles"),
        ("points.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no triangles"),
        ("model.fbx", b"anything", "unsupported mesh format"),
    ],
)
def test_load_mesh_refuses_bad_files_with_a_clear_message(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_mesh(tmp_path / name)
    with pytest.raises(InputError, match="no such file"):
        load_mesh(tmp_path / "missing.obj")


# --- samples ---------------------------------------------------------------------------------


def test_surface_samples_of_a_sphere_are_uniform_by_area():
    # Archimedes: on a sphere, a uniform-by-area sample's z is uniform in [−r, r]
    points = surface_samples(SHAPES["sphere"], 20000, np.random.default_rng(4)).numpy()
    assert np.abs(np.linalg.norm(points, axis=1) - 0.6).max() < 1e-5
    assert stats.kstest(points[:, 2] / 0.6, stats.uniform(-1, 2).cdf).pvalue > 1e-3


def test_sample_points_mix_near_surface_and_uniform_volume_points():
    shape = SHAPES["torus"]
    points, values = sample_points(shape, 10000, np.random.default_rng(5), 0.6, sigma=0.01)
    assert points.shape == (10000, 3) and values.shape == (10000,)
    assert points.dtype == values.dtype == torch.float32
    assert torch.equal(values, shape(points))
    near, volume = values[:6000], points[6000:].numpy()
    # surface + N(0, σ²) noise: the signed distance is about the normal component of the noise
    assert near.abs().max() < 6 * 0.01
    assert near.std().item() == pytest.approx(0.01, rel=0.1)
    for axis in range(3):
        assert stats.kstest(volume[:, axis], stats.uniform(-1, 2).cdf).pvalue > 1e-3


def test_sample_points_splits_near_points_between_the_sigmas():
    _, values = sample_points(SHAPES["sphere"], 4000, np.random.default_rng(6), 1.0, (0.01, 0.05))
    assert values[:2000].std().item() == pytest.approx(0.01, rel=0.15)
    assert values[2000:].std().item() == pytest.approx(0.05, rel=0.15)


def test_sample_points_is_deterministic_given_the_seed(icosphere):
    for shape in (SHAPES["capsule"], MeshSDF(icosphere)):
        first = sample_points(shape, 3000, np.random.default_rng(7))
        again = sample_points(shape, 3000, np.random.default_rng(7))
        other = sample_points(shape, 3000, np.random.default_rng(8))
        assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
        assert not torch.equal(first[0], other[0])

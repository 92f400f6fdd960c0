"""Evaluating any SDF: sphere tracing, marching cubes, IoU and Chamfer, against closed forms."""

import math

import numpy as np
import pytest
import torch
import trimesh

from neuralshade.errors import ConfigError, InputError
from neuralshade.fields.geometry import (
    chamfer_distance,
    evaluate_grid,
    extract_mesh,
    look_at,
    occupancy_iou,
    orbit_camera,
    sample_surface,
    sdf_gradient,
    sphere_trace,
)
from neuralshade.fields.shapes import SHAPES, sphere_sdf

CENTER, RADIUS = (0.1, -0.05, 0.05), 0.5


def sphere(points: torch.Tensor) -> torch.Tensor:
    return sphere_sdf(points, CENTER, RADIUS)


def ray_sphere_depth(origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Closed-form distance to the first intersection with the sphere; NaN where missed."""
    origins, directions = origins.astype(np.float64), directions.astype(np.float64)
    offset = origins - np.asarray(CENTER)
    b = np.einsum("ij,ij->i", offset, directions)
    discriminant = b**2 - (np.einsum("ij,ij->i", offset, offset) - RADIUS**2)
    with np.errstate(invalid="ignore"):
        return -b - np.sqrt(discriminant)


# --- cameras and sphere tracing --------------------------------------------------------------


def test_orbit_camera_looks_at_its_target_from_the_given_angles():
    camera = orbit_camera(0, 0, distance=3.0)
    assert np.allclose(camera.eye, (0, 0, 3)) and np.allclose(camera.forward, (0, 0, -1))
    assert np.allclose(camera.right, (1, 0, 0)) and np.allclose(camera.up, (0, 1, 0))
    camera = orbit_camera(90, 30, distance=2.0, target=(0.5, 0, 0))
    expected = (0.5 + 2 * math.cos(math.radians(30)), 2 * math.sin(math.radians(30)), 0.0)
    assert np.allclose(camera.eye, expected)
    with pytest.raises(ConfigError, match="parallel"):
        look_at((0, 3, 0), (0, 0, 0), up=(0, 1, 0))


@pytest.fixture(scope="module")
def traced():
    camera = look_at((1.2, 0.9, 2.6), CENTER, fov_deg=35.0)
    with torch.no_grad():  # the normals need autograd: sphere_trace must switch it back on
        result = sphere_trace(sphere, camera, 65, hit_tolerance=1e-4, step_scale=1.0)
    return camera, result


def test_sphere_trace_hits_the_disc_the_pinhole_projection_predicts(traced):
    camera, result = traced
    distance = np.linalg.norm(np.subtract(camera.eye, CENTER))
    # the silhouette is a cone of half-angle asin(r / d) around the axis: a disc on the image
    radius_px = math.tan(math.asin(RADIUS / distance)) / math.tan(math.radians(35.0) / 2) * 32.5
    assert result.hit.sum().item() == pytest.approx(math.pi * radius_px**2, rel=0.02)
    origins, directions = camera.rays((65, 65))
    exact_hit = ~np.isnan(ray_sphere_depth(origins.numpy(), directions.numpy())).reshape(65, 65)
    assert (result.hit.numpy() != exact_hit).sum() <= 0.01 * exact_hit.sum()


def test_sphere_trace_depth_and_normals_match_the_closed_form(traced):
    camera, result = traced
    assert result.depth[32, 32].item() == pytest.approx(
        np.linalg.norm(np.subtract(camera.eye, CENTER)) - RADIUS, abs=2e-4
    )  # the centre ray of an odd-sized image goes through the sphere's centre
    origins, directions = (x.numpy() for x in camera.rays((65, 65)))
    hit = result.hit.numpy().ravel()
    exact_depth = ray_sphere_depth(origins[hit], directions[hit])
    depth = result.depth.numpy().ravel()[hit]
    # a hit stops within hit_tolerance of the surface, so at most hit_tolerance / cos(angle of
    # incidence) before it along the ray (the sphere curves away from the ray's tangent)
    exact_normal = (origins[hit] + exact_depth[:, None] * directions[hit] - CENTER) / RADIUS
    facing = -np.einsum("ij,ij->i", exact_normal, directions[hit])
    assert (depth <= exact_depth + 1e-5).all()
    assert (exact_depth - depth < 1e-4 / facing + 1e-5).all()
    points = origins[hit] + depth[:, None] * directions[hit]
    expected = (points - np.asarray(CENTER)) / RADIUS
    assert np.abs(result.normal.numpy().reshape(-1, 3)[hit] - expected).max() < 1e-3
    assert np.isinf(result.depth.numpy().ravel()[~hit]).all()


def test_sphere_trace_shades_lambert_plus_ambient_over_the_background():
    camera = orbit_camera(0, 0, 3.0)
    result = sphere_trace(
        SHAPES["sphere"], camera, 33, light_dir=(0, 0, 1), ambient=0.25, color=(1.0, 0.5, 0.2),
        background=(0.0, 0.0, 1.0),
    )  # fmt: skip
    assert result.image.shape == (33, 33, 3) and result.image.dtype == torch.float32
    assert (result.image[~result.hit] == torch.tensor([0.0, 0.0, 1.0])).all()
    # facing the light (the normal at the centre pixel is +z): full Lambert
    assert torch.allclose(result.image[16, 16], torch.tensor([1.0, 0.5, 0.2]), atol=1e-4)
    lambert = result.normal[result.hit] @ torch.tensor([0.0, 0.0, 1.0])
    shade = 0.25 + 0.75 * lambert.clamp_min(0)
    assert torch.allclose(result.image[result.hit][:, 0], shade, atol=1e-5)


def test_a_cautious_step_scale_renders_the_same_shape():
    camera = orbit_camera(30, 20, 3.0)
    full = sphere_trace(SHAPES["torus"], camera, 48, step_scale=1.0)
    cautious = sphere_trace(SHAPES["torus"], camera, 48, step_scale=0.5, max_steps=256)
    assert (full.hit != cautious.hit).sum() <= 3
    both = full.hit & cautious.hit
    assert torch.allclose(full.depth[both], cautious.depth[both], atol=3e-3)


def test_sdf_gradient_leaves_network_parameters_alone():
    torch.manual_seed(0)
    network = torch.nn.Sequential(
        torch.nn.Linear(3, 16), torch.nn.Softplus(), torch.nn.Linear(16, 1)
    )
    points = torch.rand(10, 3)
    with torch.no_grad():
        values, gradient = sdf_gradient(lambda p: network(p)[:, 0], points, chunk_size=4)
    assert all(p.grad is None for p in network.parameters())
    step = 1e-3 * torch.eye(3)
    differences = torch.stack(
        [(network(points + s) - network(points - s))[:, 0] / 2e-3 for s in step], dim=1
    )
    assert torch.allclose(gradient, differences.detach(), atol=1e-3)
    assert torch.allclose(values, network(points)[:, 0].detach())


# --- grids and meshes ------------------------------------------------------------------------


def test_evaluate_grid_indexes_x_y_z_and_chunks_do_not_matter():
    def plane(p):
        return p[:, 0] + 10 * p[:, 1] + 100 * p[:, 2]

    volume = evaluate_grid(plane, 5, bounds=(-1.0, 1.0), chunk_size=7)
    assert volume[4, 0, 0] == pytest.approx(1 - 10 - 100)  # node (1, −1, −1)
    assert volume[0, 2, 4] == pytest.approx(-1 + 0 + 100)  # node (−1, 0, 1)
    assert np.array_equal(volume, evaluate_grid(plane, 5, chunk_size=1000))


def test_marching_cubes_of_a_sphere_puts_vertices_on_it_facing_out():
    resolution = 40
    cell = 2 / (resolution - 1)
    vertices, faces = extract_mesh(sphere, resolution)
    assert vertices.dtype == np.float32 and faces.dtype == np.int64
    radii = np.linalg.norm(vertices - np.asarray(CENTER), axis=1)
    assert np.abs(radii - RADIUS).max() < 0.1 * cell  # linear interpolation on a smooth surface
    mesh = trimesh.Trimesh(vertices, faces)
    assert mesh.is_watertight
    assert mesh.volume == pytest.approx(4 / 3 * math.pi * RADIUS**3, rel=0.02)  # > 0: outward


def test_extract_mesh_says_when_the_level_set_is_empty():
    def far_away(p):
        return sphere_sdf(p, (3.0, 0.0, 0.0), 0.5)

    with pytest.raises(InputError, match="empty.*all above the level"):
        extract_mesh(far_away, 16)


def test_chamfer_distance_of_a_set_with_itself_is_zero_and_of_a_shifted_set_the_shift():
    grid = np.stack(np.meshgrid(*[np.arange(6) * 0.1] * 3, indexing="ij"), -1).reshape(-1, 3)
    assert chamfer_distance(grid, grid) == 0.0
    # shifted by less than half the spacing, every nearest neighbour is the point's own copy
    assert chamfer_distance(grid, grid + [0.03, 0.0, 0.0]) == pytest.approx(0.03)
    with pytest.raises(InputError, match=r"\(N, 3\)"):
        chamfer_distance(grid[:, :2], grid)


def test_chamfer_distance_between_a_marching_cubes_sphere_and_the_true_one_is_small():
    rng = np.random.default_rng(0)
    vertices, faces = extract_mesh(sphere, 40)
    mesh_points = sample_surface(vertices, faces, 5000, rng)
    directions = rng.standard_normal((5000, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    exact = np.asarray(CENTER) + RADIUS * directions
    small = chamfer_distance(mesh_points, exact)
    assert small < 0.015  # about the sample spacing: the surfaces themselves nearly agree
    # a concentric sphere 0.1 larger: the nearest neighbours are about 0.1 away
    larger = np.asarray(CENTER) + (RADIUS + 0.1) * directions
    assert chamfer_distance(mesh_points, larger) == pytest.approx(0.1, abs=small)


def test_sample_surface_is_uniform_by_area_and_on_the_triangles():
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 3], [2, 0, 3], [0, 2, 3]], float)
    faces = np.array([[0, 1, 2], [3, 4, 5]])  # areas 0.5 and 2
    points = sample_surface(vertices, faces, 20000, np.random.default_rng(1))
    on_second = points[:, 2] == 3
    assert on_second.mean() == pytest.approx(0.8, abs=0.01)
    assert (points[:, :2] >= 0).all() and (points[~on_second, :2].sum(axis=1) <= 1 + 1e-6).all()
    assert np.array_equal(points, sample_surface(vertices, faces, 20000, np.random.default_rng(1)))


# --- occupancy IoU ---------------------------------------------------------------------------


def test_iou_of_a_shape_with_itself_is_one():
    shape = SHAPES["box_minus_sphere"]
    assert occupancy_iou(shape, shape, resolution=32) == 1.0
    assert occupancy_iou(shape, shape, n=5000, rng=np.random.default_rng(0)) == 1.0


def test_iou_of_nested_spheres_is_their_volume_ratio():
    def larger(p):
        return sphere_sdf(p, CENTER, RADIUS + 0.05)

    ratio = (RADIUS / (RADIUS + 0.05)) ** 3
    random_iou = occupancy_iou(sphere, larger, n=100_000, rng=np.random.default_rng(0))
    # standard error sqrt(IoU (1 − IoU) / n_union) ≈ 0.003 with ~17k points in the union
    assert random_iou == pytest.approx(ratio, abs=0.012)
    assert occupancy_iou(sphere, larger, resolution=64) == pytest.approx(ratio, abs=0.012)


def test_iou_needs_one_sampling_and_some_inside():
    with pytest.raises(ConfigError, match="exactly one"):
        occupancy_iou(sphere, sphere, resolution=8, n=10)

    def nothing(p):
        return torch.ones(len(p))

    with pytest.raises(InputError, match="undefined"):
        occupancy_iou(nothing, nothing, resolution=8)

"""Screen-space AO baselines against closed forms, against Mitsuba's ray-traced AO, and their
camera model against Mitsuba's camera."""

import math

import numpy as np
import pytest
import torch

from neuralshade.baselines import SCREEN_SPACE_AO, gtao, hbao
from neuralshade.baselines.camera import focal_pixels, project, view_space
from neuralshade.baselines.horizon import slice_frame, view_basis
from neuralshade.data.sources.room import view_matrix
from neuralshade.errors import InputError

UP = (0.0, 1.0, 0.0)


def raycast(origin, target, planes, size=64, fov=60.0):
    """Camera-space (position, normal) (1, 3, H, W), focal, and world position (H, W, 3) of
    half-planes seen through each pixel's centre: an independent ray caster in numpy.

    planes: (point, unit normal, keep(p) → bool mask); the nearest front-facing hit wins.
    """
    world_from_cam = np.linalg.inv(view_matrix(origin, target, UP))
    f = focal_pixels(fov, "x", size, size)
    v, u = np.mgrid[0:size, 0:size].astype(np.float64)
    c = (size - 1) / 2
    d = np.stack([(c - u) / f, (c - v) / f, np.ones_like(u)], -1) @ world_from_cam[:3, :3].T
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    o = np.asarray(origin, float)
    best = np.full((size, size), np.inf)
    pos, nrm = np.zeros((size, size, 3)), np.zeros((size, size, 3))
    for point, normal, keep in planes:
        normal = np.asarray(normal, float)
        facing = d @ normal
        with np.errstate(divide="ignore", invalid="ignore"):
            t = ((np.asarray(point, float) - o) @ normal) / facing
        p = o + t[..., None] * d
        ok = (facing < 0) & (t > 0) & (t < best) & keep(p)
        best = np.where(ok, t, best)
        pos[ok], nrm[ok] = p[ok], normal
    as_image = lambda a: torch.tensor(a, dtype=torch.float32).permute(2, 0, 1)[None]  # noqa: E731
    pose = torch.tensor(view_matrix(origin, target, UP).ravel(), dtype=torch.float32)
    p_cam, n_cam = view_space(as_image(pos), as_image(nrm), pose)
    return p_cam, n_cam, f, pos


def everywhere(p):
    return np.ones(p.shape[:-1], bool)


def ao_beside_wall(d: np.ndarray, radius: float) -> np.ndarray:
    """Ray-traced cosine-weighted AO of a floor point at distance ``d`` from an infinite wall
    (tests/render/test_gbuffer.py derives it): 1 − (acos a − a√(1 − a²))/π, a = d/R."""
    a = np.clip(d / radius, 0.0, 1.0)
    return 1.0 - (np.arccos(a) - a * np.sqrt(1 - a * a)) / np.pi


@pytest.fixture(scope="module")
def open_plane():
    # looking down at 25° from 1.5 high: the plane runs to the horizon, sky above it
    return raycast((0, 1.5, 3), (0, 0.1, 0), [((0, 0, 0), UP, everywhere)])


@pytest.fixture(scope="module")
def corner():
    """Floor y = 0 (x > 0) meeting a wall x = 0 (y > 0), the wall far up the image."""
    planes = [
        ((0, 0, 0), UP, lambda p: p[..., 0] > 0),
        ((0, 0, 0), (1, 0, 0), lambda p: p[..., 1] > 0),
    ]
    return raycast((2.2, 1.6, 0.3), (0.3, 0.2, 0), planes)


# ---- closed forms ----


@pytest.mark.parametrize("name", SCREEN_SPACE_AO)
def test_ao_is_one_on_an_open_plane_and_on_background(name, open_plane):
    p, n, f, _ = open_plane
    ao = SCREEN_SPACE_AO[name](p, n, focal=f, radius=1.0)[0, 0]
    sky = p[0, 2] == 0
    assert 200 < sky.sum() < 1000
    assert torch.all(ao[sky] == 1)
    ground = ao[~sky]
    if name == "ssao":
        # depth taps self-occlude where the ground is seen at a grazing angle, toward the
        # horizon, where a pixel spans more depth than the bias (0.05 R): measured mean 0.986,
        # min 0.62 tens of units away; the ground within 10 units is clean
        assert ground.mean() > 0.97
        assert torch.all(ao[~sky & (p[0, 2] < 10)] == 1)
    else:
        # horizons measured above the tangent plane read 0 on flat ground: measured exactly 1
        assert ground.min() > 0.98


@pytest.mark.parametrize("name", SCREEN_SPACE_AO)
def test_ao_beside_a_wall_follows_the_closed_form(name, corner):
    p, n, f, pos = corner
    radius = 0.8
    ao = SCREEN_SPACE_AO[name](p, n, focal=f, radius=radius)[0, 0].numpy()
    x = pos[..., 0]
    floor = (np.abs(pos[..., 1]) < 1e-9) & (x > 1e-9)
    assert (floor & (x < radius)).sum() > 600
    expected = ao_beside_wall(x, radius)
    # darkening grows toward the wall, as the closed form's does
    edges = np.linspace(0, 1.25 * radius, 6)
    bins = [floor & (x >= a) & (x < b) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    means = [ao[b].mean() for b in bins]
    assert all(later >= earlier - 0.01 for earlier, later in zip(means, means[1:], strict=False))
    assert means[0] < 0.9 and means[-1] > 0.99
    assert expected[bins[0]].mean() < 0.7
    error = np.abs(ao - expected)[floor].mean()
    # measured mean abs error: gtao 0.012, hbao 0.025 (not cosine-weighted, and W dims the
    # wall), ssao 0.024 (volume inside geometry, not rays)
    assert error < {"gtao": 0.02, "hbao": 0.04, "ssao": 0.05}[name]


@pytest.mark.parametrize(
    "pixel, normal",
    [((0.0, 0.0, 2.0), (0.0, 0.0, -1.0)), ((1.2, -0.9, 1.0), (0.0, 1.0, 0.0)),
     ((-0.4, 1.1, 0.8), (0.3, -0.8, -0.52)), ((1.5, 1.5, 1.0), (-0.9, -0.1, -0.42))],
)  # fmt: skip
def test_even_slices_about_the_view_vector_integrate_the_open_hemisphere_to_one(pixel, normal):
    """(1/π) ∫ ‖n_p‖ (cos γ + γ sin γ) dφ = 1: the cosine-weighted hemisphere, unoccluded, for
    any pixel (here up to 65° off-axis) and any normal facing it."""
    k = 512
    p = torch.tensor(pixel).view(1, 3, 1, 1).expand(1, 3, 1, k)
    n = torch.tensor(normal).view(1, 3, 1, 1)
    n = (n / torch.linalg.vector_norm(n)).expand(1, 3, 1, k)
    assert torch.all((n * -p).sum(1) > 0)  # facing the camera
    phi = (math.pi * (torch.arange(k) + 0.5) / k).view(1, 1, k)
    frame = slice_frame(view_basis(p), n, phi)
    g = frame.gamma
    open_sky = frame.length * (torch.cos(g) + g * torch.sin(g))
    # measured within 1e-6; even steps on the image instead give up to 1.09
    assert open_sky.mean().item() == pytest.approx(1.0, abs=1e-4)


def test_gtao_converges_to_the_closed_form_with_more_taps(corner):
    p, n, f, pos = corner
    x = pos[..., 0]
    floor = (np.abs(pos[..., 1]) < 1e-9) & (x > 1e-9)
    expected = ao_beside_wall(x, 0.8)
    ao = gtao(p, n, focal=f, radius=0.8, slices=16, steps=32)[0, 0].numpy()
    # measured 0.0060 (0.012 at the default 4 × 8): the closed form is GTAO's limit here, a
    # heightfield seen whole. Weighting the slice uniformly instead of by the cosine gives
    # 0.016, dropping the projected normal's length 0.010
    assert np.abs(ao - expected)[floor].mean() < 0.008


def test_hbao_falloff_fades_a_wall_near_the_radius(corner):
    p, n, f, pos = corner
    radius = 0.8
    x = pos[..., 0]
    band = (np.abs(pos[..., 1]) < 1e-9) & (x > 0.75 * radius) & (x < radius)
    occlusion = 1 - hbao(p, n, focal=f, radius=radius)[0, 0].numpy()[band].mean()
    traced = 1 - ao_beside_wall(x[band], radius).mean()
    # W = 1 − r²/R² leaves a wall at 0.75-1 R almost no weight: measured 0.007 against the
    # closed form's 0.029 (0.045 without W)
    assert band.sum() > 100 and occlusion < 0.5 * traced


@pytest.mark.parametrize("name", SCREEN_SPACE_AO)
def test_an_occluder_far_in_front_leaves_no_halo(name):
    """A card floating 5 R above the floor hides part of it; no ray of length R reaches it."""
    card = ((0, 2.5, 0), UP, lambda p: (np.abs(p[..., 0]) < 0.6) & (np.abs(p[..., 2]) < 0.6))
    p, n, f, pos = raycast((0.5, 4.0, 2.0), (0, 0, 0), [((0, 0, 0), UP, everywhere), card])
    on_card = torch.from_numpy(np.abs(pos[..., 1] - 2.5) < 1e-9)
    floor = torch.from_numpy(np.abs(pos[..., 1]) < 1e-9)
    around = floor & (torch.nn.functional.max_pool2d(on_card[None].float(), 13, 1, 6)[0] > 0)
    assert on_card.sum() > 300 and around.sum() > 300
    ao = SCREEN_SPACE_AO[name](p, n, focal=f, radius=0.5)[0, 0]
    if name == "ssao":
        # the depth test alone darkens it to a mean of 0.81 (min 0.125); the range check
        # leaves measured mean 0.988, min 0.947
        assert ao[around].mean() > 0.97 and ao[around].min() > 0.9
    else:  # taps farther than R in 3D are no occluders
        assert ao[around].min() > 1 - 1e-5


@pytest.mark.parametrize("name", SCREEN_SPACE_AO)
def test_scaling_the_scene_and_the_radius_together_changes_nothing(name, corner):
    p, n, f, _ = corner
    small = SCREEN_SPACE_AO[name](p, n, focal=f, radius=0.8)
    large = SCREEN_SPACE_AO[name](2 * p, n, focal=f, radius=1.6)
    assert (small < 0.9).float().mean() > 0.05  # there is occlusion to preserve
    diff = (small - large).abs()
    # the same taps land on the same pixels; only float rounding of a tap's pixel may differ
    assert diff.mean() < 1e-3 and (diff > 1e-4).float().mean() < 0.01
    # …whereas the same scene with twice the radius is darker: the radius is in world units
    assert SCREEN_SPACE_AO[name](p, n, focal=f, radius=1.6).mean() < small.mean() - 0.02


@pytest.mark.parametrize("name", SCREEN_SPACE_AO)
def test_same_seed_same_output_and_a_batch_is_its_images(name, corner, open_plane):
    p = torch.cat([corner[0], open_plane[0]])
    n = torch.cat([corner[1], open_plane[1]])
    fn = SCREEN_SPACE_AO[name]
    a = fn(p, n, focal=corner[2], radius=0.8, seed=3)
    assert a.shape == (2, 1, 64, 64) and a.dtype == torch.float32
    assert 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, fn(p, n, focal=corner[2], radius=0.8, seed=3))
    assert not torch.equal(a, fn(p, n, focal=corner[2], radius=0.8, seed=4))
    for i in range(2):
        alone = fn(p[i : i + 1], n[i : i + 1], focal=corner[2], radius=0.8, seed=3)
        torch.testing.assert_close(alone, a[i : i + 1])


def test_bad_buffers_say_which_shapes():
    p = torch.zeros(1, 3, 8, 8)
    with pytest.raises(InputError, match=r"\(N, 3, H, W\).*\(1, 3, 8, 8\) and \(1, 8, 8\)"):
        gtao(p, torch.zeros(1, 8, 8), focal=10.0)
    with pytest.raises(InputError, match=r"pose must be \(N, 16\)"):
        view_space(p, p, torch.zeros(4, 4))
    with pytest.raises(InputError, match="fov_axis"):
        focal_pixels(60, "z", 8, 8)


# ---- against Mitsuba ----


@pytest.fixture(scope="module")
def mi(mitsuba):
    return mitsuba


def mitsuba_view(mi, origin, target, shapes, width, height, fov, fov_axis="x", **render):
    """Render ``shapes`` from a look-at camera; (out, camera-space position, normal)."""
    from neuralshade.render.mitsuba.gbuffer import render_gbuffers

    t = mi.ScalarTransform4f
    sensor = {
        "type": "perspective",
        "fov": fov,
        "fov_axis": fov_axis,
        "to_world": t().look_at(origin=list(origin), target=list(target), up=list(UP)),
        "film": {"type": "hdrfilm", "width": width, "height": height},
    }
    floor = {  # y = 0, facing +y, far wider than any view here
        "type": "rectangle",
        "to_world": t().rotate([1, 0, 0], -90).scale([20, 20, 1]),
        "bsdf": {"type": "diffuse"},
    }
    scene = mi.load_dict({"type": "scene", "floor": floor, **shapes, "sensor": sensor})
    out = render_gbuffers(scene, **render)
    as_image = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None]  # noqa: E731
    pose = torch.tensor(view_matrix(origin, target, UP).ravel(), dtype=torch.float32)
    p, n = view_space(as_image(out["position"]), as_image(out["normal"]), pose)
    return out, p, n


@pytest.mark.mitsuba
@pytest.mark.parametrize("fov_axis, width, height", [("x", 40, 24), ("y", 24, 40)])
def test_projection_lands_each_pixels_position_on_that_pixel(mi, fov_axis, width, height):
    ball = {"type": "sphere", "center": [0.2, 0.3, 0.1], "radius": 0.3}
    origin, target, fov = (0.7, 2.0, 1.5), (-0.3, 0.0, 0.2), 55.0
    out, p, _ = mitsuba_view(
        mi, origin, target, {"ball": ball}, width, height, fov, fov_axis,
        spp=64, buffers=["position", "normal"],
    )  # fmt: skip
    assert p[0, 2].min() > 0  # the floor fills the view
    u, v = project(p, focal_pixels(fov, fov_axis, height, width), height, width)
    rows, cols = np.mgrid[0:height, 0:width]
    # each position averages 64 samples over its pixel: its centre to ~0.1 px (max 0.12)
    assert np.abs(u[0].numpy() - cols).max() < 0.25
    assert np.abs(v[0].numpy() - rows).max() < 0.25
    # camera x is left: points with x > 0 are in the image's left half
    left = p[0, 0].numpy() > 0
    assert cols[left].mean() < width / 2 < cols[~left].mean()


@pytest.mark.mitsuba
def test_gtao_comes_closest_to_ray_traced_ao(mi):
    t = mi.ScalarTransform4f
    shapes = {
        "ball": {"type": "sphere", "center": [0.5, 0.5, 0.2], "radius": 0.5},
        "box": {
            "type": "cube",
            "to_world": t().translate([-0.7, 0.4, -0.3]).rotate([0, 1, 0], 30).scale(0.4),
        },
    }
    radius, fov, size = 1.0, 50.0, 48
    out, p, n = mitsuba_view(
        mi, (1.6, 1.9, 2.4), (0, 0.3, 0), shapes, size, size, fov,
        spp=256, ao_radius=radius, buffers=["ao", "position", "normal"],
    )  # fmt: skip
    reference = out["ao"][..., 0]
    hit = out["normal"].any(-1)
    assert hit.sum() > 1500 and (reference[hit] < 0.7).sum() > 100
    f = focal_pixels(fov, "x", size, size)

    def errors(blur):
        return {
            name: float(np.abs(fn(p, n, focal=f, radius=radius, blur=blur)[0, 0].numpy()
                               - reference)[hit].mean())
            for name, fn in SCREEN_SPACE_AO.items()
        }  # fmt: skip

    error, unblurred = errors(True), errors(False)
    # the blur averages the interleaved noise away: every method comes closer
    assert all(error[k] < unblurred[k] for k in error), (error, unblurred)
    trivial = float(np.abs(1 - reference[hit]).mean())  # AO = 1 everywhere: 0.095
    # measured mean abs error, seed 0, blurred (unblurred): gtao 0.022 (0.029; 64 taps per
    # pixel), hbao 0.037 (0.038; 48 taps), ssao 0.039 (0.046; 16 taps); the reference's own
    # noise at 256 spp is part of every figure
    assert error["gtao"] < 0.04 and error["gtao"] < 0.4 * trivial
    assert error["gtao"] < min(error["hbao"], error["ssao"])
    assert max(error.values()) < 0.7 * trivial


def test_the_interleave_blur_removes_the_tile_pattern_but_not_depth_edges():
    """A 4-periodic pattern of zero mean averages out exactly inside a surface; two surfaces
    at different depths keep their own values up to their shared edge."""
    from neuralshade.baselines.camera import interleave_blur

    h, w = 16, 20
    z = torch.where(torch.arange(w) < 9, 1.0, 3.0).expand(1, h, w)
    position = torch.stack([torch.zeros(1, h, w), torch.zeros(1, h, w), z], 1)
    base = torch.where(z < 2, 0.3, 0.8)
    pattern = torch.tensor([-0.1, 0.05, 0.1, -0.05])
    wiggle = pattern[torch.arange(h) % 4][:, None] + pattern[torch.arange(w) % 4][None, :]
    hit = torch.ones(1, h, w, dtype=torch.bool)
    out = interleave_blur(base + wiggle, position, hit)
    inner = torch.zeros(1, h, w, dtype=torch.bool)
    inner[:, 2:-2, 2:7] = inner[:, 2:-2, 11:-2] = True  # 2 px from the border and the edge
    torch.testing.assert_close(out[inner], base[inner], atol=1e-6, rtol=0)
    # at the edge only its own side counts: values stay within that side's range
    left, right = out[:, :, :9], out[:, :, 9:]
    assert left.max() <= 0.3 + 0.2 and right.min() >= 0.8 - 0.2
    assert torch.equal(interleave_blur(base, position, ~hit), base)  # background untouched

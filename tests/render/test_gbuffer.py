"""The one-pass G-buffer integrator against closed forms and against Mitsuba's own ``path``."""

import math

import numpy as np
import pytest
from scipy import ndimage

from neuralshade.errors import ConfigError, NeuralShadeError

try:
    from neuralshade.render.mitsuba_scene import load_mitsuba

    mi = load_mitsuba()
except NeuralShadeError as exc:  # no Mitsuba or no usable LLVM on this machine
    pytest.skip(f"Mitsuba unavailable: {exc}", allow_module_level=True)

from neuralshade.render.mitsuba.benchmark import room_scene  # noqa: E402
from neuralshade.render.mitsuba.gbuffer import (  # noqa: E402
    BUFFERS,
    DEFAULT_BUFFERS,
    bsdf_roughness,
    render_gbuffer_levels,
    render_gbuffers,
)

pytestmark = pytest.mark.mitsuba

T = mi.ScalarTransform4f


def diffuse(rgb=(0.5, 0.5, 0.5)):
    return {"type": "diffuse", "reflectance": {"type": "rgb", "value": list(rgb)}}


def camera(origin, target, size, fov=40.0, up=(0, 1, 0)):
    return {
        "type": "perspective",
        "fov": fov,
        "to_world": T().look_at(origin=list(origin), target=list(target), up=list(up)),
        "film": {"type": "hdrfilm", "width": size, "height": size, "rfilter": {"type": "box"}},
    }


def floor(bsdf, half=5.0):
    """A square at y = 0 facing +y."""
    return {
        "type": "rectangle",
        "to_world": T().rotate([1, 0, 0], -90).scale([half, half, 1]),
        "bsdf": bsdf,
    }


def scene(**items):
    return mi.load_dict({"type": "scene", **items})


def pixel_rays(sc, offset=(0.5, 0.5)):
    """Origins and unit directions (H, W, 3) of the camera rays through one point of each pixel."""
    sensor = sc.sensors()[0]
    w, h = sensor.film().crop_size()
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    u = mi.Point2f((xs.ravel() + offset[0]) / w, (ys.ravel() + offset[1]) / h)
    ray, _ = sensor.sample_ray(0.0, 0.5, u, mi.Point2f(0.5))
    o = np.stack([np.asarray(ray.o[i]) for i in range(3)], -1).reshape(h, w, 3)
    d = np.stack([np.asarray(ray.d[i]) for i in range(3)], -1).reshape(h, w, 3)
    return o, d


def sphere_hit(o, d, centre, radius):
    """Distance along unit rays (o, d) to a sphere, inf where they miss."""
    oc = o - np.asarray(centre)
    b = np.sum(oc * d, -1)
    disc = b * b - (np.sum(oc * oc, -1) - radius**2)
    t = -b - np.sqrt(np.maximum(disc, 0))
    return np.where(disc > 0, t, np.inf)


# ---- primary visibility ----


@pytest.fixture(scope="module")
def sphere_view():
    sc = scene(
        ball={"type": "sphere", "radius": 1.0, "bsdf": diffuse()},
        sensor=camera((0, 0, 4), (0, 0, 0), 32, fov=35),
    )
    return sc, render_gbuffers(sc, spp=64, buffers=["depth", "position", "normal"])


def test_depth_position_normal_of_a_sphere_are_analytic(sphere_view):
    sc, out = sphere_view
    spp = 64

    def analytic(offset):
        _, d = pixel_rays(sc, offset)
        o = np.broadcast_to(np.array([0.0, 0.0, 4.0]), d.shape)  # depth counts from the lens
        t = sphere_hit(o, d, (0, 0, 0), 1.0)
        p = o + np.where(np.isfinite(t), t, 0)[..., None] * d  # (misses: never used)
        return {"depth": t[..., None], "position": p, "normal": p}  # a unit sphere at 0

    centre = analytic((0.5, 0.5))
    corners = [analytic(c) for c in [(0, 0), (1, 0), (0, 1), (1, 1)]]
    inside = np.all([np.isfinite(c["depth"][..., 0]) for c in corners], 0)
    assert inside.sum() > 300
    for name in ("depth", "position", "normal"):
        # the buffer averages jittered samples: within noise of the value at the pixel's centre
        values = np.stack([c[name][inside] for c in corners] + [centre[name][inside]])
        noise = (values.max(0) - values.min(0)) / math.sqrt(12 * spp)
        error = np.abs(out[name][inside] - centre[name][inside])
        assert np.all(error <= 5 * noise + 1e-4), name


def test_depth_counts_from_the_camera_not_from_the_near_plane():
    """Mitsuba starts camera rays on the near plane; depth is the distance from the camera."""
    depths = []
    for near in (0.01, 2.5):
        sensor = {**camera((0, 0, 4), (0, 0, 0), 16, fov=35), "near_clip": near}
        sc = scene(ball={"type": "sphere", "radius": 1.0, "bsdf": diffuse()}, sensor=sensor)
        out = render_gbuffers(sc, spp=4, seed=3, buffers=["depth", "position"])
        # pixels inside the silhouette (at its edge a pixel also averages misses, 0)
        hit = ndimage.binary_erosion(out["depth"][..., 0] > 0)
        distance = np.linalg.norm(out["position"] - np.array([0.0, 0.0, 4.0]), axis=-1)
        assert hit.sum() > 50
        # the mean of the samples' distances vs the distance of their mean position
        np.testing.assert_allclose(out["depth"][hit, 0], distance[hit], rtol=2e-3)
        depths.append(out["depth"])
    np.testing.assert_allclose(depths[0], depths[1], atol=1e-4)


def test_geometric_buffers_are_zero_where_the_pixel_misses(sphere_view):
    sc, out = sphere_view
    o, d = pixel_rays(sc)
    # distance of each pixel's centre ray from the sphere's centre, far enough from r = 1
    miss = np.linalg.norm(np.cross(d, -o), axis=-1) > 1.1
    assert miss.sum() > 100
    for name in ("depth", "position", "normal"):
        assert np.all(out[name][miss] == 0), name


# ---- ambient occlusion and shadows ----


def test_ao_and_shadows_are_one_on_an_open_plane_under_a_lamp_sun_and_sky():
    sc = scene(
        ground=floor(diffuse()),
        lamp={"type": "point", "position": [0.3, 2.0, 0.1], "intensity": 5.0},
        sun={"type": "directional", "direction": [0.2, -1.0, 0.3]},
        sky={"type": "constant"},  # not a light that shadows count: AO's business
        sensor=camera((0, 2, 2), (0, 0, 0), 16, fov=70),
    )
    out = render_gbuffers(sc, spp=16, buffers=["ao", "shadows", "depth"])
    assert (out["depth"] == 0).any() and (out["depth"] > 0).any()  # plane and background
    assert np.all(out["ao"] == 1)
    assert np.all(out["shadows"] == 1)


def ao_beside_wall(d: np.ndarray, radius: float) -> np.ndarray:
    """AO of a point on a floor at distance ``d`` from an (effectively infinite) wall.

    Cosine-weighted directions project to the uniform unit disk (Malley), and a direction with
    horizontal component u toward the wall meets it within ``radius`` iff u ≥ a = d / radius:
    the blocked fraction is the disk segment beyond a, (acos a − a √(1 − a²)) / π.
    """
    a = np.clip(d / radius, 0.0, 1.0)
    return 1.0 - (np.arccos(a) - a * np.sqrt(1 - a * a)) / np.pi


def test_ao_beside_a_wall_matches_the_closed_form():
    radius, spp = 0.8, 256
    wall = {  # the plane x = 0, facing +x, 3 high and 10 long: infinite for rays of 0.8
        "type": "rectangle",
        "to_world": T().translate([0, 1.5, 0]).rotate([0, 1, 0], 90).scale([5, 1.5, 1]),
        "bsdf": diffuse(),
    }
    sc = scene(
        ground=floor(diffuse()),
        wall=wall,
        sensor=camera((0.7, 2.5, 0), (0.7, 0, 0), 16, fov=40, up=(0, 0, -1)),
    )
    out = render_gbuffers(sc, spp=spp, ao_radius=radius, buffers=["ao", "position", "normal"])
    x = out["position"][..., 0]
    on_floor = (out["normal"][..., 1] > 0.999) & (x > 0.02)
    assert on_floor.sum() > 150 and x[on_floor].min() < 0.15 and x[on_floor].max() > radius
    expected = ao_beside_wall(x, radius)
    ao = out["ao"][..., 0]
    sigma = np.sqrt(np.maximum(expected * (1 - expected), 1 / spp) / spp)
    z = (ao - expected)[on_floor] / sigma[on_floor]
    assert np.abs(z).max() < 5
    assert abs(float(np.mean(z))) < 0.3  # no bias
    assert ao[on_floor & (x > radius)].min() == 1.0
    assert ao_beside_wall(np.array(0.0), radius) == pytest.approx(0.5)  # at the wall's foot


def test_shadows_count_the_fraction_of_lights_that_see_the_point():
    centre, r = np.array([0.0, 1.0, 0.0]), 0.4
    lights = [np.array([-0.5, 3.0, 0.0]), np.array([0.5, 3.0, 0.0])]
    sc = scene(
        ground=floor(diffuse()),
        ball={"type": "sphere", "center": centre.tolist(), "radius": r, "bsdf": diffuse()},
        a={"type": "point", "position": lights[0].tolist(), "intensity": 5.0},
        b={"type": "point", "position": lights[1].tolist(), "intensity": 5.0},
        sensor=camera((0, 2.5, 2.5), (0, 0, 0.3), 32, fov=40),
    )
    out = render_gbuffers(sc, spp=16, buffers=["shadows", "position", "normal"])
    p = out["position"]
    on_floor = out["normal"][..., 1] > 0.999
    lit, clear = np.zeros(p.shape[:2]), np.ones(p.shape[:2], bool)
    for light in lights:
        seg = light - p
        # distance from the sphere's centre to the segment point → light
        s = np.clip(np.sum((centre - p) * seg, -1) / np.sum(seg * seg, -1), 0, 1)
        dist = np.linalg.norm(p + s[..., None] * seg - centre, axis=-1)
        lit += dist > r
        clear &= np.abs(dist - r) > 0.06  # away from the shadow's edge
    # and away from the edges of the shapes and shadows in the image too: 3×3 neighbours agree
    inner = np.zeros_like(clear)
    inner[1:-1, 1:-1] = np.all(
        [
            (lit[1 + dy : lit.shape[0] - 1 + dy, 1 + dx : lit.shape[1] - 1 + dx] == lit[1:-1, 1:-1])
            & on_floor[1 + dy : lit.shape[0] - 1 + dy, 1 + dx : lit.shape[1] - 1 + dx]
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
        ],
        axis=0,
    )
    check = on_floor & clear & inner
    assert {0.0, 0.5, 1.0} <= set(np.unique(lit[check] / 2))
    np.testing.assert_array_equal(out["shadows"][..., 0][check], lit[check] / 2)


# ---- light transport ----


def test_direct_light_of_a_small_sphere_on_a_lambertian_plane_is_analytic():
    rho, radiance, r, c = 0.5, 10.0, 0.1, np.array([0.0, 1.0, 0.0])
    sc = scene(
        ground=floor(diffuse((rho, rho, rho))),
        light={
            "type": "sphere",
            "center": c.tolist(),
            "radius": r,
            "emitter": {"type": "area", "radiance": {"type": "rgb", "value": [radiance] * 3}},
        },
        sensor=camera((0, 2.5, 2.5), (0, 0, 0), 32, fov=30),
    )
    out = render_gbuffers(sc, spp=64, buffers=["beauty", "direct", "indirect", "position"])
    p = out["position"]
    on_floor = (np.abs(p[..., 1]) < 1e-4) & (np.linalg.norm(p, axis=-1) > 0)
    dist = np.linalg.norm(c - p, axis=-1)
    # a uniform sphere light fully above the horizon: E = π L (r/D)² cos θ; out = ρ/π · E
    expected = rho * radiance * (r / dist) ** 2 * (c[1] - p[..., 1]) / dist
    assert on_floor.sum() > 200
    for name in ("direct", "beauty"):
        np.testing.assert_allclose(
            out[name][on_floor], expected[on_floor, None].repeat(3, 1), rtol=0.03
        )
    assert np.abs(out["indirect"]).max() < 1e-6  # the light is black and nothing else reflects


@pytest.fixture(scope="module")
def mirror_view():
    wall = {  # z = −2, facing +z, x in [−4, 4], y in [0, 1.5]
        "type": "rectangle",
        "to_world": T().translate([0, 0.75, -2]).scale([4, 0.75, 1]),
        "bsdf": diffuse((0.2, 0.6, 0.3)),
    }
    sc = scene(
        ground=floor({"type": "conductor"}),
        wall=wall,
        sky={"type": "constant", "radiance": {"type": "rgb", "value": [1.0, 1.0, 1.0]}},
        sensor=camera((0, 1.0, 3), (0, 0, -0.5), 24, fov=50),
    )
    return sc, render_gbuffers(sc, spp=32)


def test_mirror_buffers_of_a_mirror_floor_follow_the_reflection(mirror_view):
    sc, out = mirror_view
    o, _ = pixel_rays(sc)
    p = out["position"]
    on_floor = (np.abs(p[..., 1]) < 1e-4) & (out["normal"][..., 1] > 0.999)
    d = p - o
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    m = d * np.array([1.0, -1.0, 1.0])  # reflection about +y
    np.testing.assert_allclose(out["mirror"][on_floor], m[on_floor], atol=5e-3)

    t = (-2.0 - p[..., 2]) / m[..., 2]
    q = p + t[..., None] * m
    hits_wall = on_floor & (t > 0) & (np.abs(q[..., 0]) < 3.8) & (q[..., 1] < 1.4)
    misses = on_floor & ((t < 0) | (q[..., 1] > 1.7))
    assert hits_wall.sum() > 100 and misses.sum() > 20
    np.testing.assert_allclose(out["mirror_hit"][hits_wall], q[hits_wall], atol=2e-2)
    np.testing.assert_allclose(out["mirror_normal"][hits_wall], [[0, 0, 1]] * hits_wall.sum())
    assert np.all(out["mirror_hit"][misses] == 0) and np.all(out["mirror_normal"][misses] == 0)


def test_a_mirror_reflects_only_specular_light(mirror_view):
    _, out = mirror_view
    on_floor = out["normal"][..., 1] > 0.999
    assert out["beauty"][on_floor].mean() > 0.05
    assert np.all(out["diffuse"][on_floor] == 0)
    np.testing.assert_allclose(out["specular"][on_floor], out["beauty"][on_floor], rtol=1e-6)
    assert np.all(out["roughness"][on_floor] == 0)
    assert np.all(out["shadows"] == 1)  # a sky is no light to cast shadows


@pytest.fixture(scope="module")
def room():
    return room_scene(16)


def test_the_splits_add_up_to_beauty(room):
    out = render_gbuffers(room, spp=8)
    for a, b in (("direct", "indirect"), ("diffuse", "specular")):
        np.testing.assert_allclose(out[a] + out[b], out["beauty"], rtol=1e-5, atol=1e-6)
    assert out["diffuse"].min() >= 0 and out["specular"].min() > -1e-6
    assert out["indirect"].max() > 0.01 and out["diffuse"].max() > 0.01  # not trivially split


def mixed_scene(size):
    """Every emitter kind the integrator must weigh: area, point and environment; glossy,
    delta and dielectric BSDFs."""
    return scene(
        ground=floor(diffuse((0.7, 0.7, 0.7))),
        ball={
            "type": "sphere",
            "center": [-0.6, 0.5, 0],
            "radius": 0.5,
            "bsdf": {"type": "roughconductor", "alpha": 0.2},
        },
        glass={
            "type": "sphere",
            "center": [0.6, 0.4, 0.3],
            "radius": 0.4,
            "bsdf": {"type": "dielectric"},
        },
        box={
            "type": "cube",
            "to_world": T().translate([0.2, 0.25, -1]).scale(0.25),
            "bsdf": {"type": "plastic"},
        },
        light={
            "type": "sphere",
            "center": [0.5, 2.0, 1.0],
            "radius": 0.3,
            "emitter": {"type": "area", "radiance": {"type": "rgb", "value": [5, 5, 5]}},
        },
        lamp={"type": "point", "position": [-1.0, 2.0, 1.0], "intensity": 3.0},
        sky={"type": "constant", "radiance": {"type": "rgb", "value": [0.3, 0.4, 0.5]}},
        sensor=camera((0, 1.5, 3.5), (0, 0.3, 0), size, fov=45),
    )


@pytest.mark.parametrize("max_depth", [2, 5])
@pytest.mark.parametrize("which", ["room", "mixed"])
def test_beauty_matches_mitsubas_path_integrator(room, which, max_depth):
    sc = room if which == "room" else mixed_scene(16)
    spp = 1024
    path = mi.load_dict({"type": "path", "max_depth": max_depth})
    ref = np.asarray(mi.render(sc, integrator=path, spp=spp))
    out = render_gbuffers(
        sc, spp=spp, seed=3, max_depth=max_depth, buffers=["beauty", "beauty_variance"]
    )
    # compare away from emitters seen directly (and their neighbours), where a few pixels at an
    # emitter's edge, each a coin toss between 0 and its radiance, would drown the image mean
    seen = render_gbuffers(sc, spp=16, max_depth=1, buffers=["beauty"])["beauty"].max(-1) > 0
    seen = np.pad(seen, 1)
    seen = np.any(
        [np.roll(np.roll(seen, dy, 0), dx, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)], 0
    )
    keep = ~seen[1:-1, 1:-1]
    assert keep.sum() > 100
    ours, ref, var = out["beauty"][keep], ref[keep], out["beauty_variance"][keep]
    # Mitsuba's estimate has the variance of ours; the tails are heavier than a Gaussian's
    z = (ours - ref) / (np.sqrt(2 * var) + 1e-6)
    assert np.mean(np.abs(z) > 4) < 0.03
    mean_z = (ours - ref).sum(0) / np.sqrt(2 * var.sum(0))
    assert np.all(np.abs(mean_z) < 4)
    np.testing.assert_allclose(ours.mean(0), ref.mean(0), rtol=0.01)


def test_max_depth_one_shows_emitters_only(room):
    out = render_gbuffers(room, spp=4, max_depth=1, buffers=["beauty", "direct", "albedo"])
    assert set(np.unique(out["beauty"])) <= {0.0, 35.0 / 4, 35.0 / 2, 35.0 * 3 / 4, 35.0}
    np.testing.assert_array_equal(out["beauty"], out["direct"])
    assert out["albedo"].max() > 0  # the G-buffer does not depend on max_depth


@pytest.fixture(scope="module")
def corner():
    """A floor, a wall, a glossy ball and a sphere light out of view: noise without fireflies."""
    wall = {
        "type": "rectangle",
        "to_world": T().translate([0, 1.5, -1]).scale([3, 1.5, 1]),
        "bsdf": diffuse((0.8, 0.3, 0.2)),
    }
    return scene(
        ground=floor(diffuse((0.7, 0.7, 0.7))),
        wall=wall,
        ball={
            "type": "sphere",
            "center": [0.3, 0.4, 0],
            "radius": 0.4,
            "bsdf": {"type": "roughplastic", "alpha": 0.3},
        },
        light={
            "type": "sphere",
            "center": [-0.5, 2.2, 0.5],
            "radius": 0.3,
            "emitter": {"type": "area", "radiance": {"type": "rgb", "value": [5, 5, 5]}},
        },
        sensor=camera((0, 1.0, 3), (0, 0.4, 0), 16, fov=45),
    )


def test_error_shrinks_as_one_over_root_spp(corner):
    def beauty(spp, seed):
        return render_gbuffers(corner, spp=spp, seed=seed, buffers=["beauty"])["beauty"]

    ref = beauty(2048, 99)
    rmse = {spp: np.sqrt(np.mean((beauty(spp, 5) - ref) ** 2)) for spp in (4, 64)}
    expected = math.sqrt((1 / 4 + 1 / 2048) / (1 / 64 + 1 / 2048))  # ≈ 3.9, the reference's noise
    assert 0.8 < rmse[4] / rmse[64] / expected < 1.25


def test_beauty_variance_predicts_the_spread_between_renders(corner):
    kinds = ["beauty", "beauty_variance"]
    renders = [render_gbuffers(corner, spp=16, seed=s, buffers=kinds) for s in range(24)]
    spread = np.var(np.stack([r["beauty"] for r in renders]), axis=0, ddof=1)
    predicted = np.mean(np.stack([r["beauty_variance"] for r in renders]), axis=0)
    assert 0.8 < spread.sum() / predicted.sum() < 1.25


# ---- materials ----


@pytest.mark.parametrize(
    "bsdf, expected",
    [
        ({"type": "diffuse"}, 1.0),
        ({"type": "roughplastic", "alpha": 0.25}, 0.5),
        ({"type": "roughconductor", "alpha_u": 0.04, "alpha_v": 0.16}, math.sqrt(0.1)),
        ({"type": "twosided", "bsdf": {"type": "roughplastic", "alpha": 0.36}}, 0.6),
        ({"type": "conductor"}, 0.0),
        ({"type": "dielectric"}, 0.0),
        ({"type": "plastic"}, 0.0),
    ],
)
def test_roughness_is_read_from_the_bsdf(bsdf, expected):
    assert bsdf_roughness(mi.load_dict(bsdf)) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("weight", [0.0, 0.5, 1.0])
def test_albedo_is_the_diffuse_reflectance_even_beside_a_glossy_lobe(weight):
    """The room's materials: (1 − s)·Lambert + s·GGX conductor (ior 15, roughness 0.05). The
    albedo is the Lambert lobe's share, (1 − s)·ρ, at every pixel and viewing angle; Mitsuba's
    eval_diffuse_reflectance gave the glossy lobe's peak there (thousands)."""
    rho = [0.6, 0.4, 0.2]
    glossy = {"type": "roughconductor", "distribution": "ggx", "alpha": 0.0025, "eta": 15.0,
              "k": 0.0}  # fmt: skip
    lambert = {"type": "diffuse", "reflectance": {"type": "rgb", "value": rho}}
    inner = (lambert if weight == 0 else glossy if weight == 1 else
             {"type": "blendbsdf", "weight": weight, "diffuse": lambert, "specular": glossy})
    sc = scene(ground=floor({"type": "twosided", "material": inner}),
               sensor=camera((0, 1, 1.5), (0, 0, 0), 16, fov=70))  # fmt: skip
    out = render_gbuffers(sc, spp=4, buffers=["albedo", "normal"])
    seen = out["normal"][..., 1] > 0.99  # pixels on the floor
    assert seen.sum() > 50
    want = (1 - weight) * np.array(rho)
    np.testing.assert_allclose(out["albedo"][seen], np.broadcast_to(want, (seen.sum(), 3)),
                               rtol=1e-5, atol=1e-6)  # fmt: skip


def test_id_numbers_materials_and_roughness_can_be_overridden():
    sc = scene(
        ground=floor({"type": "roughplastic", "alpha": 0.25}),
        ball={"type": "sphere", "center": [0, 0.5, 0], "radius": 0.5, "bsdf": diffuse()},
        sensor=camera((0, 2, 2), (0, 0.3, 0), 16, fov=60),
    )
    kinds = ["id", "roughness", "position", "normal"]
    out = render_gbuffers(sc, spp=4, buffers=kinds)
    over = render_gbuffers(sc, spp=4, buffers=kinds, roughness={"ground": 0.9})
    # pixels wholly on one shape: their mean position and normal are that shape's
    p, n = out["position"], out["normal"]
    ball = np.linalg.norm(n - (p - [0, 0.5, 0]) / 0.5, axis=-1) < 1e-3
    ground = (np.abs(p[..., 1]) < 1e-4) & (n[..., 1] > 1 - 1e-6)
    assert ball.sum() > 10 and ground.sum() > 10
    # materials numbered in the order of the shapes' sorted ids: ball (1 of 2), ground (2 of 2)
    assert np.all(out["id"][ball] == 0.5) and np.all(out["id"][ground] == 1.0)
    assert np.all(out["roughness"][ball] == 1.0)
    np.testing.assert_allclose(out["roughness"][ground], 0.5)
    np.testing.assert_allclose(over["roughness"][ground], 0.9)
    with pytest.raises(ConfigError, match="nothere"):
        render_gbuffers(sc, spp=1, buffers=["id"], roughness={"nothere": 0.5})
    # ids given per shape replace the numbering; a shape left out reads 0, like background
    given = render_gbuffers(sc, spp=4, buffers=kinds, ids={"ball": 0.25})
    assert np.all(given["id"][ball] == 0.25) and np.all(given["id"][ground] == 0.0)
    with pytest.raises(ConfigError, match="ids names shapes the scene lacks.*nothere"):
        render_gbuffers(sc, spp=1, buffers=["id"], ids={"nothere": 0.5})


# ---- the call ----


def test_every_buffer_has_its_shape_and_a_subset_gives_the_same_values(room):
    assert set(render_gbuffers(room, spp=2, seed=7)) == set(DEFAULT_BUFFERS)  # "all"
    full = render_gbuffers(room, spp=4, seed=7, buffers=list(BUFFERS))
    assert set(full) == set(BUFFERS)
    for name, value in full.items():
        assert value.shape == (16, 16, BUFFERS[name]) and value.dtype == np.float32, name
        assert np.isfinite(value).all(), name
    part = render_gbuffers(room, spp=4, seed=7, buffers=["ao", "specular"])
    assert set(part) == {"ao", "specular"}
    np.testing.assert_array_equal(part["ao"], full["ao"])
    np.testing.assert_allclose(part["specular"], full["specular"], rtol=1e-6, atol=1e-7)


def test_same_seed_same_bytes(room):
    a, b = (render_gbuffers(room, spp=2, seed=1, buffers=["beauty", "ao"]) for _ in range(2))
    c = render_gbuffers(room, spp=2, seed=2, buffers=["beauty", "ao"])
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["beauty"], c["beauty"])


def test_bad_arguments_say_what_is_wrong(room):
    with pytest.raises(ConfigError, match="known: beauty"):
        render_gbuffers(room, spp=1, buffers=["beauty", "glossy"])
    with pytest.raises(ConfigError, match="spp"):
        render_gbuffers(room, spp=0)
    with pytest.raises(ConfigError, match="two samples"):
        render_gbuffers(room, spp=1, buffers=["beauty_variance"])
    assert "beauty_variance" not in render_gbuffers(room, spp=1)


def test_hidden_emitters_let_camera_rays_through_and_still_light_the_scene():
    mi = load_mitsuba("llvm_ad_rgb")
    scene = mi.load_dict({
        "type": "scene",
        "wall": {"type": "rectangle", "to_world": mi.ScalarTransform4f().translate([0, 0, -2]),
                 "bsdf": {"type": "diffuse", "reflectance": {"type": "rgb", "value": 0.5}}},
        "light": {"type": "sphere", "center": [0, 0, 0], "radius": 1.0,
                  "emitter": {"type": "area", "radiance": {"type": "rgb", "value": 5.0}}},
        "sensor": {"type": "perspective", "fov": 6,
                   "to_world": mi.ScalarTransform4f().look_at([0, 0, 3], [0, 0, 0], [0, 1, 0]),
                   "film": {"type": "hdrfilm", "width": 4, "height": 4},
                   "sampler": {"type": "independent"}},
    })  # fmt: skip
    shown = render_gbuffers(scene, spp=16, buffers=["beauty", "depth"])
    hidden = render_gbuffers(scene, spp=16, buffers=["beauty", "depth"], hide_emitters=True)
    # the light fills the view: seen, it is the depth of its front and its radiance
    np.testing.assert_allclose(shown["depth"], 2.0, atol=0.03)
    np.testing.assert_allclose(shown["beauty"], 5.0, atol=0.01)
    # hidden, the wall behind it, lit by it (and not the light's own radiance)
    np.testing.assert_allclose(hidden["depth"], 5.0, atol=0.03)
    assert 0.0 < hidden["beauty"].min() and hidden["beauty"].max() < 1.0


# ---- sample-count levels ----


def test_one_level_is_the_plain_render_byte_for_byte(room):
    plain = render_gbuffers(room, spp=4, seed=5, buffers=["beauty", "beauty_variance", "normal"])
    level = render_gbuffer_levels(
        room, levels=[4], seed=5, buffers=["beauty", "beauty_variance", "normal"]
    )
    assert list(level) == [4]
    for name, value in plain.items():
        np.testing.assert_array_equal(level[4][name], value)


@pytest.fixture(scope="module")
def sky_lit():
    """A diffuse ball on a diffuse floor under a white sky: noise without fireflies."""
    return scene(
        ground=floor(diffuse((0.7, 0.7, 0.7))),
        ball={"type": "sphere", "radius": 0.5, "center": [0, 0.5, 0], "bsdf": diffuse()},
        sky={"type": "constant", "radiance": {"type": "rgb", "value": [1.0, 1.0, 1.0]}},
        sensor=camera((0, 1.5, 3), (0, 0.3, 0), 24, fov=45),
    )


def test_each_level_averages_a_prefix_of_the_same_samples(sky_lit):
    room = sky_lit
    levels = render_gbuffer_levels(room, levels=[1, 4, 64], seed=2,
                                   buffers=["beauty", "beauty_variance", "albedo"])  # fmt: skip
    # the first level is the first sample: the plain one-sample render with the same seed
    first = render_gbuffers(room, spp=1, seed=2, buffers=["beauty", "albedo"])
    for name in ("beauty", "albedo"):
        np.testing.assert_array_equal(levels[1][name], first[name])
    assert "beauty_variance" not in levels[1] and "beauty_variance" in levels[4]
    # the later samples are new ones: each level's error shrinks as its variance says
    reference = render_gbuffers(room, spp=512, seed=9, buffers=["beauty"])["beauty"]
    errors = {n: np.mean((levels[n]["beauty"] - reference) ** 2) for n in (1, 4, 64)}
    assert errors[1] > 2 * errors[4] > 4 * errors[64]
    for n in (4, 64):  # E[(mean − μ)²] = Var(mean), which beauty_variance estimates
        predicted = levels[n]["beauty_variance"].mean()
        assert 0.5 < (errors[n] - reference_noise(room, "beauty")) / predicted < 2.0, n


def reference_noise(sc, name):
    """The 512-spp reference's own mean variance of ``name`` (its error adds to every level's)."""
    return render_gbuffers(sc, spp=512, seed=9, buffers=[f"{name}_variance"])[
        f"{name}_variance"
    ].mean()


def test_every_feature_variance_is_its_buffers_noise(sky_lit):
    names = ["diffuse", "specular", "albedo", "normal", "depth"]
    out = render_gbuffers(sky_lit, spp=32, seed=4, buffers=[f"{n}_variance" for n in names]
                          + names)  # fmt: skip
    reference = render_gbuffers(sky_lit, spp=512, seed=9, buffers=["diffuse"])["diffuse"]
    error = np.mean((out["diffuse"] - reference) ** 2) - reference_noise(sky_lit, "diffuse")
    assert 0.5 < error / out["diffuse_variance"].mean() < 2.0
    # a normal varies within a pixel only where the pixel spans the ball's silhouette or the sky
    flat = (out["normal"][..., 1] > 0.9999) & (out["depth"][..., 0] > 0)
    assert flat.sum() > 50 and out["normal_variance"][flat].max() < 1e-10
    # all surfaces diffuse: on the floor the specular light (only the sky seen) never varies
    assert out["specular_variance"][flat].max() < 1e-10 and out["diffuse_variance"].mean() > 0
    assert out["normal_variance"].max() > 0.01 and out["depth_variance"].max() > 0.01
    assert out["albedo_variance"].max() > 0  # the ball (0.5) against the floor (0.7)
    with pytest.raises(ConfigError, match="depth_variance needs spp >= 2"):
        render_gbuffers(sky_lit, spp=1, buffers=["depth_variance"])


def test_levels_must_be_positive_and_increase(room):
    for bad in ([], [0, 4], [4, 4], [8, 2]):
        with pytest.raises(ConfigError, match="levels"):
            render_gbuffer_levels(room, levels=bad, buffers=["beauty"])

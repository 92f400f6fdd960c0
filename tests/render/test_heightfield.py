"""The ao2d reference renderer: invariants and closed-form answers on tiny scenes."""

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import maximum_filter, minimum_filter

from neuralshade.errors import ConfigError
from neuralshade.render.heightfield import (
    RenderParams,
    linear_to_srgb,
    render,
    srgb_to_linear,
    validate_params,
)


def box_mask(size=48, rows=(18, 30), cols=(18, 30)):
    mask = np.zeros((size, size), np.float32)
    mask[rows[0] : rows[1], cols[0] : cols[1]] = 1
    return mask


FAST = RenderParams(ao_samples=32, height=8, ao_radius=8, softness=0)


def test_ao_is_one_on_flat_tops_and_far_from_shapes():
    r = render(box_mask(), FAST).numpy()
    assert np.all(r["ao"][20:28, 20:28] == 1.0)  # the box's top
    assert np.all(r["ao"][:6, :] == 1.0)  # ground more than ao_radius from the box
    assert r["ao"][29, 31] < 0.95  # ground at the foot of a wall is occluded


def test_empty_mask_is_an_open_lit_plane():
    r = render(np.zeros((8, 12), np.float32), FAST).numpy()
    assert np.all(r["ao"] == 1.0) and np.all(r["shadow"] == 1.0) and np.all(r["height"] == 0)
    np.testing.assert_allclose(r["normal"][..., 2], 1.0)


def test_open_ground_colour_follows_the_phong_formula():
    p = RenderParams(ao_samples=4)
    r = render(np.zeros((4, 4), np.float32), p)
    albedo = srgb_to_linear(torch.tensor(p.ground_color))
    sin_e = math.sin(math.radians(p.light_elevation))
    # flat ground, view along +z: n·l = sin e and r·v = 2 (n·l) n_z − l_z = sin e
    linear = albedo * (p.ambient + p.diffuse * sin_e) + p.specular * sin_e**p.shininess
    np.testing.assert_allclose(r.beauty[:, 0, 0].numpy(), linear_to_srgb(linear).numpy(), atol=1e-5)


@pytest.mark.parametrize("mode, samples", [("montecarlo", 4096), ("azimuthal", 256)])
def test_ao_beside_a_tall_wall_converges_to_the_closed_form(mode, samples):
    # Cosine-weighted directions project uniformly onto the unit disc (Malley), so for a ground
    # point at distance a from an infinite wall taller than R the occluded fraction is the disc
    # segment beyond c = a / R: (arccos c − c sqrt(1 − c²)) / π.
    radius = 10.0
    mask = np.zeros((48, 40), np.float32)
    mask[:, 20:] = 1  # wall face at x = 20, as long as the image; rows 20..27 are > R from its ends
    p = RenderParams(
        height=radius + 2, ao_radius=radius, ao_samples=samples, softness=0, ao_mode=mode
    )
    ao = render(mask, p, seed=3).numpy()["ao"][20:28, 8:20]
    a = 20 - (np.arange(8, 20) + 0.5)
    c = np.minimum(a / radius, 1.0)  # beyond R nothing occludes: AO = 1
    expected = 1 - (np.arccos(c) - c * np.sqrt(1 - c * c)) / np.pi
    if mode == "montecarlo":  # Bernoulli noise of `samples` independent rays
        tolerance = 4.5 * np.sqrt(expected * (1 - expected) / samples) + 1e-3
    else:  # only the azimuth is sampled, stratified: far less noise
        tolerance = np.full_like(expected, 3e-3)
    assert np.all(np.abs(ao - expected[None, :]) < tolerance)


def disc_area_under(y):
    """∫₀^y sqrt(1 − t²) dt, the area under the unit circle from 0 to y."""
    return 0.5 * (y * np.sqrt(1 - y * y) + np.arcsin(y))


def ao_beside_a_wall(a, radius, height):
    """AO of ground at distance a from an infinite straight wall of height h, in closed form.

    Malley: a cosine-weighted direction (sin θ cos φ, sin θ sin φ, cos θ) is a uniform point
    (X, Y) = sin θ (cos φ, sin φ) of the unit disc, X across the wall. The ray reaches the
    wall's plane after a / X: it is blocked iff that is within R (X ≥ a / R) and below the top
    (a cos θ ≤ h X, i.e. X ≥ k sqrt(1 − Y²), k = a / sqrt(h² + a²)). The blocked area,
    integrated over Y, has two parts: |Y| ≤ y1, where the top decides (width
    (1 − k) sqrt(1 − Y²)), and y1 ≤ |Y| ≤ y0, where the radius does (sqrt(1 − Y²) − a / R).
    """
    c = np.minimum(a / radius, 1.0)
    k = a / np.hypot(height, a)
    y0 = np.sqrt(1 - c * c)
    y1 = np.sqrt(np.clip(1 - (c / k) ** 2, 0, None))  # 0: the top never decides
    # 2 [(1 − k) A(y1) + (A(y0) − A(y1)) − c (y0 − y1)], A the area under the circle
    blocked = 2 * (disc_area_under(y0) - k * disc_area_under(y1) - c * (y0 - y1))
    return 1 - blocked / np.pi


def test_ao_beside_a_short_wall_follows_the_closed_form_where_its_top_decides():
    # A wall lower than the AO radius: near it, steep rays clear the top (h tan θ < R sin θ)
    # while grazing ones reach R first, so both limits of the azimuthal estimator's
    # min(R sin θ, h tan θ) are active on one point. A wall taller than R (the test above)
    # only ever uses R sin θ; treating this one as tall is off by up to 0.12.
    radius, height = 10.0, 4.0
    mask = np.zeros((48, 40), np.float32)
    mask[:, 20:] = 1
    p = RenderParams(
        height=height, ao_radius=radius, ao_samples=256, softness=0, ao_mode="azimuthal"
    )
    ao = render(mask, p, seed=3).numpy()["ao"][20:28, 8:20]
    a = 20 - (np.arange(8, 20) + 0.5)
    expected = ao_beside_a_wall(a, radius, height)
    tall = ao_beside_a_wall(a, radius, 1e9)
    assert np.sum(a < math.sqrt(radius**2 - height**2)) >= 9  # where the top decides
    assert np.abs(expected - tall).max() > 0.1  # the scene tells the two limits apart
    np.testing.assert_allclose(ao_beside_a_wall(a, radius, radius + 2), tall, atol=1e-12)
    assert np.all(np.abs(ao - expected[None, :]) < 3e-3)


def test_hard_shadow_has_the_length_height_over_tan_elevation():
    height, elevation = 10.0, 30.0
    p = RenderParams(
        height=height, light_azimuth=0, light_elevation=elevation, softness=0, ao_mode="taps"
    )
    mask = np.zeros((40, 64), np.float32)
    mask[10:30, 44:54] = 1  # light from the right (+x): the shadow falls to the left
    shadow = render(mask, p).numpy()["shadow"]
    length = height / math.tan(math.radians(elevation))  # 17.32 px
    row = shadow[20, :44]
    shadowed = np.flatnonzero(row < 0.5)
    assert shadowed.max() == 43 and shadowed.min() == 44 - math.floor(length + 0.5)
    assert np.all(shadow[20, 54:] == 1.0)  # the lit side
    assert np.all(shadow[:9, :] == 1.0) and np.all(shadow[31:, :] == 1.0)


@pytest.mark.parametrize("azimuth", [0.0, 90.0, 135.0, 210.0])
def test_shadow_falls_away_from_the_light(azimuth):
    p = RenderParams(
        height=8, light_azimuth=azimuth, light_elevation=35, softness=0, ao_mode="taps"
    )
    mask = box_mask(64, (28, 36), (28, 36))
    shadow = render(mask, p).numpy()["shadow"]
    ys, xs = np.nonzero(shadow < 0.5)
    # the shadow's centroid lies opposite the light, as seen on screen (y up = −rows)
    dx, dy = xs.mean() + 0.5 - 32, -(ys.mean() + 0.5 - 32)
    a = math.radians(azimuth)
    assert dx * math.cos(a) + dy * math.sin(a) < -3


def test_rotating_mask_and_light_rotates_the_render():
    rng = np.random.default_rng(0)
    mask = np.zeros((40, 40), np.float32)
    mask[8:20, 10:16] = 1
    mask[25:30, 20:35] = 1
    mask[rng.integers(0, 40, 30), rng.integers(0, 40, 30)] = 1
    p = RenderParams(height=6, ao_radius=6, ao_mode="taps", softness=0.1, light_azimuth=30)
    base = render(mask, p).numpy()
    # np.rot90 turns the image counter-clockwise on screen, like adding 90° of azimuth
    turned = render(np.rot90(mask).copy(), p.model_copy(update={"light_azimuth": 120})).numpy()
    for name in ("ao", "shadow", "height"):
        np.testing.assert_allclose(turned[name], np.rot90(base[name]), atol=2e-3, err_msg=name)
    np.testing.assert_allclose(turned["beauty"], np.rot90(base["beauty"]), atol=4e-3)


def test_same_seed_same_image_and_other_seed_other_noise():
    mask = box_mask()
    a = render(mask, FAST, seed=5).ao
    assert torch.equal(a, render(mask, FAST, seed=5).ao)
    assert not torch.equal(a, render(mask, FAST, seed=6).ao)


def test_soft_shadow_brightens_only_the_penumbra():
    mask = box_mask(64, (24, 40), (24, 40))
    hard = render(mask, RenderParams(height=10, softness=0, ao_mode="taps")).numpy()["shadow"]
    soft = render(mask, RenderParams(height=10, softness=0.2, ao_mode="taps")).numpy()["shadow"]
    assert np.all(soft <= hard + 1e-6)  # never lights a hard-shadowed pixel
    assert np.any((soft > 0.05) & (soft < 0.95))  # a real penumbra
    np.testing.assert_array_equal(soft[hard == 0], 0)


def test_bevel_rounds_the_top_edges():
    p = RenderParams(height=10, bevel=4, ao_mode="taps")
    r = render(box_mask(48, (10, 38), (10, 38)), p).numpy()
    row = r["height"][24]
    np.testing.assert_allclose(row[24], 10.0)  # the middle of the top is flat
    # the boundary pixel (d = −0.5) sits on the rounded rim: h − b + sqrt(b² − (d + b)²)
    np.testing.assert_allclose(row[10], 10 - 4 + math.sqrt(16 - 3.5**2), atol=1e-4)
    assert r["normal"][24, 10, 0] < -0.5  # the rim at the left edge faces left (−x)
    assert r["normal"][24, 37, 0] > 0.5


def test_supersampling_keeps_the_size_and_softens_edges():
    # a hard shadow at 135°: its diagonal edge crosses pixels, which one ray calls lit or
    # dark and 3 × 3 rays split in ninths
    mask = np.zeros((16, 16), np.float32)
    mask[4:12, 4:12] = 1
    p = RenderParams(height=4, softness=0, ao_mode="taps")
    one = render(mask, p).numpy()
    r = render(mask, p.model_copy(update={"supersample": 3})).numpy()
    assert r["beauty"].shape == (16, 16, 3) and r["normal"].shape == (16, 16, 3)
    np.testing.assert_allclose(np.linalg.norm(r["normal"], axis=-1), 1.0, atol=1e-5)
    assert set(np.unique(one["shadow"])) == {0.0, 1.0}
    partial = (r["shadow"] > 0) & (r["shadow"] < 1)
    assert partial.sum() >= 6
    np.testing.assert_allclose(r["shadow"] * 9, np.round(r["shadow"] * 9), atol=1e-4)
    # only on the edge: where the single-ray shadow changes within a pixel's neighbourhood
    edge = maximum_filter(one["shadow"], size=3) != minimum_filter(one["shadow"], size=3)
    assert np.all(edge[partial])


def test_unknown_or_invalid_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="ao_radus"):
        validate_params({"ao_radus": 3})
    with pytest.raises(ConfigError, match="bevel"):
        validate_params({"height": 2, "bevel": 3})
    with pytest.raises(ConfigError, match="light_elevation"):
        validate_params({"light_elevation": 0})


def test_soft_shadow_tip_follows_the_penumbra_formula():
    # Light from the right over a long box: beyond the shadow's tip, shadow rays pass just over
    # the box's top edge. The estimate min_t d(t) / (s·t) along each ray is computed here
    # densely against the box's exact cross-section; the march samples that minimum at its
    # steps, so it may only read slightly high.
    height, elevation, s = 10.0, 30.0, 0.1
    mask = np.zeros((40, 80), np.float32)
    mask[5:35, 60:70] = 1
    p = RenderParams(
        height=height, light_azimuth=0, light_elevation=elevation, softness=s, ao_mode="taps"
    )
    row = render(mask, p).numpy()["shadow"][20]
    e = math.radians(elevation)
    t = np.linspace(1e-3, 60, 200001)
    for x in range(38, 44):
        px, pz = x + 0.5 + t * math.cos(e), t * math.sin(e)
        d = np.hypot(np.maximum(np.maximum(60 - px, px - 70), 0), np.maximum(pz - height, 0))
        expected = np.clip(np.min(d / (s * np.maximum(t, 0.01))), 0, 1)
        assert expected - 0.01 <= row[x] <= expected + 0.07, (x, row[x], expected)

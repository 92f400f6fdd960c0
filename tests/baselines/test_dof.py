"""The depth-of-field baseline against the thin-lens formula, a brute-force scatter in numpy,
closed-form layering cases, and Mitsuba 3's ``thinlens`` camera."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neuralshade.baselines.camera import focal_pixels
from neuralshade.baselines.dof import circle_of_confusion, gather_dof
from neuralshade.errors import InputError


def plane(color, coc, z=2.0):
    """(coc, z) (N, 1, H, W) buffers of a plane at one depth, with one CoC everywhere."""
    n, _, h, w = color.shape
    return torch.full((n, 1, h, w), float(coc)), torch.full((n, 1, h, w), float(z))


def smooth_image(size, seed=0):
    """(1, 3, size, size) positive, smooth (bicubic from 6×6 random) radiance."""
    small = torch.rand(1, 3, 6, 6, generator=torch.Generator().manual_seed(seed))
    up = F.interpolate(small, size=(size, size), mode="bicubic", align_corners=True)
    return up.clamp_min(0) + 0.2


def brute_force_scatter(image, coc):
    """Each pixel splats its colour uniformly over the pixels within coc/2 of it, 1/count each.

    image: (C, H, W) numpy, coc: (H, W) diameters, pixels. Off-image light is lost.
    """
    _, h, w = image.shape
    out = np.zeros_like(image)
    for y in range(h):
        for x in range(w):
            r = coc[y, x] / 2
            dy, dx = np.mgrid[-math.ceil(r) : math.ceil(r) + 1, -math.ceil(r) : math.ceil(r) + 1]
            disc = dx**2 + dy**2 <= r**2
            dy, dx = dy[disc], dx[disc]
            inside = (y + dy >= 0) & (y + dy < h) & (x + dx >= 0) & (x + dx < w)
            out[:, y + dy[inside], x + dx[inside]] += image[:, y, x, None] / disc.sum()
    return out


def test_circle_of_confusion_is_the_thin_lens_formula():
    z = torch.tensor([0.5, 1.0, 2.0, 4.0, 8.0, 0.0]).reshape(1, 1, 1, 6)
    coc = circle_of_confusion(z, focus_distance=2.0, aperture_radius=0.05, focal=100.0)
    by_hand = [2 * 0.05 * 100 * abs(1 / zi - 1 / 2.0) for zi in (0.5, 1.0, 2.0, 4.0, 8.0)]
    by_hand.append(2 * 0.05 * 100 / 2.0)  # sky: the limit z → ∞
    assert coc.flatten().tolist() == pytest.approx(by_hand, rel=1e-6)
    assert coc[0, 0, 0, 2] == 0  # in focus


def test_circle_of_confusion_takes_one_lens_per_image():
    z = torch.full((2, 1, 1, 1), 4.0)
    coc = circle_of_confusion(
        z,
        focus_distance=torch.tensor([2.0, 8.0]),
        aperture_radius=torch.tensor([0.1, 0.2]),
        focal=50,
    )
    expected = [2 * 0.1 * 50 * (1 / 2 - 1 / 4), 2 * 0.2 * 50 * (1 / 4 - 1 / 8)]
    assert coc.flatten().tolist() == pytest.approx(expected, rel=1e-6)


def test_bad_shapes_are_refused_with_the_shapes_given():
    color = torch.zeros(1, 3, 8, 8)
    with pytest.raises(InputError, match=r"\(1, 1, 8, 9\)"):
        gather_dof(color, torch.zeros(1, 1, 8, 9), torch.ones(1, 1, 8, 9))
    with pytest.raises(InputError, match="z must be"):
        circle_of_confusion(torch.ones(1, 8, 8), focus_distance=1.0, aperture_radius=0.1, focal=1)


def test_zero_coc_returns_the_image_unchanged():
    g = torch.Generator().manual_seed(1)
    color = torch.rand(2, 3, 24, 20, generator=g) * 50  # HDR
    z = torch.rand(2, 1, 24, 20, generator=g) * 10
    out = gather_dof(color, torch.zeros_like(z), z)
    torch.testing.assert_close(out, color, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("c", [5.0, 11.0, 21.0])
def test_a_point_light_spreads_over_its_coc_disc_and_keeps_its_energy(c):
    size = 61
    color = torch.zeros(1, 3, size, size)
    color[0, :, size // 2, size // 2] = torch.tensor([1.0, 2.0, 3.0])
    out = gather_dof(color, *plane(color, c))[0].numpy()
    assert out.sum((1, 2)) == pytest.approx([1.0, 2.0, 3.0], rel=1e-4)
    v, u = np.mgrid[:size, :size] - size // 2
    rho, light = np.hypot(u, v), out[0]
    # the farthest lit pixel lies on the disc's rim (its soft 1 px edge, whole-pixel taps)
    assert c / 2 - 1 <= rho[light > 0].max() <= c / 2 + 1
    # a uniform disc of radius r has E[ρ²] = r²/2
    assert math.sqrt(2 * (light * rho**2).sum() / light.sum()) == pytest.approx(c / 2, abs=1.0)


def test_a_constant_depth_plane_matches_a_brute_force_scatter():
    c = 7.0
    color = smooth_image(32)
    out = gather_dof(color, *plane(color, c))[0].numpy()
    ref = brute_force_scatter(color[0].numpy(), np.full((32, 32), c))
    m = math.ceil(c / 2)  # away from the border, where the scatter loses light off the image
    error = np.abs(out - ref)[:, m:-m, m:-m] / ref.mean()
    unblurred = np.abs(color[0].numpy() - ref)[:, m:-m, m:-m] / ref.mean()
    assert error.mean() < 0.02 and error.max() < 0.05, (error.mean(), error.max())
    assert unblurred.mean() > 3 * error.mean()  # the blur is there to be matched


def test_a_uniform_colour_stays_uniform_at_any_coc():
    g = torch.Generator().manual_seed(2)
    z = torch.rand(1, 1, 40, 40, generator=g) * 10
    z[..., :10] = 0  # sky
    coc = torch.rand(1, 1, 40, 40, generator=g) * 15
    color = torch.tensor([0.3, 2.0, 7.5]).reshape(1, 3, 1, 1).expand(1, 3, 40, 40)
    out = gather_dof(color, coc, z)
    # everywhere, borders included: off-image taps are ignored, not clamped
    torch.testing.assert_close(out, color.expand_as(out), rtol=1e-5, atol=0)


def square_scene(near_coc, far_coc, square_near=True):
    """48×48: a square [16, 32)² of colour (0.2, 0.3, 0.4) and a surround of 10·stripes, one at
    depth 1 and the other at depth 10 (the square nearer when ``square_near``)."""
    color = torch.zeros(1, 3, 48, 48)
    color[..., ::2] = 10.0
    color[..., 16:32, 16:32] = torch.tensor([0.2, 0.3, 0.4]).reshape(3, 1, 1)
    square = torch.zeros(1, 1, 48, 48, dtype=torch.bool)
    square[..., 16:32, 16:32] = True
    is_near = square if square_near else ~square
    z = torch.where(is_near, 1.0, 10.0)
    coc = torch.where(is_near, float(near_coc), float(far_coc))
    return color, coc, z, square


def test_a_blurred_background_does_not_bleed_over_a_sharp_foreground():
    color, coc, z, square = square_scene(near_coc=0, far_coc=15)
    out = gather_dof(color, coc, z)
    # every pixel of the sharp square keeps its colour, its edge included
    torch.testing.assert_close(out[..., 16:32, 16:32], color[..., 16:32, 16:32], atol=1e-6, rtol=0)
    # while the striped background around it is blurred: 1 px stripes average out, to the
    # aliasing of 48 taps over a 15 px disc
    ring = out[0, 0, 4:12, 4:44]
    assert ring.std() < 0.2 * color[0, 0, 4:12, 4:44].std()


def test_a_blurred_foreground_spreads_over_a_sharp_background_as_a_scatter_does():
    c = 12.0
    color = torch.zeros(1, 3, 48, 48)
    color[..., 16:32, 16:32] = 1.0
    square = color[:, :1] > 0
    z, coc = torch.where(square, 1.0, 10.0), torch.where(square, c, 0.0)
    out = gather_dof(color, coc, z)[0, 0].numpy()
    # the square's light reaches the black background behind it as in a scatter (the background
    # is sharp and dark: it adds nothing)
    ref = brute_force_scatter(color[0, :1].numpy(), coc[0, 0].numpy())[0]
    outside = ~square[0, 0].numpy()
    assert np.abs(out - ref)[outside].max() < 0.06
    assert out[20:28, 32].min() > 0.3  # just beyond the middle of an edge: lit
    beyond = np.ones_like(outside)
    beyond[16 - 7 : 32 + 7, 16 - 7 : 32 + 7] = False  # farther than c/2 + 1 px
    assert (out[beyond] == 0).all()


def test_a_blurred_far_square_does_not_spread_over_a_sharp_near_surround():
    """The reverse depth order of the test above: the blurred square is seen through a square
    hole in a sharp black wall, which its blur must not cover."""
    color = torch.zeros(1, 3, 48, 48)
    color[..., 16:32, 16:32] = 1.0
    square = color[:, :1] > 0
    z, coc = torch.where(square, 10.0, 1.0), torch.where(square, 12.0, 0.0)
    out = gather_dof(color, coc, z)
    assert (out[~square.expand_as(out)] == 0).all()


# Mitsuba: three small emitting spheres, near, at and beyond the plane in focus, off-axis.
FOV, SIZE, APERTURE, FOCUS = 30.0, 64, 0.15, 3.0
SPHERES = {"near": (1.5, 0.01, 18.5), "focus": (3.0, 0.01, 0.5), "far": (20.0, 0.1, -17.5)}
WINDOWS = {"near": slice(0, 22), "focus": slice(22, 42), "far": slice(42, 64)}  # columns


def render(mi, sensor_type):
    """(SIZE, SIZE) radiance of the spheres (radiance 1) through a ``sensor_type`` camera."""
    focal = focal_pixels(FOV, "x", SIZE, SIZE)
    shapes = {
        name: {
            "type": "sphere",
            "center": [offset * z / focal, 0.0, z],  # seen at column (SIZE − 1)/2 − offset
            "radius": r,
            "emitter": {"type": "area", "radiance": {"type": "rgb", "value": 1.0}},
        }
        for name, (z, r, offset) in SPHERES.items()
    }
    lens = (
        {"aperture_radius": APERTURE, "focus_distance": FOCUS} if sensor_type == "thinlens" else {}
    )
    sensor = {
        "type": sensor_type,
        "fov": FOV,
        "to_world": mi.ScalarTransform4f().look_at(
            origin=[0, 0, 0], target=[0, 0, 1], up=[0, 1, 0]
        ),
        "film": {"type": "hdrfilm", "width": SIZE, "height": SIZE, "rfilter": {"type": "box"}},
        "sampler": {"type": "independent", "sample_count": 128},
        **lens,
    }
    integrator = {"type": "path", "max_depth": 1}  # only directly visible emitters
    scene = mi.load_dict({"type": "scene", "integrator": integrator, "sensor": sensor, **shapes})
    return np.array(mi.render(scene, seed=1))[..., 0]


def blob_diameter(image, name):
    """(diameter of the uniform disc with the blob's second moment, pixels; its total light).

    E[ρ²] of a uniform disc of radius r is r²/2; the sphere's own image (a disc of radius
    F·r_s/z) and whole-pixel positions (1/12 per axis) add their variances to it."""
    z, r, _ = SPHERES[name]
    window = image[:, WINDOWS[name]]
    v, u = np.mgrid[: window.shape[0], : window.shape[1]]
    total = window.sum()
    cu, cv = (window * u).sum() / total, (window * v).sum() / total
    second = (window * ((u - cu) ** 2 + (v - cv) ** 2)).sum() / total
    sphere = focal_pixels(FOV, "x", SIZE, SIZE) * r / z
    return 2 * math.sqrt(max(2 * (second - sphere**2 / 2 - 1 / 6), 0.0)), total


@pytest.mark.mitsuba
def test_the_coc_and_the_blur_match_mitsubas_thin_lens(mitsuba):
    lens = render(mitsuba, "thinlens")
    pinhole = render(mitsuba, "perspective")
    focal = focal_pixels(FOV, "x", SIZE, SIZE)
    z = torch.zeros(1, 1, SIZE, SIZE)  # sky, but where a sphere is seen
    for name, (depth, _, _) in SPHERES.items():
        seen = torch.from_numpy(pinhole[:, WINDOWS[name]]) > 0
        z[0, 0, :, WINDOWS[name]] = torch.where(seen, depth, 0.0)
    coc = circle_of_confusion(z, focus_distance=FOCUS, aperture_radius=APERTURE, focal=focal)
    rgb = torch.from_numpy(pinhole).expand(1, 3, SIZE, SIZE).contiguous()
    post = gather_dof(rgb, coc, z)[0, 0].numpy()
    for name, (depth, _, _) in SPHERES.items():
        expected = float(
            circle_of_confusion(
                torch.full((1, 1, 1, 1), depth),
                focus_distance=FOCUS,
                aperture_radius=APERTURE,
                focal=focal,
            )
        )
        measured, light = blob_diameter(lens, name)
        ours, our_light = blob_diameter(post, name)
        assert measured == pytest.approx(expected, abs=1.5), (name, measured, expected)
        assert ours == pytest.approx(measured, abs=1.5), (name, ours, measured)
        assert our_light == pytest.approx(light, rel=0.1), (name, our_light, light)

"""Signed distance fields: values against closed forms, Dead Reckoning against the exact field."""

from pathlib import Path

import matplotlib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.extra.numpy import arrays
from hypothesis.strategies import booleans, integers, tuples
from PIL import Image, ImageDraw, ImageFont

from neuralshade.errors import ConfigError, InputError
from neuralshade.sdf import SDF_METHODS, dead_reckoning_sdf, exact_sdf, signed_distance

FONT = Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans-Bold.ttf"

# Dead Reckoning's documented error (sdf.py): |DR| - |exact| <= 0.082 (|exact| + 0.5), the
# worst seen on random polygons, text and benchmarks/sdf_methods.py's masks; the test allows 0.1.
DR_RELATIVE_ERROR = 0.1


def disc(size, centre, radius):
    """Mask of the pixels whose centre lies in the disc, and |p - c| - R at every centre."""
    rows, cols = np.mgrid[0:size, 0:size]
    r = np.hypot(cols + 0.5 - centre[0], rows + 0.5 - centre[1])
    return (r <= radius).astype(np.float32), r - radius


def rectangle_field(shape, top, bottom, left, right):
    """Closed-form field of the inside block rows top..bottom, cols left..right (inclusive)."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    dy = np.maximum.reduce([top - rows, np.zeros_like(rows), rows - bottom])
    dx = np.maximum.reduce([left - cols, np.zeros_like(cols), cols - right])
    outside = np.sqrt((dx * dx + dy * dy).astype(np.float64)) - 0.5
    # Nearest outside centre of an inside pixel: straight across the nearest side (beyond a
    # side on the image border lies the virtual outside ring).
    across = np.minimum.reduce([rows - top, bottom - rows, cols - left, right - cols]) + 1
    inside = (dx == 0) & (dy == 0)
    return np.where(inside, 0.5 - across, outside).astype(np.float32)


def drawn(size, draw):
    image = Image.new("L", size)
    draw(ImageDraw.Draw(image))
    return np.asarray(image, dtype=np.float32) / 255.0


def rotated_rectangle(d):
    c, half, angle = np.array([30.0, 26.0]), np.array([19.0, 7.0]), 0.45
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = [c + rot @ (half * s) for s in ([-1, -1], [1, -1], [1, 1], [-1, 1])]
    d.polygon([tuple(p) for p in corners], fill=255)


def star_and_triangle(d):
    angles = np.arange(10) * np.pi / 5
    radii = np.where(np.arange(10) % 2 == 0, 22.0, 9.0)
    points = [(34 + r * np.sin(a), 30 - r * np.cos(a)) for r, a in zip(radii, angles, strict=True)]
    d.polygon(points, fill=255)
    d.polygon([(60, 5), (70, 50), (52, 40)], fill=255)


def text(d):
    d.text((3, 6), "Rg&4", font=ImageFont.truetype(str(FONT), 34), fill=255)


IRREGULAR_MASKS = {
    "disc": disc(48, (21.3, 25.8), 15.4)[0],
    "rotated_rectangle": drawn((64, 56), rotated_rectangle),
    "star_and_triangle": drawn((80, 60), star_and_triangle),
    "text": drawn((96, 48), text),
}


# ---- exact -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "centre", "radius"),
    [
        (32, (15.3, 16.7), 9.2),
        (48, (20.0, 23.5), 13.7),
        (40, (19.5, 20.25), 6.6),
    ],
)
def test_exact_matches_disc_formula(size, centre, radius):
    # Inside centres lie in the disc and outside ones beyond it, so the field can exceed the
    # formula by at most 0.5 inside and fall below it by at most 0.5 outside; the other way
    # it is off by the gap between the circle and the nearest pixel centres (< 0.5 here).
    # Measured: max 0.50, mean 0.22-0.23 px.
    mask, formula = disc(size, centre, radius)
    error = np.abs(exact_sdf(mask) - formula)
    assert error.max() <= 0.5 + 1e-5
    assert error.mean() <= 0.3


@pytest.mark.parametrize("method", SDF_METHODS)
@pytest.mark.parametrize("block", [(3, 9, 4, 15), (0, 4, 0, 3), (5, 11, 10, 19), (2, 2, 7, 7)])
def test_rectangle_field_is_exact(method, block):
    # Blocks in the middle, in a corner, on the right and bottom borders, a single pixel.
    shape = (12, 20)
    mask = np.zeros(shape, np.float32)
    top, bottom, left, right = block
    mask[top : bottom + 1, left : right + 1] = 1.0
    np.testing.assert_array_equal(signed_distance(mask, method), rectangle_field(shape, *block))


def test_straight_edge_gives_half_pixel_steps():
    mask = np.zeros((3, 7), np.float32)
    mask[:, :3] = 1.0
    row = exact_sdf(mask)[1]
    np.testing.assert_array_equal(row, [-0.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5])


@pytest.mark.parametrize("method", SDF_METHODS)
def test_sign_negative_inside_positive_outside_half_pixel_at_boundary(method):
    mask = IRREGULAR_MASKS["star_and_triangle"]
    inside = mask >= 0.5
    field = signed_distance(mask, method)
    assert field.dtype == np.float32 and field.shape == mask.shape
    assert np.all((field < 0) == inside)
    padded = np.pad(inside, 1)  # the world beyond the image is outside
    touches_other = (
        (padded[:-2, 1:-1] != inside)
        | (padded[2:, 1:-1] != inside)
        | (padded[1:-1, :-2] != inside)
        | (padded[1:-1, 2:] != inside)
    )
    np.testing.assert_array_equal(np.abs(field[touches_other]), 0.5)
    assert np.all(np.abs(field[~touches_other]) > 0.5)


@pytest.mark.parametrize("method", SDF_METHODS)
def test_shape_cut_by_image_border_has_wall_at_border(method):
    mask = np.zeros((16, 16), np.float32)
    mask[:, :5] = 1.0  # a band cut by the top, bottom and left borders
    field = signed_distance(mask, method)
    assert np.all(field[:, 0] == -0.5)
    assert np.all(field[0, :5] == -0.5) and np.all(field[-1, :5] == -0.5)
    np.testing.assert_array_equal(field[8, :7], [-0.5, -1.5, -2.5, -1.5, -0.5, 0.5, 1.5])


@pytest.mark.parametrize("method", SDF_METHODS)
def test_no_inside_pixel_is_plus_inf_all_inside_is_bounded_by_the_frame(method):
    assert np.all(signed_distance(np.zeros((4, 5)), method) == np.inf)
    full = signed_distance(np.ones((4, 5)), method)
    # the world beyond the image is outside, so the frame is the only boundary
    np.testing.assert_array_equal(full[:, 2], [-0.5, -1.5, -1.5, -0.5])
    np.testing.assert_array_equal(full[1], [-0.5, -1.5, -1.5, -1.5, -0.5])
    assert signed_distance(np.ones((4, 5)), method).dtype == np.float32


@pytest.mark.parametrize("method", SDF_METHODS)
def test_bool_uint8_and_threshold(method):
    mask = IRREGULAR_MASKS["disc"]
    expected = signed_distance(mask, method)
    np.testing.assert_array_equal(signed_distance(mask >= 0.5, method), expected)
    np.testing.assert_array_equal(signed_distance((mask * 255).astype(np.uint8), method), expected)
    grey = np.where(mask >= 0.5, 0.3, 0.1)
    np.testing.assert_array_equal(signed_distance(grey, method, threshold=0.2), expected)


@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((2, 3, 4)), np.zeros((0, 4)), np.zeros(())])
def test_bad_shapes_raise_input_error(bad):
    with pytest.raises(InputError, match=r"shape \("):
        exact_sdf(bad)
    with pytest.raises(InputError):
        dead_reckoning_sdf(bad)


def test_non_finite_mask_raises_input_error():
    mask = np.zeros((3, 3))
    mask[1, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        exact_sdf(mask)


def test_unknown_method_lists_known_ones():
    with pytest.raises(ConfigError, match="exact, dead_reckoning"):
        signed_distance(np.zeros((3, 3)), method="chamfer")


# ---- Dead Reckoning against exact --------------------------------------------------------


@pytest.mark.parametrize("name", IRREGULAR_MASKS)
def test_dead_reckoning_within_error_bound_of_exact(name):
    mask = IRREGULAR_MASKS[name]
    exact, dr = exact_sdf(mask), dead_reckoning_sdf(mask)
    assert np.all(np.sign(dr) == np.sign(exact))
    excess = np.abs(dr) - np.abs(exact)
    assert excess.min() >= -1e-5, "DR's nearest point is a real pixel centre: never nearer"
    assert np.all(excess <= DR_RELATIVE_ERROR * (np.abs(exact) + 0.5))


# ---- properties on random masks ----------------------------------------------------------

random_masks = arrays(np.bool_, tuples(integers(1, 24), integers(1, 24)), elements=booleans())


@settings(deadline=None, max_examples=150)
@given(random_masks)
def test_random_masks_sign_lipschitz_and_dr_never_nearer(mask):
    exact, dr = exact_sdf(mask), dead_reckoning_sdf(mask)
    for field in (exact, dr):
        assert np.all((field < 0) == mask)
        assert np.all(np.abs(field) >= 0.5)
    for a, b in ((exact[:, :-1], exact[:, 1:]), (exact[:-1, :], exact[1:, :])):
        finite = np.isfinite(a) & np.isfinite(b)
        assert np.all(np.abs(a[finite] - b[finite]) <= 1 + 1e-5)
    finite = np.isfinite(exact)
    assert np.array_equal(finite, np.isfinite(dr))
    assert np.all(np.abs(dr[finite]) >= np.abs(exact[finite]) - 1e-5)

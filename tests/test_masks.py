"""masks: any image to a (H, W) float32 mask in [0, 1]; random letters and shapes on black."""

import re

import numpy as np
import pydantic
import pytest
import scipy.ndimage
from PIL import Image

from neuralshade.errors import ConfigError, InputError
from neuralshade.masks import (
    LUMA_WEIGHTS,
    SHAPES,
    MaskConfig,
    fonts,
    image_to_mask,
    load_mask,
    random_mask,
)

# ---------------------------------------------------------------------------------------------
# PIL images, every mode
# ---------------------------------------------------------------------------------------------

# (mode, black pixel, white pixel) as PIL's putpixel takes them
_BLACK_AND_WHITE = [
    ("1", 0, 1),
    ("L", 0, 255),
    ("LA", (0, 255), (255, 255)),
    ("La", (0, 255), (255, 255)),
    ("RGB", (0, 0, 0), (255, 255, 255)),
    ("RGBA", (0, 0, 0, 255), (255, 255, 255, 255)),
    ("RGBa", (0, 0, 0, 255), (255, 255, 255, 255)),
    ("RGBX", (0, 0, 0, 0), (255, 255, 255, 0)),
    ("CMYK", (0, 0, 0, 255), (0, 0, 0, 0)),
    ("YCbCr", (0, 128, 128), (255, 128, 128)),
    ("HSV", (0, 0, 0), (0, 0, 255)),
    ("I;16", 0, 65535),
    ("I;16B", 0, 65535),
    ("I", 0, 65535),
    ("F", 0.0, 1.0),
]


def _two_pixels(mode: str, left, right) -> Image.Image:
    image = Image.new(mode, (2, 1))
    image.putpixel((0, 0), left)
    image.putpixel((1, 0), right)
    return image


@pytest.mark.parametrize(("mode", "black", "white"), _BLACK_AND_WHITE)
def test_black_pixel_is_0_and_white_pixel_is_1_in_every_mode(mode, black, white):
    mask = image_to_mask(_two_pixels(mode, black, white))
    assert mask.dtype == np.float32
    assert mask.shape == (1, 2)
    np.testing.assert_allclose(mask, [[0.0, 1.0]], atol=1e-6)


def test_palette_image_reads_through_its_palette():
    image = Image.new("P", (2, 1))
    image.putpalette([0, 0, 0, 255, 255, 255, 255, 0, 0])
    image.putpixel((0, 0), 1)  # white
    image.putpixel((1, 0), 2)  # red
    np.testing.assert_allclose(image_to_mask(image), [[1.0, LUMA_WEIGHTS[0]]], atol=1e-6)


def test_palette_transparent_entry_is_black():
    image = Image.new("P", (2, 1))
    image.putpalette([255, 255, 255, 200, 200, 200])
    image.putpixel((1, 0), 1)
    image.info["transparency"] = 0  # white entry 0 is transparent
    np.testing.assert_allclose(image_to_mask(image), [[0.0, 200 / 255]], atol=1e-6)


def test_sixteen_bit_half_scale_is_one_half():
    for mode in ("I;16", "I;16B", "I"):
        image = _two_pixels(mode, 32768, 65535)
        np.testing.assert_allclose(image_to_mask(image), [[32768 / 65535, 1.0]], rtol=1e-6)


def test_32_bit_image_beyond_16_bits_is_scaled_by_its_maximum():
    values = np.array([[-5, 0, 100_000, 200_000]], dtype=np.int32)
    image = Image.fromarray(values, mode="I")
    np.testing.assert_allclose(image_to_mask(image), [[0.0, 0.0, 0.5, 1.0]], atol=1e-6)


def test_float_image_is_clipped_to_unit_range():
    image = Image.fromarray(np.array([[-0.5, 0.25, 2.0]], dtype=np.float32), mode="F")
    np.testing.assert_allclose(image_to_mask(image), [[0.0, 0.25, 1.0]])


def test_float_image_with_nan_is_refused():
    image = Image.fromarray(np.array([[0.5, np.nan]], dtype=np.float32), mode="F")
    with pytest.raises(InputError, match="NaN"):
        image_to_mask(image)


def test_colour_becomes_rec709_luma_of_encoded_values():
    image = Image.new("RGB", (4, 1))
    for x, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255), (128, 128, 128)]):
        image.putpixel((x, 0), colour)
    expected = [*LUMA_WEIGHTS, 128 / 255]  # no linearisation: mid-grey stays mid-grey
    np.testing.assert_allclose(image_to_mask(image), [expected], atol=1e-6)


def test_rgba_transparent_background_is_black():
    image = _two_pixels("RGBA", (255, 255, 255, 0), (255, 255, 255, 255))
    np.testing.assert_allclose(image_to_mask(image), [[0.0, 1.0]])


def test_alpha_multiplies_the_value():
    rgba = _two_pixels("RGBA", (255, 255, 255, 128), (128, 128, 128, 255))
    la = _two_pixels("LA", (255, 128), (128, 255))
    for image in (rgba, la):
        np.testing.assert_allclose(image_to_mask(image), [[128 / 255, 128 / 255]], atol=1e-6)


def test_premultiplied_alpha_is_already_composited():
    # "La" holds value × alpha: (64, 128) is a white-ish 0.5-alpha pixel composited to 64
    image = _two_pixels("La", (64, 128), (100, 255))
    np.testing.assert_allclose(image_to_mask(image), [[64 / 255, 100 / 255]], atol=1e-6)


def test_zero_sized_pil_image_is_refused():
    with pytest.raises(InputError, match=r"zero size \(0 × 3"):
        image_to_mask(Image.new("L", (0, 3)))


# ---------------------------------------------------------------------------------------------
# Arrays
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "white"), [(np.uint8, 255), (np.uint16, 65535), (np.bool_, True), (np.float32, 1.0)]
)
@pytest.mark.parametrize("channels", [None, 1, 3, 4])
def test_arrays_of_every_dtype_and_channel_count(dtype, white, channels):
    grey = np.array([[0, white], [white, 0]], dtype=dtype)
    if channels is None:
        array = grey
    else:
        array = np.repeat(grey[:, :, None], channels, axis=2)
        if channels == 4:
            array[:, :, 3] = white  # opaque
    mask = image_to_mask(array)
    assert mask.dtype == np.float32
    np.testing.assert_allclose(mask, [[0.0, 1.0], [1.0, 0.0]], atol=1e-6)


def test_array_alpha_composites_over_black():
    rgba = np.array([[[255, 255, 255, 0], [255, 255, 255, 51]]], dtype=np.uint8)
    np.testing.assert_allclose(image_to_mask(rgba), [[0.0, 0.2]], atol=1e-6)


def test_float_array_keeps_grey_levels():
    values = np.array([[0.0, 0.3, 0.7, 1.0]])
    np.testing.assert_allclose(image_to_mask(values), values, rtol=1e-6)


@pytest.mark.parametrize("shape", [(4,), (2, 2, 5), (1, 2, 2, 3)])
def test_wrong_array_shape_names_expected_and_actual(shape):
    with pytest.raises(InputError, match=rf"\(H, W\).*got {re.escape(str(shape))}"):
        image_to_mask(np.zeros(shape, np.uint8))


@pytest.mark.parametrize("shape", [(0, 5), (3, 0, 3)])
def test_empty_array_is_refused_with_its_shape(shape):
    with pytest.raises(InputError, match=re.escape(str(shape))):
        image_to_mask(np.zeros(shape, np.uint8))


def test_nan_array_is_refused():
    with pytest.raises(InputError, match="NaN"):
        image_to_mask(np.array([[0.0, np.nan]]))


def test_float_array_outside_unit_range_is_refused_with_a_hint():
    with pytest.raises(InputError, match=r"\[0, 255\].*255"):
        image_to_mask(np.array([[0.0, 255.0]], dtype=np.float32))


def test_unsupported_dtype_is_refused_naming_it():
    with pytest.raises(InputError, match="int64"):
        image_to_mask(np.array([[0, 255]], dtype=np.int64))


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def test_load_mask_reads_a_16_bit_png_at_full_depth(tmp_path):
    path = tmp_path / "depth16.png"
    Image.fromarray(np.array([[0, 1, 32768, 65535]], dtype=np.uint16)).save(path)
    np.testing.assert_allclose(load_mask(path), [[0, 1 / 65535, 32768 / 65535, 1]], rtol=1e-6)


def test_load_mask_honours_a_transparent_colour(tmp_path):
    path = tmp_path / "keyed.png"
    _two_pixels("RGB", (255, 255, 255), (0, 255, 0)).save(path, transparency=(255, 255, 255))
    np.testing.assert_allclose(load_mask(path), [[0.0, LUMA_WEIGHTS[1]]], atol=1e-6)


def test_load_mask_errors_name_the_file(tmp_path):
    path = tmp_path / "nan.tiff"
    Image.fromarray(np.array([[np.nan]], dtype=np.float32), mode="F").save(path)
    with pytest.raises(InputError, match="nan.tiff.*NaN"):
        load_mask(path)
    with pytest.raises(InputError, match="missing.png"):
        load_mask(tmp_path / "missing.png")


def test_load_mask_passes_the_pixel_limit_on(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (8, 8)).save(path)
    with pytest.raises(InputError, match="limit of 10"):
        load_mask(path, max_pixels=10)


# ---------------------------------------------------------------------------------------------
# Random masks
# ---------------------------------------------------------------------------------------------


def test_fonts_are_a_varied_set_of_existing_truetype_files():
    found = fonts()
    assert len(found) >= 5
    assert all(path.is_file() and path.suffix == ".ttf" for path in found)
    names = " ".join(path.name for path in found)
    for family in ("DejaVuSans", "DejaVuSerif", "Bold"):
        assert family in names


@pytest.mark.parametrize("size", [48, (32, 80), (80, 32)])
def test_random_mask_shape_dtype_and_range(size):
    mask = random_mask(size, np.random.default_rng(0))
    assert mask.shape == ((size, size) if isinstance(size, int) else size)
    assert mask.dtype == np.float32
    assert mask.min() >= 0.0 and mask.max() <= 1.0


def test_random_mask_is_deterministic_for_a_seed_and_ignores_global_state():
    np.random.seed(1)  # noqa: NPY002 (the legacy global state must not matter)
    first = random_mask(96, np.random.default_rng(7))
    np.random.seed(2)  # noqa: NPY002 (the legacy global state must not matter)
    second = random_mask(96, np.random.default_rng(7))
    assert first.tobytes() == second.tobytes()


def test_random_masks_differ_between_seeds():
    masks = [random_mask(64, np.random.default_rng(seed)).tobytes() for seed in range(5)]
    assert len(set(masks)) == 5


def test_default_coverage_is_a_sane_fraction_of_the_image():
    coverage = [(random_mask(128, np.random.default_rng(s)) > 0.5).mean() for s in range(12)]
    assert 0.08 < np.mean(coverage) < 0.30
    assert min(coverage) > 0.0


def test_text_only_masks_contain_anti_aliased_text():
    config = MaskConfig(text_probability=1.0, shapes=[])
    for seed in range(4):
        mask = random_mask(96, np.random.default_rng(seed), config)
        assert (mask > 0.5).mean() > 0.01
        assert ((mask > 0.0) & (mask < 1.0)).any()  # glyph edges are grey


@pytest.mark.parametrize("kind", SHAPES)
def test_each_shape_kind_draws_something(kind):
    config = MaskConfig(text_probability=0.0, shapes=[kind])
    assert (random_mask(64, np.random.default_rng(0), config) > 0.5).any()


def _one_shape(kind: str, fraction: float, outside_max: float = 0.0) -> MaskConfig:
    return MaskConfig(
        items_min=1,
        items_max=1,
        text_probability=0.0,
        shapes=[kind],
        shape_size_min=fraction,
        shape_size_max=fraction,
        outside_max=outside_max,
    )


def test_disc_has_the_area_of_a_circle_of_the_configured_diameter():
    mask = random_mask(128, np.random.default_rng(3), _one_shape("disc", 0.5))
    radius = 0.5 * 128 / 2
    assert mask.sum() == pytest.approx(np.pi * radius**2, rel=0.01)


def test_rotated_rectangle_keeps_its_area():
    mask = random_mask(128, np.random.default_rng(4), _one_shape("rectangle", 0.4))
    assert mask.sum() == pytest.approx((0.4 * 128) ** 2, rel=0.01)


def test_outside_max_bounds_how_much_of_an_item_the_border_cuts():
    full_disc = np.pi * (0.5 * 128 / 2) ** 2
    inside = [random_mask(128, np.random.default_rng(s), _one_shape("disc", 0.5)) for s in range(8)]
    assert all(mask.sum() == pytest.approx(full_disc, rel=0.01) for mask in inside)
    cut = [
        random_mask(128, np.random.default_rng(s), _one_shape("disc", 0.5, 0.5)) for s in range(8)
    ]
    # at most half the width and half the height outside: at least a quarter disc remains
    assert all(mask.sum() >= 0.24 * full_disc for mask in cut)
    assert any(mask.sum() < 0.9 * full_disc for mask in cut)


def test_wide_masks_get_items_in_proportion_to_their_length():
    config = _one_shape("disc", 0.08).model_copy(update={"items_min": 3, "items_max": 3})
    square = random_mask(128, np.random.default_rng(0), config)
    wide = random_mask((128, 512), np.random.default_rng(0), config)
    assert scipy.ndimage.label(square > 0.5)[1] == 3
    assert scipy.ndimage.label(wide > 0.5)[1] == 12  # 3 per 128 × 128 square


@pytest.mark.parametrize("size", [0, (0, 5), (4, -1), (1, 2, 3)])
def test_bad_size_is_a_config_error(size):
    with pytest.raises(ConfigError, match="size"):
        random_mask(size, np.random.default_rng(0))


# ---------------------------------------------------------------------------------------------
# MaskConfig
# ---------------------------------------------------------------------------------------------


def test_every_config_field_has_a_default_and_a_description():
    for name, field in MaskConfig.model_fields.items():
        assert not field.is_required(), name
        assert field.description, name


def test_unknown_config_key_is_rejected_naming_it():
    with pytest.raises(pydantic.ValidationError, match="font_sise_max"):
        MaskConfig(font_sise_max=0.5)


@pytest.mark.parametrize("name", ["items", "font_size", "rotation", "shape_size", "stroke_width"])
def test_min_above_max_is_rejected_naming_both(name):
    low, high = getattr(MaskConfig(), f"{name}_min"), getattr(MaskConfig(), f"{name}_max")
    with pytest.raises(pydantic.ValidationError, match=f"{name}_min.*{name}_max"):
        MaskConfig(**{f"{name}_min": high + 1, f"{name}_max": low})


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_probability_outside_unit_interval_is_rejected(value):
    with pytest.raises(pydantic.ValidationError, match="text_probability"):
        MaskConfig(text_probability=value)


def test_unknown_shape_kind_is_rejected():
    with pytest.raises(pydantic.ValidationError, match="shapes"):
        MaskConfig(shapes=["disc", "hexagon"])


def test_no_shapes_needs_text_only():
    with pytest.raises(pydantic.ValidationError, match="shapes is empty"):
        MaskConfig(shapes=[])
    assert MaskConfig(shapes=[], text_probability=1.0).shapes == []

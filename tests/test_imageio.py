"""read_image: every bad file becomes an InputError naming it; good files load upright."""

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, features

from neuralshade.errors import InputError, NeuralShadeError
from neuralshade.imageio import DEFAULT_MAX_PIXELS, read_image


def _needs(feature: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not features.check(feature), reason=f"PIL built without {feature}")


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _png_claiming_size(width: int, height: int) -> bytes:
    """A 1×1 PNG whose header (IHDR, with a valid CRC) claims another size."""
    data = bytearray(_png_bytes(Image.new("L", (1, 1), 255)))
    # IHDR follows the 8-byte signature: length (4), b"IHDR" (4), width, height, ..., CRC
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _noise(size: int = 64) -> Image.Image:
    # noise does not compress, so the pixel data fills most of the file
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (size, size), np.uint8))


def test_read_image_returns_the_pixels_fully_loaded(tmp_path):
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    path = tmp_path / "grey.png"
    Image.fromarray(pixels).save(path)
    image = read_image(path)
    assert image.mode == "L"
    assert image.size == (4, 3)
    np.testing.assert_array_equal(np.asarray(image), pixels)


def test_read_image_accepts_str_paths(tmp_path):
    path = tmp_path / "rgb.png"
    Image.new("RGB", (2, 2), (1, 2, 3)).save(path)
    assert read_image(str(path)).getpixel((1, 1)) == (1, 2, 3)


def test_exif_orientation_is_applied(tmp_path):
    # orientation 6 means "rotate 90° clockwise to display"
    pixels = np.zeros((2, 3), np.uint8)
    pixels[0, 0] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.png"
    Image.fromarray(pixels).save(path, exif=exif)
    np.testing.assert_array_equal(np.asarray(read_image(path)), np.rot90(pixels, k=-1))


def test_missing_file_raises_input_error_naming_it(tmp_path):
    path = tmp_path / "nope.png"
    with pytest.raises(InputError, match="nope.png.*no such file"):
        read_image(path)


def test_directory_raises_input_error_naming_it(tmp_path):
    with pytest.raises(InputError, match=f"{tmp_path.name}.*directory"):
        read_image(tmp_path)


def test_text_file_is_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture\n")
    with pytest.raises(InputError, match="notes.png.*not an image"):
        read_image(path)


def test_empty_file_is_not_an_image(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="empty.png.*empty.*not an image"):
        read_image(path)


@pytest.mark.parametrize(
    "image_format",
    ["PNG", "JPEG", "TIFF", "GIF", pytest.param("WEBP", marks=_needs("webp"))],
)
def test_truncated_file_raises_input_error_naming_it(tmp_path, image_format):
    buffer = io.BytesIO()
    _noise().save(buffer, format=image_format)
    data = buffer.getvalue()
    path = tmp_path / f"cut.{image_format.lower()}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=f"cut.{image_format.lower()}") as info:
        read_image(path)
    assert "Traceback" not in str(info.value)


def test_corrupt_png_data_raises_input_error(tmp_path):
    data = bytearray(_png_bytes(_noise()))
    data[len(data) // 2] ^= 0xFF  # breaks the compressed stream or its CRC
    path = tmp_path / "flipped.png"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="flipped.png.*truncated or corrupt"):
        read_image(path)


def test_image_above_pixel_limit_names_size_limit_and_option(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (10, 8)).save(path)
    with pytest.raises(InputError) as info:
        read_image(path, max_pixels=50)
    message = str(info.value)
    for part in ("big.png", "10 × 8", "80 pixels", "limit of 50", "max_pixels", "--max-pixels"):
        assert part in message


def test_image_at_pixel_limit_is_accepted(tmp_path):
    path = tmp_path / "exact.png"
    Image.new("L", (10, 5)).save(path)
    assert read_image(path, max_pixels=50).size == (10, 5)


def test_huge_header_is_refused_before_decoding_and_before_pils_own_guard(tmp_path):
    # 100 000² pixels: PIL's decompression-bomb guard would raise its own error; decoding
    # would need 10 GB. Our limit must answer first, from the header alone.
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming_size(100_000, 100_000))
    with pytest.raises(InputError, match=r"bomb.png.*10,000,000,000 pixels.*limit of"):
        read_image(path)
    assert DEFAULT_MAX_PIXELS < 100_000 * 100_000


def test_pils_pixel_guard_is_lifted_during_the_read_and_restored(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    path = tmp_path / "above_pil_limit.png"
    Image.new("L", (10, 10), 7).save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DecompressionBombWarning would fail the test
        image = read_image(path)
    assert image.getpixel((9, 9)) == 7
    assert Image.MAX_IMAGE_PIXELS == 10


def test_zero_sized_image_raises_input_error(tmp_path, monkeypatch):
    # PIL refuses to write or identify such files, so hand read_image one directly
    path = tmp_path / "flat.png"
    Image.new("L", (1, 1)).save(path)
    monkeypatch.setattr(Image, "open", lambda fp: Image.new("L", (0, 4)))
    with pytest.raises(InputError, match=r"flat.png.*zero size \(0 × 4"):
        read_image(path)


def test_input_error_is_a_neuralshade_error():
    assert issubclass(InputError, NeuralShadeError)


def test_atomic_writes_get_the_permissions_of_an_ordinary_new_file(tmp_path):
    import os

    from neuralshade.imageio import write_bytes

    old = os.umask(0o022)
    try:
        write_bytes(tmp_path / "a.bin", b"x")
        (tmp_path / "plain.bin").write_bytes(b"x")
    finally:
        os.umask(old)
    mode = (tmp_path / "a.bin").stat().st_mode & 0o777
    assert mode == (tmp_path / "plain.bin").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_exr_round_trips_float32_exactly_and_is_deterministic(tmp_path, channels):
    pytest.importorskip("OpenEXR")
    from neuralshade.imageio import read_exr, write_exr

    rng = np.random.default_rng(channels)
    image = (rng.normal(size=(7, 5, channels)) * 100).astype(np.float32)  # HDR, negatives too
    write_exr(tmp_path / "a.exr", image)
    np.testing.assert_array_equal(read_exr(tmp_path / "a.exr"), image)
    write_exr(tmp_path / "b.exr", image)
    assert (tmp_path / "a.exr").read_bytes() == (tmp_path / "b.exr").read_bytes()
    write_exr(tmp_path / "h.exr", image, half=True)
    np.testing.assert_allclose(read_exr(tmp_path / "h.exr"), image, rtol=1e-3)
    assert not list(tmp_path.glob(".*"))  # no temporary left behind


def test_exr_refuses_bad_shapes_and_names_a_bad_file(tmp_path):
    pytest.importorskip("OpenEXR")
    from neuralshade.errors import InputError
    from neuralshade.imageio import read_exr, write_exr

    with pytest.raises(ValueError, match=r"\(H, W, 1\|3\|4\)"):
        write_exr(tmp_path / "x.exr", np.zeros((4, 4, 2)))
    (tmp_path / "bad.exr").write_bytes(b"not an exr")
    with pytest.raises(InputError, match="bad.exr"):
        read_exr(tmp_path / "bad.exr")
    with pytest.raises(InputError, match="missing.exr"):
        read_exr(tmp_path / "missing.exr")

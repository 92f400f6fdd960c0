"""Reading and writing images and buffers safely.

Every write is atomic: the data goes to a temporary file in the destination's directory,
which is then renamed over the destination, so a killed process never leaves a half-written
file under the final name. Reading (:func:`read_image`) checks the file before decoding it
and turns every problem (missing, corrupt, huge) into an :class:`~neuralshade.errors.InputError`
that names the file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from neuralshade.errors import InputError, OutputError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; make it ``path``, durably, if the block succeeds.

    The temporary file keeps the destination's suffix so that libraries choosing a format
    from the extension (PIL, numpy) write the right one. It is created with mode 0o666, so the
    kernel applies the process's umask as for any new file, without this process reading or
    changing the umask (which would race with other threads). Before the rename its data are
    flushed to disk (``fsync``), and after it the directory entry too, so a power loss leaves
    either the old file or the complete new one, never a renamed, empty file.

    Raises :class:`~neuralshade.errors.OutputError`, naming the path, when the destination's
    folder cannot be made or written (a file where a folder belongs, no permission, a full or
    read-only disk).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        tmp_path = _create_temporary(path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {describe_os_error(exc)}") from None
    try:
        yield tmp_path
        try:
            _fsync(tmp_path)
            os.replace(tmp_path, path)
            _fsync(path.parent)
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {describe_os_error(exc)}") from None
    finally:
        tmp_path.unlink(missing_ok=True)


def _create_temporary(path: Path) -> Path:
    """A new, empty file beside ``path`` (mode 0o666 less the umask), named to be ignored."""
    for _ in range(100):
        tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path))


def _fsync(path: Path) -> None:
    """Flush a file's data (or a folder's entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def describe_os_error(exc: OSError) -> str:
    """An OS error in words, with what to do."""
    what = exc.strerror or str(exc)
    where = f" ({exc.filename})" if exc.filename else ""
    hint = {
        errno.ENOTDIR: "a file stands where a folder belongs: choose another output path",
        errno.EEXIST: "a file stands where a folder belongs: choose another output path",
        errno.EISDIR: "a folder stands where the file belongs: choose another output path",
        errno.EACCES: "no permission to write there: choose another output path",
        errno.EPERM: "no permission to write there: choose another output path",
        errno.EROFS: "the file system is read-only: choose another output path",
        errno.ENOSPC: "the disk is full: free some space",
    }.get(exc.errno, "choose another output path")
    return f"{what}{where}; {hint}"


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Atomically write ``data`` to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON (keys in insertion order)."""
    write_bytes(path, (json.dumps(obj, indent=2) + "\n").encode())


def write_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Atomically write ``array`` as a ``.npy`` file (no pickled objects allowed)."""
    array = np.asarray(array)
    if array.dtype == object:
        raise ValueError("refusing to write an object array: .npy files here never hold pickles")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array, allow_pickle=False)


# OpenEXR channel names by channel count: grey, RGB, RGBA (what Mitsuba, Blender and OIDN's
# tools read as such)
_EXR_CHANNELS = {1: "Y", 3: "RGB", 4: "RGBA"}


def _openexr():
    try:
        import OpenEXR
    except ImportError:
        raise InputError(
            "OpenEXR files need the OpenEXR package: pip install 'neuralshade[mitsuba]'"
        ) from None
    return OpenEXR


def write_exr(path: str | os.PathLike, array: np.ndarray, half: bool = False) -> None:
    """Atomically write a float image as OpenEXR (ZIP-compressed scanlines).

    array: (H, W) or (H, W, C) with C in 1, 3, 4, written as channels Y, RGB or RGBA, float32
    (``half``: float16). The bytes are a function of the pixels alone (no time stamp), so the
    same render gives the same file.
    """
    exr = _openexr()
    a = np.asarray(array, dtype=np.float16 if half else np.float32)
    a = a[..., None] if a.ndim == 2 else a
    if a.ndim != 3 or a.shape[2] not in _EXR_CHANNELS or 0 in a.shape:
        raise ValueError(f"an EXR image is (H, W) or (H, W, 1|3|4), got shape {array.shape}")
    pixels = np.ascontiguousarray(a[..., 0] if a.shape[2] == 1 else a)
    header = {"compression": exr.ZIP_COMPRESSION, "type": exr.scanlineimage}
    with atomic_path(path) as tmp, exr.File(header, {_EXR_CHANNELS[a.shape[2]]: pixels}) as f:
        f.write(str(tmp))


def read_exr(path: str | os.PathLike) -> np.ndarray:
    """An OpenEXR image as float32 (H, W, C): its Y, RGB or RGBA channels.

    A missing, unreadable or foreign file raises InputError naming it.
    """
    exr = _openexr()
    try:
        with exr.File(str(path)) as f:
            channels = f.channels()
            name = next((n for n in ("RGBA", "RGB", "Y") if n in channels), None)
            if name is None:
                raise InputError(f"{path}: no Y, RGB or RGBA channels (it has {list(channels)})")
            pixels = np.array(channels[name].pixels, dtype=np.float32)
    except InputError:
        raise
    except Exception as exc:  # the binding raises RuntimeError or OSError on bad files
        raise InputError(f"{path}: not a readable OpenEXR file ({exc})") from None
    return pixels[..., None] if pixels.ndim == 2 else pixels


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] → linear light (IEC 61966-2-1), float32; values outside
    [0, 1] are clipped first."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)  # float32 at the end
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(values: np.ndarray) -> np.ndarray:
    """Linear light → sRGB-encoded values in [0, 1] (IEC 61966-2-1), float32; values outside
    [0, 1] are clipped first."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)  # float32 at the end
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055).astype(np.float32)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Quantise a float image in [0, 1] to uint8 with rounding (values outside are clipped)."""
    return (np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def heatmap(values: np.ndarray, vmax: float) -> np.ndarray:
    """(H, W) non-negative values → (H, W, 3) float32 inferno colours, saturating at ``vmax``."""
    from matplotlib import colormaps

    return colormaps["inferno"](np.clip(np.asarray(values) / vmax, 0, 1))[..., :3].astype(
        np.float32
    )


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Atomically write an image as an 8-bit PNG.

    image: (H, W) grey or (H, W, 3) RGB; float in [0, 1] (quantised with rounding) or uint8.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = to_uint8(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(f"write_png expects (H, W) or (H, W, 3), got shape {image.shape}")
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


DEFAULT_MAX_PIXELS = 64 * 1024 * 1024
"""Largest image (width × height) that :func:`read_image` decodes unless told otherwise.

64 Mi pixels is an 8192 × 8192 image, about 256 MiB as 8-bit RGBA: larger than any mask or
photo this package works with, small enough that a hostile or mistaken file cannot exhaust
memory. Raise it with ``max_pixels=`` or the CLI's ``--max-pixels``.
"""

# PIL's own decompression-bomb guard is a module global; read_image lifts it while it reads
# (its own limit, checked from the header, replaces it) and this lock keeps two reads in
# different threads from restoring each other's value. Reads in threads are thus serialised;
# reads in separate processes (DataLoader workers) are not.
_PIL_LIMIT_LOCK = threading.Lock()


@contextlib.contextmanager
def _pil_pixel_limit_lifted() -> Iterator[None]:
    with _PIL_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def check_pixels(
    width: int, height: int, max_pixels: int, path: str | os.PathLike | None = None
) -> None:
    """InputError (naming ``path`` when given) for an image of more than ``max_pixels``."""
    if width * height > max_pixels:
        where = f"{path}: " if path is not None else ""
        raise InputError(
            f"{where}the image is {width} × {height} = {width * height:,} pixels, above the "
            f"limit of {max_pixels:,}; if it is meant, raise the limit with max_pixels=... "
            "(CLI: --max-pixels)"
        )


def read_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Read any image PIL can decode, fully loaded and turned the right way up.

    The size is checked from the file's header before any pixel is decoded, so a huge or
    hostile file is refused without using memory. The EXIF orientation, if any, is applied
    (``PIL.ImageOps.exif_transpose``), so photos come out as they are displayed. Multi-frame
    files (GIF, TIFF) give their first frame. The mode is the file's own ("L", "RGB", "I;16",
    ...); :func:`neuralshade.masks.image_to_mask` turns any of them into a mask.

    Raises :class:`~neuralshade.errors.InputError`, naming the path, when the file is missing,
    a directory, empty, not an image, truncated or corrupt, zero-sized, or larger than
    ``max_pixels`` (width × height).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected an image file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty (0 bytes), not an image")
    with _pil_pixel_limit_lifted():
        try:
            image = Image.open(path)
        except UnidentifiedImageError:
            raise InputError(
                f"{path}: not an image PIL can read (unknown format or not an image at all); "
                "use a PNG, JPEG, TIFF, BMP, WebP or similar file"
            ) from None
        # PIL's decoders report bad data with many exception types (OSError, SyntaxError,
        # ValueError, EOFError, struct.error, ...), depending on the format and the damage.
        except Exception as err:
            raise InputError(
                f"{path}: cannot open it ({type(err).__name__}: {err}); the file is unreadable, "
                "truncated or corrupt"
            ) from err
        with image:
            width, height = image.size
            if width == 0 or height == 0:
                raise InputError(f"{path}: the image has zero size ({width} × {height} pixels)")
            check_pixels(width, height, max_pixels, path)
            try:
                image.load()
                return ImageOps.exif_transpose(image)
            except Exception as err:  # as for Image.open above
                raise InputError(
                    f"{path}: the image data is truncated or corrupt "
                    f"({type(err).__name__}: {err}); re-export or re-download the file"
                ) from err

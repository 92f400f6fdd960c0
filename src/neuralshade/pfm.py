"""Portable Float Map (PFM): the plain float image format of Open Image Denoise's tools.

The format (Paul Debevec's definition, as ``oidnDenoise`` reads and writes it)::

    PF            "PF": three channels (RGB), "Pf": one (grey)
    W H           width and height in pixels, decimal
    -1.0          scale: its sign is the byte order (negative: little endian, positive: big
                  endian); its magnitude is informative only and is not applied to the pixels
    <data>        W × H × C float32 values, channels interleaved, rows from the BOTTOM of the
                  image to the top, each row left to right

The three header fields each end with one whitespace character (a newline, as every writer
does); the pixels follow the one after the scale at once. :func:`read_pfm` reads both byte
orders and both kinds and checks the size from the header before reading any pixel;
:func:`write_pfm` writes little endian (scale -1.0), atomically.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from neuralshade.errors import InputError
from neuralshade.imageio import DEFAULT_MAX_PIXELS, check_pixels, write_bytes

# magic, width, height, scale, then exactly one whitespace character before the pixels
_HEADER = re.compile(rb"(P[Ff])\s+(\d+)\s+(\d+)\s+(\S+)\s")
# a header is a few dozen bytes; more than this before the pixels is not a PFM file
_HEADER_MAX = 256


def read_pfm(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """A PFM image as float32 (H, W, C), top row first: C = 3 for "PF", 1 for "Pf".

    Raises InputError, naming the file, when it is missing, not a PFM file, larger than
    ``max_pixels`` (width × height; checked from the header), or shorter or longer than its
    header says.

    Example::

        image = read_pfm("color.pfm")  # (H, W, 3)
    """
    path = Path(path)
    if not path.is_file():
        what = "is a directory, expected a PFM file" if path.is_dir() else "no such file"
        raise InputError(f"{path}: {what}; check the path")
    with open(path, "rb") as f:
        head = f.read(_HEADER_MAX)
        match = _HEADER.match(head)
        if match is None:
            raise InputError(
                f"{path}: not a PFM file (it must start with 'PF' or 'Pf', the width and height, "
                "and the scale)"
            )
        magic, width, height, scale_text = match.groups()
        width, height = int(width), int(height)
        try:
            scale = float(scale_text)
        except ValueError:
            scale = float("nan")
        if not np.isfinite(scale) or scale == 0:
            raise InputError(
                f"{path}: the PFM scale is {scale_text.decode(errors='replace')!r}; it must be a "
                "non-zero number (negative: little endian, positive: big endian)"
            )
        if width == 0 or height == 0:
            raise InputError(f"{path}: the image has zero size ({width} × {height} pixels)")
        check_pixels(width, height, max_pixels, path)
        channels = 3 if magic == b"PF" else 1
        expected = width * height * channels * 4
        f.seek(match.end())
        data = f.read(expected + 1)
    if len(data) != expected:
        found = "more" if len(data) > expected else f"{len(data):,}"
        raise InputError(
            f"{path}: the header says {width} × {height} × {channels} float32 values "
            f"({expected:,} bytes) but the file holds {found}; it is truncated or corrupt"
        )
    dtype = np.dtype("<f4" if scale < 0 else ">f4")
    rows = np.frombuffer(data, dtype=dtype).reshape(height, width, channels)  # bottom row first
    return np.ascontiguousarray(rows[::-1], dtype=np.float32)


def write_pfm(path: str | os.PathLike, array: np.ndarray) -> None:
    """Atomically write a float image as PFM, little endian (scale -1.0).

    array: (H, W) or (H, W, 1), written as "Pf" (grey), or (H, W, 3), written as "PF"; top
    row first (it is stored bottom row first, as the format wants), as float32.
    """
    a = np.asarray(array, dtype=np.float32)
    a = a[..., None] if a.ndim == 2 else a
    if a.ndim != 3 or a.shape[2] not in (1, 3) or 0 in a.shape:
        raise ValueError(f"a PFM image is (H, W), (H, W, 1) or (H, W, 3), got {np.shape(array)}")
    height, width, channels = a.shape
    header = f"{'PF' if channels == 3 else 'Pf'}\n{width} {height}\n-1.0\n".encode()
    pixels = np.ascontiguousarray(a[::-1], dtype="<f4").tobytes()
    write_bytes(path, header + pixels)

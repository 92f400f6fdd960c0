"""Contact sheets: every buffer of a render in one labelled picture, each shown by its kind.

People look at buffers; they do not read them. :func:`display` maps a buffer to a picture by
its kind (:mod:`neuralshade.data.schema`): sRGB colour as it is; linear radiance through the
sRGB curve after a fixed exposure (values above 1 clip, so a sheet does not depend on the
brightest pixel); vectors (normals, directions, positions) from [−1, 1] (positions from their
own bounding range) to [0, 1] per channel; masks and scalars in [0, 1] as grey, other scalars
(depth) scaled by their maximum; ids through a categorical colour map.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from neuralshade.imageio import linear_to_srgb, to_uint8

LABEL_HEIGHT = 18


def display(array: np.ndarray, kind: str, *, exposure: float = 1.0) -> np.ndarray:
    """A buffer (H, W) or (H, W, C) as a picture (H, W, 3) float in [0, 1], by its kind."""
    a = np.asarray(array, dtype=np.float32)
    a = a[..., None] if a.ndim == 2 else a
    if kind == "srgb":
        out = a
    elif kind == "linear":
        out = linear_to_srgb(exposure * a)
    elif kind == "vector":
        lo, hi = float(a.min()), float(a.max())
        if lo >= -1.0 and hi <= 1.0:  # unit vectors and directions
            out = 0.5 * (a + 1.0)
        else:  # positions: their own range, the same for every channel
            out = (a - lo) / max(hi - lo, 1e-12)
    elif kind == "id":
        from matplotlib import colormaps

        ids = np.round(a[..., 0] * 1e6).astype(np.int64)  # ids are stored as id / max id
        _, index = np.unique(ids, return_inverse=True)
        out = colormaps["tab20"](index.reshape(ids.shape) % 20)[..., :3]
    else:  # mask, scalar
        hi = float(a.max())
        out = a if hi <= 1.0 and float(a.min()) >= 0.0 else a / max(hi, 1e-12)
    out = np.clip(out, 0.0, 1.0)
    return np.repeat(out, 3, axis=2) if out.shape[2] == 1 else out[..., :3]


def labelled(label: str, image: np.ndarray) -> np.ndarray:
    """(H, W, 3) picture in [0, 1] with ``label`` on a white strip above it: uint8."""
    from neuralshade.masks import fonts

    font = ImageFont.truetype(str(fonts()[0]), 12)
    strip = Image.new("RGB", (image.shape[1], LABEL_HEIGHT), "white")
    ImageDraw.Draw(strip).text((3, 2), label, fill="black", font=font)
    return np.concatenate([np.asarray(strip), to_uint8(image)], axis=0)


def contact_sheet(
    panels: Sequence[tuple[str, np.ndarray, str]], columns: int = 4, scale: int = 1
) -> np.ndarray:
    """A grid of labelled panels, each (label, buffer, kind), row by row: (H', W', 3) uint8.

    Every buffer must have the same (H, W); ``scale`` enlarges each by pixel repetition (small
    renders stay readable, nothing is interpolated).
    """
    if not panels:
        raise ValueError("a contact sheet needs at least one buffer")
    tiles = []
    for label, array, kind in panels:
        picture = display(array, kind)
        picture = picture.repeat(scale, axis=0).repeat(scale, axis=1)
        tiles.append(labelled(label, picture))
    shapes = {t.shape for t in tiles}
    if len(shapes) != 1:
        raise ValueError(f"the buffers of a contact sheet must share one size, got {shapes}")
    blank = np.full_like(tiles[0], 255)
    tiles += [blank] * (-len(tiles) % columns)
    rows = [np.concatenate(tiles[i : i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)

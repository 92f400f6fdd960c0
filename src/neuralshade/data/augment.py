"""Image symmetries that act on every buffer of a sample according to its kind.

The 8 symmetries of the square (:data:`D4`) move pixels; what else they do depends on the
buffer (:mod:`neuralshade.data.schema`): a ``vector`` with image axes has its components turned
with the image (a mirror negates one, a quarter turn swaps them), everything else (colour,
masks, scalars, ids) only moves. Pixels are permuted, never interpolated, so masks and ids keep
their exact values. Whether a symmetry keeps a *sample* true (a light fixed in the scene turns
with the image) is the source's call (:meth:`neuralshade.data.sources.Source.symmetries`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from neuralshade.data.schema import Buffer


@dataclass(frozen=True)
class Symmetry:
    """One of the 8 symmetries of the square, acting on images, azimuths and vectors.

    The image is first mirrored left-right (columns reversed) if ``flip``, then rotated
    ``rot`` × 90° counter-clockwise as seen on screen. Rotating by 90° turns an azimuth
    (degrees counter-clockwise on screen from +x) by +90°; the left-right mirror maps azimuth a
    to 180° − a. ``name`` is "identity", "rotK" (K degrees counter-clockwise) or "mirrorT", the
    mirror across the line through the image centre at T degrees on screen (it maps azimuth a
    to 2T − a): "mirror90" reverses the columns, "mirror0" the rows, "mirror135" is the
    transpose (main diagonal, top-left to bottom-right).
    """

    name: str
    rot: int
    flip: bool

    def apply(self, array: np.ndarray) -> np.ndarray:
        """The image moved: array (..., H, W) → (..., W, H) (a view, H = W here)."""
        if self.flip:
            array = array[..., ::-1]
        return np.rot90(array, self.rot, axes=(-2, -1))

    def azimuth(self, degrees: float) -> float:
        """Azimuth (degrees, counter-clockwise on screen) after the transform, in [0, 360)."""
        a = 180.0 - degrees if self.flip else degrees
        return (a + 90.0 * self.rot) % 360.0

    def vector(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) components of vectors in image coordinates (x right, y down) after it.

        The left-right mirror negates x; a counter-clockwise quarter turn on screen sends the
        screen vector (x, −y) to (y, x), i.e. image (x, y) → (y, −x).
        """
        if self.flip:
            x = -x
        for _ in range(self.rot):
            x, y = y, -x
        return x, y

    def fixes(self, degrees: float, tol: float = 1e-6) -> bool:
        """Whether the transform maps azimuth ``degrees`` onto itself (mod 360)."""
        d = (self.azimuth(degrees) - degrees) % 360.0
        return min(d, 360.0 - d) <= tol

    def buffer(self, array: np.ndarray, buffer: Buffer) -> np.ndarray:
        """``array`` (C, H, W) of ``buffer`` after the symmetry: pixels moved, vectors turned."""
        assert buffer.follows_symmetries or self.name == "identity", (
            f"{buffer.name} cannot follow an image symmetry (a vector without image axes)"
        )
        moved = self.apply(array)
        if buffer.kind != "vector" or buffer.image_axes is None or self.name == "identity":
            return moved
        i, j = buffer.image_axes
        sign = 1.0 if buffer.y_down else -1.0  # a y-up vector is turned as the y-down (x, −y)
        x, y = self.vector(moved[i], sign * moved[j])
        out = np.array(moved)
        out[i], out[j] = x, sign * y
        return out

    def buffers(
        self, arrays: Mapping[str, np.ndarray], schema: Mapping[str, Buffer]
    ) -> dict[str, np.ndarray]:
        """Every buffer of a sample after the symmetry."""
        return {name: self.buffer(a, schema[name]) for name, a in arrays.items()}


D4: tuple[Symmetry, ...] = (
    Symmetry("identity", 0, False),
    Symmetry("rot90", 1, False),
    Symmetry("rot180", 2, False),
    Symmetry("rot270", 3, False),
    Symmetry("mirror90", 0, True),
    Symmetry("mirror135", 1, True),
    Symmetry("mirror0", 2, True),
    Symmetry("mirror45", 3, True),
)
"""The 8 symmetries of the square; the first is the identity."""


def crop_window(size: tuple[int, int], side: int, rng: np.random.Generator) -> tuple[slice, slice]:
    """A random ``side``² window of an (H, W) image: the same one serves every buffer."""
    h, w = size
    high = h - side + 1 if h == w else np.array([h - side + 1, w - side + 1])
    top, left = (int(v) for v in rng.integers(0, high, size=2))
    return slice(top, top + side), slice(left, left + side)

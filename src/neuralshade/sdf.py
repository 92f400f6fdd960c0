"""2D signed distance fields of a mask: exact (Euclidean distance transform) and Dead Reckoning.

Convention (both methods follow it, so their outputs can be compared and swapped):

- Pixel (row ``i``, column ``j``) is the unit square ``[j, j+1] x [i, i+1]``; its centre is
  ``(j + 0.5, i + 0.5)``. A pixel is *inside* when ``mask >= threshold``.
- The shape is the set of inside pixel *centres*; the zero level lies half-way between an
  inside and an outside pixel centre. For an outside pixel the value is
  ``(Euclidean distance from its centre to the nearest inside pixel centre) - 0.5``; for an
  inside pixel it is ``-((distance to the nearest outside pixel centre) - 0.5)``.
  Values are in pixels, **negative inside, positive outside**, never in ``(-0.5, 0.5)``.
  A straight axis-aligned edge gives ``..., -1.5, -0.5 | +0.5, +1.5, ...``; the field is
  exact for axis-aligned boundaries.
- The world beyond the image is *outside*: the image is padded with one ring of outside
  pixels before the transform and cropped back, so an inside pixel on the image border has
  the value ``-0.5`` (a shape cut by the frame is a solid whose side wall stands at the image
  border).
- With no inside pixel at all every value is ``+inf`` (there is no shape to be near). A mask
  that is inside everywhere is no special case: its only boundary is the frame.

Methods (``SDF_METHODS``):

- ``"exact"``: :func:`scipy.ndimage.distance_transform_edt`, exact Euclidean distances.
- ``"dead_reckoning"``: Grevera (2004), the algorithm of the neural-AO post. Approximate and
  O(H W) with two raster passes compiled by numba; its nearest points are real pixel centres
  of the right class, so ``|dead_reckoning| >= |exact|`` everywhere, with equality where the
  nearest boundary is axis-aligned (a single rectangle is exact everywhere). Its error grows
  with the distance: on random letter/shape masks (``benchmarks/results/sdf_methods.json``:
  ``sizes[*].dr_error_px``) 84-92% of
  pixels are exact, the mean error is 0.03-0.12 px, and the worst is
  ``|dr| - |exact| <= 0.082 (|exact| + 0.5)`` (up to 5 px within 64 px of a boundary, 34 px
  far away at 1024²). Unlike the exact field it is not 1-Lipschitz: it jumps by up to tens of
  pixels between neighbouring pixels, so a sphere tracer stepping by it can overshoot.
  scipy's exact transform is also faster on CPU, so ``"exact"`` is the default.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numba
import numpy as np
from scipy import ndimage

from neuralshade.errors import ConfigError, InputError

SDF_METHODS: tuple[str, ...] = ("exact", "dead_reckoning")

_SQRT2 = float(np.sqrt(2.0))


def _inside(mask: np.ndarray, threshold: float) -> np.ndarray:
    """Check ``mask`` and return its inside pixels as a ``(H, W)`` bool array.

    bool masks are used as they are; uint8 masks are 8-bit images (value / 255 is compared
    with ``threshold``); other real dtypes are compared with ``threshold`` directly.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise InputError(f"mask must be a 2D (H, W) array, got shape {mask.shape}")
    if mask.size == 0:
        raise InputError(f"mask is empty (shape {mask.shape}); give at least one pixel")
    if mask.dtype == np.bool_:
        return mask
    if mask.dtype == np.uint8:
        return mask.astype(np.float32) / 255.0 >= threshold
    if not (np.issubdtype(mask.dtype, np.integer) or np.issubdtype(mask.dtype, np.floating)):
        raise InputError(f"mask must hold real numbers, got dtype {mask.dtype}")
    if not np.isfinite(mask).all():
        raise InputError("mask contains NaN or infinite values; give values in [0, 1]")
    return mask >= threshold


def _signed(
    mask: np.ndarray, threshold: float, distance_to: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """The signed field of ``mask`` under the module's convention.

    distance_to(members): members is a ``(H+2, W+2)`` bool array; returns, for every pixel,
    the Euclidean distance in pixels from its centre to the nearest member's centre.
    """
    inside = _inside(mask, threshold)
    if not inside.any():
        return np.full(inside.shape, np.inf, dtype=np.float32)
    framed = np.pad(inside, 1, constant_values=False)  # the world beyond the image is outside
    to_inside = distance_to(framed)[1:-1, 1:-1]
    to_outside = distance_to(~framed)[1:-1, 1:-1]
    return np.where(inside, 0.5 - to_outside, to_inside - 0.5).astype(np.float32)


def _edt_distance_to(members: np.ndarray) -> np.ndarray:
    return ndimage.distance_transform_edt(~members)


def exact_sdf(mask: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Exact signed distance field of a mask (Euclidean distance transform).

    Args:
        mask: (H, W) float in [0, 1]; bool, or uint8 read as an 8-bit image, also accepted.
            Inside is ``mask >= threshold``.
        threshold: the inside/outside cut, in the mask's [0, 1] units.

    Returns:
        (H, W) float32, pixels: negative inside, positive outside, ``|d| >= 0.5`` (see the
        module docstring for the exact convention, the image border and the ``inf`` cases).

    Raises:
        InputError: the mask is not 2D, is empty, or holds non-finite or non-real values.

    Example:
        >>> import numpy as np
        >>> mask = np.zeros((1, 6), np.float32); mask[0, :2] = 1.0
        >>> exact_sdf(mask).tolist()
        [[-0.5, -0.5, 0.5, 1.5, 2.5, 3.5]]
    """
    return _signed(mask, threshold, _edt_distance_to)


def cached_njit(func: Callable) -> Callable:
    """``numba.njit(cache=True)``, or without the on-disk cache when no location is writable.

    numba caches beside the source file, else in the user's cache directory; when neither is
    writable (read-only install and home) it raises at decoration time instead of falling
    back, so we fall back here: the function then compiles once per process (about a second).
    """
    try:
        return numba.njit(cache=True)(func)
    except RuntimeError as err:
        warnings.warn(
            f"numba cannot cache {func.__name__} ({err}); it will compile in every "
            "process. Set NUMBA_CACHE_DIR to a writable directory to avoid this.",
            RuntimeWarning,
            stacklevel=2,
        )
        return numba.njit(func)


@numba.njit(inline="always")
def _relax(dist, near_i, near_j, i, j, ni, nj, step):
    """Grevera's update: if the neighbour (ni, nj) promises a shorter path, take its point."""
    h, w = dist.shape
    if 0 <= ni < h and 0 <= nj < w and dist[ni, nj] + step < dist[i, j]:
        pi = near_i[ni, nj]
        pj = near_j[ni, nj]
        near_i[i, j] = pi
        near_j[i, j] = pj
        dist[i, j] = np.sqrt(float((i - pi) * (i - pi) + (j - pj) * (j - pj)))


@cached_njit
def _dead_reckoning_distance_to(members):
    """Dead Reckoning distance from every pixel centre to the nearest member centre.

    The border points are the members with a 4-neighbour that is not a member; only these can
    be the nearest member of a non-member (a member whose 4-neighbours are all members has
    one nearer to any outside point), so seeding them alone loses nothing.
    """
    h, w = members.shape
    dist = np.full((h, w), np.inf)
    near_i = np.full((h, w), -1, dtype=np.int64)
    near_j = np.full((h, w), -1, dtype=np.int64)
    for i in range(h):
        for j in range(w):
            if members[i, j] and (
                (i > 0 and not members[i - 1, j])
                or (i < h - 1 and not members[i + 1, j])
                or (j > 0 and not members[i, j - 1])
                or (j < w - 1 and not members[i, j + 1])
            ):
                dist[i, j] = 0.0
                near_i[i, j] = i
                near_j[i, j] = j
    for i in range(h):
        for j in range(w):
            _relax(dist, near_i, near_j, i, j, i - 1, j - 1, _SQRT2)
            _relax(dist, near_i, near_j, i, j, i - 1, j, 1.0)
            _relax(dist, near_i, near_j, i, j, i - 1, j + 1, _SQRT2)
            _relax(dist, near_i, near_j, i, j, i, j - 1, 1.0)
    for i in range(h - 1, -1, -1):
        for j in range(w - 1, -1, -1):
            _relax(dist, near_i, near_j, i, j, i, j + 1, 1.0)
            _relax(dist, near_i, near_j, i, j, i + 1, j - 1, _SQRT2)
            _relax(dist, near_i, near_j, i, j, i + 1, j, 1.0)
            _relax(dist, near_i, near_j, i, j, i + 1, j + 1, _SQRT2)
    return dist


def dead_reckoning_sdf(mask: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Signed distance field of a mask by Dead Reckoning (Grevera 2004).

    Border points (pixels with a 4-neighbour of the other class) start at distance 0 with
    themselves as nearest point; a forward raster pass over the neighbours (-1,-1), (-1,0),
    (-1,+1), (0,-1) (row, col) and a backward pass over the mirrored four replace a pixel's
    nearest point by its neighbour's when ``d(neighbour) + step < d`` (step 1 or sqrt 2) and
    set ``d = |x - p|``. It runs once with the inside pixels as border points (distances of
    outside pixels) and once with the outside ones (distances of inside pixels), then maps to
    the same convention as :func:`exact_sdf`. Compiled by numba: the first call in a fresh
    process compiles (or loads the on-disk cache) and is slower.

    Args:
        mask: (H, W) float in [0, 1]; bool, or uint8 read as an 8-bit image, also accepted.
            Inside is ``mask >= threshold``.
        threshold: the inside/outside cut, in the mask's [0, 1] units.

    Returns:
        (H, W) float32, pixels, same convention as :func:`exact_sdf`; ``|d|`` is never
        below the exact value and equals it where the nearest boundary is axis-aligned.

    Raises:
        InputError: the mask is not 2D, is empty, or holds non-finite or non-real values.

    Example:
        >>> import numpy as np
        >>> mask = np.zeros((1, 6), np.float32); mask[0, :2] = 1.0
        >>> dead_reckoning_sdf(mask).tolist()
        [[-0.5, -0.5, 0.5, 1.5, 2.5, 3.5]]
    """
    return _signed(mask, threshold, _dead_reckoning_distance_to)


_METHODS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "exact": exact_sdf,
    "dead_reckoning": dead_reckoning_sdf,
}
assert tuple(_METHODS) == SDF_METHODS, "SDF_METHODS must list the dispatch table's names"


def signed_distance(mask: np.ndarray, method: str = "exact", threshold: float = 0.5) -> np.ndarray:
    """Signed distance field of a mask by the named method (one of ``SDF_METHODS``).

    Args:
        mask: (H, W) float in [0, 1] (bool and uint8 accepted); inside is ``mask >= threshold``.
        method: ``"exact"`` or ``"dead_reckoning"``.
        threshold: the inside/outside cut.

    Returns:
        (H, W) float32, pixels, negative inside, positive outside (module docstring).

    Raises:
        ConfigError: unknown method (the message lists the known ones).
        InputError: unusable mask.

    Example:
        >>> import numpy as np
        >>> mask = np.zeros((1, 6), np.float32); mask[0, :2] = 1.0
        >>> signed_distance(mask, method="dead_reckoning").tolist()
        [[-0.5, -0.5, 0.5, 1.5, 2.5, 3.5]]
    """
    try:
        compute = _METHODS[method]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown SDF method {method!r}; known methods: {', '.join(SDF_METHODS)}"
        ) from None
    return compute(mask, threshold)

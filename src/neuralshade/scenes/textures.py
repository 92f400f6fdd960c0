"""Texture images: a :class:`~neuralshade.scenes.model.Texture` as linear RGB texels.

Builtins every install has (:data:`~neuralshade.scenes.model.BUILTIN_TEXTURES`):

- ``brick``, ``grass``, ``gravel``: scikit-image's photographs (``skimage.data``; public
  domain, grey 8-bit), read as sRGB and made linear;
- ``checker``: a checkerboard of 2–8 squares a side in two colours;
- ``noise``: fractal value noise (four octaves of bilinearly upsampled random grids) between
  two colours;

the procedural two drawn from the texture's ``seed``. A file is read as 8-bit sRGB
(:func:`neuralshade.imageio.read_image`: a missing or broken file is an InputError; grey made
RGB, alpha dropped). Texels are (H, W, 3) float32 in [0, 1], linear; the material's albedo
multiplies them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from neuralshade.imageio import srgb_to_linear
from neuralshade.scenes.model import Texture

PROCEDURAL_SIZE = 256


def texture_image(texture: Texture, albedo=(1.0, 1.0, 1.0)) -> np.ndarray:
    """(H, W, 3) float32 linear texels of ``texture`` times ``albedo`` (linear RGB)."""
    texels = _texels(texture.image, texture.seed if texture.builtin else 0)
    return (texels * np.asarray(albedo, np.float32)).astype(np.float32)


@lru_cache(maxsize=32)
def _texels(image: str, seed: int) -> np.ndarray:
    if image in ("brick", "grass", "gravel"):
        import skimage.data

        grey = getattr(skimage.data, image)().astype(np.float32) / 255.0
        return np.repeat(srgb_to_linear(grey)[:, :, None], 3, axis=2)
    if image == "checker":
        return _checker(np.random.default_rng(seed))
    if image == "noise":
        return _noise(np.random.default_rng(seed))
    from neuralshade.imageio import read_image

    pixels = np.asarray(read_image(image).convert("RGB"), np.float32) / 255.0
    return srgb_to_linear(pixels)


def _two_colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a = rng.uniform(0.1, 0.9, 3).astype(np.float32)
    b = np.clip(a * rng.uniform(0.3, 0.8), 0.0, 1.0).astype(np.float32)
    return a, b


def _checker(rng: np.random.Generator) -> np.ndarray:
    squares = int(rng.integers(2, 9))
    side = PROCEDURAL_SIZE // squares * squares
    cells = np.indices((side, side)) * squares // side
    which = ((cells[0] + cells[1]) % 2).astype(np.float32)[:, :, None]
    a, b = _two_colours(rng)
    return srgb_to_linear(which * a + (1 - which) * b)


def _noise(rng: np.random.Generator) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    n = PROCEDURAL_SIZE
    total = np.zeros((n, n), np.float32)
    for octave in range(4):
        cells = 4 * 2**octave
        grid = rng.uniform(0, 1, (cells + 1, cells + 1)).astype(np.float32)
        grid[-1], grid[:, -1] = grid[0], grid[:, 0]  # wraps, so the texture tiles seamlessly
        side = n + n // cells
        up = F.interpolate(torch.from_numpy(grid)[None, None], size=(side, side),
                           mode="bilinear", align_corners=True)[0, 0, :n, :n].numpy()  # fmt: skip
        total += up / 2**octave
    total = (total - total.min()) / max(float(total.max() - total.min()), 1e-6)
    a, b = _two_colours(rng)
    return srgb_to_linear(total[:, :, None] * a + (1 - total[:, :, None]) * b)

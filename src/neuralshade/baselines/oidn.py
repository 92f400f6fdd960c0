"""Intel Open Image Denoise (OIDN), the production denoiser, as the ``denoise`` task's baseline.

OIDN's ``RT`` filter (a U-Net trained by Intel on rendered images; its weights ship inside the
``pyoidn`` wheel, so nothing is downloaded) takes the noisy colour and, optionally, the
first-hit albedo and normal, the same auxiliary buffers our denoisers read. Its settings, as
OIDN names them:

- ``hdr``: the colour is linear HDR radiance (True for renders; False for [0, 1] LDR images).
- ``quality``: ``"high"`` (its best filter), ``"balanced"`` or ``"fast"``. On the CPU, with
  pyoidn 2.5, ``balanced`` gives ``high``'s output to the bit (measured); ``fast`` is a
  smaller filter.
- ``clean_aux``: the albedo and normal are noise-free. Left False for the noisy auxiliary
  buffers a path tracer writes at the colour's sample count: OIDN then prefilters them first.

Normals may be in world or camera space, in [-1, 1]; the albedo in [0, 1].
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from neuralshade.errors import ConfigError

QUALITIES = ("high", "balanced", "fast")


@functools.cache
def _pyoidn() -> Any:
    try:
        import pyoidn
    except ImportError as exc:  # an optional dependency
        raise ConfigError(
            "Open Image Denoise needs the pyoidn package: pip install 'neuralshade[denoise]'"
        ) from exc
    return pyoidn


def oidn(
    color: np.ndarray,
    albedo: np.ndarray | None = None,
    normal: np.ndarray | None = None,
    *,
    quality: str = "high",
    hdr: bool = True,
    clean_aux: bool = False,
) -> np.ndarray:
    """OIDN's ``RT`` filter on (H, W, 3) float32 arrays; returns the denoised (H, W, 3).

    ``albedo`` and ``normal``: None, or the same shape as ``color``; OIDN takes a normal only
    with an albedo. The caller makes the colour finite and non-negative (OIDN's contract).

    Example::

        clean = oidn(noisy, albedo, normal, quality="balanced")
    """
    if quality not in QUALITIES:
        raise ConfigError(f"OIDN quality must be one of {list(QUALITIES)}, got {quality!r}")
    if normal is not None and albedo is None:
        raise ConfigError("OIDN takes a normal only together with an albedo")
    images = [color, albedo, normal]
    for name, image in zip(("color", "albedo", "normal"), images, strict=True):
        if image is not None and (image.ndim != 3 or image.shape[-1] != 3):
            raise ConfigError(f"OIDN's {name} must be (H, W, 3), got {image.shape}")
        if image is not None and image.shape != color.shape:
            raise ConfigError(f"OIDN's {name} is {image.shape}, the colour {color.shape}")
    color, albedo, normal = (
        None if image is None else np.ascontiguousarray(image, dtype=np.float32)
        for image in images
    )
    return _pyoidn().denoise(
        color, albedo, normal, hdr=hdr, clean_aux=clean_aux, quality=quality
    )

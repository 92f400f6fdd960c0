"""Shadows for inserted objects: ``neuralshade.insert_shadow(image, mask)`` and
``neuralshade shadow IMAGE --mask MASK -o OUT``.

A picture with an object pasted in, and the object's mask → the same picture with the object's
shadow on the ground, consistent with the shadows already there (the task ``shadow``,
:mod:`neuralshade.tasks.shadow`; bundled model ``shadow-cpu``).

The network runs at the size it was trained at: a picture larger than that (its longest side
above the checkpoint's ``image_size``) is shrunk to it (area average) for the network, and the
change the network makes — its output minus its input — is enlarged back (bilinear) and added
to the full-size picture, so the picture keeps its own detail and only the shadow is
resampled. The object's own pixels are never changed.

Input rules (each a clear error, or a warning and a repair):

- the picture: RGB; a grey picture is made RGB, an alpha channel is dropped (the shadow falls
  on what is shown); 8-bit values are read as sRGB in [0, 1];
- the mask: the object's pixels, white on black, the picture's size (else an error naming
  both sizes); a colour mask is read by its luminance; values strictly between 0 and 1 are
  thresholded at 0.5, with a :class:`ShadowWarning` counting them (the network was trained on
  exact coverages, and an anti-aliased edge is fine: only masks with many grey pixels warn);
  an empty mask (no object) or an all-white one (no ground left) is an error.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from neuralshade.errors import InputError, OutputError
from neuralshade.metrics import REC709_LUMA

DEFAULT_MODEL = "shadow-cpu"
GREY_WARNING = 0.02  # warn when more than this fraction of the mask's pixels is grey


class ShadowWarning(UserWarning):
    """Input repaired before inserting a shadow (a grey mask thresholded)."""


def insert_shadow(
    image: Any, mask: Any, model: str = DEFAULT_MODEL, device: str = "auto"
) -> np.ndarray:
    """The picture with the inserted object's shadow: (H, W, 3) float32 in [0, 1].

    image: (H, W, 3) or (H, W, 4) or (H, W) — floats in [0, 1] or uint8 — a numpy array or a
    tensor. mask: (H, W) or (H, W, C) of the same H, W, white (1 or 255) on the object.
    model: a bundled model's name or a checkpoint of the task ``shadow``.

    >>> out = insert_shadow(picture, object_mask)  # doctest: +SKIP
    """
    import torch
    import torch.nn.functional as F

    from neuralshade.infer import load_model, predict

    picture = _picture(image)
    m = _mask(mask, picture.shape[:2])
    net, info = load_model(model, device=device, task="shadow")
    dev = next(net.parameters()).device
    full = {
        "noshadow": torch.from_numpy(picture).permute(2, 0, 1).to(dev),
        "mask": torch.from_numpy(m)[None].to(dev),
    }
    h, w = picture.shape[:2]
    side = int(info.get("image_size") or max(h, w))
    if max(h, w) <= side:
        out = predict(net, full, info)
    else:  # the network's own scale: shrink, predict, enlarge the change it makes
        size = (max(1, round(h * side / max(h, w))), max(1, round(w * side / max(h, w))))
        small = {k: F.interpolate(t[None], size=size, mode="area")[0] for k, t in full.items()}
        small["mask"] = (small["mask"] > 0.5).float()
        change = predict(net, small, info) - small["noshadow"]
        change = F.interpolate(change[None], size=(h, w), mode="bilinear", align_corners=False)
        out = full["noshadow"] + change[0]
    kept = full["mask"]
    out = (kept * full["noshadow"] + (1 - kept) * out).clamp(0, 1)
    return out.permute(1, 2, 0).cpu().numpy().astype(np.float32)


def shadow_file(
    image: str | os.PathLike,
    mask: str | os.PathLike,
    out: str | os.PathLike,
    model: str = DEFAULT_MODEL,
    device: str = "auto",
) -> Path:
    """Read IMAGE and MASK (any format PIL reads), write the picture with the object's shadow to
    ``out`` (PNG, atomically); returns its path. ``out`` may not be one of the inputs."""
    from neuralshade.imageio import read_image, write_png

    out = Path(out)
    for given in (image, mask):
        if out.exists() and out.resolve() == Path(given).resolve():
            raise OutputError(f"{out}: is an input; choose another output path")
    if out.is_dir():
        raise OutputError(f"{out}: is a folder; give an output file name (.png)")
    if out.suffix.lower() != ".png":
        raise OutputError(f"{out}: the output is a PNG picture; give a .png name")
    values = np.asarray(read_image(image).convert("RGB"))  # grey made RGB, alpha dropped
    grey = np.asarray(read_image(mask).convert("L"))
    if grey.shape != values.shape[:2]:
        raise InputError(
            f"{mask}: the mask is {grey.shape[1]}×{grey.shape[0]} pixels, the picture {image} "
            f"{values.shape[1]}×{values.shape[0]}: give a mask of the picture's size"
        )
    result = insert_shadow(values, grey, model=model, device=device)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_png(out, result)
    return out


def _picture(image: Any) -> np.ndarray:
    values = _array(image, "image")
    if values.ndim == 2:
        values = values[:, :, None]
    if values.ndim != 3 or values.shape[2] not in (1, 2, 3, 4):
        raise InputError(
            f"image: expected (H, W), (H, W, 3) or (H, W, 4), got shape {values.shape}"
        )
    if values.shape[2] in (2, 4):  # an alpha channel: the shadow falls on what is shown
        values = values[:, :, :-1]
    if values.shape[2] == 1:
        values = np.repeat(values, 3, axis=2)
    if min(values.shape[:2]) < 2:
        raise InputError(f"image: {values.shape[1]}×{values.shape[0]} pixels is too small")
    return np.ascontiguousarray(values, dtype=np.float32)


def _mask(mask: Any, size: tuple[int, int]) -> np.ndarray:
    values = _array(mask, "mask")
    if values.ndim == 3:
        channels = values[:, :, :3] if values.shape[2] >= 3 else values[:, :, :1]
        values = channels @ np.array(REC709_LUMA, np.float32) \
            if channels.shape[2] == 3 else channels[:, :, 0]  # fmt: skip
    if values.shape != size:
        raise InputError(
            f"mask: {values.shape[1]}×{values.shape[0]} pixels, the image {size[1]}×{size[0]}: "
            "give a mask of the image's size"
        )
    grey = (values > 0.0) & (values < 1.0)
    if grey.mean() > GREY_WARNING:
        warnings.warn(
            f"the mask has {int(grey.sum())} grey pixels (neither black nor white): "
            "thresholded at 0.5",
            ShadowWarning,
            stacklevel=3,
        )
    binary = (values >= 0.5).astype(np.float32)
    if not binary.any():
        raise InputError("mask: it is empty (no white pixel): draw the object's pixels white")
    if binary.all():
        raise InputError("mask: it is all white: the object covers the whole picture, there "
                         "is no ground left for its shadow")  # fmt: skip
    return binary


def _array(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    values = np.asarray(x)
    if values.dtype == np.uint8:
        return values.astype(np.float32) / 255.0
    if values.dtype == np.uint16:
        return values.astype(np.float32) / 65535.0
    if values.dtype == np.bool_:
        return values.astype(np.float32)
    if not np.issubdtype(values.dtype, np.number):
        raise InputError(f"{name}: expected numbers, got {values.dtype}")
    values = values.astype(np.float32)
    if not np.isfinite(values).all():
        raise InputError(f"{name}: has NaN or infinite values")
    if values.min() < 0 or values.max() > 1:
        raise InputError(f"{name}: floats must lie in [0, 1] (got {values.min()}..."
                         f"{values.max()}); give uint8 for 0-255 values")  # fmt: skip
    return values

"""Denoising rendered images: ``neuralshade.denoise(color, albedo, normal)`` and
``neuralshade denoise``, with Open Image Denoise's conventions.

As in OIDN, a denoiser takes the noisy colour and, optionally, the first-hit albedo and normal
(a normal only together with an albedo); ``hdr`` says whether the colour is linear HDR radiance
or linear LDR values in [0, 1]; ``quality`` is ``high``, ``balanced`` or ``fast``. Denoisers
are looked up by name (:func:`get_denoiser`): ``oidn`` (Intel Open Image Denoise,
:mod:`neuralshade.baselines.oidn`, registered in :data:`DENOISERS`), or a trained network of
the task ``denoise``, bundled (``denoise-cpu``: OIDN's own network fine-tuned on the room
renders, run inside OIDN's filter with its weights; ``denoise-unet-cpu``) or a checkpoint path
(:func:`load_network`).

**Bad input is repaired, with a warning** (:class:`DenoiseWarning`, counting the pixels), so
that the output is never NaN and no call fails on a render's usual defects:

* NaN or ±inf pixels of the colour take the mean of their finite 3×3 neighbours (0 where none
  is finite). A renderer's NaN or infinite pixel is a single bad sample, not a black pixel: 0
  would leave a dark speck that a denoiser keeps as detail (it cannot tell a dead pixel from a
  dark one), whereas the neighbours' mean is the best local estimate of what the pixel would
  have been without the bad sample, and the denoiser blends it away.
* Negative radiance is clamped to 0 (OIDN takes non-negative colour). In LDR mode the colour
  is clamped to [0, 1] too (a warning counts the pixels above 1: HDR input denoised as LDR).
* NaN or ±inf pixels of the albedo or normal are set to 0 (no surface); the albedo is clamped
  to [0, 1] and the normal to [-1, 1] without a warning (a render's albedo of a glossy metal
  lies above 1 by design).

A pixel is repaired as a whole (all its channels) when any of its channels is bad.

**Files** (:func:`denoise_file`, :func:`denoise_files`): OpenEXR and PFM hold linear HDR
radiance (denoised as HDR by default); PNG holds sRGB-encoded LDR values (8-bit, or 16-bit
grey), converted to linear light with the exact sRGB curve for denoising (as LDR by default)
and back for writing. PNGs are written with 8 bits per channel; PIL reads a 16-bit RGB PNG
as 8-bit. Alpha channels are dropped. A folder ``neuralshade render`` wrote (``beauty.exr``
and ``params.json``) is one image: its beauty, with its ``albedo.exr`` and ``normal.exr``
where present.
"""

from __future__ import annotations

import functools
import os
import sys
import time
import types
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuralshade.errors import ConfigError, InputError, OutputError
from neuralshade.imageio import (
    DEFAULT_MAX_PIXELS,
    check_pixels,
    linear_to_srgb,
    read_exr,
    read_image,
    srgb_to_linear,
    write_exr,
    write_png,
)
from neuralshade.outputs import Source, check_outputs, plan_outputs
from neuralshade.pfm import read_pfm, write_pfm
from neuralshade.registry import Registry

#: A denoiser: ``(color, albedo, normal, *, quality, hdr, spp) -> (H, W, 3) float32``. It gets
#: color (H, W, 3) float32, finite and non-negative (in [0, 1] when not ``hdr``), albedo and
#: normal None or (H, W, 3) float32, finite, in [0, 1] and [-1, 1] (a normal only with an
#: albedo), and ``spp``, the input's samples per pixel or None, to use or ignore.
Denoiser = Callable[..., np.ndarray]
#: the buffers a denoising network may read, by the names it was trained on: OIDN's three
OIDN_NAMES = ("beauty", "albedo", "normal")
#: name → loader: a function of no arguments returning the ready denoiser, having done once
#: what costs time once (imports, weights, a warm-up), so that the denoiser's calls time alone
DENOISERS: Registry[Callable[[], Denoiser]] = Registry("denoiser")

#: file formats by extension
FORMATS = {".exr": "exr", ".pfm": "pfm", ".png": "png"}
#: formats of linear HDR radiance, denoised as HDR by default (PNG: sRGB LDR, as LDR)
HDR_FORMATS = ("exr", "pfm")
#: the files that mark a folder `neuralshade render` wrote (params.json is written last)
RENDER_FOLDER_FILES = ("beauty.exr", "params.json")


class DenoiseWarning(UserWarning):
    """Input repaired before denoising: NaN, infinite or out-of-range pixels, counted."""


@DENOISERS.register("oidn")
def load_oidn() -> Denoiser:
    """Intel Open Image Denoise's ``RT`` filter (:mod:`neuralshade.baselines.oidn`)."""
    from neuralshade.baselines.oidn import oidn

    oidn(np.zeros((8, 8, 3), np.float32))  # warm-up: imports pyoidn (and torch), starts OIDN

    def run(color, albedo, normal, *, quality: str, hdr: bool, spp: int | None) -> np.ndarray:
        # spp is not used: OIDN's networks are trained for every sample count and take none
        return oidn(color, albedo, normal, quality=quality, hdr=hdr)

    return run


@functools.cache
def _registered(name: str) -> Denoiser:
    return DENOISERS.get(name)()


def get_denoiser(name: str) -> Denoiser:
    """The denoiser called ``name`` (``--model``); every caller resolves names here.

    ``name`` is a registered denoiser (:data:`DENOISERS`: ``oidn``), loaded once, or a trained
    network of the task ``denoise``: a bundled model's name (``denoise-cpu``) or a checkpoint
    path (:func:`load_network`). An unknown name raises ConfigError listing the known ones.
    """
    if name in DENOISERS:
        return _registered(name)
    return load_network(name)


def denoising_models() -> list[str]:
    """Every name ``--model`` takes without a path: the registered denoisers, then the
    bundled networks of the task ``denoise``."""
    from neuralshade.infer import bundled_models, read_model_meta

    bundled = [n for n in bundled_models() if read_model_meta(n).get("task") == "denoise"]
    return [*DENOISERS.names(), *bundled]


def load_network(name: str) -> Denoiser:
    """A trained network of the task ``denoise`` (a bundled name or a checkpoint path) as a
    :data:`Denoiser`, on the CPU.

    It reads the buffers it was trained on by their names (``beauty`` is the colour; OIDN's
    trio: ``beauty``, ``albedo``, ``normal``) and runs through :func:`neuralshade.infer.predict`:
    any size, tiled on its grid with its whole receptive field as overlap above
    ``infer.AUTO_TILE_PIXELS``. ``quality`` is OIDN's and is not used; ``hdr`` False is linear
    LDR light, which the network takes as the HDR light it is. A network that reads a buffer
    the call did not give (an albedo, a normal, or one ``denoise`` has no argument for)
    raises ConfigError.
    """
    import torch

    from neuralshade.infer import bundled_models, load_model

    if name not in bundled_models() and not Path(name).exists():
        raise ConfigError(
            f"no denoiser {name!r}: use one of {', '.join(denoising_models())} or the path of "
            "a checkpoint of the task denoise"
        )
    model, info = load_model(name, device="cpu", task="denoise")  # another task's: an error
    inputs = list(info["inputs"])
    unknown = [n for n in inputs if n not in OIDN_NAMES]
    if unknown:
        raise ConfigError(
            f"the network {name!r} reads {unknown}, which denoise cannot give it (it takes a "
            "colour, an albedo and a normal): run it with `neuralshade infer`"
        )

    engine = _in_oidn(model, inputs)

    def run(color, albedo, normal, *, quality: str, hdr: bool, spp: int | None) -> np.ndarray:
        from neuralshade.infer import predict

        given = {"beauty": color, "albedo": albedo, "normal": normal}
        missing = [n for n in inputs if given[n] is None]
        if missing:
            flags = " and ".join(f"--{n}" for n in missing)
            raise ConfigError(
                f"the network {name!r} reads {', '.join(inputs)}: give the {' and '.join(missing)} "
                f"too ({flags}; from Python: {', '.join(f'{n}=...' for n in missing)})"
            )
        if engine is not None:
            return engine(color, albedo, normal)
        buffers = {n: torch.from_numpy(np.ascontiguousarray(given[n])).permute(2, 0, 1)
                   for n in inputs}  # fmt: skip
        return predict(model, buffers).permute(1, 2, 0).numpy()

    return run


def _in_oidn(model: Any, inputs: list[str]) -> Callable | None:
    """OIDN's own filter running an ``oidn-unet``'s weights (OIDN's network fine-tuned: the
    same output as torch's to float16 rounding, at OIDN's speed), when the network reads
    OIDN's three inputs and pyoidn is installed; else None (torch runs it)."""
    if model.sidecar["models"]["net"]["name"] != "oidn-unet" or inputs != list(OIDN_NAMES):
        return None
    if model in _ENGINES:  # load_model caches the model: one OIDN filter per loaded network
        return _ENGINES[model]
    try:
        from neuralshade.baselines.oidn import WeightedFilter, write_tza

        engine = WeightedFilter(write_tza(model.state_dict()))
    except ConfigError:  # no pyoidn: the torch network is the same network
        engine = None
    _ENGINES[model] = engine
    return engine


_ENGINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def denoise(
    color: Any,
    albedo: Any = None,
    normal: Any = None,
    *,
    model: str = "oidn",
    quality: str = "high",
    hdr: bool = True,
    spp: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Any:
    """Denoise a rendered image: the Python face of ``neuralshade denoise``.

    color: (H, W, 3) linear radiance (``hdr``), or linear values in [0, 1] (not ``hdr``; values
    above 1 are clamped), or grey (H, W) or (H, W, 1), denoised as three equal channels; a
    float numpy array or torch tensor (any device). albedo: None or (H, W, 3) in [0, 1], the
    first hit's reflectance. normal: None or (H, W, 3) in [-1, 1], world or camera space; only
    with an albedo. model: a denoiser's name (:func:`get_denoiser`). quality: ``high``,
    ``balanced`` or ``fast``. spp: the input's samples per pixel, for denoisers that use it
    (``oidn`` ignores it). max_pixels: larger images (H × W) are refused.

    Returns the denoised colour, non-negative (in [0, 1] when not ``hdr``), finite, of the
    colour's shape and dtype: a numpy array for a numpy colour, a tensor on the colour's device
    for a tensor. NaN, infinite and negative values are repaired first, with a
    :class:`DenoiseWarning` each (see the module's description). Raises InputError for shapes
    that do not fit together or an image above ``max_pixels``, ConfigError for an unknown model
    or quality, a bad ``spp``, or a normal without an albedo.

    Example::

        >>> import numpy as np, neuralshade
        >>> noisy = np.random.default_rng(0).exponential(1.0, (32, 48, 3)).astype(np.float32)
        >>> neuralshade.denoise(noisy).shape
        (32, 48, 3)
    """
    if spp is not None and (not isinstance(spp, (int, np.integer)) or spp < 1):
        raise ConfigError(f"spp must be a positive integer, got {spp!r}")
    if normal is not None and albedo is None:
        raise ConfigError(
            "a normal needs an albedo too (OIDN uses the normal only together with the albedo): "
            "pass albedo=... (CLI: --albedo)"
        )
    c = _as_float_array(color, "color")
    a = None if albedo is None else _as_float_array(albedo, "albedo")
    n = None if normal is None else _as_float_array(normal, "normal")
    _check_shapes(c, a, n)
    h, w = c.shape[:2]
    if h * w > max_pixels:
        check_pixels(w, h, max_pixels)
    run = get_denoiser(model)
    rgb = np.repeat(c.reshape(h, w, 1), 3, axis=2) if c.ndim == 2 or c.shape[2] == 1 else c
    rgb = clean_color(rgb, hdr)
    a = None if a is None else clean_aux(a, "albedo", 0.0, 1.0)
    n = None if n is None else clean_aux(n, "normal", -1.0, 1.0)
    out = run(rgb, a, n, quality=quality, hdr=hdr, spp=spp)
    out = np.clip(out, 0.0, None if hdr else 1.0)
    assert np.isfinite(out).all(), f"the denoiser {model!r} returned NaN or infinite values"
    if c.shape != rgb.shape:  # grey in, grey out
        out = out.mean(axis=2).reshape(c.shape)
    return _like(out, color)


def clean_color(color: np.ndarray, hdr: bool = True) -> np.ndarray:
    """color (H, W, 3) made finite and non-negative (and at most 1 unless ``hdr``), warning
    with the number of pixels of each repair; NaN or infinite pixels take the mean of their
    finite 3×3 neighbours. Returns a new float32 array."""
    finite = np.isfinite(color).all(axis=2)  # (H, W)
    negative = finite & (color < 0).any(axis=2)
    out = np.where(finite[..., None], np.maximum(color, 0), 0).astype(np.float32)
    if negative.any():
        _warn(f"color: {_pixels(negative.sum())} with negative values clamped to 0")
    if not finite.all():
        out = _fill_from_neighbours(out, finite)
        _warn(
            f"color: {_pixels((~finite).sum())} with NaN or infinite values replaced by the mean "
            "of their finite neighbours"
        )
    if not hdr:
        above = (out > 1).any(axis=2)
        if above.any():
            _warn(
                f"color: {_pixels(above.sum())} above 1 clamped to 1 (LDR mode; denoise HDR "
                "radiance with hdr=True, CLI --hdr)"
            )
        out = np.minimum(out, 1.0)
    return out


def clean_aux(image: np.ndarray, name: str, low: float, high: float) -> np.ndarray:
    """An auxiliary buffer (H, W, 3) with NaN or infinite pixels set to 0 (warning with their
    number, naming the buffer ``name``) and clamped to [low, high]. Returns a new array."""
    finite = np.isfinite(image).all(axis=2)
    if not finite.all():
        _warn(f"{name}: {_pixels((~finite).sum())} with NaN or infinite values set to 0")
    return np.clip(np.where(finite[..., None], image, 0), low, high).astype(np.float32)


def _fill_from_neighbours(image: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """image (H, W, C), zero where not ``valid`` (H, W), with each invalid pixel replaced by the
    mean of the valid ones among its 8 neighbours (0 where there are none)."""
    h, w = valid.shape
    weight = valid.astype(np.float32)
    padded = np.pad(image * weight[..., None], ((1, 1), (1, 1), (0, 0)))
    padded_weight = np.pad(weight, 1)
    windows = [(i, j) for i in range(3) for j in range(3)]
    total = sum(padded[i : i + h, j : j + w] for i, j in windows)  # (H, W, C)
    count = sum(padded_weight[i : i + h, j : j + w] for i, j in windows)  # (H, W)
    mean = total / np.maximum(count, 1)[..., None]
    return np.where(valid[..., None], image, mean).astype(np.float32)


def _warn(text: str) -> None:
    """Warn at the first caller outside this module (whichever way it called denoise)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    warnings.warn(text, DenoiseWarning, stacklevel=level)


def _pixels(count: int) -> str:
    return f"{count} pixel" if count == 1 else f"{count} pixels"


def _as_float_array(x: Any, name: str) -> np.ndarray:
    """A numpy array or a torch tensor (any device) as a float32 numpy array."""
    torch = sys.modules.get("torch")  # a tensor can only come from an imported torch
    if torch is not None and isinstance(x, torch.Tensor):
        if not x.dtype.is_floating_point:
            raise InputError(f"{name} must be a float tensor of linear values, got {x.dtype}")
        return x.detach().to("cpu", torch.float32).numpy()
    a = np.asarray(x)
    if a.dtype.kind != "f":
        raise InputError(
            f"{name} must be a float array of linear values, got dtype {a.dtype}; convert an "
            "8-bit sRGB image with srgb_to_linear(image / 255)"
        )
    return a.astype(np.float32, copy=False)


def _check_shapes(color: np.ndarray, albedo: np.ndarray | None, normal: np.ndarray | None):
    """InputError naming every shape unless color is (H, W, 3|1) or (H, W) and the auxiliary
    buffers (H, W, 3) with the colour's H and W."""
    grey_or_rgb = color.ndim == 2 or (color.ndim == 3 and color.shape[2] in (1, 3))
    aux = [a for a in (albedo, normal) if a is not None]
    if (
        grey_or_rgb
        and min(color.shape[:2]) > 0
        and all(a.shape == (*color.shape[:2], 3) for a in aux)
    ):
        return
    shapes = {"color": color, "albedo": albedo, "normal": normal}
    listed = ", ".join(f"{k} {tuple(v.shape)}" for k, v in shapes.items() if v is not None)
    raise InputError(
        f"{listed}: the color must be (H, W, 3), or (H, W) or (H, W, 1) for grey, non-empty, "
        "and the albedo and normal (H, W, 3) with the color's H and W"
    )


def _like(out: np.ndarray, color: Any) -> Any:
    """out as ``color`` is: a tensor on its device, or a numpy array, of its dtype."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(color, torch.Tensor):
        return torch.from_numpy(np.ascontiguousarray(out)).to(color.device, color.dtype)
    return out.astype(np.asarray(color).dtype, copy=False)


# ---- files ------------------------------------------------------------------------------


def file_format(path: str | os.PathLike) -> str | None:
    """The format of a file by its extension, in any case: "exr", "pfm", "png", or None."""
    return FORMATS.get(Path(path).suffix.lower())


def read_buffer(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An image file as linear float32 (H, W, C), C = 1 (grey) or 3; alpha is dropped.

    EXR and PFM are read as they are; PNG (8-bit, or 16-bit grey) through the sRGB curve.
    Raises InputError, naming the file, when it is missing, of another format, unreadable, or
    larger than ``max_pixels`` (checked from its header, before the pixels are read).
    """
    path = Path(path)
    fmt = file_format(path)
    if not path.is_file():
        what = "a folder, expected an image file" if path.is_dir() else "no such file"
        raise InputError(f"{path}: {what}; check the path")
    if fmt == "exr":
        size = _exr_size(path)
        if size is not None and size[0] * size[1] > max_pixels:
            check_pixels(*size, max_pixels, path)
        image = read_exr(path)
    elif fmt == "pfm":
        image = read_pfm(path, max_pixels)
    elif fmt == "png":
        image = srgb_to_linear(_png_values(read_image(path, max_pixels)))
    else:
        raise InputError(
            f"{path}: unknown image format {path.suffix!r}; denoise reads "
            f"{', '.join(FORMATS)} files"
        )
    return image[..., :3] if image.shape[2] == 4 else image


def _exr_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from an OpenEXR file's header; None where it cannot be read (reading
    the file then says why)."""
    try:
        import OpenEXR

        with OpenEXR.File(str(path), header_only=True) as f:
            low, high = f.header()["dataWindow"]
    except Exception:
        return None
    return int(high[0] - low[0] + 1), int(high[1] - low[1] + 1)


def _png_values(picture: Any) -> np.ndarray:
    """A PIL image's values as float32 (H, W, 1) or (H, W, 3) in [0, 1]."""
    if picture.mode.startswith("I;16") or picture.mode == "I":  # 16-bit grey
        values = np.asarray(picture, dtype=np.float32) / 65535
    elif picture.mode in ("1", "L", "LA"):
        values = np.asarray(picture.convert("L"), dtype=np.float32) / 255
    else:
        values = np.asarray(picture.convert("RGB"), dtype=np.float32) / 255
    return values[..., None] if values.ndim == 2 else values


def write_buffer(path: str | os.PathLike, image: np.ndarray, fmt: str) -> None:
    """Atomically write linear float (H, W, C), C = 1 or 3, as ``fmt`` (a value of
    :data:`FORMATS`; PNG: 8-bit through the sRGB curve, clipped to [0, 1])."""
    if fmt == "exr":
        write_exr(path, image)
    elif fmt == "pfm":
        write_pfm(path, image)
    else:
        assert fmt == "png", f"unknown format {fmt!r}"
        write_png(path, linear_to_srgb(image))


# ---- inputs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    """The files of one image to denoise: its colour and, optionally, albedo and normal."""

    color: Path
    albedo: Path | None = None
    normal: Path | None = None

    @property
    def files(self) -> list[Path]:
        return [p for p in (self.color, self.albedo, self.normal) if p is not None]


def is_render_folder(path: Path) -> bool:
    """Whether ``path`` is a folder ``neuralshade render SCENE`` wrote (and finished)."""
    return path.is_dir() and all((path / name).is_file() for name in RENDER_FOLDER_FILES)


def image_inputs(path: str | os.PathLike) -> Inputs:
    """An image file, or a render folder's beauty.exr with its albedo.exr and normal.exr
    where present (the normal only with the albedo, as OIDN takes it)."""
    path = Path(path)
    if not is_render_folder(path):
        return Inputs(path)
    albedo = path / "albedo.exr" if (path / "albedo.exr").is_file() else None
    normal = path / "normal.exr" if albedo and (path / "normal.exr").is_file() else None
    return Inputs(path / "beauty.exr", albedo, normal)


def find_images(items: Sequence[str]) -> list[Source]:
    """Files, folders and glob patterns → the images to denoise, as output-naming sources.

    A render folder is one image (its path is the folder); a plain folder gives the image
    files and render folders below it, sorted (hidden names and the buffers inside render
    folders skipped), each named relative to it; a glob pattern gives its matches. Names
    that match nothing are kept, so that they are reported as missing.
    """
    from neuralshade.shading import expand_inputs

    return expand_inputs(items, is_image=_is_image, below=_images_below)


def _is_image(path: Path) -> bool:
    return is_render_folder(path) or (path.is_file() and file_format(path) is not None)


def _images_below(folder: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        renders = {d for d in dirs if not d.startswith(".") and is_render_folder(here / d)}
        found += [here / d for d in renders]  # one image each: their buffers are not walked
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in renders]
        found += [here / f for f in files if not f.startswith(".") and file_format(f)]
    return sorted(found)


# ---- commands ---------------------------------------------------------------------------


def denoise_file(
    inputs: Inputs,
    out: str | os.PathLike,
    fmt: str | None = None,
    *,
    model: str = "oidn",
    quality: str = "high",
    hdr: bool | None = None,
    spp: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> dict[str, Any]:
    """Denoise one image's files into ``out``, written atomically as ``fmt`` (default: by its
    extension). ``hdr`` None: by the colour file's format (EXR, PFM: HDR; PNG: LDR).

    Returns a summary: output, size [W, H], model, quality, hdr, the auxiliary buffers
    used, and the milliseconds the denoiser took. Repairs warn as :func:`denoise` does.
    """
    fmt = fmt or file_format(out)
    assert fmt in HDR_FORMATS + ("png",), f"no output format for {out}"
    color = read_buffer(inputs.color, max_pixels)
    albedo, normal = (
        None if p is None else read_buffer(p, max_pixels) for p in (inputs.albedo, inputs.normal)
    )
    if hdr is None:
        hdr = file_format(inputs.color) in HDR_FORMATS
    start = time.perf_counter()
    image = denoise(
        color,
        albedo,
        normal,
        model=model,
        quality=quality,
        hdr=hdr,
        spp=spp,
        max_pixels=max_pixels,
    )
    milliseconds = 1e3 * (time.perf_counter() - start)
    write_buffer(out, image, fmt)
    h, w = color.shape[:2]
    return {
        "output": str(out),
        "size": [w, h],
        "model": model,
        "quality": quality,
        "hdr": hdr,
        "aux": [name for name, a in (("albedo", albedo), ("normal", normal)) if a is not None],
        "milliseconds": milliseconds,
    }


def denoise_files(
    inputs: Sequence[str],
    out: str | os.PathLike,
    *,
    albedo: str | os.PathLike | None = None,
    normal: str | os.PathLike | None = None,
    model: str = "oidn",
    quality: str = "high",
    hdr: bool | None = None,
    spp: int | None = None,
    fmt: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """``neuralshade denoise``: denoise image files, render folders, folders and globs.

    One input (a file or a render folder): ``out`` is the output file, its extension the
    format (``fmt``, if given, must agree); ``albedo`` and ``normal`` name its auxiliary
    files (a render folder's own are used otherwise). Several (or a folder, or a glob):
    ``out`` is a folder, names per :func:`neuralshade.outputs.plan_outputs`, each output in
    its input's format unless ``fmt`` is given; a bad input is reported (``log("failed:
    …")``) and skipped. Outputs that would replace an input are refused before any work.
    Each repair is logged as ``warning: <input>: …``, each image as a line.

    Returns {'done': [summary of :func:`denoise_file`, with 'input'], 'failed': [(input,
    message)]}.
    """
    if max_pixels < 1:
        raise ConfigError(f"--max-pixels must be positive, got {max_pixels}")
    if spp is not None and spp < 1:
        raise ConfigError(f"--spp must be positive, got {spp}")
    if fmt is not None and fmt not in FORMATS.values():
        raise ConfigError(f"unknown format {fmt!r}; known: {', '.join(FORMATS.values())}")
    if normal is not None and albedo is None:
        raise ConfigError("--normal needs --albedo too (OIDN uses the normal only with the albedo)")
    single = _one_image(inputs)
    if single:
        images = _single_inputs(inputs[0], albedo, normal)
        target, target_fmt = _single_output(out, fmt)
        check_outputs(target.parent, [target], images.files)
        plan = [(inputs[0], images, target, target_fmt)]
    else:
        if albedo is not None or normal is not None:
            raise ConfigError(
                "--albedo and --normal go with a single colour image; for several, give render "
                "folders (their albedo.exr and normal.exr are read)"
            )
        plan = _folder_plan(inputs, out, fmt)
    get_denoiser(model)  # loaded (or refused, if unknown) before any image is read
    done, failed = [], []
    for name, images, target, target_fmt in plan:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DenoiseWarning)
            try:
                summary = denoise_file(
                    images,
                    target,
                    target_fmt,
                    model=model,
                    quality=quality,
                    hdr=hdr,
                    spp=spp,
                    max_pixels=max_pixels,
                )
            except (InputError, OutputError) as exc:
                if single:
                    raise
                failed.append((name, str(exc)))
                log(f"failed: {exc}")
                continue
            finally:
                _report(caught, name, log)
        done.append({"input": name, **summary})
        w, h = summary["size"]
        aux = f", {'+'.join(summary['aux'])}" if summary["aux"] else ""
        log(
            f"{name} -> {target} ({w}x{h}, {model}{f' {quality}' if model in DENOISERS else ''}"
            f"{aux}, "
            f"{'hdr' if summary['hdr'] else 'ldr'}, {summary['milliseconds']:.1f} ms)"
        )
    return {"done": done, "failed": failed}


def _report(caught: list[warnings.WarningMessage], name: str, log: Callable[[str], None]):
    """Log the repairs as ``warning: <input>: …``; show any other warning as Python would."""
    for w in caught:
        if issubclass(w.category, DenoiseWarning):
            log(f"warning: {name}: {w.message}")
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _one_image(items: Sequence[str]) -> bool:
    """Whether the inputs are one image: a file or a render folder (or a missing name that is
    not a pattern, to be reported as missing), not a plain folder or a glob pattern."""
    if len(items) != 1:
        return False
    path = Path(items[0])
    if path.exists():
        return path.is_file() or is_render_folder(path)
    return not any(c in items[0] for c in "*?[")


def _single_inputs(item: str, albedo: Any, normal: Any) -> Inputs:
    found = image_inputs(item)
    if albedo is None:
        return found
    return Inputs(found.color, Path(albedo), None if normal is None else Path(normal))


def _single_output(out: str | os.PathLike, fmt: str | None) -> tuple[Path, str]:
    out = Path(out)
    by_name = file_format(out)
    if by_name is None:
        raise ConfigError(
            f"-o {out}: unknown output format {out.suffix or '(no extension)'}; for one input, "
            f"-o names the output file: end it in {', '.join(FORMATS)}"
        )
    if fmt is not None and fmt != by_name:
        raise ConfigError(f"--format {fmt} and -o {out} disagree; for one input, drop --format")
    return out, by_name


def _folder_plan(items: Sequence[str], out: str | os.PathLike, fmt: str | None) -> list:
    """(name, inputs, output path, format) for each image, in order, refusing collisions and
    outputs that would replace an input (auxiliary files included) before any work."""
    sources = find_images(items)
    if not sources:
        raise InputError(f"no images ({', '.join(FORMATS)} files or render folders) in {items}")
    by_format: dict[str, list[Source]] = {}
    for source in sources:
        # a missing name keeps its own format, or gets EXR, and is reported when read
        own = file_format(image_inputs(source.path).color) or "exr"
        by_format.setdefault(fmt or own, []).append(source)
    planned: dict[Path, tuple[Path, str]] = {}
    for group_fmt, group in by_format.items():
        suffix = next(s for s, f in FORMATS.items() if f == group_fmt)
        planned.update((s.path, (t, group_fmt)) for s, t in plan_outputs(group, out, suffix))
    plan = [  # plan_outputs kept one source per file: its first
        (str(s.path), image_inputs(s.path), *planned.pop(s.path))
        for s in sources
        if s.path in planned
    ]
    check_outputs(out, [t for *_, t, _ in plan], [f for _, i, *_ in plan for f in i.files])
    return plan


class _CallableModule(types.ModuleType):
    """``neuralshade.denoise(color, albedo, normal)``: the module called is :func:`denoise`."""

    def __call__(self, color, albedo=None, normal=None, **options):
        return denoise(color, albedo, normal, **options)


sys.modules[__name__].__class__ = _CallableModule

"""``neuralshade shade``: any white-on-black image shaded by an ao2d network, in milliseconds.

``neuralshade shade INPUT... -o OUT [--model NAME_OR_PATH] [--device] [--tile N]`` and, in
Python, :func:`shade`. The friendly ao2d command on top of the generic inference
(:mod:`neuralshade.infer`, which tiles and pads by the task's context: for ao2d, the
renderer's reach, so the border pixels see the empty ground the renderer puts beyond the
image).

* Inputs may be masks or ordinary pictures: colour is converted to luminance (Rec. 709 weights,
  transparent areas black) and grey levels are passed to the network as they are; bright
  means raised. The renderer would threshold a grey mask at 0.5.
* The default model is the bundled ``ao2d-unet-cpu`` (``neuralshade/weights``): nothing
  needs training or downloading before the first use. It knows one light (azimuth 135°,
  elevation 30°, shapes 24 px high). For any other (``light_azimuth``, ``light_elevation``,
  ``height``: ``--light-azimuth`` … on the command line) the bundled light-conditioned
  ``ao2d-unet-light-cpu`` runs instead, inside the ranges it was trained on (its sidecar's
  ``vary``); at the fixed model's own light the fixed model stays (the two are about as
  accurate there, docs/RESULTS.md, and every figure of the default was measured with it).
"""

from __future__ import annotations

import functools
import glob
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuralshade.errors import CheckpointError, InputError, OutputError
from neuralshade.imageio import DEFAULT_MAX_PIXELS, write_png
from neuralshade.infer import load_model as load_checkpoint_model
from neuralshade.infer import predict
from neuralshade.masks import image_to_mask, load_mask
from neuralshade.outputs import Source, plan_outputs

DEFAULT_MODEL = "ao2d-unet-cpu"
LIGHT_MODEL = "ao2d-unet-light-cpu"
TASK = "ao2d"
LIGHT_KEYS = ("light_azimuth", "light_elevation", "height")
"""The scene settings a user may choose per call (degrees, degrees, pixels)."""
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
SHADED_TARGETS = ["target"]  # the shaded image: the only output `shade` knows how to write


def _check_shading_model(path: str, info: dict[str, Any]) -> None:
    """Refuse a checkpoint whose inputs or outputs are not a mask (and the scene's per-image
    settings) in, the shaded image out."""
    from neuralshade.tasks.ao2d import CONDITIONS

    inputs = info.get("inputs") or []
    if inputs[:1] != ["source"] or not set(inputs[1:]) <= set(CONDITIONS):
        raise CheckpointError(
            f"{path} takes {inputs}, not a mask (and the light): shade needs a model trained "
            f"on inputs [source] or [source, {', '.join(CONDITIONS)}]"
        )
    if info.get("targets") != SHADED_TARGETS:
        raise CheckpointError(
            f"{path} predicts {info.get('targets')}, not the shaded image: shade needs a model "
            f"trained on targets {SHADED_TARGETS} (evaluate this one with `neuralshade eval`)"
        )


def choose_model(name_or_path: str | os.PathLike | None, light: dict[str, float]) -> str:
    """The model to shade with: the one asked for, else the fixed-light default, unless the
    light asked for (``light``: some of :data:`LIGHT_KEYS`) is not its own; then the bundled
    light-conditioned :data:`LIGHT_MODEL`."""
    if name_or_path is not None:
        return str(name_or_path)
    if not light:
        return DEFAULT_MODEL
    fixed = _default_light()
    own = all(math.isclose(_wrapped(k, v), _wrapped(k, fixed[k])) for k, v in light.items())
    return DEFAULT_MODEL if own else LIGHT_MODEL


@functools.cache
def _default_light() -> dict[str, float]:
    """The one light of the bundled :data:`DEFAULT_MODEL` (read once: the server asks per
    request)."""
    from neuralshade.infer import read_model_meta
    from neuralshade.tasks.ao2d import render_settings

    settings = render_settings(read_model_meta(DEFAULT_MODEL))
    return {k: float(getattr(settings, k)) for k in LIGHT_KEYS}


def _wrapped(key: str, value: float) -> float:
    return float(value) % 360.0 if key == "light_azimuth" else float(value)


def scene_settings(info: dict[str, Any], light: dict[str, float], model: str = "the model"):
    """A model's render settings with the light asked for (``light``: some of
    :data:`LIGHT_KEYS`): :class:`~neuralshade.render.params.RenderParams`; None for a
    fixed-light model asked for no light.

    Raises InputError for a value that is not a finite number, a light a fixed-light model
    does not know, or a value outside the range a conditioned model was trained on (its
    sidecar's ``vary``; azimuths wrap around).
    """
    from neuralshade.tasks.ao2d import is_conditioned, render_settings

    conditioned = is_conditioned(info)
    if not light and not conditioned:
        return None  # nothing to tell the network or to check
    base = render_settings(info)
    ranges = info.get("vary") or {}
    update = {}
    for key, value in light.items():
        if key not in LIGHT_KEYS:
            raise InputError(f"unknown scene setting {key!r}; known: {', '.join(LIGHT_KEYS)}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{key} must be a number, got {value!r}") from None
        if not math.isfinite(value):
            raise InputError(f"{key} must be a finite number, got {value}")
        value = _wrapped(key, value)
        own = _wrapped(key, getattr(base, key))
        if conditioned and key in ranges:
            low, high = ranges[key]
            if key == "light_azimuth" and high - low >= 360:
                pass  # every direction was trained
            elif not low - 1e-6 <= value <= high + 1e-6:
                raise InputError(
                    f"{key} {value:g} is outside the range {model} was trained on "
                    f"({low:g} to {high:g})"
                )
        elif not math.isclose(value, own, abs_tol=1e-6):
            raise InputError(
                f"{model} knows one {key.replace('_', ' ')}, {own:g}, not {value:g}: "
                + (
                    f"leave it out, or use the light-conditioned {LIGHT_MODEL}"
                    if not conditioned
                    else "leave it out"
                )
            )
        update[key] = value
    return base.model_copy(update=update)


def load_model(
    name_or_path: str | os.PathLike | None = None, device: str | torch.device = "auto"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """An ao2d network that shades masks (default: the bundled ``ao2d-unet-cpu``), ready for
    inference on ``device`` (see :func:`neuralshade.infer.load_model`), and its sidecar.

    Raises CheckpointError for a checkpoint of another task or one that does not map a mask
    (and the light) to the shaded image.
    """
    model, info = load_checkpoint_model(name_or_path or DEFAULT_MODEL, device, task=TASK)
    _check_shading_model(str(name_or_path or DEFAULT_MODEL), info)
    return model, info


def shade_mask(
    model: torch.nn.Module,
    mask: np.ndarray,
    device: str | torch.device = "cpu",
    tile: int | None = None,
    light: dict[str, float] | None = None,
    name: str = "the model",
) -> np.ndarray:
    """Shade a mask: (H, W) float in [0, 1] → (H, W, 3) float32 sRGB in [0, 1].

    model: from :func:`load_model`. tile: side of the tiles (rounded up to the stride); None
    tiles only images above :data:`neuralshade.infer.AUTO_TILE_PIXELS`. light: some of
    :data:`LIGHT_KEYS` (:func:`scene_settings` checks them against the model); the rest are
    the model's defaults. name: the model's, for messages.
    """
    from neuralshade.data.sources.ao2d import condition_values

    mask = np.asarray(mask, dtype=np.float32)
    if mask.ndim != 2 or mask.size == 0:
        raise InputError(f"mask must be a non-empty (H, W) array, got shape {mask.shape}")
    info = model.sidecar
    params = scene_settings(info, light or {}, name)
    source = torch.from_numpy(mask).to(device)[None]  # (1, H, W)
    inputs = {"source": source}
    values = condition_values(params) if params is not None else {}
    for buffer in info["inputs"][1:]:  # the per-image constants of a conditioned network
        inputs[buffer] = (
            torch.from_numpy(values[buffer]).to(device)[:, None, None].expand(-1, *mask.shape)
        )
    out = predict(model, inputs, tile=tile)
    return out.clamp(0, 1).permute(1, 2, 0).float().cpu().numpy()


def shade(
    image: Any,
    model: str | os.PathLike | None = None,
    *,
    device: str = "auto",
    tile: int | None = None,
    light_azimuth: float | None = None,
    light_elevation: float | None = None,
    height: float | None = None,
) -> np.ndarray:
    """Shade an image with a trained network: the Python face of ``neuralshade shade``.

    image: a path, a PIL image, or an array ((H, W) or (H, W, C); uint8, uint16, bool or
    float in [0, 1]); white = shape. model: a bundled model's name or a checkpoint path
    (default: the bundled ``ao2d-unet-cpu``, or ``ao2d-unet-light-cpu`` for a light of one's
    own). light_azimuth: degrees counter-clockwise on screen from +x (135: from the top left);
    light_elevation: degrees above the ground; height: of the shapes, pixels. None: the
    model's own. Returns (H, W, 3) float32 sRGB in [0, 1].

    Example::

        >>> import numpy as np, neuralshade
        >>> mask = np.zeros((64, 96), np.float32); mask[20:44, 30:60] = 1
        >>> neuralshade.shade(mask).shape
        (64, 96, 3)
        >>> neuralshade.shade(mask, light_azimuth=45, light_elevation=50).shape
        (64, 96, 3)
    """
    light = light_settings(light_azimuth, light_elevation, height)
    name = choose_model(model, light)
    net, _ = load_model(name, device)
    dev = next(net.parameters()).device
    mask = load_mask(image) if isinstance(image, (str, os.PathLike)) else image_to_mask(image)
    return shade_mask(net, mask, dev, tile, light, name)


def light_settings(
    light_azimuth: float | None, light_elevation: float | None, height: float | None
) -> dict[str, float]:
    """The scene settings given (not None), by their :data:`LIGHT_KEYS` names."""
    given = zip(LIGHT_KEYS, (light_azimuth, light_elevation, height), strict=True)
    return {k: v for k, v in given if v is not None}


def expand_inputs(
    inputs: Sequence[str],
    *,
    is_image: Callable[[Path], bool] | None = None,
    below: Callable[[Path], list[Path]] | None = None,
) -> list[Source]:
    """Files, folders (their images, sorted, subfolders included) and glob patterns → sources.

    A file found in a folder keeps its path relative to that folder (see
    :mod:`neuralshade.outputs`). Names that match nothing are kept, so that they are reported
    as missing. Hidden files (a name starting with a dot) in folders are skipped.

    is_image: what a glob may match, and a folder that is one image itself (``denoise``'s
    render folders); default: a file with a PIL image suffix. below: the images a folder holds
    (default: its image files, hidden ones skipped).
    """
    is_image = is_image or _is_image_file
    below = below or _image_files_below
    sources: list[Source] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir() and not is_image(p):
            sources += [Source(f, p) for f in below(p)]
        elif any(c in item for c in "*?[") and not p.exists():
            matches = map(Path, sorted(glob.glob(item, recursive=True)))
            sources += [Source(m, m.parent) for m in matches if is_image(m)]
        else:
            sources.append(Source(p, p.parent))
    return sources


def _is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def _image_files_below(folder: Path) -> list[Path]:
    def hidden(f: Path) -> bool:
        return any(part.startswith(".") for part in f.relative_to(folder).parts)

    return [f for f in sorted(folder.rglob("*")) if _is_image_file(f) and not hidden(f)]


def shade_files(
    inputs: list[str],
    out: str | os.PathLike,
    model: str | os.PathLike | None = None,
    *,
    device: str = "auto",
    tile: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    log: Any = print,
    light_azimuth: float | None = None,
    light_elevation: float | None = None,
    height: float | None = None,
) -> dict[str, Any]:
    """Shade every input image into directory ``out``, one PNG each, under the light asked
    for (as :func:`shade`; checked against the model before any image is read).

    Output names follow :func:`neuralshade.outputs.plan_outputs` (``<stem>.png``; folder
    structure kept; extensions or folders added where names would collide); a collision that
    cannot be resolved, or an output that would replace an input, is refused before anything
    is shaded. A bad input is reported and skipped; the others are still shaded. Returns
    {'done': [(input, output, ms)], 'failed': [(input, message)]}.
    """
    sources = expand_inputs(inputs)
    if not sources:
        raise InputError(f"no input images found in {inputs}")
    if tile is not None and tile < 1:
        raise InputError(f"--tile must be positive, got {tile}")
    if max_pixels < 1:
        raise InputError(f"--max-pixels must be positive, got {max_pixels}")
    plan = plan_outputs(sources, out, ".png")
    light = light_settings(light_azimuth, light_elevation, height)
    name = choose_model(model, light)
    net, info = load_model(name, device)
    scene_settings(info, light, name)  # a bad light fails once, before any work
    dev = next(net.parameters()).device
    done, failed = [], []
    for source, target in plan:
        path = source.path
        try:
            mask = load_mask(path, max_pixels=max_pixels)
            start = time.perf_counter()
            image = shade_mask(net, mask, dev, tile, light, name)
            ms = (time.perf_counter() - start) * 1e3
            write_png(target, image)
        except (InputError, OutputError) as exc:
            failed.append((str(path), str(exc)))
            log(f"failed: {exc}")
            continue
        done.append((str(path), str(target), ms))
        log(f"{path} -> {target} ({mask.shape[1]}x{mask.shape[0]}, {ms:.1f} ms)")
    return {"done": done, "failed": failed}

"""Inference: shade any white-on-black image with a trained network, in milliseconds.

``neuralshade shade INPUT... -o OUT [--model NAME_OR_PATH] [--device] [--tile N]`` and, in
Python, :func:`shade`.

* Any size and aspect ratio. The network is fully convolutional. Beyond the image the
  renderer sees only empty ground, so the border pixels' true context is black: a network with
  unpadded convolutions (ResConv) gets the image padded with black by its context (below,
  rounded up to its total stride) and cropped back; a network whose own zero padding already is
  that ground and that learned borders from whole images (ShadeUNet, ``border_is_ground``) runs
  on the bare image.
* The context is what the output depends on: the receptive radius, or less where the network
  sees farther than the renderer's effects reach (:func:`context_needed`).
* Large images are cut into tiles. A tile keeps only its centre, and takes the context as a
  margin on every side. Tile origins sit on the network's stride grid, so a tile computes what
  the whole image would there, exactly for ResConv (its receptive field fits the margin), to
  within 1/255 (``tests/test_infer.py``) for ShadeUNet (it sees beyond the margin, where
  nothing the renderer does reaches): no seams, no blending. Images above
  ``AUTO_TILE_PIXELS`` are tiled automatically.
* Inputs may be masks or ordinary pictures: colour is converted to luminance (Rec. 709 weights,
  transparent areas black) and grey levels are passed to the network as they are; bright
  means raised. The renderer would threshold a grey mask at 0.5.
* The default model is the bundled ``ao2d-unet-cpu`` (``neuralshade/weights``): nothing
  needs training or downloading before the first use.
"""

from __future__ import annotations

import glob
import math
import os
import threading
import time
from collections import OrderedDict
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuralshade import checkpoint
from neuralshade.config import build
from neuralshade.devices import resolve_device
from neuralshade.errors import (
    CheckpointError,
    ConfigError,
    InputError,
    NeuralShadeError,
    OutputError,
)
from neuralshade.imageio import DEFAULT_MAX_PIXELS, write_png
from neuralshade.losses import from_log_space, predicts_log1p
from neuralshade.masks import image_to_mask, load_mask
from neuralshade.models.unet import fuse_batch_norm
from neuralshade.outputs import Source, plan_outputs
from neuralshade.render.heightfield import RenderParams

DEFAULT_MODEL = "ao2d-unet-cpu"
AUTO_TILE_PIXELS = 2048 * 2048
AUTO_TILE = 1024
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def bundled_models() -> list[str]:
    """Names of the models shipped in neuralshade/weights."""
    folder = resources.files("neuralshade") / "weights"
    return sorted(
        p.name.removesuffix(".safetensors")
        for p in folder.iterdir()
        if p.name.endswith(".safetensors")
    )


def model_path(name_or_path: str | os.PathLike | None = None) -> Path:
    """A bundled model's name, or a checkpoint path, to the checkpoint's weights path."""
    name = str(name_or_path or DEFAULT_MODEL)
    shipped = resources.files("neuralshade") / "weights" / f"{name}.safetensors"
    if shipped.is_file():
        return Path(str(shipped))
    path = Path(name)
    if path.exists() or path.suffix in (".safetensors", ".json"):
        return path
    raise NeuralShadeError(
        f"no model {name!r}: give a checkpoint path or a bundled model "
        f"({', '.join(bundled_models())})"
    )


SHADED_TARGETS = ["target"]  # the shaded image: the only output `shade` knows how to write


def _check_shading_model(path: str, info: dict[str, Any]) -> None:
    """Refuse a checkpoint whose inputs or outputs are not a mask in, the shaded image out."""
    if info.get("inputs") != ["source"]:
        raise CheckpointError(
            f"{path} takes {info.get('inputs')}, not a mask alone: "
            "shade needs a model trained on inputs [source]"
        )
    if info.get("targets") != SHADED_TARGETS:
        raise CheckpointError(
            f"{path} predicts {info.get('targets')}, not the shaded image: shade needs a model "
            f"trained on targets {SHADED_TARGETS} (evaluate this one with `neuralshade eval`)"
        )


def _build(path: str, device: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    model, info = checkpoint.load(path, device=device, task="ao2d")
    _check_shading_model(path, info)
    # the cheapest way to run it that keeps its output (benchmarks/ao2d_models.py measured
    # the alternatives): BatchNorm folded into the convs
    fuse_batch_norm(model)
    try:
        # a network trained with a log-space loss predicts log1p of the image (as `eval` reads it)
        model.log_output = predicts_log1p(info.get("loss") or "l1")
        if info.get("render") is not None:
            params = build(RenderParams, info["render"], "render settings")
            model.context = context_needed(model, params)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: its sidecar is unusable: {exc}") from None
    return model, info


_CACHE: OrderedDict[tuple, tuple[torch.nn.Module, dict[str, Any]]] = OrderedDict()
_CACHE_SIZE = 4
_CACHE_LOCK = threading.Lock()


def _load(path: str, device: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A cached model, keyed on its files' identity and content: a replaced file is reloaded."""
    key = (path, device, checkpoint.fingerprint(path))
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    loaded = _build(path, device)
    with _CACHE_LOCK:
        _CACHE[key] = loaded
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return loaded


def context_needed(model: torch.nn.Module, params: RenderParams) -> int:
    """Pixels of context each side that the network's output depends on, for its renderer.

    The smaller of the receptive radius and 1.25 × the renderer's reach (the farthest a shape
    changes the image, :meth:`RenderParams.reach`): a network that sees farther than that
    has nothing more to learn there. For ResConv that is its radius, for ShadeUNet, which sees
    hundreds of pixels (``benchmarks/results/ao2d_models.json``:
    ``networks.*.receptive_field_px``), the renderer's reach.
    """
    return min(model.receptive_field // 2, math.ceil(1.25 * params.reach()))


def load_model(
    name_or_path: str | os.PathLike | None = None, device: str | torch.device = "auto"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The network, ready for inference on ``device``, and its sidecar.

    Eval mode, with every BatchNorm that follows a conv folded into it (the same output to
    float rounding, one pass over the memory fewer), ``context`` set (see
    :func:`context_needed`) and ``log_output`` telling whether it predicts log1p of the image.
    Cached per device and per checkpoint content: replacing the checkpoint's files gives the
    new model on the next call. Raises CheckpointError for a model that does not shade masks.
    """
    dev = resolve_device(device) if isinstance(device, str) else device
    return _load(str(model_path(name_or_path)), str(dev))


def _context(model: torch.nn.Module) -> tuple[int, int]:
    """(margin, stride): context to add on each side, and the grid tiles must sit on.

    The margin is the model's ``context`` (set by :func:`load_model` from its sidecar), else
    its receptive radius, rounded up to the stride.
    """
    stride = math.prod(getattr(model, "strides", (1,)))
    radius = getattr(model, "context", getattr(model, "receptive_field", 1) // 2)
    return stride * math.ceil(radius / stride), stride


def _run(model: torch.nn.Module, padded: torch.Tensor) -> torch.Tensor:
    """Network on a padded (H, W) mask, grown right/bottom to the model's minimum if needed."""
    h, w = padded.shape
    least = getattr(model, "min_size", 1)
    grown = torch.nn.functional.pad(padded, (0, max(0, least - w), 0, max(0, least - h)))
    return model(grown[None, None])[0, :, :h, :w]


@torch.inference_mode()
def shade_mask(
    model: torch.nn.Module,
    mask: np.ndarray,
    device: str | torch.device = "cpu",
    tile: int | None = None,
) -> np.ndarray:
    """Shade a mask: (H, W) float in [0, 1] → (H, W, 3) float32 sRGB in [0, 1].

    tile: side of the tiles (rounded up to the stride); None tiles only images above
    AUTO_TILE_PIXELS.
    """
    mask = np.asarray(mask, dtype=np.float32)
    if mask.ndim != 2 or mask.size == 0:
        raise InputError(f"mask must be a non-empty (H, W) array, got shape {mask.shape}")
    h, w = mask.shape
    margin, stride = _context(model)
    padded = torch.nn.functional.pad(torch.from_numpy(mask).to(device), (margin,) * 4)
    if tile is None:  # the whole image as one tile, unless it is large
        tile = AUTO_TILE if h * w > AUTO_TILE_PIXELS else max(h, w)
    if tile < 1:
        raise InputError(f"--tile must be positive, got {tile}")
    tile = stride * math.ceil(tile / stride)
    out = torch.empty(3, h, w, device=device)
    # a border-aware network sees the image's own edge where a tile meets it, as it does
    # untiled; the others see the black padding there
    inner = getattr(model, "border_is_ground", False)
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            th, tw = min(tile, h - y), min(tile, w - x)
            # padded[y : …] starts `margin` before the tile: its context, on the stride grid
            top = margin - min(y, margin) if inner else 0
            left = margin - min(x, margin) if inner else 0
            bottom = margin - min(h - y - th, margin) if inner else 0
            right = margin - min(w - x - tw, margin) if inner else 0
            region = padded[
                y + top : y + th + 2 * margin - bottom, x + left : x + tw + 2 * margin - right
            ]
            out[:, y : y + th, x : x + tw] = _run(model, region)[
                :, margin - top : margin - top + th, margin - left : margin - left + tw
            ]
    if getattr(model, "log_output", False):
        out = from_log_space(out)
    return out.clamp(0, 1).permute(1, 2, 0).float().cpu().numpy()


def shade(
    image: Any,
    model: str | os.PathLike | None = None,
    *,
    device: str = "auto",
    tile: int | None = None,
) -> np.ndarray:
    """Shade an image with a trained network: the Python face of ``neuralshade shade``.

    image: a path, a PIL image, or an array ((H, W) or (H, W, C); uint8, uint16, bool or
    float in [0, 1]); white = shape. model: a bundled model's name or a checkpoint path
    (default: the bundled ``ao2d-unet-cpu``). Returns (H, W, 3) float32 sRGB in [0, 1].

    Example::

        >>> import numpy as np, neuralshade
        >>> mask = np.zeros((64, 96), np.float32); mask[20:44, 30:60] = 1
        >>> neuralshade.shade(mask).shape
        (64, 96, 3)
    """
    net, _ = load_model(model, device)
    dev = next(net.parameters()).device
    mask = load_mask(image) if isinstance(image, (str, os.PathLike)) else image_to_mask(image)
    return shade_mask(net, mask, dev, tile)


def expand_inputs(inputs: list[str]) -> list[Source]:
    """Files, folders (their images, sorted, subfolders included) and glob patterns → sources.

    A file found in a folder keeps its path relative to that folder (see
    :mod:`neuralshade.outputs`). Names that match nothing are kept, so that they are reported
    as missing. Hidden files (a name starting with a dot) in folders are skipped.
    """
    sources: list[Source] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            sources += [
                Source(f, p)
                for f in sorted(p.rglob("*"))
                if f.suffix.lower() in IMAGE_SUFFIXES
                and f.is_file()
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            ]
        elif any(c in item for c in "*?[") and not p.exists():
            sources += [
                Source(Path(m), Path(m).parent)
                for m in sorted(glob.glob(item, recursive=True))
                if Path(m).suffix.lower() in IMAGE_SUFFIXES and Path(m).is_file()
            ]
        else:
            sources.append(Source(p, p.parent))
    return sources


def shade_files(
    inputs: list[str],
    out: str | os.PathLike,
    model: str | os.PathLike | None = None,
    *,
    device: str = "auto",
    tile: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    log: Any = print,
) -> dict[str, Any]:
    """Shade every input image into directory ``out``, one PNG each.

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
    net, _ = load_model(model, device)
    dev = next(net.parameters()).device
    done, failed = [], []
    for source, target in plan:
        path = source.path
        try:
            mask = load_mask(path, max_pixels=max_pixels)
            start = time.perf_counter()
            image = shade_mask(net, mask, dev, tile)
            ms = (time.perf_counter() - start) * 1e3
            write_png(target, image)
        except (InputError, OutputError) as exc:
            failed.append((str(path), str(exc)))
            log(f"failed: {exc}")
            continue
        done.append((str(path), str(target), ms))
        log(f"{path} -> {target} ({mask.shape[1]}x{mask.shape[0]}, {ms:.1f} ms)")
    return {"done": done, "failed": failed}

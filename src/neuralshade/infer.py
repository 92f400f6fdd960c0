"""Inference: any task's trained network on inputs of any size, in tiles when they are large.

:func:`load_model` rebuilds a checkpoint's network for inference (BatchNorm folded, cached by
content) and records what its task says about it: ``context``, the pixels each side its output
depends on (:meth:`neuralshade.task.Task.context`; for ao2d the renderer's reach).
:func:`predict` runs the task's prediction on a dict of input buffers:

* Any size and aspect ratio: the networks are fully convolutional. Inputs are padded with
  zeros by the context (rounded up to the network's total stride) and cropped back; zero is
  what lies beyond the image for the buffers of every source (empty ground, nothing hit). A
  network whose own zero padding already is that and that learned borders from whole images
  (``border_is_ground``) runs on the bare image.
* Large inputs are cut into tiles. A tile keeps only its centre and takes the context as a
  margin on every side; tile origins sit on the network's stride grid, so a tile computes what
  the whole image would there (exactly when the receptive field fits the margin; to within
  1/255 for ShadeUNet, ``tests/test_infer.py``): no seams, no blending. Inputs above
  ``AUTO_TILE_PIXELS`` are tiled automatically.

``neuralshade shade`` (:mod:`neuralshade.shading`) is the ao2d command on top of this.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from neuralshade import checkpoint
from neuralshade.devices import resolve_device
from neuralshade.errors import CheckpointError, InputError, NeuralShadeError
from neuralshade.models.unet import fuse_batch_norm
from neuralshade.task import Task, get_task

AUTO_TILE_PIXELS = 2048 * 2048
AUTO_TILE = 1024


def bundled_models() -> list[str]:
    """Names of the models shipped in neuralshade/weights."""
    folder = resources.files("neuralshade") / "weights"
    return sorted(
        p.name.removesuffix(".safetensors")
        for p in folder.iterdir()
        if p.name.endswith(".safetensors")
    )


def model_path(name_or_path: str | os.PathLike) -> Path:
    """A bundled model's name, or a checkpoint path, to the checkpoint's weights path."""
    name = str(name_or_path)
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


def _build(path: str, device: str, task: str | None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The network inference runs (its task's first), BatchNorm folded, context set."""
    info = checkpoint.read_meta(path)
    # several networks (a GAN's): the task's first is the one that predicts
    network = None if len(info["models"]) == 1 else _task(path, info).networks[0]
    model, info = checkpoint.load(path, device=device, task=task, network=network)
    # the cheapest way to run it that keeps its output (benchmarks/ao2d_models.py measured
    # the alternatives): BatchNorm folded into the convs
    fuse_batch_norm(model)
    try:
        model.context = _task(path, info).context(model, info)
    except (NeuralShadeError, KeyError) as exc:
        raise CheckpointError(f"{path}: its sidecar is unusable: {exc}") from None
    model.sidecar = info
    return model, info


def _task(path: str, info: dict[str, Any]) -> Task:
    try:
        return get_task(str(info.get("task")))
    except NeuralShadeError as exc:
        raise CheckpointError(f"{path}: {exc}") from None


_CACHE: OrderedDict[tuple, tuple[torch.nn.Module, dict[str, Any]]] = OrderedDict()
_CACHE_SIZE = 4
_CACHE_LOCK = threading.Lock()


def load_model(
    name_or_path: str | os.PathLike,
    device: str | torch.device = "auto",
    task: str | None = None,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A checkpoint's network, ready for inference on ``device``, and its sidecar.

    Eval mode, with every BatchNorm that follows a conv folded into it (the same output to
    float rounding, one pass over the memory fewer), ``context`` set by its task and
    ``sidecar`` holding its sidecar. ``task`` given: a checkpoint of another task raises
    CheckpointError. Cached per device and per checkpoint content (its files' identity and
    hashes): replacing the checkpoint's files gives the new model on the next call.
    """
    dev = resolve_device(device) if isinstance(device, str) else device
    path = str(model_path(name_or_path))
    key = (path, str(dev), task, checkpoint.fingerprint(path))
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    loaded = _build(path, str(dev), task)
    with _CACHE_LOCK:
        _CACHE[key] = loaded
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return loaded


def _context(model: torch.nn.Module) -> tuple[int, int]:
    """(margin, stride): context to add on each side, and the grid tiles must sit on.

    The margin is the model's ``context`` (set by :func:`load_model`), else its receptive
    radius, rounded up to the stride.
    """
    stride = math.prod(getattr(model, "strides", (1,)))
    radius = getattr(model, "context", getattr(model, "receptive_field", 1) // 2)
    return stride * math.ceil(radius / stride), stride


def _grown(model: torch.nn.Module, region: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tile buffers (C, h, w) grown right/bottom with zeros to the model's minimum size."""
    least = getattr(model, "min_size", 1)
    out = {}
    for name, t in region.items():
        h, w = t.shape[-2:]
        out[name] = torch.nn.functional.pad(t, (0, max(0, least - w), 0, max(0, least - h)))
    return out


@torch.inference_mode()
def predict(
    model: torch.nn.Module,
    inputs: Mapping[str, torch.Tensor],
    info: Mapping[str, Any] | None = None,
    tile: int | None = None,
) -> torch.Tensor:
    """The task's prediction for input buffers of any size: {name: (C, H, W)} → (C_out, H, W).

    ``model`` from :func:`load_model` (its ``sidecar`` is the default ``info``); the buffers on
    its device. tile: side of the tiles (rounded up to the stride); None tiles only inputs
    above AUTO_TILE_PIXELS.
    """
    info = info if info is not None else model.sidecar
    task = get_task(info["task"])
    shapes = {tuple(t.shape[-2:]) for t in inputs.values()}
    if len(shapes) != 1 or any(t.dim() != 3 or t.numel() == 0 for t in inputs.values()):
        raise InputError(
            f"inputs must be non-empty (C, H, W) buffers of one size, got "
            f"{ {k: tuple(v.shape) for k, v in inputs.items()} }"
        )
    ((h, w),) = shapes
    margin, stride = _context(model)
    padded = {k: torch.nn.functional.pad(t, (margin,) * 4) for k, t in inputs.items()}
    if tile is None:  # the whole image as one tile, unless it is large
        tile = AUTO_TILE if h * w > AUTO_TILE_PIXELS else max(h, w)
    if tile < 1:
        raise InputError(f"--tile must be positive, got {tile}")
    tile = stride * math.ceil(tile / stride)
    nets = {task.networks[0]: model}
    out = None
    # a border-aware network sees the image's own edge where a tile meets it, as it does
    # untiled; the others see the zero padding there
    inner = getattr(model, "border_is_ground", False)
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            th, tw = min(tile, h - y), min(tile, w - x)
            # padded[y : …] starts `margin` before the tile: its context, on the stride grid
            top = margin - min(y, margin) if inner else 0
            left = margin - min(x, margin) if inner else 0
            bottom = margin - min(h - y - th, margin) if inner else 0
            right = margin - min(w - x - tw, margin) if inner else 0
            rows = slice(y + top, y + th + 2 * margin - bottom)
            cols = slice(x + left, x + tw + 2 * margin - right)
            region = {k: t[:, rows, cols] for k, t in padded.items()}
            rh, rw = rows.stop - rows.start, cols.stop - cols.start
            batch = {k: t[None] for k, t in _grown(model, region).items()}
            result = task.predict(nets, batch, info)[0, :, :rh, :rw]
            if out is None:
                out = result.new_empty(result.shape[0], h, w)
            out[:, y : y + th, x : x + tw] = result[
                :, margin - top : margin - top + th, margin - left : margin - left + tw
            ]
    return out

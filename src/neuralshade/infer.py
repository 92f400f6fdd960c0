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
* A model that records the pixel scale it was trained at (``focal_pixels`` in its sidecar:
  the deep-shading models, whose screen-space effects span a fixed world distance and so a
  number of pixels that grows with the focal length) runs a finer view at that scale: given
  the view's focal length in pixels, inputs more than ``RESCALE_ABOVE`` times finer are
  area-averaged down to the training scale (as a render at that size with more samples per
  pixel would be), the prediction is resized back bilinearly, and the task's rules
  (:meth:`~neuralshade.task.Task.finish`: AO 1 on the sky, say) are applied at full size.
  Coarser views run as they are.
* Large inputs are cut into tiles. A tile keeps only its centre and takes the context as a
  margin on every side; tile origins sit on the network's stride grid, so a tile computes what
  the whole image would there (exactly when the receptive field fits the margin; to within
  1/255 for ShadeUNet, ``tests/test_infer.py``): no seams, no blending. Inputs above
  ``AUTO_TILE_PIXELS`` are tiled automatically.

``neuralshade shade`` (:mod:`neuralshade.shading`) is the ao2d command on top of this;
:func:`infer` runs any model on named buffers (numpy or torch) and :func:`infer_folder` on a
folder ``neuralshade render`` wrote (``neuralshade infer MODEL RENDER_DIR -o OUT``). The module
itself is callable: ``neuralshade.infer(model, buffers)`` is :func:`infer`.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
import types
from collections import OrderedDict
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from neuralshade import checkpoint
from neuralshade.devices import resolve_device
from neuralshade.errors import CheckpointError, InputError, NeuralShadeError
from neuralshade.models.unet import fuse_batch_norm
from neuralshade.task import Task, get_task, not_single_view

AUTO_TILE_PIXELS = 2048 * 2048
AUTO_TILE = 1024
#: a view finer than its model's training scale by more than this runs at that scale
RESCALE_ABOVE = 1.05


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


def read_model_meta(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """A bundled model's or a checkpoint's sidecar (:func:`model_path`), without its weights."""
    return checkpoint.read_meta(str(model_path(name_or_path)))


def _build(path: str, device: str, task: str | None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The network inference runs (its task's first), BatchNorm folded, context set."""
    info = checkpoint.read_meta(path)
    owner = _task(path, info)
    if not owner.single_view:
        raise CheckpointError(f"{path}: {not_single_view(owner)}")
    try:
        owner.check_checkpoint(info)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    if len(owner.networks) == 1:
        model, info = checkpoint.load(path, device=device, task=task)
    else:  # a task of several networks (a GAN's) says which one predicts, or chains them
        nets, info = checkpoint.load_networks(path, device=device, task=task)
        model = owner.inference_network(nets, info).eval()
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


def _grown(model: torch.nn.Module, region: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
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
    focal: float | None = None,
) -> torch.Tensor:
    """The task's prediction for input buffers of any size: {name: (C, H, W)} → (C_out, H, W).

    ``model`` from :func:`load_model` (its ``sidecar`` is the default ``info``); the buffers on
    its device. tile: side of the tiles (rounded up to the stride); None tiles only inputs
    above AUTO_TILE_PIXELS. focal: the view's focal length in pixels; for a model with a
    training scale (``focal_pixels``), a finer view runs at that scale (the module's docs),
    and ``tile`` then counts pixels of the resampled view.
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
    scale = pixel_scale(info, focal)
    if scale > RESCALE_ABOVE and task.rescales(info):
        size = (max(1, round(h / scale)), max(1, round(w / scale)))
        small = {k: F.interpolate(t[None], size=size, mode="area")[0] for k, t in inputs.items()}
        pred = predict(model, small, info, tile)
        pred = F.interpolate(pred[None], size=(h, w), mode="bilinear", align_corners=False)
        return task.finish(pred, {k: t[None] for k, t in inputs.items()}, info)[0]
    margin, stride = _context(model)
    if tile is None:  # the whole image as one tile, unless it is large
        tile = AUTO_TILE if h * w > AUTO_TILE_PIXELS else max(h, w)
    if tile < 1:
        raise InputError(f"--tile must be positive, got {tile}")
    tile = stride * math.ceil(tile / stride)
    nets = {task.networks[0]: model}
    # a border-aware network sees the image's own edge where a tile meets it, as it does
    # untiled; the others see the zero padding there
    inner = getattr(model, "border_is_ground", False)
    if inner and h <= tile and w <= tile:  # one tile: the bare image, no margin to pad
        batch = {k: t[None] for k, t in _grown(model, inputs).items()}
        return task.predict(nets, batch, info)[0, :, :h, :w]
    padded = {k: torch.nn.functional.pad(t, (margin,) * 4) for k, t in inputs.items()}
    # a network that normalises by a statistic of its input (OIDN's exposure) takes the whole
    # image's in every tile
    whole = getattr(model, "whole_image", None)
    names = [n for n in info["inputs"] if n in inputs]
    with whole(torch.cat([inputs[n] for n in names])[None]) if whole else contextlib.nullcontext():
        return _tiles(task, nets, info, model, padded, (h, w), tile, margin, inner)


def _tiles(task, nets, info, model, padded, size, tile, margin, inner) -> torch.Tensor:
    """:func:`predict`'s tiles over the padded inputs, each keeping its centre."""
    h, w = size
    out = None
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


def pixel_scale(info: Mapping[str, Any], focal: float | None) -> float:
    """How many times finer than its model's training views a view of focal length ``focal``
    (pixels) is: 1 where either is unknown."""
    trained = info.get("focal_pixels")
    if focal is None or not trained:
        return 1.0
    if not (math.isfinite(focal) and focal > 0):
        raise InputError(f"the view's focal length must be a positive number, got {focal!r}")
    return float(focal) / float(trained)


def view_focal(
    fov: float | tuple[float, str] | Mapping[str, Any] | None, h: int, w: int
) -> float | None:
    """A view's focal length in pixels from its field of view: degrees along x, (degrees,
    axis) or a camera record ({"fov", "fov_axis"}, as params.json holds); None for None."""
    from neuralshade.baselines.camera import focal_pixels

    if isinstance(fov, Mapping):
        fov = None if fov.get("fov") is None else (fov["fov"], fov.get("fov_axis", "x"))
    if fov is None:
        return None
    degrees, axis = fov if isinstance(fov, (tuple, list)) else (fov, "x")
    if not (math.isfinite(float(degrees)) and 0 < float(degrees) < 180):
        raise InputError(f"fov must be in (0, 180) degrees, got {degrees!r}")
    return focal_pixels(float(degrees), str(axis), h, w)


def infer(
    model: str | os.PathLike | torch.nn.Module,
    buffers: Mapping[str, Any] | str | os.PathLike,
    *,
    fov: float | tuple[float, str] | None = None,
    rescale: bool = True,
    device: str | torch.device = "auto",
    tile: int | None = None,
) -> dict[str, np.ndarray]:
    """A model's prediction from named buffers: {target name: (H, W, C) float32}.

    model: a bundled model's name, a checkpoint path, or a network from :func:`load_model`.
    buffers: {name: (H, W, C) or (H, W) array or tensor} holding the model's inputs (its
    sidecar's ``inputs``, e.g. ``position_camera`` and ``normal_camera``), or a folder written
    by ``neuralshade render``, from which they are read or derived (:func:`infer_folder`'s).
    fov: the view's field of view in degrees along x (or (degrees, axis)); a folder's comes
    from its params.json. With it, a model with a training scale runs a finer view at that
    scale (the module's docs), unless ``rescale`` is False. tile: as :func:`predict`.

    Example::

        import neuralshade
        out = neuralshade.infer("runs/ao/checkpoints/best.safetensors", "renders/room")
        out["ao_reference"].shape  # (H, W, 1)
    """
    net, info = model, getattr(model, "sidecar", None)
    if info is None:
        net, info = load_model(model, device)
    dev = next(net.parameters()).device
    if isinstance(buffers, (str, os.PathLike)):
        inputs = _folder_inputs(info, buffers)
        fov = _folder_camera(buffers) if fov is None else fov
    else:
        inputs = _array_inputs(info, buffers)
    h, w = next(iter(inputs.values())).shape[-2:]
    focal = view_focal(fov, h, w) if rescale else None
    pred = predict(net, {k: v.to(dev) for k, v in inputs.items()}, info, tile, focal)
    return _split_targets(info, pred, _schema(get_task(info["task"])))


def infer_folder(
    model: str | os.PathLike,
    folder: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    device: str = "auto",
    tile: int | None = None,
    rescale: bool = True,
) -> dict[str, Any]:
    """Run ``model`` on the render folder ``folder``; write ``OUT/<name>.exr`` and a PNG for each
    target (``<name>``: the target without ``_reference``, e.g. ``ao``). A model with a
    training scale runs a finer view at that scale (the camera from params.json) unless
    ``rescale`` is False. Returns a summary: the files written, the size, the pixel scale
    the network ran at and the milliseconds it took (after a warm-up)."""
    from neuralshade.imageio import write_exr, write_json, write_png
    from neuralshade.outputs import check_outputs
    from neuralshade.sheets import display

    net, info = load_model(model, device)
    task = get_task(info["task"])
    folder, out = Path(folder), Path(out_dir)
    names = {t: t.removesuffix("_reference") for t in info["targets"]}
    files = [out / f"{n}.{ext}" for n in names.values() for ext in ("exr", "png")]
    check_outputs(out, [*files, out / "infer.json"], [*folder.glob("*")])
    dev = next(net.parameters()).device
    inputs = {k: v.to(dev) for k, v in _folder_inputs(info, folder).items()}
    h, w = next(iter(inputs.values())).shape[-2:]
    focal = view_focal(_folder_camera(folder), h, w) if rescale and task.rescales(info) else None
    scale = pixel_scale(info, focal)
    predict(net, inputs, info, tile, focal)  # warm-up: the first call allocates
    start = time.perf_counter()
    pred = predict(net, inputs, info, tile, focal)
    seconds = time.perf_counter() - start
    schema = _schema(task)
    for target, array in _split_targets(info, pred, schema).items():
        write_exr(out / f"{names[target]}.exr", array)
        write_png(out / f"{names[target]}.png", display(array, schema[target].kind))
    h, w = pred.shape[-2:]
    summary = {
        "model": str(model),
        "task": task.name,
        "folder": str(folder),
        "inputs": list(info["inputs"]),
        "targets": list(info["targets"]),
        "size": [int(w), int(h)],
        # the network's input is the view resized by 1/scale (1: as it is)
        "scale": scale if scale > RESCALE_ABOVE else 1.0,
        "milliseconds": 1e3 * seconds,
        "device": str(dev),
        "outputs": [f.name for f in files],
    }
    write_json(out / "infer.json", summary)
    return summary


def _schema(task: Task) -> dict[str, Any]:
    from neuralshade.data.sources import get_source

    source = get_source(task.source)
    return source.schema(source.load_config({}))


def _folder_inputs(info: Mapping[str, Any], folder: str | os.PathLike) -> dict[str, torch.Tensor]:
    from neuralshade.data.folder import read_folder
    from neuralshade.data.sources import get_source

    source = get_source(get_task(info["task"]).source)
    arrays = read_folder(source, folder, info["inputs"])
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}


def _folder_camera(folder: str | os.PathLike) -> Mapping[str, Any] | None:
    """The camera record of a render folder's params.json, or None."""
    from neuralshade.data.folder import read_params

    camera = read_params(Path(folder)).get("camera")
    return camera if isinstance(camera, Mapping) else None


def _array_inputs(info: Mapping[str, Any], buffers: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The model's inputs from (H, W, C) or (H, W) arrays: checked, as (C, H, W) float32."""
    missing = [n for n in info["inputs"] if n not in buffers]
    if missing:
        raise InputError(f"the model needs the buffers {missing} (it reads {info['inputs']})")
    schema = _schema(get_task(info["task"]))
    out = {}
    for name in info["inputs"]:
        t = torch.as_tensor(np.asarray(buffers[name]), dtype=torch.float32)
        t = t[None] if t.dim() == 2 else t.permute(2, 0, 1) if t.dim() == 3 else t
        channels = schema[name].channels if name in schema else t.shape[0]
        if t.dim() != 3 or t.shape[0] != channels:
            raise InputError(f"{name} must be (H, W, {channels}), got {tuple(buffers[name].shape)}")
        if not torch.isfinite(t).all():
            raise InputError(f"{name} has NaN or infinite values")
        out[name] = t.contiguous()
    return out


def _split_targets(
    info: Mapping[str, Any], pred: torch.Tensor, schema: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """(C, H, W) prediction → {target: (H, W, C_target)} by the targets' channels."""
    out, start = {}, 0
    for name in info["targets"]:
        c = schema[name].channels if name in schema else pred.shape[0] - start
        out[name] = pred[start : start + c].permute(1, 2, 0).float().cpu().numpy()
        start += c
    return out


class _CallableModule(types.ModuleType):
    """``neuralshade.infer(model, buffers)``: the module called is :func:`infer`."""

    def __call__(self, model, buffers, **options):
        return infer(model, buffers, **options)


sys.modules[__name__].__class__ = _CallableModule

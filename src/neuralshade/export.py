"""ONNX export: one network of a checkpoint as one ``.onnx`` file.

For an image-to-image network (one with ``in_channels``) the graph takes ``input``
(N, C_in, H, W) float32 and gives ``output`` (N, C_out, H, W), with batch, height and width
left dynamic (``batch``, ``height``, ``width``): one file serves every image size from the
model's ``min_size`` up. For a coordinate network (one with ``n_input_dims``, as
``neuralshade fit`` makes) it takes ``input`` (N, d) points and gives ``output`` (N, C), N
dynamic (``points``); the hash grid's integer hashing exports as ONNX integer ops.

The graph comes from torch's ``torch.export``-based exporter, which keeps sizes symbolic, so
the zero padding ResConv adds to short decoder outputs (and ShadeUNet's padding to its stride)
is computed from the input's shape at run time rather than frozen at the traced size
(the TorchScript exporter would bake it in as a constant and be wrong at other sizes).

The checkpoint's description travels in the model's ``metadata_props`` under ``neuralshade.*``
keys (strings as they are, anything else as JSON): ``network`` (its name in the checkpoint),
``model`` (its registry name and constructor arguments), ``task``, ``inputs``, ``targets``,
``step``, ``loss`` (a log-space loss means the output is log1p of the targets),
``focal_pixels`` (a deep-shading model's training pixel scale, where it has one),
``weights_sha256``, ``min_size`` and ``version`` (of the neuralshade that exported it).

Needs the ``onnx`` extra: ``pip install 'neuralshade[onnx]'``.

Example:
    >>> info = export_onnx("runs/ao2d/checkpoints/best.safetensors", "ao2d.onnx")
    >>> info["max_abs_diff"] < 1e-4
    True
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

import neuralshade
from neuralshade import checkpoint
from neuralshade.errors import ConfigError, NeuralShadeError
from neuralshade.imageio import atomic_path
from neuralshade.outputs import check_outputs
from neuralshade.task import Task, get_task, not_single_view

# torch's exporter translates to opset 18 and newer; an older request is silently left at 18
MIN_OPSET = 18
# ONNX Runtime differs from torch by float rounding (other conv algorithms), far less than
# this fraction of the output's largest magnitude; a wrong size or padding is off by O(1)
RELATIVE_TOLERANCE = 1e-3
# the dynamic axes of input and output, by index, with their names in the graph
AXES = {0: "batch", 2: "height", 3: "width"}
POINT_AXES = {0: "points"}  # a coordinate network's (N, d) points


def export_onnx(
    checkpoint_path: str | os.PathLike,
    out_path: str | os.PathLike,
    network: str | None = None,
    *,
    opset: int | None = None,
    check: bool = True,
) -> dict[str, Any]:
    """Export a network of checkpoint ``checkpoint_path`` to ONNX file ``out_path`` (atomically).

    Args:
        checkpoint_path: the checkpoint's stem, ``.safetensors`` or ``.json``.
        out_path: the ``.onnx`` file to write (one file, weights included).
        network: which of the checkpoint's networks; None takes the only one, or, for a task
            whose inference chains several (``shadow``: attention block, then generator),
            that chain (:meth:`~neuralshade.task.Task.inference_network`), named
            ``inference``.
        opset: ONNX opset to write, at least 18; None takes torch's default.
        check: before the file appears, run it in ONNX Runtime on a random input of another
            batch and size than the traced one and compare with torch; a mismatch raises
            and writes nothing.

    Returns:
        ``{"path", "opset", "trace_shape", "sizes_checked", "max_abs_diff", "tolerance"}``:
        shapes as ``[N, C, H, W]`` lists; with ``check=False`` no sizes and no difference.

    Raises:
        CheckpointError: the checkpoint is missing, corrupt or inconsistent, or holds several
            networks and ``network`` names none of them (the message lists them).
        ConfigError: ``opset`` is one the exporter cannot write.
        OutputError: ``out_path`` is one of the checkpoint's own files, or cannot be written.
        NeuralShadeError: onnx, onnxscript or onnxruntime is not installed, the network is
            neither an image nor a coordinate network, or the exported graph disagrees with
            torch.
    """
    _require("onnx", "onnxscript", *(["onnxruntime"] if check else []))
    if opset is not None and opset < MIN_OPSET:
        raise ConfigError(f"opset must be at least {MIN_OPSET} for torch's exporter, got {opset}")
    out_path = Path(out_path)
    check_outputs(out_path.parent, [out_path], checkpoint.paths(checkpoint_path))
    info = checkpoint.read_meta(checkpoint_path)
    _check_single_view(info)
    if network is None and len(info["models"]) > 1 and _chains(info):
        # a task whose inference chains its networks (attention, then generator): that chain
        nets, info = checkpoint.load_networks(checkpoint_path)
        model, network = get_task(info["task"]).inference_network(nets, info).eval(), "inference"
    else:
        model, info = checkpoint.load(checkpoint_path, network=network)
    if network is None:
        (network,) = info["models"]  # load took the only one
    min_size = getattr(model, "min_size", 1)

    if hasattr(model, "n_input_dims"):
        # a coordinate network: (N, d) points, N dynamic; traced and checked at two N
        axes = POINT_AXES
        trace_shape = [1000, model.n_input_dims]
        check_shape = [777, model.n_input_dims]
    elif hasattr(model, "in_channels"):
        # traced at batch 2 (batch 1 could be specialised to a constant) and H != W; checked
        # where the parity of H and W flips, and with it the padding of a stride-2 layer
        axes = AXES
        size = max(64, 2 * min_size)
        trace_shape = [2, model.in_channels, size, size + 1]
        check_shape = [1, model.in_channels, size + 5, size + 2]
    else:
        raise NeuralShadeError(
            f"network {network!r} ({info['models'][network]['name']}) has neither in_channels "
            "(an image network) nor n_input_dims (a coordinate network): cannot export it"
        )
    program = _export(model, trace_shape, axes, min_size, opset)
    _check_dynamic(program, trace_shape, axes)
    written = program.model.opset_imports[""]
    if opset is not None and written != opset:
        raise ConfigError(f"torch's exporter cannot write opset {opset} (it wrote {written})")
    program.model.metadata_props.update(metadata(info, network, min_size))

    result: dict[str, Any] = {
        "path": str(out_path),
        "opset": written,
        "trace_shape": trace_shape,
        "sizes_checked": [],
        "max_abs_diff": None,
        "tolerance": None,
    }
    with atomic_path(out_path) as tmp:
        program.save(tmp, external_data=False)
        if check:
            result.update(_compare(model, tmp, check_shape))
    return result


def metadata(info: dict[str, Any], network: str, min_size: int) -> dict[str, str]:
    """The ``neuralshade.*`` metadata_props of ``network`` of a checkpoint with sidecar
    ``info`` (:func:`neuralshade.checkpoint.read_meta`'s)."""
    values = {
        "network": network,
        # a chain of networks ("inference"): every network's spec
        "model": info["models"].get(network, info["models"]),
        "task": info.get("task"),
        "inputs": info.get("inputs"),
        "targets": info.get("targets"),
        "step": info.get("step"),
        # a log-space loss: the graph's output is log1p of the targets (expm1 it)
        "loss": info.get("loss"),
        # the training views' focal length in pixels: run a finer view at that scale
        "focal_pixels": info.get("focal_pixels"),
        "weights_sha256": info.get("weights_sha256"),
        "min_size": min_size,
        "version": neuralshade.__version__,
    }
    return {
        f"neuralshade.{key}": value if isinstance(value, str) else json.dumps(value)
        for key, value in values.items()
        if value is not None
    }


def _chains(info: dict[str, Any]) -> bool:
    """Whether the checkpoint's task runs more than its first network at inference."""
    try:
        task = get_task(str(info.get("task")))
    except NeuralShadeError:
        return False
    return type(task).inference_network is not Task.inference_network


def _check_single_view(info: dict[str, Any]) -> None:
    """NeuralShadeError for a checkpoint of a task whose network reads several views."""
    try:
        task = get_task(str(info.get("task")))
    except NeuralShadeError:
        return
    if not task.single_view:
        raise NeuralShadeError(not_single_view(task))


def _require(*modules: str) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            raise NeuralShadeError(
                f"ONNX export needs the package {name!r}: pip install 'neuralshade[onnx]'"
            ) from None


def _export(
    model: torch.nn.Module,
    trace_shape: list[int],
    axes: dict[int, str],
    min_size: int,
    opset: int | None,
) -> torch.onnx.ONNXProgram:
    """torch.onnx's ONNXProgram of ``model`` with the ``axes`` dynamic."""
    dims = {
        axis: torch.export.Dim(name, min=min_size if name in ("height", "width") else 1)
        for axis, name in axes.items()
    }
    with quiet_exporter():
        return torch.onnx.export(
            model,
            (torch.zeros(trace_shape),),
            input_names=["input"],
            output_names=["output"],
            opset_version=opset,
            dynamo=True,
            dynamic_shapes=(dims,),
            verbose=False,
        )


def _check_dynamic(
    program: torch.onnx.ONNXProgram, trace_shape: list[int], axes: dict[int, str]
) -> None:
    """Raise if the graph's input kept a dynamic axis (batch, height, width…) as a constant.

    torch.onnx relaxes a dimension the model's forward specialises (turns into a Python number)
    to the traced value without an error, which would give a file for one size only.
    """
    shape = program.model.graph.inputs[0].shape
    fixed = [name for axis, name in axes.items() if isinstance(shape[axis], int)]
    if fixed:
        raise NeuralShadeError(
            f"the exported graph fixes the input's {' and '.join(fixed)} to the traced shape "
            f"{trace_shape}: the model's forward turns them into Python numbers (int(), "
            "shape arithmetic outside torch), which torch.export cannot keep symbolic"
        )


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    """Hide the exporter's noise: warnings about torchvision ops this model never uses, and
    a FutureWarning torch raises against its own deprecated pytree API."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*LeafSpec.*", category=FutureWarning)
            yield
    finally:
        logger.setLevel(level)


def _compare(model: torch.nn.Module, onnx_path: Path, shape: list[int]) -> dict[str, Any]:
    """Run ``onnx_path`` in ONNX Runtime and ``model`` in torch on one random input."""
    import onnxruntime

    x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(["output"], {"input": x.numpy()})[0]
    with torch.no_grad():
        want = model(x).numpy()
    if got.shape != want.shape:
        raise NeuralShadeError(
            f"the exported graph gives shape {got.shape} for input {tuple(shape)}, torch gives "
            f"{want.shape}: the export is wrong, please report it"
        )
    diff = float(np.abs(got - want).max())
    tolerance = RELATIVE_TOLERANCE * max(1.0, float(np.abs(want).max()))
    if not diff <= tolerance:
        raise NeuralShadeError(
            f"the exported graph differs from torch by up to {diff:.3g} (tolerance "
            f"{tolerance:.3g}) on input {tuple(shape)}: the export is wrong, please report it"
        )
    return {"sizes_checked": [shape], "max_abs_diff": diff, "tolerance": tolerance}

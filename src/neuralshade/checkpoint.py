"""Checkpoints: weights in safetensors, everything else in a JSON sidecar. No pickle, ever.

A checkpoint ``NAME`` is two files: ``NAME.safetensors`` (the model's state dict) and
``NAME.json`` (format, package version, the model's registry name and complete constructor
arguments, task, inputs and targets, training step, metrics, and the SHA-256 of the weights).
The sidecar alone rebuilds the architecture, so loading needs no knowledge of the model. A
training checkpoint adds ``NAME.state.safetensors``: the optimizer's tensors, for resuming.

Both files are written atomically, weights first; the sidecar's hash catches weights replaced
by a later, interrupted save.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import neuralshade
from neuralshade.errors import CheckpointError, ConfigError
from neuralshade.imageio import atomic_path, write_json

FORMAT = 1


def paths(name: str | os.PathLike) -> tuple[Path, Path]:
    """(weights, sidecar) paths of a checkpoint given its stem or either file."""
    p = Path(name)
    stem = p.with_suffix("") if p.suffix in (".safetensors", ".json") else p
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> str:
    """Atomically write tensors to safetensors; return the file's SHA-256."""
    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp))
        digest = _sha256(tmp)
    return digest


def save(
    name: str | os.PathLike,
    model: torch.nn.Module,
    meta: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
) -> Path:
    """Write checkpoint ``name`` (weights, sidecar, and optimizer state if given).

    model must carry ``spec`` (set by :func:`neuralshade.models.build`). Returns the sidecar.
    """
    weights, sidecar = paths(name)
    spec = getattr(model, "spec", None)
    assert spec is not None, "models must be built by neuralshade.models.build (no spec)"
    digest = _save_tensors(weights, model.state_dict())
    info: dict[str, Any] = {
        "format": FORMAT,
        "neuralshade_version": neuralshade.__version__,
        "model": spec,
        **meta,
        "weights": weights.name,
        "weights_sha256": digest,
    }
    if optimizer is not None:
        tensors, layout = _flatten_optimizer(optimizer)
        state_path = weights.with_suffix(".state.safetensors")
        info["optimizer"] = {
            "file": state_path.name,
            "sha256": _save_tensors(state_path, tensors),
            **layout,
        }
    write_json(sidecar, info)
    return sidecar


def read_meta(name: str | os.PathLike) -> dict[str, Any]:
    """The sidecar of a checkpoint; missing, unreadable or foreign files raise CheckpointError."""
    weights, sidecar = paths(name)
    if not sidecar.is_file():
        hint = " (is this a checkpoint? pass NAME.safetensors beside its NAME.json)"
        raise CheckpointError(f"checkpoint sidecar {sidecar} not found{hint}")
    try:
        info = json.loads(sidecar.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read checkpoint sidecar {sidecar}: {exc}") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT or "model" not in info:
        raise CheckpointError(f"{sidecar} is not a neuralshade checkpoint (format {FORMAT})")
    return info


def _checked_tensors(path: Path, sha256: str | None) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} not found")
    if sha256 is not None and _sha256(path) != sha256:
        raise CheckpointError(
            f"{path} does not match its sidecar (an interrupted save, or "
            "files from two checkpoints): use another checkpoint"
        )
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file: {exc}") from None


def is_field(info: dict[str, Any]) -> bool:
    """Whether a sidecar describes a coordinate network (``neuralshade fit``, tasks fields-*)."""
    return str(info.get("task", "")).startswith("fields")


def load(
    name: str | os.PathLike, device: str | torch.device = "cpu", task: str | None = None
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model of checkpoint ``name`` with its weights; returns (model, sidecar).

    ``task`` given: a checkpoint for another task raises CheckpointError. The model is in
    eval mode on ``device``.
    """
    from neuralshade.models import build

    info = read_meta(name)
    weights, _ = paths(name)
    if task is not None and info.get("task") != task:
        raise CheckpointError(f"{weights} was trained for task {info.get('task')!r}, not {task!r}")
    spec = info["model"]
    try:
        if is_field(info):  # a coordinate network carries its own spec
            from neuralshade.fields.network import FieldNetwork

            model = FieldNetwork.from_spec(spec)
        else:
            model = build(spec["name"], **spec.get("args", {}))
    except ConfigError as exc:
        raise CheckpointError(f"{weights}: cannot rebuild its model: {exc}") from None
    state = _checked_tensors(weights, info.get("weights_sha256"))
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{weights} does not fit its model {spec.get('name', 'field')}: {exc}"
        ) from None
    return model.to(device).eval(), info


def load_optimizer(name: str | os.PathLike, optimizer: torch.optim.Optimizer) -> None:
    """Restore the optimizer state saved with checkpoint ``name``."""
    info = read_meta(name)
    layout = info.get("optimizer")
    if not layout:
        raise CheckpointError(f"{paths(name)[1]} holds no optimizer state: cannot resume from it")
    weights, _ = paths(name)
    tensors = _checked_tensors(weights.parent / layout["file"], layout["sha256"])
    state = {
        int(i): {key: tensors[f"state.{i}.{key}"] for key in keys}
        for i, keys in layout["state_keys"].items()
    }
    try:
        optimizer.load_state_dict({"state": state, "param_groups": layout["param_groups"]})
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"optimizer state in {weights} does not fit: {exc}") from None


def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer's state dict as flat tensors plus a JSON layout (no pickling)."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    keys: dict[str, list[str]] = {}
    for i, entry in sd["state"].items():
        keys[str(i)] = []
        for key, value in entry.items():
            if not isinstance(value, torch.Tensor):
                value = torch.tensor(value)
            tensors[f"state.{i}.{key}"] = value
            keys[str(i)].append(key)
    groups = json.loads(json.dumps(sd["param_groups"], default=_jsonable))
    return tensors, {"state_keys": keys, "param_groups": groups}


def _jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint sidecar")

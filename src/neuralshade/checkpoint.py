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
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import neuralshade
from neuralshade.errors import CheckpointError, ConfigError
from neuralshade.imageio import atomic_path, write_json

FORMAT = 1


class Sidecar(BaseModel):
    """The keys of a sidecar that loading relies on, with their types (others are kept as they
    are). A sidecar that breaks them is refused with the key named, before anything is built."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    format: int = Field(..., description="Checkpoint format (FORMAT).")
    model: dict[str, Any] = Field(..., description="The model's spec: registry name and args.")
    task: str | None = Field(None, description="The task it was trained for.")
    inputs: list[str] | None = Field(None, description="Input buffers, in channel order.")
    targets: list[str] | None = Field(None, description="Target buffers, in channel order.")
    loss: str | None = Field(None, description="Training loss (its output space).")
    step: int | None = Field(None, ge=0, description="Optimizer steps taken.")
    render: dict[str, Any] | None = Field(None, description="Render settings of its data.")
    weights_sha256: str | None = Field(None, description="SHA-256 of the weights file.")
    optimizer: OptimizerLayout | None = Field(None, description="Where the optimizer state is.")


class ModelSpec(BaseModel):
    """A registered model's spec, as :func:`neuralshade.models.build` writes it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="Registered model name.")
    args: dict[str, Any] = Field(default_factory=dict, description="Constructor arguments.")


class OptimizerLayout(BaseModel):
    """The optimizer state's file and how its flat tensors map back to a state dict."""

    model_config = ConfigDict(extra="forbid")

    file: str = Field(..., description="The .state.safetensors file beside the weights.")
    sha256: str = Field(..., description="Its SHA-256.")
    state_keys: dict[str, list[str]] = Field(..., description="Per parameter, its state keys.")
    param_groups: list[dict[str, Any]] = Field(..., description="The optimizer's groups.")


Sidecar.model_rebuild()


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors())


def paths(name: str | os.PathLike) -> tuple[Path, Path]:
    """(weights, sidecar) paths of a checkpoint given its stem or either file."""
    p = Path(name)
    stem = p.with_suffix("") if p.suffix in (".safetensors", ".json") else p
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def file_names(stem: str, optimizer: bool = False) -> list[str]:
    """The names of the files checkpoint ``stem`` is written as (with the optimizer state)."""
    return [
        f"{stem}.safetensors",
        *([f"{stem}.state.safetensors"] if optimizer else []),
        f"{stem}.json",
    ]


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
    try:
        Sidecar.model_validate(info)
        if not is_field(info):
            ModelSpec.model_validate(info["model"])
    except ValidationError as exc:
        raise CheckpointError(
            f"{sidecar} is damaged or was not written by neuralshade: {_problems(exc)}"
        ) from None
    return info


def fingerprint(name: str | os.PathLike) -> tuple:
    """What identifies a checkpoint's content: (weights SHA-256, sidecar SHA-256).

    A hash is computed again only when its file's identity (device, inode, size, modification
    time) changes, so asking often is cheap; a file replaced or rewritten gets a new one. A
    missing file gives None in its place.
    """
    return tuple(_content_hash(p) for p in paths(name))


_HASHES: dict[str, tuple[tuple, str]] = {}  # resolved path -> (its identity, its hash)


def _content_hash(path: Path) -> str | None:
    try:
        st = path.stat()
        key = str(path.resolve())
    except OSError:
        return None
    identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    known = _HASHES.get(key)
    if known is None or known[0] != identity:
        try:
            known = _HASHES[key] = (identity, _sha256(path))
        except OSError:
            return None
    return known[1]


def _read_tensors(path: Path, sha256: str | None) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, checked against its SHA-256 when given."""
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
    except (ConfigError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{weights}: cannot rebuild its model: {exc}") from None
    load_weights(name, model, info)
    return model.to(device).eval(), info


def load_weights(
    name: str | os.PathLike, model: torch.nn.Module, info: dict[str, Any] | None = None
) -> None:
    """Load checkpoint ``name``'s weights into ``model`` (its sidecar ``info``, if read)."""
    info = info if info is not None else read_meta(name)
    weights, _ = paths(name)
    state = _read_tensors(weights, info.get("weights_sha256"))
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        name_ = info["model"].get("name", "field")
        raise CheckpointError(f"{weights} does not fit its model {name_}: {exc}") from None


def load_optimizer(
    name: str | os.PathLike, optimizer: torch.optim.Optimizer, info: dict[str, Any] | None = None
) -> None:
    """Restore the optimizer state saved with checkpoint ``name`` (its sidecar ``info``, if
    read)."""
    info = info if info is not None else read_meta(name)
    if not info.get("optimizer"):
        raise CheckpointError(f"{paths(name)[1]} holds no optimizer state: cannot resume from it")
    layout = OptimizerLayout.model_validate(info["optimizer"])  # read_meta checked it
    weights, _ = paths(name)
    state_path = weights.parent / Path(layout.file).name  # never outside the checkpoint's folder
    tensors = _read_tensors(state_path, layout.sha256)
    try:
        state = {
            int(i): {key: tensors[f"state.{i}.{key}"] for key in keys}
            for i, keys in layout.state_keys.items()
        }
        optimizer.load_state_dict({"state": state, "param_groups": layout.param_groups})
    except (ValueError, KeyError, TypeError) as exc:
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

"""Checkpoints: weights in safetensors, everything else in a JSON sidecar. No pickle, ever.

A checkpoint ``NAME`` holds one or more named networks (a lone one is named ``"net"``,
:data:`DEFAULT_NETWORK`) in two files: ``NAME.safetensors``, every network's state dict, its
keys prefixed by the network's name (``"net.conv.weight"``); and ``NAME.json``, the sidecar:
format, package version, task, under ``models`` each network's registry name and complete
constructor arguments, inputs and targets, training step, metrics, and the SHA-256 of the
weights. The sidecar alone rebuilds every network, so loading needs no knowledge of the
architecture. A training checkpoint adds ``NAME.state.safetensors``: the optimizers' tensors,
prefixed by their network's name, with a layout per network under ``optimizers``.

Files are written atomically, weights first, sidecar last; the sidecar's hashes catch files
replaced by a later, interrupted save. Format 1 (one network: its spec under ``model``, keys
unprefixed) is still read, as the network ``"net"``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import torch
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import neuralshade
from neuralshade.errors import CheckpointError, ConfigError
from neuralshade.imageio import atomic_path, write_json

FORMAT = 2
DEFAULT_NETWORK = "net"
"""The name a single network is stored under."""
# no dots, so that a key "{network}.{key}" names its network unambiguously
NETWORK_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
# the sidecar keys save writes itself; meta must not set them
_OWN_KEYS = frozenset(
    {"format", "neuralshade_version", "models", "model", "optimizers", "optimizer", "weights"}
)

NetworkName = Annotated[str, StringConstraints(pattern=NETWORK_NAME)]
T = TypeVar("T")


class ModelSpec(BaseModel):
    """A registered model's spec, as :func:`neuralshade.models.build` writes it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="Registered model name.")
    args: dict[str, Any] = Field(default_factory=dict, description="Constructor arguments.")


class OptimizerLayout(BaseModel):
    """One optimizer's state: its file and how its flat tensors map back to a state dict."""

    model_config = ConfigDict(extra="forbid")

    file: str = Field(..., description="The .state.safetensors file beside the weights.")
    sha256: str = Field(..., description="Its SHA-256.")
    state_keys: dict[str, list[str]] = Field(..., description="Per parameter, its state keys.")
    param_groups: list[dict[str, Any]] = Field(..., description="The optimizer's groups.")


class _Description(BaseModel):
    """The keys of a sidecar that loading relies on, with their types (others are kept as they
    are). A sidecar that breaks them is refused with the key named, before anything is built."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    task: str | None = Field(None, description="The task it was trained for.")
    inputs: list[str] | None = Field(None, description="Input buffers, in channel order.")
    targets: list[str] | None = Field(None, description="Target buffers, in channel order.")
    loss: str | None = Field(None, description="Training loss (its output space).")
    step: int | None = Field(None, ge=0, description="Optimizer steps taken.")
    render: dict[str, Any] | None = Field(None, description="Render settings of its data.")
    weights_sha256: str | None = Field(None, description="SHA-256 of the weights file.")


class Sidecar(_Description):
    """A format-2 sidecar: several named networks."""

    format: Literal[2] = Field(..., description="Checkpoint format (FORMAT).")
    models: dict[NetworkName, ModelSpec] = Field(
        ..., min_length=1, description="Each network's spec: registry name and args."
    )
    optimizers: dict[NetworkName, OptimizerLayout] | None = Field(
        None, description="Per network, where its optimizer state is."
    )


class SidecarV1(_Description):
    """A format-1 sidecar: one network, read as the network ``"net"``."""

    format: Literal[1] = Field(..., description="Checkpoint format 1.")
    model: ModelSpec = Field(..., description="The model's spec: registry name and args.")
    optimizer: OptimizerLayout | None = Field(None, description="Where the optimizer state is.")


_SCHEMAS: dict[Any, type[_Description]] = {1: SidecarV1, 2: Sidecar}


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


def _named(value: T | Mapping[str, T], kind: type) -> dict[str, T]:
    """A bare module or optimizer as {DEFAULT_NETWORK: it}; a mapping as a dict."""
    return {DEFAULT_NETWORK: value} if isinstance(value, kind) else dict(value)


def save(
    name: str | os.PathLike,
    models: torch.nn.Module | Mapping[str, torch.nn.Module],
    meta: dict[str, Any],
    optimizers: torch.optim.Optimizer | Mapping[str, torch.optim.Optimizer] | None = None,
) -> Path:
    """Write checkpoint ``name``: weights, optimizer state if given, then the sidecar.

    models: one network (stored as :data:`DEFAULT_NETWORK`) or networks by name; names are
    identifiers (letters, digits, ``_``; no dots). Each must carry ``spec`` (set by
    :func:`neuralshade.models.build`). optimizers: likewise, keyed by their network's name.
    Returns the sidecar's path.

    Raises:
        ConfigError: a name that is not an identifier, or an optimizer for a network that is
            not saved.
    """
    models = _named(models, torch.nn.Module)
    optimizers = {} if optimizers is None else _named(optimizers, torch.optim.Optimizer)
    bad = [net for net in models if not (isinstance(net, str) and re.fullmatch(NETWORK_NAME, net))]
    if bad:
        raise ConfigError(
            f"cannot save networks named {', '.join(map(repr, bad))}: a network's name is an "
            "identifier (letters, digits and _, no dots), so that its keys cannot be another's"
        )
    if optimizers.keys() - models.keys():
        raise ConfigError(
            f"cannot save optimizers for {sorted(optimizers.keys() - models.keys())}: the "
            f"checkpoint holds no such network (it holds {', '.join(models)})"
        )
    assert models, "a checkpoint holds at least one network"
    assert all(getattr(m, "spec", None) for m in models.values()), (
        "models must be built by neuralshade.models.build (no spec)"
    )
    assert not meta.keys() & _OWN_KEYS, f"meta must not set {sorted(meta.keys() & _OWN_KEYS)}"
    weights, sidecar = paths(name)
    state = {f"{net}.{k}": v for net, m in models.items() for k, v in m.state_dict().items()}
    info: dict[str, Any] = {
        "format": FORMAT,
        "neuralshade_version": neuralshade.__version__,
        "models": {net: m.spec for net, m in models.items()},
        **meta,
        "weights": weights.name,
        "weights_sha256": _save_tensors(weights, state),
    }
    if optimizers:
        tensors, layouts = {}, {}
        for net, optimizer in optimizers.items():
            flat, layouts[net] = _flatten_optimizer(optimizer)
            tensors.update({f"{net}.{k}": v for k, v in flat.items()})
        state_path = weights.with_suffix(".state.safetensors")
        digest = _save_tensors(state_path, tensors)
        info["optimizers"] = {
            net: {"file": state_path.name, "sha256": digest, **layout}
            for net, layout in layouts.items()
        }
    write_json(sidecar, info)
    return sidecar


def read_meta(name: str | os.PathLike) -> dict[str, Any]:
    """The sidecar of a checkpoint, in format 2's shape whatever its format.

    ``models`` maps each network's name to its spec (a format-1 file's one model is
    ``"net"``), ``optimizers`` (if any) each network's optimizer layout, and ``model`` is the
    spec of the only network when there is one. ``format`` is the file's. Missing, unreadable,
    damaged or foreign files raise CheckpointError.
    """
    _, sidecar = paths(name)
    if not sidecar.is_file():
        hint = " (is this a checkpoint? pass NAME.safetensors beside its NAME.json)"
        raise CheckpointError(f"checkpoint sidecar {sidecar} not found{hint}")
    try:
        info = json.loads(sidecar.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read checkpoint sidecar {sidecar}: {exc}") from None
    if not isinstance(info, dict) or "format" not in info or not {"model", "models"} & set(info):
        raise CheckpointError(f"{sidecar} is not a neuralshade checkpoint")
    schema = _SCHEMAS.get(info["format"]) if isinstance(info["format"], int) else None
    if schema is None:
        raise CheckpointError(
            f"{sidecar} is checkpoint format {info['format']!r}; neuralshade "
            f"{neuralshade.__version__} reads formats {', '.join(map(str, _SCHEMAS))}: "
            "use the neuralshade that wrote it, or a newer one"
        )
    if info["format"] == 1 and str(info.get("task", "")).startswith("fields"):
        # a format-1 field network's spec was its config: the registry's "field" takes it
        info["model"] = {"name": "field", "args": {"config": info["model"]}}
    try:
        schema.model_validate(info)
    except ValidationError as exc:
        raise CheckpointError(
            f"{sidecar} is damaged or was not written by neuralshade: {_problems(exc)}"
        ) from None
    if info["format"] == 1:  # its one network is "net"
        info["models"] = {DEFAULT_NETWORK: info.pop("model")}
        optimizer = info.pop("optimizer", None)
        if optimizer:
            info["optimizers"] = {DEFAULT_NETWORK: optimizer}
    if len(info["models"]) == 1:
        (info["model"],) = info["models"].values()
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


def _check_names(
    name: str | os.PathLike, held: Iterable[str], wanted: Iterable[str], what: str
) -> None:
    """Raise CheckpointError naming the ``wanted`` networks that ``held`` lacks."""
    held = list(held)
    missing = [net for net in wanted if net not in held]
    if missing:
        raise CheckpointError(
            f"{paths(name)[0]} has no {what} {', '.join(map(repr, missing))}; "
            f"it has: {', '.join(held)}"
        )


def _prefix(info: dict[str, Any], network: str) -> str:
    """What the keys of ``network``'s tensors start with (format 1: nothing)."""
    return "" if info["format"] == 1 else f"{network}."


def _check_task(name: str | os.PathLike, info: dict[str, Any], task: str | None) -> None:
    if task is not None and info.get("task") != task:
        raise CheckpointError(
            f"{paths(name)[0]} was trained for task {info.get('task')!r}, not {task!r}"
        )


def _rebuild(name: str | os.PathLike, info: dict[str, Any], network: str) -> torch.nn.Module:
    """A freshly initialised ``network`` as the sidecar's spec describes it."""
    from neuralshade.models import build

    spec = info["models"][network]
    try:
        return build(spec["name"], **spec["args"])
    except (ConfigError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{paths(name)[0]}: cannot rebuild its network {network!r}: {exc}"
        ) from None


def load(
    name: str | os.PathLike,
    device: str | torch.device = "cpu",
    task: str | None = None,
    network: str | None = None,
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild one network of checkpoint ``name`` with its weights; returns (model, sidecar).

    ``network`` names it; None takes the only one (a checkpoint of several raises, listing
    them). ``task`` given: a checkpoint for another task raises CheckpointError. The model is
    in eval mode on ``device``; the sidecar is :func:`read_meta`'s.
    """
    info = read_meta(name)
    _check_task(name, info, task)
    if network is None:
        if len(info["models"]) > 1:
            raise CheckpointError(
                f"{paths(name)[0]} holds several networks ({', '.join(info['models'])}): "
                "name the one to load"
            )
        (network,) = info["models"]
    _check_names(name, info["models"], [network], "network")
    model = _rebuild(name, info, network)
    load_weights(name, {network: model}, info)
    return model.to(device).eval(), info


def load_networks(
    name: str | os.PathLike, device: str | torch.device = "cpu", task: str | None = None
) -> tuple[dict[str, torch.nn.Module], dict[str, Any]]:
    """Rebuild every network of checkpoint ``name`` with its weights: ({name: model}, sidecar).

    As :func:`load`, for all of them at once.
    """
    info = read_meta(name)
    _check_task(name, info, task)
    models = {net: _rebuild(name, info, net) for net in info["models"]}
    load_weights(name, models, info)
    return {net: m.to(device).eval() for net, m in models.items()}, info


def load_weights(
    name: str | os.PathLike,
    models: torch.nn.Module | Mapping[str, torch.nn.Module],
    info: dict[str, Any] | None = None,
    partial: bool = False,
) -> None:
    """Load checkpoint ``name``'s weights into ``models`` (its sidecar ``info``, if read).

    models: one network (:data:`DEFAULT_NETWORK`) or networks by name, any of the
    checkpoint's (a subset initialises part of a new run). A name the checkpoint lacks, or
    weights that do not fit their model, raise CheckpointError. ``partial``: a model's
    parameters the checkpoint does not hold keep their values (a network grown by a layer,
    started from the smaller one's weights); a weight of the wrong shape, or one the model
    lacks, is still an error.
    """
    info = info if info is not None else read_meta(name)
    models = _named(models, torch.nn.Module)
    _check_names(name, info["models"], models, "network")
    weights, _ = paths(name)
    state = _read_tensors(weights, info.get("weights_sha256"))
    for net, model in models.items():
        prefix = _prefix(info, net)
        own = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        try:
            missing = model.load_state_dict(own, strict=not partial).missing_keys
            if partial and len(missing) == len(model.state_dict()):
                raise RuntimeError("none of its weights are in the checkpoint")
            unexpected = set(own) - set(model.state_dict())
            if unexpected:
                raise RuntimeError(f"unexpected keys {sorted(unexpected)}")
        except RuntimeError as exc:
            raise CheckpointError(
                f"{weights}: network {net!r} ({info['models'][net]['name']}) does not fit "
                f"its weights: {exc}"
            ) from None


def load_optimizer(
    name: str | os.PathLike,
    optimizers: torch.optim.Optimizer | Mapping[str, torch.optim.Optimizer],
    info: dict[str, Any] | None = None,
) -> None:
    """Restore the optimizer states saved with checkpoint ``name`` (its sidecar ``info``, if
    read) into ``optimizers``: one (:data:`DEFAULT_NETWORK`'s) or by network name."""
    info = info if info is not None else read_meta(name)
    optimizers = _named(optimizers, torch.optim.Optimizer)
    layouts = info.get("optimizers") or {}
    if not layouts:
        raise CheckpointError(f"{paths(name)[1]} holds no optimizer state: cannot resume from it")
    _check_names(name, layouts, optimizers, "optimizer state for network")
    weights, _ = paths(name)
    files: dict[tuple[str, str], dict[str, torch.Tensor]] = {}  # every layout names one file
    for net, optimizer in optimizers.items():
        layout = OptimizerLayout.model_validate(layouts[net])  # read_meta checked it
        state_path = weights.parent / Path(layout.file).name  # never outside the folder
        key = (str(state_path), layout.sha256)
        if key not in files:
            files[key] = _read_tensors(state_path, layout.sha256)
        tensors, prefix = files[key], _prefix(info, net)
        try:
            state = {
                int(i): {k: tensors[f"{prefix}state.{i}.{k}"] for k in keys}
                for i, keys in layout.state_keys.items()
            }
            optimizer.load_state_dict({"state": state, "param_groups": layout.param_groups})
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(
                f"optimizer state of network {net!r} in {weights} does not fit: {exc}"
            ) from None


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

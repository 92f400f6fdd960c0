"""Resuming a killed run: one mechanism for training (``train``) and fitting (``fit``).

A run folder holds ``last.*``, a checkpoint with the optimizer states, and its sidecar records
what makes the run this run: ``models`` (each network's spec, by name), ``config`` (every
setting) and ``target`` (what it learns from: a dataset's manifest, an image's pixels, a
shape). A format-1 checkpoint's one ``model`` counts as ``models.net``. A run
started again must say ``resume`` (nothing is silently overwritten), and a resumed run must be
the same run: :func:`restore` compares the three with what the caller is about to run and
refuses, naming every difference, before it touches anything. Settings that do not change
what the run computes (a device, a worker count, the number of epochs of a fit at a constant
learning rate) are listed by the caller as ``free`` and may differ.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import torch

from neuralshade import checkpoint
from neuralshade.errors import ConfigError

RECORDED = ("models", "config", "target")
"""The sidecar keys that say which run a checkpoint belongs to."""


def begin(last: str | os.PathLike, *, resume: bool, what: str = "run") -> bool:
    """Whether checkpoint ``last`` is there to resume; refuses the two mistakes.

    Raises ConfigError when ``last`` exists but ``resume`` is not set (the folder holds a
    run: never overwritten), and when ``resume`` is set but there is nothing to resume.
    """
    sidecar = checkpoint.paths(last)[1]
    folder = sidecar.parent
    if sidecar.exists() and not resume:
        raise ConfigError(
            f"{folder} already holds a {what}: pass --resume to continue it, or choose "
            "another --out"
        )
    if resume and not sidecar.exists():
        raise ConfigError(f"nothing to resume: {folder} has no {sidecar.name}")
    return sidecar.exists()


def restore(
    last: str | os.PathLike,
    models: Mapping[str, torch.nn.Module],
    optimizers: Mapping[str, torch.optim.Optimizer],
    expected: Mapping[str, Any],
    *,
    free: Collection[str] = (),
    run: str | os.PathLike | None = None,
    upgrade: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """Load ``last``'s weights and optimizer states into ``models`` and ``optimizers``.

    models, optimizers: by network name, as the run saves them. expected: {"models": {name:
    spec}, "config": settings, "target": identity} of the run about to go on (JSON-friendly).
    Each is compared with what the sidecar recorded; ``free`` names settings (``"epochs"``,
    ``"optimizer.lr"``: dotted paths in ``config``) allowed to differ. ``run`` names the run's
    folder in messages (default: the checkpoint's). ``upgrade``: maps the saved config to the
    form this version writes (settings added since take their defaults), so a run started by
    an older version resumes; a config it cannot read is compared as it is.
    Returns the sidecar (:func:`neuralshade.checkpoint.read_meta`'s). Raises ConfigError
    listing each difference, saved → given, when the run is not the same run; CheckpointError
    when the files are unreadable.
    """
    info = checkpoint.read_meta(last)
    given = {key: expected[key] for key in RECORDED}
    saved = {key: info.get(key) for key in RECORDED}
    if upgrade is not None and saved["config"] is not None:
        try:
            saved["config"] = _jsonable(upgrade(saved["config"]))
        except ConfigError:
            pass  # not even readable now: the differences will say what changed
    diffs = [
        d
        for d in differences(saved, _jsonable(given))
        if not any(d[0] == f"config.{f}" or d[0].startswith(f"config.{f}.") for f in free)
    ]
    if diffs:
        raise ConfigError(
            f"{run or Path(last).parent} holds another run, so it cannot be resumed with these "
            f"settings (saved -> given): {_listing(diffs)}. Resume with the settings it was "
            "started with, or choose another --out"
        )
    checkpoint.load_weights(last, models, info)
    checkpoint.load_optimizer(last, optimizers, info)
    return info


def differences(saved: Any, given: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, saved value, given value) for every leaf where two JSON values differ.

    A key missing on one side shows as None there.
    """
    if isinstance(saved, Mapping) and isinstance(given, Mapping):
        out = []
        for key in sorted(set(saved) | set(given), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            out += differences(saved.get(key), given.get(key), path)
        return out
    return [] if saved == given else [(prefix or "(all)", saved, given)]


def fingerprint(data: bytes | Any) -> str:
    """SHA-256 of bytes, or of an object's canonical JSON (sorted keys), in hex."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        data = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()


def _jsonable(value: Any) -> Any:
    """As the sidecar gives it back (tuples as lists)."""
    return json.loads(json.dumps(value))


def _listing(diffs: list[tuple[str, Any, Any]], per_section: int = 3) -> str:
    """The differences, target first, then models and config, a few of each: changed values
    before keys that only one side has (a different network type before its other options)."""
    parts = []
    for section in ("target", *RECORDED[:2]):
        inside = [d for d in diffs if d[0].split(".")[0] == section]
        inside.sort(key=lambda d: d[1] is None or d[2] is None)
        parts += [f"{key}: {_show(a)} -> {_show(b)}" for key, a, b in inside[:per_section]]
        if len(inside) > per_section:
            parts.append(f"and {len(inside) - per_section} more in {section}")
    return "; ".join(parts)


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

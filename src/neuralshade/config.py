"""Typed configuration: YAML files, ``key=value`` overrides, clear errors.

Configs are pydantic models derived from :class:`Settings`: unknown keys are errors, and so
are NaN and infinite numbers (no setting of this package means anything at NaN, and an
infinite one only overflows later). :func:`build` turns pydantic's validation errors into one
:class:`~neuralshade.errors.ConfigError` that names each bad key. Because the checks live in
the models, the Python API is protected as much as the command line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from neuralshade.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class Settings(BaseModel):
    """Base of every config model: unknown keys and NaN or infinite numbers are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def build(model: type[M], values: Mapping[str, Any], what: str) -> M:
    """Validate ``values`` into ``model``; problems raise ConfigError('invalid {what}: …')."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"invalid {what}: expected a mapping of keys to values, got {values!r}")
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in e['loc']) or what}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid {what}: {problems}") from None


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping; a missing file, bad YAML or a non-mapping raise ConfigError."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values")
    return data


def apply_overrides(values: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``key=value`` / ``section.key=value`` overrides; values are parsed as YAML.

    >>> apply_overrides({"render": {"height": 24}}, ["render.height=30", "seed=3"])
    {'render': {'height': 30}, 'seed': 3}
    """
    import yaml

    out: dict[str, Any] = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in values.items()}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} must look like key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            raise ConfigError(f"override {item!r}: value is not valid YAML") from None
        *parents, leaf = key.strip().split(".")
        node = out
        for part in parents:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
            else:
                child = node[part] = dict(child)
            node = child
        node[leaf] = value
    return out


def preset_names(prefix: str) -> list[str]:
    """The shipped presets ``configs/<prefix><name>.yaml``, as their names without the prefix."""
    folder = resources.files("neuralshade") / "configs"
    return sorted(
        p.name.removeprefix(prefix).removesuffix(".yaml")
        for p in folder.iterdir()
        if p.name.startswith(prefix) and p.name.endswith(".yaml")
    )


def load_preset(
    model: type[M],
    prefix: str,
    preset_or_path: str,
    overrides: Iterable[str] | None,
    what: str,
) -> M:
    """A shipped preset's name (``configs/<prefix><name>.yaml``) or a YAML file, overridden.

    Raises ConfigError naming the known presets when it is neither.
    """
    shipped = resources.files("neuralshade") / "configs" / f"{prefix}{preset_or_path}.yaml"
    if shipped.is_file():
        values = load_yaml(str(shipped))
    elif Path(preset_or_path).is_file():
        values = load_yaml(preset_or_path)
    else:
        raise ConfigError(
            f"no {what} preset or file {preset_or_path!r}; presets: "
            f"{', '.join(preset_names(prefix))}"
        )
    return build(model, apply_overrides(values, overrides or []), f"{what} config")

"""The model registry: every network family registers under a name; ``build`` makes one.

    @register("resconv")
    class ResConv(nn.Module): ...

    model = build("resconv", channels=16)
    model.spec  # {"name": "resconv", "args": {...every constructor argument...}}
    same = build(model.spec["name"], **model.spec["args"])

``model.spec`` holds the complete constructor arguments (defaults filled in, tuples as
lists), so a checkpoint's JSON sidecar alone rebuilds its model. An image network exposes
``in_channels`` and ``out_channels`` ((N, C, H, W) in and out), a coordinate network
(``"field"``, :class:`neuralshade.fields.network.FieldNetwork`) ``n_input_dims`` and
``n_output_dims`` ((N, d) points in, (N, C) out); every docstring states the shapes.
"""

import inspect

import torch

from neuralshade.errors import ConfigError

_REGISTRY: dict[str, type[torch.nn.Module]] = {}


def register(name: str):
    """Class decorator: make the model class buildable as ``build(name, **args)``.

    The constructor must take named arguments only (no ``*args``/``**kwargs``), so that
    ``spec`` can list all of them. A model whose argument is a config with defaults of its own
    (FieldNetwork's ``config``) defines ``spec_args()``: its arguments with those filled in.
    Registering a name twice is a programming error.
    """

    def add(cls: type[torch.nn.Module]) -> type[torch.nn.Module]:
        if name in _REGISTRY:
            raise ValueError(
                f"model name {name!r} is already registered to {_REGISTRY[name].__qualname__}; "
                f"cannot register {cls.__qualname__} under it too"
            )
        variadic = [
            p.name
            for p in inspect.signature(cls).parameters.values()
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if variadic:
            raise ValueError(
                f"{cls.__qualname__} takes variadic arguments {variadic}; a registered model "
                "needs named arguments only so that its spec can rebuild it"
            )
        _REGISTRY[name] = cls
        return cls

    return add


def names() -> list[str]:
    """The registered model names, sorted."""
    return sorted(_REGISTRY)


def model_class(name: str) -> type[torch.nn.Module] | None:
    """The class registered as ``name``, or None."""
    return _REGISTRY.get(name)


def arguments(name: str) -> list[str]:
    """The constructor arguments of the model registered as ``name`` ([] for an unknown one:
    :func:`build` says so)."""
    return list(inspect.signature(_REGISTRY[name]).parameters) if name in _REGISTRY else []


def build(name: str, **cfg) -> torch.nn.Module:
    """Build the model registered as ``name`` with constructor arguments ``cfg``.

    The returned module carries ``spec = {"name": name, "args": {...}}`` with every
    constructor argument, defaults included (``spec_args()``'s where the model has it), in
    JSON-friendly types.

    Raises:
        ConfigError: unknown model name (the message lists the known ones), unknown
            argument (named, with the model's arguments), or an invalid argument value.
    """
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(names())}")
    cls = _REGISTRY[name]
    signature = inspect.signature(cls)
    unknown = sorted(set(cfg) - set(signature.parameters))
    if unknown:
        raise ConfigError(
            f"model {name!r} has no argument {', '.join(map(repr, unknown))}; "
            f"its arguments are: {', '.join(signature.parameters)}"
        )
    try:
        bound = signature.bind(**cfg)
        model = cls(**cfg)
    except (TypeError, ValueError, RuntimeError) as e:  # torch says RuntimeError for sizes < 0
        raise ConfigError(f"invalid arguments for model {name!r}: {e}") from e
    bound.apply_defaults()
    args = model.spec_args() if hasattr(model, "spec_args") else bound.arguments
    model.spec = {"name": name, "args": {k: _json_friendly(v) for k, v in args.items()}}
    return model


def _json_friendly(value):
    """Tuples (and tuples nested in lists or dicts) as lists, as JSON would give them back."""
    if isinstance(value, (tuple, list)):
        return [_json_friendly(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_friendly(v) for k, v in value.items()}
    return value


# importing registers their models
from neuralshade.fields import network  # noqa: E402, F401
from neuralshade.models import arshadow, cnsr, deepshading, kpcn, oidn, resconv, unet  # noqa: E402, F401

"""Field networks: an input affine map, an encoding and a small MLP, built from one config.

    from neuralshade import models

    net = models.build("field", config={
        "n_input_dims": 2,
        "encoding": {"otype": "HashGrid", "n_levels": 16, "log2_hashmap_size": 12,
                     "base_resolution": 16, "max_resolution": 256},
        "network": {"n_hidden_layers": 2, "n_neurons": 64, "output_activation": "sigmoid"},
        "input_scale": 0.5, "input_offset": 0.5,   # (x, y) in [-1, 1] -> [0, 1] for the grid
    })
    rgb = net(xy)                        # (N, 2) -> (N, 3)
    opt = optimizer(net, lr=1e-2)        # Adam, Instant-NGP's settings for the hash tables
    net.spec  # {"name": "field", "args": {"config": {...every key...}}}: a checkpoint keeps it

The activations are those compared on image fitting (ReLU, sine with and without SIREN
initialisation, Gaussian); see REFERENCES.md, "Neural graphics primitives".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from neuralshade.config import Settings, build
from neuralshade.fields.encodings import Encoding, build_encoding, check_points
from neuralshade.models import register


class Sine(nn.Module):
    """sin(ω₀·x), elementwise: (*) -> (*). SIREN's activation (ω₀ = 30 there)."""

    def __init__(self, omega_0: float = 30.0):
        super().__init__()
        self.omega_0 = omega_0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.omega_0 * x)

    def extra_repr(self) -> str:
        return f"omega_0={self.omega_0}"


class Gaussian(nn.Module):
    """exp(−x²/σ²), elementwise: (*) -> (*), in (0, 1], 1 at x = 0."""

    def __init__(self, sigma: float = 0.5):
        super().__init__()
        self.sigma = sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-((x / self.sigma) ** 2))

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"


def siren_init_(linears: Sequence[nn.Linear], omega_0: float) -> None:
    """SIREN initialisation (Sitzmann et al. 2020), in place, of an MLP's linear layers in order.

    First layer: weights U(−1/fan_in, 1/fan_in). Later layers: U(±√(6/fan_in)/ω₀), so that
    with sin(ω₀·) between them every layer's pre-activations keep the same distribution.
    Biases keep PyTorch's default, as in the SIREN authors' code.
    """
    with torch.no_grad():
        for i, layer in enumerate(linears):
            fan_in = layer.in_features
            bound = 1.0 / fan_in if i == 0 else math.sqrt(6.0 / fan_in) / omega_0
            layer.weight.uniform_(-bound, bound)


class MLPConfig(Settings):
    """The MLP after the encoding; its input size is the encoding's output size."""

    n_hidden_layers: int = Field(2, ge=0, description="hidden layers (linear + activation)")
    n_neurons: int = Field(64, ge=1, description="width of every hidden layer")
    activation: Literal["relu", "sine", "gaussian", "none"] = Field(
        "relu", description="activation after each hidden layer"
    )
    omega_0: float = Field(30.0, gt=0, description="frequency factor ω₀ of 'sine': sin(ω₀·x)")
    sigma: float = Field(0.5, gt=0, description="width σ of 'gaussian': exp(−x²/σ²)")
    siren_init: bool = Field(
        False, description="SIREN weight initialisation (needs activation 'sine')"
    )
    output_activation: Literal["none", "sigmoid"] = Field(
        "none", description="applied to the output: 'sigmoid' for colours in (0, 1)"
    )
    n_output_dims: int = Field(3, ge=1, description="outputs: 3 for RGB, 1 for a distance")

    @model_validator(mode="after")
    def _siren_needs_sine(self) -> MLPConfig:
        if self.siren_init and self.activation != "sine":
            raise ValueError(f"siren_init needs activation 'sine', not {self.activation!r}")
        return self


class MLP(nn.Sequential):
    """Linear → activation, ``n_hidden_layers`` times, then linear → output activation.

    x: (N, n_input_dims) -> (N, n_output_dims). Linear layers have biases (tcnn's have none):
    the 3×128 ReLU MLP on (x, y) then has the 33,795 parameters the image-fitting post counts
    (``benchmarks/results/fields_image.json``: ``presets.relu.parameters``).
    """

    def __init__(self, n_input_dims: int, config: MLPConfig | None = None):
        config = config or MLPConfig()
        activation = {
            "relu": nn.ReLU,
            "sine": lambda: Sine(config.omega_0),
            "gaussian": lambda: Gaussian(config.sigma),
            "none": None,
        }[config.activation]
        layers: list[nn.Module] = []
        width = n_input_dims
        for _ in range(config.n_hidden_layers):
            layers.append(nn.Linear(width, config.n_neurons))
            if activation is not None:
                layers.append(activation())
            width = config.n_neurons
        layers.append(nn.Linear(width, config.n_output_dims))
        if config.output_activation == "sigmoid":
            layers.append(nn.Sigmoid())
        super().__init__(*layers)
        self.n_input_dims = n_input_dims
        self.n_output_dims = config.n_output_dims
        if config.siren_init:
            siren_init_([m for m in self if isinstance(m, nn.Linear)], config.omega_0)


class FieldConfig(Settings):
    """A whole field network: coordinates -> affine map -> encoding -> MLP."""

    n_input_dims: int = Field(2, ge=1, description="coordinate dims: 2 for (x, y), 3 for (x, y, z)")
    encoding: dict[str, Any] = Field(
        default_factory=lambda: {"otype": "HashGrid"},
        description="input encoding, a tiny-cuda-nn style dict (see fields.encodings)",
    )
    network: MLPConfig = Field(default_factory=MLPConfig, description="the MLP")
    input_scale: float | list[float] = Field(
        1.0, description="coordinates are multiplied by this before the encoding (or per dim)"
    )
    input_offset: float | list[float] = Field(
        0.0, description="then this is added (or per dim): 0.5, 0.5 maps [-1, 1] to [0, 1]"
    )

    @model_validator(mode="after")
    def _per_dim_lengths(self) -> FieldConfig:
        for name in ("input_scale", "input_offset"):
            value = getattr(self, name)
            if isinstance(value, list) and len(value) != self.n_input_dims:
                raise ValueError(
                    f"{name} has {len(value)} values for {self.n_input_dims} input dims"
                )
        scales = self.input_scale if isinstance(self.input_scale, list) else [self.input_scale]
        if 0 in scales:
            raise ValueError("input_scale must not be 0: it would map every point to one")
        return self


@register("field")
class FieldNetwork(nn.Module):
    """A coordinate network: ``mlp(encoding(x · input_scale + input_offset))``.

    x: (N, n_input_dims) coordinates, float32 -> (N, n_output_dims).

    The affine map lets the coordinates keep their natural range while each encoding gets its
    own: the hash grid wants [0, 1] (scale 0.5, offset 0.5 from [−1, 1]), the Gaussian MLP of
    the image-fitting post works best on [−16, 16] (scale 16). Registered as ``"field"``:
    ``models.build("field", config=...)`` gives it a ``spec`` whose ``config`` is complete
    (every default filled in, the encoding's too), so a checkpoint rebuilds the same
    architecture (the affine map is part of the spec, not of the state dict).

    Raises:
        ConfigError: an invalid config (each bad key named).
        InputError: x is not (N, n_input_dims) floating point.
    """

    def __init__(self, config: FieldConfig | Mapping[str, Any] | None = None):
        super().__init__()
        if config is None:
            config = FieldConfig()
        elif not isinstance(config, FieldConfig):
            config = build(FieldConfig, config, "field network config")
        self.config = config
        self.n_input_dims = config.n_input_dims
        self.encoding = build_encoding(config.encoding, config.n_input_dims)
        self.mlp = MLP(self.encoding.n_output_dims, config.network)
        self.n_output_dims = self.mlp.n_output_dims
        for name in ("input_scale", "input_offset"):
            value = getattr(config, name)
            per_dim = value if isinstance(value, list) else [value] * config.n_input_dims
            self.register_buffer(name, torch.tensor(per_dim, dtype=torch.float32), persistent=False)

    def spec_args(self) -> dict[str, Any]:
        """The constructor's arguments, the config complete and JSON-friendly (for ``spec``)."""
        return {"config": {**self.config.model_dump(mode="json"), "encoding": self.encoding.config}}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_points(x, self.n_input_dims, "FieldNetwork")
        return self.mlp(self.encoding(x * self.input_scale + self.input_offset))


def optimizer(
    model: nn.Module,
    lr: float,
    *,
    weight_decay: float = 0.0,
    eps: float = 1e-8,
    table_eps: float = 1e-15,
    betas: tuple[float, float] = (0.9, 0.99),
) -> torch.optim.Adam:
    """Adam for a model holding encodings, with Instant-NGP's settings for the lookup tables.

    Two parameter groups (a group is left out when it has no parameters), named in ``"name"``:

    - ``"tables"``: every encoding's ``table_parameters()`` (the hash grids), ``eps=table_eps``
      (1e-15, Instant-NGP's) and no weight decay. An entry that few points touch gets
      gradients far below 1e-8; a larger ε would shrink its steps to nothing.
    - ``"network"``: everything else, ``eps`` (1e-8, PyTorch's default: MLP gradients are far
      larger, so it does not slow training, and it bounds the step of a weight whose gradient
      vanishes) and ``weight_decay`` (Adam's L2 term; Instant-NGP puts 1e-6 on its MLP).

    Both use ``betas`` = (0.9, 0.99) (Instant-NGP) and learning rate ``lr`` (1e-2 there).
    """
    tables = {
        id(p): p
        for module in model.modules()
        if isinstance(module, Encoding)
        for p in module.table_parameters()
    }
    rest = [p for p in model.parameters() if id(p) not in tables]
    groups = [
        {"name": "tables", "params": list(tables.values()), "eps": table_eps, "weight_decay": 0.0},
        {"name": "network", "params": rest, "eps": eps, "weight_decay": weight_decay},
    ]
    return torch.optim.Adam([g for g in groups if g["params"]], lr=lr, betas=betas)

"""Input encodings for coordinate networks, configured as tiny-cuda-nn style flat dicts.

    enc = build_encoding({"otype": "HashGrid", "n_levels": 16, "log2_hashmap_size": 12}, 2)
    enc(torch.rand(1024, 2)).shape  # (1024, enc.n_output_dims) = (1024, 32)
    enc.config  # every key, defaults filled in: build_encoding(enc.config, 2) rebuilds it

Every encoding is an ``nn.Module`` mapping points ``(N, n_input_dims)`` to features
``(N, n_output_dims)``, float32, differentiable with respect to its parameters and its input.
The key names, defaults and output layouts are tiny-cuda-nn's (``DOCUMENTATION.md`` there), so
a tcnn encoding config works here unchanged as long as it only uses the keys listed in each
class's config model; each class's docstring says where it departs from tcnn.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import nn

from neuralshade.config import Settings, build
from neuralshade.errors import ConfigError, InputError

_REGISTRY: dict[str, type[Encoding]] = {}


def register_encoding(otype: str):
    """Class decorator: make the encoding buildable as ``build_encoding({"otype": otype, ...})``.

    The class must define ``Config``, a pydantic model of its keys (``otype`` included, as a
    literal), and take ``(n_input_dims, config)``. Registering an otype twice is a programming
    error.
    """

    def add(cls: type[Encoding]) -> type[Encoding]:
        if otype in _REGISTRY:
            raise ValueError(
                f"encoding otype {otype!r} is already registered to "
                f"{_REGISTRY[otype].__qualname__}; cannot register {cls.__qualname__} under it too"
            )
        _REGISTRY[otype] = cls
        return cls

    return add


def encoding_names() -> list[str]:
    """The registered encoding otypes, sorted."""
    return sorted(_REGISTRY)


def build_encoding(config: Mapping[str, Any], n_input_dims: int) -> Encoding:
    """Build the encoding that ``config["otype"]`` names, for points of ``n_input_dims`` dims.

    Raises:
        ConfigError: ``config`` is not a mapping, has no or an unknown ``otype`` (the message
            lists the known ones), has a key the encoding does not know (named, with the keys
            it does know) or an invalid value (named), or the encoding cannot take
            ``n_input_dims``.
    """
    if not isinstance(config, Mapping):
        raise ConfigError(f"an encoding config must be a mapping of keys to values, got {config!r}")
    if "otype" not in config:
        raise ConfigError(
            f"encoding config {dict(config)} has no 'otype'; known otypes: "
            f"{', '.join(encoding_names())}"
        )
    otype = config["otype"]
    if otype not in _REGISTRY:
        raise ConfigError(
            f"unknown encoding otype {otype!r}; known otypes: {', '.join(encoding_names())}"
        )
    cls = _REGISTRY[otype]
    unknown = sorted(set(config) - set(cls.Config.model_fields))
    if unknown:
        raise ConfigError(
            f"encoding {otype!r} has no key {', '.join(map(repr, unknown))}; "
            f"its keys are: {', '.join(cls.Config.model_fields)}"
        )
    if isinstance(n_input_dims, bool) or not isinstance(n_input_dims, int) or n_input_dims < 1:
        raise ConfigError(f"n_input_dims must be a positive integer, got {n_input_dims!r}")
    return cls(n_input_dims, build(cls.Config, config, f"{otype} encoding"))


def check_points(x: torch.Tensor, n_dims: int, who: str) -> None:
    """Raise InputError unless ``x`` is a floating-point tensor of shape ``(N, n_dims)``."""
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != n_dims:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputError(f"{who} expects points of shape (N, {n_dims}), got {shape}")
    if not x.is_floating_point():
        raise InputError(f"{who} expects floating-point points, got dtype {x.dtype}")


class Encoding(nn.Module):
    """Base class: ``n_input_dims``, ``n_output_dims``, ``config`` and ``table_parameters()``.

    ``config`` is the complete tcnn-style dict (defaults filled in, JSON-friendly) that
    :func:`build_encoding` turns back into the same architecture.
    """

    Config: type[Settings]

    def __init__(self, n_input_dims: int, config: Settings, n_output_dims: int):
        super().__init__()
        self.n_input_dims = n_input_dims
        self.n_output_dims = n_output_dims
        self._config = config

    @property
    def config(self) -> dict[str, Any]:
        return self._config.model_dump(mode="json", exclude_none=True)

    def table_parameters(self) -> list[nn.Parameter]:
        """Parameters that are lookup tables (sparse gradients; see ``network.optimizer``)."""
        return []

    def extra_repr(self) -> str:
        return f"n_input_dims={self.n_input_dims}, n_output_dims={self.n_output_dims}"


class IdentityConfig(Settings):
    """Keys of the Identity encoding (tcnn's ``scale`` and ``offset`` are not taken: use
    ``FieldConfig.input_scale`` / ``input_offset``)."""

    otype: Literal["Identity"] = Field("Identity", description="encoding type")


@register_encoding("Identity")
class Identity(Encoding):
    """The points as they are: ``(N, d) -> (N, d)``."""

    Config = IdentityConfig

    def __init__(self, n_input_dims: int, config: IdentityConfig | None = None):
        super().__init__(n_input_dims, config or IdentityConfig(), n_input_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_points(x, self.n_input_dims, "Identity encoding")
        return x


class FrequencyConfig(Settings):
    """Keys of the Frequency encoding (tcnn's, plus ``include_input``)."""

    otype: Literal["Frequency"] = Field("Frequency", description="encoding type")
    n_frequencies: int = Field(
        12, ge=1, description="frequencies per input dim: 2^k π for k = 0 .. n_frequencies-1"
    )
    include_input: bool = Field(
        False, description="also pass the input through (before the sines; tcnn never does)"
    )


@register_encoding("Frequency")
class Frequency(Encoding):
    """NeRF's positional encoding: sin and cos of ``2^k π x`` per input dim.

    x: (N, d) -> (N, d·(include_input + 2·n_frequencies)), in this order:

        [x_0 .. x_{d-1}]                                   only with include_input
        sin(2^0 π x_0), cos(2^0 π x_0), sin(2^1 π x_0), cos(2^1 π x_0), ... (n_frequencies)
        ... the same for x_1 .. x_{d-1}

    The sines and cosines are in tcnn's order (dim-major, then frequency, sin before cos), so
    with ``include_input`` False (the default) the output is tcnn's. tcnn appends pass-through
    inputs after the sines only through its Composite encoding; ``include_input`` puts them
    first, as NeRF does. The inputs are in any units: the period of frequency k is
    ``2 / 2^k`` input units (x in [-1, 1] sees a full period at k = 0). Accurate torch sin/cos,
    where tcnn uses the fast ``__sinf`` intrinsic (less accurate for large arguments).
    """

    Config = FrequencyConfig

    def __init__(self, n_input_dims: int, config: FrequencyConfig | None = None):
        config = config or FrequencyConfig()
        per_dim = 2 * config.n_frequencies + int(config.include_input)
        super().__init__(n_input_dims, config, n_input_dims * per_dim)
        self.include_input = config.include_input
        frequencies = torch.pi * 2.0 ** torch.arange(config.n_frequencies, dtype=torch.float64)
        self.register_buffer("frequencies", frequencies.float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_points(x, self.n_input_dims, "Frequency encoding")
        angles = x.unsqueeze(-1) * self.frequencies  # (N, d, K)
        waves = torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(1)  # (N, d·K·2)
        return torch.cat((x, waves), dim=1) if self.include_input else waves


class HashGridConfig(Settings):
    """Keys of the HashGrid encoding: tcnn's names and defaults, plus ``max_resolution``."""

    otype: Literal["HashGrid"] = Field("HashGrid", description="encoding type")
    n_levels: int = Field(16, ge=1, description="number of grid levels L")
    n_features_per_level: int = Field(2, ge=1, description="features per grid vertex F")
    log2_hashmap_size: int = Field(
        19, ge=1, le=30, description="log2 of the most table entries per level, T = 2^this"
    )
    base_resolution: int = Field(
        16, ge=1, description="N_min: vertices per axis of the coarsest level"
    )
    per_level_scale: float | None = Field(
        None, ge=1.0, description="b: resolution factor between levels (default 2.0)"
    )
    max_resolution: float | None = Field(
        None, ge=1.0, description="N_max, instead of per_level_scale: b = (N_max/N_min)^(1/(L-1))"
    )

    @model_validator(mode="after")
    def _scale(self) -> HashGridConfig:
        if self.per_level_scale is not None and self.max_resolution is not None:
            raise ValueError("give per_level_scale or max_resolution, not both")
        if self.per_level_scale is None and self.max_resolution is None:
            self.per_level_scale = 2.0
        if self.max_resolution is not None:
            if self.max_resolution < self.base_resolution:
                raise ValueError(
                    f"max_resolution ({self.max_resolution}) must not be below "
                    f"base_resolution ({self.base_resolution})"
                )
            if self.n_levels == 1 and self.max_resolution != self.base_resolution:
                raise ValueError("max_resolution differs from base_resolution but n_levels is 1")
        return self

    def level_scale(self) -> float:
        """b, the factor between the resolutions of consecutive levels."""
        if self.max_resolution is None:
            return self.per_level_scale
        if self.n_levels == 1:
            return 1.0
        return math.exp(
            (math.log(self.max_resolution) - math.log(self.base_resolution)) / (self.n_levels - 1)
        )


@dataclass(frozen=True)
class GridLevel:
    """One level of a :class:`HashGrid`.

    scale: float32 ``N_min·b^l − 1``: the unit interval spans this many cells.
    resolution: vertices per axis, ``ceil(scale) + 1``.
    table_size: entries of this level, ``min(resolution^d rounded up to a multiple of 8, T)``.
    offset: first row of this level in the flat table.
    dense: True when every vertex has its own entry (``resolution^d <= table_size``).
    """

    scale: float
    resolution: int
    table_size: int
    offset: int
    dense: bool


# tcnn's hash factors, one per input dim; π_0 = 1 keeps neighbouring x in nearby entries
_PRIMES = (1, 2654435761, 805459861, 3674653429, 2097192037, 1434869437, 2165219737)
_UINT32 = 0xFFFFFFFF
# vertex coordinates saturate here, as CUDA's float-to-int conversion does at the int32 limits;
# it keeps every product of a coordinate and a hash factor below 2^63
_VERTEX_LIMIT = float(2**31)


def grid_levels(n_input_dims: int, config: HashGridConfig) -> tuple[GridLevel, ...]:
    """The levels of a hash grid, computed as tiny-cuda-nn computes them.

    The scale is computed in float32 exactly as tcnn's ``grid_scale`` (``exp2f(l·log2f(b))
    ·N_min − 1``), because ``ceil`` of it decides the resolution: in float64 the finest level
    of ``N_min=16, N_max=2048, L=16`` would get 2049 vertices per axis instead of tcnn's 2048.
    """
    log2_b = np.float32(np.log2(np.float32(config.level_scale())))
    hashmap_size = 2**config.log2_hashmap_size
    levels = []
    offset = 0
    for level in range(config.n_levels):
        scale = np.exp2(np.float32(level) * log2_b) * np.float32(config.base_resolution)
        scale = float(scale - np.float32(1.0))
        resolution = math.ceil(scale) + 1
        n_vertices = resolution**n_input_dims
        table_size = min(-(-n_vertices // 8) * 8, hashmap_size)  # rows aligned to 8, as tcnn
        levels.append(
            GridLevel(scale, resolution, table_size, offset, dense=n_vertices <= table_size)
        )
        offset += table_size
    return tuple(levels)


@register_encoding("HashGrid")
class HashGrid(Encoding):
    """Multiresolution hash encoding (Instant-NGP, Müller et al. 2022), as tiny-cuda-nn's.

    x: (N, d) float32 in [0, 1]^d -> (N, L·F) float32: level 0's F features, then level 1's, …

    Each level l is a grid over the unit cube whose vertices hold F trainable features; a point
    gets the d-linear interpolation of the features at the 2^d corners of its cell. Coarse
    levels whose vertices fit in T entries are dense (one entry per vertex); finer levels share
    T entries through a spatial hash. All levels live in one flat table ``table``
    (``(sum of table sizes, F)``), level after level, each padded to a multiple of 8 rows: the
    layout of tcnn's parameter vector, so ``table.flatten()`` and tcnn's grid parameters are
    interchangeable. Initialised U(−1e-4, 1e-4) as in tcnn (torch's RNG, not tcnn's pcg32).

    Following tcnn's ``grid.h`` / ``common_device.h`` exactly:

    - ``scale_l = N_min·b^l − 1`` in float32, ``resolution_l = ceil(scale_l) + 1`` vertices per
      axis (so N_min counts vertices, where the paper's ``N_l = floor(N_min·b^l)`` counts
      cells); see :func:`grid_levels`.
    - ``pos = x·scale_l + 0.5``; vertex ``v = floor(pos)``, weight ``pos − v``. The half-cell
      offset staggers the levels so that their vertices do not line up (paper, appendix A).
      The vertex is converted as CUDA does (saturated, NaN to 0), then read as uint32.
    - Dense level: ``index = (Σ_i v_i·resolution^i mod 2^32) mod table_size``. Because of the
      +0.5, the upper corner of a point near x_i = 1 can be ``v_i = resolution``, one past the
      last vertex; tcnn lets the linear index run on into the next row (it notes this
      "wraparound" did not hurt quality), and so do we.
    - Hashed level: ``index = (XOR_i (v_i·π_i mod 2^32)) mod T`` with
      π = 1, 2654435761, 805459861, 3674653429, 2097192037, 1434869437, 2165219737.
    - Level l dense iff ``resolution_l^d <= table_size_l``, ``table_size_l = min(resolution_l^d
      rounded up to a multiple of 8, T)``.

    Points outside [0, 1]^d: never an error, and the same formulas as inside, as in tcnn.
    Hashed levels hash whatever integer vertex the point falls in (negative coordinates as
    their uint32 two's complement): outside the training domain they read entries trained for
    other vertices, like any hash collision. Dense levels take the same linear index, wrapped
    modulo 2^32 and then modulo the level's table size, so they alias in-domain vertices (the
    result is neither clamped nor periodic). Vertex coordinates saturate at ±2^31 as in CUDA's
    float-to-int conversion, so any x whose ``x·scale`` is finite gives finite features; a NaN
    coordinate reads vertex 0 (CUDA's conversion of NaN) and gives NaN features.

    Where this departs from tcnn:

    - any d from 1 to 7 and any F >= 1 (tcnn: d in {2, 3}, F in {1, 2, 4, 8}); fp32 only;
    - ``pos`` is rounded twice (multiply, add) where tcnn fuses them (``fmaf``): a point within
      1 ulp of a cell boundary may fall in the neighbouring cell;
    - ``per_level_scale`` must be >= 1 (coarse to fine); keys ``interpolation``,
      ``stochastic_interpolation``, ``n_features`` and ``type`` are not taken (linear
      interpolation, hash grid only); ``max_resolution`` is ours (the paper's b formula);
    - gradients come from autograd: with respect to the table, the input (tcnn's ``dy_dx``)
      and, for eikonal losses, second order.

    Vectorised over points and levels (dense levels in one batch, hashed ones in another); the
    only Python loop is over the 2^d corners. Exports to ONNX (``torch.onnx.export(...,
    dynamo=True)``): integer arithmetic is int64 with explicit masks, no uint32 and no
    data-dependent control flow.
    """

    Config = HashGridConfig

    def __init__(self, n_input_dims: int, config: HashGridConfig | None = None):
        config = config or HashGridConfig()
        if n_input_dims > len(_PRIMES):
            raise ConfigError(
                f"HashGrid takes at most {len(_PRIMES)} input dims, got {n_input_dims}"
            )
        super().__init__(n_input_dims, config, config.n_levels * config.n_features_per_level)
        self.n_levels = config.n_levels
        self.n_features_per_level = config.n_features_per_level
        self.per_level_scale = config.level_scale()
        self.levels = grid_levels(n_input_dims, config)
        # coarse to fine with one T for all: the dense levels come first
        self.n_dense = sum(level.dense for level in self.levels)
        assert all(level.dense for level in self.levels[: self.n_dense]), "dense levels not first"
        n_rows = self.levels[-1].offset + self.levels[-1].table_size
        self.table = nn.Parameter(
            torch.empty(n_rows, self.n_features_per_level).uniform_(-1e-4, 1e-4)
        )

        hashmap_size = 2**config.log2_hashmap_size
        multipliers = [
            [level.resolution**i for i in range(n_input_dims)]
            if level.dense
            else list(_PRIMES[:n_input_dims])
            for level in self.levels
        ]
        buffers = {
            "scales": torch.tensor([level.scale for level in self.levels], dtype=torch.float32),
            "multipliers": torch.tensor(multipliers, dtype=torch.int64).t().contiguous(),  # (d, L)
            "table_sizes": torch.tensor([level.table_size for level in self.levels]),
            "offsets": torch.tensor([level.offset for level in self.levels]),
        }
        for name, value in buffers.items():
            self.register_buffer(name, value, persistent=False)
        self._hash_mask = hashmap_size - 1

    def table_parameters(self) -> list[nn.Parameter]:
        return [self.table]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, d) in [0, 1]^d (any value accepted, see the class docstring) -> (N, L·F)."""
        check_points(x, self.n_input_dims, "HashGrid encoding")
        dense, hashed = slice(0, self.n_dense), slice(self.n_dense, self.n_levels)
        parts = [
            self._interpolate(x, levels, is_dense)
            for levels, is_dense in ((dense, True), (hashed, False))
            if levels.stop > levels.start
        ]
        out = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)  # (N, L, F)
        return out.flatten(1)

    def _interpolate(self, x: torch.Tensor, levels: slice, dense: bool) -> torch.Tensor:
        """d-linear interpolation at levels that share a rule, dense or hashed: -> (N, l, F)."""
        # dims first, so that each dim's (N, l) slice is contiguous
        pos = x.t().unsqueeze(-1) * self.scales[levels] + 0.5  # (d, N, l)
        vertex = pos.floor()
        frac = pos - vertex
        vertex = vertex.nan_to_num(0.0).clamp(-_VERTEX_LIMIT, _VERTEX_LIMIT).long()
        # index terms and weights of the lower and upper vertex along each axis, (d, N, l)
        # each, computed once for the 2^d corners. A hashed level needs only the low log2(T)
        # bits of each term (T divides 2^32, and xor works bit by bit); a dense level's terms
        # are summed unreduced: |Σ v_i·resolution^i| < 2^31·2T, far from int64 overflow.
        multipliers = self.multipliers[:, levels].unsqueeze(1)  # (d, 1, l)
        lower = vertex * multipliers
        upper = lower + multipliers  # (v + 1)·m
        if not dense:
            lower, upper = lower & self._hash_mask, upper & self._hash_mask
        terms, weights = (lower, upper), (1.0 - frac, frac)
        sizes, offsets = self.table_sizes[levels], self.offsets[levels]
        out = None
        for corner in itertools.product((0, 1), repeat=self.n_input_dims):
            index = terms[corner[0]][0]  # (N, l)
            weight = weights[corner[0]][0]
            for dim in range(1, self.n_input_dims):
                term = terms[corner[dim]][dim]
                index = index + term if dense else index ^ term
                weight = weight * weights[corner[dim]][dim]
            if dense:
                index = (index & _UINT32) % sizes
            rows = (index + offsets).flatten()
            features = self.table.index_select(0, rows).view(*index.shape, -1)  # (N, l, F)
            weight = weight.unsqueeze(-1)
            out = features * weight if out is None else torch.addcmul(out, features, weight)
        return out

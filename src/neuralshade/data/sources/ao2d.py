"""The ao2d source: random white-on-black masks and their heightfield renders.

A sample is a mask (``source.png``, 8-bit grey, white = shape) drawn by
:func:`neuralshade.masks.random_mask`, the beauty image the reference renderer
(:func:`neuralshade.render.heightfield.render`) makes of it (``target.png``, 8-bit sRGB), and
optionally float32 buffers of the same render (``ao``, ``shadow``, ``height``, ``normal``,
``sdf``: ``buffers`` in the config). Scene parameters may vary per sample (``vary``).

Its factors are the mask (``mask``: which mask seed) and each varied scene parameter; the
renderer's sampling noise (``noise``) is not a factor and stays the sample's own.

Symmetries: the scene is isotropic except for the key light, so a rotated or mirrored mask
rendered again gives the rotated or mirrored image *with the light turned the same way*. A
symmetry is therefore true when it maps the light onto itself, or when the network is told the
(transformed) light through the derived ``light`` buffer and the light varies per sample.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from neuralshade.config import Settings
from neuralshade.data.augment import D4, Symmetry
from neuralshade.data.schema import Buffer, schema_of
from neuralshade.data.sources import SOURCES, Source, check_split
from neuralshade.errors import ConfigError
from neuralshade.imageio import to_uint8
from neuralshade.masks import MaskConfig, random_mask
from neuralshade.render.params import RenderParams

BUFFERS = ("ao", "shadow", "height", "normal", "sdf")
"""The optional float32 buffers a dataset may store beside the PNGs."""
# scene parameters that may vary per sample: numbers, or RGB triples for the colours
VARIABLE = (
    "height",
    "bevel",
    "ao_radius",
    "light_azimuth",
    "light_elevation",
    "softness",
    "ambient",
    "diffuse",
    "specular",
    "shininess",
    "shape_color",
    "ground_color",
)

Range = tuple[float, float] | tuple[tuple[float, float, float], tuple[float, float, float]]

SCHEMA = schema_of(
    Buffer(name="source", channels=1, kind="mask", file="source.png",
           description="the mask, source.png / 255 (white = shape)"),
    Buffer(name="target", channels=3, kind="srgb", file="target.png",
           description="the beauty render, sRGB in [0, 1]"),
    Buffer(name="ao", channels=1, kind="scalar", file="ao.npy",
           description="ambient occlusion in [0, 1]"),
    Buffer(name="shadow", channels=1, kind="scalar", file="shadow.npy",
           description="key-light visibility in [0, 1]"),
    Buffer(name="height", channels=1, kind="scalar", file="height.npy",
           description="z of the visible surface, pixels"),
    Buffer(name="normal", channels=3, kind="vector", file="normal.npy", image_axes=(0, 1),
           description="unit normal, image coordinates (x right, y down the rows, z up)"),
    Buffer(name="sdf", channels=1, kind="scalar", file="sdf.npy",
           description="2D signed distance to the shapes, pixels (negative inside)"),
    Buffer(name="light", channels=3, kind="vector", image_axes=(0, 1), y_down=False,
           description="constant unit vector towards the light, (cos e cos a, cos e sin a, "
           "sin e), of its azimuth a (counter-clockwise on screen from +x) and elevation e"),
    Buffer(name="shape_height", channels=1, kind="scalar",
           description="constant height of the shapes / HEIGHT_UNIT (24 px, the default)"),
)  # fmt: skip

HEIGHT_UNIT = 24.0
"""Pixels of shape height per unit of the derived ``shape_height`` input."""

LIGHT_INPUT = "unit-vector"
"""What the derived ``light`` input holds (:func:`condition_values`), recorded in a trained
network's sidecar: networks trained before it was the unit vector (they were told
(cos a, sin a, sin e) and have no record) are refused rather than fed numbers they never saw."""


def condition_values(params: RenderParams) -> dict[str, np.ndarray]:
    """The derived per-image inputs of a scene: {'light': (3,), 'shape_height': (1,)} float32.

    light = (cos e cos a, cos e sin a, sin e), the unit vector towards the light of azimuth a
    (counter-clockwise on screen from +x, y up) and elevation e; shape_height = height /
    HEIGHT_UNIT. A network conditioned on the light reads them as constant channels (the
    browser page computes the same numbers). The vector, rather than (cos a, sin a, sin e),
    because it moves as fast as the light does at every elevation: sin e flattens towards the
    zenith, just where the flat ground's highlight (sin e to the shininess) changes fastest,
    and a network told sin e was least accurate at its highest elevations (docs/RESULTS.md).
    """
    a, e = math.radians(params.light_azimuth), math.radians(params.light_elevation)
    return {
        "light": np.array(
            [math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)], np.float32
        ),
        "shape_height": np.array([params.height / HEIGHT_UNIT], np.float32),
    }


class DatasetConfig(Settings):
    """Everything that determines an ao2d dataset's bytes."""

    task: Literal["ao2d"] = Field("ao2d", description="The source (named so since format 1).")
    count: int = Field(1000, ge=1, description="Number of samples.")
    size: int = Field(256, ge=8, le=8192, description="Side of the square images, in pixels.")
    seed: int = Field(0, ge=0, description="Seed of every random choice in the dataset.")
    split: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.8, "val": 0.1, "test": 0.1},
        description="Fractions of samples in the train, val and test splits (sum to 1).",
    )
    buffers: list[str] = Field(
        default_factory=list, description=f"Float32 buffers saved beside the PNGs: {BUFFERS}."
    )
    render: RenderParams = Field(
        default_factory=RenderParams, description="Scene and quality of the reference render."
    )
    masks: MaskConfig = Field(default_factory=MaskConfig, description="How masks are drawn.")
    vary: dict[str, Range] = Field(
        default_factory=dict,
        description="Per-sample uniform ranges [low, high] of scene parameters (none: fixed).",
    )

    @field_validator("buffers")
    @classmethod
    def _known_buffers(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(BUFFERS))
        if unknown:
            raise ValueError(f"unknown buffers {unknown}; known: {list(BUFFERS)}")
        return sorted(set(value), key=BUFFERS.index)

    @model_validator(mode="after")
    def _check(self) -> DatasetConfig:
        check_split(self.split)
        for key, (low, high) in self.vary.items():
            if key not in VARIABLE:
                raise ValueError(f"vary: {key!r} cannot vary; variable: {list(VARIABLE)}")
            colour = key.endswith("_color")
            if colour != isinstance(low, tuple) or colour != isinstance(high, tuple):
                raise ValueError(
                    f"vary.{key}: give {'two RGB triples' if colour else 'two numbers'}"
                )
            if np.any(np.asarray(low) > np.asarray(high)):
                raise ValueError(f"vary.{key}: low {low} exceeds high {high}")
            # both ends must be valid scene parameters themselves
            for end in (low, high):
                try:
                    RenderParams(**{**self.render.model_dump(), key: end})
                except ValueError as exc:  # pydantic's ValidationError is a ValueError
                    raise ValueError(f"vary.{key}: {end} is not a valid value: {exc}") from None
        return self


def sample_rngs(seed: int, index: int) -> tuple[np.random.Generator, np.random.Generator, int]:
    """Independent streams of sample ``index``: mask, scene parameters, and the render's seed."""
    mask_ss, params_ss, render_ss = np.random.SeedSequence([seed, index]).spawn(3)
    return (
        np.random.default_rng(mask_ss),
        np.random.default_rng(params_ss),
        int(render_ss.generate_state(1)[0]),
    )


def _uniform(rng: np.random.Generator, bounds: Range) -> float | list[float]:
    low, high = (np.asarray(v, dtype=np.float64) for v in bounds)
    value = np.asarray(rng.uniform(low, high))
    return [round(float(v), 6) for v in value] if value.ndim else round(float(value), 6)


def sample_params(config: DatasetConfig, index: int) -> dict[str, Any]:
    """The varied scene parameters of sample ``index`` (empty when nothing varies)."""
    _, rng, _ = sample_rngs(config.seed, index)
    # fixed order, so adding a key to vary never reshuffles the others
    return {key: _uniform(rng, config.vary[key]) for key in VARIABLE if key in config.vary}


def render_params(config: DatasetConfig, record: Mapping[str, Any]) -> RenderParams:
    """The render parameters of a sample: the config's, with its varied ones (``record``)."""
    return config.render.model_copy(update={k: record[k] for k in VARIABLE if k in record})


@SOURCES.register("ao2d")
class Ao2dSource(Source):
    name = "ao2d"
    Config = DatasetConfig
    description = "random white-on-black masks → heightfield renders (AO, shadow, Phong)"

    def schema(self, config: DatasetConfig) -> dict[str, Buffer]:
        return dict(SCHEMA)

    def stored(self, config: DatasetConfig) -> list[str]:
        return ["source", "target", *config.buffers]

    def factors(self, config: DatasetConfig, index: int) -> dict[str, Any]:
        return {"mask": index, "noise": index, **sample_params(config, index)}

    def factor_names(self, config: DatasetConfig) -> list[str]:
        """The mask and every parameter in ``vary``."""
        return ["mask", *(k for k in VARIABLE if k in config.vary)]

    def toy_config(self) -> DatasetConfig:
        return self.load_config(
            {
                "count": 8,
                "size": 40,
                "seed": 1,
                "split": {"train": 0.5, "val": 0.25, "test": 0.25},
                "render": {"ao_mode": "taps", "height": 6, "ao_radius": 6, "softness": 0},
                "vary": {"light_azimuth": [0, 360], "height": [4, 8]},
            }
        )

    def record(self, config: DatasetConfig, index: int) -> dict[str, Any]:
        return sample_params(config, index)

    def render(
        self, config: DatasetConfig, factors: Mapping[str, Any], device: str
    ) -> dict[str, np.ndarray]:
        """{'source': (H, W) uint8, 'target': (H, W, 3) uint8, 'ao': (H, W) float32, …}.

        The mask is quantised to 8 bits before rendering, so rendering ``source.png`` again
        gives ``target.png``.
        """
        from neuralshade.render.heightfield import render

        mask_rng = sample_rngs(config.seed, factors["mask"])[0]
        render_seed = sample_rngs(config.seed, factors["noise"])[2]
        source = to_uint8(random_mask(config.size, mask_rng, config.masks))
        result = render(
            source.astype(np.float32) / 255.0,
            render_params(config, factors),
            seed=render_seed,
            device=device,
        ).numpy()
        out = {"source": source, "target": to_uint8(result["beauty"])}
        out.update({b: result[b].astype(np.float32) for b in config.buffers})
        return out

    def vary(
        self, config: DatasetConfig, index: int, factor: str, count: int
    ) -> list[dict[str, Any]]:
        known = self.factor_names(config)
        if factor not in known:
            raise ConfigError(f"ao2d cannot vary {factor!r} alone here; it can vary {known}")
        base = self.factors(config, index)
        rng = np.random.default_rng([config.seed, index, 0xFAC7, known.index(factor)])
        out = [base]
        while len(out) < count:
            if factor == "mask":  # another mask seed, never one of the dataset's samples
                value: Any = config.count + int(rng.integers(2**31))
            else:
                value = _uniform(rng, config.vary[factor])
            if all(f[factor] != value for f in out):
                out.append({**base, factor: value})
        return out

    def derive(
        self,
        config: DatasetConfig,
        name: str,
        record: Mapping[str, Any],
        size: tuple[int, int],
        read: Callable[[str], np.ndarray],
    ) -> np.ndarray:
        values = condition_values(render_params(config, record))[name]
        return np.broadcast_to(values[:, None, None], (len(values), *size))

    def symmetries(
        self, config: DatasetConfig, records: Sequence[Mapping[str, Any]], names: Sequence[str]
    ) -> tuple[Symmetry, ...]:
        light_known = "light" in names and "light_azimuth" in config.vary
        azimuths = sorted({render_params(config, r).light_azimuth for r in records})
        return allowed_symmetries(azimuths, light_known)


def allowed_symmetries(azimuths: Sequence[float], light_known: bool) -> tuple[Symmetry, ...]:
    """The symmetries under which a sample stays a true render.

    light_known: the network is given each sample's light (the "light" input) and the light
    varies per sample, so any turn of it is a new, true sample: all 8. Otherwise only those
    that map every azimuth in ``azimuths`` onto itself (at least the identity).
    """
    if light_known:
        return D4
    return tuple(s for s in D4 if all(s.fixes(a) for a in azimuths))

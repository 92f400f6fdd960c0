"""The shadow source: ARShadowGAN's quintuples, rendered by Mitsuba 3 with exact masks.

A sample is one random scene (:func:`neuralshade.scenes.shadow.random_shadow_scene`: a textured
ground, one to three occluders, an inserted object, a sun or sphere light and a sky), rendered
by :func:`neuralshade.render.mitsuba.shadow.render_quintuple`, and stored as ARShadowGAN's
quintuple plus the object's own shadow:

- ``shadow.png``: the picture with the object and its shadow (the target);
- ``noshadow.png``: the picture without the object, the object's pixels pasted in from the first
  (``noshadow = (1 − mask)·without + mask·with``), as the original constructs it;
- ``mask.png``: the object's visible coverage; ``robject.png``: the occluders';
- ``rshadow.png``: the fraction of the key light the occluders take from each ground pixel;
- ``objshadow.png``: the fraction the object takes on top of that (its shadow, for the local
  metrics).

The pictures are display-referred, as photographs are: both renders are scaled by one exposure
(the render without the object's 99th-percentile luminance → 0.9), through the sRGB curve,
clipped, 8-bit. Symmetries: a left-right mirror of a sample is the sample of the mirrored scene;
quarter turns are not (the ground is below).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import Field, field_validator, model_validator

from neuralshade.config import Settings
from neuralshade.data.augment import D4, Symmetry
from neuralshade.data.schema import Buffer, schema_of
from neuralshade.data.sources import SOURCES, Source, check_split
from neuralshade.errors import ConfigError
from neuralshade.imageio import linear_to_srgb
from neuralshade.scenes.model import BUILTIN_TEXTURES

SCHEMA = schema_of(
    Buffer(name="shadow", channels=3, kind="srgb", file="shadow.png",
           description="the picture with the inserted object and its shadow, sRGB"),
    Buffer(name="noshadow", channels=3, kind="srgb", file="noshadow.png",
           description="the picture without the object's shadow: the render without the "
           "object, its pixels pasted in from the render with it, sRGB"),
    Buffer(name="mask", channels=1, kind="mask", file="mask.png",
           description="the inserted object's visible coverage of each pixel"),
    Buffer(name="robject", channels=1, kind="mask", file="robject.png",
           description="the occluders' (the shapes already there) visible coverage"),
    Buffer(name="rshadow", channels=1, kind="mask", file="rshadow.png",
           description="the fraction of the key light the occluders block on the ground"),
    Buffer(name="objshadow", channels=1, kind="mask", file="objshadow.png",
           description="the fraction of the key light the object blocks on the ground, on "
           "top of the occluders: the inserted object's own shadow"),
)  # fmt: skip


class ShadowConfig(Settings):
    """Everything that determines a shadow dataset's bytes."""

    count: int = Field(8000, ge=1, description="Number of scenes (one view each).")
    size: int = Field(128, ge=8, le=4096, description="Side of the square pictures, pixels.")
    seed: int = Field(0, ge=0, description="Seed of every random choice in the dataset.")
    split: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.8, "val": 0.1, "test": 0.1},
        description="Fractions of scenes per split (sum to 1).",
    )
    occluders: tuple[int, int] = Field(
        (1, 3), description="Least and most occluders (shapes already in the scene)."
    )
    lights: list[str] = Field(
        default_factory=lambda: ["sun", "sphere"],
        description="Key light kinds drawn from: sun (directional, hard shadows), sphere "
        "(an area light: soft shadows).",
    )
    textures: list[str] = Field(
        default_factory=lambda: list(BUILTIN_TEXTURES),
        description=f"Ground textures drawn from: builtins {list(BUILTIN_TEXTURES)} or image "
        "files (sRGB).",
    )
    spp: int = Field(64, ge=1, description="Samples per pixel of the two path-traced renders.")
    max_depth: int = Field(4, ge=1, description="Longest path, in vertices (Mitsuba's).")
    supersample: int = Field(
        4, ge=1, le=16, description="Camera rays per pixel side for the masks (n² per pixel)."
    )
    light_samples: int = Field(
        16, ge=1, description="Shadow rays per camera ray to a sphere light (a sun needs one)."
    )

    @field_validator("lights")
    @classmethod
    def _known_lights(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - {"sun", "sphere"})
        if unknown or not value:
            raise ValueError(f"lights: give some of ['sun', 'sphere'], got {value}")
        return value

    @model_validator(mode="after")
    def _check(self) -> ShadowConfig:
        check_split(self.split)
        lo, hi = self.occluders
        if not 0 <= lo <= hi:
            raise ValueError(f"occluders must be a range 0 <= low <= high, got {(lo, hi)}")
        if not self.textures:
            raise ValueError("textures: give at least one")
        return self


def _seed(*key: int) -> int:
    return int(np.random.SeedSequence(list(key)).generate_state(1)[0])


@SOURCES.register("shadow")
class ShadowSource(Source):
    name = "shadow"
    Config = ShadowConfig
    description = "objects on textured ground, sun or area light → ARShadowGAN's quintuples"

    def schema(self, config: ShadowConfig) -> dict[str, Buffer]:
        return dict(SCHEMA)

    def stored(self, config: ShadowConfig) -> list[str]:
        return list(SCHEMA)

    def factors(self, config: ShadowConfig, index: int) -> dict[str, Any]:
        """Each factor of the scene (:data:`~neuralshade.scenes.shadow.FACTORS`) drawn from
        the stream of ``index``; ``noise``: the renders' sampler."""
        from neuralshade.scenes.shadow import FACTORS

        return {**{f: index for f in FACTORS}, "noise": index}

    def factor_names(self, config: ShadowConfig) -> list[str]:
        from neuralshade.scenes.shadow import FACTORS

        return list(FACTORS)

    def vary(self, config: ShadowConfig, index: int, factor: str, count: int) -> list[dict]:
        known = self.factor_names(config)
        if factor not in known:
            raise ConfigError(f"shadow cannot vary {factor!r}; it can vary {known}")
        base = self.factors(config, index)
        rng = np.random.default_rng([config.seed, index, 0xFAC7, known.index(factor)])
        out = [base]
        while len(out) < count:  # another stream, never one of the dataset's samples
            value = config.count + int(rng.integers(2**31))
            if all(f[factor] != value for f in out):
                out.append({**base, factor: value})
        return out

    def setup(self, config: ShadowConfig, factors: Mapping[str, Any]):
        """The :class:`~neuralshade.scenes.shadow.ShadowScene` of sample ``factors``."""
        from neuralshade.scenes.shadow import FACTORS, random_shadow_scene

        seeds = {f: _seed(config.seed, factors[f], 1) for f in FACTORS}
        return random_shadow_scene(seeds, config.size, tuple(config.occluders), config.lights,
                                   config.textures)  # fmt: skip

    def record(self, config: ShadowConfig, index: int) -> dict[str, Any]:
        """The scene's key light kind, occluders and ground texture."""
        setup = self.setup(config, self.factors(config, index))
        return {
            "light": "sun" if setup.key_light_type == "directional" else "sphere",
            "occluders": len(setup.occluders),
            "texture": setup.scene.materials[setup.ground].texture.image,
        }

    def render(
        self, config: ShadowConfig, factors: Mapping[str, Any], device: str
    ) -> dict[str, np.ndarray]:
        from neuralshade.render.mitsuba.shadow import exposure, render_quintuple

        variant = "cuda_ad_rgb" if str(device).startswith("cuda") else "llvm_ad_rgb"
        q = render_quintuple(
            self.setup(config, factors), spp=config.spp, max_depth=config.max_depth,
            supersample=config.supersample, light_samples=config.light_samples,
            seed=_seed(config.seed, factors["noise"], 2), variant=variant,
        )  # fmt: skip
        k = exposure(q["without_object"])
        with_object = linear_to_srgb(k * q["with_object"])
        without = linear_to_srgb(k * q["without_object"])
        m = q["mask"][:, :, None]
        return {
            "shadow": with_object,
            "noshadow": (1 - m) * without + m * with_object,
            **{n: q[n] for n in ("mask", "robject", "rshadow", "objshadow")},
        }

    def symmetries(
        self, config: ShadowConfig, records: Sequence[Mapping[str, Any]], names: Sequence[str]
    ) -> tuple[Symmetry, ...]:
        return (D4[0], next(s for s in D4 if s.name == "mirror90"))

    def toy_config(self) -> ShadowConfig:
        return self.load_config(
            {"count": 3, "size": 32, "seed": 1, "spp": 2, "supersample": 2, "light_samples": 4,
             "split": {"train": 1 / 3, "val": 1 / 3, "test": 1 / 3}}
        )  # fmt: skip

"""The buffer schema: what a source writes, so that generic code can read and move it.

A :class:`Buffer` names one image-shaped quantity of a sample: its channels, its **kind** (how
it may be transformed and resampled) and where it lives (a file in the sample's folder, or
nothing: a *derived* buffer the source computes from the sample's record, such as a constant
light direction, and from the stored buffers it ``needs``, such as a camera-space normal from
the world-space one and the view's pose). A source's schema is a dict ``{name: Buffer}``;
tasks pick buffers from it by name, the dataset reads and augments them by kind, and nothing
generic needs to know what a buffer means.

Kinds:

- ``srgb``: display-referred colour in [0, 1] (8-bit PNG on disk).
- ``linear``: scene-referred radiance, >= 0, unbounded (OpenEXR or float32 ``.npy``).
- ``mask``: coverage in [0, 1]; moved, never interpolated.
- ``scalar``: a quantity in its natural units (depth, height, a signed distance, AO).
- ``vector``: a direction or displacement. ``image_axes`` says which two channels are its
  components along the image's x (columns, right) and y (rows) and whether y points down the
  rows (``y_down``), so an image symmetry turns them with the pixels; a vector without
  ``image_axes`` (a world-space normal) cannot follow an image symmetry.
- ``id``: integer labels (object or material ids), stored as floats; never interpolated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import Field, model_validator

from neuralshade.config import Settings
from neuralshade.errors import ConfigError

Kind = Literal["srgb", "linear", "mask", "scalar", "vector", "id"]
KINDS: tuple[str, ...] = ("srgb", "linear", "mask", "scalar", "vector", "id")


class Buffer(Settings, frozen=True):
    """One buffer of a sample: (channels, H, W) float32 when read."""

    name: str = Field(..., description="The buffer's name (CNSR's names for 3D buffers).")
    channels: int = Field(..., ge=1, description="Number of channels.")
    kind: Kind = Field(..., description="How it transforms and resamples (see the module).")
    file: str | None = Field(
        None, description="File in the sample folder (.png, .npy, .exr); None: derived."
    )
    description: str = Field("", description="What it holds, with units and space.")
    image_axes: tuple[int, int] | None = Field(
        None, description="vector: channels of the image-x and image-y components."
    )
    y_down: bool = Field(True, description="vector: image-y grows down the rows.")
    needs: tuple[str, ...] = Field(
        (), description="derived: the stored buffers it is computed from."
    )

    @model_validator(mode="after")
    def _check(self) -> Buffer:
        if self.image_axes is not None:
            if self.kind != "vector":
                raise ValueError(f"buffer {self.name!r}: only a vector has image_axes")
            if max(self.image_axes) >= self.channels or len(set(self.image_axes)) != 2:
                raise ValueError(f"buffer {self.name!r}: bad image_axes {self.image_axes}")
        if self.needs and self.file is not None:
            raise ValueError(f"buffer {self.name!r}: only a derived buffer needs others")
        if self.file is not None and not self.file.endswith((".png", ".npy", ".exr")):
            raise ValueError(f"buffer {self.name!r}: unknown file type {self.file!r}")
        return self

    @property
    def derived(self) -> bool:
        """Whether the source computes it rather than storing it."""
        return self.file is None

    @property
    def follows_symmetries(self) -> bool:
        """Whether an image symmetry applied to its pixels (and components) keeps it true."""
        return self.kind != "vector" or self.image_axes is not None


Schema = Mapping[str, Buffer]


def schema_of(*buffers: Buffer) -> dict[str, Buffer]:
    """A schema from buffers; a name given twice is a programming error."""
    out: dict[str, Buffer] = {}
    for b in buffers:
        assert b.name not in out, f"buffer {b.name!r} declared twice"
        out[b.name] = b
    return out


def check_names(schema: Schema, names: str | Sequence[str], what: str) -> tuple[str, ...]:
    """``names`` as a tuple, each a buffer of ``schema``; else ConfigError listing the known."""
    names = (names,) if isinstance(names, str) else tuple(names)
    if not names:
        raise ConfigError(f"{what}: give at least one buffer; known: {list(schema)}")
    unknown = [n for n in names if n not in schema]
    if unknown:
        raise ConfigError(f"{what}: unknown buffer(s) {unknown}; known: {list(schema)}")
    return names


def channels(schema: Schema, names: Sequence[str]) -> int:
    """Channels of the buffers ``names`` concatenated."""
    return sum(schema[n].channels for n in names)

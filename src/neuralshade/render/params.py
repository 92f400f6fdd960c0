"""The ao2d reference render's parameters: plain, validated data, without the renderer.

Kept apart from :mod:`neuralshade.render.heightfield` so that reading or checking them (the
command line's help, a checkpoint's sidecar) does not import torch.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from neuralshade.config import Settings, build

RGB = tuple[float, float, float]


class RenderParams(Settings):
    """Every parameter of the ao2d reference render (lengths in pixels, angles in degrees)."""

    height: float = Field(24.0, gt=0, description="Height of the extruded shapes, in pixels.")
    bevel: float = Field(
        0.0, ge=0, description="Radius rounding the shapes' top edges (0 = sharp)."
    )
    ao_radius: float = Field(24.0, gt=0, description="Distance within which geometry occludes AO.")
    ao_samples: int = Field(64, ge=1, description="AO rays per pixel (per sub-pixel).")
    ao_mode: Literal["auto", "azimuthal", "montecarlo", "taps"] = Field(
        "auto",
        description="AO estimator: 'azimuthal' (sharp edges only), 'montecarlo' (any shape), "
        "'auto' (azimuthal unless bevelled), 'taps' (fast shader approximation).",
    )
    light_azimuth: float = Field(
        135.0, description="Light direction, degrees counter-clockwise from +x on screen."
    )
    light_elevation: float = Field(
        30.0, gt=0, le=90, description="Light elevation above the ground plane, degrees."
    )
    softness: float = Field(
        0.05, ge=0, description="Shadow penumbra: 0 = exact hard shadow, larger = softer."
    )
    supersample: int = Field(1, ge=1, le=8, description="s × s sub-pixel rays per pixel.")
    ambient: float = Field(0.45, ge=0, description="Ambient light intensity (multiplied by AO).")
    diffuse: float = Field(0.9, ge=0, description="Key light diffuse intensity.")
    specular: float = Field(0.25, ge=0, description="Key light specular intensity.")
    shininess: float = Field(24.0, gt=0, description="Phong specular exponent.")
    shape_color: RGB = Field((0.93, 0.91, 0.86), description="Shapes' albedo, sRGB in [0, 1].")
    ground_color: RGB = Field((0.62, 0.45, 0.31), description="Ground's albedo, sRGB in [0, 1].")
    sdf_method: Literal["exact", "dead_reckoning"] = Field(
        "exact", description="2D distance field method: exact or dead_reckoning."
    )
    max_steps: int = Field(256, ge=1, description="Sphere-tracing step limit per ray.")

    @model_validator(mode="after")
    def _check(self) -> RenderParams:
        if self.bevel > self.height:
            raise ValueError(f"bevel ({self.bevel}) must not exceed height ({self.height})")
        if self.ao_mode == "azimuthal" and self.bevel > 0:
            raise ValueError("ao_mode 'azimuthal' needs sharp edges (bevel 0): use 'montecarlo'")
        for name in ("shape_color", "ground_color"):
            if not all(0.0 <= c <= 1.0 for c in getattr(self, name)):
                raise ValueError(f"{name} components must lie in [0, 1]")
        return self

    def resolved_ao_mode(self) -> str:
        """The AO estimator used: 'auto' is 'azimuthal' for sharp edges, else 'montecarlo'."""
        if self.ao_mode == "auto":
            return "azimuthal" if self.bevel == 0 else "montecarlo"
        return self.ao_mode

    def reach(self) -> float:
        """Farthest distance, in pixels, from a shape at which the shape still changes the image.

        The larger of the AO radius and the shadow's length: a shadow ray from the ground
        clears a shape of height h once it is h / tan(e) away, and the penumbra (rays passing
        within softness · t of the top edge, t = h / sin(e) along the ray) adds about
        softness · h / sin²(e).
        """
        e = math.radians(self.light_elevation)
        shadow = self.height / math.tan(e) + self.softness * self.height / math.sin(e) ** 2
        return max(self.ao_radius, shadow)

    def light_direction(self) -> tuple[float, float, float]:
        """Unit vector toward the key light, scene coordinates (x right, y down, z up)."""
        a, e = math.radians(self.light_azimuth), math.radians(self.light_elevation)
        return (math.cos(e) * math.cos(a), -math.cos(e) * math.sin(a), math.sin(e))


def validate_params(values: dict) -> RenderParams:
    """Build RenderParams from user values; unknown keys and bad values raise ConfigError."""
    return build(RenderParams, values, "render parameters")

"""3D scenes as plain data: shapes, materials, lights, cameras and a film, read and written as JSON.

A :class:`Scene` is a pydantic model, so it validates what it is given (unknown keys, NaN and
infinite numbers, a zero-size film, a negative radius, a shape naming a material that is not
there are all refused) and dumps to JSON that reads back to an equal scene and diffs line by
line. Nothing here imports a renderer: :mod:`neuralshade.render.mitsuba.scene_dict` turns a
scene into Mitsuba 3's dict.

Conventions (DESIGN.md): y up, right-handed, metres-like units, angles in degrees. Shapes are
Mitsuba's canonical ones placed by their ``to_world``: ``sphere`` (centre 0, ``radius``),
``cube`` ([-1, 1]³), ``rectangle`` ([-1, 1]² in z = 0, normal +z), ``cylinder`` (open tube of
``radius`` from ``p0`` to ``p1``, no caps) and ``mesh`` (an OBJ or PLY file, or one of the
package's assets). Every shape has an ``id`` (unique in the scene, also its id in the renderer)
and names its material by its key in ``Scene.materials``.

>>> scene = Scene(
...     cameras=[Camera(origin=(0, 1, 3), target=(0, 0, 0))],
...     materials={"red": Material(albedo=(0.8, 0.1, 0.1), roughness=0.5)},
...     shapes=[Sphere(id="ball", material="red")],
...     lights=[ConstantLight(id="sky", radiance=(1, 1, 1))],
... )
>>> Scene.model_validate_json(scene.model_dump_json()) == scene
True
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import AfterValidator, Field, field_validator, model_validator

from neuralshade.config import Settings, build
from neuralshade.errors import ConfigError, InputError

ASSETS = Path(__file__).resolve().parents[1] / "assets"
MESH_SUFFIXES = (".obj", ".ply")

Vec3 = tuple[float, float, float]
Unit = Annotated[float, Field(ge=0, le=1)]
NonNegative = Annotated[float, Field(ge=0)]
Colour = tuple[Unit, Unit, Unit]
Radiance = tuple[NonNegative, NonNegative, NonNegative]
Identifier = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_-]*$",
        description="a letter, then letters, digits, '_' or '-'",
    ),
]


def _nonzero(v: Vec3) -> Vec3:
    if not any(v):
        raise ValueError("must not be the zero vector")
    return v


Direction = Annotated[Vec3, AfterValidator(_nonzero)]


def _unit(v: Vec3) -> np.ndarray:
    a = np.asarray(v, np.float64)
    return a / np.linalg.norm(a)


# ------------------------------------------------------------------------------------------------
# transforms


class Rotation(Settings):
    """A rotation by ``degrees`` about ``axis``, right-handed (counter-clockwise looking down the
    axis towards the origin), as Mitsuba's ``Transform4f.rotate``."""

    axis: Direction = Field(description="rotation axis, any length but zero")
    degrees: float = Field(description="rotation angle in degrees")

    def matrix(self) -> np.ndarray:
        """(3, 3) float64 rotation matrix (Rodrigues' formula)."""
        k = _unit(self.axis)
        theta = math.radians(self.degrees)
        cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
        return (
            math.cos(theta) * np.eye(3)
            + math.sin(theta) * cross
            + (1 - math.cos(theta)) * np.outer(k, k)
        )


class Transform(Settings):
    """An object-to-world transform: ``scale`` first, then each of ``rotate`` in order, then
    ``translate`` (M = T · R_n ⋯ R_1 · S)."""

    translate: Vec3 = Field((0.0, 0.0, 0.0), description="offset in world units")
    rotate: list[Rotation] = Field(default_factory=list, description="rotations, applied in order")
    scale: Vec3 = Field((1.0, 1.0, 1.0), description="scale factor per axis, none zero")

    @field_validator("scale")
    @classmethod
    def _scale_nonzero(cls, v: Vec3) -> Vec3:
        if not all(v):
            raise ValueError(f"every scale factor must be non-zero, got {v}")
        return v

    def matrix(self) -> np.ndarray:
        """(4, 4) float64 object-to-world matrix acting on column vectors (x, y, z, 1)."""
        linear = np.diag(np.asarray(self.scale, np.float64))
        for rotation in self.rotate:
            linear = rotation.matrix() @ linear
        out = np.eye(4)
        out[:3, :3] = linear
        out[:3, 3] = self.translate
        return out


# ------------------------------------------------------------------------------------------------
# materials


BUILTIN_TEXTURES = ("brick", "grass", "gravel", "checker", "noise")
"""Textures every install has: scikit-image's photographs of brick, grass and gravel, and two
procedural ones drawn from the texture's ``seed`` (:mod:`neuralshade.scenes.textures`)."""


class Texture(Settings):
    """An image on a surface's diffuse colour, repeated ``tiles`` times across its UV square
    (a rectangle's [-1, 1]², say): a file (PNG or JPEG, sRGB) or one of
    :data:`BUILTIN_TEXTURES`. The surface's albedo multiplies it, texel by texel, in linear
    light (:func:`neuralshade.scenes.textures.texture_image`)."""

    image: str = Field(description="a builtin name (BUILTIN_TEXTURES) or an image file")
    tiles: float = Field(1.0, gt=0, description="repetitions across the UV square")
    seed: int = Field(0, ge=0, description="the procedural textures' random seed")

    @property
    def builtin(self) -> bool:
        return self.image in BUILTIN_TEXTURES


class Material(Settings):
    """CNSR's material: a blend of a Lambertian lobe of colour ``albedo`` and a white GGX
    microfacet lobe (α = roughness²) with the dielectric Fresnel term of index ``ior``,

        f = (1 − s) · albedo / π + s · F(ior) · D_α · G / (4 cos θ_i cos θ_o),
        s = 1 − (roughness − 0.05) / 0.95,

    two-sided (CNSR's ``material.h``): roughness 1 is pure Lambert, 0.05 pure GGX. How it maps
    onto Mitsuba's plugins, and where that differs, is in
    :func:`neuralshade.render.mitsuba.scene_dict.material_dict`.
    """

    albedo: Colour = Field((1.0, 1.0, 1.0), description="diffuse colour, linear RGB in [0, 1]")
    roughness: float = Field(
        1.0, ge=0.05, le=1.0, description="GGX roughness in [0.05, 1]; alpha = roughness²"
    )
    ior: float = Field(15.0, gt=1.0, description="index of refraction of the Fresnel term")
    index: int = Field(0, ge=0, description="its number in the id buffer (id = index / max)")
    texture: Texture | None = Field(
        None, description="an image the albedo multiplies (None: the albedo alone)"
    )

    @property
    def alpha(self) -> float:
        """The GGX width α = roughness²."""
        return self.roughness**2

    @property
    def specular_weight(self) -> float:
        """s in [0, 1]: the GGX lobe's share; the Lambert lobe has 1 − s."""
        return 1.0 - (self.roughness - 0.05) / 0.95


# ------------------------------------------------------------------------------------------------
# shapes


class _Shape(Settings):
    id: Identifier = Field(description="unique among the scene's shapes and lights")
    material: str = Field(description="key of its material in Scene.materials")
    to_world: Transform = Field(default_factory=Transform, description="object-to-world")


class Sphere(_Shape):
    """Sphere of ``radius`` about the local origin (its to_world may only scale uniformly)."""

    type: Literal["sphere"] = "sphere"
    radius: float = Field(1.0, gt=0, description="radius in local units")

    @model_validator(mode="after")
    def _uniform_scale(self) -> Sphere:
        sx, sy, sz = (abs(s) for s in self.to_world.scale)
        if not (sx == sy == sz):
            raise ValueError(f"sphere {self.id!r}: to_world.scale must be uniform for a sphere")
        return self


class Cube(_Shape):
    """The cube [-1, 1]³."""

    type: Literal["cube"] = "cube"


class Rectangle(_Shape):
    """The square [-1, 1]² in the plane z = 0, facing +z."""

    type: Literal["rectangle"] = "rectangle"


class Cylinder(_Shape):
    """An open tube (no caps) of ``radius`` around the segment ``p0`` → ``p1``."""

    type: Literal["cylinder"] = "cylinder"
    p0: Vec3 = Field((0.0, 0.0, 0.0), description="centre of one end")
    p1: Vec3 = Field((0.0, 0.0, 1.0), description="centre of the other end")
    radius: float = Field(1.0, gt=0, description="radius in local units")

    @model_validator(mode="after")
    def _has_length(self) -> Cylinder:
        if self.p0 == self.p1:
            raise ValueError(f"cylinder {self.id!r}: p0 and p1 must differ")
        return self


class Mesh(_Shape):
    """A triangle mesh from an OBJ or PLY file: ``path`` (absolute, or relative to the working
    folder; :func:`load_scene` makes it absolute relative to the scene file) or ``asset``, a
    path inside the package's ``assets/`` folder (e.g. ``primitive-room/teapot2.obj``), which
    keeps the scene's JSON the same on every machine. Exactly one of the two."""

    type: Literal["mesh"] = "mesh"
    path: str | None = Field(None, description="OBJ or PLY file")
    asset: str | None = Field(None, description="OBJ or PLY file under neuralshade/assets/")

    @model_validator(mode="after")
    def _one_file(self) -> Mesh:
        if (self.path is None) == (self.asset is None):
            raise ValueError(f"mesh {self.id!r}: give exactly one of path and asset")
        if Path(self.file_name).suffix.lower() not in MESH_SUFFIXES:
            raise ValueError(f"mesh {self.id!r}: {self.file_name} is not an .obj or .ply file")
        return self

    @property
    def file_name(self) -> str:
        """``path`` or ``asset``, whichever is set."""
        return self.path if self.path is not None else self.asset  # type: ignore[return-value]

    @property
    def format(self) -> Literal["obj", "ply"]:
        """The file's format, from its suffix."""
        return "obj" if self.file_name.lower().endswith(".obj") else "ply"

    def file(self) -> Path:
        """The mesh file on disk; InputError naming the shape and file if it is not there."""
        path = ASSETS / self.asset if self.asset is not None else Path(self.path)  # type: ignore[arg-type]
        if not path.is_file():
            where = "asset of neuralshade" if self.asset is not None else "file"
            raise InputError(f"mesh {self.id!r}: {where} {self.file_name} not found ({path})")
        return path


Shape = Annotated[Sphere | Cube | Rectangle | Cylinder | Mesh, Field(discriminator="type")]


# ------------------------------------------------------------------------------------------------
# lights


class SphereLight(Settings):
    """A spherical area light of uniform ``radiance`` (it reflects nothing)."""

    type: Literal["sphere"] = "sphere"
    id: Identifier = Field(description="unique among the scene's shapes and lights")
    position: Vec3 = Field(description="centre in world units")
    radius: float = Field(0.125, gt=0, description="radius in world units")
    radiance: Radiance = Field(description="emitted radiance, linear RGB")


class ConstantLight(Settings):
    """A uniform environment of ``radiance`` from every direction."""

    type: Literal["constant"] = "constant"
    id: Identifier = Field(description="unique among the scene's shapes and lights")
    radiance: Radiance = Field(description="radiance, linear RGB")


class EnvmapLight(Settings):
    """An environment map: a latitude-longitude image (EXR/HDR/…), y up, rotated by
    ``to_world``, times ``scale``."""

    type: Literal["envmap"] = "envmap"
    id: Identifier = Field(description="unique among the scene's shapes and lights")
    path: str = Field(description="the image file")
    scale: float = Field(1.0, ge=0, description="factor on the image's values")
    to_world: Transform = Field(default_factory=Transform, description="orientation")

    def file(self) -> Path:
        """The image on disk; InputError naming the light and file if it is not there."""
        if not Path(self.path).is_file():
            raise InputError(f"envmap light {self.id!r}: file {self.path} not found")
        return Path(self.path)


class DirectionalLight(Settings):
    """A light at infinity travelling along ``direction`` with ``irradiance``."""

    type: Literal["directional"] = "directional"
    id: Identifier = Field(description="unique among the scene's shapes and lights")
    direction: Direction = Field(description="the direction the light travels, any length but 0")
    irradiance: Radiance = Field(description="irradiance on a surface facing it, linear RGB")


Light = Annotated[
    SphereLight | ConstantLight | EnvmapLight | DirectionalLight, Field(discriminator="type")
]


# ------------------------------------------------------------------------------------------------
# camera and film


class Camera(Settings):
    """A perspective camera at ``origin`` looking at ``target``; a thin lens when
    ``aperture_radius`` > 0, focused at ``focus_distance`` (default: the distance to target)."""

    origin: Vec3 = Field(description="eye position, world units")
    target: Vec3 = Field(description="point the camera looks at")
    up: Direction = Field((0.0, 1.0, 0.0), description="up direction (not along the view)")
    fov: float = Field(75.0, gt=0, lt=180, description="field of view in degrees along fov_axis")
    fov_axis: Literal["x", "y"] = Field("x", description="image axis the fov spans")
    near: float = Field(0.01, gt=0, description="near clip distance")
    far: float = Field(100.0, gt=0, description="far clip distance, above near")
    aperture_radius: float = Field(0.0, ge=0, description="thin lens radius; 0 = pinhole")
    focus_distance: float | None = Field(None, gt=0, description="in-focus distance")

    @model_validator(mode="after")
    def _check(self) -> Camera:
        view = np.subtract(self.target, self.origin)
        if not view.any():
            raise ValueError("camera origin and target must differ")
        if np.linalg.norm(np.cross(_unit(tuple(view)), _unit(self.up))) < 1e-6:
            raise ValueError("camera up must not be parallel to the view direction")
        if self.far <= self.near:
            raise ValueError(f"camera far ({self.far}) must exceed near ({self.near})")
        return self

    @property
    def focus(self) -> float:
        """The in-focus distance: ``focus_distance``, else the distance from origin to target."""
        if self.focus_distance is not None:
            return self.focus_distance
        return float(np.linalg.norm(np.subtract(self.target, self.origin)))


class Film(Settings):
    """The image size in pixels."""

    width: int = Field(64, gt=0, le=16384, description="image width in pixels")
    height: int = Field(64, gt=0, le=16384, description="image height in pixels")


# ------------------------------------------------------------------------------------------------
# the scene


class Scene(Settings):
    """A whole scene: the views (``cameras``, all on one ``film``), shapes, materials, lights.

    ``lights_hidden`` (CNSR's ``hide_lights``): camera rays pass through area lights, which
    still light the scene; Mitsuba's integrators do this with ``hide_emitters``.
    """

    film: Film = Field(default_factory=Film, description="image size of every view")
    cameras: list[Camera] = Field(min_length=1, description="the views, one camera each")
    shapes: list[Shape] = Field(default_factory=list, description="the geometry")
    materials: dict[Identifier, Material] = Field(
        default_factory=dict, description="materials by name, named by shapes"
    )
    lights: list[Light] = Field(default_factory=list, description="the light sources")
    lights_hidden: bool = Field(False, description="camera rays see through area lights")

    @model_validator(mode="after")
    def _check_references(self) -> Scene:
        ids = [s.id for s in self.shapes] + [light.id for light in self.lights]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"ids used more than once: {', '.join(twice)}")
        for shape in self.shapes:
            if shape.material not in self.materials:
                raise ValueError(
                    f"shape {shape.id!r} names material {shape.material!r}, which is not in "
                    f"materials ({', '.join(self.materials) or 'none'})"
                )
        environments = [x.id for x in self.lights if x.type in ("constant", "envmap")]
        if len(environments) > 1:
            raise ValueError(f"at most one environment light, got {', '.join(environments)}")
        return self


def check_files(scene: Scene) -> None:
    """Raise InputError naming the first mesh or envmap of ``scene`` whose file is missing."""
    for item in [*scene.shapes, *scene.lights]:
        if isinstance(item, (Mesh, EnvmapLight)):
            item.file()


def load_scene(path: str | os.PathLike) -> Scene:
    """Read a scene from a JSON file and check that its mesh and envmap files exist.

    Relative file paths in it are taken relative to the scene file's folder and returned
    absolute. Every problem (missing file, bad JSON, an invalid value, a missing mesh) raises
    InputError naming the file and what is wrong.
    """
    path = Path(path)
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"scene file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read scene file {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"scene file {path} is not valid JSON: {exc}") from None
    try:
        scene = build(Scene, values, f"scene file {path}")
    except ConfigError as exc:
        raise InputError(str(exc)) from None
    scene = _absolute_paths(scene, path.resolve().parent)
    check_files(scene)
    return scene


def _absolute_paths(scene: Scene, base: Path) -> Scene:
    def fix(item):
        if isinstance(item, Mesh) and item.path is not None:
            return item.model_copy(update={"path": str(base / item.path)})
        if isinstance(item, EnvmapLight):
            return item.model_copy(update={"path": str(base / item.path)})
        return item

    return scene.model_copy(
        update={"shapes": [fix(s) for s in scene.shapes], "lights": [fix(x) for x in scene.lights]}
    )


def save_scene(scene: Scene, path: str | os.PathLike) -> None:
    """Write ``scene`` as indented JSON, atomically (OutputError if it cannot be written)."""
    from neuralshade.imageio import write_bytes

    write_bytes(path, (scene.model_dump_json(indent=2) + "\n").encode())


# ------------------------------------------------------------------------------------------------
# what a G-buffer needs from the materials


@dataclass(frozen=True)
class SurfaceTable:
    """The material of each shape, row i for ``shape_ids[i]`` (the scene's order).

    albedo: (N, 3) float32 linear RGB in [0, 1]; roughness: (N,) float32 in [0.05, 1];
    material_index: (N,) int32, each material's ``index``; max_index: the largest ``index``
    of all the scene's materials (used or not), so the id buffer is material_index / max_index.
    """

    shape_ids: tuple[str, ...]
    albedo: np.ndarray
    roughness: np.ndarray
    material_index: np.ndarray
    max_index: int

    def row(self, shape_id: str) -> int:
        """The row of ``shape_id``; KeyError naming the known ids if it is not a shape."""
        try:
            return self.shape_ids.index(shape_id)
        except ValueError:
            raise KeyError(f"no shape {shape_id!r}; shapes: {', '.join(self.shape_ids)}") from None


def surface_table(scene: Scene) -> SurfaceTable:
    """Albedo, roughness and material index per shape id, as the scene's materials say."""
    materials = [scene.materials[s.material] for s in scene.shapes]
    return SurfaceTable(
        shape_ids=tuple(s.id for s in scene.shapes),
        albedo=np.array([m.albedo for m in materials], np.float32).reshape(-1, 3),
        roughness=np.array([m.roughness for m in materials], np.float32),
        material_index=np.array([m.index for m in materials], np.int32),
        max_index=max((m.index for m in scene.materials.values()), default=0),
    )


def surface_ids(table: SurfaceTable) -> dict[str, float] | None:
    """The ``id`` buffer's value per shape id: its material's index / the scene's largest
    (CNSR's id, the same material the same value in every scene that numbers its materials
    alike); None when no material has an index (every index 0), for the renderer to number
    the scene's materials itself."""
    if table.max_index <= 0:
        return None
    values = (table.material_index / table.max_index).tolist()
    return dict(zip(table.shape_ids, values, strict=True))

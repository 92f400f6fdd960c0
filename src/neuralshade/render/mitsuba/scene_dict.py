"""A :class:`~neuralshade.scenes.model.Scene` as a Mitsuba 3 scene dict, for ``mi.load_dict``.

Each shape and light is an entry keyed by its id (so, loaded by :func:`to_mitsuba`,
``shape.id()`` in Mitsuba is the scene's id, and
:func:`~neuralshade.scenes.model.surface_table` gives its albedo and roughness); each camera
is a sensor (``perspective``, or ``thinlens`` with an aperture) in the scene's order, with a
box-filtered ``hdrfilm`` of the scene's film size and an ``independent`` sampler.
Materials are nested in their shapes (see :func:`material_dict`). Lights: a sphere light is a
``sphere`` with an ``area`` emitter and a black ``diffuse`` BSDF; ``constant``, ``envmap`` and
``directional`` are Mitsuba's plugins of those names. A scene whose lights are hidden sets
``hide_emitters`` on the integrator it is given: Mitsuba's integrators then trace camera rays
through area emitters, as CNSR's ``hide_lights`` did.

``import mitsuba`` happens only when a function here is called.
"""

from __future__ import annotations

import sys
from typing import Any

from neuralshade.scenes.model import (
    Camera,
    ConstantLight,
    Cube,
    Cylinder,
    DirectionalLight,
    EnvmapLight,
    Light,
    Material,
    Mesh,
    Rectangle,
    Scene,
    Shape,
    Sphere,
    SphereLight,
    Transform,
)


def get_mitsuba(variant: str | None = None) -> Any:
    """The ``mitsuba`` module: with ``variant`` set, else with the variant already set, else
    with ``llvm_ad_rgb`` (NeuralShadeError saying how to fix it if Mitsuba cannot start)."""
    from neuralshade.render.mitsuba_scene import load_mitsuba

    mi = sys.modules.get("mitsuba")
    if variant is None and mi is not None and mi.variant() is not None:
        return mi
    return load_mitsuba(variant or "llvm_ad_rgb")


def scene_dict(
    scene: Scene,
    *,
    spp: int = 4,
    integrator: dict[str, Any] | None = None,
    variant: str | None = None,
) -> dict[str, Any]:
    """The Mitsuba scene dict of ``scene``: its shapes, lights and one sensor per camera.

    spp: the samplers' sample count (``mi.render(..., spp=n)`` overrides it). integrator: an
    integrator dict to include (e.g. ``{"type": "path", "max_depth": 5}``); without one,
    Mitsuba's default applies and hidden lights show. Mesh and envmap files must exist
    (InputError naming the missing one).

    Load it with :func:`to_mitsuba` (or ``mi.load_dict(..., optimize=False)``) to keep one
    Mitsuba shape per shape.
    """
    mi = get_mitsuba(variant)
    out: dict[str, Any] = {"type": "scene"}
    if integrator is not None:
        out["_integrator"] = {"hide_emitters": scene.lights_hidden, **integrator}
    for i, camera in enumerate(scene.cameras):
        out[f"_camera{i}"] = sensor_dict(mi, camera, scene.film.width, scene.film.height, spp)
    for shape in scene.shapes:
        out[shape.id] = shape_dict(mi, shape, scene.materials[shape.material])
    for light in scene.lights:
        out[light.id] = light_dict(mi, light)
    return out


def to_mitsuba(
    scene: Scene,
    *,
    spp: int = 4,
    integrator: dict[str, Any] | None = None,
    variant: str | None = None,
) -> Any:
    """``scene`` loaded as a ``mi.Scene`` (arguments as :func:`scene_dict`), one Mitsuba shape
    per shape, each with the scene's id.

    It loads with ``optimize=False``: by default Mitsuba's loader merges meshes whose BSDFs
    are equal (the white floor and ceiling, say) into one shape, and their ids are lost.
    """
    mi = get_mitsuba(variant)
    values = scene_dict(scene, spp=spp, integrator=integrator, variant=variant)
    return mi.load_dict(values, optimize=False)


def transform(mi: Any, to_world: Transform) -> Any:
    """``to_world`` as Mitsuba's ScalarTransform4f."""
    return mi.ScalarTransform4f(to_world.matrix())


def _rgb(value) -> dict[str, Any]:
    return {"type": "rgb", "value": list(value)}


def material_dict(material: Material, mi: Any = None) -> dict[str, Any]:
    """CNSR's material as Mitsuba BSDFs:

    ``twosided(blendbsdf(weight=s, diffuse(reflectance=albedo),
    roughconductor(distribution="ggx", alpha=roughness², eta=ior, k=0)))``, with s =
    ``material.specular_weight``; at s = 0 the plain ``diffuse``, at s = 1 the plain
    ``roughconductor``. This is the same sum, term for term, as CNSR's ``evalMat``
    (``material.h``): ``blendbsdf`` is (1 − s)·first + s·second; ``diffuse`` is albedo/π;
    ``roughconductor`` is F·D·G / (4 cos θ_i cos θ_o) with a white specular colour, GGX D of the
    same α, and the conductor Fresnel term, which for k = 0 is exactly the unpolarised
    dielectric Fresnel reflectance at ior (F0 = ((ior − 1)/(ior + 1))² ≈ 0.77 at 15);
    ``twosided`` matches CNSR's use of |cos θ|. A textured material's diffuse reflectance is
    a ``bitmap`` of the albedo × texture texels (linear, ``raw``), repeated ``tiles`` times
    across the shape's UV square (``mi``: the module, needed for the bitmap).

    Deviations: Mitsuba's shadowing-masking term is the separable Smith G1(i)·G1(o), CNSR's
    the height-correlated Smith form, so the GGX lobe is darker here at grazing angles: for
    roughness 0.5 (α = 0.25) with both directions at θ from the normal, by < 0.2 % up to
    θ = 60°, 2.4 % at 75°, 25 % at 85°; at roughness 0.05 by < 0.01 %. Sampling differs
    (Mitsuba samples visible normals), which changes noise, not the expected value. The G-buffer's
    ``albedo`` of a blend is its diffuse part, (1 − s)·albedo; the material's own albedo is in
    :func:`~neuralshade.scenes.model.surface_table`. Roughplastic was not used: it
    layers the Lambert lobe under a Fresnel coating at every roughness, so at ior 15 it would
    be a strong mirror where CNSR's roughness 1 is pure Lambert.
    """
    diffuse = {"type": "diffuse", "reflectance": _reflectance(mi, material)}
    specular = {
        "type": "roughconductor",
        "distribution": "ggx",
        "alpha": material.alpha,
        "eta": material.ior,
        "k": 0.0,
    }
    s = material.specular_weight
    if s <= 0.0:
        inner = diffuse
    elif s >= 1.0:
        inner = specular
    else:
        inner = {"type": "blendbsdf", "weight": s, "diffuse": diffuse, "specular": specular}
    return {"type": "twosided", "material": inner}


def _reflectance(mi: Any, material: Material) -> dict[str, Any]:
    if material.texture is None:
        return _rgb(material.albedo)
    from neuralshade.scenes.textures import texture_image

    assert mi is not None, "a textured material needs the mitsuba module"
    texels = texture_image(material.texture, material.albedo)
    tiles = material.texture.tiles
    return {
        "type": "bitmap",
        "bitmap": mi.Bitmap(texels),
        "raw": True,
        "filter_type": "bilinear",
        "wrap_mode": "repeat",
        "to_uv": mi.ScalarTransform4f().scale([tiles, tiles, 1.0]),
    }


def shape_dict(mi: Any, shape: Shape, material: Material) -> dict[str, Any]:
    """One shape as a Mitsuba shape dict with its material nested."""
    out: dict[str, Any] = {"to_world": transform(mi, shape.to_world)}
    if isinstance(shape, Sphere):
        out |= {"type": "sphere", "radius": shape.radius}
    elif isinstance(shape, Cylinder):
        out |= {"type": "cylinder", "p0": list(shape.p0), "p1": list(shape.p1)}
        out["radius"] = shape.radius
    elif isinstance(shape, Mesh):
        out |= {"type": shape.format, "filename": str(shape.file())}
    else:
        assert isinstance(shape, (Cube, Rectangle)), f"unknown shape type {shape.type}"
        out["type"] = shape.type
    out["bsdf"] = material_dict(material, mi)
    return out


def light_dict(mi: Any, light: Light) -> dict[str, Any]:
    """One light as a Mitsuba emitter (or, for a sphere light, an emitting shape) dict."""
    if isinstance(light, SphereLight):
        return {
            "type": "sphere",
            "center": list(light.position),
            "radius": light.radius,
            "emitter": {"type": "area", "radiance": _rgb(light.radiance)},
            "bsdf": {"type": "diffuse", "reflectance": _rgb((0.0, 0.0, 0.0))},
        }
    if isinstance(light, ConstantLight):
        return {"type": "constant", "radiance": _rgb(light.radiance)}
    if isinstance(light, EnvmapLight):
        return {
            "type": "envmap",
            "filename": str(light.file()),
            "scale": light.scale,
            "to_world": transform(mi, light.to_world),
        }
    assert isinstance(light, DirectionalLight), f"unknown light type {light.type}"
    return {
        "type": "directional",
        "direction": list(light.direction),
        "irradiance": _rgb(light.irradiance),
    }


def sensor_dict(mi: Any, camera: Camera, width: int, height: int, spp: int) -> dict[str, Any]:
    """One camera as a Mitsuba sensor with its film (box filter) and sampler."""
    out: dict[str, Any] = {
        "type": "perspective",
        "fov": camera.fov,
        "fov_axis": camera.fov_axis,
        "near_clip": camera.near,
        "far_clip": camera.far,
        "to_world": mi.ScalarTransform4f().look_at(
            origin=list(camera.origin), target=list(camera.target), up=list(camera.up)
        ),
        "film": {"type": "hdrfilm", "width": width, "height": height, "rfilter": {"type": "box"}},
        "sampler": {"type": "independent", "sample_count": spp},
    }
    if camera.aperture_radius > 0:
        out |= {
            "type": "thinlens",
            "aperture_radius": camera.aperture_radius,
            "focus_distance": camera.focus,
        }
    return out

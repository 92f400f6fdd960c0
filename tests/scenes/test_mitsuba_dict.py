"""Scenes in Mitsuba 3: the dict loads, keeps ids and views, and its material is CNSR's."""

import numpy as np
import pytest

from neuralshade.errors import InputError, NeuralShadeError
from neuralshade.scenes.model import (
    Camera,
    ConstantLight,
    DirectionalLight,
    Film,
    Material,
    Mesh,
    Rectangle,
    Rotation,
    Scene,
    SphereLight,
    Transform,
    surface_table,
)
from neuralshade.scenes.room import random_room

try:
    from neuralshade.render.mitsuba.scene_dict import (
        get_mitsuba,
        material_dict,
        scene_dict,
        to_mitsuba,
        transform,
    )

    mi = get_mitsuba()
except NeuralShadeError as exc:  # no Mitsuba or no usable LLVM on this machine
    pytest.skip(f"Mitsuba unavailable: {exc}", allow_module_level=True)

pytestmark = pytest.mark.mitsuba

PATH = {"type": "path", "max_depth": 5}


def render(scene: Scene, integrator: dict, spp: int, sensor: int = 0) -> np.ndarray:
    return np.array(mi.render(to_mitsuba(scene, integrator=integrator), spp=spp, sensor=sensor))


def plane_scene(albedo, **changes) -> Scene:
    """A Lambertian plane filling a narrow view, under a unit sky."""
    values = {
        "film": Film(width=8, height=8),
        "cameras": [Camera(origin=(0, 0, 2), target=(0, 0, 0), fov=30)],
        "materials": {"paint": Material(albedo=albedo)},
        "shapes": [Rectangle(id="plane", material="paint", to_world=Transform(scale=(3, 3, 1)))],
        "lights": [ConstantLight(id="sky", radiance=(1, 1, 1))],
    }
    return Scene(**(values | changes))


def test_a_room_loads_keeps_its_ids_and_views_and_renders():
    scene = random_room(3, 1, views=2, film=Film(width=16, height=16))
    loaded = to_mitsuba(scene, integrator=PATH)
    ids = {s.id for s in scene.shapes} | {"light"}
    assert sorted(s.id() for s in loaded.shapes()) == sorted(ids)  # one Mitsuba shape each
    for sensor, camera in zip(loaded.sensors(), scene.cameras, strict=True):
        origin = np.array(sensor.world_transform().matrix)[:3, 3].ravel()
        np.testing.assert_allclose(origin, camera.origin, rtol=1e-6)
    image = np.array(mi.render(loaded, spp=4, sensor=1))
    assert image.shape == (16, 16, 3)
    assert np.isfinite(image).all() and image.min() >= 0 and image.mean() > 0.01


def test_transforms_are_mitsubas_own():
    t = Transform(
        translate=(1, -2, 0.5),
        rotate=[Rotation(axis=(1, 2, 3), degrees=40), Rotation(axis=(0, 1, 0), degrees=-70)],
        scale=(2, 0.5, 3),
    )
    theirs = (
        mi.ScalarTransform4f()
        .translate([1, -2, 0.5])
        .rotate([0, 1, 0], -70)
        .rotate(list(np.divide([1, 2, 3], np.sqrt(14))), 40)  # Mitsuba wants a unit axis
        .scale([2, 0.5, 3])
    )
    np.testing.assert_allclose(
        np.array(transform(mi, t).matrix), np.array(theirs.matrix), atol=1e-6
    )


def cnsr_bsdf_cos(material: Material, wi: np.ndarray, wo: np.ndarray) -> np.ndarray:
    """CNSR's evalMat times |cos θ_o| (material.h), with Mitsuba's separable Smith G.

    wi, wo: (N, 3) unit vectors in the local frame (normal +z). Returns (N, 3).
    """
    s, a2, eta = material.specular_weight, material.alpha**2, material.ior
    ci, co = np.abs(wi[:, 2]), np.abs(wo[:, 2])
    h = wi + wo
    h /= np.linalg.norm(h, axis=1, keepdims=True)
    ch = np.abs(h[:, 2])
    d = a2 / (np.pi * (ch**2 * (a2 - 1) + 1) ** 2)
    c = np.abs(np.sum(wi * h, axis=1))
    ct = np.sqrt(1 - (1 - c**2) / eta**2)
    rs = (c - eta * ct) / (c + eta * ct)
    rp = (eta * c - ct) / (eta * c + ct)
    fresnel = 0.5 * (rs**2 + rp**2)

    def g1(cos):
        return 2 * cos / (cos + np.sqrt(a2 + (1 - a2) * cos**2))

    specular = fresnel * d * g1(ci) * g1(co) / (4 * ci * co)
    diffuse = np.asarray(material.albedo) / np.pi
    return ((1 - s) * diffuse[None, :] + s * specular[:, None]) * co[:, None]


@pytest.mark.parametrize("roughness", [1.0, 0.5, 0.05])
def test_the_mitsuba_material_evaluates_to_cnsrs_formula(roughness):
    material = Material(albedo=(0.9, 0.4, 0.1), roughness=roughness)
    bsdf = mi.load_dict(material_dict(material))
    rng = np.random.default_rng(0)

    def directions(n):
        v = rng.normal(size=(n, 3))
        v[:, 2] = np.abs(v[:, 2]) + 0.1  # keep off the horizon
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    wi, wo = directions(256), directions(256)
    if roughness == 0.05:  # a narrow lobe: make half of the pairs near-mirror
        wo[:128] = wi[:128] * [-1, -1, 1] + rng.normal(scale=0.002, size=(128, 3))
        wo /= np.linalg.norm(wo, axis=1, keepdims=True)
    expected = cnsr_bsdf_cos(material, wi, wo)
    for side in (1, -1):  # two-sided: the back face is the same
        si = mi.SurfaceInteraction3f()
        si.sh_frame = mi.Frame3f(mi.Vector3f(0, 0, side))
        si.wi = mi.Vector3f(*(wi * [1, 1, side]).T)
        value = bsdf.eval(mi.BSDFContext(), si, mi.Vector3f(*(wo * [1, 1, side]).T))
        np.testing.assert_allclose(np.array(value).T, expected, rtol=2e-4, atol=1e-6)


def test_a_lambertian_plane_under_a_unit_sky_shows_its_albedo():
    scene = plane_scene((0.2, 0.5, 0.8))
    albedo = surface_table(scene).albedo[0]
    aov = render(scene, {"type": "aov", "aovs": "albedo:albedo"}, spp=4)
    np.testing.assert_allclose(aov, np.broadcast_to(albedo, aov.shape), atol=1e-6)
    shaded = render(scene, PATH, spp=64)  # radiance = albedo × the sky, seen whole
    np.testing.assert_allclose(shaded.mean(axis=(0, 1)), albedo, rtol=0.02)


def test_hidden_lights_are_seen_through_and_still_light_the_scene():
    # the sun comes in at 45°, so that the lamp's shadow falls outside the view
    sun = DirectionalLight(id="sun", direction=(-1, 0, -1), irradiance=(np.pi,) * 3)
    lamp = SphereLight(id="lamp", position=(0, 0, 1), radius=0.1, radiance=(35, 35, 35))
    base = plane_scene((0.5, 0.5, 0.5), lights=[sun, lamp])
    seen = render(base, PATH, spp=32)
    hidden = render(base.model_copy(update={"lights_hidden": True}), PATH, spp=32)
    assert seen[3:5, 3:5].min() == pytest.approx(35)  # the lamp (5.7° wide), straight ahead
    # behind it: the plane, lit by the sun (radiance 0.5 cos 45°) and the lamp above it (≈ 0.17)
    lamp_below = 0.5 * 35 * 0.1**2 * 0.98  # albedo/π · L π (r/d)², × cos³ at the pixels' edge
    np.testing.assert_allclose(hidden[3:5, 3:5].mean(), 0.5 / 2**0.5 + lamp_below, rtol=0.05)
    np.testing.assert_allclose(hidden[0], seen[0], rtol=1e-5)  # away from it, the same


def test_cameras_with_an_aperture_are_thin_lenses():
    lens = Camera(origin=(0, 0, 2), target=(0, 0, 0), aperture_radius=0.1)
    values = scene_dict(plane_scene((1, 1, 1), cameras=[lens]))
    sensor = values["_camera0"]
    assert sensor["type"] == "thinlens" and sensor["focus_distance"] == pytest.approx(2.0)
    assert str(mi.load_dict(values, optimize=False).sensors()[0]).startswith("ThinLensCamera")


def test_a_mesh_file_that_is_missing_is_an_input_error(tmp_path):
    scene = plane_scene((1, 1, 1))
    ghost = Mesh(id="ghost", material="paint", path=str(tmp_path / "ghost.ply"))
    with pytest.raises(InputError, match="ghost.ply"):
        scene_dict(scene.model_copy(update={"shapes": [*scene.shapes, ghost]}))

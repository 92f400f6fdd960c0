"""The shadow quintuple's exact maps against geometry worked out by hand, and against each other."""

import math

import numpy as np
import pytest

from neuralshade.errors import NeuralShadeError

try:
    from neuralshade.render.mitsuba_scene import load_mitsuba

    mi = load_mitsuba()
except NeuralShadeError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"Mitsuba unavailable: {exc}", allow_module_level=True)

from neuralshade.render.mitsuba.gbuffer import render_gbuffers  # noqa: E402
from neuralshade.render.mitsuba.scene_dict import to_mitsuba  # noqa: E402
from neuralshade.render.mitsuba.shadow import render_quintuple, shadow_maps  # noqa: E402
from neuralshade.scenes.model import (  # noqa: E402
    Camera,
    ConstantLight,
    DirectionalLight,
    Film,
    Material,
    Rectangle,
    Rotation,
    Scene,
    Sphere,
    SphereLight,
    Texture,
    Transform,
)
from neuralshade.scenes.shadow import ShadowScene, random_shadow_scene  # noqa: E402

pytestmark = pytest.mark.mitsuba

SIZE, FOV, HEIGHT = 48, 40.0, 10.0
R, CENTRE_Y = 0.5, 1.0  # the occluder: a ball of radius R floating at height CENTRE_Y
SUN = (-1.0, -1.0, 0.0)  # travels toward -x and down, 45°: the ball's shadow centre is at x = -1


def setup(key, occluder=(0.0, 0.0), obj=(2.0, 1.5), swap=False) -> ShadowScene:
    materials = {n: Material(albedo=(0.5, 0.5, 0.5)) for n in ("ground", "occ", "obj")}
    shapes = [
        Rectangle(id="ground", material="ground", to_world=Transform(
            rotate=[Rotation(axis=(1, 0, 0), degrees=-90.0)], scale=(20.0, 20.0, 1.0))),
        Sphere(id="occ", material="occ", radius=R,
               to_world=Transform(translate=(occluder[0], CENTRE_Y, occluder[1]))),
        Sphere(id="obj", material="obj", radius=0.3,
               to_world=Transform(translate=(obj[0], 0.6, obj[1]))),
    ]  # fmt: skip
    camera = Camera(origin=(0.0, HEIGHT, 0.0), target=(0.0, 0.0, 0.0), up=(0.0, 0.0, -1.0),
                    fov=FOV)  # fmt: skip
    scene = Scene(film=Film(width=SIZE, height=SIZE), cameras=[camera], shapes=shapes,
                  materials=materials, lights=[key, ConstantLight(id="sky", radiance=(0.2,) * 3)],
                  lights_hidden=True)  # fmt: skip
    occ, obj = ("obj", "occ") if swap else ("occ", "obj")
    return ShadowScene(scene=scene, ground="ground", occluders=[occ], object=obj)


def sun():
    return DirectionalLight(id="key", direction=SUN, irradiance=(3.0, 3.0, 3.0))


def ground_position(s: ShadowScene) -> np.ndarray:
    """(H, W, 3) world position of each pixel, from the G-buffer integrator (independent)."""
    loaded = to_mitsuba(s.scene, variant="llvm_ad_rgb")
    return render_gbuffers(loaded, spp=16, buffers=["position"])["position"]


def test_a_suns_shadow_of_a_ball_is_the_ellipse_worked_out_by_hand():
    s = setup(sun())
    maps = shadow_maps(s, supersample=3)
    p = ground_position(s)
    # the ball's shadow on the ground: centre x = -CENTRE_Y (45°), semi-axes R/sin 45° along x, R
    inside = ((p[..., 0] + CENTRE_Y) / (R * math.sqrt(2))) ** 2 + (p[..., 2] / R) ** 2
    seen = (maps["robject"] == 0) & (maps["mask"] == 0)
    clear_in, clear_out = seen & (inside < 0.7), seen & (inside > 1.4)
    assert clear_in.sum() > 20 and clear_out.sum() > 1000
    assert np.all(maps["rshadow"][clear_in] == 1.0)
    assert np.all(maps["rshadow"][clear_out] == 0.0)
    # the object is far from the ball's shadow: its own shadow is elsewhere, and it is there
    assert maps["objshadow"].sum() > 5 and np.all(maps["objshadow"][clear_in] == 0.0)


def test_the_coverage_of_a_ball_seen_from_above_is_its_disc():
    maps = shadow_maps(setup(sun()), supersample=4)
    distance = HEIGHT - CENTRE_Y
    pixels = math.tan(math.asin(R / distance)) / math.tan(math.radians(FOV / 2)) * SIZE / 2
    assert maps["robject"].sum() == pytest.approx(math.pi * pixels**2, rel=0.03)
    assert set(np.unique(maps["robject"])) <= set(np.arange(17) / 16)


def test_blocked_fractions_add_up_whoever_is_called_the_object():
    # the total the two block is 1 - E(both)/E(none) either way; apart, each one's own shadow
    # is the same map under either name
    for key in (sun(), SphereLight(id="key", position=(6.0, 6.0, 0.5), radius=1.0,
                                   radiance=(10.0,) * 3)):  # fmt: skip
        for obj in ((2.0, 1.5), (-0.8, 0.3)):  # apart; then in the ball's shadow
            a = shadow_maps(setup(key, obj=obj), supersample=2, light_samples=16)
            b = shadow_maps(setup(key, obj=obj, swap=True), supersample=2, light_samples=16)
            np.testing.assert_allclose(a["rshadow"] + a["objshadow"],
                                       b["rshadow"] + b["objshadow"], atol=1e-5)  # fmt: skip
            if obj == (2.0, 1.5):
                np.testing.assert_allclose(a["objshadow"], b["rshadow"], atol=1e-5)
            else:  # hiding in the ball's shadow, the object adds less than it casts alone
                assert a["objshadow"].sum() < b["rshadow"].sum() - 1


def test_a_sphere_light_casts_a_penumbra_and_shrinks_to_the_sun():
    far = 1000.0
    direction = -np.asarray(SUN) / np.linalg.norm(SUN)
    tiny = SphereLight(id="key", position=tuple(far * direction), radius=0.01,
                       radiance=(1.0,) * 3)  # fmt: skip
    big = SphereLight(id="key", position=tuple(8 * direction), radius=2.0, radiance=(1.0,) * 3)
    hard = shadow_maps(setup(sun()), supersample=2)["rshadow"]
    point = shadow_maps(setup(tiny), supersample=2, light_samples=4)["rshadow"]
    soft = shadow_maps(setup(big), supersample=2, light_samples=64)["rshadow"]
    assert np.abs(point - hard).mean() < 1e-3
    penumbra = (soft > 0.05) & (soft < 0.95)
    assert penumbra.sum() > 2 * ((hard > 0.05) & (hard < 0.95)).sum()
    assert (soft >= 0.999).sum() < (hard >= 0.999).sum()


def test_the_renders_differ_where_the_object_and_its_shadow_are():
    s = setup(sun(), obj=(2.0, 1.5))
    q = render_quintuple(s, spp=8, supersample=2)
    diff = np.abs(q["with_object"] - q["without_object"]).mean(axis=2)
    shadow = (q["objshadow"] > 0.99) & (q["mask"] == 0)
    away = (q["objshadow"] == 0) & (q["mask"] == 0) & (q["rshadow"] == 0)
    assert shadow.sum() > 5
    assert np.all(q["with_object"].mean(axis=2)[shadow] < q["without_object"].mean(axis=2)[shadow])
    assert diff[away].mean() < 0.2 * diff[shadow].mean()


def test_a_textured_ground_is_its_albedo_times_the_texels():
    from neuralshade.scenes.textures import texture_image

    s = setup(sun())
    texture = Texture(image="checker", tiles=4, seed=3)
    ground = s.scene.materials["ground"].model_copy(update={"texture": texture})
    textured = s.scene.model_copy(update={"materials": {**s.scene.materials, "ground": ground}})
    plain = render_quintuple(s, spp=32, supersample=1)
    checker = render_quintuple(s.model_copy(update={"scene": textured}), spp=32, supersample=1)
    lit = (plain["rshadow"] == 0) & (plain["objshadow"] == 0) & (plain["robject"] == 0) \
        & (plain["mask"] == 0)
    # the same light falls on both grounds: the ratio of the renders is the texel under the pixel
    ratio = checker["without_object"][lit] / plain["without_object"][lit]  # (P, 3)
    texels = texture_image(texture)
    colours = np.unique(texels.reshape(-1, 3), axis=0)
    assert len(colours) == 2
    near = [np.all(np.abs(ratio / c - 1) < 0.25, axis=1) for c in colours]
    assert near[0].mean() > 0.2 and near[1].mean() > 0.2
    assert (near[0] | near[1]).mean() > 0.8


def test_random_scenes_are_valid_and_the_same_for_the_same_seed():
    a, b = random_shadow_scene(7, 32), random_shadow_scene(7, 32)
    assert a == b and a != random_shadow_scene(8, 32)
    for seed in range(20):
        s = random_shadow_scene(seed, 32, occluders=(1, 3))
        assert 1 <= len(s.occluders) <= 3 and s.object == "object"
        feet = [x.to_world.translate for x in s.scene.shapes if x.id != "ground"]
        for i, p in enumerate(feet):  # nothing overlaps
            for q in feet[i + 1:]:
                assert math.hypot(p[0] - q[0], p[2] - q[2]) > 0.3

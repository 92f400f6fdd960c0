"""The PrimitiveRoom randomiser: CNSR's distributions, seeded streams, one factor at a time."""

import colorsys
import itertools
import json
import math

import numpy as np
import pytest

from neuralshade.errors import ConfigError
from neuralshade.scenes.model import ASSETS, Film, Mesh, Scene, Sphere, SphereLight
from neuralshade.scenes.room import (
    FACTORS,
    MIN_SEPARATION,
    OBJECTS,
    factor_varied_rooms,
    random_room,
)

DRAWS = 300
OBJECT_NAMES = [name for name, *_ in OBJECTS]
# the part of a scene's JSON each factor owns; cameras and film belong to none
OWNED = {"lighting": "lights", "geometry": "shapes", "material": "materials"}


@pytest.fixture(scope="module")
def rooms() -> list[Scene]:
    return [random_room(seed=5, index=i, views=2) for i in range(DRAWS)]


def objects(scene: Scene):
    return [s for s in scene.shapes if s.id in OBJECT_NAMES]


def test_the_same_seed_and_index_give_the_same_bytes():
    assert random_room(1, 2, 3).model_dump_json() == random_room(1, 2, 3).model_dump_json()
    assert random_room(1, 2).model_dump_json() != random_room(1, 3).model_dump_json()
    assert random_room(1, 2).model_dump_json() != random_room(2, 2).model_dump_json()


def test_a_room_round_trips_through_json():
    scene = random_room(0, 0, views=4, film=Film(width=32, height=24))
    assert Scene.model_validate_json(scene.model_dump_json()) == scene
    assert (scene.film.width, scene.film.height, len(scene.cameras)) == (32, 24, 4)


def test_each_object_is_present_about_half_the_time(rooms):
    for name in OBJECT_NAMES:
        present = sum(any(s.id == name for s in objects(r)) for r in rooms)
        # p = 0.5, less the few left out after 5 failed tries
        assert 0.35 * DRAWS < present < 0.58 * DRAWS, (name, present)


def test_objects_stand_apart_in_range_turned_about_y_on_the_floor(rooms):
    for room in rooms:
        xz = []
        for shape in objects(room):
            t = shape.to_world
            assert [r.axis for r in t.rotate] == [(0, 1, 0)] and 0 <= t.rotate[0].degrees < 360
            assert -2.25 <= t.translate[0] <= 2.25 and -2.25 <= t.translate[2] <= 2.25
            xz.append((t.translate[0], t.translate[2]))
        for a, b in itertools.combinations(xz, 2):
            assert math.dist(a, b) >= MIN_SEPARATION


def lowest_y(shape) -> float:
    """The lowest world y of a placed object, from its mesh file's vertices or its radius."""
    if isinstance(shape, Sphere):
        return shape.to_world.translate[1] - shape.radius
    lines = shape.file().read_text().splitlines()
    v = np.array([[float(x) for x in ln.split()[1:4]] for ln in lines if ln.startswith("v ")])
    world = (shape.to_world.matrix() @ np.c_[v, np.ones(len(v))].T).T
    return float(world[:, 1].min())


def test_every_object_rests_on_the_floor():
    seen = set()
    for index in range(40):
        room = random_room(7, index)
        for shape in objects(room):
            assert lowest_y(shape) == pytest.approx(-0.5, abs=1e-6), shape.id
            seen.add(shape.id)
    assert seen == set(OBJECT_NAMES)
    for _name, asset, *_ in OBJECTS:
        assert asset is None or (ASSETS / asset).is_file()
    assert (ASSETS / "primitive-room" / "LICENSE").read_text().count("Jonathan Granskog") == 1


def test_the_room_is_six_by_six_by_three_and_faces_inwards():
    room = random_room(0, 0)
    panels = {s.id: s for s in room.shapes if s.type == "rectangle"}
    assert set(panels) == {"floor", "ceiling", "back-wall", "front-wall", "left-wall", "right-wall"}
    corners = np.array([[-1, -1, 0, 1], [1, 1, 0, 1]]).T
    for panel in panels.values():
        m = panel.to_world.matrix()
        lo, hi = np.sort((m @ corners)[:3], axis=1).T
        centre = (lo + hi) / 2
        normal = m[:3, :3] @ [0, 0, 1]
        assert np.dot(normal, [0, 1, 0] - centre) > 0, panel.id  # faces the room's middle
        extent = sorted(hi - lo)
        expected = [0, 6, 6] if panel.id in ("floor", "ceiling") else [0, 3, 6]
        np.testing.assert_allclose(extent, expected, atol=1e-9)
    assert panels["floor"].to_world.translate[1] == -0.5
    assert panels["ceiling"].to_world.translate[1] == 2.5


def test_colours_and_roughness_follow_cnsr(rooms):
    roughness = []
    for room in rooms:
        m = room.materials
        assert m["floor"].albedo == m["ceiling"].albedo == (1.0, 1.0, 1.0)
        for name in ["back-wall", "front-wall", "left-wall", "right-wall", *OBJECT_NAMES]:
            _, s, v = colorsys.rgb_to_hsv(*m[name].albedo)
            assert s == pytest.approx(1) and v == pytest.approx(1), name
        assert all(m[w].roughness == 1.0 for w in ("floor", "ceiling", "back-wall"))
        roughness += [m[name].roughness for name in OBJECT_NAMES]
    values, counts = np.unique(roughness, return_counts=True)
    np.testing.assert_array_equal(values, [0.05, 0.5, 1.0])
    np.testing.assert_allclose(counts / len(roughness), [0.34, 0.33, 0.33], atol=0.04)
    hues = [colorsys.rgb_to_hsv(*r.materials["sphere"].albedo)[0] for r in rooms]
    assert np.histogram(hues, bins=4, range=(0, 1))[0].min() > DRAWS / 4 * 0.7
    assert {m.index for m in rooms[0].materials.values()} == {0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11}


def test_one_hidden_sphere_light_in_its_box(rooms):
    for room in rooms:
        assert room.lights_hidden
        (light,) = room.lights
        assert isinstance(light, SphereLight)
        assert light.radius == 0.125 and light.radiance == (35.0, 35.0, 35.0)
        x, y, z = light.position
        assert -2.25 <= x <= 2.25 and 1 <= y <= 1.85 and -2.25 <= z <= 2.25
    heights = [r.lights[0].position[1] for r in rooms]
    assert min(heights) < 1.1 and max(heights) > 1.75


def test_cameras_circle_the_room_and_look_into_its_corner(rooms):
    distances = []
    for camera in (c for r in rooms for c in r.cameras):
        x, y, z = camera.origin
        distances.append(math.hypot(x, z))
        assert 1.5 <= distances[-1] <= 3 and 1 <= y <= 2
        tx, ty, tz = camera.target
        assert 0 <= tx <= 1 and 0 <= ty <= 2 and 0 <= tz <= 1
        assert camera.fov == 75 and camera.aperture_radius == 0
    assert min(distances) < 1.6 and max(distances) > 2.9
    assert rooms[0].cameras[0] != rooms[0].cameras[1]  # each view its own draw


@pytest.mark.parametrize("factor", FACTORS)
def test_varying_one_factor_leaves_everything_else_bit_identical(factor):
    scenes = factor_varied_rooms(11, 4, factor, count=5, views=3)
    assert scenes[0] == random_room(11, 4, views=3)
    dumps = [json.loads(s.model_dump_json()) for s in scenes]
    for key in dumps[0]:
        values = {json.dumps(d[key]) for d in dumps}
        if key == OWNED[factor]:
            assert len(values) == len(scenes), key  # each member a new draw
        else:
            assert len(values) == 1, key
    assert factor_varied_rooms(11, 4, factor, count=5, views=3) == scenes


def test_the_material_stream_does_not_depend_on_which_objects_are_present():
    varied = factor_varied_rooms(3, 0, "geometry", count=6)
    present = {tuple(s.id for s in objects(r)) for r in varied}
    assert len(present) > 1  # the geometry did change what is there
    assert all(r.materials == varied[0].materials for r in varied)


def test_meshes_are_referenced_as_assets_so_the_json_is_portable():
    room = random_room(0, 1)
    for shape in room.shapes:
        if isinstance(shape, Mesh):
            assert shape.path is None and shape.asset.startswith("primitive-room/")


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: random_room(-1, 0), "seed"),
        (lambda: random_room(0, 1.5), "index"),
        (lambda: random_room(0, 0, views=0), "views"),
        (lambda: factor_varied_rooms(0, 0, "colour", 2), "lighting, geometry, material"),
        (lambda: factor_varied_rooms(0, 0, "material", 0), "count"),
    ],
)
def test_bad_arguments_are_config_errors_naming_them(call, match):
    with pytest.raises(ConfigError, match=match):
        call()

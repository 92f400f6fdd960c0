"""Scenes as plain data: transforms, validation, JSON files and the material table."""

import json
import math

import numpy as np
import pytest
from pydantic import ValidationError

from neuralshade.errors import InputError
from neuralshade.scenes.model import (
    Camera,
    ConstantLight,
    Cube,
    Cylinder,
    DirectionalLight,
    EnvmapLight,
    Material,
    Mesh,
    Rotation,
    Scene,
    Sphere,
    SphereLight,
    Transform,
    check_files,
    load_scene,
    save_scene,
    surface_table,
)

CAMERA = {"origin": [0, 1, 3], "target": [0, 0, 0]}


def small_scene(**changes) -> Scene:
    values = {
        "cameras": [CAMERA],
        "materials": {
            "red": {"albedo": [0.8, 0.1, 0.1], "roughness": 0.5, "index": 3},
            "grey": {"albedo": [0.5, 0.5, 0.5], "index": 1},
            "unused": {"index": 7},
        },
        "shapes": [
            {"type": "sphere", "id": "ball", "material": "red", "radius": 0.5},
            {"type": "cube", "id": "box", "material": "grey"},
            {"type": "mesh", "id": "pot", "material": "red", "asset": "primitive-room/teapot2.obj"},
        ],
        "lights": [{"type": "sphere", "id": "lamp", "position": [0, 2, 0], "radiance": [9] * 3}],
    }
    return Scene.model_validate(values | changes)


def test_rotation_is_right_handed_as_mitsuba_and_rodrigues():
    about_y = Rotation(axis=(0, 2, 0), degrees=90).matrix()
    np.testing.assert_allclose(about_y @ [0, 0, 1], [1, 0, 0], atol=1e-12)  # z → x about +y
    np.testing.assert_allclose(about_y @ [1, 0, 0], [0, 0, -1], atol=1e-12)
    about_x = Rotation(axis=(1, 0, 0), degrees=-90).matrix()
    np.testing.assert_allclose(about_x @ [0, 0, 1], [0, 1, 0], atol=1e-12)
    r = Rotation(axis=(1, 2, 3), degrees=37).matrix()
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    axis = np.array([1, 2, 3]) / math.sqrt(14)
    np.testing.assert_allclose(r @ axis, axis, atol=1e-12)  # the axis stays put
    assert np.trace(r) == pytest.approx(1 + 2 * math.cos(math.radians(37)))


def test_transform_scales_then_rotates_in_order_then_translates():
    t = Transform(
        translate=(1, 2, 3),
        rotate=[Rotation(axis=(0, 1, 0), degrees=90), Rotation(axis=(1, 0, 0), degrees=90)],
        scale=(2, 1, 1),
    )
    # (1, 0, 0) → scale (2, 0, 0) → about y (0, 0, −2) → about x (0, 2, 0) → + (1, 2, 3)
    np.testing.assert_allclose(t.matrix() @ [1, 0, 0, 1], [1, 4, 3, 1], atol=1e-12)
    np.testing.assert_array_equal(Transform().matrix(), np.eye(4))


def test_scene_json_round_trips_exactly(tmp_path):
    scene = small_scene()
    assert Scene.model_validate_json(scene.model_dump_json()) == scene
    path = tmp_path / "scene.json"
    save_scene(scene, path)
    assert load_scene(path) == scene
    assert json.loads(path.read_text())["shapes"][0]["type"] == "sphere"


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"film": {"width": 0, "height": 8}}, "film.width"),
        ({"cameras": []}, "cameras"),
        ({"cameras": [{"origin": [0, 0, float("nan")], "target": [1, 0, 0]}]}, "origin"),
        ({"cameras": [{"origin": [0, 0, 0], "target": [0, 0, 0]}]}, "origin and target"),
        ({"cameras": [{"origin": [0, 0, 0], "target": [0, 2, 0]}]}, "up"),
        ({"cameras": [CAMERA | {"near": 2.0, "far": 1.0}]}, "far"),
        ({"shapes": [{"type": "sphere", "id": "a", "material": "red", "radius": -1}]}, "radius"),
        ({"shapes": [{"type": "cube", "id": "a", "material": "gold"}]}, "'gold'"),
        ({"shapes": [{"type": "cube", "id": "lamp", "material": "red"}]}, "lamp"),
        ({"shapes": [{"type": "cube", "id": "2x", "material": "red"}]}, "shapes.0.cube.id"),
        ({"shapes": [{"type": "torus", "id": "a", "material": "red"}]}, "torus"),
        ({"shapes": [{"type": "cube", "id": "a", "material": "red", "size": 1}]}, "size"),
        ({"shapes": [{"type": "mesh", "id": "m", "material": "red", "path": "m.stl"}]}, "m.stl"),
        ({"shapes": [{"type": "mesh", "id": "m", "material": "red"}]}, "exactly one"),
        ({"materials": {"red": {"albedo": [1.5, 0, 0]}}}, "albedo"),
        ({"materials": {"red": {"roughness": 0.0}}}, "roughness"),
        ({"lights": [{"type": "sphere", "id": "l", "position": [0, 0, 0], "radiance": [-1] * 3}]},
         "radiance"),
        ({"lights": [{"type": "constant", "id": "a", "radiance": [1] * 3},
                     {"type": "constant", "id": "b", "radiance": [1] * 3}]}, "environment"),
    ],
)  # fmt: skip
def test_invalid_scenes_are_refused_naming_the_problem(change, key):
    with pytest.raises(ValidationError, match=key):
        small_scene(**change)


def test_non_uniform_scale_of_a_sphere_and_a_zero_axis_are_refused():
    with pytest.raises(ValidationError, match="uniform"):
        Sphere(id="s", material="m", to_world=Transform(scale=(1, 2, 1)))
    with pytest.raises(ValidationError, match="zero vector"):
        Rotation(axis=(0, 0, 0), degrees=3)
    with pytest.raises(ValidationError, match="zero vector"):
        DirectionalLight(id="sun", direction=(0, 0, 0), irradiance=(1, 1, 1))
    with pytest.raises(ValidationError, match="differ"):
        Cylinder(id="c", material="m", p0=(1, 1, 1), p1=(1, 1, 1))


def test_a_missing_mesh_or_envmap_file_is_an_input_error_naming_it(tmp_path):
    scene = small_scene()
    missing = Mesh(id="ghost", material="red", path=str(tmp_path / "ghost.obj"))
    with pytest.raises(InputError, match="mesh 'ghost'.*ghost.obj"):
        check_files(scene.model_copy(update={"shapes": [*scene.shapes, missing]}))
    asset = Mesh(id="ghost", material="red", asset="primitive-room/nothing.obj")
    with pytest.raises(InputError, match="asset of neuralshade primitive-room/nothing.obj"):
        asset.file()
    sky = EnvmapLight(id="sky", path=str(tmp_path / "sky.exr"))
    with pytest.raises(InputError, match="envmap light 'sky'.*sky.exr"):
        sky.file()


def test_load_scene_names_the_file_and_resolves_paths_beside_it(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_scene(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputError, match="bad.json is not valid JSON"):
        load_scene(tmp_path / "bad.json")
    (tmp_path / "zero.json").write_text(json.dumps({"cameras": [CAMERA], "film": {"width": 0}}))
    with pytest.raises(InputError, match=r"zero.json: film.width"):
        load_scene(tmp_path / "zero.json")
    values = json.loads(small_scene().model_dump_json())
    values["shapes"].append({"type": "mesh", "id": "own", "material": "red", "path": "own.obj"})
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "scene.json").write_text(json.dumps(values))
    with pytest.raises(InputError, match="mesh 'own'"):
        load_scene(tmp_path / "sub" / "scene.json")
    (tmp_path / "sub" / "own.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    loaded = load_scene(tmp_path / "sub" / "scene.json")
    assert loaded.shapes[-1].path == str(tmp_path / "sub" / "own.obj")


def test_surface_table_gives_each_shape_its_materials_albedo_and_roughness():
    table = surface_table(small_scene())
    assert table.shape_ids == ("ball", "box", "pot")
    np.testing.assert_array_equal(
        table.albedo, np.array([[0.8, 0.1, 0.1], [0.5, 0.5, 0.5], [0.8, 0.1, 0.1]], np.float32)
    )
    np.testing.assert_array_equal(table.roughness, np.array([0.5, 1.0, 0.5], np.float32))
    np.testing.assert_array_equal(table.material_index, [3, 1, 3])
    assert table.max_index == 7  # over every material, used or not
    assert table.row("box") == 1
    with pytest.raises(KeyError, match="ball, box, pot"):
        table.row("lamp")


def test_material_weights_span_cnsr_lambert_to_ggx():
    assert Material(roughness=1.0).specular_weight == 0.0
    assert Material(roughness=0.05).specular_weight == pytest.approx(1.0)
    assert Material(roughness=0.5).specular_weight == pytest.approx(1 - 0.45 / 0.95)
    assert Material(roughness=0.5).alpha == 0.25


def test_a_thin_lens_focuses_at_the_target_unless_told_otherwise():
    assert Camera(origin=(0, 0, 0), target=(3, 4, 0)).focus == pytest.approx(5.0)
    assert Camera(origin=(0, 0, 0), target=(3, 4, 0), focus_distance=2.0).focus == 2.0


def test_every_light_and_shape_type_validates_from_its_json():
    scene = small_scene(
        shapes=[
            Cube(id="c", material="red"),
            Cylinder(id="t", material="red", radius=0.2),
            {"type": "rectangle", "id": "r", "material": "red"},
        ],
        lights=[
            SphereLight(id="s", position=(0, 1, 0), radiance=(1, 2, 3)),
            ConstantLight(id="k", radiance=(0.1, 0.1, 0.1)),
            DirectionalLight(id="d", direction=(0, -1, 0), irradiance=(3, 3, 3)),
        ],
    )
    assert [s.type for s in scene.shapes] == ["cube", "cylinder", "rectangle"]
    assert Scene.model_validate_json(scene.model_dump_json()) == scene

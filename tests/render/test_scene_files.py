"""``neuralshade render SCENE``: Mitsuba XML and scene JSON files to a folder of G-buffers."""

import hashlib
import inspect
import json
from pathlib import Path

import numpy as np
import pytest

from neuralshade.errors import ConfigError, InputError, NeuralShadeError, OutputError

try:
    from neuralshade.render.mitsuba_scene import load_mitsuba

    mi = load_mitsuba()
except NeuralShadeError as exc:  # no Mitsuba or no usable LLVM on this machine
    pytest.skip(f"Mitsuba unavailable: {exc}", allow_module_level=True)

from neuralshade.cli import build_parser, main  # noqa: E402
from neuralshade.imageio import read_exr  # noqa: E402
from neuralshade.render.mitsuba import files  # noqa: E402
from neuralshade.render.mitsuba.files import (  # noqa: E402
    SHEET_KINDS,
    load_scene_file,
    render_scene_file,
)
from neuralshade.render.mitsuba.gbuffer import (  # noqa: E402
    BUFFERS,
    DEFAULT_BUFFERS,
    VARIANCES,
    render_gbuffers,
)
from neuralshade.scenes.model import Film, save_scene, surface_table  # noqa: E402
from neuralshade.scenes.room import random_room  # noqa: E402

pytestmark = pytest.mark.mitsuba

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.xml"))


def film(width, height, extra=""):
    return (
        f'<film type="hdrfilm"><integer name="width" value="{width}"/>'
        f'<integer name="height" value="{height}"/>{extra}</film>'
    )


def scene_xml(body, sensor=None, head=""):
    """A scene: ``body`` seen by ``sensor`` (default: an orthographic camera 2 above z = 0,
    looking down -z at a 2 × 2 square of the plane, 8 × 6 pixels; its rays start on its near
    plane, 0.5 ahead)."""
    if sensor is None:
        sensor = (
            '<sensor type="orthographic"><float name="near_clip" value="0.5"/>'
            '<transform name="to_world">'
            '<lookat origin="0, 0, 2" target="0, 0, 0" up="0, 1, 0"/></transform>'
            f"{film(8, 6)}</sensor>"
        )
    return f'<scene version="3.0.0">{head}{sensor}{body}</scene>'


# a wide grey Lambertian plane (z = 0, facing +z) under a white sky: nothing occludes anything
PLANE = (
    '<shape type="rectangle" id="plane"><transform name="to_world"><scale value="100"/>'
    '</transform><bsdf type="diffuse"><rgb name="reflectance" value="0.5, 0.5, 0.5"/></bsdf>'
    '</shape><emitter type="constant"><rgb name="radiance" value="1, 1, 1"/></emitter>'
)


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def outputs(names, reference=False):
    out = {f"{n}.exr" for n in names} | {"contact_sheet.png", "params.json"}
    out |= {"beauty_reference.exr"} if reference else set()
    return out | ({"beauty.png"} if "beauty" in names else set())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_scene_renders_every_buffer(path, tmp_path):
    info = render_scene_file(path, tmp_path, spp=2, reference_spp=2, size=(8, 6))
    assert {p.name for p in tmp_path.iterdir()} == outputs(DEFAULT_BUFFERS, reference=True)
    for name in [*DEFAULT_BUFFERS, "beauty_reference"]:
        values = read_exr(tmp_path / f"{name}.exr")
        assert values.shape == (6, 8, BUFFERS.get(name, 3)) and np.isfinite(values).all(), name
    saved = json.loads((tmp_path / "params.json").read_text())
    assert saved == info and info["size"] == [8, 6] and info["buffers"] == list(DEFAULT_BUFFERS)
    assert info["scene_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (info["mitsuba_variant"], info["mitsuba_version"]) == ("llvm_ad_rgb", mi.__version__)
    assert info["reference_seed"] == 1 and info["roughness_from"] == "BSDFs"


def test_an_open_plane_under_a_white_sky_has_the_closed_form_buffers(tmp_path):
    path = write(tmp_path / "plane.xml", scene_xml(PLANE))
    render_scene_file(path, tmp_path / "out", spp=16, reference_spp=64, ao_radius=5.0)
    b = {p.stem: read_exr(p) for p in (tmp_path / "out").glob("*.exr")}
    # every camera ray goes straight down from the camera onto the plane, 2 away (depth counts
    # from the camera, not from the near clipping plane at 0.5)
    np.testing.assert_allclose(b["depth"], 2.0, rtol=1e-5)
    np.testing.assert_allclose(b["normal"], np.broadcast_to([0, 0, 1], (6, 8, 3)), atol=1e-6)
    np.testing.assert_allclose(b["position"][..., 2], 0.0, atol=1e-5)
    np.testing.assert_allclose(b["albedo"], 0.5, rtol=1e-6)
    assert np.all(b["ao"] == 1) and np.all(b["shadows"] == 1) and np.all(b["roughness"] == 1)
    # nothing but the sky to reflect: one bounce of diffuse light, of mean albedo × radiance
    assert np.all(b["indirect"] == 0) and np.abs(b["specular"]).max() < 1e-6
    np.testing.assert_allclose(b["direct"], b["beauty"], rtol=1e-6)
    assert abs(b["beauty"].mean() - 0.5) < 0.02 and abs(b["beauty_reference"].mean() - 0.5) < 0.01
    assert not np.array_equal(b["beauty"], b["beauty_reference"][..., :3])


def test_the_size_override_renders_the_file_as_if_it_said_that_size(tmp_path):
    def camera(film_xml, axis="y"):
        return (
            f'<sensor type="perspective"><float name="fov" value="40"/>'
            f'<string name="fov_axis" value="{axis}"/><transform name="to_world">'
            '<lookat origin="0.3, 0.2, 3" target="0, 0, 0" up="0, 1, 0"/></transform>'
            f"{film_xml}</sensor>"
        )

    body = PLANE.replace('value="100"', 'value="1"')  # a square on a black sky: its edges show
    resx = '<default name="resx" value="32"/><default name="resy" value="16"/>'
    crop = (
        '<integer name="crop_offset_x" value="3"/><integer name="crop_offset_y" value="2"/>'
        '<integer name="crop_width" value="8"/><integer name="crop_height" value="8"/>'
    )
    wanted = scene_xml(body, camera(film(12, 8)))
    given = {
        "numbers and a crop window": scene_xml(body, camera(film(32, 16, crop))),
        "$resx parameters": scene_xml(body, camera(film("$resx", "$resy")), head=resx),
        "no film": scene_xml(body, camera("")),
    }
    kw = {"spp": 2, "buffers": ["beauty", "depth", "normal"]}
    render_scene_file(write(tmp_path / "wanted.xml", wanted), tmp_path / "wanted", **kw)
    for i, text in enumerate(given.values()):
        path = write(tmp_path / f"given{i}.xml", text)
        assert render_scene_file(path, tmp_path / f"o{i}", size=(12, 8), **kw)["size"] == [12, 8]
        for name in kw["buffers"]:
            assert np.array_equal(
                read_exr(tmp_path / f"o{i}" / f"{name}.exr"),
                read_exr(tmp_path / "wanted" / f"{name}.exr"),
            ), (list(given)[i], name)


def test_a_loaded_scene_renders_what_the_render_command_writes(tmp_path):
    """load_scene_file + render_gbuffers (a race against the renderer) reproduce the files of
    render_scene_file bit for bit: same film size, AO radius and settings."""
    path = EXAMPLES[0]
    kw = {"size": (12, 8), "ao_radius": 0.4}
    render_scene_file(path, tmp_path, spp=3, buffers=["ao", "depth", "beauty"], **kw)
    scene, common = load_scene_file(path, **kw)
    again = render_gbuffers(scene, spp=3, seed=0, buffers=["ao", "depth", "beauty"], **common)
    for name, image in again.items():
        assert np.array_equal(image, read_exr(tmp_path / f"{name}.exr")), name
    other = render_gbuffers(scene, spp=3, seed=0, buffers=["ao"], **{**common, "ao_radius": 2})
    assert not np.array_equal(other["ao"], again["ao"])  # the radius reaches the renderer


def test_the_reference_pass_writes_the_buffers_asked_for(tmp_path):
    path = write(tmp_path / "plane.xml", scene_xml(PLANE))
    info = render_scene_file(
        path, tmp_path / "out", spp=2, buffers=["depth"], reference_spp=16,
        reference_buffers=["ao", "normal"],
    )  # fmt: skip
    assert {p.name for p in (tmp_path / "out").glob("*.exr")} == {
        "depth.exr", "ao_reference.exr", "normal_reference.exr"}  # fmt: skip
    assert info["reference_buffers"] == ["ao", "normal"]
    assert np.all(read_exr(tmp_path / "out" / "ao_reference.exr") == 1)  # an open plane
    with pytest.raises(ConfigError, match="need a reference pass"):
        render_scene_file(path, tmp_path / "o2", reference_buffers=["ao"])


def test_params_record_the_camera_that_projects_each_position_onto_its_pixel(tmp_path):
    """world_to_camera (Mitsuba's axes: x left, y up, z forward) and the horizontal fov."""
    sensor = (
        '<sensor type="perspective"><float name="fov" value="30"/>'
        '<string name="fov_axis" value="y"/><transform name="to_world">'
        '<lookat origin="1, -2, 3" target="0, 0, 0" up="0, 0, 1"/></transform>'
        f"{film(20, 12)}</sensor>"
    )
    path = write(tmp_path / "tilted.xml", scene_xml(PLANE, sensor))
    info = render_scene_file(path, tmp_path / "out", spp=256, buffers=["position"])
    camera = info["camera"]
    assert camera["type"] == "PerspectiveCamera" and camera["fov_axis"] == "x"
    matrix = np.array(camera["world_to_camera"]).reshape(4, 4)
    p = read_exr(tmp_path / "out" / "position.exr").reshape(-1, 3)
    x, y, z = (matrix[:3, :3] @ p.T + matrix[:3, 3:]) * np.array([[-1], [1], [1]])  # x right
    focal = 20 / 2 / np.tan(np.radians(camera["fov"]) / 2)
    assert z.min() > 0 and abs(camera["fov"] - 2 * np.degrees(np.arctan(20 / 12 * np.tan(
        np.radians(15))))) < 1e-3  # fmt: skip
    rows, cols = np.mgrid[0:12, 0:20] + 0.5
    # the mean of 256 positions jittered across the pixel: within a tenth of a pixel of its centre
    np.testing.assert_allclose(x / z * focal + 10, cols.ravel(), atol=0.1)
    np.testing.assert_allclose(-y / z * focal + 6, rows.ravel(), atol=0.1)


def test_relative_files_are_found_beside_the_scene_wherever_it_runs(tmp_path, monkeypatch):
    write(tmp_path / "scene" / "tri.obj", "v -5 -5 0\nv 5 -5 0\nv 0 5 0\nf 1 2 3\n")
    body = '<shape type="obj"><string name="filename" value="tri.obj"/></shape>'
    path = write(tmp_path / "scene" / "tri.xml", scene_xml(body))
    monkeypatch.chdir(tmp_path)
    before = str(mi.file_resolver())
    render_scene_file(path, tmp_path / "out", spp=1, buffers=["depth"])
    np.testing.assert_allclose(read_exr(tmp_path / "out" / "depth.exr"), 2.0, rtol=1e-5)
    assert str(mi.file_resolver()) == before


def test_a_scene_json_renders_with_its_materials_roughness(tmp_path):
    scene = random_room(1, 0, film=Film(width=16, height=16))
    save_scene(scene, tmp_path / "room.json")
    info = render_scene_file(
        tmp_path / "room.json",
        tmp_path / "out",
        spp=1,
        size=(10, 6),
        buffers=["roughness", "depth"],
    )
    assert info["size"] == [10, 6] and info["scene_format"] == "neuralshade-json"
    assert info["roughness_from"] == "scene materials"
    rough = read_exr(tmp_path / "out" / "roughness.exr")[..., 0]
    hit = read_exr(tmp_path / "out" / "depth.exr")[..., 0] > 0
    # one sample per pixel: each pixel's roughness is that of the one shape its ray hit
    assert hit.any() and set(rough[hit]) <= set(surface_table(scene).roughness)


def _json_scene(**change):
    values = json.loads(random_room(1, 0).model_dump_json())
    for key, value in change.items():
        where, *path = key.split(".")
        target = values[where]
        for part in path[:-1]:
            target = target[int(part)] if isinstance(target, list) else target[part]
        last = path[-1]
        target[int(last) if isinstance(target, list) else last] = value
    return json.dumps(values)


BAD_SCENES = {
    "malformed XML": ("s.xml", '<scene version="3.0.0"><shape type="sphere"></scene>', "mismatch"),
    "unknown plugin": ("s.xml", scene_xml('<shape type="spheroid"/>'), "spheroid"),
    "unknown property": (
        "s.xml",
        scene_xml('<shape type="sphere"><float name="radiuss" value="2"/></shape>'),
        "radiuss",
    ),
    "missing mesh": (
        "s.xml",
        scene_xml('<shape type="obj"><string name="filename" value="nope.obj"/></shape>'),
        "nope.obj",
    ),
    "NaN number": (
        "s.xml",
        scene_xml('<shape type="sphere"><float name="radius" value="nan"/></shape>'),
        "'radius' is nan",
    ),
    "NaN colour": (
        "s.xml",
        scene_xml('<emitter type="constant"><rgb name="radiance" value="1, nan, 1"/></emitter>'),
        "'radiance'",
    ),
    "infinite transform": (
        "s.xml",
        scene_xml(
            '<shape type="sphere"><transform name="to_world"><translate x="inf"/></transform>'
            "</shape>"
        ),
        "'to_world'",
    ),
    "zero-sized film": (
        "s.xml",
        scene_xml("", '<sensor type="perspective">' + film(0, 4) + "</sensor>"),
        "width is 0",
    ),
    "no sensor": ("s.xml", '<scene version="3.0.0"><shape type="sphere"/></scene>', "no <sensor>"),
    "empty file": ("s.xml", "", "s.xml"),
    "malformed JSON": ("s.json", '{"cameras": [', "not valid JSON"),
    "JSON NaN": ("s.json", None, "finite"),
    "JSON zero-sized film": ("s.json", None, "film.width"),
    "JSON unknown shape type": ("s.json", None, "spheroid|type"),
    "JSON missing mesh": ("s.json", None, "nope.obj"),
    "JSON corrupt mesh": ("s.json", None, "Mitsuba cannot load"),
}
MESH = {"type": "mesh", "id": "m", "material": "floor"}
JSON_CHANGES = {
    "JSON NaN": {"cameras.0.fov": float("nan")},
    "JSON zero-sized film": {"film.width": 0},
    "JSON unknown shape type": {"shapes.0.type": "spheroid"},
    "JSON missing mesh": {"shapes.0": {**MESH, "path": "nope.obj"}},
    "JSON corrupt mesh": {"shapes.0": {**MESH, "path": "bad.ply"}},
}


@pytest.mark.parametrize("case", BAD_SCENES)
def test_a_bad_scene_file_is_named_and_nothing_is_written(case, tmp_path):
    name, text, message = BAD_SCENES[case]
    if text is None:
        write(tmp_path / "bad.ply", "ply\nformat ascii 1.0\nelement vertex banana\n")
        text = _json_scene(**JSON_CHANGES[case])
    path = write(tmp_path / name, text)
    with pytest.raises(InputError, match=message) as err:
        render_scene_file(path, tmp_path / "out", spp=1)
    assert str(path) in str(err.value)
    assert not (tmp_path / "out").exists()


BAD_SETTINGS = {
    "unknown buffer": ({"buffers": ["beauty", "glow"]}, ConfigError, "glow"),
    "no buffer": ({"buffers": []}, ConfigError, "no buffers"),
    "variance of one sample": ({"spp": 1, "buffers": ["beauty_variance"]}, ConfigError, "spp"),
    "zero spp": ({"spp": 0}, ConfigError, "spp"),
    "zero reference spp": ({"reference_spp": 0}, ConfigError, "spp"),
    "zero-sized film": ({"size": (0, 4)}, ConfigError, "size"),
    "NaN AO radius": ({"ao_radius": float("nan")}, ConfigError, "ao_radius"),
    "negative seed": ({"seed": -1}, ConfigError, "seed"),
    "zero max depth": ({"max_depth": 0}, ConfigError, "max_depth"),
    "unknown device": ({"device": "gpu"}, ConfigError, "gpu"),
    "no such file": ({"path": "nope.xml"}, InputError, "no such scene file"),
    "not a scene": ({"path": "plane.png"}, InputError, ".xml or neuralshade .json"),
    "output folder is a file": ({"out": "afile"}, OutputError, "afile"),
    "output would replace the scene": (
        {"path": "out/params.json", "out": "out"},
        OutputError,
        "overwrite",
    ),
}


@pytest.mark.parametrize("case", BAD_SETTINGS)
def test_a_bad_setting_is_refused_before_any_work(case, tmp_path):
    values, error, message = BAD_SETTINGS[case]
    write(tmp_path / "plane.xml", scene_xml(PLANE))
    write(tmp_path / "out" / "params.json", _json_scene())
    write(tmp_path / "afile", "")
    path = tmp_path / values.pop("path", "plane.xml")
    out = tmp_path / values.pop("out", "fresh")
    with pytest.raises(error, match=message):
        render_scene_file(path, out, **values)
    assert not (tmp_path / "fresh").exists()


@pytest.mark.parametrize("fail_on", [1, 2])
def test_a_render_that_fails_leaves_no_file(fail_on, tmp_path, monkeypatch):
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == fail_on:
            raise RuntimeError("out of memory")
        return {"beauty": np.zeros((6, 8, 3), np.float32)}

    monkeypatch.setattr(files, "render_gbuffers", failing)
    path = write(tmp_path / "plane.xml", scene_xml(PLANE))
    with pytest.raises(RuntimeError):
        render_scene_file(path, tmp_path / "out", buffers=["beauty"], reference_spp=4)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_cli_renders_a_scene_and_refuses_the_other_inputs_flags(tmp_path, capsys):
    path = write(tmp_path / "plane.xml", scene_xml(PLANE))
    out = tmp_path / "out"
    argv = ["render", str(path), "-o", str(out), "--size", "6x4", "--spp", "2", "--device", "cpu"]
    assert main([*argv, "--buffers", "beauty,depth", "--ao-radius", "0.5", "--seed", "3"]) == 0
    assert "rendered" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == outputs(["beauty", "depth"])
    info = json.loads((out / "params.json").read_text())
    assert (info["size"], info["spp"], info["ao_radius"], info["seed"]) == ([6, 4], 2, 0.5, 3)
    assert info["max_depth"] == 5 and info["reference_spp"] is None

    mask = tmp_path / "mask.png"
    from PIL import Image

    Image.new("L", (8, 8)).save(mask)
    for bad, said in [
        ([*argv, "--height", "3"], "--height"),
        ([*argv, "--set", "ambient=0.5"], "--set"),
        (["render", str(mask), "-o", str(tmp_path / "m"), "--spp", "2"], "--spp"),
        (["render", str(write(tmp_path / "bad.xml", "<scene>")), "-o", str(out)], "bad.xml"),
    ]:
        assert main(bad) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and said in err and "Traceback" not in err


def test_the_help_and_the_sheet_know_every_buffer_and_default():
    kinds = {"linear", "vector", "scalar", "id", "srgb", "mask"}
    references = {f"{n}_reference" for n in BUFFERS if n not in VARIANCES}
    assert set(SHEET_KINDS) == {*BUFFERS, *references} and set(SHEET_KINDS.values()) <= kinds
    render = build_parser("render")._subparsers._group_actions[0].choices["render"]
    flags = {action.dest: action.help for action in render._actions}
    assert ", ".join(BUFFERS) in " ".join(flags["buffers"].split())
    defaults = inspect.signature(render_scene_file).parameters
    for key in ("spp", "max_depth"):
        assert f"(default: {defaults[key].default})" in flags[key], key


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_is_well_formed_xml_for_any_parser(path):
    """Mitsuba's parser forgives what others refuse ("--" inside a comment): the examples are
    read by Python's own parser too (the DoF benchmark rewrites their cameras with it)."""
    import xml.etree.ElementTree as ET

    assert ET.parse(path).getroot().tag == "scene"

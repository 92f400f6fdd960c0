"""`neuralshade infer MODEL RENDER_DIR`: a G-buffer model on a folder `neuralshade render` wrote,
its camera-space inputs derived from the recorded camera, any size, clear refusals."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_models import tiny_ao_model

import neuralshade
from neuralshade import checkpoint
from neuralshade.cli import main
from neuralshade.imageio import read_exr, write_exr
from neuralshade.models import build

pytestmark = pytest.mark.mitsuba
INPUTS = ["position_camera", "normal_camera"]


@pytest.fixture(scope="module")
def render(mitsuba, tmp_path_factory):
    from neuralshade.render.mitsuba.files import render_scene_file

    folder = tmp_path_factory.mktemp("render") / "spheres"
    examples = Path(__file__).resolve().parents[1] / "examples"
    render_scene_file(examples / "spheres.xml", folder, spp=4, size=(40, 28),
                      buffers=["position", "normal", "depth"])  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_ao_model(tmp_path_factory.mktemp("model"))


def camera_space_by_hand(folder):
    """Independently of the package: OpenGL camera axes from params.json's Mitsuba matrix."""
    camera = json.loads((folder / "params.json").read_text())["camera"]
    m = np.diag([-1.0, 1.0, -1.0, 1.0]) @ np.array(camera["world_to_camera"]).reshape(4, 4)
    p, n = read_exr(folder / "position.exr"), read_exr(folder / "normal.exr")
    pc = np.where((p != 0).any(-1, keepdims=True), p @ m[:3, :3].T + m[:3, 3], 0)  # 0: no hit
    nc = n @ m[:3, :3].T
    return np.concatenate([pc, nc], axis=-1).transpose(2, 0, 1)[None].astype(np.float32)


def test_infer_runs_the_model_on_the_derived_camera_space_buffers(render, model, tmp_path):
    path, net = model
    assert main(["infer", str(path), str(render), "-o", str(tmp_path / "out"),
                 "--device", "cpu"]) == 0  # fmt: skip
    written = read_exr(tmp_path / "out" / "ao.exr")
    inputs = torch.from_numpy(camera_space_by_hand(render))
    with torch.no_grad():
        expected = net(inputs).clamp(0, 1)
    sky = (inputs[:, 3:] == 0).all(dim=1, keepdim=True)  # no sample hit: AO is 1 by definition
    assert 0 < int(sky.sum()) < sky.numel()
    expected = torch.where(sky, 1.0, expected)
    np.testing.assert_allclose(written[..., 0], expected[0, 0].numpy(), atol=1e-5)
    assert (tmp_path / "out" / "ao.png").is_file()
    summary = json.loads((tmp_path / "out" / "infer.json").read_text())
    assert summary["size"] == [40, 28] and summary["inputs"] == INPUTS


def test_tiles_give_the_untiled_result_and_the_module_is_callable(render, model):
    path, _ = model
    whole = neuralshade.infer(path, render, device="cpu")["ao_reference"]
    tiled = neuralshade.infer(path, render, device="cpu", tile=16)["ao_reference"]
    assert whole.shape == (28, 40, 1)
    np.testing.assert_allclose(tiled, whole, atol=1e-3)
    arrays = {"position_camera": camera_space_by_hand(render)[0, :3].transpose(1, 2, 0),
              "normal_camera": camera_space_by_hand(render)[0, 3:].transpose(1, 2, 0)}  # fmt: skip
    np.testing.assert_allclose(neuralshade.infer(path, arrays, device="cpu")["ao_reference"],
                               whole, atol=1e-5)  # fmt: skip


def test_a_view_finer_than_the_training_views_runs_at_their_scale(render, model, tmp_path):
    """The camera in params.json gives the view's focal length; a model trained at a quarter of
    it runs on the view area-averaged 4× down (tests/test_infer_scale.py checks the maths)."""
    camera = json.loads((render / "params.json").read_text())["camera"]
    focal = 0.5 * 40 / np.tan(np.radians(camera["fov"]) / 2)  # the view is 40 pixels wide
    path, net = model
    scaled = tmp_path / "scaled"
    meta = {"task": "deep-shading", "inputs": INPUTS, "targets": ["ao_reference"],
            "loss": "l1", "focal_pixels": focal / 4}  # fmt: skip
    checkpoint.save(scaled, {"net": net}, meta)
    weights = scaled.with_suffix(".safetensors")
    assert main(["infer", str(weights), str(render), "-o", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "infer.json").read_text())
    assert summary["scale"] == pytest.approx(4.0)
    arrays = {"position_camera": camera_space_by_hand(render)[0, :3].transpose(1, 2, 0),
              "normal_camera": camera_space_by_hand(render)[0, 3:].transpose(1, 2, 0)}  # fmt: skip
    want = neuralshade.infer(weights, arrays, fov=camera["fov"], device="cpu")["ao_reference"]
    np.testing.assert_allclose(read_exr(tmp_path / "out" / "ao.exr"), want, atol=1e-5)
    # --native-scale: the network on the view's own pixels, as a model without a scale runs
    assert main(["infer", str(weights), str(render), "-o", str(tmp_path / "native"),
                 "--native-scale"]) == 0  # fmt: skip
    plain = neuralshade.infer(path, render, device="cpu")["ao_reference"]
    np.testing.assert_allclose(read_exr(tmp_path / "native" / "ao.exr"), plain, atol=1e-5)
    assert np.abs(plain - want).mean() > 1e-2


def run(argv, capsys):
    code = main(argv)
    return code, capsys.readouterr().err


def test_a_missing_buffer_is_named(render, model, tmp_path, capsys):
    folder = tmp_path / "partial"
    folder.mkdir()
    for name in ("position.exr", "params.json"):
        (folder / name).write_bytes((render / name).read_bytes())
    code, err = run(["infer", str(model[0]), str(folder), "-o", str(tmp_path / "o")], capsys)
    assert code == 2 and "has no normal.exr" in err and "normal_camera" in err
    assert not (tmp_path / "o").exists()


def test_nan_and_mismatched_sizes_are_refused(render, model, tmp_path, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    for f in render.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    normal = read_exr(render / "normal.exr")
    normal[3, 4, 0] = np.nan
    write_exr(folder / "normal.exr", normal)
    code, err = run(["infer", str(model[0]), str(folder), "-o", str(tmp_path / "o1")], capsys)
    assert code == 2 and "NaN or infinite" in err
    write_exr(folder / "normal.exr", normal[:20])
    code, err = run(["infer", str(model[0]), str(folder), "-o", str(tmp_path / "o2")], capsys)
    assert code == 2 and "differ in size" in err


def test_a_model_of_another_task_is_refused(render, tmp_path, capsys):
    code, err = run(["infer", "ao2d-unet-cpu", str(render), "-o", str(tmp_path / "o")], capsys)
    assert code == 2 and "needs source (source.png), an image of the ao2d source" in err


def test_the_readme_runs_the_bundled_ao_model_on_an_example_scene(mitsuba, tmp_path):
    """README: render an example scene's G-buffers, then `infer deepshade-ao-cpu` on them. The
    Cornell box is a room too, unseen, and its narrow lens makes the view 2.15× finer than the
    training views: run at their scale, the bundled model's AO must be far nearer the
    ray-traced AO than no occlusion at all is (measured: L1 0.093 against 1.0's 0.354 at 128²;
    0.156 with --native-scale)."""
    examples = Path(__file__).resolve().parents[1] / "examples"
    folder, out = tmp_path / "cornell", tmp_path / "ao"
    assert main(["render", str(examples / "cornell_box.xml"), "-o", str(folder), "--size", "128",
                 "--spp", "4", "--buffers", "position,normal,depth", "--reference-spp", "128",
                 "--reference-buffers", "ao", "--quiet"]) == 0  # fmt: skip
    assert main(["infer", "deepshade-ao-cpu", str(folder), "-o", str(out)]) == 0
    ao, truth = read_exr(out / "ao.exr"), read_exr(folder / "ao_reference.exr")
    assert ao.shape == truth.shape == (128, 128, 1) and (out / "ao.png").is_file()
    error, unoccluded = np.abs(ao - truth).mean(), np.abs(1 - truth).mean()
    assert error < 0.4 * unoccluded, (error, unoccluded)


def test_the_readme_runs_the_bundled_gi_model_on_an_example_scene(mitsuba, tmp_path):
    """README: the Cornell box's G-buffers, albedo and converged direct light, then `infer
    deepshade-gi-cpu`: its indirect light must be nearer the path-traced one than none at all
    (direct light alone) is. The box is unlike the training rooms (a ceiling panel light,
    a narrow lens): measured L1 0.043 against none's 0.068 at 128² (0.040 --native-scale)."""
    examples = Path(__file__).resolve().parents[1] / "examples"
    folder, out = tmp_path / "cornell", tmp_path / "gi"
    assert main(["render", str(examples / "cornell_box.xml"), "-o", str(folder), "--size", "128",
                 "--spp", "4", "--buffers", "position,normal,depth,albedo", "--reference-spp",
                 "256", "--reference-buffers", "direct,indirect", "--quiet"]) == 0  # fmt: skip
    assert main(["infer", "deepshade-gi-cpu", str(folder), "-o", str(out)]) == 0
    light, truth = read_exr(out / "indirect.exr"), read_exr(folder / "indirect_reference.exr")
    assert light.shape == truth.shape == (128, 128, 3) and (out / "indirect.png").is_file()
    assert light.min() >= 0
    error, none = np.abs(light - truth).mean(), np.abs(truth).mean()
    assert error < 0.75 * none, (error, none)


def test_a_dof_model_reads_the_lens_from_params_json(render, tmp_path, capsys):
    """coc, a DoF model's input, is derived from the position and the view's thin lens: a
    render folder without one is refused, naming what to add; with it, the model runs."""
    torch.manual_seed(0)
    net = build("unet", in_channels=2, out_channels=3, widths=[4, 8], blocks=[0, 1],
                head="direct")  # fmt: skip
    meta = {"task": "deep-shading", "inputs": ["coc", "depth"], "targets": ["dof_reference"],
            "loss": "logl1"}  # fmt: skip
    path = checkpoint.save(tmp_path / "dof", {"net": net}, meta).with_suffix(".safetensors")
    code, err = run(["infer", str(path), str(render), "-o", str(tmp_path / "o1")], capsys)
    assert code == 2 and '"lens": {"aperture_radius"' in err
    folder = tmp_path / "with-lens"
    folder.mkdir()
    for f in render.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    params = json.loads((render / "params.json").read_text())
    params["lens"] = {"aperture_radius": 0.1, "focus_distance": 5.0}
    (folder / "params.json").write_text(json.dumps(params))
    assert main(["infer", str(path), str(folder), "-o", str(tmp_path / "o2")]) == 0
    assert read_exr(tmp_path / "o2" / "dof.exr").shape == (28, 40, 3)


def test_the_bundled_dof_model_blurs_an_example_scene_toward_its_lens(mitsuba, tmp_path):
    """The Cornell box through a pinhole (converged beauty, position, depth) with a lens in
    params.json, then `infer deepshade-dof-cpu`: nearer the render through that thin lens
    (Mitsuba's thinlens camera, the same lens) than the sharp image is."""
    import xml.etree.ElementTree as ET

    examples = Path(__file__).resolve().parents[1] / "examples"
    lens = {"aperture_radius": 0.15, "focus_distance": 2.0}
    folder, out = tmp_path / "pinhole", tmp_path / "dof"
    assert main(["render", str(examples / "cornell_box.xml"), "-o", str(folder), "--size", "64",
                 "--spp", "4", "--buffers", "position,depth", "--reference-spp", "256",
                 "--quiet"]) == 0  # fmt: skip
    params = json.loads((folder / "params.json").read_text())
    (folder / "params.json").write_text(json.dumps({**params, "lens": lens}))
    tree = ET.parse(examples / "cornell_box.xml")
    sensor = tree.getroot().find("sensor")
    sensor.set("type", "thinlens")
    for name, value in lens.items():
        ET.SubElement(sensor, "float", {"name": name, "value": str(value)})
    tree.write(tmp_path / "thin.xml")
    assert main(["render", str(tmp_path / "thin.xml"), "-o", str(tmp_path / "thin"), "--size",
                 "64", "--spp", "2", "--buffers", "depth", "--reference-spp", "256",
                 "--quiet"]) == 0  # fmt: skip
    assert main(["infer", "deepshade-dof-cpu", str(folder), "-o", str(out)]) == 0
    blurred = read_exr(out / "dof.exr")
    truth = read_exr(tmp_path / "thin" / "beauty_reference.exr")
    sharp = read_exr(folder / "beauty_reference.exr")
    assert blurred.shape == truth.shape == (64, 64, 3) and (out / "dof.png").is_file()

    def error(x):
        return np.abs(x / (1 + x) - truth / (1 + truth)).mean()

    assert error(blurred) < 0.8 * error(sharp), (error(blurred), error(sharp))

"""deep-shading: its baselines see the room's camera-space buffers as the renderer does, its race
converges on the dataset's reference, and it refuses what it cannot measure."""

import numpy as np
import pytest
import torch

from neuralshade.data.datasets import BufferDataset
from neuralshade.data.generate import generate, load_config
from neuralshade.errors import ConfigError
from neuralshade.task import get_task
from neuralshade.train import load_config as train_config

pytestmark = pytest.mark.mitsuba
AO_INFO = {"inputs": ["position_camera", "normal_camera"], "targets": ["ao_reference"]}


@pytest.fixture(scope="module")
def room(mitsuba, tmp_path_factory):
    root = tmp_path_factory.mktemp("room") / "data"
    values = {"count": 2, "views": 1, "size": 40, "seed": 3, "spp": 2, "reference_spp": 128,
              "buffers": ["position", "normal", "depth"], "reference_buffers": ["ao"],
              "split": {"train": 0.5, "val": 0.0, "test": 0.5}}  # fmt: skip
    generate(root, load_config(values, source="room"), quiet=True)
    return BufferDataset(root, "all", ("position_camera", "normal_camera", "ao_reference"),
                         crop=None, mode="full")  # fmt: skip


@pytest.mark.parametrize("name", ["ssao", "hbao", "gtao"])
def test_baselines_approach_the_ray_traced_ao_of_a_room(room, name):
    """Given the dataset's OpenGL camera-space buffers, each baseline darkens where the
    renderer does: a wrong axis or sign would put every pixel behind the camera (AO = 1)."""
    task = get_task("deep-shading")
    errors, trivial = [], []
    for i in range(len(room)):
        truth = room[i]["ao_reference"][None]
        ao = task.baseline(name, room, i, AO_INFO)
        assert ao.shape == truth.shape and 0 <= ao.min() and ao.max() <= 1
        errors.append(float((ao - truth).abs().mean()))
        trivial.append(float((1 - truth).abs().mean()))
    assert np.mean(errors) < 0.6 * np.mean(trivial), (errors, trivial)


def test_the_baselines_are_ao_baselines_and_the_gather_is_dof_s():
    task = get_task("deep-shading")
    assert task.baselines_for(AO_INFO) == ("ssao", "hbao", "gtao")
    gi = {"inputs": ["position_camera", "albedo"], "targets": ["indirect_reference"]}
    assert task.baselines_for(gi) == ()
    assert task.baselines_for(DOF_INFO) == ("gather",)
    # the circle of confusion is in the view's pixels: a DoF model is never resampled
    assert not task.rescales(DOF_INFO) and task.rescales(AO_INFO)


DOF_INFO = {"inputs": ["beauty_reference", "coc", "depth"], "targets": ["dof_reference"]}


@pytest.fixture(scope="module")
def dof_room(mitsuba, tmp_path_factory):
    root = tmp_path_factory.mktemp("dof") / "data"
    values = {"count": 2, "views": 1, "size": 32, "seed": 3, "spp": 2, "reference_spp": 128,
              "buffers": ["position", "depth"], "reference_buffers": ["beauty", "dof"],
              "aperture_radius": (0.1, 0.2), "focus_distance": (0.7, 0.8),  # near: most blurs
              "split": {"train": 0.5, "val": 0.0, "test": 0.5}}
    generate(root, load_config(values, source="room"), quiet=True)  # fmt: skip
    return BufferDataset(root, "all", ("beauty_reference", "coc", "depth", "dof_reference"),
                         crop=None, mode="full")  # fmt: skip


def test_the_gather_baseline_comes_closer_to_the_thin_lens_than_the_sharp_view(dof_room):
    task = get_task("deep-shading")
    for i in range(len(dof_room)):
        sample = dof_room[i]
        truth, sharp = sample["dof_reference"][None], sample["beauty_reference"][None]
        blurred = task.baseline("gather", dof_room, i, DOF_INFO)
        assert blurred.shape == truth.shape
        wide = (sample["coc"] > 3).expand(3, -1, -1)[None]  # out of focus by 3 px or more
        assert wide.float().mean() > 0.1
        error, unblurred = (float((x - truth).abs()[wide].mean()) for x in (blurred, sharp))
        assert error < 0.8 * unblurred, (i, error, unblurred)


def test_mitsuba_renders_the_dof_race_through_the_lens(dof_room):
    race = get_task("deep-shading").race(dof_room, DOF_INFO, torch.device("cpu"))
    renderer, truth = race.renderers["mitsuba"], race.truth(0)
    errors = [np.abs(renderer.render(0, n)[0] - truth).mean() for n in (2, 32)]
    assert errors[1] < 0.5 * errors[0], errors
    # and it is the lens's image: nearer the thin-lens reference than the pinhole one is
    sharp = dof_room[0]["beauty_reference"].permute(1, 2, 0).numpy()
    converged = renderer.render(0, 128)[0]
    assert np.abs(converged - truth).mean() < 0.8 * np.abs(sharp - truth).mean()
    assert race.reference == {"renderer": "mitsuba", "buffer": "dof", "samples": 128}


def test_mitsuba_at_more_rays_comes_closer_to_the_reference(room):
    race = get_task("deep-shading").race(room, AO_INFO, torch.device("cpu"))
    renderer = race.renderers["mitsuba"]
    truth = race.truth(0)
    errors = []
    for n in (2, 32):
        image, seconds = renderer.render(0, n)
        assert image.shape == truth.shape and seconds > 0
        errors.append(np.abs(image - truth).mean())
    # Monte Carlo: 16x the rays, about a quarter of the error
    assert errors[1] < 0.5 * errors[0], errors
    assert race.reference == {"renderer": "mitsuba", "buffer": "ao", "samples": 128}


def test_ao_is_learned_alone(room):
    values = {"task": "deep-shading", "data": str(room.root),
              "targets": ["ao_reference", "indirect_reference"]}  # fmt: skip
    with pytest.raises(ConfigError, match="AO is learned alone"):
        train_config(values)


def test_eval_prints_the_race_against_mitsuba(room, tmp_path, capsys):
    from neuralshade import checkpoint
    from neuralshade.cli import main
    from neuralshade.models import build

    torch.manual_seed(0)
    net = build("deepshading", in_channels=6, out_channels=1, widths=[4, 8], groups=[1, 2])
    meta = {**AO_INFO, "task": "deep-shading", "loss": "l1"}
    path = checkpoint.save(tmp_path / "net", {"net": net}, meta).with_suffix(".safetensors")
    argv = ["eval", str(path), "--data", str(room.root), "--split", "test", "--quiet",
            "--equal-quality-images", "1", "--out", str(tmp_path / "eval")]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "against mitsuba (buffer ao, samples 128)" in out and "gtao" in out


def test_light_inputs_are_read_in_log_space_and_ao_inputs_as_they_are():
    """The GI preset's inputs: position, normal, albedo as they are, the direct light (HDR)
    through log1p; an AO model's arguments have no log_inputs (the bundled ones are built so)."""
    from neuralshade.cli import _preset_or_path
    from neuralshade.config import load_yaml
    from neuralshade.tasks.deep_shading import DeepShadingTask
    from neuralshade.train import load_config

    def preset(name):
        return load_config(load_yaml(_preset_or_path(name)))

    task = DeepShadingTask()
    widths = {"position_camera": 3, "normal_camera": 3, "albedo": 3, "direct_reference": 3,
              "indirect_reference": 3}  # fmt: skip
    gi = preset("deepshade-gi-cpu")
    args = task.model_args("net", gi, lambda names: sum(widths[n] for n in names))
    assert args == {"in_channels": 12, "out_channels": 3, "log_inputs": [9, 10, 11]}
    ao = preset("deepshade-ao-cpu")
    assert "log_inputs" not in task.model_args("net", ao, lambda names: 3 * len(names))


def test_eval_scores_light_tone_mapped_as_it_shows_it(mitsuba, tmp_path):
    """A GI checkpoint's eval: its metrics and its race are taken on x / (1 + x) of the light,
    checked against the network's output scored by hand."""
    import json

    from neuralshade import checkpoint
    from neuralshade.cli import main
    from neuralshade.infer import infer
    from neuralshade.metrics import compute
    from neuralshade.models import build

    root = tmp_path / "gi"
    values = {"count": 2, "views": 1, "size": 24, "seed": 3, "spp": 2, "reference_spp": 16,
              "buffers": ["position", "normal", "albedo"],
              "reference_buffers": ["direct", "indirect"],
              "split": {"train": 0.5, "val": 0.0, "test": 0.5}}  # fmt: skip
    generate(root, load_config(values, source="room"), quiet=True)
    torch.manual_seed(0)
    net = build("unet", in_channels=9, out_channels=3, widths=[4, 8], blocks=[0, 1],
                head="direct", log_inputs=[6, 7, 8])  # fmt: skip
    meta = {"task": "deep-shading", "inputs": ["normal_camera", "albedo", "direct_reference"],
            "targets": ["indirect_reference"], "loss": "logl1"}  # fmt: skip
    path = checkpoint.save(tmp_path / "net", {"net": net}, meta).with_suffix(".safetensors")
    out = tmp_path / "eval"
    assert main(["eval", str(path), "--data", str(root), "--quiet", "--out", str(out),
                 "--equal-quality-images", "1"]) == 0  # fmt: skip
    report = json.loads((out / "metrics.json").read_text())
    data = BufferDataset(root, "test", [*meta["inputs"], "indirect_reference"], crop=None,
                         mode="full")  # fmt: skip
    sample = data[0]
    pred = infer(path, {n: sample[n].permute(1, 2, 0).numpy() for n in meta["inputs"]},
                 device="cpu")["indirect_reference"]  # fmt: skip
    pred = torch.from_numpy(pred).permute(2, 0, 1)[None]
    truth = sample["indirect_reference"][None]
    shown = compute(["l1", "ssim"], pred / (1 + pred), truth / (1 + truth))
    assert report["mean"]["l1"] == pytest.approx(float(shown["l1"][0]), rel=1e-4)
    assert report["equal_quality"]["network"]["error"] == pytest.approx(
        float(shown["ssim"][0]), rel=1e-4
    )
    linear = float(compute(["l1"], pred, truth)["l1"][0])
    assert abs(linear - report["mean"]["l1"]) > 1e-4  # it is not the linear light's

"""Evaluation on whole images: metrics, the comparison sheet, and speed against the renderer."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import structural_similarity

from neuralshade import checkpoint
from neuralshade.cli import main
from neuralshade.data.generate import generate, load_config, sample_dir
from neuralshade.errors import ConfigError
from neuralshade.evaluate import evaluate
from neuralshade.infer import model_path
from neuralshade.models import build
from neuralshade.shading import DEFAULT_MODEL


def read_png(path) -> np.ndarray:
    """A stored PNG as float (C, H, W) in [0, 1], read without the package."""
    array = np.asarray(Image.open(path)).astype(np.float64) / 255
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def independent_metrics(model, root, index, margin) -> dict[str, float]:
    """L1, PSNR and SSIM of the model's prediction for sample ``index`` against its target,
    from the stored files, numpy and scikit-image: none of the package's data or metric code.
    The model sees the mask padded with ``margin`` pixels of black, as inference gives it."""
    folder = sample_dir(root, index)
    source, target = read_png(folder / "source.png"), read_png(folder / "target.png")
    h, w = source.shape[1:]
    with torch.no_grad():
        x = torch.nn.functional.pad(torch.from_numpy(source).float()[None], (margin,) * 4)
        pred = model(x)[0, :, margin : margin + h, margin : margin + w]
        pred = pred.clamp(0, 1).double().numpy()
    mse = ((pred - target) ** 2).mean()
    return {
        "l1": float(np.abs(pred - target).mean()),
        "psnr": float(min(100.0, 10 * np.log10(1 / mse))),
        "ssim": float(
            structural_similarity(
                pred,
                target,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
                data_range=1.0,
                channel_axis=0,
            )
        ),
    }


def inference_margin(model) -> int:
    """The black border inference adds: none for a border-aware network, else the receptive
    radius rounded up to the total stride (no render settings: no reach to cap it)."""
    if getattr(model, "border_is_ground", False):
        return 0
    stride = int(np.prod(model.strides))
    return stride * int(np.ceil((model.receptive_field // 2) / stride))


def check_against_independent(report, model, root):
    """Every per-image value of ``report`` is the independent one; the means are their means."""
    assert report["images"] == len(report["per_image"]) > 0
    for row in report["per_image"]:
        expected = independent_metrics(model, root, row["index"], inference_margin(model))
        for key, value in expected.items():
            assert row[key] == pytest.approx(value, rel=1e-4, abs=1e-5), (row["index"], key)
    for key in ("l1", "psnr", "ssim"):
        assert report["mean"][key] == pytest.approx(
            np.mean([r[key] for r in report["per_image"]]), rel=1e-9
        )


def test_eval_reports_metrics_sheet_and_speed(tiny_dataset, tmp_path, capsys):
    torch.manual_seed(0)
    model = build(
        "resconv",
        in_channels=1,
        out_channels=3,
        channels=8,
        kernel_size=3,
        layers=3,
        strides=[1, 2, 1],
    )
    ckpt = checkpoint.save(
        tmp_path / "m",
        model.eval(),
        {"task": "ao2d", "inputs": ["source"], "targets": ["target"], "step": 0},
    )
    report = evaluate(
        ckpt,
        tiny_dataset,
        split="train",
        out=tmp_path / "ev",
        device="cpu",
        sheet_rows=3,
        equal_quality_images=0,
        quiet=True,
    )
    assert report["images"] == 6 and len(report["per_image"]) == 6
    on_disk = json.loads((tmp_path / "ev/metrics.json").read_text())
    assert on_disk["mean"] == report["mean"]
    assert on_disk["per_image"] == report["per_image"]
    check_against_independent(report, checkpoint.load(ckpt)[0], tiny_dataset)
    sheet = np.asarray(Image.open(tmp_path / "ev/sheet.png"))
    # 3 rows of mask | network | reference | the baselines taps and resconv | error
    assert report["panels"] == ["input", "network", "reference", "taps", "resconv", "error"]
    assert sheet.shape == (3 * 40, 6 * 40, 3)
    assert set(report["baselines"]) == {"taps", "resconv"}
    speed = report["speed"]
    assert speed["network_seconds"] > 0 and speed["taps_seconds"] > 0

    assert (
        main(
            [
                "eval",
                str(ckpt),
                "--data",
                str(tiny_dataset),
                "--split",
                "test",
                "--out",
                str(tmp_path / "ev2"),
                "--device",
                "cpu",
                "--equal-quality-images",
                "0",
                "--quiet",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "1 test images of 40x40 (ao2d)" in out
    assert all(f"  {m} " in out for m in ("network", "taps", "resconv"))


@pytest.fixture(scope="module")
def default_scene(tmp_path_factory):
    """3 test images of 64² rendered with the scene the default model was trained on."""
    root = tmp_path_factory.mktemp("scene") / "ao2d"
    render = checkpoint.read_meta(model_path(DEFAULT_MODEL))["render"]
    config = {"count": 3, "size": 64, "seed": 5, "render": render}
    config["split"] = {"train": 0.0, "val": 0.0, "test": 1.0}
    generate(root, load_config(config, source="ao2d"), quiet=True)
    return root


def test_eval_scores_the_default_model_and_a_perturbed_one_worse(default_scene, tmp_path):
    weights = model_path(DEFAULT_MODEL)
    model, info = checkpoint.load(weights)
    good = evaluate(
        weights, default_scene, out=tmp_path / "good", device="cpu", quiet=True,
        equal_quality_images=0, baselines=False,
    )  # fmt: skip
    check_against_independent(good, model, default_scene)
    assert good["images"] == 3 and good["mean"]["l1"] < 0.02 and good["mean"]["ssim"] > 0.95

    # the same network with its output nudged: a real evaluation sees it get worse
    with torch.no_grad():
        model.head.bias.add_(0.08)
    meta = {k: info[k] for k in ("task", "inputs", "targets", "loss", "render", "step")}
    worse_ckpt = checkpoint.save(tmp_path / "perturbed", model, meta)
    worse = evaluate(
        worse_ckpt, default_scene, out=tmp_path / "bad", device="cpu", quiet=True,
        equal_quality_images=0, baselines=False,
    )  # fmt: skip
    check_against_independent(worse, model, default_scene)
    assert worse["mean"]["l1"] > good["mean"]["l1"] + 0.02
    assert worse["mean"]["psnr"] < good["mean"]["psnr"] - 3
    assert worse["mean"]["ssim"] < good["mean"]["ssim"]


def test_a_bundled_model_is_evaluated_into_the_working_directory_not_the_package(tmp_path):
    from neuralshade.evaluate import default_out
    from neuralshade.infer import model_path

    assert default_out(model_path("ao2d-unet-cpu"), "test") == Path("eval-ao2d-unet-cpu-test")
    assert default_out(tmp_path / "run/best.safetensors", "val") == tmp_path / "run/eval-val"


def test_eval_races_the_renderers_to_the_networks_error(default_scene, tmp_path, capsys):
    weights = model_path(DEFAULT_MODEL)
    report = evaluate(
        weights, default_scene, out=tmp_path / "eq", device="cpu", quiet=True,
        equal_quality_images=1, baselines=False,
    )  # fmt: skip
    eq = report["equal_quality"]
    assert eq["metric"] == "l1" and eq["images"] == 1 and eq["reference"]["ao_samples"] == 4096
    target = eq["network"]["error"]
    assert 0 < target < 0.02
    for name, found in eq["renderers"].items():
        assert found["reached"], name
        curve = {p["samples"]: p["error"] for p in found["curve"]}
        n = found["samples"]
        # the answer reaches the network's error and every fewer samples measured did not
        assert curve[n] <= target and all(e > target for m, e in curve.items() if m < n), name
        assert found["time_ratio"] == pytest.approx(
            found["median_seconds"] / eq["network"]["seconds"]
        )
    assert set(eq["renderers"]) >= {"ours"}
    on_disk = json.loads((tmp_path / "eq/metrics.json").read_text())
    assert on_disk["equal_quality"] == eq


def test_eval_runs_the_baselines_named_and_refuses_an_unknown_one(default_scene, tmp_path):
    weights = model_path(DEFAULT_MODEL)
    report = evaluate(
        weights, default_scene, out=tmp_path / "taps", device="cpu", quiet=True,
        equal_quality_images=0, baselines=["taps"],
    )  # fmt: skip
    assert list(report["baselines"]) == ["taps"] and list(report["speed"]) == [
        "device", "network_seconds", "taps_seconds"]  # fmt: skip
    with pytest.raises(ConfigError, match="no baseline 'gtao' for this model; its baselines: "
                       "taps, resconv"):  # fmt: skip
        evaluate(weights, default_scene, out=tmp_path / "x", device="cpu", baselines=["gtao"])
    assert not (tmp_path / "x").exists()

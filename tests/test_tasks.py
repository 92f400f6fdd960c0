"""Every registered task, on its source's toy data, through the whole generic pipeline.

Train a few steps; kill and resume (the same curve and weights as a run never stopped);
round-trip the checkpoint; evaluate with the task's baselines; export to ONNX and compare.
"""

import json

import pytest
import torch

from neuralshade import checkpoint
from neuralshade.data.generate import generate
from neuralshade.data.sources import get_source
from neuralshade.errors import ConfigError, NeuralShadeError
from neuralshade.evaluate import evaluate
from neuralshade.export import export_onnx
from neuralshade.task import get_task, task_names
from neuralshade.train import load_config, train

# networks small enough for seconds; a task without an entry trains its own defaults
TOY_MODELS = {
    "ao2d": {"net": {"name": "resconv", "args": {"channels": 4, "layers": 2, "strides": [1, 1]}}},
    "deep-shading": {"net": {"name": "deepshading", "args": {"widths": [4, 8], "groups": [1, 2]}}},
    "cnsr": {"net": {"name": "cnsr", "args": {
        "representation_dim": 8, "generator": {"args": {"layers": 1, "hidden_units": 8}}}}},
    "shadow": {
        "generator": {"name": "arshadow-generator", "args": {
            "decoder_channels": [8, 8, 8, 8, 8], "features": 4, "encoder_width": 8}},
        "attention": {"name": "resnet-unet", "args": {
            "encoder": "resnet18", "decoder_channels": [8, 8, 8, 8, 8], "encoder_width": 8}},
        "discriminator": {"name": "srgan-discriminator", "args": {"width": 4}},
    },
}


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
    """source name → the root of its toy dataset (made once per source)."""
    made = {}

    def get(source):
        if source not in made:
            root = tmp_path_factory.mktemp(f"toy-{source}") / "data"
            generate(root, get_source(source).toy_config(), quiet=True)
            made[source] = root
        return made[source]

    return get


def losses(run):
    lines = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"], r.get("losses")) for r in lines if "loss" in r]


def test_the_registry_holds_the_product_tasks_and_the_test_gan():
    assert {"ao2d", "gan-test"} <= set(task_names())
    with pytest.raises(ConfigError, match=r"unknown task 'nope'; known: .*ao2d"):
        get_task("nope")


@pytest.mark.parametrize("name", task_names())
def test_every_task_runs_the_whole_pipeline(name, toy_data, tmp_path, killed_at):
    task = get_task(name)
    data = toy_data(task.source)
    values = {
        "task": name,
        "data": str(data),
        "models": TOY_MODELS.get(name, {}),
        "crop": 16,
        "batch_size": 2,
        "steps": 6,
        "val_interval": 2,
        "checkpoint_interval": 2,
        "log_interval": 1,
        "schedule": {"warmup_steps": 1},
        "device": "cpu",
    }
    config = load_config(values)
    whole = train(config, tmp_path / "whole", quiet=True)

    # ---- killed during step 5 (last checkpoint: step 4), then resumed: the same run
    killed_at(5)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed", quiet=True)
    killed_at(None)
    train(config, tmp_path / "resumed", resume=True, quiet=True)
    assert losses(tmp_path / "resumed") == losses(tmp_path / "whole")
    if len(task.networks) > 1:
        assert set(losses(tmp_path / "whole")[0][2]) == set(task.networks)
    a, info = checkpoint.load_networks(whole["last"])
    b, _ = checkpoint.load_networks(tmp_path / "resumed/checkpoints/last.safetensors")
    assert list(a) == list(task.networks) and info["task"] == name
    for net in task.networks:
        sa, sb = a[net].state_dict(), b[net].state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa), net

    # ---- the checkpoint round-trips: saved again from what it rebuilds, the same tensors
    checkpoint.save(tmp_path / "copy", a, {"task": name})
    again, _ = checkpoint.load_networks(tmp_path / "copy")
    for net in task.networks:
        sa, sc = a[net].state_dict(), again[net].state_dict()
        assert sa.keys() == sc.keys() and all(torch.equal(sa[k], sc[k]) for k in sa), net

    if not task.single_view:  # the image pipeline says it does not run it, and why
        for run in (lambda: evaluate(whole["best"], data, out=tmp_path / "eval", quiet=True),
                    lambda: export_onnx(whole["best"], tmp_path / "model.onnx")):  # fmt: skip
            with pytest.raises(NeuralShadeError, match=f"benchmarks/{name}.py"):
                run()
        return

    # ---- evaluation, with the baselines, on the same images
    report = evaluate(
        whole["best"], data, out=tmp_path / "eval", equal_quality_images=0, quiet=True
    )
    assert report["task"] == name and set(report["baselines"]) == set(task.baselines_for(info))
    for means in (report["mean"], *report["baselines"].values()):
        assert set(means) == set(task.metrics)
        assert all(v == v for v in means.values())  # no NaN
    assert (tmp_path / "eval/sheet.png").is_file()

    # ---- ONNX: the network inference runs, checked against torch by the exporter
    exported = export_onnx(whole["best"], tmp_path / "model.onnx", network=task.networks[0])
    assert exported["max_abs_diff"] <= exported["tolerance"]

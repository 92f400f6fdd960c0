"""The trainer: it learns, resumes exactly, stops on NaN, and runs under torchrun."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from neuralshade import checkpoint
from neuralshade.errors import ConfigError, TrainingError
from neuralshade.task import get_task
from neuralshade.train import load_config, lr_at, train

SMALL_NET = {
    "name": "resconv",
    "args": {"channels": 8, "kernel_size": 3, "layers": 3, "strides": [1, 2, 1]},
}


def config(data, **overrides):
    values = {
        "task": "ao2d",
        "data": str(data),
        "model": SMALL_NET,
        "crop": 24,
        "batch_size": 4,
        "steps": 20,
        "val_interval": 5,
        "checkpoint_interval": 5,
        "log_interval": 1,
        "optimizer": {"lr": 3e-3},
        "schedule": {"warmup_steps": 2},
        "device": "cpu",
    }
    values.update(overrides)
    return load_config(values)


def train_losses(run):
    lines = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in lines if "loss" in r]


def test_a_few_steps_lower_the_loss(tiny_dataset, tmp_path):
    summary = train(config(tiny_dataset, steps=40), tmp_path / "run", quiet=True)
    losses = [loss for _, loss in train_losses(tmp_path / "run")]
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5
    model, info = checkpoint.load(summary["last"])
    assert info["step"] == 40 and info["task"] == "ao2d" and info["inputs"] == ["source"]
    assert (tmp_path / "run/checkpoints/best.safetensors").is_file()
    assert list((tmp_path / "run/tensorboard").glob("events.out.tfevents.*"))


def test_training_on_a_cpu_flushes_subnormal_floats(tiny_dataset, tmp_path):
    # subnormals take x86's slow path: a recurrent net drifting into them ran 6× slower
    torch.set_flush_denormal(False)
    assert float(torch.tensor(1e-39) * 2) > 0
    train(config(tiny_dataset, steps=1), tmp_path / "run", quiet=True)
    assert float(torch.tensor(1e-39) * 2) == 0


def test_resume_reproduces_the_uninterrupted_loss_curve(tiny_dataset, tmp_path, killed_at):
    cfg = config(tiny_dataset)
    train(cfg, tmp_path / "whole", quiet=True)

    killed_at(13)  # the process dies during step 13 (last checkpoint: step 10)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "resumed", quiet=True)
    killed_at(None)
    assert checkpoint.read_meta(tmp_path / "resumed/checkpoints/last")["step"] == 10
    with pytest.raises(ConfigError, match="--resume"):
        train(cfg, tmp_path / "resumed", quiet=True)
    other = config(tiny_dataset, model={**SMALL_NET, "args": {**SMALL_NET["args"], "channels": 4}})
    with pytest.raises(
        ConfigError, match=r"holds another run.*models\.net\.args\.channels: 8 -> 4"
    ):
        train(other, tmp_path / "resumed", resume=True, quiet=True)
    train(cfg, tmp_path / "resumed", resume=True, quiet=True)
    assert train_losses(tmp_path / "resumed") == train_losses(tmp_path / "whole")
    history = (tmp_path / "resumed/history.jsonl").read_text()
    again = train(cfg, tmp_path / "resumed", resume=True, quiet=True)  # finished: no-op
    assert again["step"] == 20 and (tmp_path / "resumed/history.jsonl").read_text() == history
    a = checkpoint.load(tmp_path / "whole/checkpoints/last")[0].state_dict()
    b = checkpoint.load(tmp_path / "resumed/checkpoints/last")[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(
    tiny_dataset, tmp_path, monkeypatch
):
    import neuralshade.losses as losses_mod

    real = losses_mod.build_loss("l1")
    calls = {"n": 0}

    def poisoned(pred, target):
        calls["n"] += 1
        loss = real(pred, target)
        return loss * float("nan") if calls["n"] > 8 else loss

    monkeypatch.setattr(losses_mod, "build_loss", lambda name: poisoned)
    with pytest.raises(TrainingError, match="nan at step"):
        train(config(tiny_dataset, val_interval=100), tmp_path / "run", quiet=True)
    info = checkpoint.read_meta(tmp_path / "run/checkpoints/last")
    assert info["step"] == 5  # saved before the loss went bad, not after
    model, _ = checkpoint.load(tmp_path / "run/checkpoints/last")
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_lr_warms_up_linearly_then_follows_a_cosine(tiny_dataset):
    cfg = config(
        tiny_dataset,
        steps=110,
        optimizer={"lr": 1.0},
        schedule={"warmup_steps": 10, "min_lr_ratio": 0.1},
    )
    assert lr_at(0, cfg) == pytest.approx(0.1) and lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(10, cfg) == pytest.approx(1.0)
    assert lr_at(60, cfg) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_at(110, cfg) == pytest.approx(0.1)


@pytest.mark.parametrize(
    "values, key",
    [
        ({"loss": "l7"}, "l7"),
        ({"batch_size": 0}, "batch_size"),
        ({"optimiser": {}}, "optimiser"),
        ({"task": "ao3d"}, r"unknown task 'ao3d'; known: .*ao2d"),
        ({"freeze": ["generator"]}, r"freeze: task ao2d has no network \['generator'\]"),
        ({"freeze": ["net"]}, "every network is frozen"),
        ({"models": {"net": SMALL_NET}}, "give `model` or `models`, not both"),
    ],
)
def test_bad_training_configs_name_the_problem(tiny_dataset, values, key):
    with pytest.raises(ConfigError, match=key):
        config(tiny_dataset, **values)


@pytest.mark.parametrize("task", ["ao2d", "gan-test"])
def test_two_processes_under_torchrun(task, tiny_dataset, tmp_path):
    model = SMALL_NET if task == "ao2d" else None  # the GAN task's own small defaults
    cfg = config(
        tiny_dataset, task=task, model=model, steps=6, val_interval=3, checkpoint_interval=3
    )
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(Path(__file__).parent / "gan_task.py"),  # the CLI, with the GAN task registered
        "train",
        str(path),
        "--out",
        str(tmp_path / "run"),
        "--quiet",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    info = checkpoint.read_meta(tmp_path / "run/checkpoints/last")
    assert info["world_size"] == 2 and info["step"] == 6
    assert list(info["models"]) == list(get_task(task).networks)
    assert len(train_losses(tmp_path / "run")) == 6
    nets, _ = checkpoint.load_networks(tmp_path / "run/checkpoints/last")
    assert all(torch.isfinite(p).all() for net in nets.values() for p in net.parameters())


def test_stages_chain_by_init_and_freeze(tiny_dataset, tmp_path):
    # stage 1: the GAN trains both networks; stage 2 starts both from stage 1's last
    # checkpoint and trains only the generator against the frozen discriminator
    stage1 = train(config(tiny_dataset, task="gan-test", model=None, steps=3), tmp_path / "s1")
    first, _ = checkpoint.load_networks(stage1["last"])
    init = {n: {"checkpoint": stage1["last"]} for n in ("generator", "discriminator")}
    cfg = config(
        tiny_dataset, task="gan-test", model=None, steps=3, init=init, freeze=["discriminator"]
    )
    stage2 = train(cfg, tmp_path / "s2", quiet=True)
    second, info = checkpoint.load_networks(stage2["last"])
    frozen, before = second["discriminator"].state_dict(), first["discriminator"].state_dict()
    assert all(torch.equal(frozen[k], before[k]) for k in before)  # started there, never moved
    moved, start = second["generator"].state_dict(), first["generator"].state_dict()
    assert any(not torch.equal(moved[k], start[k]) for k in start)
    assert list(info["optimizers"]) == ["generator"]  # a frozen network has no optimiser
    assert all(r[0] < 3 for r in train_losses(tmp_path / "s2"))
    # the generator's first loss in stage 2 is that of stage 1's final weights, not a new init
    fresh = train(
        config(tiny_dataset, task="gan-test", model=None, steps=3, freeze=["discriminator"]),
        tmp_path / "fresh",
        quiet=True,
    )
    assert train_losses(tmp_path / "s2")[0][1] != train_losses(tmp_path / "fresh")[0][1]
    assert fresh["step"] == 3


def test_init_names_the_network_to_take_when_the_checkpoint_has_several(tiny_dataset, tmp_path):
    gan = train(config(tiny_dataset, task="gan-test", model=None, steps=1), tmp_path / "gan")
    # an ao2d run may start its one network from the GAN's generator, if it says so
    net = {"name": "resconv", "args": {"channels": 4, "layers": 2, "strides": [1, 1]}}
    take = {"net": {"checkpoint": gan["last"], "network": "generator"}}
    run = train(config(tiny_dataset, model=net, steps=1, init=take), tmp_path / "a", quiet=True)
    assert checkpoint.read_meta(run["last"])["step"] == 1
    with pytest.raises(ConfigError, match=r"holds networks \['generator', 'discriminator'\]"):
        train(config(tiny_dataset, model=net, steps=1, init={"net": {"checkpoint": gan["last"]}}),
              tmp_path / "b", quiet=True)  # fmt: skip


def test_a_run_started_by_the_previous_version_resumes(tiny_dataset, tmp_path, killed_at):
    cfg = config(tiny_dataset, steps=10)
    killed_at(7)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "run", quiet=True)
    killed_at(None)
    # the sidecar as the version before several networks per run wrote its config
    sidecar = tmp_path / "run/checkpoints/last.json"
    info = json.loads(sidecar.read_text())
    old = dict(info["config"], model=SMALL_NET)
    for key in ("models", "init", "freeze", "optimizers", "options"):
        del old[key]
    sidecar.write_text(json.dumps({**info, "config": old}))
    assert train(cfg, tmp_path / "run", resume=True, quiet=True)["step"] == 10
    # still only the same run: a changed setting is refused, named in the new form
    other = config(tiny_dataset, steps=10, crop=16)
    with pytest.raises(ConfigError, match=r"config\.crop: 24 -> 16"):
        train(other, tmp_path / "run", resume=True, quiet=True)

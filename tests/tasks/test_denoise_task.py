"""denoise: each training sample reads its noisy inputs at one sample count, OIDN (the baseline)
and Mitsuba (the race) score against the dataset's reference, and a run trains end to end."""

import numpy as np
import pytest
import torch

from neuralshade.data.datasets import BufferDataset
from neuralshade.data.generate import generate, load_config
from neuralshade.errors import ConfigError
from neuralshade.task import get_task
from neuralshade.tasks.denoise import _noisy, _present, level
from neuralshade.train import load_config as train_config

INFO = {"inputs": ["beauty", "albedo", "normal"], "targets": ["beauty_reference"],
        "loss": "logl1"}  # fmt: skip


@pytest.fixture(scope="module")
def room(mitsuba, tmp_path_factory):
    """Three rooms at 32², noisy at 1, 4 and 16 spp, the reference at 256."""
    root = tmp_path_factory.mktemp("denoise") / "data"
    values = {"count": 3, "views": 1, "size": 32, "seed": 5, "spp": 16, "spp_levels": [1, 4],
              "reference_spp": 256, "buffers": ["albedo", "normal"],
              "reference_buffers": ["beauty"],
              "split": {"train": 1 / 3, "val": 1 / 3, "test": 1 / 3}}  # fmt: skip
    generate(root, load_config(values, source="room"), quiet=True)
    return root


def levels_batch(b=6, size=4):
    """Inputs at 1, 4 and 16 spp whose values say their count: beauty_4spp is all 4."""
    batch = {}
    for spp in (1, 4, 16):
        for name, c in (("beauty", 3), ("albedo", 3), ("normal", 3)):
            batch[level(name, spp)] = torch.full((b, c, size, size), float(spp))
        batch[level("beauty", spp)] += torch.arange(b).view(b, 1, 1, 1) * 100  # per sample
    return batch


def test_each_sample_reads_all_its_inputs_at_one_count_drawn_per_sample():
    batch = levels_batch()
    x, spp = _noisy(batch, INFO["inputs"], [1, 4, 16], None)
    assert x.shape == (6, 9, 4, 4)
    for i in range(6):
        n = int(spp[i])
        assert n in (1, 4, 16)
        assert torch.all(x[i, :3] == n + 100 * i) and torch.all(x[i, 3:] == n)  # one count
    # drawn from the batch: the same batch draws the same counts (a resumed run too) ...
    assert torch.equal(_noisy(batch, INFO["inputs"], [1, 4, 16], None)[1], spp)
    # ... and over batches every count comes up
    seen = set()
    for k in range(20):
        other = {n: t + k for n, t in batch.items()}
        seen |= set(_noisy(other, INFO["inputs"], [1, 4, 16], None)[1].tolist())
    assert seen == {1, 4, 16}
    # validation takes them in turn
    turn = torch.arange(6) % 3
    assert _noisy(batch, INFO["inputs"], [1, 4, 16], turn)[1].tolist() == [1, 4, 16] * 2


def test_predict_reads_bare_names_or_the_first_count_a_batch_holds():
    batch = levels_batch()
    assert _present(batch, INFO["inputs"]) == ["beauty_1spp", "albedo_1spp", "normal_1spp"]
    bare = {"beauty": batch["beauty_4spp"], "albedo": batch["albedo_4spp"],
            "normal": batch["normal_4spp"]}  # fmt: skip
    assert _present(bare, INFO["inputs"]) == INFO["inputs"]
    with pytest.raises(ConfigError, match="none of the inputs"):
        _present({"beauty": batch["beauty_1spp"]}, INFO["inputs"])


def test_a_training_config_names_inputs_without_counts_and_one_target(room):
    base = {"task": "denoise", "data": str(room), "options": {"spp": [1, 4, 16]}}
    config = train_config(base)
    names = get_task("denoise").training_buffers(config)
    assert names == [level(n, s) for s in (1, 4, 16) for n in ("beauty", "albedo", "normal")] + [
        "beauty_reference"
    ]
    with pytest.raises(ConfigError, match="without a sample count"):
        train_config({**base, "inputs": ["beauty_4spp", "albedo", "normal"]})
    with pytest.raises(ConfigError, match="beauty_reference"):
        train_config({**base, "targets": ["diffuse_reference"]})
    with pytest.raises(ConfigError, match="unknown denoise options"):
        train_config({**base, "options": {"spp": [4], "levels": 2}})
    with pytest.raises(ConfigError, match="options.spp"):
        train_config({**base, "options": {"spp": 4}})


def test_oidn_brings_the_noisy_room_closer_to_the_reference(room):
    pytest.importorskip("pyoidn")
    task = get_task("denoise")
    data = BufferDataset(room, "all", ["beauty_1spp", "beauty_reference"], crop=None,
                         mode="full")  # fmt: skip
    for i in range(len(data)):
        truth = data[i]["beauty_reference"][None]
        clean = task.baseline("oidn", data, i, INFO)
        assert clean.shape == truth.shape and torch.isfinite(clean).all()
        # the baseline reads the pass's own count (16 spp), whatever the dataset served
        noisy = with_bare(data, i)
        assert error(clean, truth) < 0.5 * error(noisy, truth)


def with_bare(data, i):
    return BufferDataset(data.root, "all", ["beauty"], crop=None, mode="full")[i]["beauty"][None]


def error(x, y):
    t = get_task("denoise")
    return float((t.displayed(x, INFO) - t.displayed(y, INFO)).square().mean())


def test_mitsuba_at_more_samples_comes_closer_to_the_reference(room):
    data = BufferDataset(room, "all", ["beauty", "beauty_reference"], crop=None, mode="full")
    race = get_task("denoise").race(data, INFO, torch.device("cpu"))
    renderer, truth = race.renderers["mitsuba"], race.truth(0)
    errors = [np.abs(renderer.render(0, n)[0] - truth).mean() for n in (2, 64)]
    assert errors[1] < 0.4 * errors[0], errors
    assert race.reference == {"renderer": "mitsuba", "buffer": "beauty", "samples": 256}


def test_a_run_trains_on_every_count_and_eval_scores_it_beside_oidn(room, tmp_path, capsys):
    pytest.importorskip("pyoidn")
    from neuralshade.cli import main
    from neuralshade.train import train

    values = {"task": "denoise", "data": str(room), "crop": 32, "batch_size": 1, "steps": 3,
              "val_interval": 2, "checkpoint_interval": 2, "loss": "logl1", "device": "cpu",
              "options": {"spp": [1, 4, 16]},
              "model": {"name": "unet", "args": {"widths": [4, 8], "blocks": [0, 1],
                                                  "head": "direct"}}}  # fmt: skip
    train(train_config(values), tmp_path / "run", quiet=True)
    best = tmp_path / "run" / "checkpoints" / "best.safetensors"
    argv = ["eval", str(best), "--data", str(room), "--split", "test", "--quiet",
            "--equal-quality-images", "0", "--out", str(tmp_path / "eval")]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "oidn " in out and "oidn_fast" in out and "relmse" in out


def test_kpcn_trains_each_branch_in_its_own_domain(mitsuba, tmp_path):
    """A KPCN run reads the variances and the converged diffuse and specular light; its loss
    is the two branches' L1, each against the reference in the branch's domain."""
    from neuralshade.models import build
    from neuralshade.models.kpcn import KPCN

    root = tmp_path / "data"
    values = {"count": 3, "views": 1, "size": 16, "seed": 2, "spp": 8, "spp_levels": [2],
              "reference_spp": 16, "reference_buffers": ["beauty", "diffuse", "specular"],
              "buffers": [n for n, _ in KPCN_LAYOUT()],
              "split": {"train": 1 / 3, "val": 1 / 3, "test": 1 / 3}}  # fmt: skip
    generate(root, load_config(values, source="room"), quiet=True)
    inputs = [n for n, _ in KPCN_LAYOUT()]
    base = {"task": "denoise", "data": str(root), "inputs": inputs, "crop": 16,
            "options": {"spp": [2, 8]},
            "model": {"name": "kpcn", "args": {"width": 4, "layers": 2, "kernel_size": 3}}}
    config = train_config(base)
    names = get_task("denoise").training_buffers(config)
    assert {"diffuse_reference", "specular_reference", "depth_variance_2spp"} <= set(names)
    with pytest.raises(ConfigError, match="from 2 spp up"):
        train_config({**base, "options": {"spp": [1, 8]}})
    data = BufferDataset(root, "train", names, crop=None, mode="full")
    batch = {k: v[None] for k, v in data[0].items()}
    torch.manual_seed(0)
    net = build("kpcn", width=4, layers=2, kernel_size=3)
    (name, loss), = list(get_task("denoise").train_step({"net": net}, batch, config))
    x = torch.cat([batch[level(n, 2)] for n in inputs], 1)  # one sample: whichever count
    x8 = torch.cat([batch[level(n, 8)] for n in inputs], 1)
    expected = []
    for xs in (x, x8):  # the loss of either count (one sample draws one)
        pred = net.branches(xs)
        albedo = xs[:, 12:15]
        want = KPCN.transform(batch["diffuse_reference"], batch["specular_reference"], albedo,
                              net.eps)  # fmt: skip
        expected.append(sum(float((pred[k] - want[k]).abs().mean().detach()) for k in pred))
    assert name == "net" and min(abs(float(loss) - e) for e in expected) < 1e-5


def KPCN_LAYOUT():
    from neuralshade.models.kpcn import LAYOUT

    return LAYOUT


def test_oidns_network_starts_from_oidns_weights_and_runs_inside_oidn(room, tmp_path):
    """``init: oidn:NAME`` starts an oidn-unet from the weights OIDN ships; the trained network
    runs in OIDN's own filter (``neuralshade denoise --model``) as it does in torch."""
    pytest.importorskip("pyoidn")
    from neuralshade.denoise import load_network
    from neuralshade.infer import load_model, predict
    from neuralshade.models.oidn import oidn_weights
    from neuralshade.train import train

    values = {"task": "denoise", "data": str(room), "crop": 32, "batch_size": 1, "steps": 1,
              "val_interval": 1, "checkpoint_interval": 1, "loss": "pul1+ssim", "device": "cpu",
              "options": {"spp": [1, 4]}, "optimizer": {"lr": 1e-3, "weight_decay": 0.0},
              "schedule": {"warmup_steps": 0},
              "model": {"name": "oidn-unet", "args": {"size": "base"}},
              "init": {"net": {"checkpoint": "oidn:rt_hdr_alb_nrm"}}}  # fmt: skip
    train(train_config(values), tmp_path / "run", quiet=True)
    first = tmp_path / "run" / "checkpoints" / "last.safetensors"
    model, _ = load_model(first, "cpu", task="denoise")
    state, shipped = model.state_dict(), oidn_weights()
    moved = max(float((state[k] - v).abs().max()) for k, v in shipped.items())
    assert 0 < moved < 1e-2  # one Adam step of 1e-3 from OIDN's weights: near them, not on them

    data = BufferDataset(room, "test", ["beauty", "albedo", "normal"], crop=None, mode="full")
    view = data[0]
    want = predict(model, dict(view)).permute(1, 2, 0).numpy()
    arrays = [view[n].permute(1, 2, 0).numpy() for n in ("beauty", "albedo", "normal")]
    arrays[0] = np.maximum(arrays[0], 0)
    got = load_network(str(first))(*arrays, quality="high", hdr=True, spp=None)
    assert np.abs(got - want).max() < 1e-3 * max(1.0, float(want.max()))

    small = {**values, "model": {"name": "oidn-unet", "args": {"size": "small"}}}
    with pytest.raises(ConfigError, match="does not fit"):
        train(train_config(small), tmp_path / "small", quiet=True)

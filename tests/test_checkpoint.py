"""Checkpoints: safetensors + JSON sidecar; they rebuild their model and refuse bad files."""

import json

import pytest
import torch

from neuralshade import checkpoint
from neuralshade.errors import CheckpointError
from neuralshade.models import build

ARGS = {"channels": 8, "kernel_size": 3, "layers": 3, "strides": [1, 2, 1], "in_channels": 1}


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = build("resconv", **ARGS)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.rand(2, 1, 24, 24)
    model(x).square().mean().backward()
    optimizer.step()
    path = checkpoint.save(tmp_path / "ckpt", model.eval(), {"task": "ao2d", "step": 7}, optimizer)
    return model, optimizer, x, path


def test_a_checkpoint_alone_rebuilds_its_model(saved):
    model, _, x, path = saved
    loaded, info = checkpoint.load(path.with_suffix(".safetensors"))
    assert info["step"] == 7 and info["model"]["name"] == "resconv"
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_optimizer_state_round_trips(saved):
    model, optimizer, _, path = saved
    fresh = torch.optim.AdamW(model.parameters(), lr=1e-3)
    checkpoint.load_optimizer(path, fresh)
    a, b = optimizer.state_dict(), fresh.state_dict()
    for i, state in a["state"].items():
        for key, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(b["state"][i][key]))
    assert a["param_groups"][0]["lr"] == b["param_groups"][0]["lr"]


def test_files_are_safetensors_and_json_never_pickles(saved):
    _, _, _, path = saved
    for name in ("ckpt.safetensors", "ckpt.state.safetensors"):
        raw = (path.parent / name).read_bytes()
        header_len = int.from_bytes(raw[:8], "little")
        json.loads(raw[8 : 8 + header_len])  # a safetensors header is plain JSON
    json.loads(path.read_text())


def test_wrong_or_damaged_checkpoints_give_clear_errors(saved, tmp_path):
    _, _, _, path = saved
    weights = path.with_suffix(".safetensors")
    with pytest.raises(CheckpointError, match="trained for task 'ao2d'"):
        checkpoint.load(weights, task="denoise")
    with pytest.raises(CheckpointError, match="not found"):
        checkpoint.load(tmp_path / "nothing.safetensors")
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(CheckpointError, match="not a neuralshade checkpoint"):
        checkpoint.load(tmp_path / "other.json")
    (tmp_path / "garbled.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="cannot read"):
        checkpoint.load(tmp_path / "garbled.json")
    raw = bytearray(weights.read_bytes())
    raw[-5:] = b"xxxxx"
    weights.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="does not match its sidecar"):
        checkpoint.load(weights)


def test_weights_that_do_not_fit_the_model_are_refused(saved, tmp_path):
    _, _, _, path = saved
    info = json.loads(path.read_text())
    info["model"]["args"]["channels"] = 16  # the sidecar now describes another network
    path.write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match="does not fit"):
        checkpoint.load(path)


def test_the_shipped_model_approximates_the_renderer():
    from importlib import resources

    import numpy as np

    from neuralshade.masks import random_mask
    from neuralshade.render.heightfield import RenderParams, render

    path = resources.files("neuralshade") / "weights/ao2d-resconv-cpu.safetensors"
    model, info = checkpoint.load(str(path), task="ao2d")
    assert info["inputs"] == ["source"] and info["provenance"]["test"]["l1"] < 0.03
    mask = random_mask(160, np.random.default_rng(12345))  # not a training image
    target = render(mask, RenderParams(ao_samples=16), seed=0).beauty
    with torch.inference_mode():
        pred = model(torch.from_numpy(mask)[None, None]).clamp(0, 1)[0]
    assert pred.shape == target.shape
    assert float((pred - target).abs().mean()) < 0.03

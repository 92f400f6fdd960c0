"""Checkpoints: safetensors + JSON sidecar; they rebuild their model and refuse bad files."""

import hashlib
import json
import pickle
import shutil

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


class Payload:
    """Unpickling it writes ``path``: a loader that unpickles leaves a trace on disk."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def no_unpickling(monkeypatch):
    """pickle.load(s) and torch.load replaced by functions that record the call and raise.

    Returns the list of calls. (A loader that catches the error still leaves its call there.)
    """
    calls = []

    def refuse(name):
        def unpickle(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} called")

        return unpickle

    monkeypatch.setattr(pickle, "load", refuse("pickle.load"))
    monkeypatch.setattr(pickle, "loads", refuse("pickle.loads"))
    monkeypatch.setattr(torch, "load", refuse("torch.load"))
    return calls


def rehash(sidecar, weights, key=("weights_sha256",)):
    """Point the sidecar's hash at the file now there, so only its format can refuse it."""
    info = json.loads(sidecar.read_text())
    node = info
    for k in key[:-1]:
        node = node[k]
    node[key[-1]] = hashlib.sha256(weights.read_bytes()).hexdigest()
    sidecar.write_text(json.dumps(info))


def test_a_pickle_where_the_weights_belong_is_refused_unopened(
    saved, tmp_path, no_unpickling, monkeypatch
):
    model, _, _, path = saved
    weights = path.with_suffix(".safetensors")
    sentinel = tmp_path / "unpickled"
    torch.save({"payload": Payload(sentinel), **model.state_dict()}, weights)
    rehash(path, weights)  # the hash agrees: the file's format alone must refuse it
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        checkpoint.load(weights)
    assert no_unpickling == [] and not sentinel.exists()
    # the file is live: unpickling it (under a name torch.load does not hand to safetensors)
    # runs the payload
    monkeypatch.undo()
    torch.load(shutil.copy(weights, tmp_path / "copy.pt"), weights_only=False)
    assert sentinel.exists()


def test_a_pickle_where_the_sidecar_or_optimizer_state_belong_is_refused(
    saved, tmp_path, no_unpickling
):
    model, _, _, path = saved
    state = path.with_suffix(".state.safetensors")
    with open(state, "wb") as f:
        pickle.dump(Payload(tmp_path / "from-state"), f)  # dump is not patched, only loading
    rehash(path, state, key=("optimizer", "sha256"))
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        checkpoint.load_optimizer(path, torch.optim.AdamW(model.parameters()))
    with open(path, "wb") as f:
        pickle.dump({"format": 1, "payload": Payload(tmp_path / "from-sidecar")}, f)
    with pytest.raises(CheckpointError, match="cannot read"):
        checkpoint.load(path)
    assert no_unpickling == []
    assert not (tmp_path / "from-state").exists() and not (tmp_path / "from-sidecar").exists()


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

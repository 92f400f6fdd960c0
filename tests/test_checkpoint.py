"""Checkpoints: safetensors + JSON sidecar; they rebuild their networks and refuse bad files."""

import hashlib
import json
import pickle
import re
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from neuralshade import checkpoint, models
from neuralshade.errors import CheckpointError, ConfigError
from neuralshade.fields.network import FieldNetwork, optimizer
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
    assert info["step"] == 7 and info["format"] == 2
    assert info["models"] == {"net": model.spec} and info["model"] == model.spec
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
    rehash(path, state, key=("optimizers", "net", "sha256"))
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
    info["models"]["net"]["args"]["channels"] = 16  # the sidecar now describes another network
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
    assert info["format"] == 1 and info["models"] == {"net": info["model"]}  # read as format 2
    mask = random_mask(160, np.random.default_rng(12345))  # not a training image
    target = render(mask, RenderParams(ao_samples=16), seed=0).beauty
    with torch.inference_mode():
        pred = model(torch.from_numpy(mask)[None, None]).clamp(0, 1)[0]
    assert pred.shape == target.shape
    assert float((pred - target).abs().mean()) < 0.03


# ---- several networks in one checkpoint

TINY_FIELD = {
    "encoding": {
        "otype": "HashGrid",
        "n_levels": 2,
        "log2_hashmap_size": 4,
        "base_resolution": 2,
        "max_resolution": 4,
    },
    "network": {"n_hidden_layers": 1, "n_neurons": 4},
}


def train_steps(nets, optimizers, steps, seed):
    """``steps`` steps of every optimizer on seeded inputs, from where the networks are."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        image, points = torch.rand(2, 1, 16, 16, generator=g), torch.rand(16, 2, generator=g)
        loss = nets["shade"](image).square().mean() + nets["field"](points).square().mean()
        for opt in optimizers.values():
            opt.zero_grad()
        loss.backward()
        for opt in optimizers.values():
            opt.step()


def exactly_equal(a, b):
    torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.fixture
def pair(tmp_path):
    """An image and a coordinate network with their optimizers after two steps, saved together
    as ``shade`` and ``field``: (networks, optimizers, sidecar)."""
    torch.manual_seed(0)
    nets = {"shade": build("resconv", **ARGS), "field": build("field", config=TINY_FIELD)}
    optimizers = {
        "shade": torch.optim.AdamW(nets["shade"].parameters(), lr=1e-2),
        "field": optimizer(nets["field"], lr=1e-2),  # two named parameter groups
    }
    train_steps(nets, optimizers, 2, seed=1)
    path = checkpoint.save(tmp_path / "pair", nets, {"task": "pair", "step": 2}, optimizers)
    return nets, optimizers, path


def test_two_networks_and_their_optimizers_round_trip_and_train_on_identically(pair):
    nets, optimizers, path = pair
    loaded, info = checkpoint.load_networks(path)
    assert info["models"] == {name: net.spec for name, net in nets.items()}
    assert "model" not in info  # no single network to stand for the checkpoint
    for name, net in nets.items():
        assert type(loaded[name]) is type(net) and not loaded[name].training
        exactly_equal(loaded[name].state_dict(), net.state_dict())
    # one file of weights and one of optimizer state, each key under its network's name
    for suffix in (".safetensors", ".state.safetensors"):
        keys = load_file(str(path.with_suffix("").with_suffix(suffix)))
        assert {key.split(".")[0] for key in keys} == {"shade", "field"}, suffix
    fresh = {
        "shade": torch.optim.AdamW(loaded["shade"].parameters(), lr=1.0),
        "field": optimizer(loaded["field"], lr=1.0),
    }
    checkpoint.load_optimizer(path, fresh, info)
    for name, opt in fresh.items():
        exactly_equal(opt.state_dict()["state"], optimizers[name].state_dict()["state"])
        assert [g["lr"] for g in opt.param_groups] == [
            g["lr"] for g in optimizers[name].param_groups
        ]
    assert [g["name"] for g in fresh["field"].param_groups] == ["tables", "network"]
    for net in loaded.values():
        net.train()
    train_steps(nets, optimizers, 2, seed=2)
    train_steps(loaded, fresh, 2, seed=2)
    for name, net in nets.items():
        exactly_equal(loaded[name].state_dict(), net.state_dict())


def test_one_network_of_several_is_loaded_by_name(pair):
    nets, _, path = pair
    with pytest.raises(CheckpointError, match=r"several networks \(shade, field\): name the one"):
        checkpoint.load(path)
    field, info = checkpoint.load(path, network="field")
    assert info["models"]["field"] == field.spec == nets["field"].spec
    points = torch.rand(32, 2)
    with torch.no_grad():
        assert torch.equal(field(points), nets["field"](points))
    with pytest.raises(CheckpointError, match="has no network 'fields'; it has: shade, field"):
        checkpoint.load(path, network="fields")
    with pytest.raises(CheckpointError, match="trained for task 'pair', not 'ao2d'"):
        checkpoint.load_networks(path, task="ao2d")


def test_a_subset_of_networks_initialises_part_of_a_new_run(pair):
    nets, optimizers, path = pair
    torch.manual_seed(1)
    new = {"field": build("field", config=TINY_FIELD), "critic": build("resconv", **ARGS)}
    checkpoint.load_weights(path, {"field": new["field"]})
    exactly_equal(new["field"].state_dict(), nets["field"].state_dict())
    opt = optimizer(new["field"], lr=1.0)
    checkpoint.load_optimizer(path, {"field": opt})
    exactly_equal(opt.state_dict()["state"], optimizers["field"].state_dict()["state"])
    with pytest.raises(CheckpointError, match="has no network 'critic'; it has: shade, field"):
        checkpoint.load_weights(path, new)
    critic_opt = torch.optim.AdamW(new["critic"].parameters())
    with pytest.raises(CheckpointError, match="no optimizer state for network 'critic'"):
        checkpoint.load_optimizer(path, {"critic": critic_opt})
    narrow = build("resconv", **{**ARGS, "channels": 4})
    with pytest.raises(CheckpointError, match=r"network 'shade' \(resconv\) does not fit"):
        checkpoint.load_weights(path, {"shade": narrow})


@pytest.mark.parametrize("bad", ["a.b", "", "1st", "a b", "net\n"])
def test_network_names_are_identifiers_so_keys_cannot_collide(tmp_path, bad):
    # "a" with its key "b.weight" and "a.b" with "weight" would both be "a.b.weight"
    model = build("resconv", **ARGS)
    with pytest.raises(ConfigError, match=re.escape(f"networks named {bad!r}") + ".*identifier"):
        checkpoint.save(tmp_path / "x", {"a": model, bad: model}, {})
    assert list(tmp_path.iterdir()) == []  # refused before anything is written


def test_an_optimizer_without_its_network_is_refused(tmp_path):
    model = build("resconv", **ARGS)
    with pytest.raises(ConfigError, match=r"optimizers for \['b'\].*it holds a"):
        checkpoint.save(
            tmp_path / "x", {"a": model}, {}, {"b": torch.optim.SGD(model.parameters())}
        )
    assert list(tmp_path.iterdir()) == []


def _drop(key):
    return lambda info: info["models"]["field"].pop(key)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda info: info["models"].clear(), r"models: Dictionary should have at least 1"),
        (_drop("name"), r"models\.field\.name: Field required"),
        (lambda info: info["models"]["shade"].update(arg={}), r"models\.shade\.arg: Extra"),
        (lambda info: info["models"].update({"a.b": {"name": "x"}}), r"models\.a\.b\.\[key\]"),
        (lambda info: info["optimizers"]["field"].pop("sha256"), r"optimizers\.field\.sha256"),
        (lambda info: info["optimizers"].update({"x": []}), r"optimizers\.x: Input should be"),
        (lambda info: info.update(step=-1), r"step: Input should be greater than or equal to 0"),
        (lambda info: info.update(inputs="source"), r"inputs: Input should be a valid list"),
        (lambda info: info.update(format=3), r"checkpoint format 3; neuralshade .* formats 1, 2"),
        (lambda info: info.pop("models"), r"not a neuralshade checkpoint"),
    ],
)
def test_a_damaged_sidecar_is_refused_naming_the_key(pair, damage, message):
    _, _, path = pair
    info = json.loads(path.read_text())
    damage(info)
    path.write_text(json.dumps(info))
    for read in (checkpoint.read_meta, checkpoint.load_networks):
        with pytest.raises(CheckpointError, match=message):
            read(path)


# ---- format 1: one network, its spec under "model", keys unprefixed

# the spec a format-1 sidecar held for a field network: FieldNetwork's whole config, the
# encoding completed (written by neuralshade 0.1.0's FieldNetwork.spec)
V1_FIELD_SPEC = {
    "n_input_dims": 2,
    "encoding": {
        "otype": "HashGrid",
        "n_levels": 2,
        "n_features_per_level": 2,
        "log2_hashmap_size": 4,
        "base_resolution": 2,
        "max_resolution": 4.0,
    },
    "network": {
        "n_hidden_layers": 1,
        "n_neurons": 4,
        "activation": "relu",
        "omega_0": 30.0,
        "sigma": 0.5,
        "siren_init": False,
        "output_activation": "sigmoid",
        "n_output_dims": 3,
    },
    "input_scale": 0.5,
    "input_offset": 0.5,
}


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_format_1(stem, spec, state, meta, optimizer=None):
    """Checkpoint ``stem`` as format 1 wrote it: unprefixed keys, the spec under ``model``."""
    weights = stem.with_suffix(".safetensors")
    save_file({k: v.contiguous() for k, v in state.items()}, str(weights))
    info = {"format": 1, "neuralshade_version": "0.1.0", "model": spec, **meta}
    info.update(weights=weights.name, weights_sha256=sha256(weights))
    if optimizer is not None:
        sd = optimizer.state_dict()
        tensors = {f"state.{i}.{k}": v for i, s in sd["state"].items() for k, v in s.items()}
        state_file = stem.with_suffix(".state.safetensors")
        save_file(tensors, str(state_file))
        info["optimizer"] = {
            "file": state_file.name,
            "sha256": sha256(state_file),
            "state_keys": {str(i): list(s) for i, s in sd["state"].items()},
            "param_groups": json.loads(json.dumps(sd["param_groups"])),
        }
    sidecar = stem.with_suffix(".json")
    sidecar.write_text(json.dumps(info, indent=2))
    return sidecar


def test_a_format_1_field_checkpoint_is_rebuilt_by_the_registry(tmp_path, monkeypatch):
    torch.manual_seed(0)
    reference = FieldNetwork(V1_FIELD_SPEC)  # as format 1 rebuilt it, from its spec alone
    opt = optimizer(reference, lr=1e-2)
    reference(torch.rand(8, 2)).sum().backward()
    opt.step()
    meta = {"task": "fields-image", "step": 1}
    path = write_format_1(tmp_path / "field", V1_FIELD_SPEC, reference.state_dict(), meta, opt)
    built = []

    def recording_build(name, **args):
        built.append(name)
        return build(name, **args)

    monkeypatch.setattr(models, "build", recording_build)
    net, info = checkpoint.load(path)
    assert built == ["field"]  # the one rebuild path: the model registry, for fields too
    assert info["format"] == 1 and info["step"] == 1
    assert info["models"] == {"net": {"name": "field", "args": {"config": V1_FIELD_SPEC}}}
    assert net.spec == info["model"]  # what a resumed format-1 fit is compared with
    points = torch.rand(64, 2) * 4 - 2
    with torch.no_grad():
        assert torch.equal(net(points), reference(points))
    fresh = optimizer(net, lr=1.0)
    checkpoint.load_optimizer(path, fresh)  # format 1's one optimizer is the network "net"'s
    exactly_equal(fresh.state_dict()["state"], opt.state_dict()["state"])
    assert [g["lr"] for g in fresh.param_groups] == [1e-2, 1e-2]


def test_a_format_1_checkpoint_loads_its_weights_as_the_network_net(tmp_path):
    torch.manual_seed(0)
    model = build("resconv", **ARGS).eval()
    path = write_format_1(tmp_path / "v1", model.spec, model.state_dict(), {"task": "ao2d"})
    other = build("resconv", **ARGS)
    checkpoint.load_weights(path, {"net": other})
    exactly_equal(other.state_dict(), model.state_dict())
    with pytest.raises(CheckpointError, match="has no network 'shade'; it has: net"):
        checkpoint.load_weights(path, {"shade": other})
    with pytest.raises(CheckpointError, match="holds no optimizer state"):
        checkpoint.load_optimizer(path, torch.optim.SGD(other.parameters()))
    info = json.loads(path.read_text())
    del info["model"]["name"]
    path.write_text(json.dumps(info))
    with pytest.raises(CheckpointError, match=r"damaged.*model\.name: Field required"):
        checkpoint.load(path)


def test_partial_init_keeps_the_parameters_the_checkpoint_lacks(tmp_path):
    """A network grown by a head (ShadeUNet's kernel head over its direct head) starts from
    the smaller one's weights with partial=True; without it, or with a weight of another shape,
    the load is refused."""
    torch.manual_seed(0)
    args = {"in_channels": 5, "out_channels": 3, "widths": [4, 8], "blocks": [0, 1]}
    small = build("unet", **args, head="direct")
    path = checkpoint.save(tmp_path / "small", small, {"task": "denoise", "step": 1})
    grown = build("unet", **args, head="kernel", kernel_inputs=[0, 1, 2])
    fresh = grown.head.kernel.weight.detach().clone()
    with pytest.raises(CheckpointError, match="does not fit"):
        checkpoint.load_weights(path, grown)
    checkpoint.load_weights(path, grown, partial=True)
    mine, theirs = grown.state_dict(), small.state_dict()
    assert all(torch.equal(mine[k], v) for k, v in theirs.items())
    assert torch.equal(grown.head.kernel.weight, fresh)
    wider = build("unet", **{**args, "widths": [4, 16]}, head="kernel", kernel_inputs=[0, 1, 2])
    with pytest.raises(CheckpointError, match="does not fit"):
        checkpoint.load_weights(path, wider, partial=True)
    other = build("resconv", **ARGS)  # none of its weights are in the checkpoint
    with pytest.raises(CheckpointError, match="does not fit"):
        checkpoint.load_weights(path, other, partial=True)

"""Resume: one mechanism for training and fitting, which refuses a run that is not the same run."""

import hashlib
import json
import re

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from neuralshade import checkpoint
from neuralshade.cli import main
from neuralshade.errors import ConfigError
from neuralshade.fields.distance import fit_sdf
from neuralshade.fields.distance import load_config as sdf_config
from neuralshade.fields.image import fit_image
from neuralshade.fields.image import load_config as image_config
from neuralshade.models import build
from neuralshade.resume import differences, restore
from neuralshade.train import load_config as train_config
from neuralshade.train import train

TINY_HASH = [
    "field.encoding.n_levels=2",
    "field.encoding.log2_hashmap_size=6",
    "field.encoding.base_resolution=4",
    "field.encoding.max_resolution=8",
    "field.network.n_neurons=8",
    "batch_size=256",
]
TINY_SDF = [
    "points=2048",
    "batch_size=256",
    "eval_points=2048",
    "resolution=16",
    "render_size=16",
    "checkpoint_interval=2",
]


def picture(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((12, 10, 3)).astype(np.float32)


def quiet(**kw):
    return {"quiet": True, "log": lambda _: None, **kw}


def test_differences_name_every_leaf_that_differs():
    saved = {"a": 1, "b": {"c": [1, 2], "d": "x"}, "e": 3}
    given = {"a": 1, "b": {"c": [1, 3], "d": "x"}, "f": 4}
    assert differences(saved, given) == [("b.c", [1, 2], [1, 3]), ("e", 3, None), ("f", None, 4)]


def test_an_image_fit_resumes_only_as_the_same_fit(tmp_path):
    out = tmp_path / "fit"
    fit_image(picture(0), image_config("hash-fast", [*TINY_HASH, "epochs=1"]), out, **quiet())
    before = (out / "last.json").read_bytes()
    with pytest.raises(ConfigError, match="--resume"):  # never overwritten silently
        fit_image(picture(0), image_config("hash-fast", [*TINY_HASH, "epochs=1"]), out, **quiet())
    otype = r"models\.net\.args\.config\.encoding\.otype: 'HashGrid'"
    with pytest.raises(ConfigError, match="another run.*" + otype):
        fit_image(picture(0), image_config("siren-pe", ["epochs=2"]), out, **quiet(resume=True))
    with pytest.raises(ConfigError, match=r"another run.*config\.lr"):
        config = image_config("hash-fast", [*TINY_HASH, "epochs=2", "lr=0.5"])
        fit_image(picture(0), config, out, **quiet(resume=True))
    with pytest.raises(ConfigError, match=r"another run.*target\.pixels_sha256"):
        config = image_config("hash-fast", [*TINY_HASH, "epochs=2"])
        fit_image(picture(1), config, out, **quiet(resume=True))
    assert (out / "last.json").read_bytes() == before  # refusals touch nothing
    # more epochs of the same fit is the same run going on
    config = image_config("hash-fast", [*TINY_HASH, "epochs=2"])
    summary = fit_image(picture(0), config, out, **quiet(resume=True))
    assert summary["epochs"] == 2
    assert checkpoint.read_meta(out / "field")["config"]["epochs"] == 2


def test_an_sdf_fit_of_a_torus_does_not_resume_as_a_fit_of_a_sphere(tmp_path, capsys):
    out = tmp_path / "fit"
    fit_sdf("torus", sdf_config("siren", [*TINY_SDF, "steps=2"]), out, **quiet())
    with pytest.raises(ConfigError, match=r"target\.shape: 'torus' -> 'sphere'"):
        fit_sdf("sphere", sdf_config("siren", [*TINY_SDF, "steps=4"]), out, **quiet(resume=True))
    args = ["fit", "sdf", "sphere", "--preset", "hash", "--steps", "4", "--out", str(out)]
    assert main([*args, "--resume", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "another run" in err and "target.shape" in err
    assert "models.net.args.config.encoding.otype" in err  # nor a SIREN as a hash grid
    assert checkpoint.read_meta(out / "field")["shape"] == "torus"


def as_format_1(stem):
    """Rewrite checkpoint ``stem`` of one field network as format 1 wrote it: keys unprefixed,
    the network's config as the spec under ``model``, one optimizer layout."""
    info = json.loads(stem.with_suffix(".json").read_text())
    files = {}
    for suffix in (".safetensors", ".state.safetensors"):
        path = stem.with_suffix(suffix)
        tensors = load_file(str(path))
        save_file({key.removeprefix("net."): t for key, t in tensors.items()}, str(path))
        files[suffix] = hashlib.sha256(path.read_bytes()).hexdigest()
    info.update(format=1, model=info.pop("models")["net"]["args"]["config"])
    info.update(weights_sha256=files[".safetensors"], optimizer=info.pop("optimizers")["net"])
    info["optimizer"]["sha256"] = files[".state.safetensors"]
    stem.with_suffix(".json").write_text(json.dumps(info))


def test_a_fit_saved_in_format_1_resumes_on_the_same_curve(tmp_path):
    config = image_config("hash-fast", [*TINY_HASH, "epochs=2"])
    whole = fit_image(picture(0), config, tmp_path / "whole", **quiet())
    short = image_config("hash-fast", [*TINY_HASH, "epochs=1"])
    fit_image(picture(0), short, tmp_path / "old", **quiet())
    as_format_1(tmp_path / "old" / "last")
    assert checkpoint.read_meta(tmp_path / "old" / "last")["format"] == 1
    resumed = fit_image(picture(0), config, tmp_path / "old", **quiet(resume=True))
    assert resumed["psnr"] == whole["psnr"] and resumed["epochs"] == 2
    as_format_1(tmp_path / "old" / "last")
    with pytest.raises(ConfigError, match=r"models\.net\.args\.config\.network\.n_neurons"):
        wider = image_config("hash-fast", [*TINY_HASH, "epochs=3", "field.network.n_neurons=16"])
        fit_image(picture(0), wider, tmp_path / "old", **quiet(resume=True))


def pair(n_neurons=8):
    """An image network and a coordinate network, as a run names them."""
    field = {"encoding": {"otype": "Identity"}, "network": {"n_neurons": n_neurons}}
    return {
        "shade": build(
            "resconv", in_channels=1, channels=4, kernel_size=3, layers=2, strides=[1, 1]
        ),
        "field": build("field", config=field),
    }


def adam(nets):
    return {name: torch.optim.Adam(net.parameters(), lr=1e-3) for name, net in nets.items()}


def test_restore_names_each_networks_differences_and_loads_every_network(tmp_path):
    torch.manual_seed(0)
    nets, record = pair(), {"config": {"lr": 1e-3}, "target": {"shape": "torus"}}
    optimizers = adam(nets)
    loss = nets["shade"](torch.rand(1, 1, 16, 16)).mean() + nets["field"](torch.rand(4, 2)).mean()
    loss.backward()
    for opt in optimizers.values():
        opt.step()
    checkpoint.save(tmp_path / "last", nets, record, optimizers)

    def expected(nets, target=record["target"]):
        return {**record, "target": target, "models": {n: m.spec for n, m in nets.items()}}

    wider = pair(n_neurons=16)
    with pytest.raises(ConfigError) as refused:
        restore(tmp_path / "last", wider, adam(wider), expected(wider, {"shape": "sphere"}))
    message = str(refused.value)
    assert "models.field.args.config.network.n_neurons: 8 -> 16" in message
    assert message.index("target.shape: 'torus' -> 'sphere'") < message.index("models.field")
    more = {**pair(), "critic": build("resconv", channels=4, layers=2, strides=[1, 1])}
    with pytest.raises(ConfigError, match=r'models\.critic: null -> \{"name": "resconv"'):
        restore(tmp_path / "last", more, adam(more), expected(more))
    torch.manual_seed(1)
    fresh = pair()
    fresh_optimizers = adam(fresh)
    info = restore(tmp_path / "last", fresh, fresh_optimizers, expected(fresh))
    assert info["target"] == record["target"]
    for name, net in nets.items():
        torch.testing.assert_close(fresh[name].state_dict(), net.state_dict(), rtol=0, atol=0)
        saved = optimizers[name].state_dict()["state"]
        torch.testing.assert_close(fresh_optimizers[name].state_dict()["state"], saved)


def test_resuming_nothing_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="nothing to resume"):
        fit_sdf("torus", sdf_config("siren", TINY_SDF), tmp_path, **quiet(resume=True))


def test_a_training_run_resumes_only_with_its_config_and_data(tiny_run, tmp_path):
    values = {**tiny_run, "val_interval": 2, "checkpoint_interval": 2}
    train(train_config(values), tmp_path / "run", quiet=True)
    for change, key in [
        ({"steps": 4}, "config.steps"),  # the cosine schedule depends on it
        ({"optimizer": {"lr": 0.1}}, "config.optimizer.lr"),
        ({"loss": "mse"}, "config.loss"),
    ]:
        with pytest.raises(ConfigError, match="another run.*" + re.escape(key)):
            train(train_config({**values, **change}), tmp_path / "run", resume=True, quiet=True)
    # where it runs is free: the same run, finished, reports and writes nothing
    again = train(train_config({**values, "workers": 1}), tmp_path / "run", resume=True)
    assert again["step"] == 2
    saved = json.loads((tmp_path / "run/checkpoints/last.json").read_text())
    assert saved["target"]["data_config_sha256"] and saved["config"]["workers"] == 0

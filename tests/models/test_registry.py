"""The model registry: build by name, specs that rebuild their model, clear errors."""

import json

import pytest
import torch

from neuralshade import models
from neuralshade.errors import ConfigError


def architecture(model):
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def test_build_resconv_records_every_argument_and_its_spec_rebuilds_it():
    model = models.build("resconv", channels=8, strides=(1, 2, 1, 1, 1))
    assert model.spec == {
        "name": "resconv",
        "args": {
            "in_channels": 3,
            "out_channels": 3,
            "channels": 8,
            "kernel_size": 7,
            "layers": 5,
            "strides": [1, 2, 1, 1, 1],
            "activation": "gelu",
            "batch_norm": True,
        },
    }
    spec = json.loads(json.dumps(model.spec))  # as a checkpoint's sidecar gives it back
    again = models.build(spec["name"], **spec["args"])
    assert architecture(again) == architecture(model)
    assert again.spec == model.spec


def test_unknown_model_name_is_a_config_error_listing_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown model 'resconf'.*resconv"):
        models.build("resconf")


def test_unknown_argument_is_a_config_error_naming_it_and_the_model():
    with pytest.raises(ConfigError, match=r"'resconv' has no argument 'chanels'.*channels"):
        models.build("resconv", chanels=16)


@pytest.mark.parametrize(
    "cfg, name",
    [
        ({"strides": (1, 2)}, "strides"),
        ({"channels": "32"}, "channels"),
        ({"layers": -1}, "layers"),
    ],
)
def test_invalid_argument_value_is_a_config_error_naming_it_and_the_model(cfg, name):
    with pytest.raises(ConfigError, match=rf"model 'resconv'.*{name}"):
        models.build("resconv", **cfg)


def test_registering_a_name_twice_raises_and_keeps_the_first(monkeypatch):
    monkeypatch.setattr(models, "_REGISTRY", dict(models._REGISTRY))
    first, before = models._REGISTRY["resconv"], models.names()

    class Other(torch.nn.Module):
        def __init__(self, width: int = 4):
            super().__init__()

    with pytest.raises(ValueError, match="'resconv' is already registered"):
        models.register("resconv")(Other)
    assert models._REGISTRY["resconv"] is first

    models.register("other")(Other)
    assert models.names() == sorted([*before, "other"])
    assert {"field", "resconv", "unet"} <= set(before)
    with pytest.raises(ValueError, match="'other' is already registered"):
        models.register("other")(Other)


def test_a_model_with_variadic_arguments_cannot_register(monkeypatch):
    monkeypatch.setattr(models, "_REGISTRY", dict(models._REGISTRY))

    class Loose(torch.nn.Module):
        def __init__(self, width=4, **extra):
            super().__init__()

    with pytest.raises(ValueError, match="named arguments only"):
        models.register("loose")(Loose)
    assert "loose" not in models.names()


def example(model):
    """(The inputs the model takes, as a tuple; its outputs per item): points for a coordinate
    network, what a network of several inputs says (``example_inputs``), else images."""
    if hasattr(model, "n_input_dims"):
        return (torch.rand(37, model.n_input_dims) * 2 - 1,), model.n_output_dims
    if hasattr(model, "example_inputs"):
        return model.example_inputs(), model.out_channels
    size = getattr(model, "min_size", 16) + 3  # image models say how small they can go
    return (torch.rand(2, model.in_channels, size, size + 1),), model.out_channels


def first(y):
    """The main output of a model that returns several (a partition: representation, loss)."""
    return y[0] if isinstance(y, tuple) else y


def test_a_field_networks_spec_holds_its_whole_config():
    grid = {"otype": "HashGrid", "n_levels": 2, "log2_hashmap_size": 8}
    model = models.build("field", config={"encoding": grid})
    config = model.spec["args"]["config"]
    assert model.spec["name"] == "field" and list(model.spec["args"]) == ["config"]
    assert config["encoding"]["base_resolution"] == 16  # the encoding's defaults too
    assert config["network"]["n_neurons"] == 64 and config["input_scale"] == 1.0
    again = models.build("field", config=json.loads(json.dumps(config)))
    assert again.spec == model.spec and architecture(again) == architecture(model)
    with pytest.raises(ConfigError, match=r"network\.n_neuron"):
        models.build("field", config={"network": {"n_neuron": 8}})


@pytest.mark.parametrize("name", models.names())
@torch.no_grad()
def test_every_registered_model_builds_runs_and_round_trips_its_spec(name):
    torch.manual_seed(0)
    model = models.build(name).eval()
    x, outputs = example(model)
    torch.manual_seed(1)  # a generator that draws (GQN's prior) draws the same each time
    y = first(model(*x))
    assert y.shape[:2] == (len(x[0]), outputs)  # an image network may change H and W (a critic)
    assert torch.isfinite(y).all()

    spec = json.loads(json.dumps(model.spec))
    assert spec == model.spec and spec["name"] == name
    again = models.build(spec["name"], **spec["args"])
    assert architecture(again) == architecture(model)
    again.load_state_dict(model.state_dict())
    torch.manual_seed(1)
    torch.testing.assert_close(first(again.eval()(*x)), y)


@pytest.mark.parametrize("name", models.names())
def test_every_image_model_runs_channels_last(name, channels_last_difference):
    torch.manual_seed(0)
    model = models.build(name).eval()
    if hasattr(model, "n_input_dims"):
        pytest.skip("a coordinate network: (N, d) points have no channels-last layout")
    if not any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
        pytest.skip("no convolutions: nothing to lay out")
    x, _ = example(model)
    with torch.no_grad():  # float rounding is relative to the output (KPCN's reaches ~100)
        torch.manual_seed(0)
        scale = max(1.0, float(first(model(*x)).abs().max()))
    assert channels_last_difference(model, x) < 1e-5 * scale

"""Field networks: activations, SIREN init, the MLP, specs, the optimizer, a tiny fit."""

import json
import math

import pytest
import torch
from torch import nn

from neuralshade import models
from neuralshade.errors import ConfigError, InputError
from neuralshade.fields.network import (
    MLP,
    FieldNetwork,
    Gaussian,
    MLPConfig,
    Sine,
    optimizer,
)

SMALL_GRID = {
    "otype": "HashGrid",
    "n_levels": 8,
    "n_features_per_level": 2,
    "log2_hashmap_size": 10,
    "base_resolution": 4,
    "max_resolution": 64,
}


def architecture(model):
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def linears(mlp):
    return [m for m in mlp if isinstance(m, nn.Linear)]


def test_sine_and_gaussian_compute_their_formulas():
    x = torch.linspace(-2, 2, 9)
    torch.testing.assert_close(Sine(30.0)(x), torch.sin(30.0 * x))
    expected = torch.tensor([math.exp(-((v / 0.5) ** 2)) for v in x.tolist()])
    torch.testing.assert_close(Gaussian(0.5)(x), expected)
    assert Gaussian(0.5)(torch.zeros(1)).item() == 1.0


def test_siren_init_bounds_first_and_later_layers():
    torch.manual_seed(0)
    omega_0, width = 30.0, 256
    config = MLPConfig(activation="sine", siren_init=True, n_neurons=width, omega_0=omega_0)
    first, *later = linears(MLP(2, config))
    bound = 1 / 2
    assert bound * 0.95 < first.weight.abs().max() <= bound
    bound = math.sqrt(6 / width) / omega_0
    for layer in later:
        assert bound * 0.95 < layer.weight.abs().max() <= bound


def test_sine_without_siren_init_keeps_pytorchs_default_init():
    torch.manual_seed(0)
    hidden = linears(MLP(2, MLPConfig(activation="sine", n_neurons=256)))[1]
    default_bound = 1 / math.sqrt(256)  # nn.Linear's, 12× SIREN's bound at ω₀ = 30
    assert 0.95 * default_bound < hidden.weight.abs().max() <= default_bound


def test_siren_init_needs_sine():
    with pytest.raises(ConfigError, match=r"network.*siren_init needs activation 'sine'"):
        FieldNetwork({"network": {"activation": "relu", "siren_init": True}})


def test_mlp_layers_follow_the_config():
    config = MLPConfig(n_hidden_layers=2, n_neurons=16, activation="gaussian", sigma=0.25)
    mlp = MLP(5, config)
    kinds = [type(m).__name__ for m in mlp]
    assert kinds == ["Linear", "Gaussian", "Linear", "Gaussian", "Linear"]
    assert mlp[1].sigma == 0.25 and (mlp.n_input_dims, mlp.n_output_dims) == (5, 3)
    assert [type(m).__name__ for m in MLP(5, MLPConfig(activation="none"))] == ["Linear"] * 3


def test_relu_mlp_on_xy_has_the_image_posts_parameter_count():
    net = FieldNetwork(
        {"encoding": {"otype": "Identity"}, "network": {"n_hidden_layers": 3, "n_neurons": 128}}
    )
    assert sum(p.numel() for p in net.parameters()) == 33_795


def test_sigmoid_output_is_the_sigmoid_of_the_linear_output():
    torch.manual_seed(0)
    plain = MLP(2, MLPConfig(n_neurons=8))
    squashed = MLP(2, MLPConfig(n_neurons=8, output_activation="sigmoid"))
    squashed.load_state_dict(plain.state_dict())
    x = torch.randn(64, 2) * 10
    out = squashed(x)
    torch.testing.assert_close(out, torch.sigmoid(plain(x)))
    assert (out > 0).all() and (out < 1).all()


def test_spec_survives_json_and_rebuilds_the_same_network():
    config = {
        "n_input_dims": 3,
        "encoding": SMALL_GRID,
        "network": {"activation": "sine", "siren_init": True, "n_output_dims": 1},
        "input_scale": [0.5, 0.25, 0.5],
        "input_offset": 0.5,
    }
    net = models.build("field", config=config)
    spec = json.loads(json.dumps(net.spec))
    assert spec["args"]["config"]["encoding"]["n_features_per_level"] == 2  # with its defaults
    again = models.build(spec["name"], **spec["args"])
    assert type(again) is FieldNetwork
    assert again.spec == net.spec and architecture(again) == architecture(net)
    again.load_state_dict(net.state_dict())
    x = torch.rand(10, 3) * 2 - 1
    assert torch.equal(again(x), net(x))
    assert (net.n_input_dims, net.n_output_dims) == (3, 1)


def test_input_affine_map_is_applied_before_the_encoding():
    net = FieldNetwork(
        {
            "encoding": {"otype": "Frequency", "n_frequencies": 2},
            "input_scale": [0.5, 16.0],
            "input_offset": [0.5, 0.0],
        }
    )
    seen = []
    net.encoding.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    x = torch.tensor([[-1.0, -1.0], [1.0, 0.5]])
    net(x)
    torch.testing.assert_close(seen[0], torch.tensor([[0.0, -16.0], [1.0, 8.0]]))


@pytest.mark.parametrize(
    "config, message",
    [
        ({"input_scale": [1.0, 2.0, 3.0]}, "input_scale has 3 values for 2 input dims"),
        ({"network": {"n_neuron": 8}}, "network.n_neuron"),
        ({"network": {"activation": "tanh"}}, "network.activation"),
        ({"encodings": {"otype": "Identity"}}, "encodings"),
        ({"encoding": {"otype": "Fourier"}}, "unknown encoding otype 'Fourier'"),
    ],
)
def test_bad_config_is_a_config_error_naming_the_key(config, message):
    with pytest.raises(ConfigError, match=message):
        FieldNetwork(config)


def test_points_of_the_wrong_shape_are_an_input_error():
    net = FieldNetwork({"n_input_dims": 3, "encoding": {"otype": "Identity"}})
    with pytest.raises(InputError, match=r"FieldNetwork expects points of shape \(N, 3\)"):
        net(torch.rand(8, 2))


def test_optimizer_gives_hash_tables_their_own_group():
    net = FieldNetwork({"encoding": SMALL_GRID})
    opt = optimizer(net, lr=1e-2, weight_decay=1e-6)
    tables, network = opt.param_groups
    assert tables["name"] == "tables" and tables["params"] == [net.encoding.table]
    assert (tables["eps"], tables["weight_decay"]) == (1e-15, 0.0)
    assert (network["eps"], network["weight_decay"]) == (1e-8, 1e-6)
    assert {id(p) for p in network["params"]} == {id(p) for p in net.mlp.parameters()}
    assert all(g["betas"] == (0.9, 0.99) and g["lr"] == 1e-2 for g in opt.param_groups)
    no_tables = optimizer(FieldNetwork({"encoding": {"otype": "Frequency"}}), lr=1e-3)
    assert [g["name"] for g in no_tables.param_groups] == ["network"]


def test_sdf_network_has_second_order_gradients_for_an_eikonal_loss():
    torch.manual_seed(0)
    net = FieldNetwork(
        {
            "n_input_dims": 3,
            "encoding": SMALL_GRID,
            "network": {"n_output_dims": 1},
            "input_scale": 0.5,
            "input_offset": 0.5,
        }
    )
    with torch.no_grad():
        net.encoding.table.uniform_(-0.1, 0.1)
    x = (torch.rand(64, 3) * 2 - 1).requires_grad_(True)
    (normals,) = torch.autograd.grad(net(x).sum(), x, create_graph=True)
    ((normals.norm(dim=1) - 1) ** 2).mean().backward()
    grad = net.encoding.table.grad
    assert normals.shape == (64, 3) and torch.isfinite(grad).all() and grad.abs().max() > 0


def test_hash_grid_field_fits_a_smooth_image_in_a_few_hundred_steps():
    torch.manual_seed(0)
    side = torch.linspace(-1, 1, 32)
    xy = torch.cartesian_prod(side, side)  # (1024, 2) in [-1, 1]
    x, y = xy.unbind(1)
    target = torch.stack(
        (
            0.5 + 0.4 * torch.sin(math.pi * x) * torch.cos(math.pi * y),
            0.5 + 0.4 * torch.cos(2 * x + y),
            0.5 + 0.3 * x * y,
        ),
        dim=1,
    )
    net = FieldNetwork(
        {
            "encoding": SMALL_GRID,
            "network": {"n_hidden_layers": 1, "n_neurons": 32, "output_activation": "sigmoid"},
            "input_scale": 0.5,
            "input_offset": 0.5,
        }
    )
    opt = optimizer(net, lr=1e-2)
    for _ in range(200):
        loss = ((net(xy) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    mse = ((net(xy) - target) ** 2).mean().item()
    assert mse < 1e-4 < 1e-2 * target.var().item()

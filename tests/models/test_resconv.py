"""ResConv: the nn-experiments AO network, checked layer by layer against its description."""

import math

import pytest
import torch
import torch.nn.functional as F

from neuralshade.errors import InputError
from neuralshade.models.resconv import ResConv

# Hidden layers are thin here: sizes, skips, linearity and receptive fields do not depend on
# the channel count, and thin layers keep the suite fast on two cores.
THIN = {"channels": 4}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tensors here are tiny: a second thread saves nothing, and on a busy machine OpenMP's
    waiting turns each conv into tens of milliseconds (this file: 20 s instead of 2 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def thin():
    torch.manual_seed(0)
    return ResConv(**THIN).eval()


def count(model):
    return sum(p.numel() for p in model.parameters())


def expected_count(in_channels=3, out_channels=3, channels=32, kernel_size=7, layers=5, **_):
    """Convs with biases, BatchNorm (weight + bias) over the input of all but the last layers."""
    k2 = kernel_size**2
    hidden = (layers - 1) * (channels * channels * k2 + channels)
    encoder = in_channels * channels * k2 + channels + hidden
    decoder = hidden + channels * out_channels * k2 + out_channels
    norms = 2 * (in_channels + (layers - 2) * channels) + 2 * (layers - 1) * channels
    return encoder + decoder + norms


def test_resconv_has_exactly_411561_parameters():
    assert count(ResConv()) == 411_561
    assert expected_count() == 411_561


@pytest.mark.parametrize(
    "cfg",
    [
        {"channels": 8, "kernel_size": 3},
        {"in_channels": 5, "out_channels": 1, "channels": 6, "layers": 3, "strides": (2, 1, 1)},
        {"channels": 4, "layers": 7, "kernel_size": 3, "strides": [1, 2, 1, 1, 2, 1, 1]},
    ],
)
def test_parameter_count_follows_the_layer_recipe_for_any_shape(cfg):
    assert count(ResConv(**cfg)) == expected_count(**cfg)


def test_batch_norm_sits_on_the_input_of_every_layer_but_the_two_last():
    model = ResConv()
    enc = [layer.bn.num_features if layer.bn else None for layer in model.encoder.values()]
    dec = [layer.bn.num_features if layer.bn else None for layer in model.decoder.values()]
    assert enc == [3, 32, 32, 32, None]
    assert dec == [32, 32, 32, 32, None]
    assert count(ResConv(batch_norm=False)) == 411_561 - 2 * (3 + 7 * 32)


def record(modules, pre=False):
    """Hook each module; returns the list its inputs (pre) or outputs are appended to."""
    seen = []
    for m in modules:
        if pre:
            m.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
        else:
            m.register_forward_hook(lambda _m, _args, out: seen.append(out))
    return seen


@torch.no_grad()
def test_sizes_follow_the_source_128_through_43_and_back_padding_115_to_116():
    model = ResConv(**THIN).eval()
    enc = record(model.encoder.values())
    convs = record(layer.conv for layer in model.decoder.values())
    dec = record(model.decoder.values())
    model(torch.rand(1, 3, 128, 128))
    assert [t.shape[-1] for t in enc] == [122, 116, 55, 49, 43]
    assert [t.shape[-1] for t in convs] == [49, 55, 115, 122, 128]
    assert [t.shape[-1] for t in dec] == [49, 55, 116, 122, 128]
    # the stride-2 transposed conv is not asked for 116: the extra row and column are zeros
    assert torch.all(dec[2][..., -1, :] == 0) and torch.all(dec[2][..., :, -1] == 0)
    assert torch.all(dec[2][..., :-1, :-1] != 0)


@pytest.mark.parametrize("size", [(128, 128), (97, 130), (64, 200), (43, 43), (44, 43), (50, 61)])
@torch.no_grad()
def test_output_is_as_large_as_the_input(thin, size):
    x = torch.rand(2, 3, *size)
    assert thin(x).shape == (2, 3, *size)


def test_min_size_is_the_smallest_valid_input_and_smaller_raises_input_error(thin):
    assert thin.min_size == ResConv().min_size == 43
    with torch.no_grad():
        thin(torch.rand(1, 3, 43, 43))
    with pytest.raises(InputError, match=r"at least 43.*\(1, 3, 42, 60\)"):
        thin(torch.rand(1, 3, 42, 60))
    with pytest.raises(InputError, match=r"\(B, 3, H, W\).*\(1, 4, 64, 64\)"):
        thin(torch.rand(1, 4, 64, 64))
    with pytest.raises(InputError):
        thin(torch.rand(3, 64, 64))


def reference_resconv(state, x, strides=(1, 1, 2, 1, 1)):
    """The source's forward pass written out with torch.nn.functional, from a state dict."""

    def layer(prefix, t, transposed, stride, last, size=None):
        if not last:
            t = F.batch_norm(
                t,
                state[f"{prefix}.bn.running_mean"],
                state[f"{prefix}.bn.running_var"],
                state[f"{prefix}.bn.weight"],
                state[f"{prefix}.bn.bias"],
            )
        conv = F.conv_transpose2d if transposed else F.conv2d
        t = conv(t, state[f"{prefix}.conv.weight"], state[f"{prefix}.conv.bias"], stride=stride)
        if size is not None:
            t = F.pad(t, (0, size[1] - t.shape[-1], 0, size[0] - t.shape[-2]))
        return t if last else F.gelu(t)

    enc = [x]
    for i in range(1, 6):
        enc.append(layer(f"encoder.layer_{i}", enc[-1], False, strides[i - 1], i == 5))
    y = enc[5]
    for k in range(1, 6):
        if k > 1:
            y = y + enc[6 - k]
        y = layer(f"decoder.layer_{k}", y, True, strides[5 - k], k == 5, enc[5 - k].shape[-2:])
    return y


@torch.no_grad()
def test_matches_the_source_forward_written_out_independently():
    torch.manual_seed(1)
    model = ResConv(channels=8).eval()
    for m in model.modules():  # make every BatchNorm do something
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2)
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.5, 0.5)
    state = model.state_dict()
    assert sum(key.endswith(".bn.weight") for key in state) == 8
    x = torch.rand(2, 3, 61, 70)
    torch.testing.assert_close(model(x), reference_resconv(state, x))


@torch.no_grad()
def test_decoder_layer_k_gets_encoder_output_6_minus_k_and_layer_1_no_skip():
    model = ResConv(**THIN).eval()
    enc = record(model.encoder.values())
    dec_in = record(model.decoder.values(), pre=True)
    dec_out = record(model.decoder.values())
    model(torch.rand(1, 3, 64, 71))
    assert torch.equal(dec_in[0], enc[4])  # the bottleneck alone
    for k in range(2, 6):
        torch.testing.assert_close(dec_in[k - 1] - dec_out[k - 2], enc[5 - k])  # output 6 - k
        assert not torch.allclose(dec_in[k - 1], dec_out[k - 2])


@torch.no_grad()
def test_only_the_last_encoder_and_decoder_layers_are_affine():
    """Affine even in training mode: no BatchNorm (batch statistics) and no activation."""
    torch.manual_seed(2)
    model = ResConv(**THIN).train()
    for name, layers in [("encoder", model.encoder), ("decoder", model.decoder)]:
        for i, layer in enumerate(layers.values()):
            x, y = torch.randn(2, 2, layer.conv.in_channels, 16, 16)
            zero = torch.zeros_like(x)
            affine = torch.allclose(layer(x + y) - layer(y), layer(x) - layer(zero), atol=1e-5)
            assert affine == (i == 4), f"{name} layer {i + 1}"
    out = model.eval()(3 * torch.randn(1, 3, 48, 48))
    assert out.min() < 0  # no squashing output activation


def gradient_support(model, width=160):
    """Widest span of input columns that one interior output pixel's gradient reaches."""
    model = model.double().eval()
    widest = 0
    for col in range(width // 2, width // 2 + math.prod(model.strides)):  # every grid phase
        x = torch.rand(1, model.in_channels, model.min_size, width, dtype=torch.float64)
        x.requires_grad_(True)
        model(x)[0, 0, model.min_size // 2, col].backward()
        cols = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 2))).flatten()
        widest = max(widest, int(cols[-1] - cols[0]) + 1)
    return widest


@pytest.mark.parametrize(
    "cfg, field",
    [
        ({}, 85),
        ({"kernel_size": 4, "strides": (1, 2, 1, 2, 1)}, 59),
        ({"kernel_size": 3, "layers": 3, "strides": (2, 3, 2)}, 31),
    ],
)
def test_receptive_field_is_the_reach_of_an_output_pixels_gradient(cfg, field):
    torch.manual_seed(3)
    model = ResConv(channels=2, **cfg)
    assert model.receptive_field == field
    assert gradient_support(model) == field


@pytest.mark.parametrize(
    "cfg, size",
    [
        ({"channels": 5, "kernel_size": 3, "layers": 2, "strides": (1, 1)}, (5, 9)),
        ({"channels": 3, "kernel_size": 5, "layers": 4, "strides": (2, 1, 3, 1)}, (45, 60)),
        ({"channels": 3, "kernel_size": 2, "layers": 1, "strides": (2,)}, (2, 7)),
        ({"channels": 3, "in_channels": 1, "out_channels": 4, "activation": "relu"}, (43, 50)),
        ({"channels": 3, "batch_norm": False, "kernel_size": 3, "strides": [2] * 5}, (63, 70)),
    ],
)
@torch.no_grad()
def test_other_shapes_build_and_keep_the_output_as_large_as_the_input(cfg, size):
    model = ResConv(**cfg).eval()
    assert model.min_size == size[0]
    for h, w in [size, (size[1], size[0] + 1)]:
        x = torch.rand(1, model.in_channels, h, w)
        assert model(x).shape == (1, model.out_channels, h, w)
    with pytest.raises(InputError):
        model(torch.rand(1, model.in_channels, size[0] - 1, size[1]))


@pytest.mark.parametrize(
    "cfg, words",
    [
        ({"strides": (1, 2, 1)}, "one stride per encoder layer"),
        ({"layers": 3}, "one stride per encoder layer"),
        ({"strides": (1, 1, 0, 1, 1)}, "strides must be a positive integer"),
        ({"kernel_size": 3, "strides": (1, 1, 4, 1, 1)}, "must not exceed kernel_size"),
        ({"channels": 0}, "channels must be a positive integer"),
        ({"kernel_size": 2.5}, "kernel_size must be a positive integer"),
        ({"activation": "tanh"}, "activation must be one of 'gelu', 'relu'"),
        ({"batch_norm": "yes"}, "batch_norm must be true or false"),
    ],
)
def test_invalid_arguments_raise_value_error_naming_them(cfg, words):
    with pytest.raises(ValueError, match=words):
        ResConv(**cfg)

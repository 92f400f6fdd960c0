"""DeepShading: the published layer list, its grouping and upsampling, any size, its reach."""

import json

import pytest
import torch
import torch.nn.functional as F

from neuralshade import models
from neuralshade.errors import ConfigError, InputError
from neuralshade.models.deepshading import upsample_zero_border

SMALL = {
    "in_channels": 6,
    "out_channels": 2,
    "widths": (4, 8, 8, 16, 16),
    "groups": (1, 2, 2, 4, 4),
}

# Each 3×3 conv of the published definition at 6 -> 1 channels, in its order:
# (channels in, channels out, groups); a decoder conv reads the upsampled level below + the skip
PUBLISHED = [
    (6, 16, 1),
    (16, 32, 2),
    (32, 64, 4),
    (64, 128, 8),
    (128, 256, 16),
    (256 + 128, 128, 8),
    (128 + 64, 64, 4),
    (64 + 32, 32, 2),
    (32 + 16, 1, 1),
]


def small(**overrides):
    torch.manual_seed(0)
    return models.build("deepshading", **{**SMALL, **overrides}).eval()


def convs(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]


def test_the_defaults_are_the_published_layers_with_the_parameters_they_imply():
    model = models.build("deepshading", in_channels=6, out_channels=1)
    # a grouped conv's filter sees in/groups channels: weights (out, in/groups, 3, 3), a bias
    assert [(c.weight.shape, c.groups) for c in convs(model)] == [
        ((c_out, c_in // g, 3, 3), g) for c_in, c_out, g in PUBLISHED
    ]
    expected = sum(c_in // g * c_out * 9 + c_out for c_in, c_out, g in PUBLISHED)
    assert expected == 133_345  # the figure in the module's docstring
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model.total_stride == 16


def test_spec_rebuilds_the_same_network():
    model = small(final="sigmoid")
    spec = json.loads(json.dumps(model.spec))
    assert spec["args"] == {**json.loads(json.dumps(SMALL)), "final": "sigmoid", "log_inputs": None}
    again = models.build(spec["name"], **spec["args"]).eval()
    again.load_state_dict(model.state_dict())
    x = torch.rand(1, 6, 20, 24)
    torch.testing.assert_close(again(x), model(x))


@pytest.mark.parametrize("shape", [(1, 1), (7, 33), (40, 17), (64, 64)])
def test_any_size_comes_back_at_its_own_size(shape):
    assert small()(torch.rand(2, 6, *shape)).shape == (2, 2, *shape)


def test_padding_to_the_stride_is_zeros():
    model = small()
    x = torch.rand(1, 6, 21, 30)
    torch.testing.assert_close(model(x), model(F.pad(x, (0, 2, 0, 3)))[..., :21, :30])


@pytest.mark.parametrize("widths, groups", [((4, 8, 8, 16, 16), (1, 2, 2, 4, 4)), ((4, 8), (1, 2))])
def test_the_claimed_receptive_field_is_the_measured_one(widths, groups, measured_receptive_field):
    # LeakyReLU has no dead units: every input pixel the output depends on gets a gradient
    model = small(widths=widths, groups=groups)
    assert measured_receptive_field(model) == model.receptive_field
    if len(widths) == 5:  # the reach depends on the levels alone, not on widths or groups
        assert model.receptive_field == models.build("deepshading").receptive_field == 142


def test_upsampling_is_the_published_fixed_bilinear_deconvolution():
    # Caffe's bilinear filler for kernel 4 (f = 2, c = 3/4): taps 1 - |i/f - c| = 1/4 3/4 3/4 1/4
    taps = torch.tensor([1 - abs(i / 2 - 0.75) for i in range(4)])
    x = torch.randn(2, 5, 7, 9)
    deconv = F.conv_transpose2d(
        x, torch.outer(taps, taps).expand(5, 1, 4, 4), stride=2, padding=1, groups=5
    )
    torch.testing.assert_close(upsample_zero_border(x, (14, 18)), deconv)
    # bilinear inside; at the border zeros are read where interpolation repeats the edge
    plain = F.interpolate(x, scale_factor=2, mode="bilinear")
    torch.testing.assert_close(deconv[..., 1:-1, 1:-1], plain[..., 1:-1, 1:-1])
    torch.testing.assert_close(deconv[..., 0, 1:-1], 0.75 * plain[..., 0, 1:-1])


def test_a_uniform_input_gives_a_uniform_output_away_from_the_border():
    # fixed bilinear upsampling treats every pixel alike: no stride-2 grid pattern
    model = small()
    with torch.no_grad():
        out = model(torch.full((1, 6, 256, 256), 0.3))[0]
    r = model.receptive_field // 2
    centre = out[:, r:-r, r:-r]
    assert centre.numel() > 0
    assert float((centre - centre[:, :1, :1]).abs().max()) < 1e-6


def test_final_applies_its_activation_to_the_raw_output():
    raw = small()
    with torch.no_grad():
        raw.up[-1][0].bias.copy_(torch.tensor([0.0, -0.02]))  # outputs on both sides of 0
        x = torch.rand(1, 6, 20, 30)
        y = raw(x)
        assert (y < 0).any() and (y > 0).any()
        for final, f in [
            ("sigmoid", torch.sigmoid),
            ("relu", torch.relu),
            ("leaky_relu", lambda t: F.leaky_relu(t, 0.01)),
        ]:
            model = small(final=final)
            model.load_state_dict(raw.state_dict())
            torch.testing.assert_close(model(x), f(y), msg=final)


def test_onnx_matches_torch_at_sizes_that_pad_differently(onnx_vs_torch):
    diffs = onnx_vs_torch(small(), [(1, 6, 16, 16), (2, 6, 45, 71), (1, 6, 3, 100)])
    assert max(diffs) < 1e-4, diffs


def test_wrong_input_channels_is_an_input_error():
    with pytest.raises(InputError, match=r"\(B, 6, H, W\).*\(1, 3, 8, 8\)"):
        small()(torch.rand(1, 3, 8, 8))


@pytest.mark.parametrize(
    "cfg, name",
    [
        ({"widths": (8,), "groups": (1,)}, "widths"),
        ({"groups": (1, 2, 2, 4)}, "groups"),
        ({"groups": (1, 3, 2, 4, 4)}, r"groups\[1\] = 3"),
        ({"groups": (4, 2, 2, 4, 4)}, r"groups\[0\] = 4.*reads 6"),
        ({"out_channels": 3, "groups": (2, 2, 2, 4, 4)}, r"groups\[0\] = 2.*writes 3"),
        ({"final": "tanh"}, "final"),
        ({"in_channels": 0}, "in_channels"),
    ],
)
def test_invalid_arguments_are_config_errors_naming_them(cfg, name):
    with pytest.raises(ConfigError, match=rf"model 'deepshading'.*{name}"):
        models.build("deepshading", **{**SMALL, **cfg})

"""ShadeUNet: any size, the receptive field it claims, no grid pattern, the mask's own outline."""

import json

import pytest
import torch
import torch.nn.functional as F

from neuralshade import models
from neuralshade.errors import ConfigError, InputError
from neuralshade.models.unet import fuse_batch_norm

SMALL = {"widths": (4, 6, 8), "blocks": (0, 1, 1)}


def small(**overrides):
    torch.manual_seed(0)
    return models.build("unet", **{**SMALL, **overrides}).eval()


def test_spec_rebuilds_the_same_architecture():
    model = models.build("unet", **SMALL)
    spec = json.loads(json.dumps(model.spec))
    again = models.build(spec["name"], **spec["args"])
    assert {k: v.shape for k, v in again.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }
    assert spec["args"]["widths"] == [4, 6, 8] and spec["args"]["in_channels"] == 1


@pytest.mark.parametrize("shape", [(1, 1), (7, 33), (40, 17), (64, 64)])
def test_any_size_comes_back_at_its_own_size(shape):
    out = small()(torch.rand(2, 1, *shape))
    assert out.shape == (2, 3, *shape)


def test_padding_to_the_stride_is_empty_ground():
    # an image whose side is not a multiple of 8 is run as if zeros (ground) lay beyond it
    model = small()
    x = torch.rand(1, 1, 21, 30)
    padded = F.pad(x, (0, 2, 0, 3))
    torch.testing.assert_close(model(x), model(padded)[..., :21, :30])


def test_the_claimed_receptive_field_is_the_measured_one():
    model = small(activation="silu")  # no dead units: every path carries a gradient
    size, widths = 256, []
    x = torch.rand(1, 1, size, size, requires_grad=True)
    for offset in range(model.total_stride):  # one period of the stride grid
        x.grad = None
        model(x)[0, 0, size // 2, size // 2 + offset].backward()
        cols = (x.grad[0, 0].abs().sum(dim=0) > 0).nonzero()
        widths.append(int(cols.max() - cols.min() + 1))
    assert max(widths) == model.receptive_field


def test_a_uniform_input_gives_a_uniform_output_away_from_the_border():
    # resize-then-conv treats every pixel alike: no stride-2 grid pattern (checkerboard)
    model = small()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.bias.uniform_(-0.5, 0.5)
        out = model(torch.zeros(1, 1, 256, 256))[0]
    r = model.receptive_field // 2
    centre = out[:, r:-r, r:-r]
    assert centre.numel() > 0
    assert float((centre - centre[:, :1, :1]).abs().max()) < 1e-5


def test_the_outline_of_the_output_is_the_mask_s():
    # head outputs: ground colour 0, shape colour 1 everywhere; the mask picks per pixel
    model = small()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor([0.0, 0, 0, 1, 1, 1]))
    mask = torch.rand(1, 1, 37, 45)
    out = model(mask)
    expected = (mask >= 0.5).float().expand(1, 3, 37, 45)
    torch.testing.assert_close(out, expected)


def test_fused_batch_norm_gives_the_same_output():
    model = small().train()
    with torch.no_grad():
        for _ in range(3):  # running statistics away from their initial 0 and 1
            model(torch.rand(4, 1, 32, 32) * 3)
    model.eval()
    x = torch.rand(1, 1, 50, 70)
    with torch.no_grad():
        before = model(x)
        after = fuse_batch_norm(model)(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-4)


def test_wrong_input_channels_is_an_input_error():
    with pytest.raises(InputError, match=r"\(B, 1, H, W\).*\(1, 3, 8, 8\)"):
        small()(torch.rand(1, 3, 8, 8))


@pytest.mark.parametrize(
    "cfg, name",
    [
        ({"widths": ()}, "widths"),
        ({"widths": (4, 8), "blocks": (1,)}, "blocks"),
        ({"blocks": (0, -1, 1)}, "blocks"),
        ({"activation": "tanh"}, "activation"),
    ],
)
def test_invalid_arguments_are_config_errors_naming_them(cfg, name):
    with pytest.raises(ConfigError, match=rf"model 'unet'.*{name}"):
        models.build("unet", **{**SMALL, **cfg})

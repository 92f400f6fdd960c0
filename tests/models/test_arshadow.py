"""ARShadowGAN's networks: torchvision's ResNet layout and sizes, the U-Net's reach and any-size
padding, the generator's residuals, SRGAN's critic, and building by name."""

import copy
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neuralshade import models
from neuralshade.errors import ConfigError, InputError
from neuralshade.models.arshadow import (
    ResNetUNet,
    ShadowGenerator,
    SRGANDiscriminator,
    encoder_receptive_field,
    window,
)

NARROW = (16, 8, 8, 8, 8)  # decoder widths that keep the tests fast


def unet(**overrides):
    torch.manual_seed(0)
    return ResNetUNet(**{"encoder": "resnet18", "decoder_channels": NARROW, **overrides}).eval()


def torchvision_body(blocks, in_channels=3):
    """{name: shape} of torchvision's ResNet (BasicBlock) state dict without ``fc``, written out
    from its layout: conv1, bn1, layer1..4 of blocks conv1/bn1/conv2/bn2 and, on the first block
    of layers 2-4, downsample.0 (1×1 conv) and downsample.1 (BatchNorm)."""

    def bn(prefix, c):
        return {
            f"{prefix}.{k}": (c,) for k in ("weight", "bias", "running_mean", "running_var")
        } | {f"{prefix}.num_batches_tracked": ()}

    out = {"conv1.weight": (64, in_channels, 7, 7), **bn("bn1", 64)}
    c_in = 64
    for i, (c, n) in enumerate(zip((64, 128, 256, 512), blocks, strict=True), start=1):
        for b in range(n):
            p = f"layer{i}.{b}"
            out[f"{p}.conv1.weight"] = (c, c_in if b == 0 else c, 3, 3)
            out |= bn(f"{p}.bn1", c)
            out[f"{p}.conv2.weight"] = (c, c, 3, 3)
            out |= bn(f"{p}.bn2", c)
            if b == 0 and c_in != c:
                out[f"{p}.downsample.0.weight"] = (c, c_in, 1, 1)
                out |= bn(f"{p}.downsample.1", c)
        c_in = c
    return out


def parameter_count(blocks, in_channels=3):
    """Trainable parameters of the ResNet body by formula: convs k²·c_in·c_out, BatchNorms 2c."""
    total = 49 * in_channels * 64 + 2 * 64
    c_in = 64
    for c, n in zip((64, 128, 256, 512), blocks, strict=True):
        for b in range(n):
            total += 9 * (c_in if b == 0 else c) * c + 2 * c + 9 * c * c + 2 * c
            if b == 0 and c_in != c:
                total += c_in * c + 2 * c
        c_in = c
    return total


# ---- the encoder is torchvision's ResNet ----------------------------------------------------


@pytest.mark.parametrize(
    "encoder, blocks, parameters",
    [("resnet18", (2, 2, 2, 2), 11_176_512), ("resnet34", (3, 4, 6, 3), 21_284_672)],
)
def test_the_encoder_has_torchvision_s_names_shapes_and_size(encoder, blocks, parameters):
    # torchvision's resnet18 has 11,689,512 parameters and resnet34 21,797,672, of which fc
    # (512 → 1000) is 513,000: the formula's counts are those
    assert parameter_count(blocks) == parameters
    body = ResNetUNet(in_channels=3, encoder=encoder, decoder_channels=NARROW).encoder
    assert sum(p.numel() for p in body.parameters()) == parameters
    got = {k: tuple(v.shape) for k, v in body.state_dict().items()}
    assert got == torchvision_body(blocks)
    assert {"layer4.1.bn2.running_var", "layer3.0.downsample.0.weight", "bn1.bias"} <= set(got)


def test_a_torchvision_state_dict_loads_into_the_encoder_and_is_used():
    model = unet(in_channels=3)
    generator = torch.Generator().manual_seed(1)
    weights = {k: torch.randn(s, generator=generator) if s else torch.tensor(0)
               for k, s in torchvision_body((2, 2, 2, 2)).items()}  # fmt: skip
    for k in weights:
        if k.endswith("running_var"):
            weights[k] = weights[k].abs() + 0.5
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
        model.encoder.load_state_dict(weights)  # strict: every name and shape matches
        assert not torch.allclose(model(x), before)
    torch.testing.assert_close(model.encoder.layer3[0].downsample[0].weight,
                               weights["layer3.0.downsample.0.weight"])  # fmt: skip


def test_the_encoder_s_reach_is_the_published_resnet_receptive_field():
    # ResNet-18's last stage sees 435 pixels, ResNet-34's 899 (Araujo et al., Distill 2019)
    assert encoder_receptive_field(unet().encoder, 4) == 435
    assert encoder_receptive_field(unet(encoder="resnet34").encoder, 4) == 899


# ---- the U-Net ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(64, 96), (50, 70), (17, 33)])
def test_the_unet_returns_its_input_s_size_with_out_channels(shape):
    model = unet(in_channels=4, out_channels=2)
    with torch.no_grad():
        assert model(torch.rand(2, 4, *shape)).shape == (2, 2, *shape)


def test_an_odd_size_runs_as_it_is_and_a_multiple_of_32_as_smp_s_unet_would():
    model = unet(in_channels=4, out_channels=2)
    x = torch.rand(1, 4, 64, 96)
    with torch.no_grad():
        features = model.encoder(x)
        # smp's decoder: nearest ×2 at every block, whatever the sizes
        y = features[-1]
        for block, skip in zip(model.decoder.blocks, [*reversed(features[:-1]), None],
                               strict=True):  # fmt: skip
            y = F.interpolate(y, scale_factor=2.0, mode="nearest")
            y = block.conv2(block.conv1(y if skip is None else torch.cat([y, skip], 1)))
        torch.testing.assert_close(model(x), model.segmentation_head(y))
        # an odd size: no padding, so the result is not a crop of a zero-padded run
        odd = x[..., :50, :70]
        out = model(odd)
        assert out.shape == (1, 2, 50, 70)
        assert not torch.allclose(out, model(F.pad(odd, (0, 26, 0, 14)))[..., :50, :70])


def test_an_image_too_small_or_of_other_channels_is_an_input_error_naming_its_shape():
    model = unet(in_channels=4)
    assert model.min_size == 2
    with pytest.raises(InputError, match=r"at least 2.*\(1, 4, 1, 40\)"):
        model(torch.rand(1, 4, 1, 40))
    with pytest.raises(InputError, match=r"\(B, 4, H, W\).*\(1, 3, 32, 32\)"):
        model(torch.rand(1, 3, 32, 32))


def calibrated(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """The model in eval mode with BatchNorm statistics of ``x``, as after training: at
    initialisation (mean 0, variance 1) each decoder layer shrinks its signal about six-fold,
    and what comes from far away through ten of them is ~1e-9 of the output."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # a cumulative average: one batch sets the statistics
    with torch.no_grad():
        model.train()(x)
    return model.eval()


def test_a_unet_pixel_sees_the_far_corner():
    x = torch.rand(1, 3, 64, 64)
    model = calibrated(unet(in_channels=3), x)
    y = x.clone()
    y[..., 56:, 56:] = 1 - y[..., 56:, 56:]  # the bottom-right corner changes
    with torch.no_grad():
        a, b = model(x), model(y)
    moved = (a[..., :4, :4] - b[..., :4, :4]).abs()
    assert moved.min() > 0  # every top-left pixel moves ...
    assert moved.mean() > 1e-4 * a.abs().max()  # ... by far more than float rounding
    assert model.receptive_field > 2 * 256  # any pixel of a 256² picture sees it all


def linearised(model: nn.Module) -> nn.Module:
    """A copy whose every window is the original's and every path has a gradient: ReLUs as
    identities, the 3×3 max pool as a 3×3 average pool."""
    model = copy.deepcopy(model)
    for m in list(model.modules()):
        for name, child in m.named_children():
            if isinstance(child, nn.ReLU):
                setattr(m, name, nn.Identity())
            elif isinstance(child, nn.MaxPool2d):
                setattr(m, name, nn.AvgPool2d(3, 2, 1))
    return model


def test_the_claimed_window_of_a_pixel_is_the_measured_one():
    # rows only (a 640 × 32 strip): the window is per axis; two pixels of the 32-pixel grid
    model = unet(in_channels=1, decoder_channels=(4, 4, 4, 4, 4))
    probe = linearised(model)
    x = torch.rand(2, 1, 640, 32, requires_grad=True)
    rows = (320, 333)
    probe(x)[[0, 1], 0, list(rows), 16].sum().backward()
    for b, row in enumerate(rows):
        reached = (x.grad[b, 0].abs().sum(dim=1) > 0).nonzero().flatten()
        assert (int(reached.min()), int(reached.max())) == window(model, row)
    assert max(hi - lo + 1 for lo, hi in (window(model, r) for r in rows)) <= model.receptive_field
    assert model.receptive_field == 563


def test_features_are_the_encoder_s_levels_at_their_scale():
    model = unet(in_channels=4)
    x = torch.rand(1, 4, 64, 96)
    with torch.no_grad():
        levels = model.encoder(x)
        for level, channels in enumerate((64, 64, 128, 256, 512)):
            f = model.features(x, level)
            assert f.shape == (1, channels, 64 >> (level + 1), 96 >> (level + 1))
            torch.testing.assert_close(f, levels[level])
        assert model.features(torch.rand(1, 4, 50, 70), 2).shape == (1, 128, 7, 9)
    with pytest.raises(ValueError, match="level"):
        model.features(x, 5)


# ---- the generator --------------------------------------------------------------------------


def generator(**overrides):
    torch.manual_seed(0)
    return ShadowGenerator(**{"decoder_channels": NARROW, **overrides}).eval()


def test_with_zero_residual_heads_the_generator_returns_its_input_picture():
    model = generator()
    with torch.no_grad():
        for conv in (model.coarse, model.refined):
            conv.weight.zero_()
            conv.bias.zero_()
        x = torch.rand(2, 6, 40, 50) * 2 - 1
        coarse, refined = model.coarse_and_refined(x)
        assert torch.equal(coarse, x[:, :3]) and torch.equal(refined, x[:, :3])
        assert torch.equal(model(x), x[:, :3])


def test_each_picture_is_the_input_plus_its_own_head_s_residual():
    model = generator()
    x = torch.rand(1, 6, 32, 32) * 2 - 1
    with torch.no_grad():
        features = model.unet(x)
        coarse, refined = model.coarse_and_refined(x)
        torch.testing.assert_close(coarse, x[:, :3] + model.coarse(features))
        torch.testing.assert_close(refined, x[:, :3] + model.refined(model.refine(features)))
        assert not torch.allclose(coarse, refined)
    assert model.unet.out_channels == 16
    kinds = [type(m) for m in model.refine]
    assert kinds == [nn.BatchNorm2d, nn.ReLU, nn.Conv2d] * 4
    assert all(m.kernel_size == (3, 3) for m in (model.coarse, model.refined, *model.refine[2::3]))


def test_the_generator_takes_four_channels_without_attention_maps():
    model = generator(in_channels=4)
    with torch.no_grad():
        assert model(torch.rand(1, 4, 33, 47)).shape == (1, 3, 33, 47)


# ---- the discriminator ----------------------------------------------------------------------


def test_the_discriminator_is_srgan_s_convs_and_scores_any_size():
    model = SRGANDiscriminator(in_channels=4).eval()
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.features) == 7
    assert not isinstance(model.features[1], nn.BatchNorm2d)  # none after the first conv
    assert all(m.negative_slope == 0.2 for m in model.modules() if isinstance(m, nn.LeakyReLU))
    linears = [m for m in model.classifier if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(512, 1024), (1024, 1)]
    with torch.no_grad():
        for shape in [(128, 128), (256, 256), (40, 72)]:
            assert model(torch.rand(2, 4, *shape)).shape == (2, 1)


def test_the_discriminator_s_width_scales_every_layer():
    model = SRGANDiscriminator(width=8)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 8, 16, 16, 32, 32, 64, 64]
    assert model.classifier[2].out_features == 128


# ---- building by name -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, args, shape",
    [
        ("resnet-unet", {"in_channels": 4, "out_channels": 2, "decoder_channels": NARROW},
         (1, 4, 32, 40)),
        ("arshadow-generator", {"encoder": "resnet34", "features": 8, "refine_blocks": 2},
         (1, 6, 32, 32)),
        ("srgan-discriminator", {"in_channels": 4, "width": 8}, (2, 4, 32, 32)),
    ],
)  # fmt: skip
def test_models_build_by_name_and_their_spec_rebuilds_them(name, args, shape):
    torch.manual_seed(0)
    model = models.build(name, **args).eval()
    spec = json.loads(json.dumps(model.spec))
    assert spec["name"] == name
    assert all(spec["args"][k] == json.loads(json.dumps(v)) for k, v in args.items())
    again = models.build(spec["name"], **spec["args"]).eval()
    again.load_state_dict(model.state_dict())
    x = torch.rand(shape)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x))


@pytest.mark.parametrize(
    "name, args, named",
    [
        ("resnet-unet", {"encoder": "resnet50"}, "encoder"),
        ("resnet-unet", {"decoder_channels": [16, 8]}, "decoder_channels"),
        ("arshadow-generator", {"in_channels": 2}, "in_channels"),
        ("arshadow-generator", {"refine_blocks": -1}, "refine_blocks"),
        ("srgan-discriminator", {"width": 0}, "width"),
    ],
)
def test_invalid_arguments_are_config_errors_naming_them(name, args, named):
    with pytest.raises(ConfigError, match=rf"model '{name}'.*{named}"):
        models.build(name, **args)

"""ShadeUNet: any size, the receptive field it claims, no grid pattern, the mask's own outline;
the direct head: any buffers, their own edges at full resolution."""

import json

import pytest
import torch
import torch.nn.functional as F

from neuralshade import models
from neuralshade.errors import ConfigError, InputError
from neuralshade.models.unet import ShadeUNet, fuse_batch_norm

SMALL = {"widths": (4, 6, 8), "blocks": (0, 1, 1)}
# G-buffer (6 channels: position, normal) to one effect
DIRECT = {"in_channels": 6, "out_channels": 1, "head": "direct"}
HEADS = {"mask": {}, "direct": DIRECT}


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
    assert spec["args"]["head"] == "mask"  # what the bundled ao2d weights, which predate it, get


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("shape", [(1, 1), (7, 33), (40, 17), (64, 64)])
def test_any_size_comes_back_at_its_own_size(shape, head):
    model = small(**HEADS[head])
    out = model(torch.rand(2, model.in_channels, *shape))
    assert out.shape == (2, model.out_channels, *shape)


@pytest.mark.parametrize("head", HEADS)
def test_padding_to_the_stride_is_empty_ground(head):
    # an image whose side is not a multiple of 8 is run as if zeros (ground) lay beyond it
    model = small(**HEADS[head])
    x = torch.rand(1, model.in_channels, 21, 30)
    padded = F.pad(x, (0, 2, 0, 3))
    torch.testing.assert_close(model(x), model(padded)[..., :21, :30])


@pytest.mark.parametrize("head", HEADS)
def test_the_claimed_receptive_field_is_the_measured_one(head, measured_receptive_field):
    model = small(activation="silu", **HEADS[head])  # no dead units: every path has a gradient
    assert measured_receptive_field(model) == model.receptive_field


@pytest.mark.parametrize("head", HEADS)
def test_a_uniform_input_gives_a_uniform_output_away_from_the_border(head):
    # resize-then-conv treats every pixel alike: no stride-2 grid pattern (checkerboard)
    model = small(**HEADS[head])
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.bias.uniform_(-0.5, 0.5)
        out = model(torch.zeros(1, model.in_channels, 256, 256))[0]
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


def test_the_direct_head_keeps_the_input_s_edges_at_full_resolution():
    # head set to copy input channel 0 through its per-pixel layers and ignore the features:
    # a 1-pixel checkerboard, finer than any feature map, comes out exactly
    model = small(**DIRECT)
    width = SMALL["widths"][0]
    with torch.no_grad():
        for p in model.head.parameters():
            p.zero_()
        model.head.mix[0].weight[0, width, 0, 0] = 1.0  # hidden unit 0 = input channel 0
        model.head.mix[1].weight.fill_(1.0)  # BatchNorm at mean 0, variance 1: identity (to eps)
        model.head.out.weight[0, 0, 0, 0] = 1.0
        x = torch.rand(1, 6, 37, 45)
        x[:, 0] = (torch.arange(37)[:, None] + torch.arange(45)) % 2
        torch.testing.assert_close(model(x)[:, 0], x[:, 0])


def test_the_direct_head_takes_any_buffers_to_any_outputs():
    model = small(in_channels=7, out_channels=2, head="direct")
    assert model(torch.rand(3, 7, 19, 26)).shape == (3, 2, 19, 26)


@pytest.mark.parametrize("head", HEADS)
def test_fused_batch_norm_gives_the_same_output(head):
    model = small(**HEADS[head]).train()
    with torch.no_grad():
        for _ in range(3):  # running statistics away from their initial 0 and 1
            model(torch.rand(4, model.in_channels, 32, 32) * 3)
    model.eval()
    x = torch.rand(1, model.in_channels, 50, 70)
    with torch.no_grad():
        before = model(x)
        after = fuse_batch_norm(model)(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-4)


def test_the_direct_head_runs_channels_last(channels_last_difference):
    assert channels_last_difference(small(**DIRECT), torch.rand(2, 6, 45, 70)) < 1e-5


def test_the_direct_head_exports_to_onnx(onnx_vs_torch):
    diffs = onnx_vs_torch(small(**DIRECT), [(1, 6, 16, 16), (2, 6, 45, 71), (1, 6, 3, 100)])
    assert max(diffs) < 1e-4, diffs


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
        ({"head": "kernel"}, "head"),
    ],
)
def test_invalid_arguments_are_config_errors_naming_them(cfg, name):
    with pytest.raises(ConfigError, match=rf"model 'unet'.*{name}"):
        models.build("unet", **{**SMALL, **cfg})


@pytest.mark.parametrize("name, args", [("unet", {**SMALL, **DIRECT, "in_channels": 9}),
                                        ("deepshading", {"in_channels": 9, "widths": (4, 8),
                                                         "groups": (1, 1)})])  # fmt: skip
def test_log_inputs_is_the_same_network_on_log1p_of_those_channels(name, args, onnx_vs_torch):
    """HDR light among the inputs: the network reads log1p(max(x, 0)) of the chosen channels
    and the others as they are; the weights and the state dict are the plain network's."""
    torch.manual_seed(0)
    logged = models.build(name, **args, log_inputs=[6, 7, 8]).eval()
    plain = models.build(name, **args).eval()
    assert logged.state_dict().keys() == plain.state_dict().keys()
    plain.load_state_dict(logged.state_dict())
    x = torch.randn(2, 9, 20, 24) * 5
    by_hand = torch.cat([x[:, :6], torch.log1p(x[:, 6:].clamp_min(0))], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(logged(x), plain(by_hand))
        assert not torch.allclose(logged(x), plain(x))
    assert max(onnx_vs_torch(logged, [(1, 9, 16, 16), (1, 9, 21, 35)])) < 1e-4


@pytest.mark.parametrize("bad", [[9], [-1], [1, 1], [0.5], 3])
def test_log_inputs_outside_the_input_channels_are_refused(bad):
    with pytest.raises(ConfigError, match="log_inputs"):
        models.build("unet", **SMALL, **DIRECT, log_inputs=bad)


def test_a_residual_network_starts_at_its_input_and_learns_a_correction():
    """residual: the output is an input (as the layers read it, log1p for a light input)
    plus what the head adds; the head starts at zero, so the untrained network is the input."""
    torch.manual_seed(0)
    model = ShadeUNet(in_channels=5, out_channels=3, widths=[4, 8], blocks=[0, 1], head="direct",
                      log_inputs=[0, 1, 2], residual=[0, 1, 2]).eval()  # fmt: skip
    x = torch.rand(2, 5, 21, 34) * 10
    with torch.no_grad():
        torch.testing.assert_close(model(x), torch.log1p(x[:, :3]))
        model.head.out.bias.fill_(0.5)
        torch.testing.assert_close(model(x), torch.log1p(x[:, :3]) + 0.5)
    for bad in ([0, 1], [0, 1, 9]):
        with pytest.raises(ValueError, match="residual must list 3"):
            ShadeUNet(in_channels=5, out_channels=3, head="direct", residual=bad)
    with pytest.raises(ValueError, match="head 'direct'"):
        ShadeUNet(in_channels=5, out_channels=3, head="mask", residual=[0, 1, 2])


def test_a_bound_caps_each_output_at_its_inputs_neighbourhood_maximum():
    """bound: output channel k is at most the largest value of input channel bound[k] (as the
    layers read it) within bound_window of the pixel; below that ceiling it is the unbounded
    network's output, unchanged."""
    torch.manual_seed(0)
    args = {"in_channels": 5, "out_channels": 3, "widths": [4, 8], "blocks": [0, 1],
            "head": "direct", "log_inputs": [0, 1, 2]}  # fmt: skip
    free = ShadeUNet(**args).eval()
    capped = ShadeUNet(**args, bound=[0, 1, 2], bound_window=5).eval()
    capped.load_state_dict(free.state_dict())
    with torch.no_grad():
        for p in free.head.out.parameters():
            p.add_(torch.randn_like(p))
        free.head.out.bias.add_(1.5)  # a head that overshoots in places
        capped.load_state_dict(free.state_dict())
        x = torch.rand(2, 5, 23, 30)
        x[:, :3] *= 2
        want, got = free(x), capped(x)
    z = torch.log1p(x[:, :3])
    for b, c, r, q in [(0, 0, 0, 0), (1, 2, 11, 17), (0, 1, 22, 29), (1, 0, 5, 2)]:
        window = z[b, c, max(0, r - 2) : r + 3, max(0, q - 2) : q + 3]
        ceiling = float(window.max())
        assert got[b, c, r, q] == pytest.approx(min(float(want[b, c, r, q]), ceiling), abs=1e-6)
    assert (got < want).any() and (got == want).any()  # it bit somewhere, not everywhere
    assert models.build("unet", **args, bound=[0, 1, 2]).spec["args"]["bound"] == [0, 1, 2]
    for bad in ([0, 1], [0, 1, 9]):
        with pytest.raises(ValueError, match="bound must list 3"):
            ShadeUNet(**args, bound=bad)
    with pytest.raises(ValueError, match="bound_window must be odd"):
        ShadeUNet(**args, bound=[0, 1, 2], bound_window=4)


KERNEL = {"in_channels": 5, "out_channels": 3, "widths": [4, 8], "blocks": [0, 1],
          "head": "kernel", "kernel_inputs": [0, 1, 2], "log_inputs": [0, 1]}  # fmt: skip


def set_kernel(model, kernel, alpha_logit):
    """Fix the kernel head's output: the same kernel (k×k logits) and blend at every pixel."""
    with torch.no_grad():
        model.head.kernel.weight.zero_()
        model.head.kernel.bias.copy_(torch.cat([kernel.flatten(), torch.tensor([alpha_logit])]))


def test_the_kernel_head_blends_a_softmax_kernel_over_the_noisy_input_with_the_direct_colour():
    """Output = α · Σ softmax(w) · input (linear light: expm1 of what a log input reads, then
    log1p) + (1 − α) · the direct head, on an odd size (padding cropped; border replicated)."""
    torch.manual_seed(0)
    model = ShadeUNet(**KERNEL, kernel_size=3).eval()
    x = torch.rand(2, 5, 13, 10) * 3
    logits = torch.randn(3, 3)
    set_kernel(model, logits, 0.7)
    direct = ShadeUNet(**{**KERNEL, "head": "direct", "kernel_inputs": None}).eval()
    direct.load_state_dict(model.state_dict(), strict=False)
    with torch.no_grad():
        got, colour = model(x), direct(x)
    w = torch.softmax(logits.flatten(), 0).view(3, 3)
    padded = F.pad(x[:, :3], (1, 1, 1, 1), mode="replicate")
    alpha = torch.sigmoid(torch.tensor(0.7))
    for b, c, r, q in [(0, 0, 0, 0), (1, 1, 12, 9), (0, 2, 6, 4), (1, 2, 12, 0)]:
        window = padded[b, c, r : r + 3, q : q + 3]
        mean = float((w * window).sum())
        filtered = mean if c == 2 else float(torch.log1p(torch.tensor(mean)))  # 2: not logged
        want = alpha * filtered + (1 - alpha) * colour[b, c, r, q]
        assert got[b, c, r, q] == pytest.approx(float(want), abs=1e-5)
    # a centre-only kernel at α → 1 gives the input back exactly, as the layers read it
    centre = torch.full((3, 3), -50.0)
    centre[1, 1] = 50
    set_kernel(model, centre, 50.0)
    with torch.no_grad():
        back = model(x)
    assert torch.allclose(back[:, :2], torch.log1p(x[:, :2]), atol=1e-6)
    assert torch.allclose(back[:, 2], x[:, 2], atol=1e-6)
    with torch.no_grad():  # BatchNorm folded: the same output
        assert torch.allclose(fuse_batch_norm(model)(x), back, atol=1e-5)


def test_the_kernel_head_is_checked_and_exports_to_onnx(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = ShadeUNet(**KERNEL, kernel_size=5).eval()
    assert model.receptive_field >= 5
    x = torch.rand(1, 5, 20, 24)
    path = tmp_path / "k.onnx"
    torch.onnx.export(model, (x,), path, input_names=["x"], dynamo=False)
    (out,) = ort.InferenceSession(str(path)).run(None, {"x": x.numpy()})
    with torch.no_grad():
        assert torch.allclose(torch.from_numpy(out), model(x), atol=1e-5)
    with pytest.raises(ValueError, match="needs kernel_inputs"):
        ShadeUNet(**{**KERNEL, "kernel_inputs": None})
    with pytest.raises(ValueError, match="kernel_inputs must list 3"):
        ShadeUNet(**{**KERNEL, "kernel_inputs": [0, 1]})
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        ShadeUNet(**KERNEL, kernel_size=4)
    with pytest.raises(ValueError, match="kernel_inputs needs head 'kernel'"):
        ShadeUNet(**{**KERNEL, "head": "direct"})


def test_film_starts_as_the_plain_network_and_reads_the_constants_mean():
    """FiLM's last layer starts at zero: the conditioned network is then the plain one on the
    image channels. The condition is the constant channels' mean, so a tile of the image
    conditions the network as the whole image does."""
    torch.manual_seed(0)
    film = ShadeUNet(in_channels=3, widths=(4, 8, 8), blocks=(0, 1, 1), condition=2).eval()
    plain = ShadeUNet(in_channels=1, widths=(4, 8, 8), blocks=(0, 1, 1)).eval()
    plain.load_state_dict({k: v for k, v in film.state_dict().items() if "film" not in k})
    x = torch.rand(2, 3, 21, 34)
    x[:, 1:] = torch.rand(2, 2, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(film(x), plain(x[:, :1]))
        for p in film.film.parameters():
            p.add_(0.3 * torch.randn_like(p))
        y = film(x)
        assert (y - plain(x[:, :1])).abs().max() > 1e-2  # now the condition acts
        swapped = film(x[[1, 0]])  # each image keeps its own condition
        torch.testing.assert_close(swapped, y[[1, 0]])


def test_film_needs_an_image_channel_left():
    with pytest.raises(ValueError, match="condition \\(3\\) must leave at least one"):
        ShadeUNet(in_channels=3, condition=3)

"""KPCN: its kernels against a naive filter, its preprocessing against the formulas, its reach."""

import json
import math

import pytest
import torch

from neuralshade import models
from neuralshade.errors import ConfigError, InputError
from neuralshade.models.kpcn import (
    BRANCH_CHANNELS,
    EPS,
    KPCN,
    apply_kernels,
    gradients,
    kernel_weights,
    receptive_field,
    split,
)

SMALL = {"kernel_size": 5, "layers": 3, "width": 8}


def small(**overrides):
    torch.manual_seed(0)
    return models.build("kpcn", **{**SMALL, **overrides}).eval()


def buffers(h=9, w=11, seed=0, **values):
    """A random (1, 26, H, W) input as a path tracer gives it: radiance and variances >= 0,
    albedo in [0.2, 1], normals in [-1, 1], depth > 0; ``values`` set buffers to constants."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 26, h, w, generator=g) * 2
    x[:, 12:15] = 0.2 + 0.4 * x[:, 12:15]  # albedo
    x[:, 18:21] -= 1  # normal
    for name, value in values.items():
        split(x)[name].fill_(value)  # split's views write through to x
    return x


def naive_kernels(colour, logits, k):
    """Per pixel, in python: the softmax of the logits of its in-image taps, then the
    weighted sum of those neighbours."""
    _, c, h, w = colour.shape
    r = k // 2
    out = torch.zeros(c, h, w, dtype=torch.float64)
    for y in range(h):
        for x in range(w):
            taps = [
                (float(logits[0, i * k + j, y, x]), colour[0, :, y + i - r, x + j - r].double())
                for i in range(k)
                for j in range(k)
                if 0 <= y + i - r < h and 0 <= x + j - r < w
            ]
            total = sum(math.exp(z) for z, _ in taps)
            out[:, y, x] = sum(math.exp(z) / total * value for z, value in taps)
    return out


@pytest.mark.parametrize("k", [1, 3, 5])
def test_kernels_are_the_naive_softmax_average_over_in_image_taps(k):
    g = torch.Generator().manual_seed(k)
    colour = torch.rand(1, 2, 6, 7, generator=g)
    logits = torch.randn(1, k * k, 6, 7, generator=g) * 3
    got = apply_kernels(colour, kernel_weights(logits))[0].double()
    torch.testing.assert_close(got, naive_kernels(colour, logits, k), atol=1e-5, rtol=0)


def test_kernel_weights_vanish_beyond_the_border_and_sum_to_one():
    logits = torch.randn(2, 25, 4, 9)
    weights = kernel_weights(logits)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(2, 4, 9))
    assert float(weights[:, :10, 0].abs().max()) == 0  # rows −2, −1 of the top row's kernels
    torch.testing.assert_close(weights[:, :, 2:-2, 2:-2], logits.softmax(dim=1)[:, :, 2:-2, 2:-2])


def test_a_kernel_with_all_its_weight_on_one_tap_shifts_the_image():
    # tap (i, j) = (2, 0) of a 3×3 kernel reads the pixel one row down, one column left
    colour = torch.rand(1, 3, 6, 7)
    weights = torch.zeros(1, 9, 6, 7)
    weights[:, 2 * 3 + 0] = 1
    out = apply_kernels(colour, weights)
    torch.testing.assert_close(out[..., :-1, 1:], colour[..., 1:, :-1])


@pytest.mark.parametrize("mode", ["kernel", "direct"])
def test_forward_is_the_branches_remodulated_and_summed(mode):
    model = small(mode=mode)
    x = buffers()
    with torch.no_grad():
        pred = model.branches(x)
        albedo = split(x)["albedo"]
        want = pred["diffuse"] * (albedo + EPS) + torch.expm1(pred["specular"]).clamp_min(0)
        torch.testing.assert_close(model(x), want)


def test_a_constant_image_stays_constant_up_to_its_border():
    # softmax kernels over the in-image taps are weighted averages everywhere; with zero
    # biases the net would predict near-uniform kernels, so make them uneven
    model = small(kernel_size=7)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
        x = buffers(h=12, w=13, diffuse=0.7, specular=3.0, albedo=0.4)
        weights = model.nets["diffuse"](model.preprocess(x)["diffuse"]).softmax(dim=1)
        assert float(weights.amax(dim=1).min()) > 3 / 49  # far from a box filter
        out = model(x)
    torch.testing.assert_close(out, torch.full_like(out, 3.7), atol=1e-4, rtol=0)


def test_transform_then_untransform_gives_the_references_back():
    g = torch.Generator().manual_seed(3)
    diffuse = torch.rand(2, 3, 5, 6, generator=g) * 10
    specular = torch.rand(2, 3, 5, 6, generator=g) * 50
    albedo = torch.rand(2, 3, 5, 6, generator=g)
    albedo[0, :, 0, 0] = 0  # a conductor, or nothing hit
    domains = KPCN.transform(diffuse, specular, albedo, 0.01)
    torch.testing.assert_close(domains["diffuse"], diffuse / (albedo + 0.01))
    torch.testing.assert_close(domains["specular"], torch.log(1 + specular))
    back = KPCN.untransform(domains, albedo, 0.01)
    torch.testing.assert_close(back["diffuse"], diffuse)
    torch.testing.assert_close(back["specular"], specular, rtol=1e-5, atol=1e-5)


def close(got, want):
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)  # float32 against float64


def test_preprocessing_is_the_papers_transforms_by_their_formulas():
    x = buffers(h=3, w=4)
    b = {n: t.double() for n, t in split(x).items()}
    inputs = {n: t.double() for n, t in small().preprocess(x).items()}
    assert {n: tuple(t.shape) for n, t in inputs.items()} == {
        "diffuse": (1, BRANCH_CHANNELS, 3, 4),
        "specular": (1, BRANCH_CHANNELS, 3, 4),
    }
    assert BRANCH_CHANNELS == 3 + 1 + 6 + 7 + 3 + 14
    a = b["albedo"] + EPS
    s = b["specular"]
    colour = {"diffuse": b["diffuse"] / a, "specular": torch.log(1 + s)}
    variance = {
        "diffuse": (b["diffuse_variance"] / a**2).mean(dim=1),
        "specular": (b["specular_variance"] / (1 + s) ** 2).mean(dim=1),  # the delta method
    }
    depth_max = b["depth"].max()
    for name, t in inputs.items():
        close(t[:, 0:3], colour[name])
        close(t[:, 3], variance[name])
        c = colour[name]
        for y in range(3):
            for x_ in range(4):  # forward differences, 0 past the last column and row
                dx = c[0, :, y, x_ + 1] - c[0, :, y, x_] if x_ < 3 else torch.zeros(3)
                dy = c[0, :, y + 1, x_] - c[0, :, y, x_] if y < 2 else torch.zeros(3)
                close(t[0, 4:7, y, x_], dx.double())
                close(t[0, 7:10, y, x_], dy.double())
        close(t[:, 10:13], b["albedo"])
        close(t[:, 13:16], b["normal"])
        close(t[:, 16], b["depth"][:, 0] / depth_max)
        assert float(t[:, 16].max()) == pytest.approx(1.0)
        close(t[:, 17], b["albedo_variance"].mean(dim=1))
        close(t[:, 18], b["normal_variance"].mean(dim=1))
        close(t[:, 19], b["depth_variance"][:, 0] / depth_max**2)
        features = torch.cat([b["albedo"], b["normal"], b["depth"] / depth_max], dim=1)
        close(t[:, 20:34], gradients(features))
    close(inputs["diffuse"][:, 10:], inputs["specular"][:, 10:])


def test_an_image_that_hits_nothing_has_depth_zero_not_nan():
    x = buffers(depth=0.0, depth_variance=0.0)
    inputs = small().preprocess(x)["diffuse"]
    assert torch.isfinite(inputs).all() and float(inputs[:, 16].abs().max()) == 0


def test_the_first_conv_reads_the_documented_branch_channels():
    model = small()
    for net in model.nets.values():
        assert net[0].in_channels == BRANCH_CHANNELS


def test_the_defaults_are_the_published_layers_with_the_parameters_they_imply():
    model = models.build("kpcn")
    convs = [m for m in model.nets["diffuse"] if isinstance(m, torch.nn.Conv2d)]
    layers = [(34, 100)] + [(100, 100)] * 6 + [(100, 21 * 21)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (i, o, (5, 5)) for i, o in layers
    ]
    relus = [m for m in model.nets["diffuse"] if isinstance(m, torch.nn.ReLU)]
    assert len(relus) == 7 and isinstance(model.nets["diffuse"][-1], torch.nn.Conv2d)
    per_branch = sum(i * o * 25 + o for i, o in layers)
    assert per_branch == 2_688_641  # the figure in the module's docstring
    assert sum(p.numel() for p in model.parameters()) == 2 * per_branch
    direct = sum(i * o * 25 + o for i, o in [*layers[:-1], (100, 3)])
    assert direct == 1_593_203
    assert sum(p.numel() for p in models.build("kpcn", mode="direct").parameters()) == 2 * direct


def test_the_branches_have_separate_weights_so_each_loss_trains_only_its_own():
    model = small()
    x = buffers()
    refs = KPCN.transform(torch.rand(1, 3, 9, 11), torch.rand(1, 3, 9, 11), split(x)["albedo"])
    (model.branches(x)["diffuse"] - refs["diffuse"]).abs().mean().backward()
    grads = {n: [p.grad for p in net.parameters()] for n, net in model.nets.items()}
    assert all(g is not None and g.abs().sum() > 0 for g in grads["diffuse"])
    assert all(g is None for g in grads["specular"])


def reaches(model, y0=15, x0=16, size=32):
    """{buffer: ((first, last) row, (first, last) column)} of the input pixels, relative to
    (y0, x0), that output pixel (y0, x0) gets a nonzero gradient from."""
    x = buffers(size, size).requires_grad_()
    model(x)[0, :, y0, x0].sum().backward()
    out = {}
    for name in ("diffuse", "specular", "albedo", "normal"):
        reached = split(x.grad)[name].abs().sum(dim=(0, 1)) > 0  # (H, W)
        rows = reached.any(dim=1).nonzero()[:, 0]
        cols = reached.any(dim=0).nonzero()[:, 0]
        out[name] = (
            (int(rows.min()) - y0, int(rows.max()) - y0),
            (int(cols.min()) - x0, int(cols.max()) - x0),
        )
    return out


@pytest.mark.parametrize(
    "cfg, convs, kernel",
    [
        # convs see ±(3·4/2) = ±6, the gradients one more on the far side: −6 … +7; the
        # 5×5 kernel's ±2 lie inside
        ({"kernel_size": 5, "layers": 3, "conv_kernel": 5}, (-6, 7), (-6, 7)),
        ({"mode": "direct", "layers": 3, "conv_kernel": 5}, (-6, 7), (-6, 7)),
        # a 9×9 kernel averages the colour (diffuse, specular, and albedo that demodulates
        # it) ±4 away, beyond the convs' −1 … +2; normals reach only the convs
        ({"kernel_size": 9, "layers": 1, "conv_kernel": 3}, (-1, 2), (-4, 4)),
    ],
)
def test_the_receptive_field_is_the_widest_window_an_output_pixel_depends_on(cfg, convs, kernel):
    # a random net with every ReLU open (biases 20, weights ±0.02): no dead unit hides a path
    model = small(width=4, **cfg)
    with torch.no_grad():
        for net in model.nets.values():
            for conv in net[::2]:
                conv.weight.uniform_(-0.02, 0.02)
                conv.bias.fill_(20.0)
    opened = []
    for net in model.nets.values():
        for relu in net[1::2]:
            relu.register_forward_hook(
                lambda m, args, out: opened.append(bool((args[0] > 0).all()))
            )
    got = reaches(model)
    assert all(opened)
    assert got == {
        "diffuse": (kernel, kernel),
        "specular": (kernel, kernel),
        "albedo": (kernel, kernel),
        "normal": (convs, convs),
    }
    assert model.receptive_field == kernel[1] - kernel[0] + 1
    assert model.receptive_field // 2 >= max(-kernel[0], kernel[1])  # tiling's margin covers it


def test_one_pixel_changes_no_output_beyond_the_receptive_field():
    model = small()  # the network as built, with ReLUs that may be shut
    x = buffers(32, 32)
    with torch.no_grad():
        before = model(x)
        split(x)["diffuse"][:, :, 15, 16] += 5.0
        changed = (model(x) - before).abs().sum(dim=(0, 1)) > 0  # (H, W)
    r = model.receptive_field // 2
    assert (
        changed[15, 16] and not changed[:, 16 + r + 1 :].any() and not changed[15 + r + 1 :].any()
    )
    assert not changed[:, : 16 - r].any() and not changed[: 15 - r].any()


def test_the_default_receptive_field_is_the_convs_not_the_kernels():
    assert models.build("kpcn").receptive_field == receptive_field("kernel", 21, 8, 5) == 34
    assert receptive_field("kernel", 41, 8, 5) == 41
    assert receptive_field("direct", 41, 8, 5) == 34


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (7, 33)])
def test_any_size_comes_back_at_its_own_size(shape):
    with torch.no_grad():
        out = small()(buffers(*shape))
    assert out.shape == (1, 3, *shape) and torch.isfinite(out).all()


@pytest.mark.parametrize("mode", ["kernel", "direct"])
def test_spec_rebuilds_the_same_network(mode):
    model = small(mode=mode)
    spec = json.loads(json.dumps(model.spec))
    assert spec == {
        "name": "kpcn",
        "args": {
            "in_channels": 26,
            "out_channels": 3,
            "mode": mode,
            "kernel_size": 5,
            "layers": 3,
            "width": 8,
            "conv_kernel": 5,
            "eps": EPS,
        },
    }
    again = models.build(spec["name"], **spec["args"]).eval()
    again.load_state_dict(model.state_dict())
    x = buffers()
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x))


@pytest.mark.parametrize(
    "cfg, name",
    [
        ({"in_channels": 27}, r"in_channels must be 26.*27"),
        ({"out_channels": 1}, r"out_channels must be 3.*1"),
        ({"mode": "kpcn"}, r"mode.*'kpcn'"),
        ({"kernel_size": 4}, r"kernel_size must be odd.*4"),
        ({"kernel_size": 0}, r"kernel_size.*0"),
        ({"conv_kernel": 2}, r"conv_kernel must be odd.*2"),
        ({"layers": 0}, r"layers.*0"),
        ({"width": 2.5}, r"width.*2\.5"),
        ({"eps": 0}, r"eps.*0"),
        ({"eps": "small"}, r"eps.*'small'"),
    ],
)
def test_invalid_arguments_are_config_errors_naming_them(cfg, name):
    with pytest.raises(ConfigError, match=rf"model 'kpcn'.*{name}"):
        models.build("kpcn", **{**SMALL, **cfg})


def test_wrong_input_channels_is_an_input_error():
    with pytest.raises(InputError, match=r"\(B, 26, H, W\).*\(1, 6, 8, 8\)"):
        small()(torch.rand(1, 6, 8, 8))


def test_onnx_matches_torch_at_sizes_it_was_not_traced_at(onnx_vs_torch):
    # kernel mode: direct mode's graph is a part of it. The fixture's inputs are uniform in
    # [0, 1): an albedo near 0 demodulates the diffuse by up to 1 / ε, outputs reach ~100s,
    # and the float rounding is relative to that (a wrong border or size is off by O(1))
    model = small(kernel_size=3, layers=2)
    shapes = [(1, 26, 16, 16), (2, 26, 45, 71), (1, 26, 3, 100)]
    diffs = onnx_vs_torch(model, shapes)
    with torch.no_grad():
        scale = max(float(model(torch.rand(s)).abs().max()) for s in shapes)
    assert max(diffs) < 3e-5 * max(scale, 1.0), (diffs, scale)

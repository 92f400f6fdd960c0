"""The shadow task's training step: which attention maps the generator is given, and the
pictures the attention block is trained on."""

import math

import pytest
import torch
from torch import nn

from neuralshade.errors import ConfigError
from neuralshade.task import get_task
from neuralshade.tasks.shadow import colour_jitter, dice_loss, iou, lovasz_hinge, options
from neuralshade.train import load_config


class Recorder(nn.Module):
    """A generator that records its input and returns it cut to a picture, twice."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.seen = None

    def coarse_and_refined(self, x):
        self.seen = x.detach()
        return x[:, :3] * self.scale, x[:, :3] * self.scale


class Fixed(nn.Module):
    """An attention block whose logits are the picture's first two channels, recentred."""

    def forward(self, x):
        return (x[:, :2] - 0.5) * 10


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(2, 3, 8, 8, generator=g)
    return {"noshadow": image, "mask": (torch.rand(2, 1, 8, 8, generator=g) > 0.7).float(),
            "robject": torch.rand(2, 1, 8, 8, generator=g).round(),
            "rshadow": torch.rand(2, 1, 8, 8, generator=g).round(),
            "shadow": image * 0.9, "objshadow": torch.zeros(2, 1, 8, 8)}  # fmt: skip


def config(maps):
    return load_config({
        "task": "shadow", "data": "x", "steps": 1, "freeze": ["attention"],
        "init": {"attention": {"checkpoint": "a.safetensors"}},
        "options": {"maps": maps, "adversarial": 0.0, "perceptual": 0.0},
    })  # fmt: skip


@pytest.mark.parametrize("maps", ["truth", "predicted"])
def test_the_generator_is_trained_on_the_maps_the_option_names(maps):
    nets, b = {"generator": Recorder(), "attention": Fixed()}, batch()
    steps = dict(get_task("shadow").train_step(nets, b, config(maps)))
    assert set(steps) == {"generator"}
    seen = nets["generator"].seen[:, 4:6]
    truth = torch.cat([b["robject"], b["rshadow"]], 1)
    predicted = (b["noshadow"][:, :2] > 0.5).float()  # σ((x − 0.5)·10) > 0.5
    assert torch.equal(seen, truth if maps == "truth" else predicted)
    assert not torch.equal(truth, predicted)


def test_predicted_maps_need_a_trained_frozen_attention_block():
    task = get_task("shadow")
    task.check(config("predicted"))
    with pytest.raises(ConfigError, match="attention block's maps"):
        task.check(load_config({"task": "shadow", "data": "x", "freeze": ["discriminator"],
                                "options": {"maps": "predicted", "adversarial": 0.0}}))
    with pytest.raises(ConfigError, match="options.maps must be one of"):
        options({"maps": "soft"})


def test_colour_jitter_shuffles_and_scales_each_pictures_channels():
    g = torch.Generator().manual_seed(3)
    image = 0.05 + 0.25 * torch.rand(4, 3, 8, 8, generator=g)  # gains <= e never clip
    out = colour_jitter(image, 1.0)
    assert torch.equal(out, colour_jitter(image.clone(), 1.0))  # seeded by the batch's bytes
    assert torch.equal(colour_jitter(image, 0.0), image)
    orders, gains = [], []
    for b in range(4):
        sources = []
        for c in range(3):
            # the one input channel this output channel is a constant multiple of
            ratios = out[b, c] / image[b]  # (3, 8, 8)
            spread = ratios.amax(dim=(1, 2)) - ratios.amin(dim=(1, 2))
            k = int(spread.argmin())
            assert spread[k] < 1e-5
            gain = float(ratios[k].mean())
            assert math.exp(-1) - 1e-6 <= gain <= math.exp(1) + 1e-6
            sources.append(k)
            gains.append(gain)
        assert sorted(sources) == [0, 1, 2]
        orders.append(sources)
    assert any(o != [0, 1, 2] for o in orders)  # some channels moved
    assert max(abs(math.log(x)) for x in gains) > 0.3  # and were scaled
    with pytest.raises(ConfigError, match="colour_jitter"):
        options({"colour_jitter": -0.5})


class Seen(nn.Module):
    """An attention block that records its input and returns logits of two maps."""

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(()))
        self.seen = None

    def forward(self, x):
        self.seen = x.detach()
        return x[:, :2] + self.bias


@pytest.mark.parametrize("strength", [0.0, 0.5])
def test_the_attention_block_trains_on_jittered_pictures_and_the_true_mask(strength):
    nets, b = {"attention": Seen(), "generator": Recorder()}, batch(1)
    cfg = load_config({"task": "shadow", "data": "x", "steps": 1,
                       "freeze": ["generator", "discriminator"],
                       "options": {"colour_jitter": strength}})  # fmt: skip
    steps = dict(get_task("shadow").train_step(nets, b, cfg))
    assert set(steps) == {"attention"}
    seen = nets["attention"].seen
    assert torch.equal(seen[:, 3:], b["mask"])
    assert torch.equal(seen[:, :3], colour_jitter(b["noshadow"], strength))
    assert torch.equal(seen[:, :3], b["noshadow"]) == (strength == 0)


def test_the_generator_trains_on_a_picture_and_target_recoloured_alike():
    b = batch(2)
    b["noshadow"] = 0.01 + 0.44 * b["noshadow"]  # gains <= e^0.7 never clip
    b["shadow"] = b["noshadow"] * torch.linspace(0.5, 1.0, 8)  # a darkening across the picture
    nets = {"generator": Recorder(), "attention": Fixed()}  # coarse = refined = the picture
    cfg = config("truth").model_copy(update={"options": {
        "maps": "truth", "adversarial": 0.0, "perceptual": 0.0, "colour_jitter": 0.7}})
    loss = dict(get_task("shadow").train_step(nets, b, cfg))["generator"]
    picture = colour_jitter(b["noshadow"], 0.7)
    target = colour_jitter(b["shadow"], 0.7, like=b["noshadow"])
    assert torch.equal(nets["generator"].seen[:, :3], picture * 2 - 1)
    # the loss is against the target recoloured with the picture's draw (same shuffle, gains)
    expected = 10 * 2 * torch.mean((picture * 2 - 1 - (target * 2 - 1)) ** 2)
    assert torch.allclose(loss, expected)
    ratio = target / picture  # the darkening survives the recolouring, channel by channel
    assert torch.allclose(ratio, torch.linspace(0.5, 1.0, 8).expand_as(ratio), atol=1e-5)


def test_lovasz_hinge_is_one_minus_the_iou_where_every_error_is_0_or_1():
    g = torch.Generator().manual_seed(4)
    truth = (torch.rand(5, 2, 6, 7, generator=g) > 0.6).float()
    wrong = torch.rand(5, 2, 6, 7, generator=g) > 0.8
    truth[0, 0], wrong[0, 0] = 0, False  # empty truth, nothing wrong: IoU 1
    truth[0, 1], wrong[0, 1, 2, 3] = 0, True  # empty truth, one pixel wrong: IoU 0
    sign = truth * 2 - 1
    logits = torch.where(wrong, torch.zeros_like(sign), sign)  # hinge error 1 wrong, 0 right
    predicted = torch.where(wrong, 1 - truth, truth)  # the maps those wrong pixels make
    per_map = 1 - iou(predicted, truth)
    assert per_map[0].tolist() == [0.0, 1.0]
    assert torch.allclose(lovasz_hinge(logits, truth), per_map.mean(), atol=1e-6)
    # a larger error on a wrong pixel costs more, in proportion; a right margin costs nothing
    assert torch.allclose(lovasz_hinge(logits * 3, truth), per_map.mean(), atol=1e-6)
    assert lovasz_hinge(torch.where(wrong, -sign, sign), truth) > per_map.mean() + 0.1


def test_the_lovasz_option_adds_its_weight_times_the_hinge_to_the_attention_loss():
    b = batch(3)
    truth = torch.cat([b["robject"], b["rshadow"]], 1)
    logits = b["noshadow"][:, :2]
    losses = []
    for weight in (0.0, 2.0):
        nets = {"attention": Seen(), "generator": Recorder()}
        cfg = load_config({"task": "shadow", "data": "x", "steps": 1,
                           "freeze": ["generator", "discriminator"],
                           "options": {"lovasz": weight}})  # fmt: skip
        losses.append(dict(get_task("shadow").train_step(nets, b, cfg))["attention"])
        # stage one's validation loss, which picks the checkpoint, is the same sum
        expected = dice_loss(logits, truth) + weight * lovasz_hinge(logits, truth)
        with torch.no_grad():  # as the trainer validates
            val_loss = get_task("shadow").validate(nets, b, cfg)["loss"]
        assert val_loss == pytest.approx(float(expected), abs=1e-4)
    assert torch.allclose(losses[0], dice_loss(logits, truth))
    assert torch.allclose(losses[1], dice_loss(logits, truth) + 2 * lovasz_hinge(logits, truth))
    with pytest.raises(ConfigError, match="lovasz"):
        options({"lovasz": -1})


class Ramp(nn.Module):
    """Logits of two maps that rise left to right, whatever the picture: a block that reads
    a scene and its mirror differently."""

    out_channels = 2

    def forward(self, x):
        b, _, h, w = x.shape
        return (torch.arange(w, dtype=x.dtype) * 0.5 - 1.0).expand(b, 2, h, w).clone()


def test_mirror_averaging_thresholds_the_mean_of_the_two_readings():
    from neuralshade.models.arshadow import MirrorAveraged

    x = torch.rand(1, 4, 3, 6)
    averaged = MirrorAveraged(Ramp())(x)
    for c in range(6):  # column c is read at c, and at 5 − c in the mirror
        mean = (1 / (1 + math.exp(-(0.5 * c - 1))) + 1 / (1 + math.exp(-(0.5 * (5 - c) - 1)))) / 2
        assert torch.allclose(torch.sigmoid(averaged[..., c]), torch.tensor(mean), atol=1e-5)
    # the averaged block answers a mirrored picture with its answer mirrored; the block alone not
    conv = nn.Conv2d(4, 2, 3, padding=1)
    with torch.no_grad():
        both = MirrorAveraged(conv)
        assert torch.allclose(both(x.flip(-1)), both(x).flip(-1), atol=1e-5)
        assert not torch.allclose(conv(x.flip(-1)), conv(x).flip(-1), atol=1e-3)
        pointwise = nn.Conv2d(4, 2, 1)  # already mirror-symmetric: unchanged
        assert torch.allclose(MirrorAveraged(pointwise)(x), pointwise(x), atol=1e-4)


@pytest.mark.parametrize("mirror", [False, True])
def test_the_mirror_option_sets_what_inference_and_validation_read(mirror):
    from neuralshade.models.arshadow import MirrorAveraged

    class Reader(Recorder):  # a generator of the 6 channels that reads the maps
        in_channels, receptive_field = 6, 1

        def forward(self, x):
            return self.coarse_and_refined(x)[1]

    task, b = get_task("shadow"), batch(4)
    nets = {"attention": Ramp(), "generator": Reader()}
    pipeline = task.inference_network(nets, {"config": {"options": {"mirror": mirror}}})
    assert isinstance(pipeline.attention, MirrorAveraged) == mirror
    pipeline(torch.cat([b["noshadow"], b["mask"]], 1))
    x = torch.cat([b["noshadow"], b["mask"]], 1)
    block = MirrorAveraged(Ramp()) if mirror else Ramp()
    assert torch.equal(nets["generator"].seen[:, 4:], (block(x) > 0).float())
    cfg = load_config({"task": "shadow", "data": "x", "steps": 1,
                       "freeze": ["generator", "discriminator"], "options": {"mirror": mirror}})
    iou_shadows = task.validate(nets, b, cfg)["iou_rshadow"]
    maps = (block(x) > 0).float()
    assert iou_shadows == pytest.approx(float(iou(maps, torch.cat([b["robject"], b["rshadow"]],
                                                                  1))[:, 1].mean()))  # fmt: skip
    with pytest.raises(ConfigError, match="mirror"):
        options({"mirror": "yes"})

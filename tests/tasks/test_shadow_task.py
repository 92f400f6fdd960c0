"""The shadow task's training step: which attention maps the generator is given, and the
pictures the attention block is trained on."""

import math

import pytest
import torch
from torch import nn

from neuralshade.errors import ConfigError
from neuralshade.task import get_task
from neuralshade.tasks.shadow import colour_jitter, options
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

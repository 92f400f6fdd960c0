"""The shadow task's training step: which attention maps the generator is given."""

import pytest
import torch
from torch import nn

from neuralshade.errors import ConfigError
from neuralshade.task import get_task
from neuralshade.tasks.shadow import options
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

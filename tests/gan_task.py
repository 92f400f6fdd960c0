"""A conditional GAN task that lives only in the tests: two networks, two optimisers, one run.

Generator ``generator`` (a small ResConv: mask → image) and discriminator ``discriminator``
(:class:`PatchCritic`: mask + image → a map of logits) train in one step, the discriminator
first (non-saturating GAN losses, Goodfellow et al. 2014; the generator's adds an L1 term, as
pix2pix does). It proves the pipeline trains several named networks, resumes both exactly and
rebuilds either from the checkpoint.

Importing this module registers the task (``gan-test``) and the critic's model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neuralshade.data.datasets import stack
from neuralshade.models import names as model_names
from neuralshade.models import register
from neuralshade.task import TASKS, ImageTask


class PatchCritic(nn.Module):
    """(B, in_channels, H, W) → (B, 1, H/4, W/4) logits: real (high) or generated (low)."""

    def __init__(self, in_channels: int = 4, width: int = 8):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, 1
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, width, 3, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 1, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


if "patch-critic-test" not in model_names():
    register("patch-critic-test")(PatchCritic)


class GanTask(ImageTask):
    name = "gan-test"
    source = "ao2d"
    description = "test only: a conditional GAN, mask → image (generator and discriminator)"
    inputs = ("source",)
    targets = ("target",)
    networks = ("generator", "discriminator")
    default_models = {
        "generator": {"name": "resconv", "args": {"channels": 4, "layers": 2, "strides": [1, 1]}},
        "discriminator": {"name": "patch-critic-test", "args": {"width": 8}},
    }

    def model_args(self, network, config, channels):
        if network == "generator":
            return {
                "in_channels": channels(config.inputs),
                "out_channels": channels(config.targets),
            }
        return {"in_channels": channels(config.inputs) + channels(config.targets)}

    def train_step(self, nets, batch, config):
        x, y = stack(batch, config.inputs), stack(batch, config.targets)
        generator, critic = nets["generator"], nets["discriminator"]
        fake = generator(x)
        real_logits = critic(torch.cat([x, y], dim=1))
        fake_logits = critic(torch.cat([x, fake.detach()], dim=1))
        yield "discriminator", F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        fooled = F.softplus(-critic(torch.cat([x, fake], dim=1))).mean()
        yield "generator", fooled + 10.0 * (fake - y).abs().mean()

    def validate(self, nets, batch, config):
        pred = nets["generator"](stack(batch, config.inputs))
        return {"loss": float((pred - stack(batch, config.targets)).abs().mean())}

    def predict(self, nets, batch, info):
        return nets["generator"](stack(batch, info["inputs"]))


if "gan-test" not in TASKS.names():
    TASKS.register("gan-test")(GanTask)


if __name__ == "__main__":  # the command line with this task registered (torchrun runs it)
    import sys

    from neuralshade.cli import main

    sys.exit(main())

"""shadow: a picture with an object pasted in and the object's mask → the picture with the
object's shadow, as ARShadowGAN (Liu et al. 2020; the Everypixel "ARShadowGAN-like" series)
learns it, from renderer-exact quintuples (source ``shadow``,
:mod:`neuralshade.data.sources.shadow`).

Three networks, trained in stages by the generic trainer (``freeze`` and ``init`` chain them):

1. ``attention`` (:class:`~neuralshade.models.arshadow.ResNetUNet`, ResNet-34 encoder): the
   picture and the object mask (4 channels, [0, 1]) → logits of two maps, the occluders
   (``robject``) and their shadows (``rshadow``); soft Dice loss, IoU reported. Stage one trains
   it alone (``freeze: [generator, discriminator]``).
2. ``generator`` (:class:`~neuralshade.models.arshadow.ShadowGenerator`, ResNet-18 encoder):
   the picture in [−1, 1], the mask and the two attention maps (6 channels) → a coarse and a
   refined picture, each the input plus a residual; trained on the **ground-truth** attention
   maps, run on the attention block's maps thresholded at 0.5 at inference, as the original
   (``options.maps: predicted`` trains it on those thresholded maps instead, from the frozen
   trained attention block: what it will be given at inference).
   Its loss: ``options.l2`` (10) × (L2 of coarse + L2 of refined) + ``options.perceptual``
   × the perceptual term (the original's 1 in ``shadow-gpu``; 0 in ``shadow-cpu``, where it
   measured worse, and by default, as it needs a trained attention block)
   + ``options.adversarial`` (0.01) × LSGAN on the refined picture.
3. ``discriminator`` (:class:`~neuralshade.models.arshadow.SRGANDiscriminator`): the picture
   and the mask (4 channels, [−1, 1] and [0, 1]) → a realness score; LSGAN: (D(real) − 1)² +
   D(fake)², stepped before the generator's loss each step.

The perceptual term: ARShadowGAN's is VGG-16 relu3_3 on ImageNet weights, which cannot be had
here. Ours is the frozen attention block's encoder (trained on this data to find occluders and
their shadows), its ``layer2`` features (1/8 resolution, 128 channels: about relu3_3's depth),
mean squared difference between the refined and true pictures. With ``options.perceptual: 0``
it is left out.

``options.lovasz`` (ours, not the original's; 0 by default) adds that weight × the Lovász hinge
(:func:`lovasz_hinge`, a surrogate of the per-picture IoU itself) to the attention block's Dice
loss, in training and in the validation loss that picks its checkpoint.

``options.mirror`` (ours; false by default) runs the attention block on the picture and on its
mirror image and thresholds the mean of the two readings
(:class:`~neuralshade.models.arshadow.MirrorAveraged`), at inference and in validation: twice
the block's time, for maps that do not depend on which way round the scene was drawn.

``options.colour_jitter`` (ours, not the original's; 0 by default) recolours the training
pictures of whichever networks train, a picture and its target alike (:func:`colour_jitter`).

The L2-only baseline of the issue is this generator with ``options.attention: false`` (4 input
channels: picture and mask), ``adversarial: 0`` and ``perceptual: 0``, the attention block and
discriminator frozen. ``finish`` keeps the object's own pixels as given (the shadow is cast
around it) and the picture in [0, 1]. Baselines in ``eval``: ``input`` (the picture as given,
no shadow) and ``geometric`` (:func:`neuralshade.baselines.cast_shadow.cast_shadow`: the light's
image-space direction estimated from the occluders and their shadows, the object's mask cast
along it at their shadows' darkness, from the true occluder maps).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from neuralshade.data.datasets import stack, with_buffers
from neuralshade.errors import ConfigError
from neuralshade.task import TASKS, Task

ATTENTION_TARGETS = ("robject", "rshadow")
OPTIONS = {"attention": True, "l2": 10.0, "perceptual": 0.0, "adversarial": 0.01,
           "threshold": 0.5, "maps": "truth", "colour_jitter": 0.0, "lovasz": 0.0,
           "mirror": False}  # fmt: skip
MAPS = ("truth", "predicted")  # what the generator is trained on
NETWORKS = ("generator", "attention", "discriminator")


def options(config_options: Mapping[str, Any]) -> dict[str, Any]:
    """The task's options with their defaults (ConfigError naming an unknown one)."""
    unknown = sorted(set(config_options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"unknown shadow options {unknown}; known: {list(OPTIONS)}")
    out = {**OPTIONS, **config_options}
    if out["maps"] not in MAPS:
        raise ConfigError(f"options.maps must be one of {list(MAPS)}, got {out['maps']!r}")
    if not 0 <= out["colour_jitter"] <= 2:
        raise ConfigError(f"options.colour_jitter must be in [0, 2], got {out['colour_jitter']}")
    if not isinstance(out["mirror"], bool):
        raise ConfigError(f"options.mirror must be true or false, got {out['mirror']!r}")
    if out["lovasz"] < 0:
        raise ConfigError(f"options.lovasz must be ≥ 0, got {out['lovasz']}")
    return out


def colour_jitter(image: Tensor, strength: float, like: Tensor | None = None) -> Tensor:
    """Training pictures recoloured: each picture's channels shuffled and each scaled by a gain
    drawn log-uniformly in [e^−strength, e^strength], clipped to [0, 1]. A shadow darkens every
    channel of what it falls on, so the occluders, their shadows and the object's shadow stay
    where they were and as dark; the grounds' colours, of which the dataset has few, vary. The
    draw is seeded by the bytes of ``like`` (default: ``image``), so a resumed run draws the
    same and a picture and its target recoloured ``like`` the picture get the same draw.
    (B, 3, H, W) in [0, 1]; strength 0 returns the pictures as given."""
    if strength <= 0:
        return image
    b = image.shape[0]
    seed = image if like is None else like
    g = torch.Generator().manual_seed(zlib.crc32(seed.detach().cpu().numpy().tobytes()))
    order = torch.argsort(torch.rand(b, 3, generator=g), dim=1).to(image.device)
    gains = torch.exp((torch.rand(b, 3, generator=g) * 2 - 1) * strength).to(image)
    shuffled = torch.gather(image, 1, order[:, :, None, None].expand_as(image))
    return (shuffled * gains[:, :, None, None]).clamp(0, 1)


def dice_loss(logits: Tensor, target: Tensor, eps: float = 1.0) -> Tensor:
    """Soft Dice loss per map, averaged: 1 − (2 Σ p·t + ε) / (Σ p + Σ t + ε), p = σ(logits);
    (B, C, H, W) each, target in [0, 1]."""
    p = torch.sigmoid(logits)
    inter = (p * target).sum(dim=(2, 3))
    return (1 - (2 * inter + eps) / (p.sum(dim=(2, 3)) + target.sum(dim=(2, 3)) + eps)).mean()


def lovasz_hinge(logits: Tensor, target: Tensor) -> Tensor:
    """Lovász hinge loss (Berman, Rannen Triki and Blaschko, CVPR 2018) per (image, map),
    averaged: the Lovász extension of the Jaccard loss 1 − IoU, taken at the hinge errors
    max(0, 1 − s·logit), s = ±1 the binary truth (> 0.5). Where every error is 0 or 1 it is
    exactly 1 − IoU with the pixels of error 1 counted wrong (an empty truth and no wrong
    pixel: 0), so it is a convex, tight surrogate of the mean per-picture IoU the block is
    measured on, which Dice only approximates. (B, C, H, W) each. Written here: a dozen lines,
    and segmentation-models-pytorch, which has one, pulls torchvision and timm."""
    x = logits.flatten(2).flatten(0, 1)
    t = (target.flatten(2).flatten(0, 1) > 0.5).to(x.dtype)
    errors, order = (1 - x * (2 * t - 1)).sort(dim=1, descending=True)
    t = t.gather(1, order)
    positives = t.sum(1, keepdim=True)  # the Jaccard loss of the k largest errors taken wrong:
    jaccard = 1 - (positives - t.cumsum(1)) / (positives + (1 - t).cumsum(1))
    weights = torch.cat([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], 1)
    return (F.relu(errors) * weights).sum(1).mean()


def attention_loss(logits: Tensor, target: Tensor, lovasz: float) -> Tensor:
    """The attention block's loss: soft Dice, plus ``lovasz`` × the Lovász hinge if > 0."""
    loss = dice_loss(logits, target)
    return loss + lovasz * lovasz_hinge(logits, target) if lovasz > 0 else loss


def iou(pred: Tensor, target: Tensor) -> Tensor:
    """Per (image, map) IoU of binary maps (> 0.5); 1 where both are empty: (B, C)."""
    p, t = pred > 0.5, target > 0.5
    inter = (p & t).sum(dim=(2, 3)).float()
    union = (p | t).sum(dim=(2, 3)).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def to_signed(image: Tensor) -> Tensor:
    return image * 2 - 1


def to_unit(image: Tensor) -> Tensor:
    return (image + 1) / 2


def attention_block(nets: Mapping[str, Any], mirror: bool = False):
    """The attention block as inference runs it: alone, or ``mirror`` averaged over the
    picture and its mirror image (:class:`~neuralshade.models.arshadow.MirrorAveraged`)."""
    if not mirror:
        return nets["attention"]
    from neuralshade.models.arshadow import MirrorAveraged

    return MirrorAveraged(nets["attention"])


def attention_maps(nets: Mapping[str, Any], image: Tensor, mask: Tensor, threshold: float | None,
                   mirror: bool = False):  # fmt: skip
    """The attention block's maps of the occluders and their shadows, (B, 2, H, W): its
    probabilities, or 0/1 above ``threshold``; ``mirror``: averaged with its reading of the
    mirrored picture (:func:`attention_block`)."""
    p = torch.sigmoid(attention_block(nets, mirror)(torch.cat([image, mask], 1)))
    return p if threshold is None else (p > threshold).float()


def generate(nets, image: Tensor, mask: Tensor, maps: Tensor | None) -> tuple[Tensor, Tensor]:
    """(coarse, refined) pictures in [−1, 1] from the picture in [0, 1], the mask and the
    attention maps (None: a generator without attention inputs)."""
    x = torch.cat([to_signed(image), mask, *(() if maps is None else (maps,))], 1)
    return nets["generator"].coarse_and_refined(x)


@TASKS.register("shadow")
class ShadowTask(Task):
    name = "shadow"
    source = "shadow"
    description = "an object pasted into a picture → its shadow (ARShadowGAN-like)"
    inputs = ("noshadow", "mask")
    targets = ("shadow",)
    networks = NETWORKS
    default_models = {
        "generator": {"name": "arshadow-generator", "args": {"encoder": "resnet18"}},
        "attention": {"name": "resnet-unet", "args": {"encoder": "resnet34"}},
        "discriminator": {"name": "srgan-discriminator", "args": {}},
    }
    metrics = ("mse", "psnr", "ssim")
    baselines = ("input", "geometric")

    # ---- building a run
    def check(self, config: Any) -> None:
        opts = options(config.options)
        if list(config.inputs) != list(self.inputs) or list(config.targets) != list(self.targets):
            raise ConfigError(
                f"shadow reads inputs {list(self.inputs)} and targets {list(self.targets)}; "
                "leave inputs and targets unset"
            )
        frozen = set(config.freeze)
        if opts["adversarial"] > 0 and "generator" not in frozen and "discriminator" in frozen:
            raise ConfigError("options.adversarial > 0 needs the discriminator trained (unfreeze "
                              "it) or options.adversarial: 0")  # fmt: skip
        untrained = "attention" not in frozen or "attention" not in config.init
        if "generator" not in frozen and opts["attention"] and untrained:
            # what the generator's training reads from a trained, frozen attention block
            reads = [("options.perceptual uses the trained attention block's features",
                      opts["perceptual"] > 0, " (or options.perceptual: 0)"),
                     ("options.maps: predicted trains on the trained attention block's maps",
                      opts["maps"] == "predicted", "")]  # fmt: skip
            for why, needed, otherwise in reads:
                if needed:
                    raise ConfigError(f"{why}: train it first, then give init.attention and "
                                      f"freeze it{otherwise}")  # fmt: skip

    def model_args(self, network: str, config: Any, channels: Callable[[list[str]], int]) -> dict:
        opts = options(config.options)
        if network == "generator":
            return {"in_channels": 6 if opts["attention"] else 4}
        if network == "attention":
            return {"in_channels": 4, "out_channels": 2}
        return {"in_channels": 4}

    def checkpoint_meta(self, data_config: Any) -> dict[str, Any]:
        """``image_size``: the pictures' side in training; inference shrinks larger ones to it."""
        return {"image_size": data_config.size}

    def training_buffers(self, config: Any) -> list[str]:
        return ["noshadow", "mask", *ATTENTION_TARGETS, "shadow", "objshadow"]

    # ---- training
    def train_step(self, nets, batch, config: Any) -> Iterator[tuple[str, Tensor]]:
        opts, frozen = options(config.options), set(config.freeze)
        image, mask, real = batch["noshadow"], batch["mask"], batch["shadow"]
        truth = stack(batch, ATTENTION_TARGETS)
        if opts["colour_jitter"] > 0:  # the picture and its target alike
            real = colour_jitter(real, opts["colour_jitter"], like=image)
            image = colour_jitter(image, opts["colour_jitter"])
        if "attention" not in frozen:
            logits = nets["attention"](torch.cat([image, mask], 1))
            yield "attention", attention_loss(logits, truth, opts["lovasz"])
        if "generator" in frozen:
            return
        coarse, refined = generate(nets, image, mask, self._maps(nets, image, mask, truth, opts))
        real_s = to_signed(real)
        if opts["adversarial"] > 0:
            d_real = nets["discriminator"](torch.cat([real_s, mask], 1))
            d_fake = nets["discriminator"](torch.cat([refined.detach(), mask], 1))
            yield "discriminator", ((d_real - 1) ** 2).mean() + (d_fake**2).mean()
        loss = opts["l2"] * (F.mse_loss(coarse, real_s) + F.mse_loss(refined, real_s))
        if opts["perceptual"] > 0:
            loss = loss + opts["perceptual"] * self._perceptual(nets, refined, real_s, mask)
        if opts["adversarial"] > 0:
            g_fake = nets["discriminator"](torch.cat([refined, mask], 1))
            loss = loss + opts["adversarial"] * ((g_fake - 1) ** 2).mean()
        yield "generator", loss

    @staticmethod
    def _maps(nets, image: Tensor, mask: Tensor, truth: Tensor, opts: Mapping[str, Any]):
        """The attention maps the generator is trained on: none, the truth, or the frozen
        attention block's, thresholded as at inference."""
        if not opts["attention"]:
            return None
        if opts["maps"] == "truth":
            return truth
        with torch.no_grad():
            return attention_maps(nets, image, mask, opts["threshold"], opts["mirror"])

    @staticmethod
    def _perceptual(nets, fake: Tensor, real: Tensor, mask: Tensor) -> Tensor:
        """Mean squared difference of the frozen attention encoder's layer-2 features."""
        features = nets["attention"].features
        return F.mse_loss(features(torch.cat([to_unit(fake), mask], 1), 2),
                          features(torch.cat([to_unit(real), mask], 1), 2).detach())  # fmt: skip

    def validate(self, nets, batch, config: Any) -> dict[str, float]:
        opts, frozen = options(config.options), set(config.freeze)
        image, mask, real = batch["noshadow"], batch["mask"], batch["shadow"]
        truth = stack(batch, ATTENTION_TARGETS)
        out: dict[str, float] = {}
        maps = attention_maps(nets, image, mask, None, opts["mirror"])
        scores = iou(maps, truth)
        out["iou_robject"], out["iou_rshadow"] = (float(v) for v in scores.mean(0))
        logits = torch.logit(maps.clamp(1e-6, 1 - 1e-6))
        out["dice"] = float(dice_loss(logits, truth))
        if opts["lovasz"] > 0:
            out["lovasz"] = float(lovasz_hinge(logits, truth))
        if "generator" in frozen:  # stage one: the attention block chooses the checkpoint
            out["loss"] = out["dice"] + opts["lovasz"] * out.get("lovasz", 0.0)  # attention_loss
            return out
        _, refined = generate(nets, image, mask, self._maps(nets, image, mask, truth, opts))
        out["loss"] = float(F.mse_loss(to_unit(refined).clamp(0, 1), real))
        pred = self.predict(nets, batch, {"config": config.model_dump(mode="json")})
        err = (pred - real) ** 2
        out["rmse_255"] = float(err.mean().sqrt() * 255)
        local = batch["objshadow"] > 0.5
        if local.any():
            out["local_rmse_255"] = float(err.mean(1, keepdim=True)[local].mean().sqrt() * 255)
        return out

    # ---- inference
    def inference_network(self, nets, info: Mapping[str, Any]):
        """The attention block and the generator as one module (:class:`ShadowPipeline`)."""
        from neuralshade.models.arshadow import ShadowPipeline

        opts = options(info.get("config", {}).get("options", {}))
        block = attention_block(nets, opts["mirror"]) if "attention" in nets else None
        return ShadowPipeline(block, nets["generator"], opts["threshold"])

    def predict(self, nets, batch, info: Mapping[str, Any]) -> Tensor:
        net = nets["generator"]
        if "attention" in nets:  # a run's networks, during training: chain them here
            net = self.inference_network(nets, info)
        out = net(torch.cat([batch["noshadow"], batch["mask"]], 1))
        return self.finish(out, batch, info)

    def finish(self, prediction: Tensor, batch, info: Mapping[str, Any]) -> Tensor:
        mask = batch["mask"]
        return (mask * batch["noshadow"] + (1 - mask) * prediction).clamp(0, 1)

    def panels(self, batch, prediction: Tensor, info: Mapping[str, Any]):
        return [("input", batch["noshadow"]), ("mask", batch["mask"]),
                ("network", prediction), ("reference", batch["shadow"])]  # fmt: skip

    def baseline(self, name: str, data: Any, i: int, info: Mapping[str, Any]) -> Tensor:
        if name not in self.baselines:
            return super().baseline(name, data, i, info)
        sample = with_buffers(data, ("noshadow", "mask", *ATTENTION_TARGETS))[i]
        if name == "input":
            return sample["noshadow"][None]
        from neuralshade.baselines.cast_shadow import cast_shadow

        return cast_shadow(sample["noshadow"][None], sample["mask"][None],
                           sample["robject"][None], sample["rshadow"][None])  # fmt: skip

    def context(self, model, info: Mapping[str, Any]) -> int:
        """0: the network sees the picture as it is, whole (its receptive field spans it,
        and zeros around it would be a black frame it never saw); :func:`insert_shadow` runs
        pictures larger than the training size at that size, so they are never tiled."""
        return 0

"""denoise: a noisy Monte Carlo render and its auxiliary buffers → the converged render, as KPCN
(Bako, Vogels et al. 2017) and Open Image Denoise learn it, against Open Image Denoise.

Source ``room`` (:mod:`neuralshade.data.sources.room`) made with ``spp_levels``: every noisy
buffer at several sample counts (``beauty_4spp``, ``albedo_4spp``, …; the pass's own count
too, under the same naming), each the average of the first n samples of one pass, as a
progressive renderer gives them; the target is the converged ``beauty_reference``.

Inputs are named without a sample count (``beauty``, ``albedo``, ``normal``: OIDN's three, the
default). Training reads them at every count of ``options.spp`` (``[1, 4, 16, 64]``, say) and
each sample of a batch takes one count, drawn per sample: one network for every noise level,
as OIDN is. Validation takes the counts in turn by sample. ``eval`` and ``infer`` read the
inputs by their bare names: a dataset's own pass (its ``spp``), a render folder's
``beauty.exr``. Without ``options.spp`` training reads the bare names too.

Light is HDR: the network reads the radiance inputs as log1p (``log_inputs``) and, under a
log-space loss (``logl1``), predicts log1p of the converged light. A network with
``branches`` (:class:`~neuralshade.models.kpcn.KPCN`) is trained as KPCN was: its diffuse and
specular branches each under L1 in their own domain (demodulated by the albedo, log1p), against
``diffuse_reference`` and ``specular_reference`` (the dataset's converged split of the beauty).

``eval`` scores tone-mapped light, x / (1 + x), against the reference; its baselines are OIDN
(``oidn``: quality high; ``oidn_fast``) on the same beauty, albedo and normal; the renderer raced
is Mitsuba 3 itself: the plain render at n samples per pixel, no denoiser.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from neuralshade.data.datasets import stack, with_buffers
from neuralshade.errors import ConfigError
from neuralshade.task import TASKS, ImageTask, Race

#: the noisy radiance buffers a network reads as log1p
LIGHT_BUFFERS = ("beauty", "diffuse", "specular")
#: OIDN's inputs, by their bare names: what the baselines read
OIDN_INPUTS = ("beauty", "albedo", "normal")
BRANCH_TARGETS = ("diffuse_reference", "specular_reference")
BASELINE_QUALITY = {"oidn": "high", "oidn_fast": "fast"}


def level(name: str, spp: int) -> str:
    """The room's name of buffer ``name`` at ``spp`` samples per pixel: ``beauty_4spp``."""
    return f"{name}_{spp}spp"


def tonemap(image: Tensor) -> Tensor:
    """HDR light → [0, 1): x / (1 + x) (Reinhard), what the metrics and sheets see."""
    return image / (1 + image)


@TASKS.register("denoise")
class DenoiseTask(ImageTask):
    name = "denoise"
    source = "room"
    description = "noisy render + albedo + normal → converged render (KPCN, OIDN), against OIDN"
    inputs = OIDN_INPUTS
    targets = ("beauty_reference",)
    default_models = {
        "net": {
            "name": "unet",
            "args": {"widths": [32, 48, 64, 80, 96], "blocks": [1, 1, 1, 1, 1],
                     "activation": "relu", "head": "direct"},
        }
    }  # fmt: skip
    metrics = ("psnr", "ssim", "relmse", "l1")
    baselines = tuple(BASELINE_QUALITY)

    # ---- building a run
    def check(self, config: Any) -> None:
        levels = _levels(config.options)
        if list(config.targets) != ["beauty_reference"]:
            raise ConfigError(
                f"targets {config.targets}: a denoiser predicts the converged beauty "
                "(beauty_reference)"
            )
        unknown = set(config.options) - {"spp"}
        if unknown:
            raise ConfigError(f"unknown denoise options {sorted(unknown)}; known: ['spp']")
        if _branched(config) and 1 in levels:
            raise ConfigError(
                "options.spp: KPCN reads the sample variances, which one sample has not: "
                "train it from 2 spp up"
            )
        bare = [n for n in config.inputs if n.endswith("spp")]
        if levels and bare:
            raise ConfigError(
                f"inputs {bare}: name inputs without a sample count (beauty, not beauty_4spp); "
                "options.spp says which counts training reads"
            )

    def model_args(self, network: str, config: Any, channels: Callable[[list[str]], int]) -> dict:
        """In and out channels; the radiance inputs read as log1p (``log_inputs``) by a model
        that takes them (KPCN transforms its own inputs)."""
        from neuralshade.models import arguments

        names = self._read(config.inputs, _levels(config.options)[:1])
        args = {"in_channels": channels(names), "out_channels": 3}
        spec = config.models.get(network)
        if spec is not None and "log_inputs" not in arguments(spec.name):
            return args
        start, logged = 0, []
        for name, stored in zip(config.inputs, names, strict=True):
            c = channels([stored])
            if name in LIGHT_BUFFERS:
                logged.extend(range(start, start + c))
            start += c
        return {**args, "log_inputs": logged} if logged else args

    def training_buffers(self, config: Any) -> list[str]:
        levels = _levels(config.options)
        names = [n for spp in (levels or [None]) for n in self._read(config.inputs, [spp])]
        extra = list(BRANCH_TARGETS) if _branched(config) else []
        return list(dict.fromkeys((*names, *config.targets, *extra)))

    def checkpoint_meta(self, data_config: Any) -> dict[str, Any]:
        return {"max_depth": data_config.max_depth, "spp": data_config.spp}

    @staticmethod
    def _read(inputs: Sequence[str], levels: Sequence[int | None]) -> list[str]:
        """The stored names of ``inputs`` at the first of ``levels`` (None: bare names)."""
        spp = levels[0] if levels else None
        return [n if spp is None else level(n, spp) for n in inputs]

    # ---- training
    def train_step(self, nets, batch, config: Any):
        from neuralshade.losses import build_loss

        net = nets["net"]
        x, _ = _noisy(batch, config.inputs, _levels(config.options), None)
        y = stack(batch, config.targets)
        if hasattr(net, "branches"):
            yield "net", _branch_loss(net, x, batch)
            return
        yield "net", build_loss(config.loss)(net(x), y)

    def validate(self, nets, batch, config: Any) -> dict[str, float]:
        from neuralshade.losses import build_loss, from_log_space, predicts_log1p
        from neuralshade.metrics import psnr, relmse

        net = nets["net"]
        levels = _levels(config.options)
        turn = torch.arange(batch[config.targets[0]].shape[0]) % max(1, len(levels))
        x, _ = _noisy(batch, config.inputs, levels, turn)
        y = stack(batch, config.targets)
        if hasattr(net, "branches"):
            from neuralshade.models.kpcn import split

            branches = net.branches(x)  # once: the loss and the image both come from them
            loss = _branch_loss(net, x, batch, branches)
            parts = net.untransform(branches, split(x)["albedo"], net.eps)
            image = parts["diffuse"] + parts["specular"]
        else:
            pred = net(x)
            loss = build_loss(config.loss)(pred, y)
            image = from_log_space(pred) if predicts_log1p(config.loss) else pred
        image = image.clamp_min(0)
        return {
            "loss": float(loss),
            "relmse": float(relmse(image, y)),
            "psnr": float(psnr(tonemap(image), tonemap(y), reduction="none").mean()),
        }

    # ---- inference and evaluation
    def predict(self, nets, batch, info: Mapping[str, Any]) -> Tensor:
        from neuralshade.losses import from_log_space, predicts_log1p

        net = nets["net"]
        names = _present(batch, info["inputs"])
        pred = net(stack(batch, names))
        if not hasattr(net, "branches") and predicts_log1p(info.get("loss") or "l1"):
            pred = from_log_space(pred)
        return self.finish(pred, batch, info)

    def finish(self, prediction: Tensor, batch, info: Mapping[str, Any]) -> Tensor:
        return prediction.clamp_min(0)  # light is never negative

    def displayed(self, image: Tensor, info: Mapping[str, Any]) -> Tensor:
        return tonemap(image)

    def rescales(self, info: Mapping[str, Any]) -> bool:
        return False  # noise is per pixel: a denoiser runs on the image's own pixels

    def panels(self, batch, prediction: Tensor, info: Mapping[str, Any]):
        names = _present(batch, info["inputs"])
        return [
            (names[0], tonemap(batch[names[0]][:, :3])),
            ("network", tonemap(prediction)),
            ("reference", tonemap(self.target(batch, info))),
        ]

    # ---- baselines and the renderer
    def baseline(self, name: str, data: Any, i: int, info: Mapping[str, Any]) -> Tensor:
        if name not in BASELINE_QUALITY:
            return super().baseline(name, data, i, info)
        view = with_buffers(data, OIDN_INPUTS)[i]
        return run_oidn(view, BASELINE_QUALITY[name])[None]

    def race(self, data: Any, info: Mapping[str, Any], device: Any) -> Race | None:
        """Mitsuba 3's plain render at n samples per pixel against the dataset's converged
        beauty: the spp a render needs, without a denoiser, to match the network."""
        def truth(i: int):
            return data[i]["beauty_reference"].permute(1, 2, 0).numpy()

        return data.source.beauty_race(data.config, data.record, truth)


def run_oidn(view: Mapping[str, Tensor], quality: str) -> Tensor:
    """OIDN (:func:`neuralshade.baselines.oidn.oidn`) on a view's ``beauty``, ``albedo`` and
    ``normal`` (3, H, W) each: (3, H, W), the noisy auxiliary buffers prefiltered by OIDN."""
    from neuralshade.baselines.oidn import oidn

    color, albedo, normal = (view[n].permute(1, 2, 0).numpy() for n in OIDN_INPUTS)
    out = oidn(np.maximum(color, 0), np.clip(albedo, 0, 1), normal, quality=quality)
    return torch.from_numpy(out).permute(2, 0, 1)


def _levels(options: Mapping[str, Any]) -> list[int]:
    """``options.spp``: the sample counts training reads (empty: the bare names)."""
    spp = options.get("spp") or []
    if not isinstance(spp, list) or not all(isinstance(n, int) and n >= 1 for n in spp):
        raise ConfigError(f"options.spp must be a list of sample counts, got {spp!r}")
    return list(spp)


def _branched(config: Any) -> bool:
    """Whether the run trains KPCN, each branch against its own converged light."""
    spec = config.models.get("net")
    return spec is not None and spec.name == "kpcn"


def _present(batch: Mapping[str, Tensor], inputs: Sequence[str]) -> list[str]:
    """The stored names of ``inputs`` in ``batch``: the bare names, else the first sample
    count at which every input is there (a training batch)."""
    if all(n in batch for n in inputs):
        return list(inputs)
    counts = sorted({int(k.rsplit("_", 1)[1][:-3]) for k in batch if k.endswith("spp")})
    for spp in counts:
        names = [level(n, spp) for n in inputs]
        if all(n in batch for n in names):
            return names
    raise ConfigError(f"the batch holds none of the inputs {list(inputs)} at one sample count")


def _noisy(
    batch: Mapping[str, Tensor], inputs: Sequence[str], levels: Sequence[int], turn: Tensor | None
) -> tuple[Tensor, Tensor | None]:
    """The inputs stacked (B, C, H, W), each sample at one of ``levels`` (``turn``: the index
    of each sample's level; None: drawn per sample); and the levels taken (None without)."""
    if not levels:
        return stack(batch, inputs), None
    b = batch[level(inputs[0], levels[0])].shape[0]
    if turn is None:  # drawn from the batch itself: the same on a resumed run
        first = batch[level(inputs[0], levels[0])]
        seed = zlib.crc32(first.detach().cpu().numpy().tobytes())
        turn = torch.randint(len(levels), (b,), generator=torch.Generator().manual_seed(seed))
    stacks = torch.stack([stack(batch, [level(n, spp) for n in inputs]) for spp in levels])
    index = turn.to(stacks.device)
    x = stacks[index, torch.arange(b, device=stacks.device)]  # (B, C, H, W)
    return x, torch.tensor(levels)[turn]


def _branch_loss(net, x: Tensor, batch, pred: Mapping[str, Tensor] | None = None) -> Tensor:
    """KPCN's training: each branch under L1 in its own domain against the converged diffuse
    and specular light, transformed by the same (noisy) albedo the network demodulates by.
    ``pred``: the branches' output on ``x``, when the caller has it already."""
    from neuralshade.models.kpcn import split

    pred = net.branches(x) if pred is None else pred
    albedo = split(x)["albedo"]
    target = net.transform(
        batch["diffuse_reference"], batch["specular_reference"], albedo, net.eps
    )
    return sum((pred[k] - target[k]).abs().mean() for k in ("diffuse", "specular"))

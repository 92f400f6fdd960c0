"""cnsr: a few observed views of a scene → one partitioned representation → any other view
shaded from its G-buffer (Granskog, Rousselle, Papas, Novák, "Compositional Neural Scene
Representations for Shading Inference", SIGGRAPH 2020; REFERENCES.md).

The network is :class:`~neuralshade.models.cnsr.CNSR` (``cnsr``: encoder → partition →
generator, one optimiser, one checkpoint). A training step is one **factor group** of the
room source's dataset (``neuralshade dataset room --factor-batch 16``): scenes that share two
of lighting, geometry and material and differ in the third, each seen in K observed views and
one query view (:class:`~neuralshade.data.views.FactorSteps`); the partition keeps each
scene's own values only in the varied factor's dimensions (the factor-batch rule). Validation
groups run as inference does: no factor, each scene's own representation.

Options (``options`` of the training config), named as the original's settings:

- ``observation_passes``: the observed views' buffers, concatenated (the original's room
  presets: beauty, normal, position, id);
- ``query_passes``: the query view's buffers the generator reads (normal, position, id); the
  config's ``inputs`` are these (leave ``inputs`` unset);
- ``views_per_scene``: views per scene in a step, K observed + 1 query (4);
- ``random_num_views``: draw K uniformly from 1 … views_per_scene − 1 each step (else K =
  views_per_scene − 1);
- ``pass_scales``, ``log_passes``: observed buffers scaled, then read as log1p, by the
  encoder (not in the original, which feeds linear radiance; default none);
- ``sigma_start``, ``sigma_end``, ``sigma_steps``: the GQN generator's likelihood σ, annealed
  linearly from start to end over that many steps (the original's fixed 2.0, 0.7, 2e5).

The model's own keys (``representation_dim``, ``latent_separation``, ``adaptive_separation``,
``empty_partition``, ``partition_loss``, ``start_sigmoid``, ``end_sigmoid``,
``sharpen_sigmoid``, ``sharpening``, ``final_sharpening``, ``gradient_reg``, ``aggregation``;
a generator's ``layers``, ``hidden_units``, ``propagate_*``, ``core_count``, …) are its parts'
arguments under ``model.args`` (:mod:`neuralshade.models.cnsr`).

The target (``targets``, default ``beauty_reference``: the converged render) is linear HDR.
Every generator but GQN learns under ``config.loss`` (the presets: ``logl1+logssim``, the
original's), a log1p-space loss, so it predicts log1p of the radiance; GQN learns under its
ELBO, (KL − log-likelihood) / (W·25) per scene as the original scales it, and ``loss`` is not
read. The partition's loss (the null partition's) is added. The step that anneals σ and
sharpens the partition is the partition's own counter (saved with the weights).

Batches are flat dicts of tensors: ``observed/<buffer>`` (B, K, C, H, W), ``observed_pose``
(B, K, 16), ``query/<buffer>`` (B, C, H, W), ``query_pose`` (B, 16) and ``factor`` (a 0-d long
tensor: 0 lighting, 1 geometry, 2 material, −1 none). Metrics and sheets see radiance
tone-mapped as x / (1 + x).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from pydantic import Field, model_validator
from torch import Tensor

from neuralshade.config import Settings
from neuralshade.errors import ConfigError
from neuralshade.task import TASKS, StepData, Task

FACTORS = ("lighting", "geometry", "material")
POSE = "pose"


class CnsrOptions(Settings):
    """The cnsr task's options (the training config's ``options``), the original's names."""

    observation_passes: list[str] = Field(
        default_factory=lambda: ["beauty", "normal", "position", "id"],
        description="Buffers of each observed view, concatenated into the encoder's input.",
    )
    query_passes: list[str] = Field(
        default_factory=lambda: ["normal", "position", "id"],
        description="Buffers of the query view the generator reads (the config's inputs).",
    )
    views_per_scene: int = Field(
        4, ge=2, description="Views of each scene per step: the observed ones and the query."
    )
    random_num_views: bool = Field(
        False, description="Observe a random 1 ... views_per_scene - 1 views each step."
    )
    pass_scales: dict[str, float] = Field(
        default_factory=dict,
        description="Observed buffers multiplied by these factors before the encoder (a dim "
        "room's radiance is ~0.1 beside normals and positions of ~1; under Adam a small input "
        "makes its weights learn slowly). Not in the original.",
    )
    log_passes: list[str] = Field(
        default_factory=list,
        description="Observed buffers the encoder reads as log1p(x) (after pass_scales) "
        "instead of x (radiance: at a few spp its values span orders of magnitude). Not in "
        "the original.",
    )
    sigma_start: float = Field(2.0, gt=0, description="GQN: the likelihood's first sigma.")
    sigma_end: float = Field(0.7, gt=0, description="GQN: its last sigma.")
    sigma_steps: int = Field(200_000, ge=1, description="GQN: steps from first to last sigma.")

    @model_validator(mode="after")
    def _check(self) -> CnsrOptions:
        for key in ("observation_passes", "query_passes"):
            names = getattr(self, key)
            if not names:
                raise ValueError(f"{key} needs one buffer or more")
            if POSE in names:
                raise ValueError(f"{key}: the pose is given to every network already")
        for key in ("pass_scales", "log_passes"):
            stray = [n for n in getattr(self, key) if n not in self.observation_passes]
            if stray:
                raise ValueError(f"{key} {stray} are not observation_passes")
        wrong = {n: s for n, s in self.pass_scales.items() if not s > 0}
        if wrong:
            raise ValueError(f"pass_scales {wrong} must be positive")
        return self


def cnsr_options(values: Mapping[str, Any]) -> CnsrOptions:
    from neuralshade.config import build

    return build(CnsrOptions, dict(values), "cnsr options")


def chain_links(config: Any) -> list[dict[str, Any]]:
    """The links of the config's chain of generators (model.args.generators), or []."""
    return list(config.models["net"].args.get("generators") or [])


def sigma_at(step: int, opts: CnsrOptions) -> float:
    """GQN's likelihood σ at ``step``: linear from sigma_start to sigma_end over sigma_steps."""
    t = min(1.0, step / opts.sigma_steps)
    return opts.sigma_start + (opts.sigma_end - opts.sigma_start) * t


def tonemap(image: Tensor) -> Tensor:
    """Radiance → [0, 1): x / (1 + x), what metrics and sheets see."""
    return image / (1 + image)


def flat_batch(item: Mapping[str, Any], observed: Sequence[str], query: Sequence[str]):
    """A :class:`~neuralshade.data.views.FactorBatches` batch as the task's flat dict."""
    out = {f"observed/{n}": item["observed"][n] for n in observed}
    out.update({f"query/{n}": item["query"][n] for n in query})
    out["observed_pose"] = item["observed"][POSE][..., 0, 0]
    out["query_pose"] = item["query"][POSE][..., 0, 0]
    factor = item.get("factor")
    out["factor"] = torch.tensor(FACTORS.index(factor) if factor else -1)
    return out


def observations(batch: Mapping[str, Tensor], opts: CnsrOptions) -> Tensor:
    """The encoder's input: the observed views' buffers (``opts.observation_passes``) times
    their ``opts.pass_scales``, those in ``opts.log_passes`` then as log1p of their
    clamped-at-0 values, concatenated: (B, K, C, H, W)."""
    views = []
    for name in opts.observation_passes:
        view = batch[f"observed/{name}"] * opts.pass_scales.get(name, 1.0)
        views.append(torch.log1p(view.clamp(min=0)) if name in opts.log_passes else view)
    return torch.cat(views, dim=2)


def queries(batch: Mapping[str, Tensor], passes: Sequence[str]) -> Tensor:
    """The query view's buffers concatenated: (B, C, H, W)."""
    return torch.cat([batch[f"query/{n}"] for n in passes], dim=1)


class _Steps(torch.utils.data.Dataset):
    """The FactorSteps' batches as flat dicts."""

    def __init__(self, steps: Any, observed: Sequence[str], query: Sequence[str]):
        self.steps, self.observed, self.query = steps, observed, query

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, step: int) -> dict[str, Tensor]:
        return flat_batch(self.steps[step], self.observed, self.query)


def _is_gqn(net: Any) -> bool:
    from neuralshade.models.cnsr import GQNGenerator

    return isinstance(getattr(net, "module", net).generator, GQNGenerator)


@TASKS.register("cnsr")
class CnsrTask(Task):
    name = "cnsr"
    source = "room"
    description = "observed views → partitioned scene representation → a shaded query view (CNSR)"
    inputs = ("normal", "position", "id")
    targets = ("beauty_reference",)
    networks = ("net",)
    default_models = {"net": {"name": "cnsr", "args": {}}}
    metrics = ("log_l1", "psnr", "ssim")
    single_view = False  # a view is shaded from other views: benchmarks/cnsr.py measures it

    # ---- building a run
    def check(self, config: Any) -> None:
        opts = cnsr_options(config.options)
        if config.models["net"].name != "cnsr":
            raise ConfigError(f"cnsr trains the model cnsr, not {config.models['net'].name!r}")
        links = chain_links(config)
        passes = list(opts.query_passes)
        if links:  # a chain: its inputs are the passes no link predicts
            predicted = {p for link in links for p in link.get("output_passes", [])}
            read = [p for link in links for p in link.get("query_passes", [])]
            passes = list(dict.fromkeys(p for p in read if p not in predicted))
            last = list(links[-1].get("output_passes", []))
            if list(config.targets) not in (list(self.targets), last):
                raise ConfigError(f"targets must be the last generator's output_passes {last}")
            config.targets = last
        if list(config.inputs) not in (list(self.inputs), passes):
            raise ConfigError(
                "cnsr's inputs are its options.query_passes (a chain's: the passes its "
                f"generators read and none predicts): leave inputs unset (got inputs "
                f"{list(config.inputs)})"
            )
        config.inputs = passes
        if config.augment:
            raise ConfigError("cnsr trains on whole views with their poses: set augment: false")

    def model_args(self, network: str, config: Any, channels: Callable[[list[str]], int]) -> dict:
        opts = cnsr_options(config.options)
        encoder: dict[str, Any] = {"in_channels": channels(opts.observation_passes)}
        given = config.models["net"].args.get("encoder") or {}
        if given.get("name") == "cnsr-pyramid":
            encoder["size"] = self._size(config)
        links = chain_links(config)
        if links:
            named = {p for link in links
                     for p in (*link.get("query_passes", []), *link.get("output_passes", []))}
            return {"encoder": {"args": encoder},
                    "pass_channels": {p: channels([p]) for p in sorted(named)}}  # fmt: skip
        return {
            "encoder": {"args": encoder},
            "generator": {"args": {"query_channels": channels(opts.query_passes),
                                   "out_channels": channels(config.targets)}},
        }  # fmt: skip

    @staticmethod
    def _size(config: Any) -> int:
        from neuralshade.data.generate import dataset_config, read_manifest

        return int(dataset_config(config.data, read_manifest(config.data)).size)

    def checkpoint_meta(self, data_config: Any) -> dict[str, Any]:
        """``image_size``: the views' side in training; ``room``: the settings its views were
        rendered with (a viewer renders new rooms the same way)."""
        room = {k: getattr(data_config, k) for k in ("spp", "max_depth", "ao_radius")}
        return {"image_size": data_config.size, "room": room}

    def step_data(self, config: Any, rank: int, world: int) -> StepData:
        from neuralshade.data.views import FactorBatches, FactorSteps

        if world > 1:
            raise ConfigError(
                "cnsr trains in one process: the factor-batch rule takes the mean over the "
                "whole group (run it without torchrun)"
            )
        opts = cnsr_options(config.options)
        observed = list(dict.fromkeys(opts.observation_passes))
        chained = [p for link in chain_links(config) for p in link.get("output_passes", [])]
        query = list(dict.fromkeys((*config.inputs, *chained, *config.targets)))
        k = opts.views_per_scene - 1
        views = {"observed": (*observed, POSE), "query": (*query, POSE), "k": k}
        train = FactorBatches(config.data, "train", mode="random", seed=config.seed, **views)
        if train.views.data.source.name != self.source:
            raise ConfigError(
                f"{config.data} is a {train.views.data.source.name!r} dataset; cnsr learns "
                "from room datasets (`neuralshade dataset room --factor-batch 16`)"
            )
        val = FactorBatches(config.data, "val", mode="fixed", seed=config.seed, **views)
        low = 1 if opts.random_num_views else k
        steps = FactorSteps(train, config.batch_size, config.seed, (low, k))

        def val_batches() -> Iterator[tuple[dict[str, Tensor], int]]:
            for g in range(len(val)):
                item = val[g]
                yield flat_batch(item, observed, query), len(item["scenes"])

        return StepData(train.views.data, _Steps(steps, observed, query), val_batches)

    # ---- training
    def _run(self, net: Any, batch: Mapping[str, Tensor], config: Any, factor: int | None,
             target: Tensor | None):  # fmt: skip
        opts = cnsr_options(config.options)
        return net(
            observations(batch, opts), batch["observed_pose"],
            queries(batch, config.inputs), batch["query_pose"], factor, target,
        )  # fmt: skip

    def loss(self, net: Any, batch: Mapping[str, Tensor], config: Any, factor: int | None):
        """(the training loss, the network's prediction: log1p, or linear from a sum link)."""
        from neuralshade.models.cnsr import GQNGenerator

        model = getattr(net, "module", net)
        step = int(model.partition.step)  # steps before this one
        if model.generator is None:  # a chain: each link's loss on its output passes
            opts = cnsr_options(config.options)
            named = {p for link in model.links for p in link["output_passes"]}
            targets = {p: batch[f"query/{p}"] for p in named}
            buffers = {k.removeprefix("query/"): v for k, v in batch.items()
                       if k.startswith("query/")}  # fmt: skip
            outs, _, partition_loss, kls = net(
                observations(batch, opts), batch["observed_pose"], buffers,
                batch["query_pose"], factor, targets,
            )  # fmt: skip
            total = partition_loss
            for link, module, out, kl in zip(model.links, model._modules_of_links, outs, kls,
                                             strict=True):  # fmt: skip
                if link["discard_loss"] or link["name"] == "sum":
                    continue
                target = torch.cat([targets[p] for p in link["output_passes"]], dim=1)
                total = total + self._link_loss(module, out, target, kl, step, config)
            return total, outs[-1]
        target = queries(batch, config.targets)
        gqn = isinstance(model.generator, GQNGenerator)
        out, _, partition_loss, kl = self._run(net, batch, config, factor, target if gqn else None)
        return self._link_loss(model.generator, out, target, kl, step, config) + partition_loss, out

    @staticmethod
    def _link_loss(module, out: Tensor, target: Tensor, kl: Tensor, step: int, config):
        """A generator's loss: GQN's ELBO ((KL − log-likelihood) / (W·25) per scene, σ
        annealed), any other's ``config.loss`` on its log1p output."""
        from neuralshade.losses import build_loss, to_log_space
        from neuralshade.models.cnsr import GQNGenerator

        if not isinstance(module, GQNGenerator):
            return build_loss(config.loss)(out, target)
        normal = torch.distributions.Normal(out, sigma_at(step, cnsr_options(config.options)))
        nll = -normal.log_prob(to_log_space(target)).sum(dim=(1, 2, 3))
        return ((nll + kl) / (target.shape[-1] * 25)).mean()

    def train_step(self, nets, batch, config: Any) -> Iterator[tuple[str, Tensor]]:
        factor = int(batch["factor"])
        loss, _ = self.loss(nets["net"], batch, config, factor if factor >= 0 else None)
        yield "net", loss

    def validate(self, nets, batch, config: Any) -> dict[str, float]:
        from neuralshade.metrics import psnr, ssim

        y = queries(batch, config.targets)
        pred = self.predict(nets, batch, {"inputs": config.inputs, "config": {
            "options": dict(config.options)}})  # fmt: skip
        log_l1 = float((torch.log1p(pred) - torch.log1p(y)).abs().mean())
        shown, truth = tonemap(pred), tonemap(y)
        return {
            "loss": log_l1,
            "log_l1": log_l1,
            "psnr": float(psnr(shown, truth, reduction="none").clamp(max=100).mean()),
            "ssim": float(ssim(shown, truth)),
        }

    # ---- inference
    def predict(self, nets, batch, info: Mapping[str, Any]) -> Tensor:
        """The query views' radiance (B, C, H, W), linear, from each scene's own
        representation."""
        from neuralshade.losses import from_log_space

        opts = cnsr_options(info.get("config", {}).get("options", {}))
        net = nets["net"]
        model = getattr(net, "module", net)
        chained = model.generator is None
        query = ({n: batch[f"query/{n}"] for n in info["inputs"]} if chained
                 else queries(batch, info["inputs"]))  # fmt: skip
        out = net(observations(batch, opts), batch["observed_pose"], query,
                  batch["query_pose"])[0]  # fmt: skip
        if chained:  # the last link's: linear from a sum, log1p from a generator
            linear = model.links[-1]["name"] == "sum"
            return self.finish(out[-1] if linear else from_log_space(out[-1]), batch, info)
        return self.finish(from_log_space(out), batch, info)

    def finish(self, prediction: Tensor, batch, info: Mapping[str, Any]) -> Tensor:
        """Radiance is never negative."""
        return prediction.clamp(min=0)

    def displayed(self, image: Tensor, info: Mapping[str, Any]) -> Tensor:
        return tonemap(image)

    def target(self, batch, info: Mapping[str, Any]) -> Tensor:
        return queries(batch, info["targets"])

    def panels(self, batch, prediction: Tensor, info: Mapping[str, Any]):
        """Each observed view's beauty, the query's normal, the network, the reference."""
        out = []
        if "observed/beauty" in batch:
            views = batch["observed/beauty"]
            out += [(f"observed {k + 1}", tonemap(views[:, k])) for k in range(views.shape[1])]
        if "query/normal" in batch:
            out.append(("query normal", batch["query/normal"] * 0.5 + 0.5))
        return [*out, ("network", tonemap(prediction)),
                ("reference", tonemap(self.target(batch, info)))]  # fmt: skip

    def context(self, model, info: Mapping[str, Any]) -> int:
        """0: a query view is shaded whole (the representation is the scene's)."""
        return 0

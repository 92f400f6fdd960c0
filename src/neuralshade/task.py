"""Tasks: what is learned from a source. The generic pipeline runs any of them by name.

A :class:`Task` says which source it reads, which buffers go in and come out, the network(s)
it trains (several, each with its own optimiser, are fine: a GAN's generator and
discriminator), one training step, its metrics, comparison panels, baselines, the renderer it
is measured against, and how much context its network needs at inference. ``train``,
``evaluate``, ``infer`` and ``export`` know nothing more about a task than this interface.

:class:`ImageTask` is the common case: the input buffers concatenated along channels go
through one network that predicts the target buffers concatenated, under a named loss
(:mod:`neuralshade.losses`; a log-space loss means the network predicts log1p of the target).

Tasks register by name in :data:`TASKS` (``@TASKS.register("name")``), found through the
``neuralshade.tasks`` entry points: generic modules never import ``neuralshade.tasks``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from torch import Tensor, nn

from neuralshade.data.datasets import stack
from neuralshade.registry import Registry

Batch = Mapping[str, Tensor]
"""A batch: buffer name → (B, C, H, W) float32."""
Networks = Mapping[str, nn.Module]


@dataclass
class Renderer:
    """A renderer a task races the network against (time to equal quality).

    render(i, samples) → (image i of the eval split at ``samples`` per pixel, (H, W, C) float32
    in the targets' space; the seconds it took, one-off set-up excluded). ``usual``: the
    samples it is usually run at (reported beside the answer); ``notes``: one-off costs and
    settings, reported as they are.
    """

    render: Callable[[int, int], tuple[np.ndarray, float]]
    usual: int | None = None
    notes: Callable[[], dict[str, Any]] = field(default=dict)


@dataclass
class Race:
    """What a task's network is raced against: the converged truth of each eval image, (H, W,
    C) float32, and the renderers; ``reference`` says how the truth is made."""

    truth: Callable[[int], np.ndarray]
    renderers: dict[str, Renderer]
    reference: dict[str, Any]


@dataclass
class StepData:
    """What a run trains and validates on, for a task whose batches are not stacks of crops
    (:meth:`Task.step_data`).

    ``data``: the training split as a :class:`~neuralshade.data.datasets.BufferDataset` (its
    source, config and channels name the run's data); ``train``: item s = this process's share
    of the batch of step s (a dict of tensors), a pure function of (seed, s) so that a resumed
    run sees the batches it would have seen; ``val()``: the validation batches, each with the
    number of samples its values are weighted by, the same every time.
    """

    data: Any
    train: Any
    val: Callable[[], Iterable[tuple[Batch, int]]]


class Task:
    """Base of every task; subclasses set the class attributes and the methods they need."""

    name: ClassVar[str]
    source: ClassVar[str]
    """The source whose datasets the task reads."""
    description: ClassVar[str] = ""
    inputs: ClassVar[tuple[str, ...]] = ()
    """Default input buffers."""
    targets: ClassVar[tuple[str, ...]] = ()
    """Default target buffers."""
    networks: ClassVar[tuple[str, ...]] = ("net",)
    """The names of the networks a run trains, the first being the one inference runs."""
    default_models: ClassVar[dict[str, dict[str, Any]]] = {}
    """Network name → default {"name", "args"} of its model."""
    metrics: ClassVar[tuple[str, ...]] = ("l1", "psnr", "ssim")
    """Metrics ``eval`` reports (:mod:`neuralshade.metrics`); the first decides equal quality."""
    baselines: ClassVar[tuple[str, ...]] = ()
    """Names of the classic methods ``eval`` runs beside the network (:meth:`baseline`)."""
    single_view: ClassVar[bool] = True
    """Whether its network maps one image's input buffers to its targets, as ``eval``,
    ``shade``, ``serve`` and ``export`` run networks. A task whose network reads several views
    of a scene (``cnsr``) is measured by its own benchmark (``benchmarks/<task>.py``)."""

    # ---- building a run
    def check(self, config: Any) -> None:
        """Refuse a training config this task cannot run (raise ConfigError)."""

    def model_args(self, network: str, config: Any, channels: Callable[[list[str]], int]) -> dict:
        """Constructor arguments the data decides (in/out channels) for network ``network``."""
        return {}

    def buffers(self, inputs: Sequence[str], targets: Sequence[str]) -> list[str]:
        """The buffers a batch holds: inputs then targets, each once."""
        return list(dict.fromkeys((*inputs, *targets)))

    def training_buffers(self, config: Any) -> list[str]:
        """The buffers a training or validation batch holds (``config``: the training config):
        by default :meth:`buffers`; a task may read more (every sample count of a noisy
        input, say) and choose among them in :meth:`train_step`."""
        return self.buffers(config.inputs, config.targets)

    def step_data(self, config: Any, rank: int, world: int) -> StepData | None:
        """The run's batches, or None (the default): random crops of :meth:`training_buffers`
        of the training split, ``batch_size`` of them per step, and fixed crops of the
        validation split. A task whose step reads something else (several views of a scene,
        groups that vary one factor) returns its own; ``rank`` of ``world`` processes."""
        return None

    def checkpoint_meta(self, data_config: Any) -> dict[str, Any]:
        """Extra sidecar keys the task's inference needs from its dataset's config."""
        return {}

    # ---- training
    def train_step(self, nets: Networks, batch: Batch, config: Any) -> Iterator[tuple[str, Tensor]]:
        """Yield (network name, loss) in order; each loss is minimised by that network's
        optimiser before the next is asked for (so a discriminator's step precedes the
        generator's loss)."""
        raise NotImplementedError

    def validate(self, nets: Networks, batch: Batch, config: Any) -> dict[str, float]:
        """Batch means of the validation values; "loss" chooses the best checkpoint."""
        raise NotImplementedError

    # ---- inference and evaluation (``info``: the checkpoint's sidecar)
    def predict(self, nets: Networks, batch: Batch, info: Mapping[str, Any]) -> Tensor:
        """The prediction, in the targets' own space: (B, C_target, H, W)."""
        raise NotImplementedError

    def finish(self, prediction: Tensor, batch: Batch, info: Mapping[str, Any]) -> Tensor:
        """The rules a prediction obeys whatever the network says (a range, values fixed by
        the inputs), on (B, C_target, H, W): :meth:`predict` applies them, and inference
        applies them again to a prediction resized to the inputs' size. By default none."""
        return prediction

    def displayed(self, image: Tensor, info: Mapping[str, Any]) -> Tensor:
        """A target-space image (B, C, H, W) as ``eval`` compares and shows it: its metrics
        are taken on this (for HDR light, tone-mapped). By default the image as it is."""
        return image

    def rescales(self, info: Mapping[str, Any]) -> bool:
        """Whether inference may run a view finer than the training views at their pixel
        scale (a sidecar's ``focal_pixels``): not when an input is itself in pixels."""
        return True

    def target(self, batch: Batch, info: Mapping[str, Any]) -> Tensor:
        """What the prediction is compared with: (B, C_target, H, W)."""
        return stack(batch, info["targets"])

    def panels(
        self, batch: Batch, prediction: Tensor, info: Mapping[str, Any]
    ) -> list[tuple[str, Tensor]]:
        """Labelled (B, 3 or 1, H, W) images for comparison sheets, in display range."""
        return [
            ("input", stack(batch, info["inputs"])[:, :3]),
            ("network", prediction[:, :3]),
            ("reference", self.target(batch, info)[:, :3]),
        ]

    def baseline(self, name: str, data: Any, i: int, info: Mapping[str, Any]) -> Tensor:
        """Baseline ``name``'s prediction of the i-th image of the eval split ``data`` (a
        :class:`~neuralshade.data.datasets.BufferDataset` of whole images), like
        :meth:`predict`: (1, C_target, H, W)."""
        raise NotImplementedError(f"{self.name} has no baseline {name!r}")

    def baselines_for(self, info: Mapping[str, Any]) -> tuple[str, ...]:
        """The baselines that apply to a checkpoint's inputs and targets (``info``: its
        sidecar); by default all of :attr:`baselines`."""
        return self.baselines

    def race(self, data: Any, info: Mapping[str, Any], device: Any) -> Race | None:
        """The renderers to reach equal quality with on the eval split ``data`` (a
        :class:`~neuralshade.data.datasets.BufferDataset` of whole images), or None: the task
        has no renderer whose quality grows with its samples."""
        return None

    def inference_network(self, nets: Networks, info: Mapping[str, Any]) -> nn.Module:
        """The one module inference runs, from a checkpoint's networks (``nets``, in eval
        mode): by default the first of :attr:`networks`; a task whose inference chains
        several (an attention block feeding a generator) returns a module that runs them all,
        which :meth:`predict` then receives under the first name."""
        return nets[self.networks[0]]

    def check_checkpoint(self, info: Mapping[str, Any]) -> None:
        """Raise CheckpointError where this release cannot run a checkpoint of this task as it
        was trained (its sidecar ``info``: say why, and the fix). By default every one runs."""

    def context(self, model: nn.Module, info: Mapping[str, Any]) -> int:
        """Pixels of context each side the network's output depends on (tiled inference)."""
        return getattr(model, "receptive_field", 1) // 2


class ImageTask(Task):
    """Inputs concatenated → one network ``net`` → targets concatenated, under ``config.loss``."""

    def model_args(self, network: str, config: Any, channels: Callable[[list[str]], int]) -> dict:
        return {"in_channels": channels(config.inputs), "out_channels": channels(config.targets)}

    def train_step(self, nets: Networks, batch: Batch, config: Any) -> Iterator[tuple[str, Tensor]]:
        from neuralshade.losses import build_loss

        pred = nets["net"](stack(batch, config.inputs))
        yield "net", build_loss(config.loss)(pred, stack(batch, config.targets))

    def validate(self, nets: Networks, batch: Batch, config: Any) -> dict[str, float]:
        from neuralshade.losses import build_loss, from_log_space, predicts_log1p
        from neuralshade.metrics import psnr

        y = stack(batch, config.targets)
        pred = nets["net"](stack(batch, config.inputs))
        image = from_log_space(pred) if predicts_log1p(config.loss) else pred
        return {
            "loss": float(build_loss(config.loss)(pred, y)),
            "l1": float((image - y).abs().mean()),
            "psnr": float(psnr(image.clamp(0, 1), y, reduction="none").clamp(max=100).mean()),
        }

    def predict(self, nets: Networks, batch: Batch, info: Mapping[str, Any]) -> Tensor:
        from neuralshade.losses import from_log_space, predicts_log1p

        pred = nets["net"](stack(batch, info["inputs"]))
        return from_log_space(pred) if predicts_log1p(info.get("loss") or "l1") else pred


TASKS: Registry[type[Task]] = Registry("task", group="neuralshade.tasks")
"""Every registered task class, by name."""


def get_task(name: str) -> Task:
    """An instance of the task registered as ``name``."""
    return TASKS.get(name)()


def task_names() -> list[str]:
    """The registered task names, sorted."""
    return TASKS.names()


def not_single_view(task: Task) -> str:
    """Why the image pipeline (eval, shade, serve, export) does not run ``task``'s network."""
    return (
        f"a {task.name} network shades a view from other views of its scene, not from one "
        f"image's buffers: eval, shade, serve and export do not run it (its benchmark, "
        f"benchmarks/{task.name.replace('-', '_')}.py, measures it)"
    )

"""Training: one loop for every task; config in YAML, checkpoints in safetensors.

``neuralshade train CONFIG.yaml [--set key=value ...] [--out RUN_DIR] [--resume]``

The loop knows no task: the config names one (:mod:`neuralshade.task`), which builds the batch's
buffers, its named networks and their losses. Each network has its own AdamW (``optimizers``
overrides ``optimizer`` per network); ``freeze`` keeps some fixed and ``init`` starts some from
another run's checkpoint, so stages chain (a generator trained alone, then with a
discriminator). The loop's phases follow in order: learning rate, validation and checkpoints,
forward and backward for each network the task's step names (in its order), optimizer step,
log. The batch of step s is a pure function of (seed, s): sample
order is a seeded permutation per epoch, and crops are seeded by (seed, epoch, index). So a run
resumed from its last checkpoint sees the same batches as one that was never interrupted, and
(on CPU, same thread count) produces the same loss curve.

Run directory::

    RUN/config.yaml        the complete config the run started with
    RUN/history.jsonl      one line per logged step / validation
    RUN/checkpoints/       last.* (with optimizer state) and best.* (lowest validation loss)
    RUN/tensorboard/       event files: scalars and image grids (input | prediction | target)

Distributed: under ``torchrun --nproc_per_node=N`` every process takes 1/N of each batch
(each trained network in DistributedDataParallel; gloo on CPU, nccl on GPU); rank 0
validates, logs and saves.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import torch
import torch.distributed as dist
import yaml
from pydantic import Field, model_validator

from neuralshade import checkpoint
from neuralshade.config import Settings, build
from neuralshade.data.datasets import BufferDataset
from neuralshade.devices import resolve_device
from neuralshade.errors import ConfigError, TrainingError
from neuralshade.imageio import write_bytes
from neuralshade.losses import build_loss
from neuralshade.models import build as build_model
from neuralshade.outputs import check_outputs
from neuralshade.progress import progress
from neuralshade.resume import begin, fingerprint, restore
from neuralshade.task import TASKS, Task, get_task

# settings a resumed run may change: they decide where and how fast it runs, how often it
# logs, validates and saves, and where the (same, by its config's hash) dataset lies
RESUME_FREE = (
    "init",  # only read when a run starts
    "device",
    "workers",
    "data",
    "log_interval",
    "image_interval",
    "val_interval",
    "checkpoint_interval",
)


class ModelSpec(Settings):
    """Which network to train."""

    name: str = Field(..., description="Registered model name (neuralshade.models).")
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="Constructor arguments; in/out channels default to the data's buffers.",
    )


class InitSpec(Settings):
    """Where a network's starting weights come from."""

    checkpoint: str = Field(
        ...,
        description="A checkpoint of another run (.safetensors), or ``oidn:NAME``: Open Image "
        "Denoise's shipped weights NAME (``oidn:rt_hdr_alb_nrm``) for an ``oidn-unet``.",
    )
    network: str | None = Field(
        None, description="Its network to take (None: the same name, or its only one)."
    )
    partial: bool = Field(
        False,
        description="Parameters the checkpoint lacks keep their fresh init (a network grown "
        "by a layer, started from the smaller one).",
    )


class OptimizerConfig(Settings):
    """AdamW."""

    lr: float = Field(3e-3, gt=0, description="Peak learning rate.")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay.")
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = Field(
        (0.9, 0.999), description="AdamW betas, each in [0, 1)."
    )
    grad_clip: float | None = Field(None, gt=0, description="Clip the gradient norm (None: off).")


class ScheduleConfig(Settings):
    """Linear warm-up, then cosine decay to ``min_lr_ratio`` × lr at the last step."""

    warmup_steps: int = Field(100, ge=0, description="Steps of linear warm-up from 0.")
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="Final lr as a fraction of lr.")


class TrainConfig(Settings):
    """Everything a training run needs (see the presets in neuralshade/configs)."""

    task: str = Field(..., description="The task (`neuralshade tasks` lists them).")
    data: str = Field(..., description="Dataset directory (neuralshade dataset ...).")
    inputs: list[str] | None = Field(None, description="Input buffers (None: the task's).")
    targets: list[str] | None = Field(None, description="Target buffers (None: the task's).")
    model: ModelSpec | None = Field(
        None, description="The network, for a task that trains one (None: the task's default)."
    )
    models: dict[str, ModelSpec] = Field(
        default_factory=dict, description="Per network name, its model (tasks with several)."
    )
    init: dict[str, InitSpec] = Field(
        default_factory=dict, description="Per network name, weights to start from."
    )
    freeze: list[str] = Field(
        default_factory=list, description="Networks kept fixed (no optimiser, eval mode)."
    )
    crop: int = Field(128, ge=8, description="Side of the random training crops, pixels.")
    val_crop: int | None = Field(None, ge=8, description="Validation crop side (None: crop).")
    batch_size: int = Field(64, ge=1, description="Samples per step (over all processes).")
    optimizer: OptimizerConfig = Field(
        default_factory=OptimizerConfig, description="AdamW of every network."
    )
    optimizers: dict[str, OptimizerConfig] = Field(
        default_factory=dict, description="Per network name, its own AdamW instead."
    )
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig, description="LR schedule.")
    steps: int = Field(1000, ge=1, description="Optimizer steps.")
    val_interval: int = Field(250, ge=1, description="Validate every this many steps.")
    checkpoint_interval: int = Field(250, ge=1, description="Save last.* every this many steps.")
    log_interval: int = Field(10, ge=1, description="Log the training loss every this many.")
    image_interval: int = Field(1000, ge=1, description="Image grids to TensorBoard every.")
    loss: str = Field("l1", description="Loss name (neuralshade.losses).")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Task-specific settings (the task checks them)."
    )
    augment: bool = Field(False, description="Image symmetries that keep the samples true.")
    seed: int = Field(0, ge=0, description="Seeds the model init and the data stream.")
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N.")
    workers: int = Field(0, ge=0, description="DataLoader worker processes.")

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        build_loss(self.loss)  # unknown loss names fail here, with the known ones listed
        task = TASKS.get(self.task)()  # an unknown task fails here, with the known ones
        self.inputs = list(self.inputs or task.inputs)
        self.targets = list(self.targets or task.targets)
        names = set(task.networks)
        if self.model is not None:
            if len(task.networks) != 1:
                raise ValueError(
                    f"task {self.task} trains {len(names)} networks {sorted(names)}: give "
                    "`models: {name: {name: ..., args: ...}}` rather than `model`"
                )
            if self.models:
                raise ValueError("give `model` or `models`, not both")
            self.models = {task.networks[0]: self.model}
            self.model = None
        for name in task.networks:
            if name not in self.models and name in task.default_models:
                self.models[name] = ModelSpec(**task.default_models[name])
        for key, given in (
            ("models", set(self.models)),
            ("init", set(self.init)),
            ("optimizers", set(self.optimizers)),
            ("freeze", set(self.freeze)),
        ):
            unknown = sorted(given - names)
            if unknown:
                raise ValueError(
                    f"{key}: task {self.task} has no network {unknown}; it trains "
                    f"{list(task.networks)}"
                )
        missing = [n for n in task.networks if n not in self.models]
        if missing:
            raise ValueError(f"models: give the model of network(s) {missing}")
        if set(self.freeze) == names:
            raise ValueError("freeze: every network is frozen, nothing would train")
        task.check(self)
        return self

    def optimizer_of(self, network: str) -> OptimizerConfig:
        return self.optimizers.get(network, self.optimizer)


def load_config(values: dict[str, Any]) -> TrainConfig:
    return build(TrainConfig, values, "training config")


def lr_at(step: int, config: TrainConfig, lr: float | None = None) -> float:
    """Learning rate of ``step``: linear warm-up from 0, then cosine to min_lr_ratio × ``lr``
    (default: ``optimizer.lr``)."""
    lr, s = config.optimizer.lr if lr is None else lr, config.schedule
    if step < s.warmup_steps:
        return lr * (step + 1) / s.warmup_steps
    span = max(1, config.steps - s.warmup_steps)
    progress_ = min(1.0, (step - s.warmup_steps) / span)
    return lr * (s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress_)))


class StepBatches(torch.utils.data.Dataset):
    """Item s = this process's share of the batch of step s, the same whatever the history.

    Global sample g = s·B + j (j < B) is position g mod N of epoch g // N, whose order is a
    permutation seeded by (seed, epoch); process r of W takes j = r, r + W, ….
    """

    def __init__(
        self, data: BufferDataset, batch_size: int, seed: int, rank: int = 0, world: int = 1
    ):
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.rank, self.world = rank, world
        self._perms: dict[int, torch.Tensor] = {}

    def _order(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perms = {epoch: torch.randperm(len(self.data), generator=g)}
        return self._perms[epoch]

    def __len__(self) -> int:  # steps are unbounded; the loop decides when to stop
        return 2**62

    def __getitem__(self, step: int) -> dict[str, torch.Tensor]:
        n = len(self.data)
        items = []
        for j in range(self.rank, self.batch_size, self.world):
            g = step * self.batch_size + j
            epoch = g // n
            self.data.set_epoch(epoch)
            items.append(self.data[int(self._order(epoch)[g % n])])
        return {name: torch.stack([item[name] for item in items]) for name in items[0]}


def _distributed() -> tuple[int, int]:
    """(rank, world size), starting the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _grid(panels: list[tuple[str, torch.Tensor]], n: int = 4) -> torch.Tensor:
    """(3, n·h, k·w) image: rows of the task's k panels (input | … | target), grey as RGB."""

    def rgb(t: torch.Tensor) -> torch.Tensor:
        t = t[:n, :3].clamp(0, 1)
        return t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t

    rows = torch.cat([rgb(image) for _, image in panels], dim=3)  # (n, 3, h, k·w)
    return torch.cat(list(rows), dim=1)


@contextlib.contextmanager
def _evaluating(nets: Mapping[str, torch.nn.Module]) -> Iterator[None]:
    """The networks in eval mode inside, back in their own modes after."""
    modes = {name: net.training for name, net in nets.items()}
    for net in nets.values():
        net.eval()
    try:
        yield
    finally:
        for name, net in nets.items():
            net.train(modes[name])


@torch.no_grad()
def validate(
    task: Task,
    nets: Mapping[str, torch.nn.Module],
    batches: Iterable[tuple[dict[str, torch.Tensor], int]],
    config: TrainConfig,
    device: torch.device,
) -> dict[str, float]:
    """The task's validation values (its "loss" first) averaged over the validation batches,
    each weighted by its number of samples."""
    total: dict[str, float] = {}
    count = 0
    with _evaluating(nets):
        for batch, n in batches:
            batch = {k: v.to(device) for k, v in batch.items()}
            for key, value in task.validate(nets, batch, config).items():
                total[key] = total.get(key, 0.0) + value * n
            count += n
    return {k: v / count for k, v in total.items()}


def _chunks(data: BufferDataset, batch_size: int) -> Iterator[tuple[dict[str, torch.Tensor], int]]:
    """The samples of ``data`` in order, as batches of ``batch_size`` (the last one smaller)."""
    for start in range(0, len(data), batch_size):
        items = [data[i] for i in range(start, min(len(data), start + batch_size))]
        yield {k: torch.stack([item[k] for item in items]) for k in items[0]}, len(items)


def merge_args(base: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Model arguments: ``given`` (a config's) over ``base`` (what the data decides), key by
    key, nested dicts merged the same way (a composite model's part specs)."""
    out = dict(base)
    for key, value in given.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_args(out[key], value)
        else:
            out[key] = value
    return out


@torch.no_grad()
def _preview(task: Task, nets: Mapping[str, torch.nn.Module], batch, config) -> torch.Tensor:
    """The task's panels of a batch, its networks in eval mode (no statistics updated)."""
    info = {"inputs": config.inputs, "targets": config.targets, "loss": config.loss,
            "config": config.model_dump(mode="json")}  # fmt: skip
    with _evaluating(nets):
        return _grid(task.panels(batch, task.predict(nets, batch, info), info))


def _append_history(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def _truncate_history(path: Path, step: int) -> None:
    """Drop what a resume from ``step`` does again: training records from ``step`` on, and
    validations after it (the validation at ``step`` preceded its checkpoint)."""
    if not path.exists():
        return

    def kept(record: dict[str, Any]) -> bool:
        return record["step"] < step or (record["step"] == step and "val_loss" in record)

    keep = [
        line for line in path.read_text().splitlines() if line.strip() and kept(json.loads(line))
    ]
    write_bytes(path, ("\n".join(keep) + "\n" if keep else "").encode())


def train(
    config: TrainConfig,
    run_dir: str | os.PathLike,
    *,
    resume: bool = False,
    quiet: bool = False,
    inputs: Sequence[str | os.PathLike] = (),
) -> dict[str, Any]:
    """Train per ``config`` into ``run_dir``; returns {'step', 'best', 'last', 'val'}.

    A run directory that already has checkpoints needs ``resume=True`` (never overwritten),
    and resumes only the same run (:mod:`neuralshade.resume`). ``inputs``: files the run was
    given (its config file), which it refuses to overwrite; a resumed run keeps the
    ``config.yaml`` it started with.
    A NaN or infinite loss stops the run with TrainingError; the checkpoints on disk stay the
    last good ones.
    """
    run = Path(run_dir)
    ckpt_dir = run / "checkpoints"
    task = get_task(config.task)
    rank, world = _distributed()
    main = rank == 0
    if config.batch_size % world:
        raise ConfigError(f"batch_size {config.batch_size} must divide by the {world} processes")
    device = resolve_device(config.device)
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cpu":
        # subnormal floats take a slow path on x86: recurrent nets (GQN's LSTM cores) drift
        # into them as they train, and a cnsr-gqn-cpu step went from 0.17 s to over 1 s
        torch.set_flush_denormal(True)
    last_ckpt = ckpt_dir / "last"
    resuming = begin(last_ckpt, resume=resume, what="training run")
    written = [run / "history.jsonl", *(ckpt_dir / f"{n}.json" for n in ("last", "best"))]
    check_outputs(run, written + ([] if resuming else [run / "config.yaml"]), inputs)

    # ---- data
    def check_source(data: BufferDataset) -> None:
        if data.source.name != task.source:
            raise ConfigError(
                f"{config.data} is a {data.source.name!r} dataset; task {task.name} learns "
                f"from {task.source!r} datasets (`neuralshade dataset {task.source}`)"
            )

    custom = task.step_data(config, rank, world)
    if custom is None:
        train_data = BufferDataset(
            config.data, "train", task.training_buffers(config), crop=config.crop,
            mode="random", augment=config.augment, seed=config.seed,
        )  # fmt: skip
        check_source(train_data)
        val_data = BufferDataset(
            config.data, "val", task.training_buffers(config),
            crop=config.val_crop or config.crop, mode="fixed", seed=config.seed,
        )  # fmt: skip
        batches = StepBatches(train_data, config.batch_size, config.seed, rank, world)

        def val_batches() -> Iterable[tuple[dict[str, torch.Tensor], int]]:
            return _chunks(val_data, config.batch_size)
    else:
        train_data, batches, val_batches = custom.data, custom.train, custom.val
        check_source(train_data)

    # ---- networks, optimizers
    torch.manual_seed(config.seed)
    models: dict[str, torch.nn.Module] = {}
    for name in task.networks:
        spec = config.models[name]
        args = merge_args(task.model_args(name, config, train_data.channels), spec.args)
        models[name] = build_model(spec.name, **args).to(device)
    trained = [name for name in task.networks if name not in config.freeze]
    optimizers = {
        name: torch.optim.AdamW(
            models[name].parameters(),
            lr=config.optimizer_of(name).lr,
            betas=config.optimizer_of(name).betas,
            weight_decay=config.optimizer_of(name).weight_decay,
        )
        for name in trained
    }
    start, best, wall = 0, math.inf, 0.0
    target = {"data_config_sha256": fingerprint(train_data.config.model_dump(mode="json"))}
    if resuming:
        expected = {
            "models": {name: m.spec for name, m in models.items()},
            "config": config.model_dump(mode="json"),
            "target": target,
        }
        info = restore(
            last_ckpt, models, optimizers, expected, free=RESUME_FREE, run=run,
            upgrade=lambda saved: load_config(saved).model_dump(mode="json"),
        )  # fmt: skip
        start, best = info["step"], info.get("best_val_loss") or math.inf
        wall = info.get("wall_seconds", 0.0)
        if start >= config.steps:  # already finished: report it, write nothing
            if world > 1:
                dist.destroy_process_group()
            return {
                "step": start,
                "best": str(ckpt_dir / "best.safetensors"),
                "last": str(ckpt_dir / "last.safetensors"),
                "val": info.get("val"),
                "best_val_loss": best,
            }
    else:
        _initialise(models, config)
    for name in config.freeze:
        models[name].requires_grad_(False).eval()
    nets = {
        name: torch.nn.parallel.DistributedDataParallel(m) if world > 1 and name in trained else m
        for name, m in models.items()
    }

    history = run / "history.jsonl"
    writer = None
    if main:
        run.mkdir(parents=True, exist_ok=True)
        if not resuming:
            write_bytes(
                run / "config.yaml",
                yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False).encode(),
            )
        _truncate_history(history, start)
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(run / "tensorboard"), purge_step=start)

    def meta(step: int, val: dict[str, float] | None) -> dict[str, Any]:
        return {
            "task": config.task,
            "source": train_data.source.name,
            "inputs": config.inputs,
            "targets": config.targets,
            "step": step,
            "loss": config.loss,
            "val": val,
            "best_val_loss": best if math.isfinite(best) else None,
            "world_size": world,
            **task.checkpoint_meta(train_data.config),
            "data": str(config.data),
            "seed": config.seed,
            "config": config.model_dump(mode="json"),
            "target": target,
            "wall_seconds": round(wall, 1),
        }

    def save(name: str, step: int, val: dict[str, float] | None, with_state: bool) -> None:
        checkpoint.save(
            ckpt_dir / name, models, meta(step, val), optimizers if with_state else None
        )

    loader = torch.utils.data.DataLoader(
        batches, batch_size=None, num_workers=config.workers, sampler=range(start, config.steps)
    )
    for name in trained:
        models[name].train()
    val: dict[str, float] | None = None
    t0 = time.perf_counter()
    bar = progress(
        total=config.steps, initial=start, desc="training", unit="step", quiet=quiet or not main
    )
    step = start
    with bar:
        for step, batch in enumerate(loader, start=start):
            # ---- learning rate
            lr = lr_at(step, config)
            for name, optimizer in optimizers.items():
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(step, config, config.optimizer_of(name).lr)
            # ---- validation and checkpoints (state after `step` optimizer steps)
            if step > start or start == 0:
                if step % config.val_interval == 0 and main:
                    val = validate(task, models, val_batches(), config, device)
                    _log_val(writer, history, step, val)
                    if val["loss"] < best:
                        best = val["loss"]
                        save("best", step, val, with_state=False)
                if step % config.checkpoint_interval == 0 and step > start and main:
                    wall += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    save("last", step, val, with_state=True)
            # ---- forward, backward, step: each network the task's step names, in its order
            batch = {k: v.to(device) for k, v in batch.items()}
            losses: dict[str, float] = {}
            for name, loss in task.train_step(nets, batch, config):
                if name not in optimizers:  # a frozen network's loss is not minimised
                    continue
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise TrainingError(
                        f"the loss of {name} became {value} at step {step}; the run stopped "
                        f"and {ckpt_dir} keeps the last good checkpoints (lower optimizer.lr "
                        "or set optimizer.grad_clip, then --resume)"
                    )
                optimizers[name].zero_grad(set_to_none=True)
                loss.backward()
                clip = config.optimizer_of(name).grad_clip
                if clip:
                    torch.nn.utils.clip_grad_norm_(models[name].parameters(), clip)
                optimizers[name].step()
                losses[name] = value
            value = next(iter(losses.values()))
            # ---- log
            if main and (step % config.log_interval == 0 or step == config.steps - 1):
                record = {"step": step, "loss": value, "lr": lr}
                if len(losses) > 1:
                    record["losses"] = losses
                _append_history(history, record)
                for name, v in losses.items():
                    writer.add_scalar("train/loss" if len(losses) == 1 else f"train/loss/{name}",
                                      v, step)  # fmt: skip
                writer.add_scalar("train/lr", lr, step)
            if main and step % config.image_interval == 0:
                writer.add_image("train/panels", _preview(task, models, batch, config), step)
            bar.update()
            bar.set_postfix(loss=f"{value:.4f}", refresh=False)
        step = config.steps
    # ---- the end: final validation and checkpoints
    if main:
        val = validate(task, models, val_batches(), config, device)
        _log_val(writer, history, step, val)
        if val["loss"] < best:
            best = val["loss"]
            save("best", step, val, with_state=False)
        wall += time.perf_counter() - t0
        save("last", step, val, with_state=True)
        writer.close()
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return {
        "step": step,
        "best": str(ckpt_dir / "best.safetensors"),
        "last": str(ckpt_dir / "last.safetensors"),
        "val": val,
        "best_val_loss": best,
    }


def _initialise(models: Mapping[str, torch.nn.Module], config: TrainConfig) -> None:
    """Load the ``init`` weights of a new run: each named network from its checkpoint (or
    from the weights OIDN ships: ``oidn:NAME``)."""
    for name, spec in config.init.items():
        if spec.checkpoint.startswith(OIDN_PREFIX):
            _initialise_from_oidn(models[name], name, spec.checkpoint[len(OIDN_PREFIX) :])
            continue
        info = checkpoint.read_meta(spec.checkpoint)
        saved = list(info["models"])
        source = spec.network or (name if name in saved else saved[0] if len(saved) == 1 else None)
        if source is None:
            raise ConfigError(
                f"init.{name}: {spec.checkpoint} holds networks {saved}; say which one "
                "(init.{name}.network)"
            )
        checkpoint.load_weights(spec.checkpoint, {source: models[name]}, info, spec.partial)


OIDN_PREFIX = "oidn:"


def _initialise_from_oidn(model: torch.nn.Module, name: str, weights: str) -> None:
    """Network ``name`` from OIDN's weights ``weights``
    (:func:`neuralshade.models.oidn.oidn_weights`): its shapes must be the weights' (an
    ``oidn-unet`` of that size and those inputs)."""
    from neuralshade.models.oidn import oidn_weights

    state = oidn_weights(weights)
    own = model.state_dict()
    wrong = {k: (tuple(v.shape), tuple(own[k].shape)) for k, v in state.items()
             if k in own and own[k].shape != v.shape}  # fmt: skip
    if set(state) != set(own) or wrong:
        raise ConfigError(
            f"init.{name}: OIDN's {weights} does not fit the network (an oidn-unet of its size "
            f"and inputs): {wrong or sorted(set(state) ^ set(own))}"
        )
    model.load_state_dict(state)


def _log_val(writer: Any, history: Path, step: int, val: dict[str, float]) -> None:
    _append_history(history, {"step": step, **{f"val_{k}": v for k, v in val.items()}})
    for key, value in val.items():
        writer.add_scalar(f"val/{key}", value, step)

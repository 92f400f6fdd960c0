"""Training: one loop for every task; config in YAML, checkpoints in safetensors.

``neuralshade train CONFIG.yaml [--set key=value ...] [--out RUN_DIR] [--resume]``

The loop's phases follow in order: learning rate, validation and checkpoints, forward and
backward, optimizer step, log. The batch of step s is a pure function of (seed, s): sample
order is a seeded permutation per epoch, and crops are seeded by (seed, epoch, index). So a run
resumed from its last checkpoint sees the same batches as one that was never interrupted, and
(on CPU, same thread count) produces the same loss curve.

Run directory::

    RUN/config.yaml        the complete config the run started with
    RUN/history.jsonl      one line per logged step / validation
    RUN/checkpoints/       last.* (with optimizer state) and best.* (lowest validation loss)
    RUN/tensorboard/       event files: scalars and image grids (input | prediction | target)

Distributed: under ``torchrun --nproc_per_node=N`` every process takes 1/N of each batch
(DistributedDataParallel; gloo on CPU, nccl on GPU); rank 0 validates, logs and saves.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
import torch.distributed as dist
import yaml
from pydantic import Field, model_validator

from neuralshade import checkpoint
from neuralshade.config import Settings, build
from neuralshade.data.datasets import Ao2dDataset
from neuralshade.devices import resolve_device
from neuralshade.errors import ConfigError, TrainingError
from neuralshade.imageio import write_bytes
from neuralshade.losses import build_loss, from_log_space, predicts_log1p
from neuralshade.metrics import psnr
from neuralshade.models import build as build_model
from neuralshade.outputs import check_outputs
from neuralshade.progress import progress
from neuralshade.resume import begin, fingerprint, restore

# settings a resumed run may change: they decide where and how fast it runs, how often it
# logs, validates and saves, and where the (same, by its config's hash) dataset lies
RESUME_FREE = (
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

    name: str = Field("resconv", description="Registered model name (neuralshade.models).")
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="Constructor arguments; in/out channels default to the data's buffers.",
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

    task: Literal["ao2d"] = Field("ao2d", description="The task.")
    data: str = Field(..., description="Dataset directory (neuralshade dataset ...).")
    inputs: list[str] = Field(default_factory=lambda: ["source"], description="Input buffers.")
    targets: list[str] = Field(default_factory=lambda: ["target"], description="Target buffers.")
    model: ModelSpec = Field(default_factory=ModelSpec, description="The network.")
    crop: int = Field(128, ge=8, description="Side of the random training crops, pixels.")
    val_crop: int | None = Field(None, ge=8, description="Validation crop side (None: crop).")
    batch_size: int = Field(64, ge=1, description="Samples per step (over all processes).")
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig, description="AdamW.")
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig, description="LR schedule.")
    steps: int = Field(1000, ge=1, description="Optimizer steps.")
    val_interval: int = Field(250, ge=1, description="Validate every this many steps.")
    checkpoint_interval: int = Field(250, ge=1, description="Save last.* every this many steps.")
    log_interval: int = Field(10, ge=1, description="Log the training loss every this many.")
    image_interval: int = Field(1000, ge=1, description="Image grids to TensorBoard every.")
    loss: str = Field("l1", description="Loss name (neuralshade.losses).")
    augment: bool = Field(False, description="Symmetries that keep the light true.")
    seed: int = Field(0, ge=0, description="Seeds the model init and the data stream.")
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N.")
    workers: int = Field(0, ge=0, description="DataLoader worker processes.")

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        build_loss(self.loss)  # unknown loss names fail here, with the known ones listed
        return self


def load_config(values: dict[str, Any]) -> TrainConfig:
    return build(TrainConfig, values, "training config")


def lr_at(step: int, config: TrainConfig) -> float:
    """Learning rate of ``step``: linear warm-up, then cosine to min_lr_ratio × lr."""
    lr, s = config.optimizer.lr, config.schedule
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
        self, data: Ao2dDataset, batch_size: int, seed: int, rank: int = 0, world: int = 1
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

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self.data)
        xs, ys = [], []
        for j in range(self.rank, self.batch_size, self.world):
            g = step * self.batch_size + j
            epoch = g // n
            self.data.set_epoch(epoch)
            x, y = self.data[int(self._order(epoch)[g % n])]
            xs.append(x)
            ys.append(y)
        return torch.stack(xs), torch.stack(ys)


def _distributed() -> tuple[int, int]:
    """(rank, world size), starting the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _grid(x: torch.Tensor, pred: torch.Tensor, y: torch.Tensor, n: int = 4) -> torch.Tensor:
    """(3, n·h, 3·w) image: rows of input | prediction | target, grey expanded to RGB."""

    def rgb(t: torch.Tensor) -> torch.Tensor:
        t = t[:n, :3].clamp(0, 1)
        return t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t

    rows = torch.cat([rgb(x), rgb(pred), rgb(y)], dim=3)  # (n, 3, h, 3w)
    return torch.cat(list(rows), dim=1)


@torch.no_grad()
def validate(
    model: torch.nn.Module,
    data: Ao2dDataset,
    loss_fn: Any,
    device: torch.device,
    batch_size: int,
    log_output: bool = False,
) -> dict[str, float]:
    """Mean loss, L1 and PSNR over the fixed validation crops.

    L1 and PSNR compare images: with ``log_output`` (log-space losses) the prediction is
    mapped back with expm1 first.
    """
    was_training = model.training
    model.eval()
    total = {"loss": 0.0, "l1": 0.0, "psnr": 0.0}
    for start in range(0, len(data), batch_size):
        items = [data[i] for i in range(start, min(len(data), start + batch_size))]
        x = torch.stack([a for a, _ in items]).to(device)
        y = torch.stack([b for _, b in items]).to(device)
        pred = model(x)
        total["loss"] += float(loss_fn(pred, y)) * len(items)
        image = from_log_space(pred) if log_output else pred
        total["l1"] += float((image - y).abs().mean()) * len(items)
        total["psnr"] += float(psnr(image.clamp(0, 1), y, reduction="none").clamp(max=100).sum())
    model.train(was_training)
    return {k: v / len(data) for k, v in total.items()}


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
    rank, world = _distributed()
    main = rank == 0
    if config.batch_size % world:
        raise ConfigError(f"batch_size {config.batch_size} must divide by the {world} processes")
    device = resolve_device(config.device)
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    last_ckpt = ckpt_dir / "last"
    resuming = begin(last_ckpt, resume=resume, what="training run")
    written = [run / "history.jsonl", *(ckpt_dir / f"{n}.json" for n in ("last", "best"))]
    check_outputs(run, written + ([] if resuming else [run / "config.yaml"]), inputs)

    # ---- data
    train_data = Ao2dDataset(
        config.data,
        "train",
        config.inputs,
        config.targets,
        crop=config.crop,
        mode="random",
        augment=config.augment,
        seed=config.seed,
    )
    val_data = Ao2dDataset(
        config.data,
        "val",
        config.inputs,
        config.targets,
        crop=config.val_crop or config.crop,
        mode="fixed",
        seed=config.seed,
    )
    batches = StepBatches(train_data, config.batch_size, config.seed, rank, world)

    # ---- model, optimizer, loss
    torch.manual_seed(config.seed)
    args = {
        "in_channels": train_data.in_channels,
        "out_channels": train_data.out_channels,
        **config.model.args,
    }
    model = build_model(config.model.name, **args).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=config.optimizer.lr,
        betas=config.optimizer.betas,
        weight_decay=config.optimizer.weight_decay,
    )
    loss_fn = build_loss(config.loss)
    log_output = predicts_log1p(config.loss)
    start, best, wall = 0, math.inf, 0.0
    target = {"data_config_sha256": fingerprint(train_data.config.model_dump(mode="json"))}
    if resuming:
        expected = {"model": model.spec, "config": config.model_dump(mode="json"), "target": target}
        info = restore(last_ckpt, model, optimizer, expected, free=RESUME_FREE, run=run)
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
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model

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
            "inputs": config.inputs,
            "targets": config.targets,
            "step": step,
            "loss": config.loss,
            "val": val,
            "best_val_loss": best if math.isfinite(best) else None,
            "world_size": world,
            "render": train_data.config.render.model_dump(mode="json"),
            "data": str(config.data),
            "seed": config.seed,
            "config": config.model_dump(mode="json"),
            "target": target,
            "wall_seconds": round(wall, 1),
        }

    loader = torch.utils.data.DataLoader(
        batches, batch_size=None, num_workers=config.workers, sampler=range(start, config.steps)
    )
    net.train()
    val: dict[str, float] | None = None
    t0 = time.perf_counter()
    bar = progress(
        total=config.steps, initial=start, desc="training", unit="step", quiet=quiet or not main
    )
    step = start
    with bar:
        for step, (x, y) in enumerate(loader, start=start):
            # ---- learning rate
            lr = lr_at(step, config)
            for group in optimizer.param_groups:
                group["lr"] = lr
            # ---- validation and checkpoints (state after `step` optimizer steps)
            if step > start or start == 0:
                if step % config.val_interval == 0 and main:
                    val = validate(model, val_data, loss_fn, device, config.batch_size, log_output)
                    _log_val(writer, history, step, val)
                    if val["loss"] < best:
                        best = val["loss"]
                        checkpoint.save(ckpt_dir / "best", model, meta(step, val))
                if step % config.checkpoint_interval == 0 and step > start and main:
                    wall += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    checkpoint.save(last_ckpt, model, meta(step, val), optimizer)
            # ---- forward, backward, step
            x, y = x.to(device), y.to(device)
            pred = net(x)
            loss = loss_fn(pred, y)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise TrainingError(
                    f"the loss became {value} at step {step}; the run stopped and "
                    f"{ckpt_dir} keeps the last good checkpoints (lower optimizer.lr or set "
                    "optimizer.grad_clip, then --resume)"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.optimizer.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.optimizer.grad_clip)
            optimizer.step()
            # ---- log
            if main and (step % config.log_interval == 0 or step == config.steps - 1):
                record = {"step": step, "loss": value, "lr": lr}
                _append_history(history, record)
                writer.add_scalar("train/loss", record["loss"], step)
                writer.add_scalar("train/lr", lr, step)
            if main and step % config.image_interval == 0:
                writer.add_image("train/input|prediction|target", _grid(x, pred.detach(), y), step)
            bar.update()
            bar.set_postfix(loss=f"{value:.4f}", refresh=False)
        step = config.steps
    # ---- the end: final validation and checkpoints
    if main:
        val = validate(model, val_data, loss_fn, device, config.batch_size, log_output)
        _log_val(writer, history, step, val)
        if val["loss"] < best:
            best = val["loss"]
            checkpoint.save(ckpt_dir / "best", model, meta(step, val))
        wall += time.perf_counter() - t0
        checkpoint.save(last_ckpt, model, meta(step, val), optimizer)
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


def _log_val(writer: Any, history: Path, step: int, val: dict[str, float]) -> None:
    _append_history(history, {"step": step, **{f"val_{k}": v for k, v in val.items()}})
    for key, value in val.items():
        writer.add_scalar(f"val/{key}", value, step)

"""CNSR's training presets: milliseconds per training step, memory, and what a whole run costs.

For each preset, its network is built as the trainer builds it (the room's channels) and
trained for ``--steps`` steps on synthetic batches of the preset's shape (B scenes × K observed
views + a query view at the preset's size; radiance, normals, positions and ids in their
ranges): the cnsr task's own loss, backward and optimiser step, the batch already on the
device (loading is not timed). Reported: the median step time after ``--warmup`` steps, steps
per second, peak device memory, the hours the preset's ``steps`` would take at that rate, and
the milliseconds of one query view shaded at inference (B = 1, K views encoded).
On a GPU it also checks each network's forward pass against the same weights on the CPU
(fp32, TF32 off for the check; GQN draws its latents, so only its shape is compared).

    python benchmarks/cnsr_train_speed.py --device cuda
    python benchmarks/cnsr_train_speed.py --device cpu --presets cnsr-cpu
"""

from __future__ import annotations

import argparse
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, record  # noqa: E402

import neuralshade.tasks.cnsr  # noqa: E402, F401  (registers the task without entry points)
from neuralshade.config import load_yaml  # noqa: E402
from neuralshade.data.sources.room import SCHEMA  # noqa: E402
from neuralshade.models import build  # noqa: E402
from neuralshade.task import get_task  # noqa: E402
from neuralshade.tasks.cnsr import cnsr_options  # noqa: E402
from neuralshade.train import load_config, merge_args  # noqa: E402

PRESETS = ("cnsr-cpu", "cnsr-pixel-gpu", "cnsr-unet-gpu", "cnsr-gqn-gpu")


def preset(name: str):
    return load_config(load_yaml(str(resources.files("neuralshade") / "configs" / f"{name}.yaml")))


def batch_of(config, size: int, device: torch.device, seed: int = 0) -> dict[str, torch.Tensor]:
    """A synthetic batch of the preset's shape, values in each buffer's range."""
    g = torch.Generator().manual_seed(seed)
    opts = cnsr_options(config.options)
    b, k = config.batch_size, opts.views_per_scene - 1

    def buffer(name: str, lead: tuple[int, ...]) -> torch.Tensor:
        c = SCHEMA[name].channels
        shape = (*lead, c, size, size)
        if name.startswith("beauty"):
            return torch.empty(shape).exponential_(2.0, generator=g)
        if name.startswith("normal"):
            n = torch.randn(shape, generator=g)
            return n / n.norm(dim=-3, keepdim=True)
        if name == "position":
            return (torch.rand(shape, generator=g) - 0.5) * 6
        return torch.rand(shape, generator=g)

    out = {f"observed/{n}": buffer(n, (b, k)) for n in opts.observation_passes}
    out.update({f"query/{n}": buffer(n, (b,)) for n in (*config.inputs, *config.targets)})
    out["observed_pose"] = torch.randn(b, k, 16, generator=g)
    out["query_pose"] = torch.randn(b, 16, generator=g)
    out["factor"] = torch.tensor(0)
    return {key: v.to(device) for key, v in out.items()}


def network(config) -> torch.nn.Module:
    task = get_task("cnsr")

    def channels(names):
        return sum(SCHEMA[n].channels for n in names)

    return build("cnsr", **merge_args(task.model_args("net", config, channels),
                                      config.models["net"].args))  # fmt: skip


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(name: str, size: int, steps: int, warmup: int, device: torch.device) -> dict:
    config = preset(name)
    task = get_task("cnsr")
    torch.manual_seed(0)
    model = network(config)
    out: dict[str, Any] = {"size": size, "batch_size": config.batch_size,
                           "parameters": sum(p.numel() for p in model.parameters()),
                           "preset_steps": config.steps}  # fmt: skip
    batch = batch_of(config, size, device)
    if device.type == "cuda":
        out["parity"] = parity(model, config, batch, device)
    model = model.to(device).train()
    opt = config.optimizer
    optimizer = torch.optim.AdamW(model.parameters(), lr=opt.lr, betas=opt.betas,
                                  weight_decay=opt.weight_decay)  # fmt: skip
    nets = {"net": model}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for step in range(warmup + steps):
        batch["factor"].fill_(step % 3)
        sync(device)
        start = time.perf_counter()
        for _, loss in task.train_step(nets, batch, config):
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        sync(device)
        if step >= warmup:
            times.append(time.perf_counter() - start)
    ms = float(np.median(times)) * 1e3
    out.update({"ms_per_step": ms, "steps_per_second": 1e3 / ms,
                "hours_for_preset_steps": config.steps * ms / 3.6e6,
                "final_loss": float(loss.detach())})  # fmt: skip
    if device.type == "cuda":
        out["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    out["infer_ms_per_view"] = inference_ms(model, config, batch, steps, device)
    return out


def inference_ms(model, config, batch, repeats: int, device: torch.device) -> float:
    """Median milliseconds of one query view shaded from its K observed views (B = 1)."""
    from neuralshade.tasks.cnsr import observations, queries

    opts = cnsr_options(config.options)
    one = {k: v[:1] if v.ndim else v for k, v in batch.items()}
    args = (observations(one, opts), one["observed_pose"],
            queries(one, config.inputs), one["query_pose"])  # fmt: skip
    model.eval()
    times = []
    with torch.inference_mode():
        for i in range(repeats + 3):
            sync(device)
            start = time.perf_counter()
            model(*args)
            sync(device)
            if i >= 3:
                times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def parity(model, config, batch, device) -> dict[str, Any]:
    """The forward pass on the device against the CPU's, same weights and inputs."""
    from neuralshade.tasks.cnsr import observations, queries

    opts = cnsr_options(config.options)
    model.eval()

    def run(m, b):
        with torch.no_grad():
            return m(observations(b, opts), b["observed_pose"],
                     queries(b, config.inputs), b["query_pose"])[0].float().cpu()  # fmt: skip

    cpu_batch = {k: v.cpu() for k, v in batch.items()}
    reference = run(model.cpu(), cpu_batch)
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        there = run(model.to(device), batch)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
        model.cpu()
    if type(model.generator).__name__ == "GQNGenerator":
        return {"compared": False, "shape_equal": there.shape == reference.shape}
    diff = float((there - reference).abs().max())
    scale = float(reference.abs().max())
    return {"compared": True, "max_abs_diff": diff, "max_abs_output": scale,
            "relative": diff / max(scale, 1e-12)}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--steps", type=int, default=20, help="timed steps (default 20)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (5)")
    parser.add_argument("--out", default=None, help="the JSON (default benchmarks/results/...)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    out = Path(args.out) if args.out else RESULTS / f"cnsr_train_speed_{device.type}.json"
    results = {}
    for name in args.presets:
        size = 32 if name == "cnsr-cpu" else 64  # the presets' datasets' sizes
        results[name] = measure(name, size, args.steps, args.warmup, device)
        r = results[name]
        print(f"{name}: {r['ms_per_step']:.1f} ms/step ({r['steps_per_second']:.1f}/s), "
              f"{r['hours_for_preset_steps']:.1f} h for {r['preset_steps']} steps"
              + (f", parity {r['parity']}" if "parity" in r else ""), flush=True)  # fmt: skip
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    record(out, "cnsr_train_speed", False, {"device": device_name, "presets": results})


if __name__ == "__main__":
    main()

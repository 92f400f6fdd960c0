"""The light-conditioned ao2d network over the whole range of lights it was trained on.

Every figure comes from this one run, on this machine:

- **held-out images**: the test split of the ao2d-light dataset (each image its own random
  mask, light azimuth, elevation and shape height), each model as ``neuralshade shade`` runs it
  (whole images); mean L1 and PSNR against the reference render (sRGB in [0, 1], as stored);
- **sweep**: ``--masks`` fresh masks (drawn from seeds the dataset never used) rendered by the
  reference renderer at every azimuth in ``--azimuth-step`` steps × elevations 20°–70° in 10°
  steps, at the default height 24 px, and at every height 12–36 px in 6 px steps under the
  fixed model's light; L1 per (azimuth, elevation) cell and per height, the mean, and the worst
  cell against it (the issue's bar: no angle worse than 2× the mean);
- **the fixed model's own light** (azimuth 135°, elevation 30°, height 24 px): the fixed-light
  ``ao2d-unet-cpu`` against the light-conditioned models on the sweep's masks, which says
  which `shade` should run there;
- **speed**: milliseconds per image at 256² and 512² on CPU, the fixed model and every light
  model taking turns in the same rounds (their ratio is the figure);
- a plot of L1 against azimuth and elevation, and a grid of one mask under several lights
  (network | reference).

    python benchmarks/ao2d_light.py --model film=runs/unet-light-cpu/checkpoints/best.safetensors
    python benchmarks/ao2d_light.py --quick --data /tmp/ao2d-light   # smoke test

Without ``--model`` the bundled ``ao2d-unet-light-cpu`` is measured. The JSON goes to
``benchmarks/results/ao2d_light.json`` (``_quick`` with ``--quick``), the plot and the grid to
``docs/images/`` (beside the JSON with ``--quick``; ``--images`` elsewhere).

The comparison of the two ways to give the network the light (FiLM, ``condition: 4``, against
constant input channels, ``condition: 0``) was a pilot at equal steps on a 900-image subset::

    python benchmarks/ao2d_light.py --data data/ao2d-light-900 \
        --model film=runs/pilot-film/checkpoints/best.safetensors \
        --model channels=runs/pilot-channels/checkpoints/best.safetensors \
        --out benchmarks/results/ao2d_light_pilot.json --images /tmp/pilot
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import RESULTS, interleaved_ms, record  # noqa: E402
from tqdm import tqdm  # noqa: E402

from neuralshade.data.datasets import BufferDataset  # noqa: E402
from neuralshade.data.generate import generate, load_config  # noqa: E402
from neuralshade.data.sources.ao2d import render_params  # noqa: E402
from neuralshade.imageio import to_uint8, write_png  # noqa: E402
from neuralshade.infer import bundled_models  # noqa: E402
from neuralshade.masks import MaskConfig, random_mask  # noqa: E402
from neuralshade.metrics import psnr  # noqa: E402
from neuralshade.render.heightfield import render  # noqa: E402
from neuralshade.shading import DEFAULT_MODEL, LIGHT_MODEL, load_model, shade_mask  # noqa: E402
from neuralshade.tasks.ao2d import longest_reach, render_settings  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs" / "images"
ELEVATIONS = (20, 30, 40, 50, 60, 70)
HEIGHTS = (12, 18, 24, 30, 36)
FIXED = {"light_azimuth": 135.0, "light_elevation": 30.0, "height": 24.0}
MASK_SEED = 1 << 20  # fresh masks: the datasets draw theirs from (seed, index) streams
GRID_LIGHTS = [(135, 30, 24), (45, 60, 24), (270, 20, 30), (0, 45, 12)]


def reference(mask: np.ndarray, base: Any, light: dict[str, float]) -> np.ndarray:
    """The reference render under ``light``, as the dataset stores it (8-bit sRGB): (H, W, 3)."""
    params = base.model_copy(update=light)
    beauty = render(mask, params, seed=0).beauty.permute(1, 2, 0).float().cpu().numpy()
    return to_uint8(beauty).astype(np.float32) / 255


def held_out(models: dict[str, Any], root: Path, limit: int | None) -> dict[str, Any]:
    """Mean L1 and PSNR of every model on the test split, and each image's light."""
    data = BufferDataset(root, "test", ["source", "target"], crop=None)
    n = len(data) if limit is None else min(limit, len(data))
    per_model: dict[str, list[float]] = {name: [] for name in models}
    psnrs: dict[str, list[float]] = {name: [] for name in models}
    lights = []
    for i in tqdm(range(n), desc="held-out", leave=False):
        batch = data[i]
        params = render_params(data.config, data.record(i))
        light = {k: float(getattr(params, k)) for k in FIXED}
        lights.append(light)
        mask, target = batch["source"][0].numpy(), batch["target"]
        for name, (net, label) in models.items():
            pred = torch.from_numpy(shade_mask(net, mask, light=light, name=label))
            pred = pred.permute(2, 0, 1)[None]
            per_model[name].append(float((pred - target[None]).abs().mean()))
            psnrs[name].append(float(psnr(pred, target[None])))
    return {
        "images": n,
        "lights": lights,
        "models": {
            name: {
                "l1": float(np.mean(per_model[name])),
                "psnr": float(np.mean(psnrs[name])),
                "l1_per_image": per_model[name],
            }
            for name in models
        },
    }


def sweep(models: dict[str, Any], masks: list[np.ndarray], base: Any, step: int) -> dict:
    """L1 of every model per (azimuth, elevation) at height 24 and per height at the fixed
    model's light, on fresh masks rendered for each."""
    azimuths = list(range(0, 360, step))
    cells = [(a, e, 24.0) for e in ELEVATIONS for a in azimuths]
    cells = list(dict.fromkeys([*cells, *((135.0, 30.0, float(h)) for h in HEIGHTS)]))
    l1: dict[str, dict[tuple, float]] = {name: {} for name in models}
    for a, e, h in tqdm(cells, desc="sweep", leave=False):
        light = {"light_azimuth": float(a), "light_elevation": float(e), "height": h}
        errors: dict[str, list[float]] = {name: [] for name in models}
        for mask in masks:
            truth = reference(mask, base, light)
            for name, (net, label) in models.items():
                pred = shade_mask(net, mask, light=light, name=label)
                errors[name].append(float(np.abs(pred - truth).mean()))
        for name in models:
            l1[name][(a, e, h)] = float(np.mean(errors[name]))
    out: dict[str, Any] = {"azimuths": azimuths, "elevations": list(ELEVATIONS),
                           "heights": list(HEIGHTS), "masks": len(masks), "models": {}}  # fmt: skip
    for name in models:
        grid = [[l1[name][(a, e, 24.0)] for a in azimuths] for e in ELEVATIONS]
        heights = [l1[name][(135.0, 30.0, float(h))] for h in HEIGHTS]
        mean = float(np.mean(grid))
        out["models"][name] = {
            "l1_grid": grid,  # [elevation][azimuth]
            "l1_by_height": heights,
            "mean": mean,
            "worst": float(np.max(grid)),
            "worst_over_mean": float(np.max(grid) / mean),
            "worst_cell": _worst_cell(grid, azimuths),
        }
    return out


def _worst_cell(grid: list[list[float]], azimuths: list[int]) -> dict[str, float]:
    e, a = np.unravel_index(int(np.argmax(grid)), np.shape(grid))
    return {"light_azimuth": azimuths[a], "light_elevation": ELEVATIONS[e]}


def at_fixed_light(models: dict[str, Any], masks: list[np.ndarray], base: Any) -> dict:
    """L1 at the fixed model's own light: the fixed model and every light model."""
    out = {}
    truths = [reference(m, base, FIXED) for m in masks]
    for name, (net, label) in models.items():
        errors = [
            float(np.abs(shade_mask(net, m, light=FIXED, name=label) - t).mean())
            for m, t in zip(masks, truths, strict=True)
        ]
        out[name] = float(np.mean(errors))
    return out


def speed(models: dict[str, Any], sizes: list[int], repeats: int) -> dict[str, Any]:
    """Median ms per image of every model, all taking turns, per size; ratios to the fixed."""
    out = {}
    rng = np.random.default_rng(MASK_SEED + 1)
    for size in sizes:
        mask = random_mask(size, rng, MaskConfig()).astype(np.float32)
        light = {"light_azimuth": 60.0, "light_elevation": 40.0, "height": 24.0}
        calls = {}
        for name, (net, label) in models.items():
            own = FIXED if name == "fixed" else light
            calls[name] = lambda n=net, lab=label, li=own, m=mask: shade_mask(
                n, m, light=li, name=lab
            )
        ms = interleaved_ms(calls, repeats)
        out[str(size)] = {"ms": ms, "over_fixed": {k: v / ms["fixed"] for k, v in ms.items()}}
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    """L1 against azimuth, one line per elevation, and against height, for each light model."""
    sw = result["sweep"]
    names = [n for n in sw["models"] if n != "fixed"]
    fig, axes = plt.subplots(len(names), 2, figsize=(11, 3.6 * len(names)), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 1]})  # fmt: skip
    for row, name in zip(axes, names, strict=True):
        m = sw["models"][name]
        colours = plt.cm.viridis(np.linspace(0, 0.9, len(sw["elevations"])))
        for e, line, c in zip(sw["elevations"], m["l1_grid"], colours, strict=True):
            row[0].plot(sw["azimuths"], line, "o-", color=c, ms=3, label=f"elevation {e}°")
        row[0].axhline(m["mean"], color="k", ls="--", lw=1, label=f"mean {m['mean']:.4f}")
        row[0].axhline(2 * m["mean"], color="r", ls=":", lw=1, label="2 × mean")
        row[0].set(xlabel="light azimuth (°)", ylabel="L1 (sRGB)", xticks=sw["azimuths"][::2],
                   title=f"{name}: L1 against azimuth and elevation (height 24 px)")  # fmt: skip
        row[0].set_ylim(bottom=0)
        row[0].legend(fontsize=7, ncol=2)
        row[1].plot(sw["heights"], m["l1_by_height"], "o-", color="tab:orange")
        row[1].set(xlabel="shape height (px)", ylabel="L1", title="against height (135°, 30°)")
        row[1].set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def grid(models: dict[str, Any], mask: np.ndarray, base: Any, path: Path) -> None:
    """One mask under several lights: a row per light, network | reference | error × 4."""
    name, (net, label) = next((n, m) for n, m in models.items() if n != "fixed")
    rows = []
    for a, e, h in GRID_LIGHTS:
        light = {"light_azimuth": float(a), "light_elevation": float(e), "height": float(h)}
        truth = reference(mask, base, light)
        pred = shade_mask(net, mask, light=light, name=label)
        error = np.repeat(np.clip(np.abs(pred - truth).mean(2, keepdims=True) * 4, 0, 1), 3, 2)
        gap = np.ones((mask.shape[0], 4, 3), np.float32)
        rows.append(np.concatenate([pred, gap, truth, gap, error], axis=1))
    sep = np.ones((4, rows[0].shape[1], 3), np.float32)
    write_png(path, np.concatenate([x for r in rows for x in (r, sep)][:-1], axis=0))


def quick_dataset(root: Path) -> Path:
    if not (root / "manifest.json").exists():
        config = load_config({"count": 8, "size": 64, "seed": 3,
                              "split": {"train": 0.5, "val": 0.25, "test": 0.25},
                              "vary": {"light_azimuth": [0, 360], "light_elevation": [20, 70],
                                       "height": [12, 36]}}, source="ao2d")  # fmt: skip
        generate(root, config, quiet=True)
    return root


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--data", default="data/ao2d-light", help="the ao2d-light dataset")
    parser.add_argument(
        "--model", action="append", default=[], metavar="NAME=PATH",
        help=f"a light-conditioned model (default: bundled {LIGHT_MODEL})",
    )  # fmt: skip
    parser.add_argument("--masks", type=int, default=16, help="fresh masks in the sweep")
    parser.add_argument("--azimuth-step", type=int, default=30, help="degrees between azimuths")
    parser.add_argument("--repeats", type=int, default=15, help="timing rounds")
    parser.add_argument("--out", default=None, help="the JSON (default benchmarks/results/...)")
    parser.add_argument("--images", default=None, help="folder of the plot and grid (docs/images)")
    args = parser.parse_args(argv)

    torch.set_grad_enabled(False)
    out = Path(args.out or RESULTS / f"ao2d_light{'_quick' if args.quick else ''}.json")
    images = Path(args.images) if args.images else out.parent if args.quick else DOCS
    pairs = [m.split("=", 1) for m in args.model]
    if not pairs and LIGHT_MODEL in bundled_models():
        pairs = [["light", LIGHT_MODEL]]
    if not pairs:
        parser.error(f"no --model given and no bundled {LIGHT_MODEL}")
    models = {"fixed": (load_model(DEFAULT_MODEL, "cpu")[0], DEFAULT_MODEL)}
    models.update({name: (load_model(path, "cpu")[0], path) for name, path in pairs})
    light_models = {k: v for k, v in models.items() if k != "fixed"}
    first = next(iter(light_models.values()))[0].sidecar  # the first light model's
    base = render_settings(first)
    size = 64 if args.quick else 256
    rng = np.random.default_rng(MASK_SEED)
    masks = [random_mask(size, rng, MaskConfig()).astype(np.float32) for _ in range(args.masks)]
    root = quick_dataset(Path(args.data)) if args.quick else Path(args.data)
    step = 120 if args.quick else args.azimuth_step
    repeats = 2 if args.quick else args.repeats

    result: dict[str, Any] = {
        "models": {name: label for name, (_, label) in models.items()},
        # the longest shadow (or AO radius) over the trained ranges, pixels
        "reach_px": longest_reach(first),
        "ranges": first.get("vary", {}),
        # what each light model's training took (its checkpoint's own record)
        "training": {
            name: {"step": net.sidecar.get("step"), "wall_seconds": net.sidecar.get("wall_seconds")}
            for name, (net, _) in light_models.items()
        },
        "held_out": held_out(light_models, root, None),
        "sweep": sweep(light_models, masks[:1] if args.quick else masks, base, step),
        "at_fixed_light": at_fixed_light(models, masks, base),
        "speed": speed(models, [64] if args.quick else [256, 512], repeats),
    }
    images.mkdir(parents=True, exist_ok=True)
    plot_path = images / "ao2d_light_error.png"
    grid_path = images / "ao2d_light_grid.png"
    plot(result, plot_path)
    grid(models, masks[0], base, grid_path)
    result["images"] = {"plot": str(plot_path), "grid": str(grid_path)}
    for name in light_models:
        h, s = result["held_out"]["models"][name], result["sweep"]["models"][name]
        print(
            f"{name}: held-out L1 {h['l1']:.4f} PSNR {h['psnr']:.2f}; sweep mean "
            f"{s['mean']:.4f}, worst {s['worst']:.4f} ({s['worst_over_mean']:.2f}x at "
            f"{s['worst_cell']})"
        )
    print("at the fixed light:", {k: round(v, 5) for k, v in result["at_fixed_light"].items()})
    for size_, sp in result["speed"].items():
        print(f"{size_}²: ms {sp['ms']} ratio {sp['over_fixed']}")
    record(out, "ao2d_light", args.quick, result)


if __name__ == "__main__":
    main()

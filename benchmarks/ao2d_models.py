"""ao2d networks side by side: quality, artifacts and speed, against our renderer and Mitsuba 3.

Every figure comes from this one run, on this machine:

- quality on whole images of the dataset's test split (rendered here from the dataset config
  the models were trained on, so no dataset is needed): mean L1, PSNR and SSIM of the network
  on the bare image (as ``neuralshade eval``), and L1 as ``neuralshade shade`` runs it;
- the artifact measure: mean error in 4 px bins of distance, on larger random masks and two
  large shapes: on the ground by distance to the nearest shape and to the shape that casts
  the pixel's shadow (marching toward the light), on shape tops by distance to the nearest
  ground; a network that stops seeing an edge leaves a step where its receptive field ends;
- parameters, GFLOPs per megapixel (torch's FLOP counter: 2 per multiply-add), milliseconds
  per image at two sizes for the networks as ``neuralshade shade`` loads them (median of
  several after a warm-up, ``torch.inference_mode``), the achieved GFLOP/s and a large fp32
  matrix multiply's GFLOP/s for scale; and the seconds per training step of each network's
  own recipe, timed here;
- our renderer's time for the same images and Mitsuba 3's time to trace the same AO and shadow
  image (256 AO rays, one shadow ray per pixel; its JIT compile and mesh build are reported
  apart): the speed-ups are ratios within this run;
- for the last model (the candidate default), from its checkpoint as saved, the inference
  paths: no_grad against inference_mode, BatchNorm fused into the convs, channels-last,
  torch.compile and ONNX Runtime (exported for the one size, and the any-size file of
  ``neuralshade export``), each with its largest difference from the plain output.

    python benchmarks/ao2d_models.py            # the recorded figures
    python benchmarks/ao2d_models.py --quick    # smoke test: few, small images

Models default to the bundled ``ao2d-resconv-cpu`` and ``ao2d-unet-cpu``; ``--model
NAME=PATH`` (repeatable) compares checkpoints instead.
"""

from __future__ import annotations

import argparse
import copy
import math
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import RESULTS, interleaved_ms, record, timed
from torch.utils.flop_counter import FlopCounterMode

from neuralshade import checkpoint
from neuralshade.data.generate import render_sample, split_indices
from neuralshade.data.sources.ao2d import DatasetConfig
from neuralshade.export import export_onnx, quiet_exporter
from neuralshade.infer import model_path
from neuralshade.masks import random_mask
from neuralshade.metrics import compute
from neuralshade.models import build
from neuralshade.render import mitsuba_scene
from neuralshade.render.heightfield import RenderParams, mask_sdf, render
from neuralshade.shading import load_model, shade_mask

DEFAULT_MODELS = {"resconv": "ao2d-resconv-cpu", "unet": "ao2d-unet-cpu"}
BIN_PX = 4
MAX_DISTANCE_PX = 96
MASK_SEED = 10_000  # masks for the artifact measure: not in the dataset (seeds 0..count-1)

PLAN = {
    # test images, artifact masks, their size, timing sizes, repeats, Mitsuba rays/px
    True: {"test": 4, "masks": 2, "mask_size": 256, "sizes": (128, 256), "repeats": 3, "spp": 32},
    False: {
        "test": 100,
        "masks": 8,
        "mask_size": 512,
        "sizes": (512, 1024),
        "repeats": 10,
        "spp": 256,
    },
}


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """fp32 GFLOP/s of an n×n by n×n matrix multiply (median of ``repeats``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / float(np.median(timed(lambda: a @ b, repeats, warmup=2))) / 1e9


def count_flops(model: torch.nn.Module, size: int) -> int:
    """FLOPs (2 per multiply-add) of one forward pass on a (1, C, size, size) input."""
    x = torch.zeros(1, model.in_channels, size, size)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(x)
    return counter.get_total_flops()


METRICS = ("l1", "psnr", "ssim")  # eval's, with PSNR capped at 100 dB as eval does


def test_images(config: DatasetConfig, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The first ``count`` test samples: (mask (H, W) float32, target (H, W, 3) float32)."""
    out = []
    for index in split_indices(config.seed, config.count, config.split)["test"][:count]:
        sample = render_sample(config, index)
        out.append((sample["source"] / np.float32(255), sample["target"] / np.float32(255)))
    return out


def chw(image: np.ndarray) -> torch.Tensor:
    """(H, W) or (H, W, C) array to a (1, C, H, W) tensor."""
    t = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
    return (t[None] if t.ndim == 2 else t.permute(2, 0, 1))[None]


def quality(model: torch.nn.Module, images: list) -> dict[str, Any]:
    """Means over the images: bare-network L1/PSNR/SSIM, and L1 as ``shade`` runs it."""
    bare, shaded = [], []
    for mask, target in images:
        with torch.inference_mode():
            pred = model(chw(mask)).clamp(0, 1)
        bare.append({k: float(v[0]) for k, v in compute(METRICS, pred, chw(target)).items()})
        shaded.append(float(np.abs(shade_mask(model, mask) - target).mean()))
    return {
        **{k: float(np.mean([m[k] for m in bare])) for k in ("l1", "psnr", "ssim")},
        "shade_l1": float(np.mean(shaded)),
    }


def caster_distance(mask: np.ndarray, params: RenderParams, limit: float) -> np.ndarray:
    """Per pixel, the distance (px) toward the light to the first shape pixel; inf if none.

    Marches every pixel centre in half-pixel steps along the light's azimuth on screen, up to
    ``limit``. A ground pixel is in the shape's shadow when this is below the shadow length
    (height / tan(elevation)), so binning by it lines the errors up with the shadows' ends.
    """
    dx, dy = params.light_direction()[:2]
    norm = math.hypot(dx, dy)
    h, w = mask.shape
    inside = mask >= 0.5
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    out = np.full((h, w), np.inf, np.float32)
    for t in np.arange(0.5, limit + 0.5, 0.5, dtype=np.float32):
        col = np.floor(xs + t * dx / norm).astype(np.int64)
        row = np.floor(ys + t * dy / norm).astype(np.int64)
        valid = (col >= 0) & (col < w) & (row >= 0) & (row < h)
        hit = np.zeros((h, w), bool)
        hit[valid] = inside[row[valid], col[valid]]
        out[hit & np.isinf(out)] = t
    return out


def artifact_masks(count: int, size: int, config: DatasetConfig) -> list[np.ndarray]:
    """Random masks of the dataset's kind, then a large disc and a large rectangle.

    The two large shapes have tops far from any edge (where a network that sees too little
    cannot tell a top from ground) and long straight shadows.
    """
    rng = np.random.default_rng(MASK_SEED)
    masks = [random_mask(size, rng, config.masks) for _ in range(count)]
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    c, r = size / 2, 0.3 * size
    masks.append(((xs - c) ** 2 + (ys - c) ** 2 < r**2).astype(np.float32))
    box = np.zeros((size, size), np.float32)
    box[size // 5 : size * 4 // 5, size // 4 : size * 3 // 4] = 1
    masks.append(box)
    return masks


ARTIFACT_KINDS = {
    "ground_nearest_shape": "ground, by distance to the nearest shape",
    "ground_toward_light": "ground, by distance to the shadow's caster (toward the light)",
    "top_nearest_ground": "shape tops, by distance to the nearest ground",
}


def error_by_distance(
    models: dict[str, torch.nn.Module], masks: list[np.ndarray], params: RenderParams
) -> dict[str, Any]:
    """Mean |error| per 4 px distance bin, per model, three ways; and the renderer's times.

    Ground pixels by distance to the nearest shape (the exact SDF) and by distance to the
    shape that casts their shadow, toward the light (:func:`caster_distance`), where every
    shadow ends at the same distance; shape tops by distance to the nearest ground. A network
    that stops seeing an edge shows a step where its receptive field ends.
    """
    edges = np.arange(0, MAX_DISTANCE_PX + BIN_PX, BIN_PX)
    nbins = len(edges) - 1
    sums = {k: {name: np.zeros(nbins) for name in models} for k in ARTIFACT_KINDS}
    counts = {k: np.zeros(nbins) for k in ARTIFACT_KINDS}
    seconds = []
    for mask in masks:
        start = time.perf_counter()
        target = render(mask, params, quiet=True).numpy()["beauty"]
        seconds.append(time.perf_counter() - start)
        sdf = mask_sdf(mask)
        distances = {
            "ground_nearest_shape": (sdf, sdf > 0),
            "ground_toward_light": (caster_distance(mask, params, edges[-1]), sdf > 0),
            "top_nearest_ground": (-sdf, sdf < 0),
        }
        errors = {}
        for name, model in models.items():
            with torch.inference_mode():
                pred = model(chw(mask)).clamp(0, 1)[0].permute(1, 2, 0).numpy()
            errors[name] = np.abs(pred - target).mean(axis=2)
        for kind, (distance, where) in distances.items():
            which = np.digitize(distance, edges) - 1  # bin k: edges[k] <= d < edges[k + 1]
            keep = where & (which >= 0) & (which < nbins)
            counts[kind] += np.bincount(which[keep], minlength=nbins)
            for name, error in errors.items():
                sums[kind][name] += np.bincount(which[keep], error[keep], minlength=nbins)
    curves = {
        kind: {name: (v / np.maximum(counts[kind], 1)).tolist() for name, v in sums[kind].items()}
        for kind in ARTIFACT_KINDS
    }
    return {
        "bin_px": BIN_PX,
        "bin_starts_px": edges[:-1].tolist(),
        "pixels_per_bin": {k: counts[k].astype(int).tolist() for k in ARTIFACT_KINDS},
        "mean_abs_error": curves,
        "largest_rise_between_bins": {  # past the first 8 px, where errors fall off the edge
            kind: {name: float(np.max(np.diff(c)[2:])) for name, c in curves[kind].items()}
            for kind in ARTIFACT_KINDS
        },
        "renderer_seconds": seconds,
    }


def train_step_seconds(info: dict[str, Any], repeats: int) -> dict[str, Any]:
    """Seconds per optimizer step of the model's own training recipe (batch, crop), timed here.

    A fresh network of the same architecture, AdamW and L1 on random data of the recipe's
    shape: the cost of a step does not depend on the data, and this keeps both networks'
    training costs comparable even when their runs shared the machine with other work.
    """
    config = info["config"]
    model = build(info["model"]["name"], **info["model"]["args"]).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    crop, batch = config["crop"], config["batch_size"]
    x = torch.rand(batch, model.in_channels, crop, crop)
    y = torch.rand(batch, model.out_channels, crop, crop)

    def step():
        opt.zero_grad()
        (model(x) - y).abs().mean().backward()
        opt.step()

    seconds = float(np.median(timed(step, repeats, warmup=2)))
    return {
        "batch": batch,
        "crop": crop,
        "seconds_per_step": seconds,
        "steps": config["steps"],
        "training_seconds_alone": seconds * config["steps"],
    }


def networks_ms(models: dict[str, torch.nn.Module], size: int, repeats: int) -> dict[str, float]:
    """Milliseconds of one (1, C, size, size) forward pass of each model, in inference_mode."""
    x = torch.rand(1, next(iter(models.values())).in_channels, size, size)
    with torch.inference_mode():
        return interleaved_ms({name: partial(m, x) for name, m in models.items()}, repeats)


def inference_paths(
    model: torch.nn.Module, checkpoint_path: Path, size: int, repeats: int
) -> dict[str, Any]:
    """Milliseconds and largest output difference of each way to run the same network."""
    import onnxruntime as ort

    from neuralshade.models.unet import fuse_batch_norm

    x = torch.rand(1, model.in_channels, size, size)
    with torch.no_grad():
        plain = model(x)
    fused = fuse_batch_norm(copy.deepcopy(model))
    last = copy.deepcopy(fused).to(memory_format=torch.channels_last)
    x_last = x.contiguous(memory_format=torch.channels_last)

    def under(context, net, xx):
        def call():
            with context():
                return net(xx)

        return call

    start = time.perf_counter()
    compiled = torch.compile(copy.deepcopy(fused), dynamic=False)
    under(torch.inference_mode, compiled, x)()
    compile_seconds = time.perf_counter() - start

    def session(path: Path):
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        run = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feed = {run.get_inputs()[0].name: x.numpy()}
        return lambda: torch.from_numpy(run.run(None, feed)[0])

    with tempfile.TemporaryDirectory() as tmp:
        static, dynamic = Path(tmp) / "static.onnx", Path(tmp) / "dynamic.onnx"
        with quiet_exporter():
            torch.onnx.export(fused, (x,), static, dynamo=True, verbose=False)
        export_onnx(checkpoint_path, dynamic, check=False)
        calls = {
            "no_grad": under(torch.no_grad, model, x),
            "inference_mode": under(torch.inference_mode, model, x),
            "inference_mode + fused BN": under(torch.inference_mode, fused, x),
            "inference_mode + fused BN + channels-last": under(torch.inference_mode, last, x_last),
            "torch.compile + fused BN": under(torch.inference_mode, compiled, x),
        }
        ms = interleaved_ms(calls, repeats)
        # ONNX Runtime in rounds of its own: two thread pools taking turns slow each other
        runtime = {
            "onnxruntime, fused BN, this size only": session(static),
            "onnxruntime, neuralshade export (any size)": session(dynamic),
        }
        ms |= interleaved_ms(runtime, repeats)
        calls |= runtime
        paths = {}
        for name, call in calls.items():
            diff = float((call() - plain).abs().max())
            paths[name] = {"ms": ms[name], "max_abs_diff": diff}
            print(f"  {name:44s} {ms[name]:8.1f} ms  max diff {diff:.1e}")
    paths["torch.compile + fused BN"]["compile_seconds"] = compile_seconds
    paths["onnxruntime"] = ort.__version__
    return paths


def mitsuba_seconds(mask: np.ndarray, params: RenderParams, spp: int, repeats: int) -> dict:
    """Mitsuba 3 tracing the same AO (``spp`` rays/px) and hard shadow; setup timed apart."""
    try:
        mi = mitsuba_scene.load_mitsuba()
    except Exception as exc:  # no Mitsuba or no usable LLVM: say so in the record
        print(f"Mitsuba unavailable: {exc}")
        return {"available": False, "reason": str(exc)}
    p = params.model_copy(update={"softness": 0.0, "ao_samples": spp})
    size = mask.shape
    start = time.perf_counter()
    shapes = mitsuba_scene.extrusion_shapes(mask_sdf(mask), p, voxel=0.5)
    scene = mitsuba_scene.build_scene(shapes, size, margin=4 * max(size))
    setup = time.perf_counter() - start
    start = time.perf_counter()
    mitsuba_scene.render_ao_shadow(scene, size, p)  # JIT-compiles the kernels
    first = time.perf_counter() - start
    times = timed(lambda: mitsuba_scene.render_ao_shadow(scene, size, p), repeats, warmup=0)
    return {
        "available": True,
        "variant": mi.variant(),
        "version": mi.__version__,
        "ao_rays_per_pixel": spp,
        "size": list(size),
        "median_ms": float(np.median(times)) * 1e3,
        "all_ms": [t * 1e3 for t in times],
        "mesh_and_bvh_seconds": setup,
        "first_call_seconds": first,
    }


def plot(curves: dict[str, Any], radii: dict[str, float], shadow_px: float, path: Path) -> None:
    """Error-by-distance curves (two panels), each network's receptive radius, the shadow."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.asarray(curves["bin_starts_px"]) + curves["bin_px"] / 2
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2), dpi=100)
    for ax, (kind, title) in zip(axes, ARTIFACT_KINDS.items(), strict=True):
        for k, (name, values) in enumerate(curves["mean_abs_error"][kind].items()):
            (line,) = ax.plot(x, values, marker="o", ms=3, label=name)
            if radii[name] <= x[-1]:
                ax.axvline(radii[name], color=line.get_color(), ls=":", lw=1.2)
                ax.annotate(
                    f"{name} sees to here",
                    (radii[name], 1 - 0.06 * (k + 1)),
                    xycoords=("data", "axes fraction"),
                    color=line.get_color(),
                    fontsize=8,
                    xytext=(3, 0),
                    textcoords="offset points",
                )
        if kind.startswith("ground"):
            ax.axvline(shadow_px, color="grey", ls="--", lw=1)
            ax.annotate(
                "shadows end",
                (shadow_px, 0.02),
                xycoords=("data", "axes fraction"),
                color="grey",
                fontsize=8,
                xytext=(3, 0),
                textcoords="offset points",
            )
        ax.set_xlabel("distance (px)")
        ax.set_ylabel("mean |network − renderer|")
        ax.set_title(title, fontsize=10)
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper right", bbox_to_anchor=(1, 0.85))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few, small images (smoke test)")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a model to compare (repeatable); default: the bundled two",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON output path")
    parser.add_argument("--plot", type=Path, default=None, help="error-by-distance PNG path")
    args = parser.parse_args(argv)
    plan = PLAN[args.quick]
    suffix = "_quick" if args.quick else ""
    out = args.out or RESULTS / f"ao2d_models{suffix}.json"
    plot_path = args.plot or (
        out.with_name("ao2d_error_by_distance_quick.png")
        if args.quick
        else Path(__file__).parents[1] / "docs" / "images" / "ao2d_error_by_distance.png"
    )
    named = dict(item.split("=", 1) for item in args.model) if args.model else DEFAULT_MODELS

    models, saved, infos = {}, {}, {}
    for name, path in named.items():
        models[name], infos[name] = load_model(path, "cpu")  # as shade runs it
        saved[name], _ = checkpoint.load(model_path(path))  # as trained: parameters, FLOPs
    config = DatasetConfig()  # the dataset every bundled model was trained on
    for name, info in infos.items():
        if info.get("render") != config.render.model_dump(mode="json"):
            raise SystemExit(
                f"{name} was trained on other render settings than the default "
                "dataset's; this benchmark compares models of the default dataset"
            )
    params = config.render

    print("matrix multiply: ", end="", flush=True)
    peak = matmul_gflops()
    print(f"{peak:.0f} GFLOP/s")

    rows = {}
    images = test_images(config, plan["test"])
    for name, model in saved.items():
        flops = count_flops(model, 512)
        rows[name] = {
            "model": infos[name]["model"],
            "parameters": sum(p.numel() for p in model.parameters()),
            "receptive_field_px": model.receptive_field,
            "gflops_per_megapixel": flops / 512**2 / 1e9 * 1e6,
            "test": quality(models[name], images),
            "training_wall_seconds": infos[name].get("wall_seconds"),
            "training_step": train_step_seconds(infos[name], plan["repeats"]),
            "training_steps": infos[name].get("step"),
        }
        print(f"{name}: test {rows[name]['test']}")

    masks = artifact_masks(plan["masks"], plan["mask_size"], config)
    curves = error_by_distance(models, masks, params)
    renderer_ms = {plan["mask_size"]: float(np.median(curves.pop("renderer_seconds"))) * 1e3}

    speed = {}
    for size in plan["sizes"]:
        if size not in renderer_ms:
            mask = random_mask(size, np.random.default_rng(MASK_SEED - 1), config.masks)
            start = time.perf_counter()
            render(mask, params, quiet=True)
            renderer_ms[size] = (time.perf_counter() - start) * 1e3
        speed[size] = {"renderer_ms": renderer_ms[size]}
        for name, ms in networks_ms(models, size, plan["repeats"]).items():
            flops = rows[name]["gflops_per_megapixel"] * size**2 / 1e6 * 1e9
            speed[size][name] = {
                "ms": ms,
                "gflops_per_second": flops / ms / 1e6,
                "speedup_vs_renderer": renderer_ms[size] / ms,
            }
        print(f"{size}²: {speed[size]}")

    size = plan["sizes"][0]
    mitsuba = mitsuba_seconds(masks[0][:size, :size], params, plan["spp"], 3)
    names = list(models)
    best = names[-1]
    if mitsuba["available"]:
        for name in names:
            speed[size][name]["speedup_vs_mitsuba"] = mitsuba["median_ms"] / speed[size][name]["ms"]
    if len(names) > 1:
        for s in plan["sizes"]:
            speed[s][best]["speedup_vs_" + names[0]] = (
                speed[s][names[0]]["ms"] / speed[s][best]["ms"]
            )

    print(f"inference paths of {best} at {size}², from the checkpoint as saved:")
    paths = inference_paths(saved[best], model_path(named[best]), size, plan["repeats"])

    shadow_px = params.height / math.tan(math.radians(params.light_elevation))
    radii = {name: model.receptive_field / 2 for name, model in models.items()}
    plot(curves, radii, shadow_px, plot_path)

    result = {
        "models": {name: str(path) for name, path in named.items()},
        "plan": {**plan, "sizes": list(plan["sizes"])},
        "dataset": config.model_dump(mode="json") | {"test_images_used": len(images)},
        "matmul_gflops_per_second": peak,
        "networks": rows,
        "speed": {str(k): v for k, v in speed.items()},
        "mitsuba": mitsuba,
        "error_by_distance": curves,
        "shadow_length_px": shadow_px,
        "inference_paths": {"model": best, "size": size, "paths": paths},
        "plot": str(plot_path),
    }
    print(
        f"{'':10s} {'params':>8s} {'GFLOP/MP':>9s} {'L1':>7s} {'PSNR':>6s} {'SSIM':>6s} "
        + " ".join(f"{f'ms@{s}':>9s}" for s in plan["sizes"])
    )
    for name, row in rows.items():
        t = row["test"]
        print(
            f"{name:10s} {row['parameters']:8d} {row['gflops_per_megapixel']:9.1f} "
            f"{t['l1']:7.4f} {t['psnr']:6.2f} {t['ssim']:6.4f} "
            + " ".join(f"{speed[s][name]['ms']:9.1f}" for s in plan["sizes"])
        )
    print(f"renderer ms: {renderer_ms}; mitsuba ms at {size}²: {mitsuba.get('median_ms')}")
    record(out, "ao2d_models", args.quick, result)


if __name__ == "__main__":
    main()

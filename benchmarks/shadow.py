"""Shadows for inserted objects: ours (ARShadowGAN-like) against the baselines, DESOBA's metrics.

Every figure comes from this one run, on this machine, on the held-out (test) scenes of the
shadow dataset (whole pictures, renderer-exact masks):

- the methods, each given the picture without the object's shadow and the object's mask:
  ``input`` (the picture as given: no shadow), ``geometric`` (the light's image-space direction
  and the shadows' darkness estimated from the occluders and their shadows — the dataset's
  exact ``robject`` and ``rshadow``, an advantage no other method has — and the object's mask
  cast along it: :func:`neuralshade.baselines.cast_shadow.cast_shadow`),
  ``geometric_attention`` (the same caster given the attention maps, thresholded, of the
  ``--paired`` reference or else the first network with an attention block: what it gives
  where no true maps exist, as on a user's picture), ``l2`` (the same
  generator trained with L2 only, no attention, no GAN: preset ``shadow-l2-cpu``) and ``ours``
  (attention block + generator + discriminator as ARShadowGAN trains them: ``shadow-cpu``),
  each as ``neuralshade shadow`` runs it;
- DESOBA's metrics (Hong et al. 2022), per picture then averaged: GRMSE and GSSIM over the
  whole picture, LRMSE and LSSIM inside the object's true shadow (``objshadow`` >= 0.5: where
  it takes at least half the key light), RMSE on the 0–255 scale over pixels and channels;
  GBER and LBER of the predicted shadow mask (pixels the method darkens by more than 10/255 in
  luma, the object's own pixels excluded; :func:`neuralshade.metrics.shadow_mask_from_images`)
  against the true one; pictures whose object casts no visible shadow count in the global
  metrics only;
- with ``--true-maps``, each attention network's generator also fed the dataset's true maps
  in place of its attention block's (``<name>_truemaps``: a diagnostic of what the block's
  errors cost, not in the grid or the timings);
- with ``--split val``, the validation scenes instead of the held-out ones (where a choice
  between checkpoints or blocks is made, so that the held-out scenes stay unseen by it);
- with ``--attention NAME=PATH``, attention blocks of stage 1 scored alone: their IoU, as
  they are and averaged with their reading of the mirrored picture (``iou_mirrored``,
  :class:`~neuralshade.models.arshadow.MirrorAveraged`: what ``options.mirror`` runs);
- each method against a reference (``--paired``, default ``ours``) scene by scene: the mean
  of method − reference on each metric and its 95 % bootstrap interval
  (:func:`neuralshade.metrics.paired_difference`): a gap whose interval spans 0 is within
  what the scenes' spread allows;
- the attention block's IoU on the occluders and on their shadows (its maps thresholded at
  0.5 against the true maps at 0.5; as the bundle runs it, mirror-averaged where its
  ``options.mirror`` says so), each mean with its 95 % bootstrap interval over the scenes,
  and for scale the IoU of the true maps moved one and two
  pixels (small, soft-edged shadows at 128² make the IoU fall fast with any misplacement);
- milliseconds per picture on CPU at 128² and 256², all methods in the same rounds;
- an image grid: input | geometric | L2 | ours | ground truth, on held-out scenes.

Our data is not DESOBA's (renders, not photos; exact masks): the published figures
(ARShadowGAN GRMSE 6.48 / LRMSE 75.1 on DESOBA) are for scale only; compare our methods with
each other here.

    python benchmarks/shadow.py --model ours=runs/shadow-cpu/checkpoints/best.safetensors \\
        --model l2=runs/shadow-l2-cpu/checkpoints/best.safetensors
    python benchmarks/shadow.py --quick --data /tmp/shadow   # smoke test (a tiny dataset)

The bundled ``shadow-cpu`` and ``shadow-l2-cpu`` are scored as ``ours`` and ``l2`` unless a
``--model`` takes the name or ``--no-bundled`` is given. The JSON goes
to ``benchmarks/results/shadow.json`` (``_quick`` with ``--quick``) and the grid beside it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from common import RESULTS, interleaved_ms, record
from common import enlarged_picture as big
from torch import Tensor

from neuralshade.baselines.cast_shadow import cast_shadow
from neuralshade.checkpoint import load_networks
from neuralshade.data.datasets import BufferDataset
from neuralshade.data.generate import generate, load_config
from neuralshade.imageio import write_png
from neuralshade.infer import bundled_models, load_model, predict
from neuralshade.metrics import (
    balanced_error_rate,
    local_ber,
    masked_ssim,
    paired_difference,
    rmse,
    shadow_mask_from_images,
    ssim,
)
from neuralshade.models.arshadow import MirrorAveraged
from neuralshade.sheets import labelled
from neuralshade.task import get_task
from neuralshade.tasks.shadow import attention_maps, iou

DEFAULT_MODELS = {"l2": "shadow-l2-cpu", "ours": "shadow-cpu"}
LABELS = {"input": "input (no shadow)", "geometric": "geometric",
          "geometric_attention": "geometric, attention maps", "l2": "L2 U-Net",
          "ours": "ours (ARShadowGAN-like)", "perceptual": "with perceptual term",
          "predicted": "perceptual, own maps",
          "noadv": "no adversarial term",
          "ours_truemaps": "ours, true maps",
          "truth": "ground truth"}  # fmt: skip
BUFFERS = ["noshadow", "mask", "robject", "rshadow", "shadow", "objshadow"]
METRICS = ("grmse", "lrmse", "gssim", "lssim", "gber", "lber")
SHADOW = 0.5  # the true shadow: where the object takes at least half the key light
QUICK_DATA = {"count": 6, "size": 64, "seed": 0, "spp": 8, "supersample": 2,
              "split": {"train": 0.5, "val": 0.0, "test": 0.5}}  # fmt: skip


def network(net: torch.nn.Module):
    def call(s: dict[str, torch.Tensor]) -> torch.Tensor:
        return predict(net, {"noshadow": s["noshadow"][0], "mask": s["mask"][0]}, net.sidecar)[None]

    return call


def given_true_maps(net: torch.nn.Module):
    """The network's generator fed the dataset's true attention maps (what it was trained on)
    in place of its attention block's: how much its own maps cost. Pictures at the training
    size, as the held-out scenes are."""

    task = get_task("shadow")

    def call(s: dict[str, torch.Tensor]) -> torch.Tensor:
        maps = torch.cat([s["robject"], s["rshadow"]], 1)
        x = torch.cat([s["noshadow"] * 2 - 1, s["mask"], maps], 1)
        return task.finish((net.generator(x) + 1) / 2, s, net.sidecar)  # the object kept

    return call


def predicted_maps(block: torch.nn.Module, s: dict[str, torch.Tensor]) -> tuple[Tensor, Tensor]:
    """An attention block's occluder and occluder-shadow maps of a scene, thresholded at 0.5
    as the generator reads them at inference."""
    maps = attention_maps({"attention": block}, s["noshadow"], s["mask"], 0.5)
    return maps[:, :1], maps[:, 1:]


def methods(nets: dict[str, torch.nn.Module], true_maps: bool = False,
            reference: str = "ours") -> dict[str, Any]:  # fmt: skip
    out = {
        "input": lambda s: s["noshadow"],
        "geometric": lambda s: cast_shadow(s["noshadow"], s["mask"], s["robject"], s["rshadow"]),
    }
    readers = {k: n for k, n in nets.items() if getattr(n, "reads_maps", False)}
    block = readers.get(reference, next(iter(readers.values()), None))
    if block is not None:
        block = block.attention  # what a user without the true maps could run: the block's maps
        out["geometric_attention"] = lambda s: cast_shadow(s["noshadow"], s["mask"],
                                                           *predicted_maps(block, s))  # fmt: skip
    out |= {name: network(net) for name, net in nets.items()}
    if true_maps:
        out |= {f"{name}_truemaps": given_true_maps(net) for name, net in nets.items()
                if getattr(net, "reads_maps", False)}  # fmt: skip
    return out


def scores(pred: torch.Tensor, s: dict[str, torch.Tensor]) -> dict[str, float]:
    """DESOBA's metrics of one prediction (1, 3, H, W) in [0, 1]."""
    truth, region = s["shadow"], (s["objshadow"] >= SHADOW).float()
    outside = 1 - (s["mask"] > 0.5).float()
    predicted = shadow_mask_from_images(s["noshadow"], pred) * outside
    true_mask = region * outside
    out = {
        "grmse": float(rmse(pred, truth)),
        "gssim": float(ssim(pred, truth)),
        "gber": float(balanced_error_rate(predicted, true_mask)),
    }
    if region.sum() > 0:
        out |= {
            "lrmse": float(rmse(pred, truth, mask=region)),
            "lssim": float(masked_ssim(pred, truth, region)),
            "lber": float(local_ber(predicted, true_mask)),
        }
    return out


def paired(rows: dict[str, list[dict[str, float]]], reference: str) -> dict[str, Any]:
    """Every other method against ``reference``, scene by scene: the mean of method −
    reference on each metric and its 95 % bootstrap interval (scenes where either lacks the
    metric left out). Empty when the reference was not scored."""
    if reference not in rows:
        return {}
    ref = rows[reference]
    nan = float("nan")
    return {name: {k: paired_difference([r.get(k, nan) for r in mine], [r.get(k, nan) for r in ref])
                   for k in METRICS}
            for name, mine in rows.items() if name != reference}  # fmt: skip


def summary(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for r in rows for k in r})
    return {k: float(np.nanmean([r[k] for r in rows if k in r])) for k in keys}


def mean_iou(pairs) -> dict[str, Any]:
    """The mean over the scenes of the IoU of (maps, true maps) pairs: on the occluders and on
    their shadows, and each mean's 95 % bootstrap interval over the scenes (``interval``)."""
    per_scene = torch.stack([iou(maps, truth)[0] for maps, truth in pairs]).double().numpy()
    out: dict[str, Any] = {"interval": {}}
    for k, name in enumerate(("occluders", "occluder_shadows")):
        d = paired_difference(per_scene[:, k], np.zeros(len(per_scene)))  # the mean − 0
        out[name] = float(per_scene[:, k].mean())
        out["interval"][name] = [d["low"], d["high"]]
    return out


def block_iou(block: torch.nn.Module, samples) -> dict[str, Any]:
    """Mean IoU over the scenes of an attention block's maps thresholded at 0.5, against the
    true maps at 0.5: on the occluders and on their shadows (:func:`mean_iou`)."""
    with torch.inference_mode():
        return mean_iou((torch.cat(predicted_maps(block, s), 1),
                         torch.cat([s["robject"], s["rshadow"]], 1)) for s in samples)  # fmt: skip


def shifted_truth_iou(samples, pixels: int = 1) -> dict[str, float]:
    """The IoU's scale at this size: the mean IoU of the true maps against themselves moved
    ``pixels`` to the right (the left column repeated), as the block's IoU is averaged: what an
    answer exact but for that misplacement scores."""
    def moved(s):
        truth = (torch.cat([s["robject"], s["rshadow"]], 1) > 0.5).float()
        return torch.cat([truth[..., :1].expand(*truth.shape[:-1], pixels),
                          truth[..., :-pixels]], dim=-1), truth  # fmt: skip

    return mean_iou(moved(s) for s in samples)


def grid(calls, samples, shown: list[int], scale: int) -> np.ndarray:
    rows = []
    for i in shown:
        s = samples[i]
        pictures = [(LABELS.get(k, k), c(s)) for k, c in calls.items()]
        pictures.append((LABELS["truth"], s["shadow"]))
        rows.append(np.concatenate(
            [labelled(label, big(p[0].permute(1, 2, 0).clamp(0, 1).numpy(), scale))
             for label, p in pictures], axis=1))  # fmt: skip
    return np.concatenate(rows, axis=0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny dataset: a smoke test")
    parser.add_argument("--data", default="data/shadow", help="the shadow dataset (README)")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                        help="a network to score (repeatable; ours, l2 replace the bundled)")
    parser.add_argument("--no-bundled", action="store_true",
                        help="score only the --model networks, not the bundled ones as well")
    parser.add_argument("--attention", action="append", default=[], metavar="NAME=PATH",
                        help="an attention block to score alone (IoU only; a checkpoint of "
                        "stage 1, e.g. runs/shadow-attention-cpu/checkpoints/best.safetensors)")
    parser.add_argument("--true-maps", action="store_true",
                        help="also score each attention network's generator on the true maps")
    parser.add_argument("--paired", default="ours", metavar="NAME",
                        help="the method every other is compared with scene by scene "
                        "(default ours)")
    parser.add_argument("--split", choices=("test", "val"), default="test",
                        help="the scenes scored: test (held out, the tables' default) or val "
                        "(the validation scenes, on which checkpoints and blocks are chosen)")
    parser.add_argument("--repeats", type=int, default=7, help="timing rounds (default 7)")
    parser.add_argument("--grid", type=int, default=6,
                        help="held-out scenes in the grid (0: no grid)")
    parser.add_argument("--out", default=None, help="the JSON (default benchmarks/results/...)")
    args = parser.parse_args(argv)  # fmt: skip
    torch.manual_seed(0)
    bundled = {} if args.no_bundled else DEFAULT_MODELS
    models = {k: v for k, v in bundled.items() if v in bundled_models()}
    models.update(m.split("=", 1) for m in args.model)
    stem = "shadow_quick" if args.quick else "shadow"
    out = Path(args.out) if args.out else RESULTS / f"{stem}.json"
    nets = {name: load_model(path, "cpu", task="shadow")[0] for name, path in models.items()}

    root = Path(args.data)
    if args.quick and not (root / "manifest.json").is_file():
        print(f"no dataset at {root}: rendering a small one there")
        generate(root, load_config(QUICK_DATA, source="shadow"), quiet=True)
    data = BufferDataset(root, args.split, BUFFERS, crop=None, mode="full")
    samples = [{k: v[None] for k, v in data[i].items()} for i in range(len(data))]
    if not samples:
        parser.error(f"{root} has no {args.split} scenes")
    size = int(data.config.size)
    calls = methods(nets, args.true_maps, args.paired)
    which = "held-out" if args.split == "test" else "validation"
    print(f"{len(samples)} {which} scenes of {root} at {size}²; methods {list(calls)}")

    per_method: dict[str, Any] = {}
    per_scene: dict[str, list[dict[str, float]]] = {}
    with torch.inference_mode():
        for name, call in calls.items():
            rows = per_scene[name] = [scores(call(s), s) for s in samples]
            with_shadow = sum("lrmse" in r for r in rows)
            per_method[name] = {"mean": summary(rows), "scenes_with_shadow": with_shadow}
            m = {k: per_method[name]["mean"].get(k, float("nan")) for k in METRICS}
            shown = " ".join(f"{k.upper()} {v:.4g}" for k, v in m.items())
            print(f"  {LABELS.get(name, name)}: {shown}")
    against = paired(per_scene, args.paired)
    for name, d in against.items():
        shown = ", ".join(
            f"{k.upper()} {d[k]['mean']:+.3g} [{d[k]['low']:+.3g}, {d[k]['high']:+.3g}]"
            for k in ("lrmse", "lber", "grmse"))  # fmt: skip
        print(f"  {LABELS.get(name, name)} − {args.paired}: {shown}")
    by_model = {name: block_iou(n.attention, samples) for name, n in nets.items()
                if getattr(n, "reads_maps", False)}  # fmt: skip
    attention = next(iter(by_model.values()), None)  # the first network's: the table's figure
    for name, v in by_model.items():
        print(f"  attention IoU of {name}: occluders {v['occluders']:.3f}, their shadows "
              f"{v['occluder_shadows']:.3f}")  # fmt: skip

    shifted, shifted2 = shifted_truth_iou(samples, 1), shifted_truth_iou(samples, 2)
    for n, v in ((1, shifted), (2, shifted2)):
        print(f"  the true maps moved {n} px: IoU occluders {v['occluders']:.3f}, their "
              f"shadows {v['occluder_shadows']:.3f}")  # fmt: skip
    blocks = {}
    for name, path in (a.split("=", 1) for a in args.attention):
        block = load_networks(path, "cpu", task="shadow")[0]["attention"]
        blocks[name] = {"iou": block_iou(block, samples),
                        "iou_mirrored": block_iou(MirrorAveraged(block), samples),
                        "checkpoint": path,
                        "parameters": sum(p.numel() for p in block.parameters()),
                        "model": block.spec}  # fmt: skip
        for how in ("iou", "iou_mirrored"):
            print(f"  attention block {name} ({how}): occluders "
                  f"{blocks[name][how]['occluders']:.3f}, their shadows "
                  f"{blocks[name][how]['occluder_shadows']:.3f}")  # fmt: skip

    # the grid and the timings: the methods themselves (not the true-maps diagnostics)
    shown_calls = {m: c for m, c in calls.items() if not m.endswith("_truemaps")}
    # the grid: the first held-out scenes whose object casts a visible shadow
    with_shadow = [i for i, s in enumerate(samples) if (s["objshadow"] >= SHADOW).sum() > 20]
    shown = with_shadow[: args.grid] or list(range(min(args.grid, len(samples))))
    grid_path = out.with_name(f"{out.stem}_grid.png") if shown else None
    if grid_path:
        with torch.inference_mode():
            picture = grid(shown_calls, samples, shown, 2 if size <= 128 else 1)
        write_png(grid_path, picture)
        print(f"wrote {grid_path}")

    # speed: every method at each size in the same rounds, on a held-out scene enlarged
    speed: dict[str, Any] = {}
    for side in sorted({size, *((64,) if args.quick else (128, 256))}):
        s = {k: F.interpolate(v, size=(side, side), mode="nearest") for k, v in samples[0].items()}
        with torch.inference_mode():
            timed = {m: (lambda c=c, s=s: c(s)) for m, c in shown_calls.items() if m != "input"}
            ms = interleaved_ms(timed, 2 if args.quick else args.repeats)
        speed[str(side)] = {"methods_ms": ms}
        print(f"  {side}²: " + ", ".join(f"{LABELS.get(k, k)} {v:.1f} ms" for k, v in ms.items()))

    record(
        out,
        "shadow",
        args.quick,
        {
            "data": str(root),
            "dataset": {"size": size, "test_scenes": len(samples), "split": args.split,
                        "shadow_threshold": SHADOW,
                        "spp": data.config.spp, "lights": data.config.lights,
                        "textures": data.config.textures},  # fmt: skip
            "models": models,
            "training": {
                name: {"wall_seconds": n.sidecar.get("wall_seconds"),
                       "steps": n.sidecar.get("step"), "model": n.sidecar["models"],
                       "options": n.sidecar.get("config", {}).get("options"),
                       # a bundle chaining an attention block trained apart: its run's record
                       "attention_checkpoint": n.sidecar.get("attention_checkpoint"),
                       # a network trained through its schedule again: the first pass's record
                       "restarted_from": n.sidecar.get("restarted_from")}
                for name, n in nets.items()
            },  # fmt: skip
            "methods": per_method,
            "paired": {"reference": args.paired, "confidence": 0.95, "methods": against},
            "attention_iou": attention,
            "attention_iou_by_model": by_model,
            "attention_blocks": blocks,
            "attention_iou_truth_moved_1px": shifted,
            "attention_iou_truth_moved_2px": shifted2,
            "speed": speed,
            "grid": grid_path.name if grid_path else None,
            "grid_scenes": shown,
        },
    )


if __name__ == "__main__":
    main()

"""Denoising: our networks against Open Image Denoise, on the same noisy renders, in one run.

Every figure comes from this one run, on this machine:

- quality of each method's denoised beauty against the converged path-traced one (the
  dataset's ``beauty_reference``, ``reference_spp`` samples per pixel), at each input sample
  count (1, 4, 16, 64 spp: the dataset's levels, prefixes of one pass): relMSE (KPCN's,
  (p − t)² / (t² + 0.01), on the linear light), PSNR and SSIM on the tone-mapped image
  (x / (1 + x)), per image, averaged over the held-out (test) views of the room dataset; the
  same on the Mitsuba XML scenes of ``examples/`` (an area light, environment and directional
  light, glossy metal, glass), which the training never saw, rendered here at the room views'
  size with the same levels and reference;
- the methods: ``noisy`` (the input itself), OIDN (``pyoidn``, in-process, with the albedo and
  normal, quality ``high``, ``balanced`` and ``fast``), and the networks, as
  ``neuralshade denoise`` runs them (:func:`neuralshade.infer.predict`);
- milliseconds per image on CPU at 128², 256² and 512² for every method, timed in turns in the
  same rounds, on a held-out view's 4-spp buffers enlarged (nearest) to each size;
- time to equal quality: for each method at each of ``--race-levels`` (4 and 16 spp), the
  fewest samples per pixel at which Mitsuba 3's plain render (the dataset's integrator, beauty
  only, no denoiser) matches the method's mean relMSE on the first ``--race-views`` held-out
  views, and the speed-up: Mitsuba's time there over the method's whole time (Mitsuba at the
  input's count + the denoiser), all at the dataset's size;
- an image grid at 4 spp: noisy | OIDN | networks | reference (tone-mapped, sRGB), with each
  method's error (|tone-mapped difference|, averaged over channels) below.

    # the recorded figures (data/room-denoise)
    python benchmarks/denoise.py
    python benchmarks/denoise.py --quick --data /tmp/dn   # smoke test (a tiny dataset)

The networks are those of ours that are bundled: ``denoise-cpu`` (``ours``: OIDN's own
network fine-tuned on the rooms, run inside OIDN's filter with its weights, as ``neuralshade
denoise`` runs it), ``denoise-unet-cpu`` (``unet``: ShadeUNet trained from scratch) and
``denoise-kpcn-cpu`` (KPCN); and each ``--model NAME=PATH`` (repeatable; a default's name
replaces it). The JSON goes to ``benchmarks/results/denoise.json`` (``_quick`` with
``--quick``) and the grid beside it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from common import RESULTS, interleaved_ms, record
from common import enlarged_picture as big
from mitsuba_race import MitsubaRacer

from neuralshade.data.datasets import BufferDataset
from neuralshade.data.generate import generate, load_config
from neuralshade.denoise import load_network
from neuralshade.equal_quality import time_to_equal_quality
from neuralshade.imageio import heatmap, write_png
from neuralshade.infer import bundled_models, load_model, predict
from neuralshade.metrics import compute
from neuralshade.models import build
from neuralshade.models.unet import fuse_batch_norm
from neuralshade.render.mitsuba.files import load_scene_file
from neuralshade.render.mitsuba.gbuffer import render_gbuffer_levels, render_gbuffers
from neuralshade.render.mitsuba_scene import load_mitsuba
from neuralshade.sheets import display, labelled
from neuralshade.tasks.denoise import OIDN_INPUTS, level, run_oidn, tonemap

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = {"kpcn": "denoise-kpcn-cpu", "ours": "denoise-cpu", "unet": "denoise-unet-cpu"}
SCENES = ("cornell_box", "spheres", "blocks", "courtyard")
LEVELS = (1, 4, 16, 64)
OIDN_QUALITY = {"oidn": "high", "oidn_balanced": "balanced", "oidn_fast": "fast"}
LABELS = {"noisy": "noisy input", "oidn": "OIDN high", "oidn_balanced": "OIDN balanced",
          "oidn_fast": "OIDN fast", "kpcn": "KPCN", "ours": "ours",
          "unet": "ours from scratch",
          "unet_unbounded": "ours from scratch without its bound"}  # fmt: skip
METRICS = ("relmse",)  # on the linear light
SHOWN_METRICS = ("psnr", "ssim")  # on the tone-mapped image
GRID_LEVEL = 4
ERROR_VMAX = 0.1  # error maps saturate at this tone-mapped difference
# --quick without a dataset: the README's denoise dataset in small (4 views at 64², 2 held out)
QUICK_DATA = {"count": 4, "views": 1, "size": 64, "seed": 0, "spp": 16, "spp_levels": [1, 4],
              "reference_spp": 128, "reference_buffers": ["beauty", "diffuse", "specular"],
              "buffers": ["beauty_variance", "diffuse", "diffuse_variance", "specular",
                          "specular_variance", "albedo", "albedo_variance", "normal",
                          "normal_variance", "depth", "depth_variance"],
              "split": {"train": 0.5, "val": 0.0, "test": 0.5}}  # fmt: skip

# a view: name, levels {spp: {bare name: (C, H, W)}}, reference (3, H, W), mitsuba (callable)
View = dict[str, Any]
Method = Callable[[dict[str, torch.Tensor]], torch.Tensor]  # a level's buffers → (3, H, W)


# ---- the views --------------------------------------------------------------------------------


def room_views(root: Path, names: list[str], levels: tuple[int, ...], count: int | None):
    """The held-out room views, each level's buffers under their bare names (those the
    dataset has at that level: no variance at 1 spp)."""
    known = BufferDataset(root, "test", ["beauty"], crop=None, mode="full").schema
    have = {spp: [n for n in names if level(n, spp) in known] for spp in levels}
    stored = [level(n, spp) for spp in levels for n in have[spp]]
    data = BufferDataset(root, "test", [*stored, "beauty_reference"], crop=None, mode="full")
    views = []
    for i in range(len(data) if count is None else min(count, len(data))):
        sample = data[i]
        views.append(
            {
                "name": f"room test {data.indices[i]}",
                "levels": {spp: {n: sample[level(n, spp)] for n in have[spp]} for spp in levels},
                "reference": sample["beauty_reference"],
                "mitsuba": lambda i=i: data.source.mitsuba_view(data.config, data.record(i)),
            }
        )
    return views, data


def scene_view(name: str, size: int, names: list[str], levels, reference_spp: int) -> View:
    """An example scene rendered as the room dataset renders a view: every buffer at each level
    from one pass (seed 0), and the converged beauty from an independent pass (seed 1)."""
    path = ROOT / "examples" / f"{name}.xml"
    scene, common = load_scene_file(path, size=(size, size))
    buffers = list(dict.fromkeys(["beauty", *names]))
    rendered = render_gbuffer_levels(scene, levels=list(levels), seed=0, buffers=buffers,
                                     **common)  # fmt: skip
    reference = render_gbuffers(scene, spp=reference_spp, seed=1, buffers=["beauty"], **common)

    def chw(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))

    return {
        "name": name,
        "levels": {n: {k: chw(v) for k, v in rendered[n].items()} for n in levels},
        "reference": chw(reference["beauty"]),
        "mitsuba": lambda: load_scene_file(path, size=(size, size)),
    }


def enlarged(buffers: dict[str, torch.Tensor], side: int) -> dict[str, torch.Tensor]:
    """Buffers enlarged (nearest) to side², for timing: as many pixels as a frame of that size."""
    return {n: F.interpolate(t[None], size=(side, side), mode="nearest")[0]
            for n, t in buffers.items()}  # fmt: skip


# ---- the methods ------------------------------------------------------------------------------


def methods(nets: dict[str, torch.nn.Module], paths: dict[str, str]) -> dict[str, Method]:
    """name → a level's buffers → (3, H, W) denoised beauty. OIDN's network fine-tuned
    (``oidn-unet``) runs inside OIDN's filter with its weights, as ``neuralshade denoise`` runs
    it (:func:`neuralshade.denoise.load_network`); the other networks through ``predict``."""
    out: dict[str, Method] = {"noisy": lambda b: b["beauty"].clamp_min(0)}
    for name, quality in OIDN_QUALITY.items():
        out[name] = lambda b, q=quality: run_oidn(b, q)
    for name, net in nets.items():
        if net.sidecar["models"]["net"]["name"] == "oidn-unet" and name in paths:
            engine = load_network(paths[name])
            out[name] = lambda b, run=engine: in_oidn(run, b)
            continue
        out[name] = lambda b, net=net: predict(net, {n: b[n] for n in net.sidecar["inputs"]})
    return out


def in_oidn(run: Callable, buffers: dict[str, torch.Tensor]) -> torch.Tensor:
    """A :func:`neuralshade.denoise.load_network` denoiser on a level's (C, H, W) buffers."""
    color, albedo, normal = (buffers[n].permute(1, 2, 0).numpy() for n in OIDN_INPUTS)
    out = run(np.maximum(color, 0), np.clip(albedo, 0, 1), normal, quality="high", hdr=True,
              spp=None)  # fmt: skip
    return torch.from_numpy(out).permute(2, 0, 1)


def unbounded(net: torch.nn.Module) -> torch.nn.Module:
    """A copy of a ShadeUNet with a ``bound`` that has none: the same weights, uncapped."""
    spec = net.sidecar["models"]["net"]
    args = {**spec["args"], "bound": None}
    copy = fuse_batch_norm(build(spec["name"], **args))
    copy.load_state_dict(net.state_dict())
    copy.eval()
    copy.sidecar = {**net.sidecar, "models": {"net": {**spec, "args": args}}}
    copy.context = net.context
    return copy


def reads(nets: dict[str, torch.nn.Module]) -> list[str]:
    """Every buffer some method reads, by its bare name."""
    names = list(OIDN_INPUTS)
    for net in nets.values():
        names += [n for n in net.sidecar["inputs"] if n not in names]
    return names


def able(call_name: str, nets: dict[str, torch.nn.Module], buffers: dict[str, torch.Tensor]):
    """Whether the method has its inputs in ``buffers`` (KPCN's variances need 2 spp)."""
    net = nets.get(call_name)
    return net is None or all(n in buffers for n in net.sidecar["inputs"])


def quality(calls: dict[str, Method], nets, views: list[View], levels) -> dict[str, Any]:
    """Per level, per method: each view's metrics and their means ({level: {method: ...}})."""
    out: dict[str, Any] = {}
    with torch.inference_mode():
        for spp in levels:
            per_level: dict[str, Any] = {}
            for name, call in calls.items():
                if not all(able(name, nets, v["levels"][spp]) for v in views):
                    continue
                scores = [score(call(v["levels"][spp]).float(), v["reference"]) for v in views]
                means = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
                per_level[name] = {"mean": means, "views": scores}
            out[str(spp)] = per_level
    return out


def score(pred: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    pred, ref = pred.clamp_min(0)[None], reference[None]
    linear = compute(METRICS, pred, ref)
    shown = compute(SHOWN_METRICS, tonemap(pred), tonemap(ref))
    return {k: float(v) for k, v in {**linear, **shown}.items()}


# ---- Mitsuba ----------------------------------------------------------------------------------


def relmse_score(render: torch.Tensor, reference: torch.Tensor) -> float:
    return float(compute(["relmse"], render.clamp_min(0)[None], reference[None])["relmse"])


def race(room: dict[str, Any], views: list[View], levels, ladder, ms_at: dict[str, float]):
    """For each method at each of ``levels``: the spp Mitsuba's plain render needs to match its
    mean relMSE on ``views``, and the speed-up over Mitsuba at the input's count + the method."""
    racer = MitsubaRacer(views, "beauty", relmse_score)
    equal: dict[str, Any] = {}
    speedup: dict[str, Any] = {}
    input_ms = {str(n): 1e3 * racer.at(n)[1] for n in levels}
    for spp in levels:
        equal[str(spp)], speedup[str(spp)] = {}, {}
        for name, result in room[str(spp)].items():
            if name == "noisy" or name not in ms_at:
                continue
            target = float(np.mean([v["relmse"] for v in result["views"][: len(views)]]))
            found = time_to_equal_quality(racer.at, target, ladder, rel_tol=0.05)
            equal[str(spp)][name] = found
            total = input_ms[str(spp)] + ms_at[name]
            speedup[str(spp)][name] = found["seconds"] * 1e3 / total
            print(f"    {spp} spp + {LABELS.get(name, name)} (relMSE {target:.4f}): Mitsuba "
                  f"matches at {found['samples']} spp{'' if found['reached'] else ' (not reached)'}"
                  f", {speedup[str(spp)][name]:.1f}× the time")  # fmt: skip
    curve = {str(n): {"relmse": float(np.mean(v)), "seconds": s}
             for n, (v, s) in sorted(racer.cache.items())}  # fmt: skip
    return {"input_ms": input_ms, "equal_quality": equal, "speedup": speedup,
            "mitsuba_curve": curve}  # fmt: skip


# ---- the grid ---------------------------------------------------------------------------------


def grid(calls: dict[str, Method], views: list[View], spp: int, reference_spp: int, scale: int):
    """Two rows per view: the tone-mapped images, then each method's error map."""
    rows = []
    with torch.inference_mode():
        for view in views:
            buffers, ref = view["levels"][spp], view["reference"]
            top, bottom = [], []
            for name, call in calls.items():
                pred = call(buffers).float()
                label = f"{view['name']}: {spp} spp" if name == "noisy" else LABELS.get(name, name)
                top.append(labelled(label, big(picture(pred), scale)))
                error = (tonemap(pred) - tonemap(ref)).abs().mean(dim=0).numpy()
                bottom.append(labelled(f"|error| 0 to {ERROR_VMAX}" if name == "noisy" else "",
                                       big(heatmap(error, ERROR_VMAX), scale)))  # fmt: skip
            top.append(labelled(f"reference ({reference_spp} spp)", big(picture(ref), scale)))
            bottom.append(labelled("", big(np.ones((*ref.shape[1:], 3), np.float32), scale)))
            rows += [np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)]
    return np.concatenate(rows, axis=0)


def picture(light: torch.Tensor) -> np.ndarray:
    """(3, H, W) linear light → (H, W, 3) sRGB picture in [0, 1], Reinhard-tone-mapped."""
    return display(tonemap(light.clamp_min(0)).permute(1, 2, 0).numpy(), "linear")


# ---- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few views, small sizes: a smoke test")
    parser.add_argument("--data", default="data/room-denoise", help="the denoise dataset (README)")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a network to compare too (repeatable; beside the bundled ones)",
    )
    parser.add_argument(
        "--race-views", type=int, default=8, help="held-out views Mitsuba races on (default 8)"
    )
    parser.add_argument(
        "--race-levels", default="4,16", help="input sample counts raced (default 4,16)"
    )
    parser.add_argument("--repeats", type=int, default=7, help="timing rounds (default 7)")
    parser.add_argument("--out", default=None, help="the JSON (default benchmarks/results/...)")
    args = parser.parse_args(argv)  # fmt: skip
    torch.manual_seed(0)
    models = {k: v for k, v in DEFAULT_MODELS.items() if v in bundled_models()}
    models.update(m.split("=", 1) for m in args.model)  # a name of the defaults replaces it
    stem = "denoise_quick" if args.quick else "denoise"
    out = Path(args.out) if args.out else RESULTS / f"{stem}.json"
    sizes = (64, 128) if args.quick else (128, 256, 512)
    repeats = 2 if args.quick else args.repeats
    ladder = tuple(2**k for k in range(8 if args.quick else 11))  # up to the reference's count

    mi = load_mitsuba()
    nets = {name: load_model(path, "cpu", task="denoise")[0] for name, path in models.items()}
    for name in list(nets):  # what a network's bound changes: the same weights without it
        if getattr(nets[name], "bound", None) is not None:
            nets[f"{name}_unbounded"] = unbounded(nets[name])
    root = Path(args.data)
    if args.quick and not (root / "manifest.json").is_file():
        print(f"no dataset at {root}: rendering a small one of the README's kind there")
        generate(root, load_config(QUICK_DATA, source="room"), quiet=True)
    manifest = BufferDataset(root, "test", ["beauty"], crop=None, mode="full").config
    levels = tuple(sorted({*manifest.spp_levels, manifest.spp}))
    names = reads(nets)
    views, data = room_views(root, names, levels, 2 if args.quick else None)
    size = int(data.config.size)
    calls = methods(nets, models)
    print(f"{len(views)} held-out room views of {root} at {size}², at {levels} spp")
    room = quality(calls, nets, views, levels)
    for spp in levels:
        print(f"  {spp} spp: " + ", ".join(
            f"{LABELS.get(m, m)} {v['mean']['relmse']:.4f} / {v['mean']['psnr']:.2f} dB"
            for m, v in room[str(spp)].items()))  # fmt: skip

    # unseen scenes at the room views' size, then the grid
    scenes: dict[str, Any] = {}
    scene_views = [
        scene_view(s, size, names, levels, data.config.reference_spp)
        for s in (SCENES[:1] if args.quick else SCENES)
    ]
    for view in scene_views:
        scenes[view["name"]] = quality(calls, nets, [view], levels)
        shown_level = scenes[view["name"]][str(levels[min(1, len(levels) - 1)])]
        print(f"  {view['name']}: " + ", ".join(
            f"{LABELS.get(m, m)} {v['mean']['psnr']:.2f} dB"
            for m, v in shown_level.items()))  # fmt: skip
    shown = [*views[:3], *scene_views]
    spp = GRID_LEVEL if GRID_LEVEL in levels else levels[0]
    in_grid = {k: c for k, c in calls.items()
               if k != "oidn_balanced" and not k.endswith("_unbounded")}  # fmt: skip
    picture_ = grid(in_grid, shown, spp, data.config.reference_spp, 2 if size <= 128 else 1)
    grid_path = out.with_name(f"{out.stem}_grid.png")  # beside its JSON, named after it
    write_png(grid_path, picture_)
    print(f"wrote {grid_path}")

    # speed: every method at every size in the same rounds, on a 4-spp view
    speed: dict[str, Any] = {}
    buffers = views[0]["levels"][spp]
    timed_names = [m for m in calls if able(m, nets, buffers) and not m.endswith("_unbounded")]
    for side in sorted({size, *sizes}):
        frame = enlarged(buffers, side)
        with torch.inference_mode():
            timed = {m: (lambda c=calls[m], f=frame: c(f)) for m in timed_names}
            speed[str(side)] = {"methods_ms": interleaved_ms(timed, repeats)}
        print(f"  {side}²: " + ", ".join(
            f"{LABELS.get(k, k)} {v:.1f} ms"
            for k, v in speed[str(side)]["methods_ms"].items()))  # fmt: skip

    # time to equal quality, at the dataset's size
    race_levels = tuple(int(n) for n in args.race_levels.split(",") if int(n) in levels)
    race_levels = race_levels or levels[1:2]
    race_views = views[: 1 if args.quick else args.race_views]
    raced = race(room, race_views, race_levels, ladder, speed[str(size)]["methods_ms"])

    record(
        out,
        "denoise",
        args.quick,
        {
            "data": str(root),
            "dataset": {
                "size": size,
                "levels": list(levels),
                "reference_spp": data.config.reference_spp,
                "max_depth": data.config.max_depth,
                "test_views": len(data),
                "views_scored": len(views),
            },
            "models": models,
            "training": {
                name: {
                    "wall_seconds": net.sidecar.get("wall_seconds"),
                    "steps": net.sidecar.get("step"),
                    "inputs": net.sidecar["inputs"],
                    "model": net.sidecar["models"],
                }
                for name, net in nets.items()
            },  # fmt: skip
            "oidn_quality": OIDN_QUALITY,
            "room": room,
            "scenes": scenes,
            "race": {"views": len(race_views), "size": size, "levels": list(race_levels), **raced},
            "speed": speed,
            "grid": grid_path.name,
        },  # fmt: skip
        mitsuba=mi.__version__,
        pyoidn=_version("pyoidn"),
    )


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    main()

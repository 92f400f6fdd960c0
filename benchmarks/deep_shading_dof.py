"""Deep shading, depth of field: the network against the real-time gather and Mitsuba 3.

Every figure comes from this one run, on this machine:

- quality of each method's image against the converged render through the view's thin lens
  (the dataset's ``dof_reference``, ``reference_spp`` paths per pixel through a lens whose
  radius and focus distance are drawn per view): SSIM, PSNR and L1 of the tone-mapped images
  (x / (1 + x): HDR light in [0, 1)), per image, averaged over the held-out (test) views of the
  room DoF dataset; the same per view on the Mitsuba XML scenes of ``examples/`` (never
  trained on), each rendered here through a pinhole (the inputs) and through a thin lens
  focused at 0.8× the distance to its target, of radius 3 % of that distance;
- the methods: ``none`` (the pinhole image: no blur), ``gather`` (the real-time
  scatter-as-gather of :mod:`neuralshade.baselines.dof`, 48 taps, on the same image, circle of
  confusion and depth) and the networks, as ``neuralshade infer`` runs them;
- milliseconds per frame on CPU at 128², 256² and 512², timed in turns in the same rounds, on a
  held-out view's buffers enlarged (nearest) to each size, its circle of confusion scaled with
  it (a blur in pixels grows with the image);
- time to equal quality: the fewest samples per pixel at which Mitsuba 3's path tracer through
  the same lens matches each method's mean SSIM on the first ``--race-views`` held-out views,
  Mitsuba's seconds there (warm), the ratio to the method's time, and Mitsuba at 512² timed at
  the same samples per pixel. The methods take the converged pinhole image as their input; a
  real-time renderer would rasterise it, so the race measures the effect, not the image;
- an image grid: pinhole image | circle of confusion | gather | networks | reference, with
  error maps below.

    python benchmarks/deep_shading_dof.py              # the recorded figures (data/room-dof)
    python benchmarks/deep_shading_dof.py --quick --data /tmp/dsdof   # smoke test

Models default to the bundled ``deepshade-dof-cpu``; ``--model NAME=PATH`` (repeatable)
compares checkpoints instead. The JSON goes to ``benchmarks/results/deep_shading_dof.json``
(``_quick`` with ``--quick``) and the grid beside it.
"""

from __future__ import annotations

import argparse
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mitsuba_race
import numpy as np
import torch
import torch.nn.functional as F
from common import RESULTS, interleaved_ms, record, scored
from common import enlarged_picture as big
from mitsuba_race import warm_seconds

from neuralshade.data.datasets import BufferDataset
from neuralshade.data.folder import read_folder, read_params
from neuralshade.data.generate import generate, load_config
from neuralshade.data.sources import get_source
from neuralshade.data.sources.room import circle_of_confusion, world_to_camera
from neuralshade.imageio import heatmap, read_exr, write_png
from neuralshade.infer import load_model, predict
from neuralshade.metrics import compute
from neuralshade.render.mitsuba.files import load_scene_file, render_scene_file
from neuralshade.render.mitsuba_scene import load_mitsuba
from neuralshade.sheets import display, labelled
from neuralshade.tasks.deep_shading import DOF_BASELINE, depth_of_field

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = {"ours": "deepshade-dof-cpu"}
SCENES = ("cornell_box", "spheres", "blocks", "courtyard")
TARGET = "dof_reference"
READ = ("beauty_reference", "coc", "depth", "position_camera")  # the networks' and the gather's
METRICS = ("ssim", "psnr", "l1")  # of tone-mapped images; SSIM decides equal quality
LABELS = {"none": "none (pinhole)", "gather": "gather"}
FOCUS, APERTURE = 0.8, 0.03  # unseen scenes: focus at 0.8× the target's distance, radius 3 % of it
# --quick without a dataset: the README's DoF dataset in small (2 scenes of 2 views, 64², 64 spp)
QUICK_DATA = {"count": 2, "views": 2, "size": 64, "seed": 0, "spp": 4, "reference_spp": 64,
              "buffers": ["position", "depth"], "reference_buffers": ["beauty", "dof"],
              "split": {"train": 0.5, "val": 0.0, "test": 0.5}}  # fmt: skip
ERROR_VMAX = 0.1  # error maps saturate at this difference of tone-mapped light

View = dict[str, Any]  # name, buffers {name: (C, H, W)}, reference (3, H, W), mitsuba


def tonemap(x: torch.Tensor) -> torch.Tensor:
    return x / (1 + x)


# ---- the views --------------------------------------------------------------------------------


def room_views(root: Path, count: int | None) -> tuple[list[View], BufferDataset]:
    data = BufferDataset(root, "test", (*READ, TARGET), crop=None, mode="full")
    views = []
    for i in range(len(data) if count is None else min(count, len(data))):
        sample = data[i]
        views.append(
            {
                "name": f"room test {data.indices[i]}",
                "buffers": {n: sample[n] for n in READ},
                "reference": sample[TARGET],
                "mitsuba": lambda i=i: data.source.mitsuba_view(
                    data.config, data.record(i), lens=True
                ),
            }
        )
    return views, data


def lens_xml(path: Path, out: Path, lens: dict[str, float] | None) -> Path:
    """The scene file with its camera a pinhole (``lens`` None) or the thin lens ``lens``."""
    tree = ET.parse(path)
    sensor = tree.getroot().find("sensor")
    sensor.set("type", "perspective" if lens is None else "thinlens")
    for child in list(sensor):
        if child.get("name") in ("aperture_radius", "focus_distance"):
            sensor.remove(child)
    for name, value in (lens or {}).items():
        ET.SubElement(sensor, "float", {"name": name, "value": f"{value:.6g}"})
    tree.write(out)
    return out


def scene_lens(path: Path) -> dict[str, float]:
    """The unseen scene's lens: focused at FOCUS × the camera's distance to its target."""
    lookat = ET.parse(path).getroot().find("sensor").find("transform").find("lookat")
    origin, target = (np.array(lookat.get(k).split(","), float) for k in ("origin", "target"))
    distance = float(np.linalg.norm(target - origin))
    return {"aperture_radius": APERTURE * distance, "focus_distance": FOCUS * distance}


def scene_view(name: str, size: int, reference_spp: int, folder: Path) -> View:
    """An example scene rendered through a pinhole (position, depth, the converged beauty) and
    through its lens (the converged beauty); the circle of confusion from the position."""
    source = ROOT / "examples" / f"{name}.xml"
    lens = scene_lens(source)
    pinhole = lens_xml(source, folder / f"{name}-pinhole.xml", None)
    thin = lens_xml(source, folder / f"{name}-lens.xml", lens)
    out = folder / name
    render_scene_file(
        pinhole, out, spp=4, reference_spp=reference_spp, size=(size, size),
        buffers=["position", "depth"], reference_buffers=["beauty"],
    )  # fmt: skip
    render_scene_file(
        thin, folder / f"{name}-lens", spp=1, reference_spp=reference_spp, size=(size, size),
        buffers=["depth"], reference_buffers=["beauty"],
    )  # fmt: skip
    params = read_params(out)
    record = {"camera": params["camera"], "lens": lens}
    position = read_exr(out / "position.exr").transpose(2, 0, 1)
    pose = world_to_camera(params["camera"])
    stored = read_folder(get_source("room"), out, ["beauty_reference", "depth", "position_camera"])
    t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in stored.items()}
    t["coc"] = torch.from_numpy(circle_of_confusion(position, pose, record, (size, size)))
    reference = read_exr(folder / f"{name}-lens" / "beauty_reference.exr").transpose(2, 0, 1)
    return {
        "name": name,
        "buffers": t,
        "reference": torch.from_numpy(np.ascontiguousarray(reference)),
        "lens": lens,
        "mitsuba": lambda: load_scene_file(thin, size=(size, size)),
    }


def enlarged(view: View, side: int) -> View:
    """The view's buffers enlarged (nearest) to side², its circle of confusion scaled with them."""
    h = view["buffers"]["coc"].shape[-2]
    out = {
        n: F.interpolate(t[None], size=(side, side), mode="nearest")[0]
        for n, t in view["buffers"].items()
    }
    out["coc"] = out["coc"] * (side / h)
    return {**view, "buffers": out, "name": f"{view['name']} at {side}²"}


# ---- the methods ------------------------------------------------------------------------------


def methods(nets: dict[str, torch.nn.Module]) -> dict[str, Callable[[View], torch.Tensor]]:
    """name → view → (3, H, W) defocused light: none, the gather, then the networks."""
    out: dict[str, Callable[[View], torch.Tensor]] = {
        "none": lambda view: view["buffers"]["beauty_reference"],
        "gather": lambda view: depth_of_field(view["buffers"])[0],
    }
    for name, net in nets.items():

        def call(view: View, net=net) -> torch.Tensor:
            inputs = {n: view["buffers"][n] for n in net.sidecar["inputs"]}
            return predict(net, inputs)

        out[name] = call
    return out


def quality(calls: dict[str, Callable], views: list[View]) -> dict[str, Any]:
    """Per method: the metrics of each view (tone-mapped), and their means."""

    def score(pred: torch.Tensor, view: View) -> dict[str, float]:
        values = compute(METRICS, tonemap(pred)[None], tonemap(view["reference"])[None])
        return {k: float(v) for k, v in values.items()}

    return scored(calls, views, score)


# ---- Mitsuba ----------------------------------------------------------------------------------


def ssim_score(render: torch.Tensor, reference: torch.Tensor) -> float:
    """SSIM of a render through the lens against the reference, both tone-mapped."""
    return float(compute(["ssim"], tonemap(render)[None], tonemap(reference)[None])["ssim"])


def race(targets: dict[str, float], views: list[View], ladder, names) -> dict[str, Any]:
    """The spp Mitsuba needs through the lens to reach each method's mean SSIM on ``views``."""
    return mitsuba_race.race(targets, views, ladder, names, buffer="beauty", metric="ssim",
                             score=ssim_score, higher_is_better=True)  # fmt: skip


# ---- the grid ---------------------------------------------------------------------------------


def grid(calls: dict[str, Callable], views: list[View], names: dict[str, str], scale: int, spp):
    """Two rows per view: pictures (tone-mapped, sRGB), then |error| maps."""
    rows = []
    with torch.inference_mode():
        for view in views:
            ref = tonemap(view["reference"])
            coc = view["buffers"]["coc"][0].numpy()
            blank = np.ones((*ref.shape[1:], 3), np.float32)
            top = [labelled(f"{view['name']}: CoC 0 to {coc.max():.0f} px",
                            big(heatmap(coc, max(float(coc.max()), 1e-6)), scale))]  # fmt: skip
            bottom = [labelled(f"|error| 0 to {ERROR_VMAX}", big(blank, scale))]
            for name, call in calls.items():
                pred = tonemap(call(view).float())
                top.append(labelled(names[name], big(picture(pred), scale)))
                error = (pred - ref).abs().mean(dim=0).numpy()
                bottom.append(
                    labelled(f"{names[name]} error", big(heatmap(error, ERROR_VMAX), scale))
                )
            top.append(labelled(f"reference ({spp} spp)", big(picture(ref), scale)))
            bottom.append(labelled("", big(blank, scale)))
            rows += [np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)]
    return np.concatenate(rows, axis=0)


def picture(mapped: torch.Tensor) -> np.ndarray:
    """(3, H, W) tone-mapped light → (H, W, 3) sRGB picture."""
    return display(mapped.permute(1, 2, 0).numpy(), "linear")


# ---- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few views, small sizes: a smoke test")
    parser.add_argument("--data", default="data/room-dof", help="the room DoF dataset (README)")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a network to compare (repeatable; default: the bundled one)",
    )
    parser.add_argument(
        "--race-views", type=int, default=8, help="held-out views Mitsuba races on (default 8)"
    )
    parser.add_argument("--repeats", type=int, default=7, help="timing rounds (default 7)")
    parser.add_argument("--out", default=None, help="the JSON (default benchmarks/results/...)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    models = dict(m.split("=", 1) for m in args.model) if args.model else dict(DEFAULT_MODELS)
    stem = "deep_shading_dof_quick" if args.quick else "deep_shading_dof"
    out = Path(args.out) if args.out else RESULTS / f"{stem}.json"
    race_n = 1 if args.quick else args.race_views
    sizes = (64, 128) if args.quick else (128, 256, 512)
    repeats = 2 if args.quick else args.repeats
    ladder = tuple(2**k for k in range(7 if args.quick else 11))

    mi = load_mitsuba()
    nets = {name: load_model(path, "cpu", task="deep-shading")[0] for name, path in models.items()}
    for name, net in nets.items():
        if list(net.sidecar["targets"]) != [TARGET]:
            wrong = net.sidecar["targets"]
            raise SystemExit(f"{name}: {models[name]} predicts {wrong}, not {TARGET}")
    names = {**LABELS, **{n: n for n in nets}}
    root = Path(args.data)
    if args.quick and not (root / "manifest.json").is_file():
        print(f"no dataset at {root}: rendering a small one of the README's kind there")
        generate(root, load_config(QUICK_DATA, source="room"), quiet=True)
    views, data = room_views(root, 4 if args.quick else None)
    size = int(data.config.size)
    sizes = tuple(sorted({size, *sizes}))  # the race's size is timed too
    calls = methods(nets)
    print(f"{len(views)} held-out room views of {root} at {size}²")
    room = quality(calls, views)
    for name in calls:
        print(f"  {names[name]:>16}: "
              + ", ".join(f"{k} {v:.4f}" for k, v in room[name]["mean"].items()))  # fmt: skip

    # unseen scenes at the room views' size, and the grid
    scenes = {}
    with tempfile.TemporaryDirectory() as tmp:
        scene_views = [
            scene_view(name, size, data.config.reference_spp, Path(tmp))
            for name in (SCENES[:1] if args.quick else SCENES)
        ]
        for view in scene_views:
            scenes[view["name"]] = {"lens": view["lens"], **quality(calls, [view])}
            print(f"  {view['name']}: " + ", ".join(
                f"{names[n]} SSIM {scenes[view['name']][n]['mean']['ssim']:.3f}"
                for n in calls))  # fmt: skip
        shown = views[:3] + scene_views
        picture_ = grid(calls, shown, names, 2 if size <= 128 else 1, data.config.reference_spp)
        grid_path = out.with_name(f"{out.stem}_grid.png")
        write_png(grid_path, picture_)
        print(f"wrote {grid_path}")

    # time to equal quality against Mitsuba through the same lenses
    race_views = views[:race_n]
    targets = {m: float(np.mean([v["ssim"] for v in room[m]["views"][:race_n]])) for m in calls}
    room_race = race(targets, race_views, ladder, names)
    equal = room_race["equal_quality"]

    # speed at each size, every method in the same rounds; Mitsuba at the equal-quality counts
    speed: dict[str, Any] = {}
    timed_calls = {k: c for k, c in calls.items() if k != "none"}
    for side in sizes:
        view = enlarged(views[0], side)
        with torch.inference_mode():
            timed = {k: (lambda c=c, v=view: c(v)) for k, c in timed_calls.items()}
            speed[str(side)] = {"methods_ms": interleaved_ms(timed, repeats)}
        print(f"  {side}²: " + ", ".join(
            f"{k} {v:.1f} ms" for k, v in speed[str(side)]["methods_ms"].items()))  # fmt: skip
    side = max(sizes)
    config = data.config.model_copy(update={"size": side})
    scene, common = data.source.mitsuba_view(config, data.record(0), lens=True)
    speed[str(side)]["mitsuba_ms_at_spp"] = {
        str(n): 1e3 * warm_seconds(scene, common, n, seed=n, warm=True, buffer="beauty")[1]
        for n in sorted({r["samples"] for m, r in equal.items() if m != "none"})
    }
    print(f"  Mitsuba at {side}²: {speed[str(side)]['mitsuba_ms_at_spp']}")
    ratios = {
        m: {
            str(size): result["seconds"] * 1e3 / speed[str(size)]["methods_ms"][m],
            str(side): speed[str(side)]["mitsuba_ms_at_spp"][str(result["samples"])]
            / speed[str(side)]["methods_ms"][m],
        }
        for m, result in equal.items()
        if m != "none"
    }
    lenses = [data.record(i)["lens"] for i in range(len(views))]
    record(
        out,
        "deep_shading_dof",
        args.quick,
        {
            "data": str(root),
            "dataset": {
                "size": size,
                "reference_spp": data.config.reference_spp,
                "aperture_radius": list(data.config.aperture_radius),
                "focus_distance": list(data.config.focus_distance),
                "test_views": len(data),
                "views_scored": len(views),
                "coc_px_mean": float(np.mean([v["buffers"]["coc"].mean() for v in views])),
                "coc_px_max": float(max(v["buffers"]["coc"].max() for v in views)),
                "lenses": lenses,
            },
            "models": models,
            "gather": DOF_BASELINE,
            "unseen_lens": {"focus": FOCUS, "aperture": APERTURE},
            "room": room,
            "scenes": scenes,
            "race": {"views": len(race_views), "size": size, **room_race, "speedup": ratios},
            "speed": speed,
            "grid": grid_path.name,
        },
        mitsuba=mi.__version__,
    )


if __name__ == "__main__":
    main()

"""Deep shading, indirect light (GI): the network against the classic ambient term and Mitsuba 3.

Every figure comes from this one run, on this machine:

- quality of each method's indirect light against the converged path-traced one (the
  dataset's ``indirect_reference``: paths of up to ``max_depth`` bounces at ``reference_spp``
  samples per pixel, minus their one-bounce part): relMSE (KPCN's, (p − t)² / (t² + 0.01)),
  L1 and PSNR on the linear light, per image, averaged over the held-out (test) views of the
  room GI dataset; and of the image a renderer would show, beauty = converged direct light +
  the method's indirect light, tone-mapped (x / (1 + x)): SSIM and PSNR against the converged
  beauty (direct + indirect); the same per view on the Mitsuba XML scenes of ``examples/``,
  which the training never saw, rendered here at the room views' size;
- the methods: ``none`` (no indirect light: direct only), the classic real-time ambient term
  ``ambient`` (k · albedo, k one colour fitted by least squares to the training views'
  indirect light: its best constant), ``ambient × GTAO`` (k' · albedo · GTAO's AO of the
  dataset's radius, k' fitted likewise: the ambient term as engines darken it), and the
  networks, as ``neuralshade infer`` runs them;
- milliseconds per frame on CPU at 128², 256² and 512² for every method, timed in turns in
  the same rounds, on a held-out view's buffers enlarged (nearest) to each size: the network
  as ``infer`` runs it (at its training pixel scale, so the same small network above 128²)
  and on the view's own pixels (``native``);
- time to equal quality: the fewest samples per pixel at which Mitsuba 3's path tracer
  (the one-pass G-buffer integrator, the dataset's renderer) matches each method's mean
  relMSE of the indirect light on the first ``--race-views`` held-out views; Mitsuba's seconds
  there (warm: each count's kernel compiled first), the ratio to the method's time, and
  Mitsuba at 512² timed at the same samples per pixel;
- an image grid: normal | direct | none | ambient × GTAO | networks | reference (beauty,
  tone-mapped, sRGB), with the indirect light's error maps below.

    python benchmarks/deep_shading_gi.py              # the recorded figures (data/room-gi)
    python benchmarks/deep_shading_gi.py --quick --data /tmp/dsgi   # smoke test (a tiny dataset)

Models default to the bundled ``deepshade-gi-cpu``; ``--model NAME=PATH`` (repeatable)
compares checkpoints instead. The JSON goes to ``benchmarks/results/deep_shading_gi.json``
(``_quick`` with ``--quick``) and the grid beside it.
"""

from __future__ import annotations

import argparse
import tempfile
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
from neuralshade.imageio import heatmap, write_png
from neuralshade.infer import load_model, predict, view_focal
from neuralshade.metrics import compute
from neuralshade.render.mitsuba.files import load_scene_file, render_scene_file
from neuralshade.render.mitsuba_scene import load_mitsuba
from neuralshade.sheets import display, labelled
from neuralshade.tasks.deep_shading import BASELINE_SETTINGS, screen_space_ao

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = {"ours": "deepshade-gi-cpu"}
SCENES = ("cornell_box", "spheres", "blocks", "courtyard")
INPUTS = ("position_camera", "normal_camera", "albedo", "direct_reference")
TARGET = "indirect_reference"
METRICS = ("relmse", "l1", "psnr")  # of the linear indirect light; relMSE decides equal quality
BEAUTY_METRICS = ("ssim", "psnr")  # of direct + indirect, tone-mapped
LABELS = {"none": "none (direct only)", "ambient": "ambient", "ambient_gtao": "ambient × GTAO"}
# --quick without a dataset: the README's GI dataset in small (2 scenes of 2 views, 64², 64 spp)
QUICK_DATA = {"count": 2, "views": 2, "size": 64, "seed": 0, "spp": 4, "reference_spp": 64,
              "buffers": ["position", "normal", "depth", "albedo"],
              "reference_buffers": ["direct", "indirect"],
              "split": {"train": 0.5, "val": 0.0, "test": 0.5}}  # fmt: skip
FIT_VIEWS = 80  # training views the ambient terms are fitted on
ERROR_VMAX = 0.1  # error maps saturate at this difference of indirect light

View = dict[str, Any]  # name, inputs {name: (C, H, W)}, reference (3, H, W), fov, radius, mitsuba


# ---- the views --------------------------------------------------------------------------------


def room_views(root: Path, split: str, count: int | None) -> tuple[list[View], BufferDataset]:
    data = BufferDataset(root, split, (*INPUTS, TARGET), crop=None, mode="full")
    views = []
    for i in range(len(data) if count is None else min(count, len(data))):
        sample = data[i]
        camera = data.record(i)["camera"]
        views.append(
            {
                "name": f"room {split} {data.indices[i]}",
                "inputs": {n: sample[n] for n in INPUTS},
                "reference": sample[TARGET],
                "fov": (camera["fov"], camera.get("fov_axis", "x")),
                "radius": data.config.ao_radius,
                "mitsuba": lambda i=i: data.source.mitsuba_view(data.config, data.record(i)),
            }
        )
    return views, data


def scene_view(name: str, size: int, radius: float, reference_spp: int, folder: Path) -> View:
    """An example scene rendered as ``neuralshade render`` renders it: G-buffers at 4 spp and
    the converged direct and indirect light; camera-space buffers derived as infer reads them."""
    path = ROOT / "examples" / f"{name}.xml"
    out = folder / name
    render_scene_file(
        path, out, spp=4, reference_spp=reference_spp, size=(size, size),
        buffers=["position", "normal", "depth", "albedo"],
        reference_buffers=["direct", "indirect"], ao_radius=radius,
    )  # fmt: skip
    buffers = read_folder(get_source("room"), out, [*INPUTS, TARGET])
    camera = read_params(out)["camera"]
    t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in buffers.items()}
    return {
        "name": name,
        "inputs": {n: t[n] for n in INPUTS},
        "reference": t[TARGET],
        "fov": (camera["fov"], camera["fov_axis"]),
        "radius": radius,
        "mitsuba": lambda: load_scene_file(path, size=(size, size), ao_radius=radius),
    }


def enlarged(view: View, side: int) -> View:
    """The view's buffers enlarged (nearest) to side², for timing: the same content, as many
    pixels as a frame of that size."""
    inputs = {
        n: F.interpolate(t[None], size=(side, side), mode="nearest")[0]
        for n, t in view["inputs"].items()
    }
    return {**view, "inputs": inputs, "name": f"{view['name']} at {side}²"}


# ---- the methods ------------------------------------------------------------------------------


def gtao(view: View) -> torch.Tensor:
    """GTAO's AO (1, H, W) of the view, at the task's settings and the dataset's radius."""
    p, n = view["inputs"]["position_camera"], view["inputs"]["normal_camera"]
    return screen_space_ao("gtao", p[None], n[None], view["fov"], view["radius"])[0]


def regressors(view: View) -> dict[str, torch.Tensor]:
    """What each ambient term multiplies its fitted colour with: (3, H, W)."""
    albedo = view["inputs"]["albedo"]
    return {"ambient": albedo, "ambient_gtao": albedo * gtao(view)}


def fit_ambient(views: list[View]) -> dict[str, list[float]]:
    """Per ambient term, the colour k (one value per channel) minimising Σ (k·x − indirect)²
    over the views' pixels: the best constant ambient light a game could have chosen."""
    sums: dict[str, list[torch.Tensor]] = {}
    with torch.inference_mode():
        for view in views:
            for name, x in regressors(view).items():
                xy = (x * view["reference"]).sum(dim=(1, 2))
                xx = (x * x).sum(dim=(1, 2))
                acc = sums.setdefault(name, [torch.zeros(3), torch.zeros(3)])
                acc[0] += xy
                acc[1] += xx
    return {name: (xy / xx.clamp_min(1e-12)).tolist() for name, (xy, xx) in sums.items()}


def methods(
    nets: dict[str, torch.nn.Module], ambient: dict[str, list[float]]
) -> dict[str, Callable[[View], torch.Tensor]]:
    """name → view → (3, H, W) indirect light: none, the ambient terms, then the networks."""
    out: dict[str, Callable[[View], torch.Tensor]] = {
        "none": lambda view: torch.zeros_like(view["inputs"]["albedo"])
    }

    def term(name: str) -> Callable[[View], torch.Tensor]:
        k = torch.tensor(ambient[name]).view(3, 1, 1)
        if name == "ambient":
            return lambda view: k * view["inputs"]["albedo"]
        return lambda view: k * view["inputs"]["albedo"] * gtao(view)

    for name in ambient:
        out[name] = term(name)
    for name, net in nets.items():
        out[name] = network(net, rescale=True)
    return out


def network(net: torch.nn.Module, rescale: bool) -> Callable[[View], torch.Tensor]:
    """The network as ``infer`` runs it (``rescale``: at its training pixel scale)."""

    def call(view: View) -> torch.Tensor:
        h, w = view["inputs"]["albedo"].shape[-2:]
        focal = view_focal(view["fov"], h, w) if rescale else None
        return predict(net, view["inputs"], focal=focal)

    return call


def tonemap(x: torch.Tensor) -> torch.Tensor:
    return x / (1 + x)


def quality(calls: dict[str, Callable], views: list[View]) -> dict[str, Any]:
    """Per method: the metrics of each view (indirect light; tone-mapped beauty), and means."""

    def score(pred: torch.Tensor, view: View) -> dict[str, float]:
        pred, ref = pred[None], view["reference"][None]
        direct = view["inputs"]["direct_reference"][None]
        values = compute(METRICS, pred, ref)
        beauty = compute(BEAUTY_METRICS, tonemap(direct + pred), tonemap(direct + ref))
        return {
            **{k: float(v) for k, v in values.items()},
            **{f"beauty_{k}": float(v) for k, v in beauty.items()},
        }

    return scored(calls, views, score)


# ---- Mitsuba ----------------------------------------------------------------------------------


def relmse_score(render: torch.Tensor, reference: torch.Tensor) -> float:
    return float(compute(["relmse"], render[None], reference[None])["relmse"])


def race(targets: dict[str, float], views: list[View], ladder, names) -> dict[str, Any]:
    """The spp Mitsuba needs to reach each method's mean relMSE on ``views`` (``targets``)."""
    return mitsuba_race.race(targets, views, ladder, names, buffer="indirect", metric="relmse",
                             score=relmse_score, higher_is_better=False)  # fmt: skip


# ---- the grid ---------------------------------------------------------------------------------


def grid(calls: dict[str, Callable], views: list[View], names: dict[str, str], scale: int, spp):
    """Two rows per view: beauty (direct + indirect, sRGB), then |indirect error| maps."""
    rows = []
    with torch.inference_mode():
        for view in views:
            direct = view["inputs"]["direct_reference"]
            ref = view["reference"]
            normal = view["inputs"]["normal_camera"].permute(1, 2, 0).numpy() * 0.5 + 0.5
            top = [
                labelled(f"{view['name']}: normal", big(display(normal, "srgb"), scale)),
                labelled("direct", big(picture(direct), scale)),
            ]
            blank = np.ones((*ref.shape[1:], 3), np.float32)
            bottom = [labelled(f"|error| 0 to {ERROR_VMAX}", big(blank, scale))]
            bottom.append(labelled("", big(blank, scale)))
            for name, call in calls.items():
                pred = call(view).float()
                top.append(labelled(names[name], big(picture(direct + pred), scale)))
                error = (pred - ref).abs().mean(dim=0).numpy()
                bottom.append(
                    labelled(f"{names[name]} error", big(heatmap(error, ERROR_VMAX), scale))
                )
            top.append(labelled(f"reference ({spp} spp)", big(picture(direct + ref), scale)))
            bottom.append(labelled("", big(blank, scale)))
            rows += [np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)]
    return np.concatenate(rows, axis=0)


def picture(light: torch.Tensor) -> np.ndarray:
    """(3, H, W) linear light → (H, W, 3) sRGB picture in [0, 1], Reinhard-tone-mapped."""
    return display(tonemap(light).permute(1, 2, 0).numpy(), "linear")


# ---- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few views, small sizes: a smoke test")
    parser.add_argument("--data", default="data/room-gi", help="the room GI dataset (README)")
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
    args = parser.parse_args(argv)  # fmt: skip
    torch.manual_seed(0)
    models = dict(m.split("=", 1) for m in args.model) if args.model else dict(DEFAULT_MODELS)
    stem = "deep_shading_gi_quick" if args.quick else "deep_shading_gi"
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
    train_views, _ = room_views(root, "train", 4 if args.quick else FIT_VIEWS)
    ambient = fit_ambient(train_views)
    print(f"ambient colours fitted on {len(train_views)} training views: {ambient}")
    views, data = room_views(root, "test", 4 if args.quick else None)
    size = int(data.config.size)
    sizes = tuple(sorted({size, *sizes}))  # the race's size is timed too
    calls = methods(nets, ambient)
    print(f"{len(views)} held-out room views of {root} at {size}²")
    room = quality(calls, views)
    for name in calls:
        print(f"  {names[name]:>20}: "
              + ", ".join(f"{k} {v:.4f}" for k, v in room[name]["mean"].items()))  # fmt: skip

    # unseen scenes, at the room views' size, and the grid
    scenes = {}
    with tempfile.TemporaryDirectory() as tmp:
        scene_views = [
            scene_view(name, size, data.config.ao_radius, data.config.reference_spp, Path(tmp))
            for name in (SCENES[:1] if args.quick else SCENES)
        ]
        for view in scene_views:
            scenes[view["name"]] = quality(calls, [view])
            print(f"  {view['name']}: " + ", ".join(
                f"{names[n]} relMSE {scenes[view['name']][n]['mean']['relmse']:.3f}"
                for n in calls))  # fmt: skip
    shown = views[:3] + scene_views
    in_grid = {k: c for k, c in calls.items() if k != "ambient"}
    picture_ = grid(in_grid, shown, names, 2 if size <= 128 else 1, data.config.reference_spp)
    grid_path = out.with_name(f"{out.stem}_grid.png")
    write_png(grid_path, picture_)
    print(f"wrote {grid_path}")

    # time to equal quality against Mitsuba on the race views
    race_views = views[:race_n]
    targets = {m: float(np.mean([v["relmse"] for v in room[m]["views"][:race_n]])) for m in calls}
    room_race = race(targets, race_views, ladder, names)
    equal = room_race["equal_quality"]

    # speed at each size, every method in the same rounds; Mitsuba at the equal-quality counts
    speed: dict[str, Any] = {}
    timed_calls = dict(calls)
    for name, net in nets.items():
        timed_calls[f"{name}_native"] = network(net, rescale=False)
    for side in sizes:
        view = enlarged(views[0], side)
        with torch.inference_mode():
            timed = {k: (lambda c=c, v=view: c(v)) for k, c in timed_calls.items()}
            speed[str(side)] = {"methods_ms": interleaved_ms(timed, repeats)}
        print(f"  {side}²: " + ", ".join(
            f"{k} {v:.1f} ms" for k, v in speed[str(side)]["methods_ms"].items()))  # fmt: skip
    side = max(sizes)
    big_view = room_views_at(data, 0, side)
    scene, common = big_view
    speed[str(side)]["mitsuba_ms_at_spp"] = {
        str(n): 1e3 * warm_seconds(scene, common, n, seed=n, warm=True, buffer="indirect")[1]
        for n in sorted({r["samples"] for r in equal.values()})
    }
    print(f"  Mitsuba at {side}²: {speed[str(side)]['mitsuba_ms_at_spp']}")
    ratios: dict[str, dict[str, float]] = {}
    for m, result in equal.items():
        ratios[m] = {
            str(size): result["seconds"] * 1e3 / speed[str(size)]["methods_ms"][m],
            str(side): speed[str(side)]["mitsuba_ms_at_spp"][str(result["samples"])]
            / speed[str(side)]["methods_ms"][m],
        }
    record(
        out,
        "deep_shading_gi",
        args.quick,
        {
            "data": str(root),
            "dataset": {
                "size": size,
                "reference_spp": data.config.reference_spp,
                "max_depth": data.config.max_depth,
                "test_views": len(data),
                "views_scored": len(views),
            },
            "models": models,
            "ambient": {
                "colours": ambient,
                "fitted_on_views": len(train_views),
                "gtao": BASELINE_SETTINGS["gtao"],
                "ao_radius": data.config.ao_radius,
            },
            "room": room,
            "scenes": scenes,
            "race": {"views": len(race_views), "size": size, **room_race, "speedup": ratios},
            "speed": speed,
            "grid": grid_path.name,
        },  # fmt: skip
        mitsuba=mi.__version__,
    )


def room_views_at(data: BufferDataset, i: int, side: int) -> tuple[Any, dict]:
    """Held-out room view ``i`` as a Mitsuba scene of side² pixels, and its render settings."""
    config = data.config.model_copy(update={"size": side})
    return data.source.mitsuba_view(config, data.record(i))


if __name__ == "__main__":
    main()

"""Deep shading, ambient occlusion: networks against SSAO, HBAO, GTAO and Mitsuba 3, in one run.

Every figure comes from this one run, on this machine:

- quality of each method against the converged ray-traced AO (the dataset's ``ao_reference``:
  1024 cosine-weighted rays of the dataset's radius per pixel): SSIM, DSSIM, L1 and PSNR per
  image, averaged over the held-out (test) views of the room dataset, and per view on Mitsuba
  XML scenes the training never saw (``examples/``: other scales, lights, lenses and shapes),
  rendered here as ``neuralshade render`` renders them, at the room views' size;
- the same on held-out room views rendered again at 256² and 512² with their own converged AO
  (``--sized-views``): a network works in pixels, and a metre spans 4× more of them at 512²;
  "ours rescaled" is our network run at the pixel scale it was trained at (inputs area-averaged
  by the ratio of focal lengths in pixels, AO resized back bilinearly);
- milliseconds per frame on CPU at 128², 256² and 512² for every method (the networks as
  ``neuralshade infer`` runs them, BatchNorm folded, and ours in channels-last too; the
  baselines at their stated sample counts, and GTAO also through torch.compile, which fuses its
  per-pixel torch operations as a hand-written CPU kernel would), timed in turns in the same
  rounds, on G-buffers of a held-out room view rendered at each size;
- time to equal quality: the fewest AO rays per pixel at which Mitsuba 3 matches each method's
  mean SSIM (the search of :mod:`neuralshade.equal_quality`) on the first ``--race-views``
  held-out views at the dataset's size, and on each unseen scene; Mitsuba's seconds there
  (warm: each sample count's kernel compiled before it is timed) and the ratio to the method's
  time; at 512², Mitsuba timed at the same rays per pixel (a race there is out of reach:
  SSIM's 11-pixel window sees more of the noise of flat walls, and Mitsuba nears the
  reference's own ray count);
- an image grid: G-buffer normal | SSAO | HBAO | GTAO | Deep Shading | ours | reference, each
  with its error map below, for two held-out room views and every unseen scene.

    python benchmarks/deep_shading.py              # the recorded figures (data/room-ao)
    python benchmarks/deep_shading.py --quick --data /tmp/ds   # smoke test (renders a tiny dataset)

Models default to the bundled ``deepshade-ao-deepshading-cpu`` and ``deepshade-ao-cpu``;
``--model NAME=PATH`` (repeatable) compares checkpoints instead. The JSON goes to
``benchmarks/results/deep_shading.json`` (``_quick`` with ``--quick``) and the grid beside it.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mitsuba_race
import numpy as np
import torch
from common import RESULTS, interleaved_ms, record, scored
from common import enlarged_picture as big
from mitsuba_race import warm_seconds

from neuralshade.baselines import SCREEN_SPACE_AO
from neuralshade.data.datasets import BufferDataset
from neuralshade.data.folder import read_folder, read_params
from neuralshade.data.generate import generate, load_config
from neuralshade.data.sources import get_source
from neuralshade.imageio import heatmap, write_png
from neuralshade.infer import load_model, predict, view_focal
from neuralshade.metrics import compute
from neuralshade.render.mitsuba.files import load_scene_file, render_scene_file
from neuralshade.render.mitsuba.gbuffer import render_gbuffers
from neuralshade.render.mitsuba_scene import load_mitsuba
from neuralshade.sheets import display, labelled
from neuralshade.tasks.deep_shading import BASELINE_SETTINGS, screen_space_ao

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = {"deepshading": "deepshade-ao-deepshading-cpu", "ours": "deepshade-ao-cpu"}
SCENES = ("cornell_box", "spheres", "blocks", "courtyard")
METRICS = ("ssim", "dssim", "l1", "psnr")
INPUTS = ("position_camera", "normal_camera")
LABELS = {
    "ssao": "SSAO",
    "hbao": "HBAO",
    "gtao": "GTAO",
    "deepshading": "Deep Shading",
    "ours_rescaled": "ours rescaled",
}
# --quick without a dataset: the README's AO dataset in small (2 scenes of 2 views, 64², 64 rays)
QUICK_DATA = {"count": 2, "views": 2, "size": 64, "seed": 0, "spp": 4, "reference_spp": 64,
              "buffers": ["position", "normal", "depth", "albedo"], "reference_buffers": ["ao"],
              "split": {"train": 0.5, "val": 0.0, "test": 0.5}}  # fmt: skip
ERROR_VMAX = 0.25  # error maps saturate at this AO difference
LARGER = (256, 512)  # sizes the held-out views are rendered again at, with their reference
COMPILED = ("gtao",)  # timed through torch.compile too: the classic the network must beat

View = dict[str, Any]  # name, position, normal (3, H, W), reference (1, H, W), fov, radius


# ---- the views --------------------------------------------------------------------------------


def room_views(root: Path, count: int | None) -> tuple[list[View], BufferDataset]:
    data = BufferDataset(root, "test", (*INPUTS, "ao_reference"), crop=None, mode="full")
    views = []
    for i in range(len(data) if count is None else min(count, len(data))):
        sample = data[i]
        camera = data.record(i)["camera"]
        views.append(
            {
                "name": f"room test {data.indices[i]}",
                "position": sample["position_camera"],
                "normal": sample["normal_camera"],
                "reference": sample["ao_reference"],
                "fov": (camera["fov"], camera.get("fov_axis", "x")),
                "radius": data.config.ao_radius,
                "mitsuba": lambda i=i: data.source.mitsuba_view(data.config, data.record(i)),
            }
        )
    return views, data


def scene_view(name: str, size: int, radius: float, reference_spp: int, folder: Path) -> View:
    """An example scene rendered as ``neuralshade render`` renders it: G-buffers at 4 spp (as
    the dataset's) and the converged AO; camera-space buffers derived as infer reads them."""
    path = ROOT / "examples" / f"{name}.xml"
    out = folder / name
    render_scene_file(
        path, out, spp=4, reference_spp=reference_spp, size=(size, size),
        buffers=["position", "normal", "depth"], reference_buffers=["ao"], ao_radius=radius,
    )  # fmt: skip
    buffers = read_folder(get_source("room"), out, [*INPUTS, "ao_reference"])
    params = read_params(out)
    t = {k: torch.from_numpy(v) for k, v in buffers.items()}
    return {
        "name": name,
        "position": t["position_camera"],
        "normal": t["normal_camera"],
        "reference": t["ao_reference"],
        "fov": (params["camera"]["fov"], params["camera"]["fov_axis"]),
        "radius": radius,
        "mitsuba": lambda: load_scene_file(path, size=(size, size), ao_radius=radius),
    }


def room_view_at(data: BufferDataset, i: int, size: int, reference: bool = False) -> View:
    """Held-out room view ``i`` rendered again at ``size``² as the dataset renders its views
    (G-buffers at its spp; with ``reference``, the converged AO at its reference rays): the
    same view at sizes the dataset does not hold."""
    source, record = data.source, data.record(i)
    config = data.config.model_copy(update={"size": size})
    scene, common = source.mitsuba_view(config, record)
    world = render_gbuffers(scene, spp=config.spp, seed=0, buffers=["position", "normal"], **common)
    stored = {k: np.ascontiguousarray(v.transpose(2, 0, 1)) for k, v in world.items()}
    camera = record["camera"]
    out = {
        n: torch.from_numpy(source.derive(config, n, record, (size, size), stored.__getitem__))
        for n in INPUTS
    }
    view = {
        "name": f"room test {data.indices[i]} at {size}²",
        "position": out["position_camera"].float(),
        "normal": out["normal_camera"].float(),
        "fov": (camera["fov"], camera.get("fov_axis", "x")),
        "radius": data.config.ao_radius,
        "mitsuba": lambda: (scene, common),
    }
    if reference:
        ao = render_gbuffers(scene, spp=config.reference_spp, seed=1, buffers=["ao"], **common)
        view["reference"] = torch.from_numpy(np.ascontiguousarray(ao["ao"].transpose(2, 0, 1)))
    return view


# ---- the methods ------------------------------------------------------------------------------


def methods(nets: dict[str, torch.nn.Module]) -> dict[str, Callable[[View], torch.Tensor]]:
    """name → view → (1, H, W) AO: the baselines, then the networks."""
    out = {name: baseline(name) for name in SCREEN_SPACE_AO}
    for name, net in nets.items():

        def network(view: View, net=net) -> torch.Tensor:
            inputs = {"position_camera": view["position"], "normal_camera": view["normal"]}
            return predict(net, inputs)

        out[name] = network
    return out


def baseline(name: str, method: Callable | None = None) -> Callable[[View], torch.Tensor]:
    """A screen-space method on a view, as the task runs it (``method``: another function)."""

    def call(view: View) -> torch.Tensor:
        position, normal = view["position"][None], view["normal"][None]
        return screen_space_ao(name, position, normal, view["fov"], view["radius"], method)[0]

    return call


def compiled(name: str, view: View) -> tuple[Callable[[View], torch.Tensor] | None, dict]:
    """The baseline through torch.compile (Inductor fuses its hundreds of per-pixel torch
    operations into a few C++ loops: what a hand-written CPU kernel would be), checked against
    the eager result on ``view``; (None, why) where compiling fails (no C++ compiler)."""
    start = time.perf_counter()
    try:
        call = baseline(name, torch.compile(SCREEN_SPACE_AO[name], dynamic=True))
        with torch.inference_mode():
            got, want = call(view), baseline(name)(view)
    except Exception as exc:  # Inductor's failures have no common type
        return None, {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    difference = float((got - want).abs().max())
    return call, {"compile_seconds": time.perf_counter() - start, "max_difference": difference}


def rescaled(net: torch.nn.Module) -> Callable[[View], torch.Tensor]:
    """The network at the pixel scale it was trained at, as ``infer`` runs it given the view's
    focal length (neuralshade.infer's module docs): a finer view is area-averaged down to the
    training views' focal length in pixels, run, and its AO bilinearly resized back, with AO 1
    where no sample hit. A view at or below the training scale runs as it is."""

    def call(view: View) -> torch.Tensor:
        h, w = view["position"].shape[-2:]
        inputs = {"position_camera": view["position"], "normal_camera": view["normal"]}
        return predict(net, inputs, focal=view_focal(view["fov"], h, w))

    return call


def channels_last(net: torch.nn.Module) -> Callable[[View], torch.Tensor]:
    """A network run in channels-last memory format (its input converted as part of the call)."""
    net = copy.deepcopy(net).to(memory_format=torch.channels_last)

    def call(view: View) -> torch.Tensor:
        x = torch.cat([view["position"], view["normal"]])[None]
        return net(x.contiguous(memory_format=torch.channels_last))[0].clamp(0, 1)

    return call


def quality(calls: dict[str, Callable], views: list[View]) -> dict[str, Any]:
    """Per method: the metrics of each view, and their means."""

    def score(pred: torch.Tensor, view: View) -> dict[str, float]:
        values = compute(METRICS, pred[None], view["reference"][None])
        return {k: float(v) for k, v in values.items()}

    return scored(calls, views, score)


# ---- Mitsuba ----------------------------------------------------------------------------------


def ssim_score(render: torch.Tensor, reference: torch.Tensor) -> float:
    return float(compute(["ssim"], render[None], reference[None])["ssim"])


def race(targets: dict[str, float], views: list[View], ladder, names) -> dict[str, Any]:
    """The AO rays Mitsuba needs to reach each method's mean SSIM on ``views`` (``targets``)."""
    return mitsuba_race.race(targets, views, ladder, names, buffer="ao", metric="ssim",
                             score=ssim_score, higher_is_better=True, unit="rays")  # fmt: skip


# ---- the grid ---------------------------------------------------------------------------------


def grid(
    calls: dict[str, Callable], views: list[View], names: dict[str, str], scale: int, rays: int
):
    """Two rows per view: pictures, then |error| maps (inferno, saturating at ERROR_VMAX)."""
    rows = []
    with torch.inference_mode():
        for view in views:
            ref = view["reference"][0].numpy()
            top = [
                labelled(
                    f"{view['name']}: normal",
                    big(
                        display(view["normal"].permute(1, 2, 0).numpy() * 0.5 + 0.5, "srgb"), scale
                    ),
                )
            ]
            bottom = [labelled("|error| 0 to 0.25", big(heatmap(np.zeros_like(ref), 1), scale))]
            for name, call in calls.items():
                pred = call(view)[0].float().numpy()
                ssim = float(
                    compute(["ssim"], torch.from_numpy(pred)[None, None], view["reference"][None])[
                        "ssim"
                    ]
                )
                top.append(
                    labelled(f"{names[name]} {ssim:.3f}", big(display(pred, "scalar"), scale))
                )
                bottom.append(
                    labelled(
                        f"{names[name]} error", big(heatmap(np.abs(pred - ref), ERROR_VMAX), scale)
                    )
                )
            top.append(labelled(f"reference ({rays} rays)", big(display(ref, "scalar"), scale)))
            bottom.append(labelled("", big(np.ones((*ref.shape, 3), np.float32), scale)))
            rows += [np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)]
    return np.concatenate(rows, axis=0)


# ---- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few views, small sizes: a smoke test")
    parser.add_argument("--data", default="data/room-ao", help="the room AO dataset (README)")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a network to compare (repeatable; default: the bundled two)",
    )
    parser.add_argument(
        "--race-views", type=int, default=8, help="held-out views Mitsuba races on (default 8)"
    )
    parser.add_argument(
        "--sized-views", type=int, default=4, help="held-out views scored at 256² and 512² (4)"
    )
    parser.add_argument("--repeats", type=int, default=7, help="timing rounds (default 7)")
    parser.add_argument("--out", default=None, help="the JSON (default benchmarks/results/...)")
    args = parser.parse_args(argv)  # fmt: skip
    torch.manual_seed(0)
    models = dict(DEFAULT_MODELS)
    if args.model:
        models = dict(m.split("=", 1) for m in args.model)
    stem = "deep_shading_quick" if args.quick else "deep_shading"
    out = Path(args.out) if args.out else RESULTS / f"{stem}.json"
    views_n = 4 if args.quick else None
    race_n = 1 if args.quick else args.race_views
    sizes = (64, 128) if args.quick else (128, 256, 512)
    repeats = 2 if args.quick else args.repeats
    ladder = tuple(2**k for k in range(7 if args.quick else 13))

    mi = load_mitsuba()
    nets = {}
    for name, path in models.items():
        nets[name] = load_model(path, "cpu", task="deep-shading")[0]
    names = {**LABELS, **{n: LABELS.get(n, n) for n in nets}}
    # quality on held-out room views
    root = Path(args.data)
    if args.quick and not (root / "manifest.json").is_file():
        print(f"no dataset at {root}: rendering a small one of the README's kind there")
        generate(root, load_config(QUICK_DATA, source="room"), quiet=True)
    views, data = room_views(root, views_n)
    size = int(data.config.size)
    calls = methods(nets)
    if "ours" in nets:  # ours at the pixel scale of the views it was trained on (this dataset's)
        calls["ours_rescaled"] = rescaled(nets["ours"])
    print(f"{len(views)} held-out room views of {root} at {size}²")
    room = quality(calls, views)
    for name in calls:
        print(
            f"  {names[name]:>12}: "
            + ", ".join(f"{k} {v:.4f}" for k, v in room[name]["mean"].items())
        )

    # unseen scenes, at the room views' size and AO radius
    scenes = {}
    with tempfile.TemporaryDirectory() as tmp:
        scene_views = []
        for name in SCENES[:2] if args.quick else SCENES:
            spp = data.config.reference_spp  # as the room's reference
            scene_views.append(scene_view(name, size, data.config.ao_radius, spp, Path(tmp)))
        for view in scene_views:
            scenes[view["name"]] = quality(calls, [view])
            print(
                f"  {view['name']}: "
                + ", ".join(
                    f"{names[n]} {scenes[view['name']][n]['mean']['ssim']:.3f}" for n in calls
                )
            )

        # the grid
        shown = views[:2] + scene_views
        in_grid = {k: c for k, c in calls.items() if k != "ours_rescaled"}
        picture = grid(in_grid, shown, names, 2 if size <= 128 else 1, data.config.reference_spp)
        grid_path = out.with_name(f"{out.stem}_grid.png")
        write_png(grid_path, picture)
        print(f"wrote {grid_path}")

    # time to equal quality against Mitsuba, on the race views, and on each unseen scene
    # (each method's SSIM there as already scored above)
    race_views = views[:race_n]
    targets = {m: float(np.mean([v["ssim"] for v in room[m]["views"][:race_n]])) for m in calls}
    room_race = race(targets, race_views, ladder, names)
    equal = room_race["equal_quality"]
    for view in scene_views:
        print(f"  {view['name']}:")
        scored = scenes[view["name"]]
        targets = {m: scored[m]["mean"]["ssim"] for m in calls}
        scored["race"] = race(targets, [view], ladder, names)

    # speed at each size, every method in the same rounds; Mitsuba at the equal-quality counts
    speed: dict[str, Any] = {}
    calls_timed = dict(calls)
    if "ours" in nets:
        calls_timed["ours_channels_last"] = channels_last(nets["ours"])
    compile_notes = {}
    for name in () if args.quick else COMPILED:
        call, compile_notes[name] = compiled(name, views[0])
        print(f"  {name} compiled: {compile_notes[name]}")
        if call is not None:
            calls_timed[f"{name}_compiled"] = call
    for side in sizes:
        view = room_view_at(data, 0, side)
        with torch.inference_mode():
            timed = {k: (lambda c=c, v=view: c(v)) for k, c in calls_timed.items()}
            speed[str(side)] = {"methods_ms": interleaved_ms(timed, repeats)}
        print(
            f"  {side}²: "
            + ", ".join(f"{k} {v:.1f} ms" for k, v in speed[str(side)]["methods_ms"].items())
        )
        if side == max(sizes) and side != size:  # Mitsuba here at the rays that matched at 128²
            scene, common = view["mitsuba"]()
            speed[str(side)]["mitsuba_ms_at_rays"] = {
                str(n): 1e3 * warm_seconds(scene, common, n, seed=n, warm=False, buffer="ao")[1]
                for n in sorted({r["samples"] for r in equal.values()})
            }
            print(f"  Mitsuba at {side}²: {speed[str(side)]['mitsuba_ms_at_rays']}")

    # the same held-out views at larger sizes: quality (a network sees pixels, and a metre spans
    # more of them)
    sized: dict[str, Any] = {}
    for side in () if args.quick else LARGER:
        print(f"  {args.sized_views} held-out views at {side}²:")
        larger = [room_view_at(data, i, side, reference=True) for i in range(args.sized_views)]
        scored = quality(calls, larger)
        sized[str(side)] = {"views": len(larger), "mean": {m: q["mean"] for m, q in scored.items()}}
        print(
            "    SSIM "
            + ", ".join(f"{names[m]} {q['mean']['ssim']:.3f}" for m, q in scored.items())
        )

    # speed-ups over Mitsuba at equal SSIM: at 128² from the race; at the largest size, Mitsuba
    # at the same rays per pixel (a race at 512² is out of reach: SSIM's 11-pixel window sees
    # more of the noise of flat walls there, and Mitsuba nears the reference's own 1024 rays)
    ratios: dict[str, dict[str, float]] = {}
    for m, result in equal.items():
        ratios[m] = {str(size): result["seconds"] * 1e3 / speed[str(size)]["methods_ms"][m]}
        for side, v in speed.items():
            if "mitsuba_ms_at_rays" in v:
                ratios[m][side] = (
                    v["mitsuba_ms_at_rays"][str(result["samples"])] / v["methods_ms"][m]
                )
    verdict = {
        "ours_ssim": room.get("ours", {}).get("mean", {}).get("ssim"),
        "gtao_ssim": room["gtao"]["mean"]["ssim"],
        "ours_over_gtao_time_512": (
            speed["512"]["methods_ms"]["ours"] / speed["512"]["methods_ms"]["gtao"]
            if "512" in speed and "ours" in nets else None
        ),
    }  # fmt: skip
    record(
        out,
        "deep_shading",
        args.quick,
        {
            "data": str(root),
            "dataset": {
                "size": size,
                "ao_radius": data.config.ao_radius,
                "reference_spp": data.config.reference_spp,
                "test_views": len(data),
                "views_scored": len(views),
            },
            "models": models,
            "baseline_settings": BASELINE_SETTINGS,
            "room": room,
            "scenes": scenes,
            "race": {"views": len(race_views), "size": size, **room_race, "speedup": ratios},
            "speed": speed,
            "sizes": sized,
            "compiled": compile_notes,
            "verdict": verdict,
            "grid": grid_path.name,
        },  # fmt: skip
        mitsuba=mi.__version__,
    )


if __name__ == "__main__":
    main()

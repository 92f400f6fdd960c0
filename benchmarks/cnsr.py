"""CNSR on held-out room scenes: query views against Mitsuba, composition against renders of the
mixed scenes, the learned partitions and where the network looks.

Every figure comes from this one run, on this machine, on the test split of a cnsr dataset
(``neuralshade dataset room --config cnsr-data``; its test groups are fully random scenes the
training never saw), each scene seen in the checkpoint's K observed views and shaded in its
query view:

- **quality** per checkpoint: log-L1 (mean |log1p p − log1p t|, linear radiance), PSNR and
  SSIM (radiance tone-mapped x / (1 + x)) of the query view against the converged Mitsuba
  render;
- **speed**: milliseconds per query view on CPU, the whole network (encode K views, partition,
  generate) and the generator alone (a representation already computed, as a viewer moving the
  camera runs it), in the same rounds; and Mitsuba's plain render of the same views at equal
  log-L1 (:func:`neuralshade.evaluate.equal_quality`: the fewest samples per pixel whose mean
  error reaches the network's, and its time);
- **composition against ground truth**: for pairs (A, B) of held-out scenes and each factor f,
  the scene "A with B's f" (A's lights, shapes or materials replaced by B's) is rendered by
  Mitsuba from A's query camera (G-buffers at the dataset's spp, the converged beauty), and the
  network shades that G-buffer from A's representation with partition f taken from B's
  (``swapped``); beside it, the same G-buffer shaded from A's representation unchanged
  (``kept``) and from B's whole (``other``), and A's own query view as predicted (``unmixed``);
  a partition that holds its factor makes ``swapped`` the best of the three;
- **partitions**: the learned shares of lighting, geometry and material;
- **attributions** (the original's analysis): gradient × input of the predicted view with
  respect to each partition of the representation (|∂y/∂r · r| summed over the partition's
  dimensions and the colours, per pixel), and of a patch at the view's centre with respect to
  each input buffer (the query's and the observed views').

    python benchmarks/cnsr.py --checkpoint cpu=runs/cnsr-cpu/checkpoints/best.safetensors

``--quick``: four scenes, two pairs, a short Mitsuba ladder (a smoke test for CI).
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, enlarged_picture, interleaved_ms, record  # noqa: E402

from neuralshade import checkpoint  # noqa: E402
from neuralshade.data.views import FactorBatches  # noqa: E402
from neuralshade.evaluate import equal_quality  # noqa: E402
from neuralshade.imageio import to_uint8, write_png  # noqa: E402
from neuralshade.infer import model_path  # noqa: E402
from neuralshade.metrics import compute  # noqa: E402
from neuralshade.scene_repr import (  # noqa: E402
    buffer_attributions,
    mixed,
    partition_attributions,
    predict,
    render_view,
    representation,
    shade,
)
from neuralshade.sheets import display, labelled  # noqa: E402
from neuralshade.task import Race  # noqa: E402
from neuralshade.tasks.cnsr import FACTORS, POSE, cnsr_options, flat_batch, queries, tonemap  # noqa: E402

METRICS = ("log_l1", "psnr", "ssim")
# --quick without a dataset: one random test group of 4 scenes rendered as cnsr-data does
QUICK_DATA = {"count": 8, "views": 4, "size": 32, "seed": 5, "spp": 4, "reference_spp": 64,
              "buffers": ["normal", "position", "id"], "reference_buffers": ["beauty"],
              "factor_batch": 4, "split": {"train": 0.5, "val": 0.0, "test": 0.5}}  # fmt: skip
DEFAULT_MODELS = {"cpu": "cnsr-cpu"}
PATCH = 8  # the attribution patch's side, pixels, at the view's centre


def scores(pred: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    """log-L1 on radiance, PSNR and SSIM tone-mapped, of one view (1, 3, H, W)."""
    out = {"log_l1": float(compute(("log_l1",), pred, truth)["log_l1"][0])}
    shown = compute(("psnr", "ssim"), tonemap(pred), tonemap(truth))
    out.update({k: float(v[0]) for k, v in shown.items()})
    return out


WAYS = ("swapped", "kept", "other")  # B's factor: its partition swapped in, A's kept, B's whole


def means(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


class Scenes:
    """The held-out scenes of a cnsr dataset as a checkpoint reads them: per scene its flat
    batch (B = 1), its room scene and the record of its query view."""

    def __init__(self, root: str, info: dict[str, Any], limit: int | None):
        opts = cnsr_options(info["config"]["options"])
        self.observed = list(dict.fromkeys(opts.observation_passes))
        self.query = list(dict.fromkeys((*info["inputs"], *info["targets"])))
        views = {"observed": (*self.observed, POSE), "query": (*self.query, POSE),
                 "k": opts.views_per_scene - 1}  # fmt: skip
        self.groups = FactorBatches(root, "test", mode="fixed", seed=0, **views)
        self.views = self.groups.views
        self.data = self.views.data
        self.scenes = [s for g in self.groups.groups for s in g][:limit]
        self._batches: dict[int, dict[str, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.scenes)

    def batch(self, i: int) -> dict[str, torch.Tensor]:
        if i not in self._batches:
            self._batches[i] = self._read(i)
        return self._batches[i]

    def _read(self, i: int) -> dict[str, torch.Tensor]:
        item = self.views.item(self.scenes[i])
        batch = flat_batch(
            {"observed": {k: v[None] for k, v in item["observed"].items()},
             "query": {k: v[None] for k, v in item["query"].items()}},
            self.observed, self.query,
        )  # fmt: skip
        batch["_query_view"] = torch.tensor(item["views"][-1])
        return batch

    def record(self, i: int) -> dict[str, Any]:
        """The manifest's record of scene i's query view."""
        scene, view = self.scenes[i], int(self.batch(i)["_query_view"])
        return self.data.record(self.views._views[scene][view])

    def room(self, i: int):
        """Scene i as a :class:`~neuralshade.scenes.model.Scene`."""
        return self.data.source.scene(self.data.config, self.record(i))


def composition(model, info, scenes: Scenes, pairs: int) -> dict[str, Any]:
    """Each pair's mixed scenes rendered and predicted (module docstring)."""
    source, config = scenes.data.source, scenes.data.config
    rows: dict[str, dict[str, list]] = {f: {w: [] for w in WAYS} for f in FACTORS}
    pictures = []
    for j in range(pairs):
        a, b = 2 * j, 2 * j + 1
        ba, bb = scenes.batch(a), scenes.batch(b)
        with torch.inference_mode():
            ra, rb = representation(model, ba, info), representation(model, bb, info)
        view = int(ba["_query_view"])
        row = [("A", queries(ba, info["targets"])), ("B", queries(bb, info["targets"]))]
        for k, factor in enumerate(FACTORS):
            scene = mixed(scenes.room(a), scenes.room(b), factor)
            views = render_view(source, config, scene, view, list(info["inputs"]),
                                seed=1_000_003 * (j + 1) + k)  # fmt: skip
            truth = views["query/beauty_reference"]
            pose = ba["query_pose"]
            with torch.inference_mode():
                swapped = shade(model, views, model.partition.swap(ra, rb, k), info, pose)
                rows[factor]["swapped"].append(scores(swapped, truth))
                for kept, r in (("kept", ra), ("other", rb)):
                    rows[factor][kept].append(scores(shade(model, views, r, info, pose), truth))
            row += [(f"A+B's {factor[:5]}.", truth), ("network", swapped)]
        pictures.append([(label, shown(image[0])) for label, image in row])
    out = {f: {m: means(v) for m, v in r.items()} for f, r in rows.items()}
    for f, r in rows.items():  # how many pairs the swap shades better (log-L1), as a count
        for other in WAYS[1:]:
            out[f][f"swap_beats_{other}"] = sum(
                s["log_l1"] < o["log_l1"] for s, o in zip(r["swapped"], r[other], strict=True)
            )
        out[f]["pairs"] = pairs
    return {"factors": out, "picture": pictures}


def shown(radiance: torch.Tensor) -> np.ndarray:
    """A linear radiance image (3, H, W) as the docs' sheets show it: the sRGB curve."""
    return display(radiance.permute(1, 2, 0).numpy(), "linear")


def grid(rows: list[list[tuple[str, np.ndarray]]], scale: int) -> np.ndarray:
    """Rows of (label, (H, W, 3) picture in [0, 1]) enlarged ``scale``×, labels on the first
    row only: (H', W', 3) uint8."""
    out = []
    for r, row in enumerate(rows):
        tiles = []
        for label, picture in row:
            big = enlarged_picture(picture, scale)
            tiles.append(labelled(label, big) if r == 0 else to_uint8(big))
        out.append(np.concatenate(tiles, axis=1))
    return np.concatenate(out, axis=0)


def attributions(model, info, batch) -> tuple[torch.Tensor, dict[str, Any]]:
    """(a picture: reference with the patch | prediction | each partition's map, on one scale |
    each input buffer's map for the centre patch (observed ones summed over the views), one
    row; the shares of each partition's attribution)."""
    maps = partition_attributions(model, batch, info)[0]  # (3, H, W)
    shares = (maps.sum(dim=(1, 2)) / maps.sum()).tolist()
    h, w = maps.shape[-2:]
    top, left = (h - PATCH) // 2, (w - PATCH) // 2
    buffers = buffer_attributions(model, batch, info, (top, left, PATCH, PATCH))

    def grey(m: torch.Tensor) -> np.ndarray:
        m = m.reshape(-1, *m.shape[-2:]).sum(0)  # observed: summed over the views
        return (m / m.max().clamp(min=1e-12)).numpy()

    with torch.no_grad():
        pred = shown(predict(model, batch, info)[0])
    patch = shown(queries(batch, info["targets"])[0]).copy()
    patch[top : top + PATCH, left], patch[top : top + PATCH, left + PATCH - 1] = 1, 1
    patch[top, left : left + PATCH], patch[top + PATCH - 1, left : left + PATCH] = 1, 1
    scale = maps.max().clamp(min=1e-12)  # the three partitions on one scale: comparable
    panels = [("reference", patch), ("network", pred),
              *((f, (m / scale).numpy()) for f, m in zip(FACTORS, maps, strict=True)),
              *((n.replace("observed", "obs."), grey(m[0])) for n, m in buffers.items())]
    labels = [label for label, _ in panels]
    found = {"partition_shares": dict(zip(FACTORS, shares, strict=True)), "panels": labels}
    return panels, found


def race(scenes: Scenes) -> Race | None:
    """Mitsuba's plain render of the held-out query views at n spp (None without Mitsuba)."""

    def truth(i: int) -> np.ndarray:
        return scenes.batch(i)["query/beauty_reference"][0].permute(1, 2, 0).numpy()

    data = scenes.data
    return data.source.beauty_race(data.config, scenes.record, truth, usual=data.config.spp)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few scenes: a smoke test")
    parser.add_argument("--data", default="data/cnsr", help="the cnsr dataset (README)")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="NAME=PATH",
                        help="a cnsr checkpoint to score (repeatable; default: the bundled)")
    parser.add_argument("--scenes", type=int, default=None, help="held-out scenes (all)")
    parser.add_argument("--pairs", type=int, default=24, help="scene pairs composed (24)")
    parser.add_argument("--race", type=int, default=8, help="views raced against Mitsuba (8)")
    parser.add_argument("--repeats", type=int, default=15, help="timing rounds (default 15)")
    parser.add_argument("--out", default=None, help="the JSON (default benchmarks/results/...)")
    args = parser.parse_args(argv)  # fmt: skip
    torch.manual_seed(0)
    if args.quick:
        args.scenes, args.pairs, args.race, args.repeats = 4, 2, 2, 3
    given = dict(m.split("=", 1) for m in args.checkpoint) or DEFAULT_MODELS
    stem = "cnsr_quick" if args.quick else "cnsr"
    out = Path(args.out) if args.out else RESULTS / f"{stem}.json"
    nets = {}
    for name, path in given.items():
        model, info = checkpoint.load(str(model_path(path)), "cpu", task="cnsr")
        nets[name] = (model.eval(), info)
    first = next(iter(nets.values()))[1]
    if args.quick and not (Path(args.data) / "manifest.json").is_file():
        from neuralshade.data.generate import generate, load_config

        print(f"no dataset at {args.data}: rendering a small one there")
        generate(args.data, load_config(QUICK_DATA, source="room"), quiet=True)
    scenes = Scenes(args.data, first, args.scenes)
    size = int(scenes.data.config.size)
    print(f"{len(scenes)} held-out scenes of {args.data} at {size}²; networks {list(nets)}")

    results: dict[str, Any] = {}
    pictures = []
    for name, (model, info) in nets.items():
        rows, preds = [], []
        with torch.inference_mode():
            for i in range(len(scenes)):
                batch = scenes.batch(i)
                pred = predict(model, batch, info)
                preds.append(pred)
                rows.append(scores(pred, queries(batch, info["targets"])))
        quality = means(rows)
        print(f"  {name}: " + ", ".join(f"{k} {v:.4g}" for k, v in quality.items()))

        batch = scenes.batch(0)
        with torch.inference_mode():
            rep = representation(model, batch, info)
            calls = {
                "network": functools.partial(predict, model, batch, info),
                "generator": functools.partial(shade, model, batch, rep, info),
            }
            ms = interleaved_ms(calls, args.repeats)
        print(f"  {name}: {ms['network']:.2f} ms per query view, generator {ms['generator']:.2f}")
        count = min(args.race, len(scenes))
        images = [p[0].permute(1, 2, 0).numpy() for p in preds[:count]]
        equal = equal_quality(race(scenes), images, ms["network"] / 1e3, "log_l1",
                              repeats=3)  # fmt: skip
        found = equal["renderers"]["mitsuba"]
        print(f"  Mitsuba at equal log-L1: {found['samples']} spp, "
              f"{found['median_seconds'] * 1e3:.1f} ms ({found['time_ratio'] or 0:.0f}x)")

        composed = composition(model, info, scenes, min(args.pairs, len(scenes) // 2))
        for factor, r in composed["factors"].items():
            print(f"  {factor}: " + ", ".join(f"{m} {r[m]['log_l1']:.4f}" for m in WAYS)
                  + f" (the swap wins {r['swap_beats_kept']} of {r['pairs']} against kept)")
        comp_path = out.with_name(f"{out.stem}_{name}_composition.png")
        write_png(comp_path, grid(composed["picture"], max(1, 128 // size)))

        attributed = None
        if model.generator is not None:  # a chain's links are not attributed (yet)
            rows_a = [attributions(model, info, scenes.batch(i))
                      for i in range(min(3, len(scenes)))]  # fmt: skip
            attr_path = out.with_name(f"{out.stem}_{name}_attributions.png")
            write_png(attr_path, grid([r for r, _ in rows_a], max(1, 128 // size)))
            attributed = {"picture": attr_path.name, "panels": rows_a[0][1]["panels"],
                          "partition_shares": [a["partition_shares"] for _, a in rows_a]}
            pictures.append(attr_path.name)
        pictures.append(comp_path.name)
        results[name] = {
            "checkpoint": str(given[name]),
            "model": info["models"]["net"],
            "steps": info.get("step"),
            "wall_seconds": info.get("wall_seconds"),
            "quality": quality,
            "ms_per_query_view": ms,
            "equal_quality": equal,
            "composition": {
                "factors": composed["factors"],
                "unmixed": means(rows[: 2 * min(args.pairs, len(scenes) // 2): 2]),
                "picture": comp_path.name,
            },
            "partition_sizes": dict(zip(FACTORS, model.partition.sizes()[:3].tolist(),
                                        strict=True)),  # fmt: skip
            "attributions": attributed,
        }
    record(
        out,
        "cnsr",
        args.quick,
        {
            "data": args.data,
            "dataset": {"size": size, "test_scenes": len(scenes),
                        "spp": scenes.data.config.spp,
                        "reference_spp": scenes.data.config.reference_spp},  # fmt: skip
            "networks": results,
            "pictures": pictures,
        },
    )


if __name__ == "__main__":
    main()

"""Evaluation: any task's network against its baselines and its renderer, in quality and speed.

``neuralshade eval CHECKPOINT --data DIR [--split test] [--out DIR]``

Everything is measured in one run, on the same whole images of the split:

* **Quality**: the network (run as inference runs it, :func:`neuralshade.infer.predict`, at
  its training pixel scale where it has one and the view is finer) and each of the task's
  baselines against the dataset's targets, by the task's metrics (:mod:`neuralshade.metrics`;
  colours clamped to [0, 1] first), on the images as the task displays them
  (:meth:`~neuralshade.task.Task.displayed`: HDR light tone-mapped).
* **Time to equal quality**: for each renderer the task races (for ao2d: the reference
  renderer and Mitsuba 3), the fewest samples per pixel at which it reaches the network's error
  (the task's first metric) against a converged render of the same images, and its time there
  against the network's (:mod:`neuralshade.equal_quality`). This, not a speed-up at an
  arbitrary sample count, is the figure to quote.
* **Speed**: median seconds per image of the network and of each baseline.

The output directory gets ``metrics.json`` (means, per-image values, equal quality, speed,
provenance) and ``sheet.png`` (the task's panels, the baselines and an error map) for the first
few images.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuralshade import checkpoint
from neuralshade.data.datasets import BufferDataset
from neuralshade.devices import resolve_device
from neuralshade.equal_quality import images_error_at, mean_error, time_to_equal_quality
from neuralshade.errors import ConfigError
from neuralshade.imageio import heatmap, write_json, write_png
from neuralshade.infer import load_model, predict, view_focal
from neuralshade.metrics import compute, get_metric
from neuralshade.outputs import check_outputs
from neuralshade.progress import progress
from neuralshade.task import Race, get_task
from neuralshade.timing import median_seconds

DISPLAY_KINDS = ("srgb", "mask")  # targets in [0, 1]: predictions are clamped there


def _rgb(chw: torch.Tensor) -> np.ndarray:
    a = chw.clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    return np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a[..., :3]


def default_out(checkpoint_path: str | os.PathLike, split: str) -> Path:
    """``<checkpoint dir>/eval-<split>``; for a model bundled with the package (whose folder
    is the installed package's), ``eval-<model>-<split>`` in the working directory."""
    folder = Path(checkpoint_path).resolve().parent
    bundled = Path(str(resources.files("neuralshade") / "weights")).resolve()
    if folder == bundled:
        return Path(f"eval-{checkpoint.paths(checkpoint_path)[0].stem}-{split}")
    return Path(checkpoint_path).parent / f"eval-{split}"


def _chosen(known: Sequence[str], wanted: bool | Sequence[str]) -> tuple[str, ...]:
    """The baselines to run: all ``known`` (True), none (False) or those ``wanted``."""
    if isinstance(wanted, bool):
        return tuple(known) if wanted else ()
    unknown = [b for b in wanted if b not in known]
    if unknown:
        raise ConfigError(
            f"no baseline {', '.join(map(repr, unknown))} for this model; its baselines: "
            f"{', '.join(known) or 'none'}"
        )
    return tuple(dict.fromkeys(wanted))


def _means(rows: list[dict[str, float]], names: tuple[str, ...]) -> dict[str, float]:
    return {n: float(np.mean([r[n] for r in rows])) for n in names}


def equal_quality(
    race: Race,
    network: list[np.ndarray],
    network_seconds: float,
    metric: str,
    *,
    rel_tol: float = 0.02,
    repeats: int = 3,
    displayed: Callable[[np.ndarray], np.ndarray] | None = None,
) -> dict[str, Any]:
    """Time to equal quality of each of ``race``'s renderers against the network.

    network: the network's (H, W, C) images of the first ``len(network)`` eval images;
    network_seconds: its time per image. Errors are ``metric`` against the race's truth, means
    over the images, of the images as ``displayed`` maps them (the network's, the truth and
    every render; default: as they are). A renderer's time at its answer is the median of
    ``repeats`` rounds over the images after the search; ``time_ratio`` is that over the
    network's.
    """
    score = get_metric(metric)
    shown = displayed or (lambda image: image)
    truth = [shown(race.truth(i)) for i in range(len(network))]
    network = [shown(image) for image in network]
    target = mean_error(network, truth, metric)
    out: dict[str, Any] = {
        "metric": metric,
        "images": len(network),
        "rel_tol": rel_tol,
        "repeats": repeats,
        "reference": race.reference,
        "network": {"error": target, "seconds": network_seconds},
        "renderers": {},
    }
    for name, renderer in race.renderers.items():

        def render(i: int, n: int, renderer=renderer) -> tuple[np.ndarray, float]:
            image, seconds = renderer.render(i, n)
            return shown(image), seconds

        error_at = images_error_at(render, truth, metric)
        found = time_to_equal_quality(
            error_at, target, higher_is_better=score.higher_is_better, rel_tol=rel_tol
        )
        n = found["samples"]
        rounds = [error_at(n)[1] for _ in range(repeats)]
        found["median_seconds"] = float(np.median(rounds))
        found["time_ratio"] = (
            found["median_seconds"] / network_seconds if found["reached"] else None
        )
        if renderer.usual is not None:
            error, seconds = error_at(renderer.usual)
            found["usual"] = {"samples": renderer.usual, "error": error, "seconds": seconds}
        found["notes"] = renderer.notes()
        out["renderers"][name] = found
    return out


def evaluate(
    checkpoint_path: str | os.PathLike,
    data_dir: str | os.PathLike,
    *,
    split: str = "test",
    out: str | os.PathLike | None = None,
    device: str = "auto",
    sheet_rows: int = 4,
    equal_quality_images: int = 4,
    baselines: bool | Sequence[str] = True,
    repeats: int = 5,
    quiet: bool = False,
) -> dict[str, Any]:
    """Evaluate a checkpoint on whole images of a split; write metrics.json and sheet.png.

    equal_quality_images: how many of the split's images the renderers race the network on
    (0: skip it). baselines: run the task's baselines (True), none (False), or those named
    (ConfigError for one the task does not have for this checkpoint). Returns the report written to
    ``out/metrics.json`` (``out`` defaults to :func:`default_out`).
    """
    dev = resolve_device(device)
    out_dir = Path(out) if out else default_out(checkpoint_path, split)
    check_outputs(
        out_dir,
        [out_dir / "metrics.json", out_dir / "sheet.png"],
        checkpoint.paths(checkpoint_path),
    )
    model, info = load_model(checkpoint_path, dev)
    task = get_task(info["task"])
    data = BufferDataset(
        data_dir, split, task.buffers(info["inputs"], info["targets"]), crop=None, mode="full"
    )
    clamp = all(data.schema[t].kind in DISPLAY_KINDS for t in info["targets"])
    names = tuple(task.metrics)
    methods = ("network", *_chosen(task.baselines_for(info), baselines))

    def network(i: int) -> torch.Tensor:
        batch = data[i]
        inputs = {k: batch[k].to(dev) for k in info["inputs"]}
        camera = data.record(i).get("camera")
        focal = view_focal(camera, *data.size) if task.rescales(info) and camera else None
        pred = predict(model, inputs, info, focal=focal)[None]
        return (pred.clamp(0, 1) if clamp else pred).cpu()

    def shown(image: torch.Tensor) -> torch.Tensor:
        return task.displayed(image, info)

    def run(method: str, i: int) -> torch.Tensor:
        if method == "network":
            return network(i)
        pred = task.baseline(method, data, i, info)
        return pred.clamp(0, 1) if clamp else pred

    for method in methods:  # a first call pays for compilation and allocation: not timed
        run(method, 0)
    per_image: dict[str, list[dict[str, float]]] = {m: [] for m in methods}
    seconds: dict[str, list[float]] = {m: [] for m in methods}
    rows, network_preds = [], []
    for k in progress(range(len(data)), desc=f"evaluating {split}", unit="img", quiet=quiet):
        target = task.target({n: t[None] for n, t in data[k].items()}, info)
        preds = {}
        for method in methods:
            start = time.perf_counter()
            preds[method] = run(method, k)
            if method == "network" and k < equal_quality_images:
                network_preds.append(preds[method])  # the race reuses them
            seconds[method].append(time.perf_counter() - start)
            values = compute(names, shown(preds[method]), shown(target))
            per_image[method].append(
                {"index": int(data.indices[k]), **{n: float(v[0]) for n, v in values.items()}}
            )
        if len(rows) < sheet_rows:
            batch = {n: t[None] for n, t in data[k].items()}
            panels = task.panels(batch, preds["network"], info)
            panels += [(m, shown(preds[m])) for m in methods[1:]]
            error = (shown(preds["network"]) - shown(target)).abs().mean(dim=1)[0].numpy()
            rows.append(
                np.concatenate([*(_rgb(p[0]) for _, p in panels), heatmap(error, 0.25)], axis=1)
            )

    # the network's speed: median of several runs on the first image, after a warm-up
    net_seconds, _ = median_seconds(lambda: network(0), repeats, device=dev)
    report: dict[str, Any] = {
        "checkpoint": str(checkpoint_path),
        "task": task.name,
        "step": info.get("step"),
        "models": info["models"],
        "data": str(data_dir),
        "split": split,
        "images": len(data),
        "image_size": list(data.size),
        "metrics": list(names),
        "mean": _means(per_image["network"], names),
        "baselines": {m: _means(per_image[m], names) for m in methods[1:]},
        "speed": {
            "device": str(dev),
            "network_seconds": net_seconds,
            **{f"{m}_seconds": float(np.median(seconds[m])) for m in methods[1:]},
        },
        "per_image": per_image["network"],
        "panels": [label for label, _ in panels] + ["error"] if rows else [],
    }
    race = task.race(data, info, dev) if equal_quality_images > 0 else None
    if race is not None:
        count = min(equal_quality_images, len(data))
        images = [p[0].permute(1, 2, 0).numpy() for p in network_preds[:count]]
        def shown_hwc(image: np.ndarray) -> np.ndarray:
            chw = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
            return shown(chw)[0].permute(1, 2, 0).numpy()

        report["equal_quality"] = equal_quality(
            race, images, net_seconds, names[0], repeats=max(1, repeats // 2),
            displayed=shown_hwc,
        )  # fmt: skip
    write_json(out_dir / "metrics.json", report)
    if rows:
        write_png(out_dir / "sheet.png", np.concatenate(rows, axis=0))
    return report

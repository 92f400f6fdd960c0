"""Evaluation: a trained network against the reference renderer, in quality and in speed.

``neuralshade eval CHECKPOINT --data DIR [--split test] [--out DIR]``

Quality: the network runs on whole images of the split (it is fully convolutional) and is
compared with the renderer's targets by mean L1, PSNR (capped at 100 dB) and SSIM, after
clamping to [0, 1] (and expm1 for networks trained with a log-space loss); the output directory gets
``metrics.json`` (means, per-image values, speed, provenance) and ``sheet.png`` (mask |
network | reference | error map) for the first few images.

Speed, measured side by side in the same run: the network's time for one 512×512 image
(median of several after a warm-up, ``torch.inference_mode``) and the reference renderer's time
for the same image with the dataset's render settings, and their ratio.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neuralshade import checkpoint
from neuralshade.data.datasets import Ao2dDataset
from neuralshade.devices import resolve_device
from neuralshade.imageio import heatmap, write_json, write_png
from neuralshade.losses import from_log_space, predicts_log1p
from neuralshade.masks import random_mask
from neuralshade.metrics import l1, psnr, ssim
from neuralshade.outputs import check_outputs
from neuralshade.progress import progress
from neuralshade.render.heightfield import render
from neuralshade.timing import median_seconds


def measure_speed(
    model: torch.nn.Module,
    data: Ao2dDataset,
    device: torch.device,
    size: int = 512,
    repeats: int = 5,
) -> dict[str, float]:
    """Network and reference-renderer seconds for one ``size``² image, in the same run."""
    mask = random_mask(size, np.random.default_rng(0), data.config.masks)
    x = torch.rand(1, data.in_channels, size, size, device=device)
    with torch.inference_mode():
        network, _ = median_seconds(lambda: model(x), repeats, device=device)
    params = data.config.render
    reference, _ = median_seconds(
        lambda: render(mask, params, device=device), max(1, repeats // 2), device=device
    )
    return {
        "size": size,
        "network_ms": network * 1e3,
        "reference_ms": reference * 1e3,
        "speedup": reference / network,
        "device": str(device),
    }


def image_metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Mean L1, PSNR (at most 100 dB: JSON has no inf) and SSIM of (1, C, H, W) images in [0, 1]."""
    return {
        "l1": float(l1(pred, target)),
        "psnr": min(100.0, float(psnr(pred, target))),
        "ssim": float(ssim(pred, target)),
    }


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


def evaluate(
    checkpoint_path: str | os.PathLike,
    data_dir: str | os.PathLike,
    *,
    split: str = "test",
    out: str | os.PathLike | None = None,
    device: str = "auto",
    sheet_rows: int = 4,
    speed_size: int = 512,
    quiet: bool = False,
) -> dict[str, Any]:
    """Evaluate a checkpoint on whole images of a split; write metrics.json and sheet.png.

    Returns the report written to ``out/metrics.json`` (``out`` defaults to
    :func:`default_out`).
    """
    dev = resolve_device(device)
    out_dir = Path(out) if out else default_out(checkpoint_path, split)
    check_outputs(
        out_dir,
        [out_dir / "metrics.json", out_dir / "sheet.png"],
        checkpoint.paths(checkpoint_path),
    )
    model, info = checkpoint.load(checkpoint_path, device=dev, task="ao2d")
    data = Ao2dDataset(data_dir, split, info["inputs"], info["targets"], crop=None, mode="full")

    log_output = predicts_log1p(info.get("loss", "l1"))
    per_image, rows = [], []
    with torch.inference_mode():
        for k in progress(range(len(data)), desc=f"evaluating {split}", unit="img", quiet=quiet):
            x, y = (t[None].to(dev) for t in data[k])
            pred = model(x)
            pred = (from_log_space(pred) if log_output else pred).clamp(0, 1)
            per_image.append({"index": int(data.indices[k]), **image_metrics(pred, y)})
            if len(rows) < sheet_rows:
                error = (pred - y).abs().mean(dim=1)[0].cpu().numpy()
                rows.append(
                    np.concatenate(
                        [_rgb(x[0, :1]), _rgb(pred[0]), _rgb(y[0]), heatmap(error, 0.25)], axis=1
                    )
                )
    means = {key: float(np.mean([r[key] for r in per_image])) for key in ("l1", "psnr", "ssim")}
    speed = measure_speed(model, data, dev, speed_size)
    report = {
        "checkpoint": str(checkpoint_path),
        "step": info.get("step"),
        "model": info["model"],
        "data": str(data_dir),
        "split": split,
        "images": len(per_image),
        "mean": means,
        "speed": speed,
        "per_image": per_image,
    }
    write_json(out_dir / "metrics.json", report)
    if rows:
        write_png(out_dir / "sheet.png", np.concatenate(rows, axis=0))
    return report

"""The denoiser's bound, chosen on the validation split: relMSE and PSNR by window.

ShadeUNet's ``bound`` caps each output channel at the largest value of an input channel within
a window around the pixel (``models/unet.py``). ``denoise-cpu`` was trained without one; this
script scores the trained weights on the **validation** views (never the test views the
benchmark reports) with no bound and with windows of 7, 15 and 31 px, at every sample count of
the dataset: relMSE (linear light; mean and median over the views) and PSNR (tone-mapped,
x / (1 + x)). The choice with the lowest mean relMSE over the counts is the one bundled: a
window, or no bound at all where none helps. OIDN (quality high) is scored on the same views
for scale.

    python benchmarks/denoise_bound.py runs/denoise-cpu/checkpoints/best.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from common import RESULTS, record
from denoise import score

from neuralshade import checkpoint
from neuralshade.data.datasets import BufferDataset
from neuralshade.models import build
from neuralshade.models.unet import fuse_batch_norm
from neuralshade.tasks.denoise import OIDN_INPUTS, level, run_oidn

WINDOWS = (None, 7, 15, 31)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="a denoise checkpoint of ShadeUNet (no bound)")
    parser.add_argument("--data", default="data/room-denoise", help="the denoise dataset")
    parser.add_argument("--out", default=None, help="the JSON (default benchmarks/results/...)")
    args = parser.parse_args(argv)
    model, info = checkpoint.load(args.checkpoint)
    spec = info["models"]["net"]
    inputs = list(info["inputs"])
    probe = BufferDataset(args.data, "val", ["beauty"], crop=None, mode="full").config
    levels = sorted({*probe.spp_levels, probe.spp})
    names = [level(n, s) for s in levels for n in inputs]
    data = BufferDataset(args.data, "val", [*names, "beauty_reference"], crop=None, mode="full")
    views = [data[i] for i in range(len(data))]
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for window in WINDOWS:
        extra = {} if window is None else {"bound": [0, 1, 2], "bound_window": window}
        net = build(spec["name"], **{**spec["args"], **extra})
        net.load_state_dict(model.state_dict())
        net = fuse_batch_norm(net.eval())
        by_level = {}
        with torch.inference_mode():
            for spp in levels:
                relmse, psnr = [], []
                for view in views:
                    x = torch.cat([view[level(n, spp)] for n in inputs])[None]
                    pred = torch.expm1(net(x)).clamp_min(0)
                    got = score(pred[0], view["beauty_reference"])  # as denoise.py scores
                    relmse.append(got["relmse"])
                    psnr.append(got["psnr"])
                by_level[str(spp)] = {"relmse": float(np.mean(relmse)),
                                      "relmse_median": float(np.median(relmse)),
                                      "psnr": float(np.mean(psnr))}  # fmt: skip
        scores[str(window)] = by_level
        print(f"window {window}: " + ", ".join(
            f"{s} spp relMSE {v['relmse']:.4g} (median {v['relmse_median']:.4f}), "
            f"{v['psnr']:.2f} dB" for s, v in by_level.items()))  # fmt: skip
    reference: dict[str, dict[str, float]] = {}
    for spp in levels:
        got = [score(run_oidn({n: view[level(n, spp)] for n in OIDN_INPUTS}, "high"),
                     view["beauty_reference"]) for view in views]  # fmt: skip
        reference[str(spp)] = {"relmse": float(np.mean([g["relmse"] for g in got])),
                               "relmse_median": float(np.median([g["relmse"] for g in got])),
                               "psnr": float(np.mean([g["psnr"] for g in got]))}  # fmt: skip
    print("OIDN high: " + ", ".join(
        f"{s} spp relMSE {v['relmse']:.4g} (median {v['relmse_median']:.4f}), "
        f"{v['psnr']:.2f} dB" for s, v in reference.items()))  # fmt: skip
    best = min(scores, key=lambda w: np.mean([v["relmse"] for v in scores[w].values()]))
    print("chosen: no bound" if best == "None" else f"chosen: a window of {best} px")
    out = Path(args.out) if args.out else RESULTS / "denoise_bound.json"
    record(out, "denoise_bound", False,
           {"checkpoint": str(args.checkpoint), "data": str(args.data), "split": "val",
            "views": len(views), "windows": scores, "oidn": reference,
            "chosen": None if best == "None" else int(best)})  # fmt: skip


if __name__ == "__main__":
    main()

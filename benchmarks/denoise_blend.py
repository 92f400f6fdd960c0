"""OIDN's network fine-tuned, blended back towards OIDN's weights (WiSE-FT): the blend, and
what it costs on the validation rooms.

A network fine-tuned on the rooms gains on rooms and loses on scenes unlike them.
WiSE-FT (Wortsman et al., CVPR 2022) interpolates the weights, α·fine-tuned + (1 − α)·OIDN's
(:func:`neuralshade.models.oidn.blend`), keeping most of both. This script writes the blend
at ``--alpha`` (default 0.5, WiSE-FT's own default: chosen before looking, not tuned on any
test image) as a checkpoint beside the run's, and scores α = 0, 0.25, 0.5, 0.75 and 1 on the
**validation** rooms (never the test views or the example scenes the benchmark reports), at
each sample count: relMSE (linear light) and PSNR (tone-mapped, x / (1 + x)). α = 0 is OIDN
itself (its weights in torch).

    python benchmarks/denoise_blend.py runs/denoise-cpu/checkpoints/best.safetensors
    # → runs/denoise-cpu/checkpoints/best-blend-0.5.safetensors and
    #   benchmarks/results/denoise_blend.json
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
from neuralshade.infer import predict
from neuralshade.models.oidn import blend
from neuralshade.tasks.denoise import OIDN_INPUTS, level

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
OWN = {"format", "neuralshade_version", "models", "model", "weights", "weights_sha256",
       "optimizers", "optimizer"}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="a denoise checkpoint of oidn-unet, fine-tuned")
    parser.add_argument("--alpha", type=float, default=0.5, help="the blend written (0.5)")
    parser.add_argument("--data", default="data/room-denoise", help="the denoise dataset")
    parser.add_argument("--out", default=None, help="the JSON (default benchmarks/results/...)")
    args = parser.parse_args(argv)
    nets, info = checkpoint.load_networks(args.checkpoint)
    if info["models"]["net"]["name"] != "oidn-unet":
        parser.error(f"{args.checkpoint} is not an oidn-unet (OIDN's network) checkpoint")
    tuned = {k: v.clone() for k, v in nets["net"].state_dict().items()}
    model = nets["net"].eval()
    model.sidecar = info

    data = BufferDataset(args.data, "val", ["beauty"], crop=None, mode="full")
    levels = tuple(sorted({*data.config.spp_levels, data.config.spp}))
    names = [level(n, spp) for spp in levels for n in OIDN_INPUTS]
    data = BufferDataset(args.data, "val", [*names, "beauty_reference"], crop=None, mode="full")
    views = [data[i] for i in range(len(data))]
    scores: list[dict] = []  # per α: {"alpha", "levels": {spp: {"relmse", "psnr", "ssim"}}}
    with torch.inference_mode():
        for alpha in ALPHAS:
            model.load_state_dict(blend(tuned, alpha))
            by_level = {}
            for spp in levels:
                got = [score(predict(model, {n: v[level(n, spp)] for n in OIDN_INPUTS}),
                             v["beauty_reference"]) for v in views]  # fmt: skip
                by_level[str(spp)] = {k: float(np.mean([g[k] for g in got])) for k in got[0]}
            scores.append({"alpha": alpha, "levels": by_level})
            shown = (f"{spp} spp {s['relmse']:.5f} / {s['psnr']:.2f} dB"
                     for spp, s in by_level.items())  # fmt: skip
            print(f"α {alpha}: " + ", ".join(shown))

    model.load_state_dict(blend(tuned, args.alpha))
    stem = Path(args.checkpoint).with_suffix("")
    written = stem.with_name(f"{stem.name}-blend-{args.alpha:g}")
    # the run's validation figures are the unblended network's: the blend's replace them
    dropped = OWN | {"sidecar", "val", "best_val_loss"}
    meta = {k: v for k, v in info.items() if k not in dropped}
    meta["val_blend"] = next((a["levels"] for a in scores if a["alpha"] == args.alpha), None)
    meta["blend"] = {"alpha": args.alpha, "of": str(args.checkpoint), "with": "oidn:rt_hdr_alb_nrm",
                     "method": "WiSE-FT (Wortsman et al. 2022)"}  # fmt: skip
    checkpoint.save(written, {"net": model}, meta)
    print(f"wrote {written}.safetensors")
    out = Path(args.out) if args.out else RESULTS / "denoise_blend.json"
    record(out, "denoise_blend", False, {
        "checkpoint": str(args.checkpoint), "alpha": args.alpha,
        "written": f"{written}.safetensors", "split": "val", "views": len(views),
        "levels": list(levels), "alphas": scores,
    })  # fmt: skip


if __name__ == "__main__":
    main()

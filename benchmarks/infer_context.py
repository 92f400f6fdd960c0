"""What inference's context padding buys: the network with and without it, on whole test images.

``neuralshade shade`` pads each image with black (empty ground, what the renderer sees beyond
the frame) by the network's receptive radius. This compares mean L1 against the reference
renders with that padding and without it (the bare image, as ``neuralshade eval`` runs it),
over all pixels and over a 16 px band along the border; and checks that tiled inference equals
untiled inference.

    python benchmarks/infer_context.py --data data/ao2d [--model ao2d-resconv-cpu] [--quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from common import RESULTS, record

from neuralshade.data.datasets import BufferDataset
from neuralshade.shading import load_model, shade_mask

BAND = 16


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="dataset directory (test split used)")
    parser.add_argument("--model", default=None, help="bundled model name or checkpoint")
    parser.add_argument("--quick", action="store_true", help="10 images")
    parser.add_argument("--out", type=Path, default=None, help="JSON output path")
    args = parser.parse_args(argv)
    out = args.out or RESULTS / f"infer_context{'_quick' if args.quick else ''}.json"

    model, info = load_model(args.model, "cpu")
    data = BufferDataset(args.data, "test", ("source", "target"), crop=None, mode="full")
    n = min(len(data), 10) if args.quick else len(data)
    errors = {"bare": [], "padded": []}
    band_errors = {"bare": [], "padded": []}
    tile_diff = 0.0
    for k in range(n):
        sample = data[k]
        x, y = sample["source"], sample["target"]
        with torch.inference_mode():
            bare = model(x[None])[0].clamp(0, 1)
        padded = torch.from_numpy(shade_mask(model, x[0].numpy(), "cpu")).permute(2, 0, 1)
        band = torch.ones(y.shape[1:], dtype=torch.bool)
        band[BAND:-BAND, BAND:-BAND] = False
        for name, pred in (("bare", bare), ("padded", padded)):
            error = (pred - y).abs().mean(dim=0)
            errors[name].append(float(error.mean()))
            band_errors[name].append(float(error[band].mean()))
        if k < 5:
            tiled = shade_mask(model, x[0].numpy(), "cpu", tile=96)
            tile_diff = max(tile_diff, float(np.abs(tiled - padded.permute(1, 2, 0).numpy()).max()))
    result = {
        "images": n,
        "model": info["model"],
        "band_px": BAND,
        "l1": {k: float(np.mean(v)) for k, v in errors.items()},
        "l1_border_band": {k: float(np.mean(v)) for k, v in band_errors.items()},
        "tiled_vs_untiled_max_abs_diff": tile_diff,
    }
    print(f"{n} test images; mean L1 against the renderer")
    print(f"  {'':22s} {'all pixels':>10s} {f'{BAND} px border':>14s}")
    for name in ("bare", "padded"):
        print(
            f"  {name + ' image':22s} {result['l1'][name]:10.4f} "
            f"{result['l1_border_band'][name]:14.4f}"
        )
    print(f"  tiled (96 px) vs untiled: max |diff| {tile_diff:.2e}")
    record(out, "infer_context", args.quick, result)


if __name__ == "__main__":
    main()

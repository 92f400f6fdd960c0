"""Coordinate-network speed on CPU: training throughput, and the time to 30 dB on a photo.

Throughput: for each network (encoding + MLP), points per second of a forward pass alone
(``torch.no_grad``) and of a training step (forward, L2 loss, backward, Adam step) at a few
batch sizes; medians of several after a warm-up. Then the ``hash-fast`` preset fits
scikit-image's 512×512 astronaut until it reaches 30 dB (or its epochs run out): the seconds
count training only, not the PSNR evaluated after every epoch.

    python benchmarks/fields_speed.py            # the recorded figures
    python benchmarks/fields_speed.py --quick    # small batches, 64×64 photo
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from common import RESULTS, record, timed
from PIL import Image

from neuralshade.fields.image import fit_image, load_config, sample_image
from neuralshade.fields.network import FieldNetwork, optimizer

HASH = {"otype": "HashGrid", "n_levels": 16, "n_features_per_level": 2, "base_resolution": 16}
MLP64 = {"n_hidden_layers": 2, "n_neurons": 64}
NETWORKS = {
    "hash 2D, T=2^12, N 16..256, MLP 2x64": {
        "n_input_dims": 2,
        "encoding": {**HASH, "log2_hashmap_size": 12, "max_resolution": 256},
        "network": {**MLP64, "n_output_dims": 3},
    },
    "hash 2D, T=2^18, N 16..512, MLP 2x64": {
        "n_input_dims": 2,
        "encoding": {**HASH, "log2_hashmap_size": 18, "max_resolution": 512},
        "network": {**MLP64, "n_output_dims": 3},
    },
    "hash 3D, T=2^16, N 16..512, MLP 2x64": {
        "n_input_dims": 3,
        "encoding": {**HASH, "log2_hashmap_size": 16, "max_resolution": 512},
        "network": {**MLP64, "n_output_dims": 1},
    },
    "PE 7 freq. 2D + ReLU MLP 3x128": {
        "n_input_dims": 2,
        "encoding": {"otype": "Frequency", "n_frequencies": 7, "include_input": True},
        "network": {"n_hidden_layers": 3, "n_neurons": 128, "n_output_dims": 3},
    },
    "SIREN 3D, 3x128": {
        "n_input_dims": 3,
        "encoding": {"otype": "Identity"},
        "network": {
            "n_hidden_layers": 3,
            "n_neurons": 128,
            "activation": "sine",
            "siren_init": True,
            "n_output_dims": 1,
        },
    },
}


def throughput(spec: dict, batch: int, repeats: int) -> dict[str, float]:
    """Points per second of a forward pass and of a whole training step at ``batch`` points."""
    torch.manual_seed(0)
    net = FieldNetwork(spec)
    opt = optimizer(net, 1e-3)
    x = torch.rand(batch, net.n_input_dims) * 2 - 1
    y = torch.rand(batch, net.n_output_dims)

    def step():
        loss = torch.nn.functional.mse_loss(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    with torch.no_grad():
        forward = float(np.median(timed(lambda: net(x), repeats, warmup=2)))
    train = float(np.median(timed(step, repeats, warmup=2)))
    return {
        "batch": batch,
        "forward_points_per_second": batch / forward,
        "train_points_per_second": batch / train,
        "forward_ms": forward * 1e3,
        "train_step_ms": train * 1e3,
        "parameters": sum(p.numel() for p in net.parameters()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small batches, 64×64 photo")
    parser.add_argument("--out", type=Path, default=None, help="JSON output path")
    args = parser.parse_args(argv)
    out = args.out or RESULTS / f"fields_speed{'_quick' if args.quick else ''}.json"
    batches, repeats = ((1 << 12,), 3) if args.quick else ((1 << 14, 1 << 16, 1 << 18), 5)

    results = {}
    for name, spec in NETWORKS.items():
        results[name] = [throughput(spec, b, repeats) for b in batches]
        for r in results[name]:
            print(
                f"{name:40s} batch {r['batch']:7d}: forward "
                f"{r['forward_points_per_second'] / 1e6:6.2f} M pts/s, training "
                f"{r['train_points_per_second'] / 1e6:6.2f} M pts/s",
                flush=True,
            )

    photo = sample_image("astronaut")
    if args.quick:
        photo = np.asarray(Image.fromarray(photo).resize((64, 64), Image.LANCZOS))
    config = load_config("hash-fast", ["epochs=3"] if args.quick else None)
    with tempfile.TemporaryDirectory() as tmp:
        summary = fit_image(photo, config, tmp, quiet=True)
        history = json.loads((Path(tmp) / "history.json").read_text())
    reached = summary["seconds_to_30_db"]
    print(
        f"hash-fast on the {photo.shape[1]}x{photo.shape[0]} astronaut: "
        f"{'never reached 30 dB' if reached is None else f'30 dB after {reached:.1f} s'}; "
        f"{summary['psnr']:.2f} dB after {summary['epochs']} epochs, "
        f"{summary['train_seconds']:.1f} s"
    )
    record(
        out,
        "fields_speed",
        args.quick,
        {
            "throughput": results,
            "time_to_30_db": {
                "preset": "hash-fast",
                "size": list(photo.shape[:2]),
                "summary": summary,
                "history": history,
            },
        },
    )


if __name__ == "__main__":
    main()

"""Write the reference outputs the ao2d move onto the generic pipeline must keep (issue 11).

Run once, before the move, and commit what it writes:

    python tests/golden/generate.py

``ao2d_outputs.safetensors`` holds masks (the demo's text and seeded random masks of several
shapes, as uint8) and what each bundled model's ``shade_mask`` makes of them (float32);
``ao2d_losses.json`` the first 50 logged training losses of each CPU preset on a small dataset.
``tests/test_golden.py`` checks the current code against them. Running this again overwrites
them with what the current code does: do it only for a change that is meant to alter outputs,
and say so in the commit.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save

from neuralshade.imageio import write_bytes, write_json

HERE = Path(__file__).parent
MODELS = ("ao2d-unet-cpu", "ao2d-resconv-cpu")
RANDOM_SHAPES = ((64, 64), (37, 100), (96, 160))
PRESETS = ("ao2d-unet-cpu", "ao2d-resconv-cpu")
# the small dataset the loss curves are recorded on, and what the presets change to use it
DATASET = {
    "count": 8,
    "size": 64,
    "seed": 3,
    "split": {"train": 0.75, "val": 0.125, "test": 0.125},
    "render": {"ao_mode": "taps", "height": 8, "ao_radius": 8},
}
TRAIN_OVERRIDES = {
    "crop": 64,
    "val_crop": 64,
    "batch_size": 2,
    "steps": 50,
    "log_interval": 1,
    "val_interval": 50,
    "checkpoint_interval": 50,
    "image_interval": 1000,
    "device": "cpu",
    "workers": 0,
}


def masks() -> dict[str, np.ndarray]:
    """The inputs: uint8 (H, W) masks."""
    from neuralshade.imageio import to_uint8
    from neuralshade.masks import random_mask, text_mask

    out = {"demo": to_uint8(text_mask("hello world"))}
    for i, (h, w) in enumerate(RANDOM_SHAPES):
        square = random_mask(max(h, w), np.random.default_rng(100 + i))
        out[f"random{i}"] = to_uint8(square[:h, :w])
    return out


def shaded(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each bundled model's image of each mask: '{model}/{mask}' → (H, W, 3) float32."""
    from neuralshade.shading import load_model, shade_mask

    out = {}
    for name in MODELS:
        model, _ = load_model(name, "cpu")
        for key, mask in inputs.items():
            out[f"{name}/{key}"] = shade_mask(model, mask.astype(np.float32) / 255)
    return out


def make_dataset(root: Path) -> Path:
    from neuralshade.data.generate import generate, load_config

    generate(root, load_config(DATASET, source="ao2d"), quiet=True)
    return root


def losses(preset: str, data: Path, run: Path) -> list[float]:
    """The first logged training losses of ``preset`` on the small dataset."""
    from importlib import resources

    from neuralshade.config import load_yaml
    from neuralshade.train import load_config, train

    values = load_yaml(str(resources.files("neuralshade") / "configs" / f"{preset}.yaml"))
    config = load_config({**values, **TRAIN_OVERRIDES, "data": str(data)})
    train(config, run, quiet=True)
    lines = [json.loads(x) for x in (run / "history.jsonl").read_text().splitlines()]
    return [r["loss"] for r in lines if "loss" in r][:50]


def main() -> None:
    torch.set_num_threads(2)
    inputs = masks()
    arrays = {f"mask/{k}": v for k, v in inputs.items()}
    arrays.update({f"shade/{k}": v for k, v in shaded(inputs).items()})
    blob = save({k: np.ascontiguousarray(v) for k, v in arrays.items()})
    write_bytes(HERE / "ao2d_outputs.safetensors", blob)
    with tempfile.TemporaryDirectory() as tmp:
        data = make_dataset(Path(tmp) / "data")
        curves = {p: losses(p, data, Path(tmp) / p) for p in PRESETS}
    record = {
        "note": "first 50 logged losses of each preset on DATASET with TRAIN_OVERRIDES "
        "(tests/golden/generate.py), torch threads 2",
        "torch": torch.__version__,
        "losses": curves,
    }
    write_json(HERE / "ao2d_losses.json", record)
    print(f"wrote {HERE}/ao2d_outputs.safetensors and ao2d_losses.json", file=sys.stderr)


if __name__ == "__main__":
    main()

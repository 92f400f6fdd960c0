"""Image fitting presets compared on a real photograph: PSNR, size, JPEG at equal bytes, time.

Every ``fit-image-*`` preset fits scikit-image's 512×512 astronaut (``neuralshade fit image
astronaut --preset NAME`` runs the same code) for its own number of epochs, one after the
other on this machine. The table gets, per preset: final PSNR, parameters, bytes of the
weights in fp16 (safetensors), the PSNR of a JPEG of the photo at no more bytes, epochs to
converge (first epoch within 0.5 dB of the best), seconds to 30 dB, and CPU seconds of
training (excluding the per-epoch evaluation). The reconstructions go into one image grid,
and the fields on [−2, 2]² (outside the photo) into a second one.

    python benchmarks/fields_image.py            # 512×512, the presets' epochs
    python benchmarks/fields_image.py --quick    # 64×64, 3 epochs
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from common import RESULTS, record
from PIL import Image, ImageDraw

from neuralshade.fields.image import fit_image, load_config, preset_names, sample_image
from neuralshade.imageio import write_png

DOCS_IMAGES = Path(__file__).parents[1] / "docs" / "images"


def labelled(image: np.ndarray, text: str) -> np.ndarray:
    """The image with ``text`` on a dark strip at its top."""
    picture = Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    draw.rectangle([0, 0, picture.width, 14], fill=(0, 0, 0))
    draw.text((3, 1), text, fill=(255, 255, 255))
    return np.asarray(picture, np.float32) / 255


def grid(tiles: list[np.ndarray], columns: int) -> np.ndarray:
    """Tiles of one size in rows of ``columns`` (the last row padded with white)."""
    blank = np.ones_like(tiles[0])
    rows = [
        np.concatenate((tiles[i : i + columns] + [blank] * columns)[:columns], axis=1)
        for i in range(0, len(tiles), columns)
    ]
    return np.concatenate(rows, axis=0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="64×64, 3 epochs")
    parser.add_argument("--presets", nargs="*", default=None, help="default: every preset")
    parser.add_argument("--out", type=Path, default=None, help="JSON output path")
    args = parser.parse_args(argv)
    suffix = "_quick" if args.quick else ""
    out = args.out or RESULTS / f"fields_image{suffix}.json"
    photo = sample_image("astronaut").astype(np.float32) / 255
    if args.quick:
        photo = (
            np.asarray(
                Image.fromarray((photo * 255).astype(np.uint8)).resize((64, 64), Image.LANCZOS),
                np.float32,
            )
            / 255
        )
    names = args.presets or preset_names()

    rows, tiles, outside = {}, [labelled(photo, "original")], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            config = load_config(name, ["epochs=3"] if args.quick else None)
            print(f"{name}: {config.epochs} epochs of batch {config.batch_size}", flush=True)
            s = fit_image(photo, config, Path(tmp) / name, quiet=True)
            rows[name] = {k: s[k] for k in s if k not in ("config", "size")}
            rows[name]["field"] = s["config"]["field"]
            rows[name]["epochs_run"] = s["epochs"]
            recon = np.asarray(Image.open(Path(tmp) / name / "reconstruction.png"), np.float32)
            far = np.asarray(Image.open(Path(tmp) / name / "outside.png"), np.float32)
            tiles.append(labelled(recon / 255, f"{name}: {s['psnr']:.1f} dB"))
            outside.append(labelled(far / 255, f"{name} on [-2, 2]^2"))
            jpeg = s["jpeg_same_bytes"]
            print(
                f"  PSNR {s['psnr']:.2f} dB, {s['parameters']} params, {s['fp16_bytes']} B fp16, "
                f"JPEG {jpeg['psnr']:.2f} dB at {jpeg['bytes']} B, converged at epoch "
                f"{s['epochs_to_converge']}, 30 dB at {s['seconds_to_30_db']} s, "
                f"{s['train_seconds']:.1f} s",
                flush=True,
            )
    grid_path = (out.parent if args.quick else DOCS_IMAGES) / f"fields_astronaut{suffix}.png"
    outside_path = grid_path.with_name(f"fields_astronaut_outside{suffix}.png")
    write_png(grid_path, grid(tiles, 3))
    write_png(outside_path, grid(outside, 4))
    print(f"wrote {grid_path} and {outside_path}")

    print(
        f"{'preset':14s} {'PSNR':>6s} {'params':>8s} {'fp16 B':>8s} {'JPEG dB':>8s} "
        f"{'conv. ep':>8s} {'30 dB s':>8s} {'train s':>8s}"
    )
    for name, r in rows.items():
        reached = r["seconds_to_30_db"]
        print(
            f"{name:14s} {r['psnr']:6.2f} {r['parameters']:8d} {r['fp16_bytes']:8d} "
            f"{r['jpeg_same_bytes']['psnr']:8.2f} {r['epochs_to_converge']:8d} "
            f"{'-' if reached is None else f'{reached:.1f}':>8s} {r['train_seconds']:8.1f}"
        )
    record(
        out,
        "fields_image",
        args.quick,
        {
            "image": "skimage.data.astronaut",
            "size": list(photo.shape[:2]),
            "presets": rows,
            "grid": str(grid_path),
            "outside_grid": str(outside_path),
        },
    )


if __name__ == "__main__":
    main()

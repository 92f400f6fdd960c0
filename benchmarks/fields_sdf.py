"""Distance-field fitting: IoU, Chamfer distance and fit time per preset and shape.

Each ``fit-sdf-*`` preset fits built-in analytic shapes and one mesh file, one after the other
(``neuralshade fit sdf SHAPE --preset NAME`` runs the same code). The mesh is made here, so
nothing needs downloading: a marching-cubes mesh of a CSG shape (a box with a sphere cut out)
written as PLY and read back through trimesh like any user's file; its exact distances come
from the mesh itself. The renders (fitted | true) go into one image.

    python benchmarks/fields_sdf.py            # the presets' settings
    python benchmarks/fields_sdf.py --quick    # a few steps, small grids
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import trimesh
from common import RESULTS, record
from fields_image import grid, labelled
from PIL import Image

from neuralshade.fields.distance import fit_sdf, load_config, preset_names
from neuralshade.fields.geometry import extract_mesh
from neuralshade.fields.shapes import analytic_shape
from neuralshade.imageio import write_png

DOCS_IMAGES = Path(__file__).parents[1] / "docs" / "images"
SHAPES = ("torus", "capsule")
QUICK = ["steps=20", "points=16384", "eval_points=32768", "resolution=48", "render_size=96"]


def make_mesh(path: Path) -> Path:
    """A watertight PLY of box_minus_sphere (marching cubes at 96³)."""
    vertices, faces = extract_mesh(analytic_shape("box_minus_sphere"), 96)
    trimesh.Trimesh(vertices, faces).export(path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few steps, small grids")
    parser.add_argument("--out", type=Path, default=None, help="JSON output path")
    args = parser.parse_args(argv)
    suffix = "_quick" if args.quick else ""
    out = args.out or RESULTS / f"fields_sdf{suffix}.json"

    rows, tiles = [], []
    with tempfile.TemporaryDirectory() as tmp:
        mesh = make_mesh(Path(tmp) / "box_minus_sphere.ply")
        for name in preset_names():
            config = load_config(name, QUICK if args.quick else None)
            for shape in (*SHAPES, mesh):
                label = Path(shape).name
                s = fit_sdf(shape, config, Path(tmp) / f"{name}-{label}", quiet=True)
                render = np.asarray(Image.open(Path(tmp) / f"{name}-{label}" / "render.png"))
                tiles.append(
                    labelled(render / np.float32(255), f"{name}, {label}: IoU {s['iou']:.3f}")
                )
                rows.append(
                    {
                        "preset": name,
                        "shape": label,
                        **{
                            k: s[k]
                            for k in (
                                "iou",
                                "chamfer",
                                "train_seconds",
                                "sampling_seconds",
                                "parameters",
                                "steps",
                            )
                        },
                    }
                )
                print(
                    f"{name:6s} {label:22s} IoU {s['iou']:.4f}  Chamfer {s['chamfer']:.5f}  "
                    f"fit {s['train_seconds']:6.1f} s  ({s['parameters']} params)",
                    flush=True,
                )
    image_path = (out.parent if args.quick else DOCS_IMAGES) / f"fields_sdf{suffix}.png"
    write_png(image_path, grid(tiles, 3))
    print(f"wrote {image_path}")
    record(
        out,
        "fields_sdf",
        args.quick,
        {"fits": rows, "image": str(image_path), "overrides": QUICK if args.quick else []},
    )


if __name__ == "__main__":
    main()

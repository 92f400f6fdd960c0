"""The browser page's models: the bundled ao2d networks as ONNX files and a manifest.

The page (``neuralshade/web``) runs the network itself, in onnxruntime-web, so it needs each
model as one ``.onnx`` file and a description of what to feed it: ``web/models/models.json``
lists, per model, its file, its input channels in order, the light it knows (a fixed-light
model) or the ranges it was trained on (a light-conditioned one), and the hash of the weights
it was exported from, so that ``tests/test_webmodels.py`` fails when a shipped file is stale.

The input tensor is ``input`` (1, C, H, W) float32: channel 0 the mask (white = 1), then for a
light-conditioned network the constants ``cos e cos a``, ``cos e sin a``, ``sin e`` (the unit
vector towards the light: a the azimuth, counter-clockwise on screen from +x, e the elevation)
and ``height / HEIGHT_UNIT``; the output
``output`` (1, 3, H, W) is sRGB, to be clamped to [0, 1]. Only ShadeUNet-style networks whose
zero padding is the renderer's empty ground (``border_is_ground``) are exported: they run on
the bare image, as the page gives it, and agree with ``neuralshade shade`` there.

    python -m neuralshade.webmodels          # rebuild web/models from the bundled weights
"""

from __future__ import annotations

import argparse
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from neuralshade.imageio import write_json
from neuralshade.shading import LIGHT_KEYS

MANIFEST = "models.json"
#: the per-image inputs a page can compute, by the derived buffers' names
CONDITION_CHANNELS = {
    "light": ["light_x", "light_y", "light_z"],
    "shape_height": ["height_over_unit"],
}


def web_folder() -> Path:
    """The package's ``neuralshade/web`` folder (the page's static files)."""
    return Path(str(resources.files("neuralshade") / "web"))


def page_models() -> list[str]:
    """The bundled models the page can run: ao2d networks that take the mask (and the light)
    and treat the border as empty ground."""
    from neuralshade.infer import bundled_models, read_model_meta
    from neuralshade.models import model_class

    names = []
    for name in bundled_models():
        info = read_model_meta(name)
        inputs = info.get("inputs") or []
        if info.get("task") != "ao2d" or inputs[:1] != ["source"]:
            continue
        if not set(inputs[1:]) <= set(CONDITION_CHANNELS) or len(info.get("models", {})) != 1:
            continue
        (spec,) = info["models"].values()
        if getattr(model_class(spec["name"]), "border_is_ground", False):
            names.append(name)
    return names


def describe(name: str, info: dict[str, Any]) -> dict[str, Any]:
    """A model's entry in the manifest (without its file)."""
    from neuralshade.data.sources.ao2d import HEIGHT_UNIT

    render = info.get("render") or {}
    vary = info.get("vary") or {}
    conditioned = len(info["inputs"]) > 1
    channels = ["mask"] + [c for b in info["inputs"][1:] for c in CONDITION_CHANNELS[b]]
    return {
        "name": name,
        "inputs": list(info["inputs"]),
        "channels": channels,
        "height_unit": HEIGHT_UNIT,
        # the light the model shows first: its own (a fixed-light model knows only this one)
        "light": {k: render.get(k) for k in LIGHT_KEYS},
        "ranges": {k: list(vary[k]) for k in LIGHT_KEYS if k in vary} if conditioned else {},
        "weights_sha256": info.get("weights_sha256"),
        "step": info.get("step"),
    }


def build_web_models(
    out_dir: str | os.PathLike | None = None, names: list[str] | None = None
) -> dict[str, Any]:
    """Export ``names`` (default: :func:`page_models`) to ``OUT/<name>.onnx`` and write the
    manifest ``OUT/models.json`` (both atomically); returns the manifest."""
    from neuralshade.export import export_onnx
    from neuralshade.infer import model_path, read_model_meta

    out = Path(out_dir) if out_dir is not None else web_folder() / "models"
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for name in names if names is not None else page_models():
        path = str(model_path(name))
        info = read_model_meta(path)
        # exported beside, then moved over the shipped file: export never replaces a file
        with tempfile.TemporaryDirectory(dir=out) as tmp:
            export_onnx(path, Path(tmp) / f"{name}.onnx")
            os.replace(Path(tmp) / f"{name}.onnx", out / f"{name}.onnx")
        entries.append({**describe(name, info), "file": f"{name}.onnx"})
        print(f"exported {name} -> {out / f'{name}.onnx'}")
    manifest = {"format": 1, "models": entries}
    write_json(out / MANIFEST, manifest)
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=None, help="folder (default: the package's web/models)")
    parser.add_argument("names", nargs="*", help="bundled models (default: every ao2d one)")
    args = parser.parse_args(argv)
    build_web_models(args.out, args.names or None)


if __name__ == "__main__":
    main()

"""Rendering a user's mask image to a folder of buffers (``neuralshade render``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import neuralshade
from neuralshade.devices import resolve_device
from neuralshade.errors import ConfigError
from neuralshade.imageio import DEFAULT_MAX_PIXELS, write_json, write_npy, write_png
from neuralshade.masks import load_mask
from neuralshade.outputs import check_outputs
from neuralshade.render.heightfield import RenderParams, mask_sdf, render

OUTPUT_FILES = (
    "beauty.png",
    "ao.npy",
    "shadow.npy",
    "height.npy",
    "normal.npy",
    "sdf.npy",
    "params.json",
)


def render_file(
    mask_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    params: RenderParams | None = None,
    *,
    seed: int = 0,
    device: str = "auto",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    quiet: bool = False,
) -> dict:
    """Render the mask image at ``mask_path`` into ``out_dir``; return what params.json holds.

    Writes beauty.png (sRGB), float32 ao.npy, shadow.npy, height.npy, sdf.npy (H, W) and
    normal.npy (H, W, 3), and params.json with every value used, defaults included.
    Refuses, before rendering, an ``out_dir`` that is a file or whose outputs would overwrite
    the input. ``quiet`` hides the progress bar (shown on a terminal only).
    """
    params = params or RenderParams()
    src = Path(mask_path)
    out = Path(out_dir)
    if seed < 0:
        raise ConfigError(f"the seed must be 0 or more, got {seed}")
    check_outputs(out, [out / name for name in OUTPUT_FILES], [src])
    torch_device = resolve_device(device)
    mask = load_mask(src, max_pixels=max_pixels)
    start = time.perf_counter()
    sdf = mask_sdf(mask, params.sdf_method)
    result = render(mask, params, seed=seed, device=torch_device, sdf=sdf, quiet=quiet).numpy()
    seconds = time.perf_counter() - start
    write_png(out / "beauty.png", result["beauty"])
    for name in ("ao", "shadow", "height", "normal", "sdf"):
        write_npy(out / f"{name}.npy", result[name])
    info = {
        "input": str(src),
        "size": list(mask.shape),
        "seed": seed,
        "device": str(torch_device),
        "seconds": round(seconds, 4),
        "neuralshade_version": neuralshade.__version__,
        "params": params.model_dump(mode="json"),
    }
    write_json(out / "params.json", info)
    return info

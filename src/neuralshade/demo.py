"""The demo: text drawn white on black, shaded by the bundled network and by the renderer.

``neuralshade demo [--text "hello world"] [--out DIR]`` writes ``mask.png``, ``network.png``,
``reference.png``, ``comparison.png`` (the three and an error map, labelled) and
``metrics.json``, and prints network ms, renderer ms, speed-up, L1, PSNR and SSIM, all measured
in the same run on the same device. The reference uses the scene the network was trained on
(the ``render`` parameters in its sidecar).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from neuralshade.imageio import heatmap, to_uint8, write_json, write_png
from neuralshade.masks import fonts, text_mask
from neuralshade.metrics import l1, psnr, ssim
from neuralshade.outputs import check_outputs
from neuralshade.render.heightfield import RenderParams, render
from neuralshade.shading import load_model, shade_mask
from neuralshade.timing import median_seconds

OUTPUTS = ("mask.png", "network.png", "reference.png", "comparison.png", "metrics.json")


def labelled_column(panels: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """Stack (label, (H, W, 3) image) panels vertically, each under its label."""
    font = ImageFont.truetype(str(fonts()[0]), 14)
    rows = []
    for label, panel in panels:
        strip = Image.new("RGB", (panel.shape[1], 22), "white")
        ImageDraw.Draw(strip).text((4, 3), label, fill="black", font=font)
        rows += [np.asarray(strip), to_uint8(panel)]
    return np.concatenate(rows, axis=0)


def demo(
    text: str = "hello world",
    out: str | os.PathLike = "demo",
    *,
    model: str | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Run the demo; returns what metrics.json holds."""
    folder = Path(out)
    check_outputs(folder, [folder / name for name in OUTPUTS])
    net, info = load_model(model, device)
    dev = next(net.parameters()).device
    params = RenderParams.model_validate(info.get("render") or {})  # load_model checked it
    mask = text_mask(text)

    network_s, image = median_seconds(lambda: shade_mask(net, mask, dev), 3, device=dev)
    reference_s, ref = median_seconds(lambda: render(mask, params, device=dev), 1, device=dev)
    reference = ref.numpy()["beauty"]

    pred = torch.from_numpy(image).permute(2, 0, 1)[None]
    target = torch.from_numpy(reference).permute(2, 0, 1)[None]
    report = {
        "text": text,
        "size": list(mask.shape),
        "device": str(dev),
        "model": info.get("model"),
        "network_ms": network_s * 1e3,
        "renderer_ms": reference_s * 1e3,
        "speedup": reference_s / network_s,
        "l1": float(l1(pred, target)),
        "psnr": min(100.0, float(psnr(pred, target))),
        "ssim": float(ssim(pred, target)),
    }
    grey = np.repeat(mask[..., None], 3, axis=2)
    write_png(folder / "mask.png", mask)
    write_png(folder / "network.png", image)
    write_png(folder / "reference.png", reference)
    write_png(
        folder / "comparison.png",
        labelled_column(
            [
                ("mask", grey),
                (f"network: {report['network_ms']:.0f} ms", image),
                (f"reference renderer: {report['renderer_ms']:.0f} ms", reference),
                (
                    "error (yellow: 0.25)",
                    heatmap(np.abs(image - reference).mean(axis=2), 0.25),
                ),
            ]
        ),
    )
    write_json(folder / "metrics.json", report)
    return report

"""Evaluation on whole images: metrics, the comparison sheet, and speed against the renderer."""

import json

import numpy as np
import torch
from PIL import Image

from neuralshade import checkpoint
from neuralshade.cli import main
from neuralshade.evaluate import evaluate
from neuralshade.models import build


def test_eval_reports_metrics_sheet_and_speed(tiny_dataset, tmp_path, capsys):
    torch.manual_seed(0)
    model = build(
        "resconv",
        in_channels=1,
        out_channels=3,
        channels=8,
        kernel_size=3,
        layers=3,
        strides=[1, 2, 1],
    )
    ckpt = checkpoint.save(
        tmp_path / "m",
        model.eval(),
        {"task": "ao2d", "inputs": ["source"], "targets": ["target"], "step": 0},
    )
    report = evaluate(
        ckpt,
        tiny_dataset,
        split="train",
        out=tmp_path / "ev",
        device="cpu",
        sheet_rows=3,
        speed_size=64,
        quiet=True,
    )
    assert report["images"] == 6 and len(report["per_image"]) == 6
    on_disk = json.loads((tmp_path / "ev/metrics.json").read_text())
    assert on_disk["mean"] == report["mean"]
    first = report["per_image"][0]
    assert 0 <= first["l1"] <= 1 and first["psnr"] > 0 and -1 <= first["ssim"] <= 1
    assert np.isclose(report["mean"]["l1"], np.mean([r["l1"] for r in report["per_image"]]))
    sheet = np.asarray(Image.open(tmp_path / "ev/sheet.png"))
    assert sheet.shape == (3 * 40, 4 * 40, 3)  # 3 rows of mask | network | reference | error
    speed = report["speed"]
    assert speed["network_ms"] > 0 and speed["reference_ms"] > 0
    assert np.isclose(speed["speedup"], speed["reference_ms"] / speed["network_ms"])

    assert (
        main(
            [
                "eval",
                str(ckpt),
                "--data",
                str(tiny_dataset),
                "--split",
                "test",
                "--out",
                str(tmp_path / "ev2"),
                "--device",
                "cpu",
                "--quiet",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "1 test images" in out and "speed-up" in out

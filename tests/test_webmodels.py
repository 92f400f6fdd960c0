"""The page's shipped models (web/models) are the bundled checkpoints, exported faithfully."""

import json
import math

import numpy as np
import pytest
import torch

from neuralshade import checkpoint
from neuralshade.infer import model_path
from neuralshade.webmodels import MANIFEST, describe, page_models, web_folder

ort = pytest.importorskip("onnxruntime")
MODELS = web_folder() / "models"


def manifest() -> dict:
    return json.loads((MODELS / MANIFEST).read_text())


def test_the_manifest_lists_every_page_model_as_its_sidecar_describes_it():
    entries = manifest()["models"]
    assert [e["name"] for e in entries] == page_models()
    for entry in entries:
        info = checkpoint.read_meta(str(model_path(entry["name"])))
        # a stale file (weights changed since the export) fails here: rebuild with
        # python -m neuralshade.webmodels
        assert entry == {**describe(entry["name"], info), "file": entry["file"]}
        assert (MODELS / entry["file"]).is_file()


@pytest.mark.parametrize("name", page_models())
def test_each_shipped_onnx_computes_what_the_checkpoint_does(name):
    """The page's input convention (mask, then the light's unit vector, height / unit) fed to the
    shipped file gives the torch network's output on the same tensor."""
    (entry,) = [e for e in manifest()["models"] if e["name"] == name]
    model, _ = checkpoint.load(str(model_path(name)))
    model.eval()
    rng = np.random.default_rng(0)
    x = np.zeros((1, len(entry["channels"]), 64, 80), np.float32)
    x[0, 0] = rng.random((64, 80)) > 0.7
    a, e, h = math.radians(210.0), math.radians(40.0), 20.0
    values = {
        "light_x": math.cos(e) * math.cos(a),
        "light_y": math.cos(e) * math.sin(a),
        "light_z": math.sin(e),
        "height_over_unit": h / entry["height_unit"],
    }
    for k, channel in enumerate(entry["channels"][1:], start=1):
        x[0, k] = values[channel]
    session = ort.InferenceSession(str(MODELS / entry["file"]), providers=["CPUExecutionProvider"])
    (got,) = session.run(["output"], {"input": x})
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-3 * np.abs(expected).max())

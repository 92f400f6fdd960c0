"""`neuralshade serve`'s scene viewer endpoint (POST /v1/scene) on a small CNSR checkpoint:
what it answers is what :mod:`neuralshade.scene_repr` computes, and bad requests are JSON 4xx."""

import base64
import io

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from neuralshade import checkpoint, models, scene_repr
from neuralshade.serve import ServeConfig, create_app

pytestmark = pytest.mark.mitsuba
OPTIONS = {"observation_passes": ["beauty", "normal", "position", "id"],
           "query_passes": ["normal", "position", "id"], "views_per_scene": 3}  # fmt: skip


@pytest.fixture(scope="module")
def scene_model(tmp_path_factory, mitsuba):
    torch.manual_seed(0)
    net = models.build("cnsr", representation_dim=6, encoder={"args": {"in_channels": 10}},
                       generator={"args": {"query_channels": 7, "layers": 1,
                                           "hidden_units": 8, "end_relu": False}})  # fmt: skip
    info = {"task": "cnsr", "inputs": OPTIONS["query_passes"], "targets": ["beauty_reference"],
            "step": 0, "loss": "logl1+logssim", "image_size": 16,
            "room": {"spp": 2, "max_depth": 3, "ao_radius": 1.0},
            "config": {"options": OPTIONS}}  # fmt: skip
    path = tmp_path_factory.mktemp("scene") / "tiny-scene"
    return str(checkpoint.save(path, {"net": net.eval()}, info).with_suffix(".safetensors"))


def image(data_url: str) -> np.ndarray:
    head, body = data_url.split(",", 1)
    assert head == "data:image/png;base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(body))), np.float32) / 255


def test_a_frame_is_the_library_s_view_as_sheets_show_radiance(scene_model):
    from neuralshade.sheets import display

    api = TestClient(create_app(ServeConfig(model=scene_model)))
    body = {"seed": 3, "index": 5, "azimuth": 40, "distance": 2.0, "height": 1.4,
            "reference_spp": 4, "swap": {"index": 6, "factor": "material"}}  # fmt: skip
    answer = api.post("/v1/scene", json=body)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["model"] == "tiny-scene" and got["size"] == 16
    assert len(got["observations"]) == 2 and got["reference"] is not None
    model, info = checkpoint.load(scene_model)
    frame = scene_repr.view(model, info, 3, 5, 0, scene_repr.orbit_camera(40, 2.0, 1.4),
                            (6, "material"), 4)  # fmt: skip
    for key in ("prediction", "reference"):
        expected = display(np.maximum(frame[key], 0), "linear")
        assert np.abs(image(got[key]) - expected).max() <= 1 / 255 + 1e-6, key
    # a patch: its attribution maps, the partitions on one scale
    patched = api.post("/v1/scene", json={**body, "patch": {"x": 4, "y": 6, "size": 4}}).json()
    assert set(patched["partitions"]) == {"lighting", "geometry", "material"}
    assert {"query normal", "observed beauty"} <= set(patched["buffers"])
    assert max(image(v).max() for v in patched["partitions"].values()) == 1.0


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"azimuth": 400}, 422, "azimuth"),
        ({"swap": {"index": 1, "factor": "camera"}}, 422, "factor"),
        ({"patch": {"x": 14, "y": 0, "size": 4}}, 422, "inside the 16² view"),
        ({"model": "nope"}, 404, "no model 'nope'"),
        ({"model": "ao2d-unet-cpu"}, 422, "use /v1/shade"),
        ({"seeds": 1}, 422, "seeds"),
    ],
)
def test_bad_frames_are_json_errors(scene_model, body, status, message):
    api = TestClient(create_app(ServeConfig(model=scene_model)))
    answer = api.post("/v1/scene", json=body)
    assert answer.status_code == status and message in answer.text, answer.text

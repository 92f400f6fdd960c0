"""Inference at the training pixel scale: a deep-shading model records the focal length in pixels
of the views it learned from, and a finer view runs at that scale (area-averaged down, the
prediction resized back bilinearly, the task's rules applied at full size)."""

import math

import numpy as np
import pytest
import torch
from tiny_models import tiny_ao_model

import neuralshade
from neuralshade import checkpoint
from neuralshade.data.sources import get_source
from neuralshade.tasks.deep_shading import DeepShadingTask

INPUTS = ["position_camera", "normal_camera"]
TRAINED_FOCAL = 10.0  # pixels


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_ao_model(tmp_path_factory.mktemp("model"), focal_pixels=TRAINED_FOCAL)


def view(h=24, w=32, seed=1):
    """Camera-space buffers with a sky (nothing hit: zero) in the top-left corner."""
    rng = np.random.default_rng(seed)
    position = rng.normal(size=(h, w, 3)).astype(np.float32)
    position[..., 2] -= 3
    normal = rng.normal(size=(h, w, 3)).astype(np.float32)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    position[:5, :7] = normal[:5, :7] = 0
    return {"position_camera": position, "normal_camera": normal}


def fov_for(focal, width):
    """The horizontal field of view (degrees) whose focal length is ``focal`` pixels."""
    return math.degrees(2 * math.atan(0.5 * width / focal))


def upsample2(x):
    """Bilinear ×2 with half-pixel centres, by hand: output 2i, 2i+1 lie a quarter pixel either
    side of input i; the edges repeat the border value."""
    for axis in (0, 1):
        prev = np.concatenate([x.take([0], axis), x.take(range(x.shape[axis] - 1), axis)], axis)
        nxt = np.concatenate([x.take(range(1, x.shape[axis]), axis), x.take([-1], axis)], axis)
        even, odd = 0.75 * x + 0.25 * prev, 0.75 * x + 0.25 * nxt
        x = np.stack([even, odd], axis=axis + 1).reshape(
            *x.shape[:axis], 2 * x.shape[axis], *x.shape[axis + 1 :]
        )
    return x


def test_a_view_twice_as_fine_runs_at_the_training_scale(model):
    path, net = model
    buffers = view()
    got = neuralshade.infer(path, buffers, fov=fov_for(2 * TRAINED_FOCAL, 32), device="cpu")
    # by hand: 2×2 means, the network, bilinear back, clamped, AO 1 where nothing was hit
    x = np.concatenate([buffers[n] for n in INPUTS], -1)
    small = x.reshape(12, 2, 16, 2, 6).mean(axis=(1, 3))
    with torch.no_grad():
        ao = net(torch.from_numpy(small).permute(2, 0, 1)[None].float())[0, 0].numpy()
    want = np.clip(upsample2(np.clip(ao, 0, 1)), 0, 1)
    want[:5, :7] = 1.0
    np.testing.assert_allclose(got["ao_reference"][..., 0], want, atol=1e-5)
    # and it is not the network on the view as it is
    native = neuralshade.infer(path, buffers, device="cpu")["ao_reference"]
    assert np.abs(native - got["ao_reference"]).mean() > 1e-2


def test_views_at_or_below_the_training_scale_and_native_scale_run_as_they_are(model):
    path, net = model
    buffers = view()
    native = neuralshade.infer(path, buffers, device="cpu")["ao_reference"]
    for fov, rescale in ((fov_for(TRAINED_FOCAL, 32), True), (fov_for(0.5 * TRAINED_FOCAL, 32),
                         True), (fov_for(3 * TRAINED_FOCAL, 32), False)):  # fmt: skip
        got = neuralshade.infer(path, buffers, fov=fov, rescale=rescale, device="cpu")
        np.testing.assert_array_equal(got["ao_reference"], native)


def test_a_bad_fov_is_refused(model):
    from neuralshade.errors import InputError

    with pytest.raises(InputError, match="fov"):
        neuralshade.infer(model[0], view(), fov=180.0, device="cpu")


def test_the_sidecar_records_the_training_views_focal_length():
    config = get_source("room").load_config({"size": 128})
    meta = DeepShadingTask().checkpoint_meta(config)
    # fov 75° across 128 pixels: 64 / tan(37.5°)
    assert meta["focal_pixels"] == pytest.approx(64 / math.tan(math.radians(37.5)))
    bundled = checkpoint.read_meta(neuralshade.infer.model_path("deepshade-ao-cpu"))
    assert bundled["focal_pixels"] == pytest.approx(meta["focal_pixels"])

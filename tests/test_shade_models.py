"""`shade` runs only models it understands, in their own output space, and never a stale one."""

import re

import numpy as np
import pytest
import torch

from neuralshade import checkpoint
from neuralshade.errors import CheckpointError
from neuralshade.models import build
from neuralshade.shading import load_model, shade_mask

META = {"task": "ao2d", "inputs": ["source"], "targets": ["target"], "step": 0}


def small_net(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build("resconv", in_channels=1, channels=4, kernel_size=3, layers=2, strides=[1, 1])
    return model.eval()


def mask() -> np.ndarray:
    m = np.zeros((20, 24), np.float32)
    m[5:15, 6:18] = 1
    return m


def raw_output(model: torch.nn.Module, m: np.ndarray) -> np.ndarray:
    """The network on the mask padded by its receptive radius, as shade pads it (exact for a
    stride-1 ResConv), cropped back: (H, W, 3)."""
    r = model.receptive_field // 2
    x = torch.nn.functional.pad(torch.from_numpy(m), (r,) * 4)[None, None]
    with torch.no_grad():
        y = model(x)[0, :, r:-r, r:-r]
    return y.permute(1, 2, 0).numpy()


def test_a_log_space_model_is_shaded_through_expm1(tmp_path):
    model = small_net(0)
    path = checkpoint.save(tmp_path / "log", model, {**META, "loss": "logl1"})
    net, _ = load_model(path, "cpu")
    out = shade_mask(net, mask())
    raw = raw_output(model, mask())
    np.testing.assert_allclose(out, np.clip(np.expm1(np.maximum(raw, 0)), 0, 1), atol=1e-5)
    assert np.abs(out - np.clip(raw, 0, 1)).max() > 1e-3  # linear reading would differ
    linear = checkpoint.save(tmp_path / "lin", model, {**META, "loss": "l1"})
    np.testing.assert_allclose(
        shade_mask(load_model(linear, "cpu")[0], mask()), np.clip(raw, 0, 1), atol=1e-5
    )


@pytest.mark.parametrize("targets", [["ao"], ["target", "ao"], ["shadow"]])
def test_a_model_that_does_not_predict_the_shaded_image_is_refused(tmp_path, targets):
    path = checkpoint.save(tmp_path / "ao", small_net(0), {**META, "targets": targets})
    with pytest.raises(CheckpointError, match=re.escape(f"predicts {targets}, not the shaded")):
        load_model(path, "cpu")


def test_a_replaced_checkpoint_is_reloaded_and_an_unchanged_one_is_not(tmp_path):
    path = checkpoint.save(tmp_path / "m", small_net(0), META)
    first, _ = load_model(path, "cpu")
    assert load_model(path, "cpu")[0] is first  # the same file: the cached model
    checkpoint.save(tmp_path / "m", small_net(1), META)  # replaced in place, same name
    second, _ = load_model(path, "cpu")
    assert second is not first
    expected = raw_output(small_net(1), mask())
    np.testing.assert_allclose(shade_mask(second, mask()), np.clip(expected, 0, 1), atol=1e-5)

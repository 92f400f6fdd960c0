"""Open Image Denoise as the denoise task's baseline: it removes noise, and refuses bad input."""

import numpy as np
import pytest

from neuralshade.baselines.oidn import oidn
from neuralshade.errors import ConfigError

pytest.importorskip("pyoidn")


def scene(size=64):
    """A smooth HDR image with an edge, its albedo and normal, and the image with noise."""
    y, x = np.mgrid[0:size, 0:size] / size
    clean = np.stack([0.2 + x, 0.5 + 0 * x, 1.5 - y], axis=-1).astype(np.float32)
    clean[:, size // 2 :] *= 3.0  # a step a blur would smear
    albedo = np.full_like(clean, 0.5)
    normal = np.zeros_like(clean)
    normal[..., 2] = 1.0
    rng = np.random.default_rng(0)
    noisy = clean * rng.exponential(1.0, clean.shape).astype(np.float32)  # MC-like, unbiased
    return clean, noisy, albedo, normal


@pytest.mark.parametrize("quality", ["high", "balanced"])
def test_oidn_removes_most_of_the_noise_and_keeps_the_edge(quality):
    clean, noisy, albedo, normal = scene()
    out = oidn(noisy, albedo, normal, quality=quality)
    assert out.shape == noisy.shape and out.dtype == np.float32 and np.isfinite(out).all()
    noisy_mse, out_mse = np.mean((noisy - clean) ** 2), np.mean((out - clean) ** 2)
    assert out_mse < 0.1 * noisy_mse
    step = out[:, 34:40].mean() / out[:, 24:30].mean()  # either side of the edge
    assert 2.4 < step < 3.6
    colour_only = oidn(noisy)  # OIDN works without the auxiliary buffers, less well here
    assert np.mean((colour_only - clean) ** 2) < 0.3 * noisy_mse


def test_oidn_refuses_what_it_cannot_take():
    clean, noisy, albedo, normal = scene(16)
    with pytest.raises(ConfigError, match="quality"):
        oidn(noisy, quality="best")
    with pytest.raises(ConfigError, match="only together with an albedo"):
        oidn(noisy, normal=normal)
    with pytest.raises(ConfigError, match="albedo is"):
        oidn(noisy, albedo[:8])
    with pytest.raises(ConfigError, match=r"\(H, W, 3\)"):
        oidn(noisy[..., :1])

"""OIDN's U-Net in torch: with the weights OIDN ships it gives OIDN's output; weights of our
own run inside OIDN (its TZA format) as they do in torch; its exposure and transfer curve are
OIDN's."""

import numpy as np
import pytest
import torch

from neuralshade.errors import ConfigError
from neuralshade.models import build
from neuralshade.models.oidn import (
    OIDNUNet,
    autoexposure,
    from_oidn,
    oidn_weights,
    parse_tza,
    pu_forward,
    pu_inverse,
)

pytest.importorskip("pyoidn")


def render(h=70, w=53, seed=0):
    """A noisy HDR colour (Monte-Carlo-like: the clean image × an exponential draw) with an
    edge, its albedo and normal, each (H, W, 3) float32."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / 40.0
    clean = np.stack([np.sin(3 * x) + 1.2, np.cos(2 * y) + 1.1, 0.5 * (x + y) + 0.1], -1) * 2
    clean[:, w // 2 :] *= 4.0
    noisy = (clean * rng.exponential(1.0, clean.shape)).astype(np.float32)
    albedo = np.clip(clean / 8, 0, 1).astype(np.float32)
    normal = np.stack([np.sin(x), np.cos(x), 0 * x], -1).astype(np.float32)
    return noisy, albedo, normal


def torch_run(model, noisy, albedo, normal):
    x = torch.from_numpy(np.concatenate([noisy, albedo, normal], -1)).permute(2, 0, 1)[None]
    with torch.no_grad():
        return model.eval()(x)[0].permute(1, 2, 0).clamp_min(0).numpy()


WEIGHTS = [("high", "rt_hdr_alb_nrm"), ("fast", "rt_hdr_alb_nrm_small")]


@pytest.mark.parametrize(("quality", "weights"), WEIGHTS)
def test_with_oidns_weights_it_is_oidn(quality, weights):
    """Against the library on a size that is no multiple of 16: the same image to float
    rounding (OIDN computes in float32 with its float16 weights, as this does)."""
    from neuralshade.baselines.oidn import oidn

    noisy, albedo, normal = render()
    want = oidn(noisy, albedo, normal, quality=quality)
    got = torch_run(from_oidn(weights), noisy, albedo, normal)
    assert np.abs(got - want).max() < 1e-4 * max(1.0, want.max())
    assert np.abs(got - noisy).mean() > 0.3  # it denoised: not a pass-through
    assert from_oidn(weights).size == ("small" if quality == "fast" else "base")


def test_weights_of_our_own_run_inside_oidn_as_in_torch():
    """A network moved off OIDN's weights, written as TZA and run by OIDN's filter, gives the
    torch network's output (its weights rounded to float16, the TZA type OIDN reads)."""
    from neuralshade.baselines.oidn import WeightedFilter, oidn, write_tza

    noisy, albedo, normal = render(48, 40, seed=1)
    blob = write_tza({k: v.numpy() for k, v in oidn_weights().items()})
    back = parse_tza(blob)
    assert all(np.array_equal(back[k], v.numpy()) for k, v in oidn_weights().items())
    exact = WeightedFilter(blob)(noisy, albedo, normal)
    assert np.array_equal(exact, oidn(noisy, albedo, normal, quality="high"))

    model = from_oidn()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for v in model.state_dict().values():
            v.add_(0.05 * v.std() * torch.randn(v.shape, generator=gen))
            v.copy_(v.half().float())
    ours = WeightedFilter(write_tza(model.state_dict()))(noisy, albedo, normal)
    want = torch_run(model, noisy, albedo, normal)
    assert np.abs(ours - want).max() < 1e-4 * max(1.0, want.max())
    assert np.abs(ours - exact).mean() > 1e-3  # the weights did change the output


def test_autoexposure_is_oidns_over_bins_of_16():
    """Against OIDN's training/color.py algorithm written as loops, on sizes that split
    unevenly, with dark bins left out of the mean."""
    rng = np.random.default_rng(2)
    for h, w in ((37, 50), (16, 16), (130, 7)):
        image = rng.exponential(0.5, (h, w, 3)).astype(np.float32)
        image[: h // 3] = 0  # dark bins: not in the mean
        lum = image @ np.array([0.212671, 0.715160, 0.072169])
        nh, nw = -(-h // 16), -(-w // 16)
        bins = [lum[i * h // nh : (i + 1) * h // nh, j * w // nw : (j + 1) * w // nw].mean()
                for i in range(nh) for j in range(nw)]  # fmt: skip
        bins = np.array([b for b in bins if b > 1e-8])
        want = 0.18 / np.exp2(np.log2(bins).mean())
        got = autoexposure(torch.from_numpy(image).permute(2, 0, 1)[None])
        assert got.shape == (1,) and abs(float(got[0]) / want - 1) < 1e-5
    assert float(autoexposure(torch.zeros(1, 3, 8, 8))[0]) == 1.0  # all dark: 1


def test_pu_curve_is_continuous_monotonic_and_inverted():
    y = torch.logspace(-8, np.log10(65504), 2000, dtype=torch.float64)
    x = pu_forward(y)
    assert float(x[-1]) == pytest.approx(1.0) and (x.diff() > 0).all()
    assert torch.allclose(pu_inverse(x), y, rtol=1e-6, atol=1e-12)
    for knot in (1.57945760e-06, 3.22087631e-02):  # the fit's pieces meet
        near = torch.tensor([knot * (1 - 1e-7), knot * (1 + 1e-7)], dtype=torch.float64)
        assert abs(float(pu_forward(near).diff())) < 1e-6


def test_it_refuses_other_inputs_and_unknown_weights():
    with pytest.raises(ConfigError, match="3, 6 or 9"):
        build("oidn-unet", in_channels=4)
    with pytest.raises(ConfigError, match="size"):
        build("oidn-unet", size="huge")
    with pytest.raises(ConfigError, match="no symbol"):
        oidn_weights("rt_no_such_weights")
    with pytest.raises(ValueError, match="takes"):
        OIDNUNet()(torch.zeros(1, 3, 16, 16))


def test_a_whole_images_exposure_holds_for_its_tiles():
    """Tiles of a larger image take the whole image's exposure inside ``whole_image``."""
    model = from_oidn().eval()
    noisy, albedo, normal = render(64, 64, seed=3)
    x = torch.from_numpy(np.concatenate([noisy, albedo, normal], -1)).permute(2, 0, 1)[None]
    tile = x[..., :32, :32]
    with torch.no_grad():
        alone = model(tile)
        with model.whole_image(x):
            within = model(tile)
        again = model(tile)
    assert float(autoexposure(tile[:, :3])[0]) != pytest.approx(float(autoexposure(x[:, :3])[0]))
    assert not torch.allclose(alone, within) and torch.equal(alone, again)


def test_its_onnx_export_is_oidn_too(tmp_path):
    """The ONNX file (exposure, PU curve, padding to 16 inside) gives the network's output at
    a size it was not traced at, a firefly included."""
    pytest.importorskip("onnxscript")
    onnxruntime = pytest.importorskip("onnxruntime")

    from neuralshade import checkpoint
    from neuralshade.export import export_onnx

    meta = {"task": "denoise", "source": "room", "inputs": ["beauty", "albedo", "normal"],
            "targets": ["beauty_reference"], "loss": "pul1+ssim", "step": 0}  # fmt: skip
    model = from_oidn().eval()
    checkpoint.save(tmp_path / "oidn", {"net": model}, meta)
    exported = export_onnx(tmp_path / "oidn.safetensors", tmp_path / "oidn.onnx")
    noisy, albedo, normal = render(45, 61, seed=4)
    noisy[10, 20] = 300.0
    x = np.concatenate([noisy, albedo, normal], -1).transpose(2, 0, 1)[None]
    session = onnxruntime.InferenceSession(exported["path"], providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    assert np.abs(got - want).max() < 1e-4 * max(1.0, float(np.abs(want).max()))


def test_blend_interpolates_towards_oidns_weights():
    from neuralshade.models.oidn import blend

    shipped = oidn_weights()
    moved = {k: v + 1.0 for k, v in shipped.items()}
    half = blend(moved, 0.5)
    assert all(torch.allclose(half[k], shipped[k] + 0.5) for k in shipped)
    assert all(torch.equal(blend(moved, 1.0)[k], moved[k]) for k in shipped)
    with pytest.raises(ConfigError, match="alpha"):
        blend(moved, 1.5)
    with pytest.raises(ConfigError, match="not of OIDN"):
        blend({"w": torch.zeros(2)}, 0.5)


def test_tiled_inference_takes_the_whole_images_exposure(tmp_path):
    """infer.predict in tiles gives the untiled image: each tile runs at the whole image's
    exposure, with OIDN's receptive field as its margin."""
    from neuralshade import checkpoint
    from neuralshade.infer import load_model, predict

    meta = {"task": "denoise", "source": "room", "inputs": ["beauty", "albedo", "normal"],
            "targets": ["beauty_reference"], "loss": "pul1+ssim", "step": 0}  # fmt: skip
    checkpoint.save(tmp_path / "oidn", {"net": from_oidn()}, meta)
    model, _ = load_model(tmp_path / "oidn.safetensors", "cpu", task="denoise")
    noisy, albedo, normal = render(320, 304, seed=5)  # larger than a tile and its margins
    noisy[:160] *= 20  # a bright half: a tile's own exposure would differ from the image's
    arrays = {"beauty": noisy, "albedo": albedo, "normal": normal}
    buffers = {n: torch.from_numpy(a).permute(2, 0, 1) for n, a in arrays.items()}
    whole = predict(model, buffers)
    tiled = predict(model, buffers, tile=64)
    assert torch.allclose(tiled, whole, rtol=1e-3, atol=1e-3 * float(whole.max()))

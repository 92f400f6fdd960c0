"""Inference: any size, exact tiling, batches with bad inputs, the Python API, the demo."""

import json
import math

import numpy as np
import pytest
from PIL import Image

import neuralshade
from neuralshade.cli import main
from neuralshade.demo import demo
from neuralshade.errors import NeuralShadeError, OutputError
from neuralshade.imageio import write_png
from neuralshade.infer import model_path
from neuralshade.masks import random_mask
from neuralshade.render.heightfield import RenderParams, render
from neuralshade.shading import DEFAULT_MODEL, load_model, shade_files, shade_mask


@pytest.mark.parametrize("shape", [(1, 1), (7, 300), (1000, 37)])
def test_any_size_comes_back_at_its_own_size(shape):
    mask = np.zeros(shape, np.float32)
    mask[shape[0] // 3 :, : max(1, shape[1] // 2)] = 1
    out = neuralshade.shade(mask)
    assert out.shape == (*shape, 3) and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1


@pytest.mark.parametrize(
    "name, tolerance",
    [
        ("ao2d-resconv-cpu", 1e-5),  # its receptive field fits the margin: exact
        ("ao2d-unet-cpu", 1 / 255),  # sees beyond the margin, where no effect reaches
    ],
)
def test_tiles_give_the_untiled_image(name, tolerance):
    model, _ = load_model(name, device="cpu")
    mask = random_mask((150, 230), np.random.default_rng(4))
    whole = shade_mask(model, mask, "cpu")
    tiled = shade_mask(model, mask, "cpu", tile=64)  # 3 × 4 tiles, the last ones partial
    np.testing.assert_allclose(tiled, whole, atol=tolerance)


def test_the_context_is_the_renderer_s_reach_where_the_network_sees_farther():
    resconv, _ = load_model("ao2d-resconv-cpu", device="cpu")
    unet, info = load_model("ao2d-unet-cpu", device="cpu")
    assert resconv.context == resconv.receptive_field // 2 == 42
    reach = RenderParams(**info["render"]).reach()
    assert unet.receptive_field // 2 > reach and unet.context == math.ceil(1.25 * reach)


def flat_shading(mask, params):
    """The image without AO or shadow: each pixel the renderer's colour of open ground or of a
    shape's top, lit and unoccluded. (H, W) mask → (H, W, 3) sRGB."""
    ground = render(np.zeros((1, 1), np.float32), params).numpy()["beauty"][0, 0]
    top = render(np.ones((3, 3), np.float32), params).numpy()["beauty"][1, 1]
    return np.where(np.asarray(mask)[..., None] >= 0.5, top, ground).astype(np.float32)


def test_padding_with_empty_ground_matches_the_renderer_at_the_border():
    # a shape touching the frame: the network sees empty ground beyond it, like the renderer.
    # Measured on the border strip: the network 0.0064; the image padded with its own edge
    # (a shape continuing beyond the frame) 0.040; the flat image without AO or shadow 0.016.
    mask = np.zeros((96, 96), np.float32)
    mask[30:60, :20] = 1
    out = neuralshade.shade(mask)
    params = RenderParams(ao_samples=16)
    ref = render(mask, params).numpy()["beauty"]
    error = np.abs(out - ref)[:, :8].mean()
    assert error < 0.011
    assert error < 0.6 * np.abs(flat_shading(mask, params) - ref)[:, :8].mean()


def test_the_default_model_puts_ao_and_shadow_where_the_renderer_does():
    # one box; the light from the top left (azimuth 135°, elevation 30°): the walls occlude
    # the ground at their feet, and the box casts its shadow to the right and below
    params = RenderParams()
    mask = np.zeros((128, 128), np.float32)
    mask[44:84, 44:84] = 1
    out = neuralshade.shade(mask)
    flat = flat_shading(mask, params)
    open_ground = out[2:6, 2:6]  # > 50 px from the box: beyond every effect's reach (46 px)
    np.testing.assert_allclose(open_ground, flat[2:6, 2:6], atol=0.01)
    np.testing.assert_allclose(out[56:72, 56:72], flat[56:72, 56:72], atol=0.01)  # the top
    left, above = out[60:68, 42].mean(), out[42, 60:68].mean()  # lit, at a wall's foot
    right, below = out[60:68, 85].mean(), out[85, 60:68].mean()  # in the shadow, at a foot
    # renderer: open 0.438, lit feet 0.386 (AO about 0.55), shadowed feet 0.231
    assert left < open_ground.mean() - 0.025 and above < open_ground.mean() - 0.025
    assert right < 0.7 * left and below < 0.7 * above
    assert out[60:68, 30].mean() > left + 0.01  # occlusion fades away from the wall


def test_api_takes_paths_pil_images_and_photos(tmp_path):
    mask = np.zeros((50, 60), np.float32)
    mask[10:40, 20:40] = 1
    write_png(tmp_path / "m.png", mask)
    from_path = neuralshade.shade(tmp_path / "m.png")
    from_pil = neuralshade.shade(Image.open(tmp_path / "m.png"))
    np.testing.assert_allclose(from_path, from_pil)
    photo = np.random.default_rng(0).integers(0, 256, (40, 70, 3), dtype=np.uint8)
    # a colour picture is shaded as its Rec. 709 luma, grey levels kept
    luma = (photo / 255.0) @ np.array([0.2126, 0.7152, 0.0722])
    np.testing.assert_allclose(
        neuralshade.shade(photo), neuralshade.shade(luma.astype(np.float32)), atol=1e-5
    )
    with pytest.raises(NeuralShadeError, match="no model"):
        neuralshade.shade(mask, model="no-such-model")


def test_a_batch_with_bad_inputs_shades_the_rest_and_says_so(tmp_path, capsys):
    src = tmp_path / "in"
    mask = np.zeros((40, 50), np.float32)
    mask[10:30, 10:30] = 1
    write_png(src / "a.png", mask)
    Image.fromarray((mask * 255).astype(np.uint8)).convert("RGB").save(src / "b.jpg")
    (src / "broken.png").write_bytes(b"not a png at all")
    out = tmp_path / "out"
    result = shade_files(
        [str(src), str(tmp_path / "missing.png")], out, device="cpu", log=lambda _: None
    )
    assert sorted(p.split("/")[-1] for p, _, _ in result["done"]) == ["a.png", "b.jpg"]
    assert len(result["failed"]) == 2
    assert np.asarray(Image.open(out / "a.png")).shape == (40, 50, 3)
    code = main(
        [
            "shade",
            str(src / "*.png"),
            str(src / "b.jpg"),
            "-o",
            str(tmp_path / "o2"),
            "--device",
            "cpu",
        ]
    )
    assert code == 1  # broken.png failed
    text = capsys.readouterr()
    assert "broken.png" in text.out + text.err and "ms per image" in text.out


def test_an_output_that_would_overwrite_its_input_is_refused(tmp_path):
    mask = np.ones((48, 48), np.float32)
    write_png(tmp_path / "m.png", mask)
    before = (tmp_path / "m.png").read_bytes()
    with pytest.raises(OutputError, match="overwrite the input"):
        shade_files([str(tmp_path / "m.png")], tmp_path, device="cpu", log=lambda _: None)
    assert (tmp_path / "m.png").read_bytes() == before


def test_the_bundled_model_is_the_default():
    assert model_path(DEFAULT_MODEL).name == "ao2d-unet-cpu.safetensors"
    _, info = load_model(device="cpu")
    assert info["render"]["height"] > 0 and "provenance" in info


def test_demo_end_to_end(tmp_path, capsys):
    report = demo("Hi", tmp_path / "demo", device="cpu")
    for name in ("mask.png", "network.png", "reference.png", "comparison.png", "metrics.json"):
        assert (tmp_path / "demo" / name).is_file()
    assert json.loads((tmp_path / "demo/metrics.json").read_text()) == report
    assert report["network_ms"] > 0 and report["renderer_ms"] > 0
    # the network resembles the renderer: L1 0.0026, PSNR 43 dB, SSIM 0.993 when measured;
    # the flat image without AO or shadow scores 0.037, 22 dB, 0.925
    assert report["l1"] < 0.008 and report["psnr"] > 35 and report["ssim"] > 0.97
    _, info = load_model(device="cpu")
    mask = np.asarray(Image.open(tmp_path / "demo/mask.png")).astype(np.float32) / 255
    reference = np.asarray(Image.open(tmp_path / "demo/reference.png")).astype(np.float32) / 255
    flat = flat_shading(mask, RenderParams(**info["render"]))
    assert np.abs(flat - reference).mean() > 8 * report["l1"]
    h, w = report["size"]
    assert np.asarray(Image.open(tmp_path / "demo/network.png")).shape == (h, w, 3)
    assert main(["demo", "--text", "ok", "--out", str(tmp_path / "d2"), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    for word in ("network", "renderer", "speed-up", "L1", "PSNR", "SSIM"):
        assert word in out

"""insert_shadow and `neuralshade shadow`: what a user's picture and mask become, and bad input."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from neuralshade import checkpoint
from neuralshade.cli import main
from neuralshade.errors import InputError
from neuralshade.models import build
from neuralshade.shadowing import ShadowWarning, insert_shadow

SIZE = 32  # the toy model's training size


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny shadow checkpoint (untrained, but its BatchNorms' statistics set, so it changes
    the picture): attention block, generator and discriminator, as a training run saves them."""
    torch.manual_seed(0)
    tiny = {"decoder_channels": [4, 4, 4, 4, 4], "encoder_width": 8}
    nets = {
        "generator": build("arshadow-generator", features=4, **tiny),
        "attention": build("resnet-unet", in_channels=4, out_channels=2, **tiny),
        "discriminator": build("srgan-discriminator", in_channels=4, width=4),
    }
    for net in nets.values():  # a few forward passes in train mode set the running statistics
        net.train()
        with torch.no_grad():
            for _ in range(3):
                net(torch.rand(2, net.in_channels, SIZE, SIZE))
    path = tmp_path_factory.mktemp("shadow-model") / "toy"
    checkpoint.save(path, nets, {"task": "shadow", "image_size": SIZE, "inputs": ["noshadow",
                    "mask"], "targets": ["shadow"]})  # fmt: skip
    return str(path) + ".safetensors"


def picture_and_mask(size=SIZE, seed=0):
    rng = np.random.default_rng(seed)
    picture = rng.uniform(0.2, 0.9, (size, size, 3)).astype(np.float32)
    mask = np.zeros((size, size), np.float32)
    mask[size // 4 : size // 2, size // 3 : size // 2] = 1
    return picture, mask


def test_the_object_keeps_its_pixels_and_the_rest_changes_within_range(model):
    picture, mask = picture_and_mask()
    out = insert_shadow(picture, mask, model=model, device="cpu")
    assert out.shape == picture.shape and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1
    np.testing.assert_array_equal(out[mask == 1], picture[mask == 1])
    assert np.abs(out - picture)[mask == 0].max() > 1e-3  # the network did something


def test_uint8_grey_and_rgba_pictures_are_the_same_picture(model):
    picture, mask = picture_and_mask()
    grey = picture.mean(axis=2)
    as_rgb = insert_shadow(np.repeat(grey[:, :, None], 3, axis=2), mask, model=model,
                           device="cpu")  # fmt: skip
    np.testing.assert_allclose(insert_shadow(grey, mask, model=model, device="cpu"), as_rgb)
    rgba = np.concatenate([picture, np.full((SIZE, SIZE, 1), 0.3, np.float32)], axis=2)
    np.testing.assert_allclose(insert_shadow(rgba, mask, model=model, device="cpu"),
                               insert_shadow(picture, mask, model=model, device="cpu"))  # fmt: skip
    eight = (picture * 255).round().astype(np.uint8)
    np.testing.assert_allclose(
        insert_shadow(eight, (mask * 255).astype(np.uint8), model=model, device="cpu"),
        insert_shadow(eight / 255.0, mask, model=model, device="cpu"), atol=1e-6,
    )  # fmt: skip


def test_a_grey_mask_is_thresholded_with_a_warning(model):
    picture, mask = picture_and_mask()
    soft = mask * 0.7 + 0.2 * (mask == 0) * (np.arange(SIZE)[None] % 2)  # 0.7 inside, speckle
    with pytest.warns(ShadowWarning, match=r"grey pixels.*thresholded at 0.5"):
        out = insert_shadow(picture, soft, model=model, device="cpu")
    np.testing.assert_allclose(out, insert_shadow(picture, mask, model=model, device="cpu"))


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (np.zeros((SIZE, SIZE)), r"empty"),
        (np.ones((SIZE, SIZE)), r"all white"),
        (np.ones((SIZE, SIZE + 1)) * (np.arange(SIZE + 1) > 5), r"33×32 pixels, the image 32×32"),
        (np.full((SIZE, SIZE), np.nan), r"NaN"),
    ],
)
def test_a_mask_that_cannot_be_used_is_an_input_error(model, mask, message):
    picture, _ = picture_and_mask()
    with pytest.raises(InputError, match=message):
        insert_shadow(picture, mask, model=model, device="cpu")


def test_a_picture_larger_than_the_training_size_gets_the_shadow_enlarged(model):
    small, mask = picture_and_mask()
    big = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)  # area-shrinks back to `small`
    big_mask = np.repeat(np.repeat(mask, 2, axis=0), 2, axis=1)
    change = insert_shadow(small, mask, model=model, device="cpu") - small
    up = F.interpolate(torch.from_numpy(change).permute(2, 0, 1)[None], scale_factor=2,
                       mode="bilinear", align_corners=False)  # fmt: skip
    up = up[0].permute(1, 2, 0).numpy()
    expected = np.where(big_mask[:, :, None] == 1, big, np.clip(big + up, 0, 1))
    out = insert_shadow(big, big_mask, model=model, device="cpu")
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_the_command_writes_the_picture_and_refuses_bad_input(model, tmp_path, capsys):
    picture, mask = picture_and_mask()
    Image.fromarray((picture * 255).round().astype(np.uint8)).save(tmp_path / "photo.png")
    Image.fromarray((mask * 255).astype(np.uint8)).save(tmp_path / "mask.png")
    args = [str(tmp_path / "photo.png"), "--mask", str(tmp_path / "mask.png"), "--model", model,
            "--device", "cpu"]  # fmt: skip
    assert main(["shadow", *args, "-o", str(tmp_path / "out.png")]) == 0
    written = np.asarray(Image.open(tmp_path / "out.png")).astype(np.float32) / 255
    eight = np.asarray(Image.open(tmp_path / "photo.png")).astype(np.float32) / 255
    np.testing.assert_allclose(written, insert_shadow(eight, mask, model=model, device="cpu"),
                               atol=0.5 / 255 + 1e-6)  # fmt: skip
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "small.png")
    bad = [
        ([args[0], "--mask", str(tmp_path / "small.png"), *args[3:]], "8×8 pixels"),
        (args, "is an input"),
    ]
    for argv, message in bad:
        out = str(tmp_path / "photo.png") if message == "is an input" else str(tmp_path / "o.png")
        assert main(["shadow", *argv, "-o", out]) == 2
        assert message in capsys.readouterr().err


@pytest.mark.parametrize("mirror", [False, True])
def test_the_whole_chain_exports_to_onnx_and_matches_torch(model, tmp_path, mirror):
    pytest.importorskip("onnxruntime")
    from neuralshade.export import export_onnx

    if mirror:  # the same networks, the attention block averaged with its mirrored reading
        nets, info = checkpoint.load_networks(model, "cpu", task="shadow")
        own = {"format", "neuralshade_version", "models", "model", "weights", "weights_sha256"}
        meta = {k: v for k, v in info.items() if k not in own}
        model = tmp_path / "mirrored"
        checkpoint.save(model, nets, {**meta, "config": {"options": {"mirror": True}}})
        model = str(model) + ".safetensors"
    result = export_onnx(model, tmp_path / "shadow.onnx")  # no network named: the chain
    assert result["trace_shape"][1] == 4  # picture and mask in, as neuralshade shadow runs it
    assert result["max_abs_diff"] <= result["tolerance"]


def test_the_bundled_model_darkens_the_objects_true_shadow_more_than_the_rest(tmp_path):
    """shadow-cpu on freshly rendered scenes (another seed than its data): inside the object's
    true shadow it darkens the picture, elsewhere it leaves it nearly as it was."""
    pytest.importorskip("mitsuba")
    from neuralshade.data.sources import get_source
    from neuralshade.errors import NeuralShadeError

    try:
        from neuralshade.render.mitsuba_scene import load_mitsuba

        load_mitsuba()
    except NeuralShadeError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"Mitsuba unavailable: {exc}")
    source = get_source("shadow")
    config = source.load_config({"count": 20, "size": 128, "seed": 7, "spp": 16,
                                 "supersample": 2, "lights": ["sun"]})  # fmt: skip
    inside, outside = [], []
    luma = np.array([0.2126, 0.7152, 0.0722], np.float32)
    for i in range(20):
        s = source.render(config, source.factors(config, i), "cpu")
        shade = (s["objshadow"] >= 0.5) & (s["mask"] == 0)
        if shade.sum() < 20:
            continue
        drop = (s["noshadow"] - insert_shadow(s["noshadow"], s["mask"], device="cpu")) @ luma
        free = (s["objshadow"] == 0) & (s["rshadow"] == 0) & (s["mask"] == 0)
        inside.append(drop[shade].mean())
        outside.append(np.abs(drop[free]).mean())
        if len(inside) == 4:
            break
    assert len(inside) == 4
    assert np.mean(inside) > 0.01  # darker where the shadow is, by more than 2.5/255
    assert np.mean(inside) > 3 * np.mean(outside)

"""Fitting images: coordinates, the JPEG at equal bytes, fp16 size, resuming, presets, the CLI."""

import io
import json
from importlib import resources

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load as safetensors_load

from neuralshade.cli import main
from neuralshade.config import load_yaml
from neuralshade.errors import ConfigError, InputError
from neuralshade.fields.image import (
    ImageFitConfig,
    fit_image,
    fp16_bytes,
    jpeg_at_bytes,
    load_config,
    pixel_coordinates,
    preset_names,
    sample_image,
)
from neuralshade.fields.network import FieldNetwork, MLPConfig
from neuralshade.imageio import write_png


def smooth_image(h=16, w=20):
    y, x = np.mgrid[0:h, 0:w] / np.float32(max(h, w))
    return np.stack([x, y, 0.5 + 0.4 * np.sin(6 * x * y)], axis=2).astype(np.float32)


def tiny_config(**changes) -> ImageFitConfig:
    values = {
        "field": {
            "n_input_dims": 2,
            "encoding": {
                "otype": "HashGrid",
                "n_levels": 4,
                "log2_hashmap_size": 6,
                "base_resolution": 4,
                "max_resolution": 16,
            },
            "network": {"n_hidden_layers": 1, "n_neurons": 16, "output_activation": "sigmoid"},
            "input_scale": 0.5,
            "input_offset": 0.5,
        },
        "epochs": 4,
        "batch_size": 16,
        "lr": 0.02,
    }
    return ImageFitConfig(**{**values, **changes})


def test_pixel_centres_fill_the_square_symmetrically():
    xy = pixel_coordinates(2, 4)
    np.testing.assert_allclose(xy[:4, 0], [-0.75, -0.25, 0.25, 0.75])  # x along a row
    np.testing.assert_allclose(xy[::4, 1], [-0.5, 0.5])  # y down the rows
    assert float(pixel_coordinates(3, 3, extent=2.0).abs().max()) == pytest.approx(4 / 3)


def test_the_jpeg_is_the_best_quality_within_the_budget():
    noise = np.random.default_rng(0).random((64, 64, 1), dtype=np.float32)
    image = 0.7 * smooth_image(64, 64) + 0.3 * noise  # detail that costs bytes
    got = jpeg_at_bytes(image, 1500)
    assert got["bytes"] <= 1500 and 1 <= got["quality"] < 100
    pixels = Image.fromarray(np.round(image * 255).astype(np.uint8))
    one_more = io.BytesIO()
    pixels.save(one_more, format="JPEG", quality=got["quality"] + 1)
    assert len(one_more.getvalue()) > 1500
    assert 20 < got["psnr"] < 60
    assert jpeg_at_bytes(image, 10)["quality"] is None  # no JPEG is that small


def test_fp16_size_is_the_safetensors_file_of_half_weights():
    net = FieldNetwork({"encoding": {"otype": "Identity"}, "network": MLPConfig(n_neurons=8)})
    size = fp16_bytes(net)
    params = sum(p.numel() for p in net.parameters())
    assert 2 * params < size < 2 * params + 1024  # the header is small
    from safetensors.torch import save

    blob = save({k: v.half().contiguous() for k, v in net.state_dict().items()})
    assert len(blob) == size and all(
        t.dtype == torch.float16 for t in safetensors_load(blob).values()
    )


def test_a_fit_improves_writes_its_outputs_and_resumes_on_the_same_curve(tmp_path):
    image = smooth_image()
    whole = fit_image(image, tiny_config(), tmp_path / "whole", quiet=True)
    history = json.loads((tmp_path / "whole/history.json").read_text())
    assert [e["epoch"] for e in history] == [1, 2, 3, 4]
    assert history[-1]["psnr"] > history[0]["psnr"] + 3
    for name in ("reconstruction.png", "outside.png", "psnr.png", "summary.json", "field.json"):
        assert (tmp_path / "whole" / name).is_file()
    assert np.asarray(Image.open(tmp_path / "whole/outside.png")).shape == (16, 20, 3)
    assert whole["parameters"] == sum(
        p.numel() for p in FieldNetwork(tiny_config().field).parameters()
    )

    fit_image(image, tiny_config(epochs=2), tmp_path / "split", quiet=True)
    resumed = fit_image(
        image, tiny_config(), tmp_path / "split", quiet=True, resume=True, log=lambda _: None
    )
    again = json.loads((tmp_path / "split/history.json").read_text())
    np.testing.assert_allclose([e["psnr"] for e in again], [e["psnr"] for e in history])
    assert resumed["psnr"] == pytest.approx(whole["psnr"])


def test_every_image_preset_loads_and_lists_every_setting():
    names = preset_names()
    assert {
        "relu",
        "relu-sigmoid",
        "siren-pe",
        "sine-pe",
        "gaussian-pe",
        "hash-t1024",
        "hash-t4096",
    } <= set(names)
    folder = resources.files("neuralshade") / "configs"
    for name in names:
        values = load_yaml(str(folder / f"fit-image-{name}.yaml"))
        config = load_config(name)
        assert set(values) == set(ImageFitConfig.model_fields), name
        assert set(values["field"]["network"]) == set(type(config.field.network).model_fields)
        net = FieldNetwork(config.field)
        assert net(torch.zeros(5, 2)).shape == (5, 3), name
    assert load_config("relu").field.network.n_neurons == 128
    with pytest.raises(ConfigError, match="hash-t4096"):
        load_config("no-such-preset")
    with pytest.raises(ConfigError, match="epochs"):
        load_config("relu", ["epochs=0"])


def test_sample_images_and_missing_files():
    assert sample_image("astronaut").shape == (512, 512, 3)
    with pytest.raises(InputError, match="astronaut"):
        sample_image("no-such-photo.png")


def test_cli_fits_an_image_file(tmp_path, capsys):
    write_png(tmp_path / "img.png", smooth_image())
    (tmp_path / "tiny.yaml").write_text(json.dumps(tiny_config().model_dump(mode="json")))
    code = main(
        [
            "fit",
            "image",
            str(tmp_path / "img.png"),
            "--preset",
            str(tmp_path / "tiny.yaml"),
            "--epochs",
            "2",
            "--out",
            str(tmp_path / "fit"),
            "--quiet",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    for word in ("PSNR", "JPEG", "parameters", "30 dB"):
        assert word in out
    assert json.loads((tmp_path / "fit/summary.json").read_text())["epochs"] == 2
    assert main(["fit", "image", str(tmp_path / "img.png"), "--preset", "nope"]) == 2

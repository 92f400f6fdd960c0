"""The command line: what a user types, what lands on disk, and how errors read."""

import json
from importlib import resources

import numpy as np
import pytest
import torch
from PIL import Image

from neuralshade.cli import main
from neuralshade.config import load_yaml
from neuralshade.data.generate import load_config, read_manifest
from neuralshade.data.sources.ao2d import DatasetConfig
from neuralshade.imageio import to_uint8, write_png
from neuralshade.render.heightfield import RenderParams, render


@pytest.fixture
def mask_file(tmp_path):
    mask = np.zeros((24, 30), np.float32)
    mask[8:16, 10:20] = 1
    path = tmp_path / "mask.png"
    write_png(path, mask)
    return path


def test_render_writes_every_buffer_and_every_parameter(mask_file, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "render",
            str(mask_file),
            "-o",
            str(out),
            "--height",
            "5",
            "--ao-samples",
            "8",
            "--light-azimuth",
            "10",
            "--set",
            "ambient=0.3",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    assert "rendered" in capsys.readouterr().out
    assert (out / "beauty.png").is_file()
    for name in ("ao", "shadow", "height", "sdf"):
        array = np.load(out / f"{name}.npy")
        assert array.shape == (24, 30) and array.dtype == np.float32
    assert np.load(out / "normal.npy").shape == (24, 30, 3)
    assert np.load(out / "height.npy").max() == 5
    info = json.loads((out / "params.json").read_text())
    params = info["params"]
    assert params["height"] == 5 and params["ao_samples"] == 8 and params["ambient"] == 0.3
    assert params["light_elevation"] == 30.0 and params["softness"] == 0.05  # defaults recorded
    assert info["seed"] == 0 and info["size"] == [24, 30]
    # the files are the render of those parameters (not of the defaults, which differ here)
    mask = np.asarray(Image.open(mask_file), dtype=np.float32) / 255
    fresh = render(mask, RenderParams(**params), seed=0).numpy()
    for name in ("ao", "shadow", "height", "sdf", "normal"):
        np.testing.assert_array_equal(np.load(out / f"{name}.npy"), fresh[name], err_msg=name)
    np.testing.assert_array_equal(
        np.asarray(Image.open(out / "beauty.png")), to_uint8(fresh["beauty"])
    )
    default = render(mask, RenderParams(ao_samples=8), seed=0).numpy()
    assert not np.array_equal(to_uint8(default["beauty"]), to_uint8(fresh["beauty"]))


def test_render_refuses_to_overwrite_its_input(tmp_path, capsys):
    mask = np.ones((4, 4), np.float32)
    write_png(tmp_path / "beauty.png", mask)
    assert main(["render", str(tmp_path / "beauty.png"), "-o", str(tmp_path)]) == 2
    assert "overwrite the input" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv_tail, message",
    [
        (["--set", "ao_radus=3"], "ao_radus"),
        (["--height", "-1"], "height"),
        (["--device", "cuda:7"], "cuda"),
    ],
)
def test_bad_options_exit_2_with_a_message_and_no_traceback(
    mask_file, tmp_path, capsys, argv_tail, message
):
    import torch

    if message == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["render", str(mask_file), "-o", str(tmp_path / "o"), *argv_tail]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and "Traceback" not in err


def test_missing_or_corrupt_mask_is_a_clear_error(tmp_path, capsys):
    assert main(["render", str(tmp_path / "nope.png"), "-o", str(tmp_path / "o")]) == 2
    assert "nope.png" in capsys.readouterr().err
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    assert main(["render", str(bad), "-o", str(tmp_path / "o")]) == 2
    assert "bad.png" in capsys.readouterr().err


def test_dataset_command_applies_flags_vary_and_overrides(tmp_path, capsys):
    out = tmp_path / "ds"
    argv = ["dataset", "ao2d", "--out", str(out), "--count", "3", "--size", "24", "--seed", "4",
            "--buffers", "ao,sdf", "--ao-samples", "4", "--vary", "light_azimuth=90:180",
            "--vary", "ground_color=0.1,0.1,0.1:0.3,0.3,0.3", "--set", "masks.items_max=5",
            "--quiet"]  # fmt: skip
    assert main(argv) == 0
    assert "rendered 3 samples" in capsys.readouterr().out
    m = read_manifest(out)
    c = m["config"]
    assert (c["count"], c["size"], c["seed"], c["buffers"]) == (3, 24, 4, ["ao", "sdf"])
    assert c["render"]["ao_samples"] == 4 and c["masks"]["items_max"] == 5
    assert c["vary"]["ground_color"] == [[0.1, 0.1, 0.1], [0.3, 0.3, 0.3]]
    assert 90 <= m["samples"]["2"]["light_azimuth"] <= 180
    assert (out / "samples/000002/sdf.npy").is_file()
    # the same command again finds nothing to do
    assert main(argv) == 0
    assert "rendered 0 samples, 3 already done" in capsys.readouterr().out


def test_dataset_command_reads_a_shipped_preset(tmp_path):
    out = tmp_path / "ds"
    assert (
        main(
            [
                "dataset",
                "ao2d",
                "--config",
                "ao2d-data",
                "--out",
                str(out),
                "--count",
                "1",
                "--size",
                "16",
                "--ao-samples",
                "2",
                "--quiet",
            ]
        )
        == 0
    )
    assert read_manifest(out)["config"]["render"]["height"] == 24.0


@pytest.mark.parametrize(
    "argv_tail, message",
    [
        (["--shard", "3/2"], "shard"),
        (["--vary", "light_azimuth=0-360"], "key=low:high"),
        (["--config", "no-such-preset"], "no-such-preset"),
        (["--workers", "0"], "workers"),
    ],
)
def test_dataset_bad_options_exit_2(tmp_path, capsys, argv_tail, message):
    assert main(["dataset", "ao2d", "--out", str(tmp_path / "d"), *argv_tail]) == 2
    assert message in capsys.readouterr().err


def test_every_shipped_preset_is_a_valid_complete_config():
    from neuralshade.train import TrainConfig
    from neuralshade.train import load_config as load_train_config

    presets = [
        p
        for p in (resources.files("neuralshade") / "configs").iterdir()
        if p.name.endswith(".yaml") and not p.name.startswith("fit-")  # fit-*: tests/fields
    ]
    assert len(presets) >= 12
    for preset in presets:
        values = load_yaml(str(preset))
        # a preset shows every key: nothing is left to a hidden default
        if values.get("source") in ("shadow", "room"):  # another source's dataset preset
            from neuralshade.data.generate import load_config as load_dataset_config
            from neuralshade.data.sources import get_source
            from neuralshade.data.sources.shadow import ShadowConfig

            data = dict(values)
            source = data.pop("source")
            config = load_dataset_config(data, source=source)
            assert set(data) == set(get_source(source).Config.model_fields), preset.name
            if source == "shadow":  # the shadow preset is the source's defaults
                assert config == ShadowConfig(), preset.name
        elif "count" in values:
            config = load_config(values)
            assert set(values) == set(DatasetConfig.model_fields), preset.name
            assert set(values["render"]) == set(type(config.render).model_fields), preset.name
            assert set(values["masks"]) == set(type(config.masks).model_fields), preset.name
        else:
            config = load_train_config(values)
            assert set(values) == set(TrainConfig.model_fields), preset.name
            assert set(values["optimizer"]) == set(type(config.optimizer).model_fields)
            assert set(values["schedule"]) == set(type(config.schedule).model_fields)
    default = resources.files("neuralshade") / "configs/ao2d-data.yaml"
    assert load_config(load_yaml(str(default))) == DatasetConfig()


def test_the_cnsr_presets_build_the_original_s_networks():
    # the room presets' data: observations beauty, normal, position, id (10 channels), queries
    # normal, position, id (7), the beauty out (3); sizes as REFERENCES.md gives them
    from neuralshade.models import build
    from neuralshade.task import get_task
    from neuralshade.train import load_config as load_train_config
    from neuralshade.train import merge_args

    widths = {"beauty": 3, "normal": 3, "position": 3, "id": 1, "beauty_reference": 3}
    expected = {"cnsr-pixel-gpu": ("cnsr-pixel", 4.2e6), "cnsr-unet-gpu": ("cnsr-unet", 80.6e6),
                "cnsr-gqn-gpu": ("cnsr-gqn", None), "cnsr-cpu": ("cnsr-pixel", None),
                "cnsr-unet-cpu": ("cnsr-unet", None),
                "cnsr-gqn-cpu": ("cnsr-gqn", None)}  # fmt: skip
    for name, (generator, size) in expected.items():
        config = load_train_config(
            load_yaml(str(resources.files("neuralshade") / "configs" / f"{name}.yaml"))
        )
        args = get_task("cnsr").model_args("net", config, lambda ns: sum(widths[n] for n in ns))
        with torch.device("meta"):
            model = build("cnsr", **merge_args(args, config.models["net"].args))
        assert model.encoder.spec["name"] == "cnsr-pool" and model.encoder.in_channels == 10
        assert model.generator.spec["name"] == generator, name
        if size:
            count = sum(p.numel() for p in model.generator.parameters())
            assert count == pytest.approx(size, rel=0.01), name


def test_train_presets_build_the_source_network():
    from neuralshade.models import build
    from neuralshade.train import load_config as load_train_config

    for name in ("ao2d-resconv-original", "ao2d-resconv-cpu"):
        config = load_train_config(
            load_yaml(str(resources.files("neuralshade") / "configs" / f"{name}.yaml"))
        )
        spec = config.models["net"]
        model = build(spec.name, **{"in_channels": 3, **spec.args})
        assert sum(p.numel() for p in model.parameters()) == 411_561, name


def test_unet_presets_build_the_same_network():
    from neuralshade.models import build
    from neuralshade.train import load_config as load_train_config

    specs = []
    for name in ("ao2d-unet-cpu", "ao2d-unet-gpu"):
        config = load_train_config(
            load_yaml(str(resources.files("neuralshade") / "configs" / f"{name}.yaml"))
        )
        spec = config.models["net"]
        model = build(spec.name, in_channels=1, out_channels=3, **spec.args)
        assert type(model).__name__ == "ShadeUNet" and config.crop == 256, name
        specs.append(model.spec)
    assert specs[0] == specs[1]

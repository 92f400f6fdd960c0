"""Denoising: the PFM format by its spec, the sRGB curve, repaired input, the API and the CLI."""

import json
import math
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

import neuralshade
from neuralshade.cli import build_parser, main
from neuralshade.denoise import (
    DENOISERS,
    DenoiseWarning,
    clean_aux,
    clean_color,
    linear_to_srgb,
    read_buffer,
    srgb_to_linear,
)
from neuralshade.errors import ConfigError, InputError
from neuralshade.imageio import read_exr, write_exr, write_png
from neuralshade.pfm import read_pfm, write_pfm


def scene(size=64, seed=0):
    """A smooth HDR image with an edge, its albedo and normal, and the image with MC-like noise."""
    y, x = np.mgrid[0:size, 0:size] / size
    clean = np.stack([0.2 + x, 0.5 + 0 * x, 1.5 - y], axis=-1).astype(np.float32)
    clean[:, size // 2 :] *= 3.0
    albedo = np.full_like(clean, 0.5)
    normal = np.zeros_like(clean)
    normal[..., 2] = 1.0
    rng = np.random.default_rng(seed)
    noisy = clean * rng.exponential(1.0, clean.shape).astype(np.float32)  # unbiased noise
    return clean, noisy, albedo, normal


def mse(a, b):
    return float(np.mean((np.asarray(a, np.float64) - b) ** 2))


def repairs(caught):
    return sorted(str(w.message) for w in caught if issubclass(w.category, DenoiseWarning))


# ---- PFM --------------------------------------------------------------------------------


def value(row, col, channel):
    """A distinct value per pixel and channel; row 0 is the top of the image."""
    return row * 100 + col * 10 + channel + 0.25


@pytest.mark.parametrize("magic, channels", [(b"PF", 3), (b"Pf", 1)])
@pytest.mark.parametrize("order, scale", [("<", b"-1.0"), (">", b"1.0"), ("<", b"-2.5")])
def test_pfm_reader_follows_the_spec(tmp_path, magic, channels, order, scale):
    width, height = 4, 3
    data = b"".join(  # bottom row first, each row left to right, channels interleaved
        struct.pack(f"{order}f", value(row, col, c))
        for row in reversed(range(height))
        for col in range(width)
        for c in range(channels)
    )
    path = tmp_path / "hand.pfm"
    path.write_bytes(magic + b"\n%d %d\n" % (width, height) + scale + b"\n" + data)
    image = read_pfm(path)
    assert image.shape == (height, width, channels) and image.dtype == np.float32
    for row in range(height):  # the top row first; the scale's magnitude is not applied
        for col in range(width):
            for c in range(channels):
                assert image[row, col, c] == value(row, col, c)


def test_pfm_writer_writes_the_spec_and_reads_back(tmp_path):
    rng = np.random.default_rng(1)
    colour = rng.normal(size=(5, 7, 3)).astype(np.float32)
    colour[0, 0] = [np.inf, -np.inf, 1e30]
    write_pfm(tmp_path / "c.pfm", colour)
    raw = (tmp_path / "c.pfm").read_bytes()
    header = b"PF\n7 5\n-1.0\n"
    assert raw.startswith(header) and len(raw) == len(header) + 5 * 7 * 3 * 4
    first_stored = struct.unpack("<21f", raw[len(header) : len(header) + 84])
    np.testing.assert_array_equal(first_stored, colour[-1].ravel())  # the bottom row
    np.testing.assert_array_equal(read_pfm(tmp_path / "c.pfm"), colour)
    grey = rng.normal(size=(3, 2)).astype(np.float32)
    write_pfm(tmp_path / "g.pfm", grey)
    assert (tmp_path / "g.pfm").read_bytes().startswith(b"Pf\n2 3\n-1.0\n")
    np.testing.assert_array_equal(read_pfm(tmp_path / "g.pfm"), grey[..., None])


def test_pfm_reader_refuses_bad_files_naming_them(tmp_path):
    path = tmp_path / "bad.pfm"
    path.write_bytes(b"P6\n2 2\n255\n" + bytes(12))
    with pytest.raises(InputError, match="bad.pfm: not a PFM file"):
        read_pfm(path)
    path.write_bytes(b"PF\n2 2\n-1.0\n" + bytes(47))  # one byte short
    with pytest.raises(InputError, match="truncated"):
        read_pfm(path)
    path.write_bytes(b"PF\n2 2\n0\n" + bytes(48))
    with pytest.raises(InputError, match="scale"):
        read_pfm(path)
    path.write_bytes(b"PF\n100 100\n-1.0\n")  # refused from the header, before any pixel
    with pytest.raises(InputError, match="--max-pixels"):
        read_pfm(path, max_pixels=9999)


# ---- sRGB -------------------------------------------------------------------------------


def test_srgb_curve_matches_iec_61966_2_1():
    def to_linear(s):
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    def to_srgb(v):
        return 12.92 * v if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055

    codes = np.arange(256) / 255
    expected = [to_linear(s) for s in codes]
    np.testing.assert_allclose(srgb_to_linear(codes), expected, rtol=1e-6, atol=1e-9)
    assert abs(float(srgb_to_linear(np.array(188 / 255))) - 0.5029) < 1e-4  # a known pair
    lin = np.linspace(0, 1, 1001)
    np.testing.assert_allclose(linear_to_srgb(lin), [to_srgb(v) for v in lin], atol=1e-6)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(codes)), codes, atol=1e-6)
    assert linear_to_srgb(np.array([-1.0, 7.0])).tolist() == [0.0, 1.0]  # clipped
    assert math.isclose(to_srgb(to_linear(0.3)), 0.3)


# ---- repairs (no denoiser needed) -------------------------------------------------------


def test_nan_and_inf_pixels_take_the_mean_of_their_finite_neighbours():
    image = np.full((5, 6, 3), 2.0, np.float32)
    image[:, :, 1] = np.arange(6)  # a ramp in green: the mean of the neighbours is exact
    image[2, 3] = [np.nan, 0, 0]
    image[0, 0, 2] = np.inf  # a corner: three neighbours
    image[4, 5] = -np.inf
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = clean_color(image)
    assert repairs(caught) == [
        "color: 3 pixels with NaN or infinite values replaced by the mean of their finite "
        "neighbours"
    ]
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[2, 3], [2.0, 3.0, 2.0])
    np.testing.assert_allclose(out[0, 0], [2.0, 2 * 1 / 3, 2.0])  # neighbours: x = 0, 1, 1
    np.testing.assert_allclose(out[4, 5], [2.0, (4 + 4 + 5) / 3, 2.0])
    lost = np.full((3, 3, 3), np.nan, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert (clean_color(lost) == 0).all()  # no finite neighbour: 0


def test_negative_radiance_is_clamped_and_ldr_is_clamped_to_one_with_counts():
    image = np.full((4, 4, 3), 0.5, np.float32)
    image[0, 0] = [-1, -2, 0.5]
    image[1, 1, 2] = -0.1
    image[2, 2] = [3, 0.2, 0.2]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = clean_color(image, hdr=False)
    assert repairs(caught) == [
        "color: 1 pixel above 1 clamped to 1 (LDR mode; denoise HDR radiance with hdr=True, "
        "CLI --hdr)",
        "color: 2 pixels with negative values clamped to 0",
    ]
    assert out.min() == 0 and out.max() == 1 and out[0, 0].tolist() == [0, 0, 0.5]


def test_aux_buffers_lose_nan_and_are_clamped():
    albedo = np.full((3, 3, 3), 0.5, np.float32)
    albedo[0, 0, 0], albedo[1, 1] = np.nan, [2.0, -1.0, np.inf]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = clean_aux(albedo, "albedo", 0.0, 1.0)
    assert repairs(caught) == ["albedo: 2 pixels with NaN or infinite values set to 0"]
    assert out[0, 0].tolist() == [0, 0, 0] and out[1, 1].tolist() == [0, 0, 0]
    normal = np.full((2, 2, 3), 1.5, np.float32)
    assert clean_aux(normal, "normal", -1.0, 1.0).max() == 1.0


# ---- the API ----------------------------------------------------------------------------


def test_bad_calls_are_clear_errors():
    _, noisy, albedo, normal = scene(16)
    with pytest.raises(InputError, match=r"color \(16, 16, 3\), albedo \(8, 16, 3\)"):
        neuralshade.denoise(noisy, albedo[:8])
    with pytest.raises(InputError, match=r"albedo \(16, 16, 3\), normal \(16, 16, 2\)"):
        neuralshade.denoise(noisy, albedo, normal[..., :2])
    with pytest.raises(InputError, match=r"color \(16, 16, 4\)"):
        neuralshade.denoise(np.ones((16, 16, 4), np.float32))
    with pytest.raises(ConfigError, match="normal needs an albedo"):
        neuralshade.denoise(noisy, normal=normal)
    with pytest.raises(ConfigError, match="no denoiser 'nope': use one of oidn"):
        neuralshade.denoise(noisy, model="nope")
    with pytest.raises(InputError, match=r"16 × 16 = 256 pixels.*limit of 100.*--max-pixels"):
        neuralshade.denoise(noisy, max_pixels=100)
    with pytest.raises(InputError, match="float"):
        neuralshade.denoise((noisy * 255).astype(np.uint8))


@pytest.fixture
def pyoidn():
    return pytest.importorskip("pyoidn")


def test_every_denoiser_removes_noise_and_repairs_bad_pixels(pyoidn):
    clean, noisy, albedo, normal = scene()
    noisy[5, 7] = np.nan
    noisy[40, 9, 1] = np.inf
    noisy[30:32, 30] = -4.0
    albedo[0, 0] = np.nan
    for name in DENOISERS.names():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = neuralshade.denoise(noisy, albedo, normal, model=name, spp=4)
        assert out.shape == noisy.shape and out.dtype == np.float32, name
        assert np.isfinite(out).all() and out.min() >= 0, name
        assert mse(out, clean) < 0.1 * mse(np.nan_to_num(noisy, posinf=0), clean), name
        assert repairs(caught) == [
            "albedo: 1 pixel with NaN or infinite values set to 0",
            "color: 2 pixels with NaN or infinite values replaced by the mean of their finite "
            "neighbours",
            "color: 2 pixels with negative values clamped to 0",
        ]
        assert abs(out[5, 7] - clean[5, 7]).max() < 0.5  # no dark speck where the NaN was


def test_grey_in_grey_out(pyoidn):
    clean, noisy, _, _ = scene(32)
    grey = noisy[..., 0]
    out = neuralshade.denoise(grey)
    assert out.shape == (32, 32) and out.dtype == np.float32
    assert mse(out, clean[..., 0]) < 0.3 * mse(grey, clean[..., 0])
    as_rgb = neuralshade.denoise(np.repeat(grey[..., None], 3, axis=2))
    np.testing.assert_allclose(out, as_rgb.mean(axis=2), rtol=1e-6)
    assert neuralshade.denoise(grey[..., None]).shape == (32, 32, 1)


def test_torch_in_torch_out(pyoidn):
    torch = pytest.importorskip("torch")
    _, noisy, albedo, normal = scene(32)
    out = neuralshade.denoise(torch.from_numpy(noisy).double(), albedo, torch.from_numpy(normal))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    assert out.shape == (32, 32, 3)
    np.testing.assert_allclose(out.numpy(), neuralshade.denoise(noisy, albedo, normal), rtol=1e-6)
    assert neuralshade.denoise(noisy.astype(np.float64)).dtype == np.float64


def test_ldr_mode_keeps_values_in_unit_range(pyoidn):
    clean, noisy, _, _ = scene(32)
    out = neuralshade.denoise(np.clip(noisy / 5, 0, 1), hdr=False, quality="fast")
    assert 0 <= out.min() and out.max() <= 1


# ---- the command ------------------------------------------------------------------------


def test_cli_denoises_an_exr_with_its_albedo_and_normal(pyoidn, tmp_path, capsys):
    clean, noisy, albedo, normal = scene()
    for name, image in (("noisy", noisy), ("albedo", albedo), ("normal", normal)):
        write_exr(tmp_path / f"{name}.exr", image)
    out = tmp_path / "out" / "clean.exr"
    argv = ["denoise", str(tmp_path / "noisy.exr"), "-o", str(out)]
    aux = ["--albedo", str(tmp_path / "albedo.exr"), "--normal", str(tmp_path / "normal.exr")]
    assert main([*argv, *aux, "--spp", "4"]) == 0
    line = capsys.readouterr().out
    assert "64x64" in line and "oidn high" in line and "albedo+normal" in line and " ms)" in line
    result = read_exr(out)
    assert result.shape == (64, 64, 3)
    assert mse(result, clean) < 0.1 * mse(noisy, clean)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary left


def test_cli_reports_repairs_and_writes_a_finite_image(pyoidn, tmp_path, capsys):
    _, noisy, _, _ = scene(32)
    noisy[3, 3], noisy[4, 9, 2], noisy[10, 10] = np.nan, np.inf, -1
    write_pfm(tmp_path / "noisy.pfm", noisy)
    assert main(["denoise", str(tmp_path / "noisy.pfm"), "-o", str(tmp_path / "c.pfm")]) == 0
    err = capsys.readouterr().err
    assert f"warning: {tmp_path / 'noisy.pfm'}: color: 2 pixels with NaN or infinite" in err
    assert "color: 1 pixel with negative values clamped to 0" in err
    assert np.isfinite(read_pfm(tmp_path / "c.pfm")).all()


def test_cli_denoises_several_inputs_into_a_folder_in_their_formats(pyoidn, tmp_path, capsys):
    clean, noisy, _, _ = scene(32)
    src = tmp_path / "in"
    write_exr(src / "a.exr", noisy)
    write_pfm(src / "b.pfm", noisy)
    ldr = np.clip(clean / 5, 0, 1)
    noisy_ldr = np.clip(ldr * np.random.default_rng(2).uniform(0.2, 1.8, ldr.shape), 0, 1)
    write_png(src / "sub" / "c.png", linear_to_srgb(noisy_ldr))
    (src / ".hidden.exr").write_bytes(b"skipped")
    out = tmp_path / "out"
    assert main(["denoise", str(src), "-o", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "denoised 3 images into" in stdout and "ldr" in stdout and "hdr" in stdout
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*")) == [
        "a.exr",
        "b.pfm",
        "sub/c.png",
    ]
    np.testing.assert_allclose(read_exr(out / "a.exr"), read_pfm(out / "b.pfm"), rtol=1e-6)
    png = read_buffer(out / "sub" / "c.png")  # sRGB decoded: linear again
    assert png.shape == (32, 32, 3) and mse(png, ldr) < 0.3 * mse(noisy_ldr, ldr)
    as_pfm = tmp_path / "as_pfm"
    argv = ["denoise", str(src / "a.exr"), str(src / "sub" / "*.png"), "-o", str(as_pfm)]
    assert main([*argv, "--format", "pfm", "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("denoised 2 images")  # quiet: the summary only
    assert sorted(p.name for p in as_pfm.iterdir()) == ["a.pfm", "c.pfm"]


def test_a_render_folder_is_one_image_with_its_albedo_and_normal(pyoidn, tmp_path, capsys):
    clean, noisy, albedo, normal = scene(32)
    view = tmp_path / "renders" / "view1"
    for name, image in (("beauty", noisy), ("albedo", albedo), ("normal", normal)):
        write_exr(view / f"{name}.exr", image)
    write_exr(view / "depth.exr", noisy[..., 0])  # another buffer: not an image to denoise
    (view / "params.json").write_text(json.dumps({"spp": 4}))
    assert main(["denoise", str(tmp_path / "renders"), "-o", str(tmp_path / "out")]) == 0
    assert "albedo+normal" in capsys.readouterr().out
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["view1.exr"]
    expected = neuralshade.denoise(noisy, albedo, normal)
    np.testing.assert_allclose(read_exr(tmp_path / "out" / "view1.exr"), expected, rtol=1e-6)
    assert not np.allclose(expected, neuralshade.denoise(noisy), rtol=1e-3)  # the aux mattered
    assert main(["denoise", str(view), "-o", str(tmp_path / "one.png")]) == 0  # alone: a file
    assert (tmp_path / "one.png").is_file()


def test_cli_refuses_bad_outputs_and_options(pyoidn, tmp_path, capsys):
    _, noisy, albedo, _ = scene(8)
    write_exr(tmp_path / "noisy.exr", noisy)
    write_exr(tmp_path / "other.exr", noisy)
    write_exr(tmp_path / "albedo.exr", albedo)
    noisy_path = str(tmp_path / "noisy.exr")
    cases = [
        (["-o", str(tmp_path / "out.jpg")], "unknown output format .jpg"),
        (["-o", str(tmp_path / "out")], "-o names the output file"),
        (["-o", noisy_path], "would overwrite the input"),
        (["-o", str(tmp_path / "o.exr"), "--normal", noisy_path], "--normal needs --albedo"),
        (["-o", str(tmp_path / "o.exr"), "--model", "nope"], "use one of oidn"),
        (["-o", str(tmp_path / "o.exr"), "--format", "png"], "disagree"),
        (["-o", str(tmp_path / "o.exr"), "--max-pixels", "10"], "--max-pixels"),
        (["-o", str(tmp_path / "o.exr"), "--hdr", "--ldr"], "not allowed with"),
        (["-o", str(tmp_path / "o.exr"), "--quality", "best"], "invalid choice"),
    ]
    for tail, message in cases:
        assert main(["denoise", noisy_path, *tail]) == 2, tail
        err = capsys.readouterr().err
        assert "error:" in err and message in err and "Traceback" not in err, (tail, err)
    several = ["denoise", noisy_path, str(tmp_path / "other.exr"), "-o", str(tmp_path / "d")]
    assert main([*several, "--albedo", str(tmp_path / "albedo.exr")]) == 2
    assert "single colour image" in capsys.readouterr().err
    assert main(["denoise", str(tmp_path / "missing.exr"), "-o", str(tmp_path / "o.exr")]) == 2
    assert "missing.exr: no such file" in capsys.readouterr().err
    assert not (tmp_path / "o.exr").exists()


def test_cli_quality_choices_are_oidns():
    from neuralshade.baselines.oidn import QUALITIES

    parser = build_parser("denoise")
    denoise_parser = parser._subparsers._group_actions[0].choices["denoise"]
    quality = next(a for a in denoise_parser._actions if a.dest == "quality")
    assert tuple(quality.choices) == QUALITIES


# ---- trained networks -------------------------------------------------------------------


def network_output(net, color, albedo, normal):
    """The network on the buffers, computed directly: expm1 of its log1p prediction, ≥ 0."""
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(np.concatenate([color, albedo, normal], axis=2)).permute(2, 0, 1)[None]
    with torch.no_grad():
        return torch.expm1(net(x))[0].clamp_min(0).permute(1, 2, 0).numpy()


def test_a_denoise_checkpoint_is_a_denoiser_by_its_path(tmp_path):
    from tiny_models import tiny_denoise_model

    path, net = tiny_denoise_model(tmp_path)
    _, noisy, albedo, normal = scene(40)
    out = neuralshade.denoise(noisy, albedo, normal, model=str(path))
    assert out.shape == noisy.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, network_output(net, noisy, albedo, normal), atol=1e-4)
    # it reads the albedo and normal: without them, a clear error naming what to give
    with pytest.raises(ConfigError, match="give the albedo and normal too"):
        neuralshade.denoise(noisy, model=str(path))


def test_a_network_runs_tiled_as_it_runs_whole(tmp_path):
    """Above the automatic tiling threshold the network runs in tiles with its receptive field
    as overlap: the result matches the untiled one."""
    torch = pytest.importorskip("torch")
    from tiny_models import tiny_denoise_model

    from neuralshade.infer import load_model, predict

    path, _ = tiny_denoise_model(tmp_path)
    model, _ = load_model(path, "cpu", task="denoise")
    _, noisy, albedo, normal = scene(96)
    buffers = {n: torch.from_numpy(a).permute(2, 0, 1)
               for n, a in (("beauty", noisy), ("albedo", albedo), ("normal", normal))}  # fmt: skip
    whole = predict(model, buffers)
    tiled = predict(model, buffers, tile=32)
    assert (tiled - whole).abs().max() < 1e-3 * max(1.0, float(whole.abs().max()))


def test_unknown_models_and_other_tasks_are_clear_errors(tmp_path, capsys):
    from tiny_models import tiny_ao_model

    from neuralshade.errors import CheckpointError

    _, noisy, albedo, normal = scene(16)
    with pytest.raises(ConfigError, match="no denoiser 'nope': use one of oidn"):
        neuralshade.denoise(noisy, model="nope")
    ao, _ = tiny_ao_model(tmp_path)
    with pytest.raises(CheckpointError, match="deep-shading"):
        neuralshade.denoise(noisy, albedo, normal, model=str(ao))
    write_exr(tmp_path / "noisy.exr", noisy)
    argv = ["denoise", str(tmp_path / "noisy.exr"), "-o", str(tmp_path / "c.exr")]
    assert main([*argv, "--model", "nope"]) == 2
    assert "error: no denoiser 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "c.exr").exists()


def test_cli_denoises_with_a_checkpoint(tmp_path, capsys):
    from tiny_models import tiny_denoise_model

    path, net = tiny_denoise_model(tmp_path)
    _, noisy, albedo, normal = scene(32)
    for name, image in (("noisy", noisy), ("albedo", albedo), ("normal", normal)):
        write_exr(tmp_path / f"{name}.exr", image)
    out = tmp_path / "clean.exr"
    argv = ["denoise", str(tmp_path / "noisy.exr"), "--albedo", str(tmp_path / "albedo.exr"),
            "--normal", str(tmp_path / "normal.exr"), "--model", str(path),
            "-o", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert f"{path}, albedo+normal" in capsys.readouterr().out
    np.testing.assert_allclose(read_exr(out), network_output(net, noisy, albedo, normal),
                               atol=1e-3)  # fmt: skip


def test_the_bundled_denoiser_cleans_a_render_folder_as_the_readme_does(mitsuba, tmp_path):
    """The README's example with the bundled network: the Cornell box (never trained on) at
    4 spp with its albedo and normal, `denoise --model denoise-cpu` (OIDN's network fine-tuned
    on rooms, run inside OIDN) beside OIDN itself: both remove most of the tone-mapped error
    (docs/RESULTS.md: on scenes unlike the rooms ours stays within 1 dB of OIDN)."""
    pytest.importorskip("pyoidn")
    examples = Path(__file__).resolve().parents[1] / "examples"
    folder = tmp_path / "noisy"
    assert main(["render", str(examples / "cornell_box.xml"), "-o", str(folder), "--size", "96",
                 "--spp", "4", "--buffers", "beauty,albedo,normal", "--reference-spp", "256",
                 "--quiet"]) == 0  # fmt: skip
    for model in ("denoise-cpu", "oidn"):
        assert main(["denoise", str(folder), "--model", model, "-o",
                     str(tmp_path / f"{model}.exr"), "--quiet"]) == 0  # fmt: skip
    truth = read_exr(folder / "beauty_reference.exr")

    def error(x):  # on the tone-mapped image, as the benchmark scores
        return float(np.square(x / (1 + x) - truth / (1 + truth)).mean())

    ours, oidn = read_exr(tmp_path / "denoise-cpu.exr"), read_exr(tmp_path / "oidn.exr")
    noisy = read_exr(folder / "beauty.exr")
    assert ours.shape == truth.shape == (96, 96, 3) and np.isfinite(ours).all()
    assert error(ours) < 0.25 * error(noisy), (error(ours), error(noisy))
    assert error(ours) < 1.5 * error(oidn), (error(ours), error(oidn))  # 1 dB is 1.26×
    assert error(oidn) < 0.25 * error(noisy), (error(oidn), error(noisy))

"""`shade` with a light of one's own: the light-conditioned network gets the light as the
data gave it, a fixed-light network refuses another light, and the trained ranges hold."""

import math

import numpy as np
import pytest
import torch

from neuralshade import checkpoint
from neuralshade.data.sources.ao2d import LIGHT_INPUT
from neuralshade.errors import CheckpointError, InputError
from neuralshade.models import build
from neuralshade.render.params import RenderParams
from neuralshade.shading import (
    DEFAULT_MODEL,
    LIGHT_MODEL,
    choose_model,
    load_model,
    shade_mask,
)
from neuralshade.tasks.ao2d import Ao2dTask, longest_reach

RENDER = RenderParams().model_dump(mode="json")
VARY = {"light_azimuth": [0, 360], "light_elevation": [20, 70], "height": [12, 36]}
META = {"task": "ao2d", "targets": ["target"], "step": 0, "loss": "l1", "render": RENDER,
        "light_input": LIGHT_INPUT}  # fmt: skip


def conditioned_net(condition: int) -> torch.nn.Module:
    """A small ShadeUNet taking the mask, the light and the height, weights moved off their
    initialisation (FiLM's last layer starts at zero) so the output depends on every input."""
    torch.manual_seed(0)
    net = build("unet", in_channels=5, out_channels=3, widths=[4, 8], blocks=[0, 1],
                condition=condition)  # fmt: skip
    for p in net.parameters():
        p.data.add_(0.1 * torch.randn_like(p))
    return net.eval()


def mask() -> np.ndarray:
    m = np.zeros((24, 40), np.float32)
    m[6:18, 10:30] = 1
    return m


@pytest.mark.parametrize("condition", [0, 4])  # constant channels, FiLM
def test_the_network_gets_the_light_and_height_as_constant_channels(tmp_path, condition):
    net = conditioned_net(condition)
    info = {**META, "inputs": ["source", "light", "shape_height"], "vary": VARY}
    path = checkpoint.save(tmp_path / "light", net, info).with_suffix(".safetensors")
    model, _ = load_model(path, "cpu")
    a, e, h = 40.0, 55.0, 30.0
    out = shade_mask(model, mask(), light={"light_azimuth": a, "light_elevation": e, "height": h})
    x = torch.zeros(1, 5, 24, 40)
    x[0, 0] = torch.from_numpy(mask())
    ra, re = math.radians(a), math.radians(e)
    # the unit vector towards the light (x right, y up the screen), then the height / 24 px
    light = [math.cos(re) * math.cos(ra), math.cos(re) * math.sin(ra), math.sin(re), h / 24]
    x[0, 1:, :, :] = torch.tensor(light)[:, None, None]
    with torch.no_grad():
        expected = net(x)[0].clamp(0, 1).permute(1, 2, 0).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-5)
    # the light matters, an azimuth wraps around, and what is left out is the render's
    turned = {"light_azimuth": 220, "light_elevation": e, "height": h}
    other = shade_mask(model, mask(), light=turned)
    assert np.abs(other - out).max() > 1e-3
    wrapped = {"light_azimuth": a + 360, "light_elevation": e, "height": h}
    np.testing.assert_allclose(shade_mask(model, mask(), light=wrapped), out, atol=1e-6)
    default = {k: RENDER[k] for k in ("light_azimuth", "light_elevation", "height")}
    np.testing.assert_allclose(shade_mask(model, mask()), shade_mask(model, mask(), light=default))


@pytest.mark.parametrize(
    ("light", "message"),
    [
        ({"light_elevation": 10}, "light_elevation 10 is outside the range .* \\(20 to 70\\)"),
        ({"height": 40}, "height 40 is outside the range"),
        ({"height": float("nan")}, "height must be a finite number"),
        ({"light_azimuth": "west"}, "light_azimuth must be a number"),
    ],
)
def test_a_light_outside_the_trained_ranges_is_refused(tmp_path, light, message):
    info = {**META, "inputs": ["source", "light", "shape_height"], "vary": VARY}
    path = checkpoint.save(tmp_path / "light", conditioned_net(4), info)
    model, _ = load_model(path, "cpu")
    with pytest.raises(InputError, match=message):
        shade_mask(model, mask(), light=light)


def test_a_network_told_the_light_in_the_earlier_form_is_refused(tmp_path):
    """A checkpoint without ``light_input`` learned (cos a, sin a, sin e): it would read the
    unit vector as a different light, so it is refused, naming the fix."""
    info = {**META, "inputs": ["source", "light", "shape_height"], "vary": VARY}
    del info["light_input"]
    path = checkpoint.save(tmp_path / "old", conditioned_net(4), info).with_suffix(".safetensors")
    with pytest.raises(CheckpointError, match="train it again"):
        load_model(path, "cpu")


def test_a_fixed_light_network_refuses_another_light_and_takes_its_own(tmp_path):
    torch.manual_seed(0)
    net = build("resconv", in_channels=1, channels=4, kernel_size=3, layers=2, strides=[1, 1])
    path = checkpoint.save(tmp_path / "fixed", net, {**META, "inputs": ["source"], "vary": {}})
    model, _ = load_model(path, "cpu")
    with pytest.raises(InputError, match="knows one light azimuth, 135, not 40.*" + LIGHT_MODEL):
        shade_mask(model, mask(), light={"light_azimuth": 40})
    np.testing.assert_array_equal(
        shade_mask(model, mask(), light={"light_azimuth": 135 - 360, "height": 24}),
        shade_mask(model, mask()),
    )


def test_the_fixed_model_shades_its_own_light_and_the_light_model_any_other():
    assert choose_model(None, {}) == DEFAULT_MODEL
    assert choose_model(None, {"light_azimuth": 135.0, "light_elevation": 30.0}) == DEFAULT_MODEL
    assert choose_model(None, {"light_azimuth": 495.0}) == DEFAULT_MODEL  # 135 + 360
    assert choose_model(None, {"light_azimuth": 90.0}) == LIGHT_MODEL
    assert choose_model(None, {"height": 30.0}) == LIGHT_MODEL
    assert choose_model("mine.safetensors", {"height": 30.0}) == "mine.safetensors"


def test_tiles_take_the_longest_reach_over_the_trained_ranges():
    info = {"render": RENDER, "vary": {**VARY, "light_azimuth": [0, 360]}}
    s = RENDER["softness"]
    e, h = math.radians(20), 36  # lowest light, tallest shapes
    assert longest_reach(info) == pytest.approx(h / math.tan(e) + s * h / math.sin(e) ** 2)
    assert longest_reach({"render": RENDER}) == pytest.approx(RenderParams().reach())


def test_a_conditioned_network_is_not_compared_with_the_fixed_light_resconv():
    task = Ao2dTask()
    assert "resconv" in task.baselines_for({"inputs": ["source"]})
    assert task.baselines_for({"inputs": ["source", "light", "shape_height"]}) == ("taps",)


def test_the_command_line_shades_under_a_light_of_ones_own_and_refuses_one_out_of_range(
    tmp_path, capsys
):
    from PIL import Image

    from neuralshade.cli import main

    Image.fromarray((mask() * 255).astype(np.uint8)).save(tmp_path / "m.png")
    image = str(tmp_path / "m.png")
    assert main(["shade", image, "-o", str(tmp_path / "default"), "--quiet"]) == 0
    lit = ["--light-azimuth", "0", "--light-elevation", "60", "--height", "30"]
    assert main(["shade", image, "-o", str(tmp_path / "lit"), "--quiet", *lit]) == 0
    default = np.asarray(Image.open(tmp_path / "default" / "m.png"), np.float32)
    moved = np.asarray(Image.open(tmp_path / "lit" / "m.png"), np.float32)
    expected = shade_mask(load_model(LIGHT_MODEL, "cpu")[0], mask(), light={
        "light_azimuth": 0, "light_elevation": 60, "height": 30}, name=LIGHT_MODEL)  # fmt: skip
    assert np.abs(moved / 255 - expected).max() <= 1 / 255 + 1e-6  # the light model ran
    assert np.abs(moved - default).mean() > 1  # and not the fixed one
    capsys.readouterr()
    low = ["--light-elevation", "5"]
    assert main(["shade", str(tmp_path / "m.png"), "-o", str(tmp_path / "low"), *low]) == 2
    assert "light_elevation 5 is outside the range" in capsys.readouterr().err
    assert not (tmp_path / "low").exists()

"""ONNX export: ONNX Runtime gives torch's output at sizes other than the traced one."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxscript")
onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

import neuralshade  # noqa: E402
from neuralshade import checkpoint  # noqa: E402
from neuralshade.errors import CheckpointError, ConfigError, NeuralShadeError, OutputError  # noqa: E402
from neuralshade.export import export_onnx  # noqa: E402
from neuralshade.infer import model_path  # noqa: E402
from neuralshade.masks import random_mask  # noqa: E402
from neuralshade.models import build  # noqa: E402
from neuralshade.models.resconv import ConvLayer  # noqa: E402
from neuralshade.shading import DEFAULT_MODEL  # noqa: E402


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 3-layer ResConv with a stride-2 middle layer, saved, then exported: (model, ckpt, info)."""
    root = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    model = build("resconv", in_channels=1, channels=8, kernel_size=3, layers=3, strides=[1, 2, 1])
    # BatchNorm at its initial identity would hide a graph that drops its statistics
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    meta = {"task": "ao2d", "inputs": ["source"], "targets": ["target"], "step": 0}
    ckpt = checkpoint.save(root / "ckpt" / "small", model.eval(), meta)
    info = export_onnx(ckpt, root / "onnx" / "small.onnx")
    return model, ckpt, info


def onnx_vs_torch(onnx_path, model, shape) -> float:
    """Max abs difference between ONNX Runtime and torch on a random input of ``shape``."""
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        want = model(x).numpy()
    assert got.shape == want.shape == (shape[0], model.out_channels, *shape[2:])
    return float(np.abs(got - want).max())


@pytest.mark.parametrize(
    "shape", [(1, 1, 32, 32), (2, 1, 45, 71), (2, 1, 100, 37), (1, 1, 9, 9)], ids=str
)
def test_onnx_matches_torch_at_untraced_sizes(small, shape):
    model, _, info = small
    assert list(shape) != info["trace_shape"] and shape[-1] >= model.min_size
    assert onnx_vs_torch(info["path"], model, shape) < 1e-4


def test_unet_exports_with_its_padding_to_the_stride(tmp_path):
    # ShadeUNet pads to a multiple of its stride inside forward: the graph must keep that
    # symbolic, so that sizes that need different padding still match torch
    torch.manual_seed(0)
    model = build("unet", widths=[4, 8, 8], blocks=[0, 1, 1]).eval()
    meta = {"task": "ao2d", "inputs": ["source"], "targets": ["target"], "step": 0}
    ckpt = checkpoint.save(tmp_path / "unet", model, meta)
    info = export_onnx(ckpt, tmp_path / "unet.onnx")
    assert info["max_abs_diff"] < 1e-4
    for shape in [(1, 1, 16, 16), (2, 1, 45, 71), (1, 1, 3, 100)]:
        assert onnx_vs_torch(info["path"], model, shape) < 1e-4, shape


@pytest.mark.parametrize("dims", [2, 3])
def test_a_field_exports_with_its_hash_grid_from_a_checkpoint_of_two_networks(tmp_path, dims):
    torch.manual_seed(0)
    net = build(
        "field",
        config={
            "n_input_dims": dims,
            "encoding": {
                "otype": "HashGrid",
                "n_levels": 6,
                "log2_hashmap_size": 8,
                "base_resolution": 2,
                "max_resolution": 64,
            },
            "network": {"n_neurons": 16, "output_activation": "sigmoid"},
            "input_scale": 0.5,
            "input_offset": 0.5,
        },
    )
    with torch.no_grad():  # tables far from their tiny initial values, so lookups matter
        net.encoding.table.uniform_(-1, 1)
    shade = build("resconv", in_channels=1, channels=4, kernel_size=3, layers=2, strides=[1, 1])
    # the task names neither kind: the network itself says it takes points
    networks = {"shade": shade, "field": net}
    ckpt = checkpoint.save(tmp_path / "pair", networks, {"task": "pair", "step": 0})
    with pytest.raises(CheckpointError, match=r"several networks \(shade, field\)"):
        export_onnx(ckpt, tmp_path / "field.onnx")
    info = export_onnx(ckpt, tmp_path / "field.onnx", network="field")
    assert info["max_abs_diff"] < 1e-4 and info["trace_shape"] == [1000, dims]
    props = {p.key: p.value for p in onnx.load(info["path"]).metadata_props}
    assert props["neuralshade.network"] == "field"
    assert json.loads(props["neuralshade.model"]) == net.spec
    session = onnxruntime.InferenceSession(info["path"], providers=["CPUExecutionProvider"])
    for n in (1, 4096):
        points = torch.rand(n, dims) * 4 - 2  # inside and outside the fitted domain
        got = session.run(None, {"input": points.numpy()})[0]
        with torch.no_grad():
            want = net(points).numpy()
        assert got.shape == (n, 3) and np.abs(got - want).max() < 1e-4, n


def test_export_checks_a_size_it_did_not_trace(small):
    model, _, info = small
    assert info["opset"] >= 18 and info["max_abs_diff"] < 1e-4
    (checked,) = info["sizes_checked"]
    assert checked[0] != info["trace_shape"][0] and checked[2:] != info["trace_shape"][2:]
    # the file holds one model, no temporary left beside it
    assert [p.name for p in Path(info["path"]).parent.iterdir()] == ["small.onnx"]


def test_graph_has_named_dynamic_batch_height_width(small):
    _, _, info = small
    graph = onnx.load(info["path"]).graph

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    assert [v.name for v in graph.input] == ["input"]
    assert [v.name for v in graph.output] == ["output"]
    assert dims(graph.input[0]) == ["batch", 1, "height", "width"]
    assert dims(graph.output[0]) == ["batch", 3, "height", "width"]


def test_metadata_round_trips_the_checkpoint_sidecar(small):
    model, ckpt, info = small
    props = {p.key: p.value for p in onnx.load(info["path"]).metadata_props}
    sidecar = checkpoint.read_meta(ckpt)
    assert json.loads(props["neuralshade.model"]) == sidecar["model"] == model.spec
    assert props["neuralshade.network"] == checkpoint.DEFAULT_NETWORK
    assert props["neuralshade.task"] == "ao2d"
    assert json.loads(props["neuralshade.inputs"]) == ["source"]
    assert json.loads(props["neuralshade.targets"]) == ["target"]
    assert json.loads(props["neuralshade.step"]) == 0
    assert props["neuralshade.weights_sha256"] == sidecar["weights_sha256"]
    assert json.loads(props["neuralshade.min_size"]) == model.min_size
    assert props["neuralshade.version"] == neuralshade.__version__


@pytest.mark.parametrize("name", [DEFAULT_MODEL, "ao2d-resconv-cpu"])
def test_bundled_models_export_and_match_torch_at_untraced_sizes(tmp_path, name):
    # the default model first: it is the one a user exports without naming one
    weights = model_path(name)
    model, _ = checkpoint.load(weights)
    info = export_onnx(weights, tmp_path / "ao2d.onnx")
    assert info["max_abs_diff"] < 1e-4
    # a mask, not noise: the trained network's output has structure wherever the shapes are
    mask = torch.from_numpy(random_mask((61, 90), np.random.default_rng(3)))[None, None]
    assert [1, 1, 61, 90] != info["trace_shape"]
    assert min(mask.shape[2:]) >= getattr(model, "min_size", 1)  # ShadeUNet takes any size
    session = onnxruntime.InferenceSession(info["path"], providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": mask.numpy()})[0]
    with torch.no_grad():
        want = model(mask).numpy()
    assert got.shape == want.shape == (1, 3, 61, 90) and want.std() > 0.05
    assert np.abs(got - want).max() < 1e-4
    assert onnx_vs_torch(info["path"], model, (2, 1, 50, 77)) < 1e-4


def bumpy_room_corner(h: int, w: int) -> torch.Tensor:
    """(1, 6, h, w): camera-space position and normal (OpenGL axes) of a floor meeting a wall
    with a bump, as deep shading's inputs: a scene with corners to darken."""
    v, u = torch.meshgrid(torch.linspace(0.6, -0.6, h), torch.linspace(-0.8, 0.8, w), indexing="ij")
    ray = torch.stack([u, v, -torch.ones_like(u)])
    floor_t = -1.0 / ray[1].clamp(max=-1e-3)  # the floor y = -1
    wall_t = torch.full_like(u, 4.0)  # the wall z = -4
    t = torch.where((ray[1] < 0) & (floor_t < wall_t), floor_t, wall_t)
    position = ray * t
    position[2] += 0.2 * torch.exp(-((position[0] - 0.5) ** 2 + (position[1] + 0.5) ** 2) * 4)
    normal = torch.where(t == wall_t, torch.tensor([0.0, 0, 1]).view(3, 1, 1), 0.0)
    normal = normal + torch.where(t != wall_t, torch.tensor([0.0, 1, 0]).view(3, 1, 1), 0.0)
    return torch.cat([position, normal])[None]


@pytest.mark.parametrize("name", ["deepshade-ao-cpu", "deepshade-ao-deepshading-cpu"])
def test_bundled_deep_shading_models_export_and_match_torch(tmp_path, name):
    weights = model_path(name)
    model, info = checkpoint.load(weights)
    assert info["inputs"] == ["position_camera", "normal_camera"]
    exported = export_onnx(weights, tmp_path / "ao.onnx")
    assert exported["max_abs_diff"] < 1e-4
    props = {p.key: p.value for p in onnx.load(exported["path"]).metadata_props}
    # what a user of the file needs to run it as infer does: its pixel scale and output space
    assert json.loads(props["neuralshade.focal_pixels"]) == pytest.approx(info["focal_pixels"])
    assert props["neuralshade.loss"] == info["loss"]
    x = bumpy_room_corner(75, 101)
    assert [1, 6, 75, 101] != exported["trace_shape"]
    session = onnxruntime.InferenceSession(exported["path"], providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        want = model(x).numpy()
    # a trained AO network darkens the corner and leaves open floor light: output with structure
    assert got.shape == want.shape == (1, 1, 75, 101) and want.std() > 0.03
    assert np.abs(got - want).max() < 1e-4


def test_missing_checkpoint_raises_and_writes_nothing(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        export_onnx(tmp_path / "nope.safetensors", tmp_path / "out.onnx")
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_its_checkpoint(small):
    _, ckpt, _ = small
    with pytest.raises(OutputError, match="overwrite the input"):
        export_onnx(ckpt, ckpt)


def test_opset_below_the_exporters_raises(small, tmp_path):
    _, ckpt, _ = small
    with pytest.raises(ConfigError, match="at least 18"):
        export_onnx(ckpt, tmp_path / "out.onnx", opset=13)


def test_missing_onnxruntime_says_how_to_install(small, tmp_path, monkeypatch):
    _, ckpt, _ = small
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(NeuralShadeError, match=r"pip install 'neuralshade\[onnx\]'"):
        export_onnx(ckpt, tmp_path / "out.onnx")
    assert list(tmp_path.iterdir()) == []


def test_a_forward_that_freezes_sizes_is_refused(small, tmp_path, monkeypatch):
    _, ckpt, _ = small
    forward = ConvLayer.forward

    def frozen(self, x, output_size=None):
        if output_size is not None:
            output_size = [int(n) for n in output_size]  # Python ints: the traced size forever
        return forward(self, x, output_size)

    monkeypatch.setattr(ConvLayer, "forward", frozen)
    with pytest.raises(NeuralShadeError, match="fixes the input's height and width"):
        export_onnx(ckpt, tmp_path / "out.onnx")
    assert list(tmp_path.iterdir()) == []


def test_export_command_writes_a_checked_model(tmp_path, capsys):
    from neuralshade.cli import main

    weights = model_path("ao2d-resconv-cpu")
    assert main(["export", str(weights), "--onnx", str(tmp_path / "m.onnx")]) == 0
    assert (tmp_path / "m.onnx").is_file()
    assert "onnxruntime matches torch" in capsys.readouterr().out


def test_the_bundled_gi_model_exports_with_its_log_inputs(tmp_path):
    """deepshade-gi-cpu reads its direct light through log1p inside the graph: the ONNX file
    matches torch on HDR input (a highlight of 30) at an untraced size."""
    weights = model_path("deepshade-gi-cpu")
    model, info = checkpoint.load(weights)
    assert info["inputs"][-1] == "direct_reference" and info["loss"] == "logl1"
    exported = export_onnx(weights, tmp_path / "gi.onnx")
    assert exported["max_abs_diff"] < 1e-4
    torch.manual_seed(0)
    x = torch.rand(1, 12, 45, 70)
    x[:, 9:, 20, 30] = 30.0
    session = onnxruntime.InferenceSession(exported["path"], providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        want = model(x).numpy()
    assert got.shape == want.shape == (1, 3, 45, 70)
    assert np.abs(got - want).max() < 1e-4


def test_the_bundled_dof_model_exports_with_its_log_inputs(tmp_path):
    """deepshade-dof-cpu reads the pinhole render (HDR, through log1p) with its circle of
    confusion and depth: the ONNX file matches torch at an untraced size."""
    weights = model_path("deepshade-dof-cpu")
    model, info = checkpoint.load(weights)
    assert info["inputs"] == ["beauty_reference", "coc", "depth"]
    exported = export_onnx(weights, tmp_path / "dof.onnx")
    assert exported["max_abs_diff"] < 1e-4
    torch.manual_seed(0)
    x = torch.rand(1, 5, 37, 52)
    x[:, :3, 10, 20] = 30.0  # a highlight
    x[:, 3] *= 20  # blurs up to 20 px
    session = onnxruntime.InferenceSession(exported["path"], providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        want = model(x).numpy()
    assert np.abs(got - want).max() < 1e-4 * max(1.0, float(np.abs(want).max()))


def test_the_bundled_denoiser_exports_with_its_log_inputs(tmp_path):
    """denoise-unet-cpu reads the noisy beauty (HDR, through log1p), the albedo and the normal: the
    ONNX file matches torch at an untraced size, fireflies included."""
    weights = model_path("denoise-unet-cpu")
    model, info = checkpoint.load(weights)
    assert info["inputs"] == ["beauty", "albedo", "normal"]
    exported = export_onnx(weights, tmp_path / "denoise.onnx")
    assert exported["max_abs_diff"] < 1e-4
    torch.manual_seed(0)
    x = torch.rand(1, 9, 41, 58)
    x[:, :3] *= 4
    x[:, :3, 10, 20] = 300.0  # a firefly
    x[:, 6:] = x[:, 6:] * 2 - 1  # normals in [-1, 1]
    session = onnxruntime.InferenceSession(exported["path"], providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        want = model(x).numpy()
    assert np.abs(got - want).max() < 1e-4 * max(1.0, float(np.abs(want).max()))

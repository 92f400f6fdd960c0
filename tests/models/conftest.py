"""Measurements shared by the image networks' tests: receptive field, channels-last, ONNX."""

import copy

import numpy as np
import pytest
import torch

from neuralshade import checkpoint


@pytest.fixture
def measured_receptive_field():
    """``measure(model, size=256)``: the widest window (rows or columns) of input pixels that
    get a nonzero gradient from one output pixel, over one period of the model's stride grid.

    Exact for a network without dead units (no ReLU: its zero gradient would hide inputs).
    """

    def measure(model: torch.nn.Module, size: int = 256) -> int:
        x = torch.rand(1, model.in_channels, size, size, requires_grad=True)
        widths = []
        for offset in range(model.total_stride):  # the row and the column both go round
            x.grad = None
            model(x)[0, 0, size // 2 + offset, size // 2 + offset].backward()
            reached = x.grad[0].abs().sum(dim=0) > 0  # (size, size)
            for line in (reached.any(dim=1), reached.any(dim=0)):  # rows, columns
                where = line.nonzero()
                widths.append(int(where.max() - where.min() + 1))
        return max(widths)

    return measure


@pytest.fixture
def channels_last_difference():
    """``difference(model, x)``: the largest |output channels-last − output as built| of
    ``model`` (eval) on ``x`` (a tensor, or a tuple of inputs whose images are laid out
    channels-last), after checking that every conv kept the channels-last layout (one that
    falls back to (N, C, H, W) costs two reorders)."""

    @torch.no_grad()
    def difference(model: torch.nn.Module, x: torch.Tensor | tuple) -> float:
        inputs = x if isinstance(x, tuple) else (x,)
        torch.manual_seed(0)  # the same draws for a model that draws (GQN's prior)
        want = model(*inputs)
        last = copy.deepcopy(model).to(memory_format=torch.channels_last)
        layouts = []
        for m in last.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                m.register_forward_hook(
                    lambda m, args, out: layouts.append(
                        out.is_contiguous(memory_format=torch.channels_last)
                    )
                )
        torch.manual_seed(0)
        got = last(*(
            t.contiguous(memory_format=torch.channels_last) if t.ndim == 4 else t for t in inputs
        ))  # fmt: skip
        # a model that keeps 1×1 convolutions' weights but runs them as matrix products on
        # pixel rows (CNSR's Pixel generator) calls no conv: only its values are compared
        assert all(layouts), layouts
        if isinstance(want, tuple):  # several outputs (GQN's image and KL): the image
            got, want = got[0], want[0]
        return float((got - want).abs().max())

    return difference


@pytest.fixture
def onnx_vs_torch(tmp_path):
    """``compare(model, shapes)``: export ``model`` as ``neuralshade export`` does (from a
    checkpoint, sizes dynamic, checked once by the exporter) and return the largest
    |ONNX Runtime − torch| at each input shape. Skips without the ``onnx`` extra."""
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    from neuralshade.export import export_onnx

    def compare(model: torch.nn.Module, shapes: list[tuple[int, ...]]) -> list[float]:
        meta = {"task": "test", "inputs": ["source"], "targets": ["target"], "step": 0}
        ckpt = checkpoint.save(tmp_path / "net", model.eval(), meta)
        info = export_onnx(ckpt, tmp_path / "net.onnx")
        session = onnxruntime.InferenceSession(info["path"], providers=["CPUExecutionProvider"])
        diffs = []
        for shape in shapes:
            assert list(shape) != info["trace_shape"], "check a size the graph was not traced at"
            x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
            got = session.run(None, {"input": x.numpy()})[0]
            with torch.no_grad():
                want = model(x).numpy()
            assert got.shape == want.shape == (shape[0], model.out_channels, *shape[2:])
            diffs.append(float(np.abs(got - want).max()))
        return diffs

    return compare

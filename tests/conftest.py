"""Fixtures shared across the test suite."""

import gan_task  # noqa: F401  (registers the test-only GAN task: every-task tests run it too)
import pytest

from neuralshade.data.generate import generate, load_config


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """8 samples of 40×40 (6 train, 1 val, 1 test) with cheap shader AO: a dataset in a second."""
    root = tmp_path_factory.mktemp("tiny") / "ao2d"
    config = load_config(
        {
            "count": 8,
            "size": 40,
            "seed": 1,
            "split": {"train": 0.75, "val": 0.125, "test": 0.125},
            "render": {"ao_mode": "taps", "height": 6, "ao_radius": 6, "softness": 0},
        },
        source="ao2d",
    )
    generate(root, config, quiet=True)
    return root


@pytest.fixture
def tiny_run(tiny_dataset):
    """The values of a 2-step training run on ``tiny_dataset`` (a small ResConv, on CPU)."""
    return {
        "task": "ao2d",
        "data": str(tiny_dataset),
        "model": {"name": "resconv", "args": {"channels": 4, "layers": 2, "strides": [1, 1]}},
        "crop": 16,
        "batch_size": 2,
        "steps": 2,
        "device": "cpu",
    }


@pytest.fixture
def killed_at(monkeypatch):
    """``killed_at(step)``: from now on the trainer dies (KeyboardInterrupt) as it starts
    ``step``, as a killed process would; ``killed_at(None)`` lets it live again."""
    import neuralshade.train as train_mod

    real = train_mod.lr_at

    def kill(step):
        def lr_at(s, *args):
            if s == step:
                raise KeyboardInterrupt
            return real(s, *args)

        monkeypatch.setattr(train_mod, "lr_at", real if step is None else lr_at)

    return kill


@pytest.fixture(scope="session")
def mitsuba():
    """Mitsuba 3 under its llvm variant; the test is skipped where it cannot load."""
    from neuralshade.errors import NeuralShadeError
    from neuralshade.render.mitsuba_scene import load_mitsuba

    try:
        return load_mitsuba()
    except NeuralShadeError as exc:  # no Mitsuba or no usable LLVM on this machine
        pytest.skip(f"Mitsuba unavailable: {exc}")


"""The cnsr task: factor-group steps through the generic trainer, CNSR's losses."""

import math

import numpy as np
import pytest
import torch

from neuralshade.data.generate import generate, load_config
from neuralshade.errors import ConfigError
from neuralshade.train import load_config as train_config
from neuralshade.train import train

pytestmark = pytest.mark.mitsuba

# 8 scenes in groups of 2: 2 training groups, 1 validation, 1 test; 3 views of 16²
DATA = {"count": 8, "views": 3, "size": 16, "seed": 3, "spp": 2, "reference_spp": 4,
        "buffers": ["normal", "position", "id"], "reference_buffers": ["beauty"],
        "factor_batch": 2, "split": {"train": 0.5, "val": 0.25, "test": 0.25}}  # fmt: skip
SMALL = {
    "representation_dim": 12,
    "encoder": {"name": "cnsr-pool"},
    "partition": {"args": {"sharpening": 10, "final_sharpening": 5}},
    "generator": {"name": "cnsr-pixel", "args": {"layers": 2, "hidden_units": 16}},
}


@pytest.fixture(scope="module")
def factor_data(mitsuba, tmp_path_factory):
    root = tmp_path_factory.mktemp("cnsr") / "data"
    generate(root, load_config(DATA, source="room"), quiet=True)
    return root


def run_values(data, **over):
    return {
        "task": "cnsr", "data": str(data), "model": {"name": "cnsr", "args": SMALL},
        "batch_size": 2, "steps": 3, "loss": "logl1+logssim", "device": "cpu",
        "optimizer": {"lr": 1e-3, "weight_decay": 0.0}, "schedule": {"warmup_steps": 0},
        "options": {"views_per_scene": 3}, "val_interval": 2, "checkpoint_interval": 2,
        **over,
    }  # fmt: skip


def test_a_run_trains_validates_and_counts_its_factor_steps(factor_data, tmp_path):
    from neuralshade import checkpoint

    result = train(train_config(run_values(factor_data)), tmp_path / "run", quiet=True)
    assert set(result["val"]) == {"loss", "log_l1", "psnr", "ssim"}
    assert all(math.isfinite(v) for v in result["val"].values())
    info = checkpoint.read_meta(result["last"])
    assert info["inputs"] == ["normal", "position", "id"] and info["image_size"] == 16
    # every training step is one factor group: the partition counted each as a ruled step
    model, _ = checkpoint.load(result["last"])
    assert int(model.partition.step) == 3


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(factor_data, tmp_path, killed_at):
    from neuralshade import checkpoint

    whole = train(train_config(run_values(factor_data, steps=4)), tmp_path / "a", quiet=True)
    killed_at(3)
    with pytest.raises(KeyboardInterrupt):
        train(train_config(run_values(factor_data, steps=4)), tmp_path / "b", quiet=True)
    killed_at(None)
    again = train(train_config(run_values(factor_data, steps=4)), tmp_path / "b", resume=True,
                  quiet=True)  # fmt: skip
    a, b = (checkpoint.load(r["last"])[0].state_dict() for r in (whole, again))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_steps_are_a_pure_function_of_seed_and_step(factor_data):
    from neuralshade.data.views import FactorBatches, FactorSteps

    groups = FactorBatches(factor_data, "train", observed=("beauty",), query=("normal",), k=2,
                           mode="random")  # fmt: skip
    steps = FactorSteps(groups, 1, seed=5, k_range=(1, 2))
    first = [steps[s] for s in range(6)]
    again = FactorSteps(groups, 1, seed=5, k_range=(1, 2))
    for s in (4, 0, 5):  # any order, a fresh object: the same batches
        assert torch.equal(again[s]["observed"]["beauty"], first[s]["observed"]["beauty"])
    # each epoch (2 steps) visits both training groups once; K varies within its range
    for epoch in range(3):
        seen = {tuple(first[2 * epoch + i]["scenes"]) for i in range(2)}
        assert len(seen) == 2
    ks = {b["observed"]["beauty"].shape[1] for b in first}
    assert ks <= {1, 2} and all(b["observed"]["beauty"].shape[0] == 1 for b in first)
    # a batch is at most one group: a larger batch_size takes the whole group
    assert FactorSteps(groups, 3, seed=0, k_range=(2, 2))[0]["observed"]["beauty"].shape[0] == 2


def test_gqn_learns_under_its_elbo_with_annealed_sigma(factor_data):
    from neuralshade.losses import to_log_space
    from neuralshade.models import build
    from neuralshade.tasks.cnsr import CnsrTask, cnsr_options, queries, sigma_at
    from neuralshade.train import merge_args

    gqn = {**SMALL, "generator": {"name": "cnsr-gqn",
                                  "args": {"core_count": 2, "state_dim": 8}}}  # fmt: skip
    config = train_config(run_values(factor_data, model={"name": "cnsr", "args": gqn},
                                     options={"views_per_scene": 3, "sigma_steps": 10}))
    task = CnsrTask()
    data = task.step_data(config, 0, 1)
    torch.manual_seed(0)
    net = build("cnsr", **merge_args(task.model_args("net", config, data.data.channels), gqn))
    batch = data.train[0]
    net.partition.step.fill_(4)  # σ = 2.0 + (0.7 − 2.0)·0.4 = 1.48 (then the step counts 5)
    opts = cnsr_options(config.options)
    assert sigma_at(4, opts) == pytest.approx(1.48)
    torch.manual_seed(1)
    loss, mean = task.loss(net, batch, config, int(batch["factor"]))
    # the same draw again, by hand: −log N(log1p y; μ, σ) summed, plus the KL, over W·25
    torch.manual_seed(1)
    net.partition.step.fill_(4)
    y = queries(batch, config.targets)
    out, _, _, kl = task._run(net, batch, config, int(batch["factor"]), y)
    sigma = sigma_at(4, opts)
    z = (to_log_space(y) - out) / sigma
    nll = (0.5 * z**2 + math.log(sigma) + 0.5 * math.log(2 * math.pi)).sum(dim=(1, 2, 3))
    assert torch.allclose(loss, ((nll + kl) / (16 * 25)).mean(), rtol=1e-5)
    assert sigma_at(10, opts) == sigma_at(99, opts) == pytest.approx(0.7)


def test_config_mistakes_are_named(factor_data):
    with pytest.raises(ConfigError, match="options.query_passes"):
        train_config(run_values(factor_data, inputs=["depth"]))
    with pytest.raises(ConfigError, match="augment: false"):
        train_config(run_values(factor_data, augment=True))
    with pytest.raises(ConfigError, match="the pose is given"):
        train_config(run_values(factor_data, options={"query_passes": ["normal", "pose"]}))
    with pytest.raises(ConfigError, match="views_per_scen: Extra inputs"):
        train_config(run_values(factor_data, options={"views_per_scen": 3}))
    # query passes become the inputs
    config = train_config(run_values(factor_data, options={"query_passes": ["normal"]}))
    assert config.inputs == ["normal"]


def test_pass_scales_and_log_passes_transform_those_buffers_only(factor_data):
    from neuralshade.tasks.cnsr import CnsrTask, cnsr_options, observations

    config = train_config(run_values(factor_data))
    batch = CnsrTask().step_data(config, 0, 1).train[0]
    raw = [batch[f"observed/{n}"] for n in ("beauty", "normal", "position", "id")]
    torch.testing.assert_close(observations(batch, cnsr_options({})), torch.cat(raw, 2))
    logged = observations(batch, cnsr_options({"log_passes": ["beauty"]}))
    assert raw[0].max() > 0.5  # values where log1p and identity differ
    torch.testing.assert_close(logged[:, :, :3], torch.log(1 + raw[0].clamp(min=0)))
    torch.testing.assert_close(logged[:, :, 3:], torch.cat(raw[1:], 2))
    both = observations(batch, cnsr_options({"log_passes": ["beauty"],
                                             "pass_scales": {"beauty": 8, "id": 2}}))
    torch.testing.assert_close(both[:, :, :3], torch.log(1 + 8 * raw[0].clamp(min=0)))
    torch.testing.assert_close(both[:, :, 3:9], torch.cat(raw[1:3], 2))
    torch.testing.assert_close(both[:, :, 9:], 2 * raw[3])
    for key, value in (("log_passes", ["albedo"]), ("pass_scales", {"albedo": 2})):
        with pytest.raises(ConfigError, match=f"{key} \\['albedo'\\] are not observation_"):
            train_config(run_values(factor_data, options={key: value}))
    with pytest.raises(ConfigError, match="pass_scales \\{'beauty': 0.0\\} must be positive"):
        train_config(run_values(factor_data, options={"pass_scales": {"beauty": 0.0}}))


def test_views_per_scene_beyond_the_dataset_s_views_is_refused(factor_data, tmp_path):
    with pytest.raises(ConfigError, match="k = 3 observed views need at least k \\+ 1"):
        train(train_config(run_values(factor_data, options={"views_per_scene": 4})),
              tmp_path / "r", quiet=True)  # fmt: skip


def test_the_panels_show_views_query_network_and_reference(factor_data):
    from neuralshade.tasks.cnsr import CnsrTask

    config = train_config(run_values(factor_data))
    batch = CnsrTask().step_data(config, 0, 1).train[0]
    pred = torch.rand(2, 3, 16, 16)
    info = {"inputs": config.inputs, "targets": config.targets}
    names = [n for n, _ in CnsrTask().panels(batch, pred, info)]
    assert names == ["observed 1", "observed 2", "query normal", "network", "reference"]
    shown = dict(CnsrTask().panels(batch, pred, info))["network"]
    assert torch.allclose(shown, pred / (1 + pred)) and np.isfinite(shown.numpy()).all()


def test_a_chain_of_generators_trains_each_link_on_its_own_passes(factor_data, tmp_path):
    from neuralshade import checkpoint
    from neuralshade.tasks.cnsr import CnsrTask, cnsr_options, observations

    # the dataset holds the converged beauty only: a chain of a Pixel generator predicting it
    # and a sum link adding that to itself, fed the prediction at inference (override_sample)
    # and the true image in training; a sum has no loss
    chain = {**SMALL, "generator": None, "generators": [
        {"name": "cnsr-pixel", "args": {"layers": 1, "hidden_units": 8},
         "query_passes": ["normal", "position", "id"], "output_passes": ["beauty_reference"],
         "override_sample": True},
        {"name": "sum", "query_passes": ["beauty_reference", "beauty_reference"],
         "output_passes": ["beauty_reference"]},
    ]}  # fmt: skip
    chain.pop("generator")
    config = train_config(run_values(factor_data, model={"name": "cnsr", "args": chain}))
    assert config.inputs == ["normal", "position", "id"]
    assert config.targets == ["beauty_reference"]
    result = train(config, tmp_path / "run", quiet=True)
    assert math.isfinite(result["val"]["loss"])
    model, info = checkpoint.load(result["last"])
    batch = CnsrTask().step_data(config, 0, 1).train[0]
    pred = CnsrTask().predict({"net": model}, batch, info)
    # at inference the sum adds the generator's prediction to itself: twice its radiance
    buffers = {n: batch[f"query/{n}"] for n in info["inputs"]}
    outs = model(observations(batch, cnsr_options(info["config"]["options"])),
                 batch["observed_pose"], buffers, batch["query_pose"])[0]  # fmt: skip
    torch.testing.assert_close(pred, 2 * torch.expm1(outs[0]).clamp(min=0))

"""CNSR's networks: sizes against the original's, the factor-batch rule, the partitions'
schedule and null partition, composition, and what each generator may look at."""

import math

import pytest
import torch

from neuralshade import models
from neuralshade.errors import ConfigError
from neuralshade.models.cnsr import Partition, PoolEncoder, TowerEncoder, basket


def conv(k, cin, cout):
    return k * k * cin * cout + cout


def count(model):
    return sum(p.numel() for p in model.parameters())


def test_sizes_match_the_originals_room_networks():
    """REFERENCES.md: Pool ≈ 2.0 M parameters for 10 input channels at r = 256; the room
    preset's Pixel generator (10 layers of 512, buffers re-joined; normal, position and id in)
    ≈ 4.2 M; the U-Net ≈ 80.6 M. Also the exact layer-by-layer sums."""
    r, p, q = 256, 16, 7
    pool = models.build("cnsr-pool", in_channels=10, representation_dim=r, pose_dim=p)
    first = conv(2, 10, r) + conv(3, r, r // 2) + conv(2, r // 2, r) + conv(2, r, r)
    second = conv(3, r + p, r) + conv(3, r + p, r // 2) + conv(3, r // 2, r) + conv(1, r, r)
    expected = first + second
    assert count(pool) == expected
    assert count(pool) == pytest.approx(2.0e6, rel=0.02)
    pixel = models.build("cnsr-pixel", query_channels=q, layers=10, propagate_buffers=True)
    expected = conv(1, q + r + p, 512) + 10 * conv(1, 512 + q + r + p, 512) + conv(1, 512, 3)
    assert count(pixel) == expected
    assert count(pixel) == pytest.approx(4.2e6, rel=0.02)
    with torch.device("meta"):  # 80 M parameters: shapes only
        unet = models.build("cnsr-unet", query_channels=q)
    assert count(unet) == pytest.approx(80.6e6, rel=0.01)


def test_the_tower_keeps_a_quarter_of_the_resolution_and_pool_is_its_mean():
    torch.manual_seed(0)
    tower = TowerEncoder(in_channels=4, representation_dim=8, pose_dim=16)
    pool = PoolEncoder(in_channels=4, representation_dim=8, pose_dim=16)
    pool.load_state_dict(tower.state_dict())  # the same layers
    x, pose = torch.rand(3, 4, 16, 24), torch.randn(3, 16)
    out = tower(x, pose)
    assert out.shape == (3, 8, 4, 6)
    torch.testing.assert_close(pool(x, pose), out.mean(dim=(-2, -1), keepdim=True))
    assert not torch.allclose(tower(x, pose + 1), out)  # the camera matters
    with pytest.raises(ValueError, match="multiple of 4"):
        tower(torch.rand(1, 4, 18, 16), torch.randn(1, 16))
    with pytest.raises(ValueError, match=r"poses must be \(3, 16\)"):
        tower(x, torch.randn(3, 12))


def test_the_pyramid_doubles_32_channels_down_to_8x8_then_one_8x8_convolution():
    enc = models.build("cnsr-pyramid", in_channels=10, representation_dim=32, size=64)
    assert [c.out_channels for c in (enc.input, *enc.convs)] == [32, 64, 128]
    assert enc.out.kernel_size == (8, 8) and enc.out.stride == (8, 8)
    assert enc(torch.rand(2, 10, 64, 64), torch.randn(2, 16)).shape == (2, 32, 1, 1)
    with pytest.raises(ValueError, match="64×64"):
        enc(torch.rand(2, 10, 32, 32), torch.randn(2, 16))
    with pytest.raises(ConfigError, match="16 times a power of two"):
        models.build("cnsr-pyramid", size=48)


def test_the_pixel_generator_shades_each_pixel_from_its_own_buffers_alone():
    torch.manual_seed(0)
    gen = models.build("cnsr-pixel", query_channels=3, representation_dim=6, layers=2,
                       hidden_units=16, propagate_buffers=True, end_relu=False)  # fmt: skip
    x, pose, rep = torch.rand(1, 3, 8, 8), torch.randn(1, 16), torch.randn(1, 6, 1, 1)
    out = gen(x, pose, rep)
    moved = x.clone()
    moved[0, :, 2, 5] += 1
    changed = (gen(moved, pose, rep) - out).abs().sum(dim=1)[0] > 0
    assert changed.nonzero().tolist() == [[2, 5]]
    assert not torch.allclose(gen(x, pose, rep + 1), out)
    assert not torch.allclose(gen(x, pose + 1, rep), out)


@pytest.mark.parametrize("propagate", [(True, True, True), (False, True, False),
                                       (True, False, False), (False, False, True)])
def test_the_pixel_generator_s_per_image_bias_is_the_original_s_tiling(propagate):
    # a vector representation and the pose enter each 1×1 layer as a per-image bias instead of
    # being tiled to every pixel: the same sums, to float rounding, whatever is re-joined
    torch.manual_seed(1)
    b, r, v = propagate
    gen = models.build("cnsr-pixel", query_channels=5, representation_dim=12, layers=3,
                       hidden_units=20, propagate_buffers=b, propagate_representation=r,
                       propagate_viewpoint=v, end_relu=False).double()  # fmt: skip
    x, pose = torch.rand(3, 5, 6, 7).double(), torch.randn(3, 16).double()
    rep = torch.randn(3, 12, 1, 1).double()
    torch.testing.assert_close(gen(x, pose, rep), gen.tiled(x, pose, rep), rtol=1e-12, atol=1e-12)


def test_the_unet_generator_sees_the_representation_at_every_level_and_needs_its_multiple():
    torch.manual_seed(0)
    gen = models.build("cnsr-unet", query_channels=3, representation_dim=4, widths=[8, 16, 16])
    x, pose = torch.rand(2, 3, 16, 16), torch.randn(2, 16)
    out = gen(x, pose, torch.randn(2, 4, 1, 1))
    assert out.shape == (2, 3, 16, 16) and out.min() >= 0  # end_relu
    assert gen(x, pose, torch.randn(2, 4, 4, 4)).shape == (2, 3, 16, 16)  # a Tower's map
    assert [b[0].in_channels for b in gen.down] == [3 + 4 + 16, 8 + 4 + 16, 16 + 4 + 16]
    with pytest.raises(ValueError, match="multiple of 4"):
        gen(torch.rand(1, 3, 18, 16), torch.randn(1, 16), torch.randn(1, 4, 1, 1))


def sharp(**kw):
    """A partition whose sigmoids are as steep as hard edges."""
    args = dict(start_sigmoid=1e5, end_sigmoid=1e5, sharpen_sigmoid=1e5)
    return Partition(**{**args, **kw})


def rule(views, inside):
    """The factor-batch rule, written out: the dimensions in ``inside`` keep each scene's mean
    over its views, the others take the batch mean."""
    own, batch = views.mean(dim=1), views.mean(dim=(0, 1))
    return torch.where(inside.view(1, -1, 1, 1), own, batch.expand_as(own))


@pytest.mark.parametrize("factor", [0, 1, 2])
def test_a_factor_batch_keeps_the_varied_partition_and_averages_the_rest(factor):
    torch.manual_seed(0)
    views = torch.randn(4, 3, 20, 1, 1)  # B scenes, K views, r = 20
    fixed = Partition(representation_dim=20, adaptive_separation=False)
    third = torch.arange(20) // 6  # 20 // 3 = 6: 0-5, 6-11, 12-19
    inside = torch.where(third > 2, 2, third) == factor
    rep, loss = fixed(views, factor)
    torch.testing.assert_close(rep, rule(views, inside))
    assert float(loss) == 0
    learned = sharp(representation_dim=20)
    with torch.no_grad():  # shares 0.2, 0.3, 0.5: split points 0.2 and 0.5
        learned.deltas.copy_(torch.log(torch.tensor([0.2, 0.3, 0.5])))
    centres = (torch.arange(20) + 0.5) / 20
    ends = [0.0, 0.2, 0.5, 1.0]
    inside = (centres > ends[factor]) & (centres < ends[factor + 1])
    rep, _ = learned(views, factor)
    torch.testing.assert_close(rep, rule(views, inside), atol=1e-6, rtol=0)


def test_without_a_factor_the_views_are_averaged_or_maxed():
    views = torch.randn(2, 3, 9, 2, 2)
    rep, _ = Partition(representation_dim=9)(views, None)
    torch.testing.assert_close(rep, views.mean(dim=1))
    rep, _ = Partition(representation_dim=9, aggregation="max")(views, None)
    torch.testing.assert_close(rep, views.max(dim=1).values)
    off = Partition(representation_dim=9, latent_separation=False)
    torch.testing.assert_close(off(views, 1)[0], views.mean(dim=1))  # no rule without partitions


def test_the_steepness_follows_the_originals_two_phase_schedule():
    p = Partition(start_sigmoid=5, end_sigmoid=100, sharpen_sigmoid=10_000,
                  sharpening=500_000, final_sharpening=100_000)  # fmt: skip
    assert p.steepness(0) == 5
    assert p.steepness(250_000) == pytest.approx(52.5)
    assert p.steepness(500_000) == pytest.approx(100)
    assert p.steepness(550_000) == pytest.approx(100 + 9900 / 2)
    assert p.steepness(10**7) == 10_000
    views = torch.randn(2, 2, 256, 1, 1)
    p.eval()
    p(views, 0)
    assert int(p.step) == 0  # evaluation does not advance it
    p.train()
    p(views, 0), p(views, None), p(views, 2)
    assert int(p.step) == 2  # each training batch that varies a factor does
    again = Partition()
    again.load_state_dict(p.state_dict())  # a checkpoint carries on where it stopped
    assert int(again.step) == 2


def test_the_null_partition_zeroes_its_tail_and_its_loss_rewards_growing_it():
    p = sharp(representation_dim=40, empty_partition=True, partition_loss=0.01)
    with torch.no_grad():  # shares 0.25 each: the last quarter is null
        p.deltas.zero_()
    views = torch.rand(3, 2, 40, 1, 1) + 0.5
    rep, loss = p(views, None)
    assert (rep[:, 30:] == 0).all() and (rep[:, :30] > 0).all()
    assert loss.item() == pytest.approx(0.01 * 40 / 256 * 0.75)
    loss.backward()
    assert p.deltas.grad[3] < 0  # descending grows the null share
    with pytest.raises(ValueError, match="adaptive_separation"):
        Partition(empty_partition=True, adaptive_separation=False)


def test_swapping_a_partition_takes_exactly_its_dimensions_from_the_other_scene():
    p = Partition(representation_dim=12, adaptive_separation=False)
    a, b = torch.zeros(1, 12, 1, 1), torch.ones(1, 12, 1, 1)
    for factor in range(3):
        mixed = p.swap(a, b, factor).flatten()
        assert mixed.tolist() == [float(i // 4 == factor) for i in range(12)]


def test_gradient_reg_turns_the_gradients_outside_the_varied_partition_towards_the_mean():
    torch.manual_seed(0)
    p = Partition(representation_dim=12, adaptive_separation=False, gradient_reg=0.5)
    views = torch.randn(3, 2, 12, 1, 1, requires_grad=True)
    rep, _ = p(views, 1)
    rep.retain_grad()
    w = torch.randn_like(rep)
    (rep * w).sum().backward()
    outside = torch.ones(12, dtype=torch.bool)
    outside[4:8] = False
    expected = w.clone()
    mean = w.mean(dim=0, keepdim=True)
    expected[:, outside] = 0.5 * (mean - w)[:, outside] + 0.5 * w[:, outside]
    torch.testing.assert_close(rep.grad, expected)
    # at 1 the encoder learns nothing through those dimensions from this batch
    views.grad = None
    p.gradient_reg = 1.0
    rep, _ = p(views, 1)
    (rep * w).sum().backward()
    assert views.grad[:, :, outside].abs().max() < 1e-6
    assert views.grad[:, :, ~outside].abs().min() > 0


def test_basket_is_zero_inside_its_interval_and_one_outside_even_at_the_ends():
    x = (torch.arange(10) + 0.5) / 10
    m = basket(x, 0.0, 0.3, 1e4)
    assert m.round().tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1, 1]
    m = basket(x, 0.7, 1.0, 1e4)
    assert m.round().tolist() == [1, 1, 1, 1, 1, 1, 1, 0, 0, 0]
    assert math.isclose(float(basket(torch.tensor([0.5]), 0.2, 0.8, 0.0)), 1.0)  # flat: 1·1·1


def test_the_gqn_generators_cores_have_the_originals_parameter_counts():
    """Per core the original has one 5×5 convolution per gate on [h, x] (LSTM: forget, input,
    output, state; GRU: reset, update, state); ours fuses the gates, not the parameters."""
    q, r, p, z, h, out, cores = 7, 256, 16, 3, 128, 3, 12
    for cell, gates in (("LSTM", 4), ("GRU", 3)):
        gen = models.build("cnsr-gqn", query_channels=q, cell_type=cell)
        inference = cores * gates * conv(5, p + r + out + h + h, h)
        generator = cores * gates * conv(5, p + r + z + q + h, h)
        heads = 2 * conv(5, h, 2 * z) + conv(1, h, out)
        scaling = 4 * 4 * q * q + 4 * 4 * h * h  # no biases; the upsampling shared
        assert count(gen) == inference + generator + heads + scaling, cell
    shared = models.build("cnsr-gqn", weight_sharing=True, upscale_sharing=False, core_count=3)
    assert len(shared.inference) == len(shared.generator) == 1 and len(shared.upsample) == 3


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_the_gqn_generator_reads_the_target_in_training_and_draws_from_its_prior_otherwise(cell):
    torch.manual_seed(0)
    gen = models.build("cnsr-gqn", query_channels=3, representation_dim=8, cell_type=cell,
                       state_dim=8, core_count=3)  # fmt: skip
    x, pose, rep = torch.rand(2, 3, 16, 16), torch.randn(2, 16), torch.randn(2, 8, 1, 1)
    target = torch.rand(2, 3, 16, 16) * 4  # linear HDR radiance
    torch.manual_seed(1)
    y, kl = gen(x, pose, rep, target)
    assert y.shape == (2, 3, 16, 16) and kl.shape == (2,) and (kl > 0).all()
    torch.manual_seed(1)
    other, _ = gen(x, pose, rep, target * 0.1)
    assert not torch.allclose(y, other)  # the posterior saw the target
    torch.manual_seed(2)
    a, kl = gen(x, pose, rep)
    torch.manual_seed(2)
    b, _ = gen(x, pose, rep)
    torch.testing.assert_close(a, b)  # the prior's draws follow the seed
    assert (kl == 0).all()
    with pytest.raises(ValueError, match="multiple of 4"):
        gen(torch.rand(1, 3, 18, 16), torch.randn(1, 16), torch.randn(1, 8, 1, 1))


@pytest.mark.parametrize(
    "generator", [{"name": "cnsr-pixel", "args": {"layers": 2, "hidden_units": 8}},
                  {"name": "cnsr-gqn", "args": {"state_dim": 4, "core_count": 2}}],
)  # fmt: skip
def test_the_whole_model_is_its_parts_in_a_chain(generator):
    """encoder on every view → partition over each scene's views → generator on the query."""
    torch.manual_seed(0)
    r = 8
    model = models.build("cnsr", encoder={"name": "cnsr-pool",
                                          "args": {"in_channels": 4, "representation_dim": r}},
                         partition={"args": {"representation_dim": r}},
                         generator={**generator, "args": {**generator["args"], "query_channels": 3,
                                                         "representation_dim": r}})  # fmt: skip
    observed, poses = torch.rand(2, 3, 4, 16, 16), torch.randn(2, 3, 16)
    query, query_pose = torch.rand(2, 3, 16, 16), torch.randn(2, 16)
    target = torch.rand(2, 3, 16, 16)
    torch.manual_seed(1)
    out, rep, loss, kl = model(observed, poses, query, query_pose, factor=1, target=target)
    views = model.encoder(observed.flatten(0, 1), poses.flatten(0, 1)).unflatten(0, (2, 3))
    model.partition.step -= 1  # the chain's call advanced the schedule; replay that step
    expected_rep, expected_loss = model.partition(views, 1)
    torch.testing.assert_close(rep, expected_rep)
    assert float(loss) == float(expected_loss) == 0
    torch.manual_seed(1)
    if generator["name"] == "cnsr-gqn":
        expected, expected_kl = model.generator(query, query_pose, rep, target)
        torch.testing.assert_close(kl, expected_kl)
        assert (kl > 0).all()
    else:
        expected = model.generator(query, query_pose, rep)
        assert (kl == 0).all()
    torch.testing.assert_close(out, expected)
    assert model.spec["args"]["generator"]["args"]["query_channels"] == 3  # whole specs


def test_the_whole_model_refuses_parts_that_do_not_fit():
    with pytest.raises(ConfigError, match="representation_dim differs"):
        models.build("cnsr", partition={"args": {"representation_dim": 64}})
    with pytest.raises(ConfigError, match="encoder must be one of"):
        models.build("cnsr", encoder={"name": "cnsr-pixel"})
    with pytest.raises(ConfigError, match="pose_dim differs"):
        models.build("cnsr", generator={"name": "cnsr-pixel", "args": {"pose_dim": 12}})


# ---- chains of generators (the original's generators list) ---------------------------------

CHANNELS = {"normal": 3, "position": 3, "id": 1, "direct": 3, "indirect": 3, "beauty": 3}
PIXEL = {"layers": 1, "hidden_units": 8}


def chain_model(links, r=6):
    torch.manual_seed(0)
    return models.build("cnsr", representation_dim=r, generators=links, pass_channels=CHANNELS,
                        encoder={"args": {"in_channels": 4}})  # fmt: skip


def chain_inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    observed, poses = torch.rand(2, 3, 4, 8, 8, generator=g), torch.randn(2, 3, 16, generator=g)
    buffers = {p: torch.rand(2, c, 8, 8, generator=g) for p, c in CHANNELS.items()}
    return observed, poses, buffers, torch.randn(2, 16, generator=g)


def test_a_sum_link_adds_what_the_links_before_it_predicted_or_were_given():
    links = [
        {"name": "cnsr-pixel", "args": PIXEL, "query_passes": ["normal", "position", "id"],
         "output_passes": ["direct"], "override_sample": True},
        {"name": "cnsr-pixel", "args": PIXEL, "query_passes": ["normal", "position", "id"],
         "output_passes": ["indirect"], "override_sample": True},
        {"name": "sum", "query_passes": ["direct", "indirect"], "output_passes": ["beauty"]},
    ]  # fmt: skip
    model = chain_model(links)
    observed, poses, buffers, pose = chain_inputs()
    # in training (no override_train) the sum reads the given buffers: teacher forcing
    outs, *_ = model(observed, poses, buffers, pose)
    torch.testing.assert_close(outs[2], buffers["direct"] + buffers["indirect"])
    # at inference (override_sample) it adds the two generators' radiance, expm1 of their log1p
    model.eval()
    outs, *_ = model(observed, poses, buffers, pose)
    torch.testing.assert_close(outs[2], torch.expm1(outs[0]) + torch.expm1(outs[1]))
    assert [len(o[0]) for o in outs] == [3, 3, 3]


def test_a_copy_link_runs_an_earlier_generator_s_weights_and_the_spec_rebuilds_the_chain():
    links = [
        {"name": "cnsr-pixel", "args": PIXEL, "query_passes": ["normal"],
         "output_passes": ["direct"]},
        {"name": "copy", "index": 0, "query_passes": ["position"], "output_passes": ["indirect"]},
    ]  # fmt: skip
    model = chain_model(links).eval()
    observed, poses, buffers, pose = chain_inputs()
    outs, rep, _, _ = model(observed, poses, buffers, pose)
    # the copy is generator 0 on its own passes; its weights are stored once
    torch.testing.assert_close(outs[1], model.chain[0](buffers["position"], pose, rep))
    assert len(model.chain) == 1
    again = models.build("cnsr", **model.spec["args"])
    again.load_state_dict(model.state_dict())
    torch.testing.assert_close(again.eval()(observed, poses, buffers, pose)[0][1], outs[1])


def test_override_train_feeds_the_prediction_on_and_detach_stops_its_gradient():
    def links(detach):
        return [
            {"name": "cnsr-pixel", "args": {**PIXEL, "end_relu": False},
             "query_passes": ["normal"], "output_passes": ["direct"], "override_train": True,
             "detach": detach},
            {"name": "cnsr-pixel", "args": {**PIXEL, "end_relu": False},
             "query_passes": ["direct"], "output_passes": ["beauty"]},
        ]  # fmt: skip

    observed, poses, buffers, pose = chain_inputs()
    for detach in (False, True):
        model = chain_model(links(detach))
        outs, rep, _, _ = model(observed, poses, buffers, pose)
        fed = torch.expm1(outs[0]).clamp(min=0)
        torch.testing.assert_close(outs[1], model.chain[1](fed, pose, rep))  # not the given
        outs[1].sum().backward()
        grads = [p.grad for p in model.chain[0].parameters()]
        assert all(g is None or not g.any() for g in grads) == detach


def test_a_chain_that_does_not_fit_is_refused():
    base = {"query_passes": ["normal"], "output_passes": ["direct"]}
    with pytest.raises(ConfigError, match="sum adds 2 or more"):
        chain_model([{"name": "sum", "query_passes": ["normal", "id"],
                      "output_passes": ["beauty"]}])  # fmt: skip
    with pytest.raises(ConfigError, match="copy needs the index of an earlier"):
        chain_model([{"name": "copy", "index": 0, **base}])
    with pytest.raises(ConfigError, match="unknown keys \\['overide_train'\\]"):
        chain_model([{**base, "overide_train": True}])
    with pytest.raises(ConfigError, match="missing: \\['albedo'\\]"):
        chain_model([{**base, "query_passes": ["albedo"]}])
    with pytest.raises(ConfigError, match="generator or generators"):
        models.build("cnsr", generator={}, generators=[base], pass_channels=CHANNELS)

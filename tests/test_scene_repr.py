"""neuralshade.scene_repr: a CNSR model's representation, views, compositions, attributions."""

import pytest
import torch

from neuralshade import models, scene_repr
from neuralshade.tasks.cnsr import CnsrTask

INFO = {"inputs": ["normal", "position", "id"], "targets": ["beauty_reference"],
        "config": {"options": {"observation_passes": ["beauty", "normal"]}}}  # fmt: skip


def model_and_batch(partition=None):
    torch.manual_seed(0)
    model = models.build(
        "cnsr", representation_dim=12, encoder={"args": {"in_channels": 6}},
        partition={"args": partition or {}},
        generator={"args": {"query_channels": 7, "layers": 2, "hidden_units": 16,
                            "end_relu": False}},
    ).eval()  # fmt: skip
    g = torch.Generator().manual_seed(1)
    b, k, s = 2, 3, 8
    batch = {"observed/beauty": torch.rand(b, k, 3, s, s, generator=g),
             "observed/normal": torch.rand(b, k, 3, s, s, generator=g),
             "observed_pose": torch.randn(b, k, 16, generator=g),
             "query/normal": torch.rand(b, 3, s, s, generator=g),
             "query/position": torch.rand(b, 3, s, s, generator=g),
             "query/id": torch.rand(b, 1, s, s, generator=g),
             "query/beauty_reference": torch.rand(b, 3, s, s, generator=g),
             "query_pose": torch.randn(b, 16, generator=g)}  # fmt: skip
    return model, batch


def test_predict_is_the_task_s_prediction_and_shade_takes_any_representation():
    model, batch = model_and_batch()
    with torch.no_grad():
        ours = scene_repr.predict(model, batch, INFO)
        task = CnsrTask().predict({"net": model}, batch, INFO)
        torch.testing.assert_close(ours, task)
        rep = scene_repr.representation(model, batch, INFO)
        swapped = model.partition.swap(rep, rep.flip(0), 0)
        other = scene_repr.shade(model, batch, swapped, INFO)
    assert not torch.allclose(other, ours)  # the lighting partition matters


def test_a_mixed_room_takes_exactly_one_factor_from_the_other():
    from neuralshade.scenes.room import drawn_room

    a, b = drawn_room(0, 1, 2), drawn_room(0, 2, 2)
    for factor, field in scene_repr.SCENE_FIELDS.items():
        m = scene_repr.mixed(a, b, factor)
        for other in ("lights", "shapes", "materials", "cameras"):
            assert getattr(m, other) == getattr(b if other == field else a, other), other
    with pytest.raises(ValueError, match="factor must be one of"):
        scene_repr.mixed(a, b, "camera")


def test_partition_maps_are_gradient_times_input_over_each_partition_s_dimensions():
    # fixed thirds: dimensions 0-3 lighting, 4-7 geometry, 8-11 material
    model, batch = model_and_batch({"adaptive_separation": False})
    maps = scene_repr.partition_attributions(model, batch, INFO)
    assert maps.shape == (2, 3, 8, 8) and (maps >= 0).all()
    # pixel (5, 2) of scene 1, by hand: ∂(its log1p colours summed)/∂r · r
    with torch.no_grad():
        rep = scene_repr.representation(model, batch, INFO)[1:2]
    rep = rep.clone().requires_grad_(True)
    query = torch.cat([batch[f"query/{n}"][1:2] for n in INFO["inputs"]], 1)
    model.generator(query, batch["query_pose"][1:2], rep)[0, :, 5, 2].sum().backward()
    per_dim = (rep.grad * rep).abs().flatten()
    expected = torch.stack([per_dim[0:4].sum(), per_dim[4:8].sum(), per_dim[8:12].sum()])
    torch.testing.assert_close(maps[1, :, 5, 2], expected.detach())


def test_a_patch_s_query_attributions_stay_in_the_patch_for_the_pixel_generator():
    model, batch = model_and_batch()
    maps = scene_repr.buffer_attributions(model, batch, INFO, (2, 3, 2, 2))
    assert set(maps) == {"query normal", "query position", "query id", "observed beauty",
                         "observed normal"}  # fmt: skip
    inside = torch.zeros(8, 8, dtype=torch.bool)
    inside[2:4, 3:5] = True
    for name in ("query normal", "query position"):
        assert maps[name].shape == (2, 8, 8)
        assert (maps[name][:, ~inside] == 0).all() and (maps[name][:, inside] > 0).any()
    # the observed views reach the patch through the pooled representation: everywhere
    assert maps["observed beauty"].shape == (2, 3, 8, 8)
    assert (maps["observed beauty"] > 0).float().mean() > 0.5

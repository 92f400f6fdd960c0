"""Input encodings: the hash grid against a plain per-point version, formulas, config errors."""

import itertools
import math

import pytest
import torch

from neuralshade.errors import ConfigError, InputError
from neuralshade.fields import encodings
from neuralshade.fields.encodings import build_encoding, encoding_names, register_encoding

# --- a plain hash grid, one point, level and corner at a time, from the paper's formulas with
# tiny-cuda-nn's conventions (scale N_min·b^l − 1, +0.5 offset, uint32 arithmetic)

PRIMES = (1, 2654435761, 805459861)
U32 = 0xFFFFFFFF


def reference_levels(n_dims, n_levels, log2_t, n_min, b):
    """(scale, resolution, table size, first row, dense) per level, in Python arithmetic."""
    levels, offset = [], 0
    for level in range(n_levels):
        scale = n_min * b**level - 1
        resolution = math.ceil(scale) + 1
        n_vertices = resolution**n_dims
        size = min(8 * math.ceil(n_vertices / 8), 2**log2_t)
        levels.append((scale, resolution, size, offset, n_vertices <= size))
        offset += size
    return levels


def reference_index(vertex, resolution, size, dense):
    """Row of an integer vertex (Python ints, any sign) within its level."""
    vertex = [v & U32 for v in vertex]  # as uint32, like tcnn's (uint32_t)(int)
    if dense:
        linear = sum(v * resolution**i for i, v in enumerate(vertex)) & U32
        return linear % size
    hashed = 0
    for v, prime in zip(vertex, PRIMES, strict=False):
        hashed ^= (v * prime) & U32
    return hashed % size


def reference_encode(points, table, levels):
    """points (M, d), table (rows, F) -> (M, L·F), differentiable, one scalar at a time."""
    rows = []
    for point in points:
        features = []
        for scale, resolution, size, offset, dense in levels:
            pos = [
                point[i] * torch.tensor(scale, dtype=torch.float32) + 0.5 for i in range(len(point))
            ]
            vertex = [math.floor(p.item()) for p in pos]
            frac = [p - v for p, v in zip(pos, vertex, strict=True)]
            value = torch.zeros(table.shape[1])
            for corner in itertools.product((0, 1), repeat=len(point)):
                weight = torch.tensor(1.0)
                for f, c in zip(frac, corner, strict=True):
                    weight = weight * (f if c else 1 - f)
                index = reference_index(
                    [v + c for v, c in zip(vertex, corner, strict=True)], resolution, size, dense
                )
                value = value + weight * table[offset + index]
            features.append(value)
        rows.append(torch.cat(features))
    return torch.stack(rows)


GRIDS = {
    # dims: (n_levels, log2_hashmap_size, base_resolution, per_level_scale); each has dense levels
    # with padded tables (rows rounded up to 8) and hashed levels
    1: (6, 3, 3, 1.37),
    2: (6, 6, 3, 1.37),
    3: (6, 9, 3, 1.37),
}


def make_grid(n_dims, n_features=2):
    n_levels, log2_t, n_min, b = GRIDS[n_dims]
    config = {
        "otype": "HashGrid",
        "n_levels": n_levels,
        "n_features_per_level": n_features,
        "log2_hashmap_size": log2_t,
        "base_resolution": n_min,
        "per_level_scale": b,
    }
    return build_encoding(config, n_dims), reference_levels(n_dims, n_levels, log2_t, n_min, b)


@pytest.mark.parametrize("n_dims", [1, 2, 3])
def test_hash_grid_matches_plain_per_point_version_in_values_and_gradients(n_dims):
    grid, levels = make_grid(n_dims)
    dense = [level[4] for level in levels]
    assert any(dense) and not all(dense), "the grid must have dense and hashed levels"
    assert [(lv.resolution, lv.table_size, lv.offset, lv.dense) for lv in grid.levels] == [
        level[1:] for level in levels
    ]
    generator = torch.Generator().manual_seed(n_dims)
    with torch.no_grad():  # features of order 1, so that a wrong entry cannot hide
        grid.table.uniform_(-1.0, 1.0, generator=generator)
    # inside and outside [0, 1]^d, with the edges (x = 1 reads one past the last vertex)
    points = torch.rand(28, n_dims, generator=generator) * 1.6 - 0.3
    points[0], points[1], points[2, 0] = 0.0, 1.0, -2.7
    points.requires_grad_(True)
    table = grid.table.detach().clone().requires_grad_(True)
    points_ref = points.detach().clone().requires_grad_(True)

    out = grid(points)
    expected = reference_encode(points_ref, table, levels)
    assert out.shape == (28, grid.n_output_dims) == (28, 6 * 2)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)

    weights = torch.randn(out.shape, generator=generator)
    (out * weights).sum().backward()
    (expected * weights).sum().backward()
    torch.testing.assert_close(grid.table.grad, table.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(points.grad, points_ref.grad, rtol=1e-4, atol=1e-4)
    assert points.grad.abs().max() > 1.0  # the input gradient is real, not vanishing


def test_levels_follow_tcnns_scale_resolution_and_table_size_formulas():
    grid, levels = make_grid(3)
    for level, (scale, resolution, size, offset, dense) in zip(grid.levels, levels, strict=True):
        assert level.scale == pytest.approx(scale, rel=1e-6)
        assert (level.resolution, level.table_size, level.offset, level.dense) == (
            resolution,
            size,
            offset,
            dense,
        )
    assert grid.table.shape == (levels[-1][3] + levels[-1][2], 2)


def test_max_resolution_gives_papers_per_level_scale_and_ends_at_max_resolution():
    config = {"otype": "HashGrid", "n_levels": 16, "log2_hashmap_size": 10, "max_resolution": 256}
    grid = build_encoding(config, 2)
    b = grid.per_level_scale
    assert b == pytest.approx(math.exp((math.log(256) - math.log(16)) / 15))
    assert [level.resolution for level in grid.levels][:2] == [16, math.ceil(16 * b)]
    assert grid.levels[-1].resolution == 256
    # the image-fitting post's config: 4 dense levels of 16², 20², 24², 28², then 12 of T
    assert grid.table.shape == (16**2 + 20**2 + 24**2 + 28**2 + 12 * 1024, 2)


def test_resolution_is_computed_in_float32_as_tcnn_does():
    config = {"otype": "HashGrid", "n_levels": 16, "base_resolution": 16, "max_resolution": 2048}
    grid = build_encoding(config, 2)
    b = math.exp((math.log(2048) - math.log(16)) / 15)
    assert math.ceil(16 * b**15 - 1) + 1 == 2049  # in float64: 16·b^15 − 1 = 2047.000…03
    assert grid.levels[-1].resolution == 2048  # tcnn's float32 grid_scale says 2048


def test_hash_grid_output_dims_and_initial_table_range():
    config = {"otype": "HashGrid", "n_levels": 5, "n_features_per_level": 4, "base_resolution": 8}
    grid = build_encoding(config, 3)
    assert grid.n_output_dims == 20
    assert grid(torch.rand(7, 3)).shape == (7, 20)
    table = grid.table.detach()
    assert table.abs().max() <= 1e-4
    assert table.abs().max() > 0.99e-4 and abs(table.mean()) < 1e-5
    assert grid.table_parameters() == [grid.table]


def test_points_far_outside_the_unit_cube_give_finite_features_and_gradients():
    grid, _ = make_grid(2)
    points = torch.tensor(
        [[1e6, -1e6], [-3.5, 7.25], [1e30, -1e30], [-0.0, 1.0]], requires_grad=True
    )
    out = grid(points)
    assert out.shape == (4, grid.n_output_dims) and torch.isfinite(out).all()
    out.sum().backward()
    assert torch.isfinite(points.grad).all() and torch.isfinite(grid.table.grad).all()
    # a NaN coordinate gives NaN features, not an error or a read outside the table
    nan_out = grid(torch.tensor([[float("nan"), 0.5], [0.25, 0.5]]))
    assert nan_out[0].isnan().all() and torch.isfinite(nan_out[1]).all()


def test_frequency_encoding_values_follow_the_formula_in_tcnns_order():
    x = torch.tensor([[0.3, -0.7], [1.2, 0.05]])
    for include_input in (False, True):
        enc = build_encoding(
            {"otype": "Frequency", "n_frequencies": 3, "include_input": include_input}, 2
        )
        expected = []
        for point in x.tolist():
            row = list(point) if include_input else []
            for value in point:
                for k in range(3):
                    row += [math.sin(2**k * math.pi * value), math.cos(2**k * math.pi * value)]
            expected.append(row)
        assert enc.n_output_dims == 2 * (6 + include_input)
        torch.testing.assert_close(enc(x), torch.tensor(expected), rtol=1e-5, atol=1e-5)


def test_identity_passes_points_through():
    enc = build_encoding({"otype": "Identity"}, 3)
    x = torch.rand(4, 3)
    assert enc.n_output_dims == 3 and torch.equal(enc(x), x)


@pytest.mark.parametrize("otype", encoding_names())
def test_every_encoding_rebuilds_from_its_config_and_is_differentiable(otype):
    overrides = {"log2_hashmap_size": 8} if otype == "HashGrid" else {}
    enc = build_encoding({"otype": otype, **overrides}, 2)
    assert enc.config["otype"] == otype
    again = build_encoding(enc.config, 2)
    assert again.config == enc.config and again.n_output_dims == enc.n_output_dims
    x = torch.rand(5, 2, requires_grad=True)
    out = enc(x)
    assert out.shape == (5, enc.n_output_dims) and out.dtype == torch.float32
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert torch.isfinite(grad).all()


def test_points_of_the_wrong_shape_are_an_input_error_with_both_shapes():
    enc = build_encoding({"otype": "HashGrid", "log2_hashmap_size": 8}, 2)
    with pytest.raises(InputError, match=r"\(N, 2\), got \(4, 3\)"):
        enc(torch.rand(4, 3))


def test_unknown_or_missing_otype_is_a_config_error_listing_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown encoding otype 'Hashgrid'.*HashGrid"):
        build_encoding({"otype": "Hashgrid"}, 2)
    with pytest.raises(ConfigError, match=r"no 'otype'.*Frequency, HashGrid, Identity"):
        build_encoding({"n_levels": 4}, 2)


def test_unknown_key_is_a_config_error_naming_it_and_the_known_keys():
    with pytest.raises(ConfigError, match=r"'HashGrid' has no key 'n_level'.*n_levels"):
        build_encoding({"otype": "HashGrid", "n_level": 4}, 2)


@pytest.mark.parametrize(
    "config, name",
    [
        ({"otype": "HashGrid", "n_levels": 0}, "n_levels"),
        ({"otype": "HashGrid", "log2_hashmap_size": 40}, "log2_hashmap_size"),
        ({"otype": "HashGrid", "per_level_scale": 0.5}, "per_level_scale"),
        ({"otype": "HashGrid", "per_level_scale": 1.5, "max_resolution": 64}, "not both"),
        ({"otype": "HashGrid", "base_resolution": 32, "max_resolution": 16}, "max_resolution"),
        ({"otype": "Frequency", "n_frequencies": 0}, "n_frequencies"),
        ({"otype": "Frequency", "include_input": "sometimes"}, "include_input"),
    ],
)
def test_invalid_value_is_a_config_error_naming_it(config, name):
    with pytest.raises(ConfigError, match=rf"{config['otype']} encoding.*{name}"):
        build_encoding(config, 2)


def test_hash_grid_refuses_more_dims_than_it_has_hash_factors():
    with pytest.raises(ConfigError, match="at most 7 input dims"):
        build_encoding({"otype": "HashGrid"}, 8)


def test_registering_an_otype_twice_raises_and_keeps_the_first(monkeypatch):
    monkeypatch.setattr(encodings, "_REGISTRY", dict(encodings._REGISTRY))
    with pytest.raises(ValueError, match="'HashGrid' is already registered to HashGrid"):
        register_encoding("HashGrid")(encodings.Identity)
    kept = build_encoding({"otype": "HashGrid", "log2_hashmap_size": 8}, 2)
    assert isinstance(kept, encodings.HashGrid)

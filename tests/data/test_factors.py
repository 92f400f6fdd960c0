"""Factor-varied sets: samples that differ in exactly one factor, for every registered source."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuralshade.data.generate import render_sample
from neuralshade.data.sources import SOURCES, get_source
from neuralshade.errors import ConfigError

CASES = [(name, factor) for name in SOURCES.names()
         for factor in get_source(name).factor_names(get_source(name).toy_config())]  # fmt: skip


def test_every_source_can_vary_several_factors():
    for name in SOURCES.names():
        source = get_source(name)
        assert len(source.factor_names(source.toy_config())) >= 2, name


@pytest.mark.parametrize(("name", "factor"), CASES)
@settings(max_examples=20, deadline=None)
@given(index=st.integers(0, 7), count=st.integers(2, 5))
def test_a_factor_varied_set_varies_exactly_that_factor(name, factor, index, count):
    source = get_source(name)
    config = source.toy_config()
    sets = source.vary(config, index, factor, count)
    base = source.factors(config, index)
    assert len(sets) == count and sets[0] == base
    for factors in sets[1:]:
        assert factors.keys() == base.keys()
        assert [k for k in base if factors[k] != base[k]] == [factor]
    values = [repr(f[factor]) for f in sets]
    assert len(set(values)) == count  # each member is a new draw
    assert source.vary(config, index, factor, count) == sets  # seeded: the same set again


def test_the_sample_itself_renders_from_its_factors():
    for name in SOURCES.names():
        source = get_source(name)
        config = source.toy_config()
        direct = render_sample(config, 3)
        again = source.render(config, source.factors(config, 3), "cpu")
        assert direct.keys() == again.keys()
        assert all(np.array_equal(direct[k], again[k]) for k in direct)


def test_ao2d_a_varied_light_keeps_the_mask_and_a_varied_mask_keeps_the_light():
    source = get_source("ao2d")
    config = source.toy_config()
    light = [source.render(config, f, "cpu") for f in source.vary(config, 2, "light_azimuth", 2)]
    np.testing.assert_array_equal(light[0]["source"], light[1]["source"])
    assert np.abs(light[0]["target"].astype(int) - light[1]["target"]).max() > 10
    masks = [source.render(config, f, "cpu") for f in source.vary(config, 2, "mask", 2)]
    assert not np.array_equal(masks[0]["source"], masks[1]["source"])


def test_a_factor_that_does_not_vary_is_refused():
    source = get_source("ao2d")
    with pytest.raises(
        ConfigError, match=r"cannot vary 'bevel'.*\['mask', 'height', 'light_azimuth'\]"
    ):
        source.vary(source.toy_config(), 0, "bevel", 2)

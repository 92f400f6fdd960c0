"""The shadow source's quintuple: its pictures and maps agree as ARShadowGAN's do."""

import numpy as np
import pytest

from neuralshade.data.sources import get_source
from neuralshade.errors import ConfigError, NeuralShadeError

try:
    from neuralshade.render.mitsuba_scene import load_mitsuba

    load_mitsuba()
except NeuralShadeError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"Mitsuba unavailable: {exc}", allow_module_level=True)

pytestmark = pytest.mark.mitsuba


@pytest.fixture(scope="module")
def samples():
    source = get_source("shadow")
    config = source.load_config({"count": 40, "size": 48, "spp": 16, "supersample": 2,
                                 "lights": ["sun"]})  # fmt: skip
    # scenes whose object casts a shadow someone can see
    out = []
    for i in range(40):
        sample = source.render(config, source.factors(config, i), "cpu")
        if (sample["objshadow"] > 0.99).sum() >= 8:
            out.append(sample)
        if len(out) == 3:
            break
    assert out, "no scene of 40 shows its object's shadow"
    return out


def test_the_object_is_pasted_into_the_picture_without_its_shadow(samples):
    for s in samples:
        whole = s["mask"] == 1
        np.testing.assert_array_equal(s["noshadow"][whole], s["shadow"][whole])


def test_the_objects_shadow_darkens_the_picture_and_nothing_else_much(samples):
    for s in samples:
        luma = lambda x: x @ np.array([0.2126, 0.7152, 0.0722])  # noqa: E731
        shade = (s["objshadow"] > 0.99) & (s["mask"] == 0)
        free = (s["objshadow"] == 0) & (s["mask"] == 0)
        darker = luma(s["noshadow"]) - luma(s["shadow"])
        assert np.mean(darker[shade] > 0) > 0.9
        assert np.abs(darker[free]).mean() < 0.2 * darker[shade].mean()


def test_the_maps_are_fractions_on_the_ground_only(samples):
    for s in samples:
        for name in ("mask", "robject", "rshadow", "objshadow"):
            assert s[name].min() >= 0 and s[name].max() <= 1, name
        # a shadow falls on the ground, not on the shapes (pixels wholly covered by one)
        covered = (s["mask"] == 1) | (s["robject"] == 1)
        assert np.all(s["rshadow"][covered] == 0) and np.all(s["objshadow"][covered] == 0)
        assert np.all(s["rshadow"] + s["objshadow"] <= 1 + 1e-6)


def test_a_config_names_what_it_cannot_do():
    source = get_source("shadow")
    with pytest.raises(ConfigError, match="lights"):
        source.load_config({"lights": ["laser"]})
    with pytest.raises(ConfigError, match="occluders"):
        source.load_config({"occluders": [3, 1]})
    with pytest.raises(ConfigError, match="cannot vary 'colour'"):
        source.vary(source.toy_config(), 0, "colour", 2)

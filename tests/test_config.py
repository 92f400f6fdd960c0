"""Every config model refuses NaN and infinite numbers, so the Python API is as safe as the CLI."""

import importlib
import math
import pkgutil

import pytest

import neuralshade
from neuralshade.config import Settings, build
from neuralshade.errors import ConfigError

for _module in pkgutil.walk_packages(neuralshade.__path__, "neuralshade."):
    if not _module.name.endswith("__main__"):
        importlib.import_module(_module.name)  # every config class registers as a subclass


def config_classes(cls=Settings):
    for sub in cls.__subclasses__():
        yield sub
        yield from config_classes(sub)


# the values of fields without a default
REQUIRED = {
    "field": {},
    "data": "somewhere",
    "task": "ao2d",
    "name": "resconv",
    "checkpoint": "runs/x/checkpoints/best.safetensors",
    "channels": 1,
    "kind": "scalar",
    # 3D scenes (neuralshade.scenes.model)
    "origin": [0.0, 0.0, 0.0],
    "target": [0.0, 0.0, 1.0],
    "id": "x",
    "material": "m",
    "radiance": [1.0, 1.0, 1.0],
    "irradiance": [1.0, 1.0, 1.0],
    "direction": [0.0, -1.0, 0.0],
    "position": [0.0, 1.0, 0.0],
    "axis": [0.0, 1.0, 0.0],
    "degrees": 0.0,
    "cameras": [{"origin": [0.0, 0.0, 0.0], "target": [0.0, 0.0, 1.0]}],
}
# required values that differ by class
REQUIRED_BY_CLASS = {
    "Mesh": {"path": "mesh.obj"},
    "EnvmapLight": {"path": "sky.exr"},
    "Texture": {"image": "brick"},
    "ShadowScene": {  # the parts it names must be in its scene
        "occluders": [],
        "scene": {
            "cameras": [{"origin": [0.0, 1.0, 3.0], "target": [0.0, 0.0, 0.0]}],
            "materials": {"m": {}},
            "shapes": [{"type": "rectangle", "id": "ground", "material": "m"},
                       {"type": "sphere", "id": "object", "material": "m"}],
            "lights": [{"type": "directional", "id": "key", "direction": [0.0, -1.0, 0.0],
                        "irradiance": [1.0, 1.0, 1.0]},
                       {"type": "constant", "id": "sky", "radiance": [1.0, 1.0, 1.0]}],
        },
    },
}  # fmt: skip
CLASSES = sorted(config_classes(), key=lambda c: f"{c.__module__}.{c.__name__}")


def bad_like(default, bad):
    """A value shaped like the field's default, with ``bad`` in every number's place."""
    if isinstance(default, dict):
        return {k: bad_like(v, bad) for k, v in default.items()} or {"light_azimuth": [bad, bad]}
    if isinstance(default, (list, tuple)):
        return [bad_like(v, bad) for v in default]
    return bad


def float_fields(cls):
    return [name for name, f in cls.model_fields.items() if "float" in str(f.annotation)]


def test_every_package_config_derives_from_settings():
    names = {c.__name__ for c in CLASSES}
    assert {"RenderParams", "DatasetConfig", "TrainConfig", "ImageFitConfig"} <= names
    assert {"SdfFitConfig", "FieldConfig", "HashGridConfig", "MaskConfig"} <= names


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_non_finite_numbers_are_refused_naming_the_key(cls, bad):
    base = {k: v for k, v in REQUIRED.items() if k in cls.model_fields}
    base |= REQUIRED_BY_CLASS.get(cls.__name__, {})
    build(cls, base, "config")  # the defaults themselves are valid
    for name in float_fields(cls):
        field = cls.model_fields[name]
        default = field.get_default(call_default_factory=True)
        with pytest.raises(ConfigError, match=name):
            build(cls, {**base, name: bad_like(default, bad)}, "config")


def test_values_that_make_no_sense_are_refused():
    from neuralshade.fields.distance import load_config as sdf_config
    from neuralshade.fields.image import load_config as image_config
    from neuralshade.train import load_config as train_config

    for overrides in (["epochs=0"], ["epochs=-1"], ["lr=0"], ["field.input_scale=0"]):
        with pytest.raises(ConfigError):
            image_config("hash-fast", overrides)
    for overrides in (["steps=0"], ["sigma=[]"], ["sigma=[0.01, -0.1]"], ["points=0"]):
        with pytest.raises(ConfigError):
            sdf_config("hash", overrides)
    for change in ({"steps": 0}, {"optimizer": {"betas": [0.9, 1.5]}}, {"batch_size": 0}):
        with pytest.raises(ConfigError):
            train_config({"task": "ao2d", "data": "x", **change})


def test_a_config_that_is_not_a_mapping_is_a_config_error():
    from neuralshade.render.params import RenderParams

    for values in ([1, 2], "height", 3):
        with pytest.raises(ConfigError, match="mapping"):
            build(RenderParams, values, "render settings")

"""Fitting distance fields: a fit that finds the shape, resuming, mesh files, presets, the CLI."""

import json
from importlib import resources

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image

from neuralshade.cli import main
from neuralshade.config import load_yaml
from neuralshade.errors import ConfigError, InputError
from neuralshade.fields.distance import SdfFitConfig, fit_sdf, load_config, preset_names
from neuralshade.fields.network import FieldNetwork

SMALL = [
    "points=8192",
    "batch_size=1024",
    "eval_points=16384",
    "resolution=32",
    "render_size=32",
    "checkpoint_interval=20",
]


def small(steps: int) -> SdfFitConfig:
    return load_config("siren", [*SMALL, f"steps={steps}", "lr=0.0005"])


def test_a_fit_finds_the_shape_and_reports_iou_and_chamfer(tmp_path):
    summary = fit_sdf("sphere", small(120), tmp_path, quiet=True)
    assert summary["iou"] > 0.9 and summary["chamfer"] < 0.03
    render = np.asarray(Image.open(tmp_path / "render.png"))
    assert render.shape == (32, 64, 3)  # fitted | true
    fitted, true = render[:, :32].astype(int), render[:, 32:].astype(int)
    assert (fitted != 255).any(axis=2).sum() > 0.5 * (true != 255).any(axis=2).sum()
    mesh = trimesh.load(tmp_path / "mesh.ply")
    radii = np.linalg.norm(mesh.vertices, axis=1)
    assert abs(np.median(radii) - 0.6) < 0.05  # the built-in sphere's radius
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["iou"] == summary["iou"] and saved["steps"] == 120


def test_a_resumed_fit_ends_where_an_uninterrupted_one_does(tmp_path):
    whole = fit_sdf("torus", small(40), tmp_path / "whole", quiet=True)
    fit_sdf("torus", small(20), tmp_path / "split", quiet=True)
    resumed = fit_sdf(
        "torus", small(40), tmp_path / "split", quiet=True, resume=True, log=lambda _: None
    )
    assert resumed["iou"] == pytest.approx(whole["iou"], abs=1e-6)
    assert resumed["chamfer"] == pytest.approx(whole["chamfer"], rel=1e-4)


def test_mesh_files_are_fitted_after_scaling_into_the_cube(tmp_path):
    box = trimesh.creation.box(extents=(20.0, 10.0, 14.0))
    box.export(tmp_path / "box.stl")
    summary = fit_sdf(tmp_path / "box.stl", small(80), tmp_path / "fit", quiet=True)
    assert summary["iou"] > 0.8
    broken = tmp_path / "broken.obj"
    broken.write_text("this is not a mesh")
    with pytest.raises(InputError):
        fit_sdf(broken, small(1), tmp_path / "bad", quiet=True)
    with pytest.raises(InputError, match="torus"):
        fit_sdf("dodecahedron", small(1), tmp_path / "bad", quiet=True)


def test_every_sdf_preset_loads_and_builds_a_distance_network():
    assert {"hash", "siren"} <= set(preset_names())
    folder = resources.files("neuralshade") / "configs"
    for name in preset_names():
        values = load_yaml(str(folder / f"fit-sdf-{name}.yaml"))
        assert set(values) == set(SdfFitConfig.model_fields), name
        net = FieldNetwork(load_config(name).field)
        assert net(torch.zeros(4, 3)).shape == (4, 1), name
    with pytest.raises(ConfigError, match="hash"):
        load_config("nope")
    with pytest.raises(ConfigError, match="n_input_dims"):
        fit_sdf("sphere", load_config("hash", ["field.n_input_dims=2"]), "unused", quiet=True)


def test_cli_fits_a_built_in_shape(tmp_path, capsys):
    args = ["fit", "sdf", "capsule", "--preset", "siren", "--steps", "10", "--quiet"]
    for item in [*SMALL, "lr=0.0005"]:
        args += ["--set", item]
    assert main([*args, "--out", str(tmp_path / "fit")]) == 0
    out = capsys.readouterr().out
    assert "IoU" in out and "Chamfer" in out
    assert (tmp_path / "fit/field.json").is_file()

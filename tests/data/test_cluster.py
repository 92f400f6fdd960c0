"""A dataset rendered on a (local, two-worker) Ray cluster is byte-identical and resumes."""

import hashlib

import pytest

from neuralshade.cli import main
from neuralshade.data.generate import generate, load_config

ray = pytest.importorskip("ray")

VALUES = {
    "count": 6,
    "size": 32,
    "seed": 5,
    "buffers": ["ao"],
    "vary": {"light_azimuth": [0, 360]},
    "render": {"ao_mode": "taps", "height": 5, "ao_radius": 5},
}


def contents(root):
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_ray_renders_the_same_bytes_as_one_process_and_resumes(tmp_path, capsys):
    generate(tmp_path / "local", load_config(VALUES, source="ao2d"), quiet=True)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        argv = ["dataset", "ao2d", "--out", str(tmp_path / "ray"), "--count", "6", "--size", "32"]
        argv += ["--seed", "5", "--buffers", "ao", "--vary", "light_azimuth=0:360", "--ray"]
        argv += ["--set", "render.ao_mode=taps", "--set", "render.height=5"]
        argv += ["--set", "render.ao_radius=5", "--quiet"]
        assert main(argv) == 0
        assert "rendered 6 samples" in capsys.readouterr().out
        assert contents(tmp_path / "ray") == contents(tmp_path / "local")
        (tmp_path / "ray/samples/000003/ao.npy").unlink()  # as a killed run leaves it
        summary = generate(
            tmp_path / "ray", load_config(VALUES, source="ao2d"), quiet=True, ray="auto"
        )
        assert (summary["rendered"], summary["skipped"]) == (1, 5)
        assert ray.is_initialized()  # a cluster it joined is left running
    finally:
        ray.shutdown()
    assert contents(tmp_path / "ray") == contents(tmp_path / "local")


def test_an_unreachable_cluster_is_a_clear_error(tmp_path, capsys):
    argv = ["dataset", "ao2d", "--out", str(tmp_path / "d"), "--count", "2", "--size", "16"]
    assert main([*argv, "--ray", "127.0.0.1:1", "--quiet"]) == 2
    assert capsys.readouterr().err.startswith("error: --ray 127.0.0.1:1: cannot reach")

"""Dataset generation: determinism, sharding, resume after a kill, and clear refusals."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neuralshade.data.generate import (
    generate,
    is_complete,
    missing_samples,
    read_manifest,
    render_sample,
    shard_range,
)
from neuralshade.data.generate import load_config as load_source_config
from neuralshade.data.sources.ao2d import sample_rngs
from neuralshade.errors import ConfigError, DatasetError
from neuralshade.imageio import to_uint8
from neuralshade.render.heightfield import render


def load_config(values):
    """An ao2d dataset config (this file tests the driver on the ao2d source)."""
    return load_source_config(values, source="ao2d")


TINY = {"count": 5, "size": 32, "seed": 7, "render": {"ao_samples": 8, "height": 6, "ao_radius": 6}}


def digest(root: Path) -> str:
    """Hash of every file's relative path and bytes under root."""
    h = hashlib.sha256()
    for f in sorted(root.rglob("*")):
        if f.is_file():
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes_whatever_the_worker_count(tmp_path):
    config = load_config({**TINY, "buffers": ["ao", "normal"]})
    generate(tmp_path / "one", config, quiet=True)
    generate(tmp_path / "two", config, workers=2, quiet=True)
    assert digest(tmp_path / "one") == digest(tmp_path / "two")
    other = load_config({**TINY, "seed": 8})
    generate(tmp_path / "other", other, quiet=True)
    a = np.asarray(Image.open(tmp_path / "one/samples/000000/source.png"))
    b = np.asarray(Image.open(tmp_path / "other/samples/000000/source.png"))
    assert not np.array_equal(a, b)


def test_shards_cover_the_dataset_once_and_match_a_single_run(tmp_path):
    config = load_config(TINY)
    for i in range(3):
        generate(tmp_path / "sharded", config, shard=(i, 3), quiet=True)
    generate(tmp_path / "whole", config, quiet=True)
    assert digest(tmp_path / "sharded") == digest(tmp_path / "whole")
    ranges = [shard_range(10, (i, 3)) for i in range(3)]
    assert sorted(i for r in ranges for i in r) == list(range(10))


def test_target_is_the_render_of_the_stored_source(tmp_path):
    config = load_config({**TINY, "count": 1, "buffers": ["ao"]})
    generate(tmp_path, config, quiet=True)
    folder = tmp_path / "samples/000000"
    source = np.asarray(Image.open(folder / "source.png"), dtype=np.float32) / 255
    target = np.asarray(Image.open(folder / "target.png"))
    assert source.shape == (32, 32) and target.shape == (32, 32, 3)
    assert 0 < source.mean() < 1
    # rendering the stored 8-bit mask with the sample's seed gives the stored target exactly
    fresh = render(source, config.render, seed=sample_rngs(config.seed, 0)[2]).numpy()
    np.testing.assert_array_equal(to_uint8(fresh["beauty"]), target)
    np.testing.assert_array_equal(np.load(folder / "ao.npy"), fresh["ao"])


def test_manifest_records_config_version_split_and_varied_params(tmp_path):
    values = {
        **TINY,
        "count": 20,
        "vary": {"light_azimuth": [0, 360], "ground_color": [[0.2, 0.2, 0.2], [0.6, 0.5, 0.4]]},
    }
    generate(tmp_path, load_config(values), shard=(0, 20), quiet=True)
    m = read_manifest(tmp_path)
    assert m["config"]["render"]["ao_samples"] == 8 and m["neuralshade_version"]
    split = m["split"]
    assert sorted(split["train"] + split["val"] + split["test"]) == list(range(20))
    assert (len(split["train"]), len(split["val"]), len(split["test"])) == (16, 2, 2)
    azimuths = [m["samples"][str(i)]["light_azimuth"] for i in range(20)]
    assert len(set(azimuths)) == 20 and all(0 <= a <= 360 for a in azimuths)
    colour = m["samples"]["3"]["ground_color"]
    assert len(colour) == 3 and 0.2 <= colour[0] <= 0.6


def test_varied_light_is_used_by_the_render(tmp_path):
    base = {**TINY, "count": 2, "render": {**TINY["render"], "ao_mode": "taps"}}
    varied = load_config({**base, "vary": {"light_azimuth": [0, 360]}})
    fixed = load_config(base)
    assert not np.array_equal(render_sample(varied, 0)["target"], render_sample(fixed, 0)["target"])
    np.testing.assert_array_equal(
        render_sample(varied, 0)["source"], render_sample(fixed, 0)["source"]
    )


def test_rerun_resumes_and_repairs_an_incomplete_sample(tmp_path):
    config = load_config(TINY)
    generate(tmp_path / "ref", config, quiet=True)
    root = tmp_path / "ds"
    assert generate(root, config, shard=(0, 2), quiet=True)["rendered"] == 2
    (root / "samples/000001/target.png").unlink()  # as if killed before its last file
    (root / "samples/000001/.target.x.png.tmp.png").write_bytes(b"half")  # and its leftover
    assert missing_samples(root) == [1, 2, 3, 4]
    assert generate(root, config, quiet=True) == {"rendered": 4, "skipped": 1, "total": 5}
    assert digest(root) == digest(tmp_path / "ref")


def test_killed_command_finishes_on_rerun_with_the_same_bytes(tmp_path):
    args = ["--count", "24", "--size", "48", "--seed", "3", "--ao-samples", "48", "--quiet"]
    cmd = [sys.executable, "-m", "neuralshade", "dataset", "ao2d", *args]
    root = tmp_path / "killed"
    proc = subprocess.Popen([*cmd, "--out", str(root)], start_new_session=True)
    config = load_config({"count": 24, "size": 48, "seed": 3, "render": {"ao_samples": 48}})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (root / "manifest.json").exists() and sum(
            is_complete(root, config, i) for i in range(24)
        ) >= 2:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sum(is_complete(root, config, i) for i in range(24))
    if done == 24:
        pytest.skip("the command finished before it could be killed")
    assert done >= 2
    subprocess.run([*cmd, "--out", str(root)], check=True, capture_output=True)
    generate(tmp_path / "clean", config, quiet=True)
    assert digest(root) == digest(tmp_path / "clean")


def test_a_directory_with_another_config_is_refused(tmp_path):
    generate(tmp_path, load_config({**TINY, "count": 1}), quiet=True)
    with pytest.raises(DatasetError, match="another config"):
        generate(tmp_path, load_config({**TINY, "count": 1, "seed": 99}), quiet=True)
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not empty"):
        generate(stray, load_config(TINY), quiet=True)


@pytest.mark.parametrize(
    "values, key",
    [
        ({"buffers": ["albedo"]}, "albedo"),
        ({"split": {"train": 0.9, "val": 0.2, "test": 0.1}}, "sum to 1"),
        ({"vary": {"max_steps": [1, 2]}}, "max_steps"),
        ({"vary": {"light_elevation": [10, 95]}}, "light_elevation"),
        ({"vary": {"ground_color": [0.1, 0.2]}}, "RGB"),
        ({"count": 0}, "count"),
        ({"colour": 1}, "colour"),
    ],
)
def test_bad_dataset_configs_name_the_problem(values, key):
    with pytest.raises(ConfigError, match=key):
        load_config(values)


def test_unknown_dataset_directory_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="no manifest.json"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(DatasetError, match="format 99"):
        read_manifest(tmp_path)


def test_a_dataset_made_before_a_config_field_was_added_still_resumes(tmp_path):
    """A manifest without a field added since (at its default, which keeps the bytes) describes
    the same dataset; one with another value does not."""

    from neuralshade.data.generate import load_config, prepare
    from neuralshade.errors import DatasetError

    config = load_config({"count": 2, "views": 1, "size": 16}, source="room")
    prepare(tmp_path / "d", config)
    path = tmp_path / "d" / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["config"]["focus_distance"]  # as an older neuralshade wrote it
    path.write_text(json.dumps(manifest))
    prepare(tmp_path / "d", config)
    manifest["config"]["size"] = 32
    path.write_text(json.dumps(manifest))
    with pytest.raises(DatasetError, match="another config"):
        prepare(tmp_path / "d", config)

"""The room source: PrimitiveRoom views on Mitsuba 3 through the generic dataset driver."""

import hashlib

import numpy as np
import pytest
import torch

from neuralshade.data.datasets import BufferDataset
from neuralshade.data.generate import generate, load_config, read_manifest, sample_dir
from neuralshade.data.sources.room import view_matrix
from neuralshade.errors import ConfigError
from neuralshade.imageio import read_exr
from neuralshade.scenes.model import load_scene  # noqa: F401  (scenes import without Mitsuba)

pytestmark = pytest.mark.mitsuba
TINY = {"count": 4, "views": 2, "size": 12, "seed": 2, "spp": 2, "reference_spp": 8,
        "split": {"train": 0.5, "val": 0.25, "test": 0.25}}  # fmt: skip


def digest(root):
    h = hashlib.sha256()
    for f in sorted(root.rglob("*")):
        if f.is_file():
            h.update(str(f.relative_to(root)).encode() + f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def room(mitsuba, tmp_path_factory):
    root = tmp_path_factory.mktemp("room") / "data"
    generate(root, load_config(TINY, source="room"), quiet=True)
    return root


def test_shards_give_the_same_bytes_as_one_run(room, tmp_path):
    config = load_config(TINY, source="room")
    for i in range(2):
        generate(tmp_path / "sharded", config, shard=(i, 2), quiet=True)
    assert digest(tmp_path / "sharded") == digest(room)


def test_two_worker_processes_give_the_same_bytes(room, tmp_path):
    generate(tmp_path / "two", load_config(TINY, source="room"), workers=2, quiet=True)
    assert digest(tmp_path / "two") == digest(room)


def test_every_view_holds_consistent_buffers(room):
    folder = sample_dir(room, 3)
    b = {f.stem: read_exr(f) for f in folder.glob("*.exr")}
    assert len(b) == 1 + 16 + 6 and b["beauty"].shape == (12, 12, 3)  # noisy, G-buffers, reference
    np.testing.assert_allclose(b["direct"] + b["indirect"], b["beauty"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b["diffuse"] + b["specular"], b["beauty"], rtol=1e-5, atol=1e-6)
    # the reference pass traces its own paths, and splits them the same way
    np.testing.assert_allclose(
        b["direct_reference"] + b["indirect_reference"], b["beauty_reference"], rtol=1e-5, atol=1e-6
    )
    assert 0 <= b["ao_reference"].min() and b["ao_reference"].max() <= 1
    assert 0 <= b["ao"].min() and b["ao"].max() <= 1 and b["depth"].min() >= 0
    inside = b["depth"][..., 0] > 0  # a view inside the room sees a surface everywhere
    assert inside.all()
    # pixel means of unit normals: unit inside a face, shorter where a pixel spans an edge
    norms = np.linalg.norm(b["normal_reference"], axis=2)
    assert norms.max() <= 1.0001 and np.median(norms) > 0.99


def test_the_id_buffer_is_each_material_s_cnsr_index_over_11(room):
    """Pixels wholly on the floor, the ceiling or the back wall (their position and normal say
    so) read CNSR's index of that surface / 11, in every view, whichever objects are present."""
    from neuralshade.scenes.room import CEILING_Y, FLOOR_Y, HALF_SIZE

    seen = set()
    for index in range(8):
        folder = sample_dir(room, index)
        p, n, ids = (read_exr(folder / f"{b}.exr") for b in ("position", "normal", "id"))
        planes = {0: (1, FLOOR_Y, 1.0), 1: (1, CEILING_Y, -1.0), 2: (2, -HALF_SIZE, 1.0)}
        for want, (axis, at, facing) in planes.items():
            on = (np.abs(p[..., axis] - at) < 1e-4) & (np.abs(n[..., axis] - facing) < 1e-6)
            if on.any():
                seen.add(want)
                np.testing.assert_allclose(ids[on][:, 0], want / 11, rtol=1e-6)
        # most pixels see one surface only: k / 11 for an integer k (edges mix two ids)
        k = ids[..., 0] * 11
        assert (np.abs(k - np.round(k)) < 1e-5).mean() > 0.5
    assert seen == {0, 1, 2}


def test_a_dataset_of_an_older_source_revision_resumes_no_more_nor_serves_what_changed(
    room, tmp_path
):
    import json
    import shutil

    from neuralshade.errors import DatasetError

    old = tmp_path / "old"
    shutil.copytree(room, old)
    manifest = json.loads((old / "manifest.json").read_text())
    assert manifest["source_revision"] == 2
    del manifest["source_revision"]  # as neuralshade wrote it before the id fix: revision 1
    (old / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatasetError, match="revision 1 of the room source.*revision 2: id is"):
        generate(old, load_config(TINY, source="room"), quiet=True)
    with pytest.raises(DatasetError, match="revision 1 .* regenerate"):
        BufferDataset(old, "all", ("normal", "id"), crop=8)
    assert len(BufferDataset(old, "all", ("beauty", "normal"), crop=8)) == 8  # the others serve


def test_the_reference_pass_stores_the_buffers_asked_for(mitsuba, tmp_path):
    values = {**TINY, "count": 1, "views": 1, "reference_buffers": ["ao", "beauty"]}
    generate(tmp_path / "r", load_config(values, source="room"), quiet=True)
    files = {f.name for f in sample_dir(tmp_path / "r", 0).glob("*_reference.exr")}
    assert files == {"beauty_reference.exr", "ao_reference.exr"}
    with pytest.raises(ConfigError, match="unknown buffers \\['variance'\\]"):
        load_config({**values, "reference_buffers": ["variance"]}, source="room")
    none = {**values, "reference_buffers": []}
    generate(tmp_path / "n", load_config(none, source="room"), quiet=True)
    assert not list(sample_dir(tmp_path / "n", 0).glob("*_reference.exr"))


def test_splits_keep_the_views_of_a_scene_together(room):
    data = read_manifest(room)
    scene_of = {int(i): r["scene"] for i, r in data["samples"].items()}
    splits = {name: {scene_of[i] for i in idx} for name, idx in data["split"].items()}
    assert sum(len(v) for v in data["split"].values()) == 8
    assert not (splits["train"] & splits["val"]) and not (splits["train"] & splits["test"])


def test_the_pose_is_the_views_world_to_camera_matrix(room):
    ds = BufferDataset(room, "all", ("pose", "beauty"), crop=None, mode="full")
    camera = ds.record(1)["camera"]
    pose = ds[1]["pose"][:, 0, 0].numpy().reshape(4, 4)
    expected = view_matrix(camera["origin"], camera["target"], camera["up"])
    np.testing.assert_allclose(pose, expected, rtol=1e-6, atol=1e-6)
    origin = pose @ np.array([*camera["origin"], 1.0])
    target = pose @ np.array([*camera["target"], 1.0])
    np.testing.assert_allclose(origin[:3], 0, atol=1e-5)  # the camera sits at its origin
    np.testing.assert_allclose(target[:2], 0, atol=1e-5)  # and looks down its +z axis
    assert target[2] > 0
    stored = read_exr(sample_dir(room, ds.indices[1]) / "beauty.exr")
    np.testing.assert_array_equal(ds[1]["beauty"].permute(1, 2, 0).numpy(), stored)


@pytest.mark.parametrize("mirrored", [False, True])
def test_camera_space_buffers_project_onto_their_pixels(room, mirrored):
    """OpenGL camera space: x right, y up, in front z < 0; a point projects onto its pixel
    with the camera's fov (75° across x), and a mirrored sample is the mirrored camera's."""
    names = ("position_camera", "normal_camera", "depth")
    ds = BufferDataset(room, "all", names, crop=None, mode="full", augment=mirrored)
    if mirrored:
        ds.transforms = ds.transforms[1:]  # the mirror alone
        assert [t.name for t in ds.transforms] == ["mirror90"]
    item = {k: v.numpy() for k, v in ds[0].items()}
    p, n, depth = item["position_camera"], item["normal_camera"], item["depth"][0]
    size = p.shape[-1]
    focal = size / 2 / np.tan(np.radians(ds.record(0)["camera"]["fov"]) / 2)
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    assert (p[2] < 0).all()
    # a pixel's mean position projects into the pixel (its samples are jittered across it)
    np.testing.assert_allclose(p[0] / -p[2] * focal + size / 2, cols, atol=0.5)  # x right
    np.testing.assert_allclose(-p[1] / -p[2] * focal + size / 2, rows, atol=0.5)  # y up
    distance = np.linalg.norm(p, axis=0)  # = the mean hit distance where one surface fills it
    assert np.median(np.abs(distance / depth - 1)) < 1e-3
    assert ((n * p).sum(axis=0) < 0).mean() > 0.95  # normals face the camera


def test_world_vectors_are_never_mirrored_colours_may_be(room):
    colour = BufferDataset(room, "all", ("beauty", "depth"), crop=8, augment=True)
    assert [s.name for s in colour.transforms] == ["identity", "mirror90"]
    vectors = BufferDataset(room, "all", ("beauty", "normal"), crop=8, augment=True)
    assert [s.name for s in vectors.transforms] == ["identity"]


def test_factor_groups_vary_exactly_one_factor(mitsuba):
    from neuralshade.data.sources import get_source

    source = get_source("room")
    config = load_config({**TINY, "count": 9, "factor_batch": 3}, source="room")
    _, groups = source._groups(config)
    for group in range(3):
        scenes = [source.scene(config, source.factors(config, (group * 3 + m) * 2))
                  for m in range(3)]  # fmt: skip
        parts = [(s.lights, s.shapes, s.materials, s.cameras) for s in scenes]
        if group in groups["test"]:  # fully random scenes
            assert parts[0][1] != parts[1][1] or parts[0][0] != parts[1][0]
            continue
        factor = ("lighting", "geometry", "material")[group % 3]
        changed = {"lighting": 0, "geometry": 1, "material": 2}[factor]
        for other in parts[1:]:
            assert other[changed] != parts[0][changed]
            assert all(other[k] == parts[0][k] for k in range(4) if k != changed)


def test_scene_views_give_k_observed_and_one_query_view(room):
    from neuralshade.data.views import SceneViews

    views = SceneViews(room, "all", observed=("beauty", "pose"), query=("normal", "pose"), k=1)
    item = views[0]
    assert item["observed"]["beauty"].shape == (1, 3, 12, 12)
    assert item["query"]["normal"].shape == (3, 12, 12) and len(set(item["views"])) == 2
    # the query's pose is the pose of the view it names, not an observed one's
    data = views.data
    (index,) = [i for i in range(len(data))
                if data.record(i)["scene"] == item["scene"]
                and data.record(i)["view"] == item["views"][-1]]  # fmt: skip
    assert torch.equal(item["query"]["pose"], data[index]["pose"])
    with pytest.raises(ConfigError, match="k = 2 observed views need at least k \\+ 1"):
        SceneViews(room, "all", k=2)


def test_factor_batches_are_the_groups_of_a_split(mitsuba, tmp_path):
    from neuralshade.data.views import FactorBatches

    values = {**TINY, "count": 6, "factor_batch": 2, "reference_spp": 2,
              "split": {"train": 2 / 3, "val": 0.0, "test": 1 / 3}}  # fmt: skip
    generate(tmp_path / "f", load_config(values, source="room"), quiet=True)
    train = FactorBatches(tmp_path / "f", "train", observed=("beauty",), query=("depth",), k=1)
    assert len(train) == 2
    for g in range(2):
        batch = train[g]
        assert batch["factor"] in ("lighting", "geometry", "material")
        assert batch["observed"]["beauty"].shape == (2, 1, 3, 12, 12)
        assert len(set(batch["scenes"])) == 2
    test = FactorBatches(tmp_path / "f", "test", observed=("beauty",), query=("depth",), k=1)
    assert len(test) == 1 and test[0]["factor"] is None


@pytest.fixture(scope="module")
def dof(mitsuba, tmp_path_factory):
    """Views with depth of field: the pinhole reference and the same view through a thin lens
    (a large aperture, so the blur spans pixels at 32²)."""
    root = tmp_path_factory.mktemp("dof") / "data"
    values = {**TINY, "count": 2, "size": 32, "reference_spp": 16,
              "buffers": ["position", "depth"], "reference_buffers": ["beauty", "dof"],
              "aperture_radius": (0.2, 0.3)}  # fmt: skip
    generate(root, load_config(values, source="room"), quiet=True)
    return root


def test_each_dof_view_records_its_own_thin_lens_in_the_ranges(dof, room):
    data = read_manifest(dof)
    lenses = [data["samples"][str(i)]["lens"] for i in range(4)]
    assert len({lens["focus_distance"] for lens in lenses}) == 4  # drawn per view
    assert all(0.2 <= lens["aperture_radius"] <= 0.3 for lens in lenses)
    assert all(0.7 <= lens["focus_distance"] <= 6.0 for lens in lenses)
    assert "lens" not in read_manifest(room)["samples"]["0"]  # no dof, no lens


def test_the_circle_of_confusion_follows_the_thin_lens_formula(dof):
    """coc, derived from the stored position, against the same formula computed independently
    from the depth buffer (distance along each pixel's ray → depth along the view)."""
    data = BufferDataset(dof, "train", ["coc", "depth"], crop=None, mode="full")
    for i in range(len(data)):
        sample, record = data[i], data.record(i)
        lens, fov = record["lens"], record["camera"]["fov"]
        focal = 16 / np.tan(np.radians(fov) / 2)  # 32 px wide
        centres = np.arange(32) + 0.5 - 16
        u, v = np.meshgrid(centres, centres)
        z = sample["depth"][0].numpy() / np.sqrt(1 + (u**2 + v**2) / focal**2)
        want = 2 * lens["aperture_radius"] * focal * np.abs(1 / z - 1 / lens["focus_distance"])
        got = sample["coc"][0].numpy()
        # pixels spanning an edge average depths and positions differently: compare the rest
        np.testing.assert_allclose(np.median(np.abs(got - want) / want.clip(0.1)), 0, atol=0.02)
        assert got.max() > 2  # the blur spans pixels


def test_a_crop_s_circle_of_confusion_is_the_whole_view_s_there(dof):
    """A training crop derives coc for its own pixels but the whole view's focal length."""
    data = BufferDataset(dof, "train", ["coc", "position"], crop=None, mode="full")
    whole, record = data[0], data.record(0)
    crop = (slice(5, 21), slice(9, 25))
    position = whole["position"].numpy()[:, crop[0], crop[1]]
    got = data.source.derive(data.config, "coc", record, (16, 16), lambda n: position)
    np.testing.assert_allclose(got, whole["coc"].numpy()[:, crop[0], crop[1]], rtol=1e-5)


def test_adding_dof_leaves_the_other_buffers_bytes_as_they_were(dof, tmp_path):
    values = {**TINY, "count": 2, "size": 32, "reference_spp": 16,
              "buffers": ["position", "depth"], "reference_buffers": ["beauty"],
              "aperture_radius": (0.2, 0.3)}  # fmt: skip
    generate(tmp_path / "plain", load_config(values, source="room"), quiet=True)
    for name in ("beauty.exr", "position.exr", "depth.exr", "beauty_reference.exr"):
        a = (sample_dir(tmp_path / "plain", 1) / name).read_bytes()
        assert a == (sample_dir(dof, 1) / name).read_bytes(), name


def test_the_dof_reference_is_the_view_blurred_where_it_is_out_of_focus(dof):
    data = BufferDataset(dof, "train", ["beauty_reference", "dof_reference", "coc"], crop=None,
                         mode="full")  # fmt: skip
    sharp, blurred, coc = (data[0][n] for n in ("beauty_reference", "dof_reference", "coc"))
    # the same light through a lens (the mean holds to the noise), and detail lost where the
    # circle of confusion is wide: the image's gradients there shrink
    assert torch.allclose(blurred.mean(), sharp.mean(), rtol=0.1)

    def gradient(image):
        return (image[:, :, 1:] - image[:, :, :-1]).abs().mean(dim=0)[:, :-1]

    wide = coc[0, :, :-2] > 4
    assert wide.any()
    assert gradient(blurred)[wide].mean() < 0.8 * gradient(sharp)[wide].mean()


def test_sample_count_levels_store_each_noisy_buffer_at_each_level(mitsuba, tmp_path):
    values = {**TINY, "count": 1, "views": 1, "spp": 8, "spp_levels": [1, 2],
              "buffers": ["beauty_variance", "normal", "albedo"],
              "reference_buffers": ["beauty"],
              "split": {"train": 1.0, "val": 0.0, "test": 0.0}}  # fmt: skip
    config = load_config(values, source="room")
    generate(tmp_path / "l", config, quiet=True)
    files = {f.stem for f in sample_dir(tmp_path / "l", 0).glob("*.exr")}
    assert files == {
        "beauty", "beauty_variance", "normal", "albedo", "beauty_reference",
        "beauty_1spp", "normal_1spp", "albedo_1spp",  # no variance of one sample
        "beauty_2spp", "beauty_variance_2spp", "normal_2spp", "albedo_2spp",
    }  # fmt: skip
    data = BufferDataset(tmp_path / "l", "train", ["beauty_1spp", "beauty_2spp", "beauty",
                         "normal_2spp", "normal_2spp_camera", "beauty_8spp", "normal_8spp_camera",
                         "normal_camera"], crop=None, mode="full")  # fmt: skip
    s = data[0]
    # the pass's own level reads under its level's name too, so a task can name every level
    assert torch.equal(s["beauty_8spp"], s["beauty"])
    assert torch.equal(s["normal_8spp_camera"], s["normal_camera"])
    # the levels are the pass's first samples: 8·beauty = 2·level 2 + the other 6 samples,
    # each of which is ≥ 0, so the level's share never exceeds the whole
    assert torch.all(2 * s["beauty_2spp"] <= 8 * s["beauty"] + 1e-5)
    assert torch.all(s["beauty_1spp"] <= 2 * s["beauty_2spp"] + 1e-6)
    assert not torch.equal(s["beauty_1spp"], s["beauty_2spp"])
    # a level's world vector has its camera-space twin, as the pass's own does
    pose = view_matrix(**{k: data.record(0)["camera"][k] for k in ("origin", "target", "up")})
    rotate = np.diag([-1.0, 1.0, -1.0]) @ pose[:3, :3]
    world = s["normal_2spp"].numpy().reshape(3, -1)
    camera = s["normal_2spp_camera"].numpy().reshape(3, -1)
    np.testing.assert_allclose(camera, rotate @ world, atol=1e-5)
    for bad in ([8], [4, 2], [0, 2]):
        with pytest.raises(ConfigError, match="spp_levels"):
            load_config({**values, "spp_levels": bad}, source="room")

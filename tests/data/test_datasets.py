"""BufferDataset over the ao2d source: buffers, crops, splits, clear errors, and augmentations
that stay true renders.

The ao2d task reads a sample as (inputs concatenated, targets concatenated): :class:`Pairs`
does the same over the generic dataset, so the tests read like the task's batches.
"""

import math
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from neuralshade.data.augment import D4
from neuralshade.data.datasets import BufferDataset, stack
from neuralshade.data.generate import generate, load_config, read_manifest, sample_dir
from neuralshade.data.sources.ao2d import SCHEMA, allowed_symmetries, render_params
from neuralshade.errors import ConfigError, DatasetError
from neuralshade.render.heightfield import RenderParams, render

# taps AO: deterministic and cheap, so a render of a transformed mask can be compared exactly
SCENE = {"ao_mode": "taps", "height": 8, "ao_radius": 8, "bevel": 3, "softness": 0.05}
ALL_BUFFERS = ["ao", "shadow", "height", "normal", "sdf"]

# The symmetries as numpy's own operations on (..., H, W), named by what they do on screen,
# and what each does to a light azimuth a (degrees counter-clockwise from +x on screen).
# np.rot90 turns counter-clockwise as displayed: the top-right pixel goes to the top-left.
OWN = {
    "identity": (lambda m: m, lambda a: a),
    "rot90": (lambda m: np.rot90(m, 1, axes=(-2, -1)), lambda a: a + 90),
    "rot180": (lambda m: np.rot90(m, 2, axes=(-2, -1)), lambda a: a + 180),
    "rot270": (lambda m: np.rot90(m, 3, axes=(-2, -1)), lambda a: a + 270),
    "mirror90": (lambda m: m[..., ::-1], lambda a: 180 - a),  # left-right
    "mirror0": (lambda m: m[..., ::-1, :], lambda a: -a),  # up-down
    "mirror135": (lambda m: np.swapaxes(m, -1, -2), lambda a: 270 - a),  # transpose
    "mirror45": (lambda m: np.swapaxes(m, -1, -2)[..., ::-1, ::-1], lambda a: 90 - a),
}


class Pairs:
    """A BufferDataset read as the ao2d task reads it: ``ds[i]`` = (inputs, targets)."""

    def __init__(self, root, split="train", inputs=("source",), targets=("target",), **kw):
        names = lambda v: (v,) if isinstance(v, str) else tuple(v)  # noqa: E731
        self.inputs, self.targets = names(inputs), names(targets)
        self.ds = BufferDataset(root, split, list(dict.fromkeys(self.inputs + self.targets)), **kw)

    def __getattr__(self, name):
        return getattr(self.ds, name)

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        sample = self.ds[i]
        return stack(sample, self.inputs), stack(sample, self.targets)

    @property
    def transforms(self):
        return self.ds.transforms

    @transforms.setter
    def transforms(self, value):
        self.ds.transforms = value

    @property
    def in_channels(self):
        return self.ds.channels(self.inputs)

    @property
    def out_channels(self):
        return self.ds.channels(self.targets)

    def render_params(self, i):
        return render_params(self.ds.config, self.ds.record(i))


def make(root, count=6, size=40, buffers=(), render=None, **extra):
    config = {
        "count": count,
        "size": size,
        "seed": 1,
        "buffers": list(buffers),
        "render": {**SCENE, **(render or {})},
        **extra,
    }
    generate(root, load_config(config, source="ao2d"), quiet=True)
    return root


@pytest.fixture(scope="module")
def light135(tmp_path_factory):
    """Every buffer saved; the light fixed at the default azimuth 135°."""
    return make(tmp_path_factory.mktemp("light135"), buffers=ALL_BUFFERS)


@pytest.fixture(scope="module")
def light90(tmp_path_factory):
    """PNGs only; the light fixed at azimuth 90° (from the top of the image)."""
    return make(tmp_path_factory.mktemp("light90"), size=32, render={"light_azimuth": 90})


@pytest.fixture(scope="module")
def varied(tmp_path_factory):
    """Normals saved; the light's azimuth drawn per sample from [0, 360)."""
    return make(
        tmp_path_factory.mktemp("varied"),
        buffers=["normal"],
        vary={"light_azimuth": [0, 360]},
    )


def stored(root, index, name):
    """A stored buffer as (C, H, W) float, read independently of the dataset."""
    folder = sample_dir(root, index)
    if name in ("source", "target"):
        array = np.asarray(Image.open(folder / f"{name}.png")).astype(np.float32) / 255
    else:
        array = np.load(folder / f"{name}.npy")
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def agreement(a, b, tol=2 / 255):
    """Fraction of pixels where images a, b (C, H, W) differ by at most ``tol`` in all channels."""
    return float(np.mean(np.abs(np.asarray(a) - np.asarray(b)).max(axis=0) <= tol))


def which(original, moved):
    """Names of the symmetries (by numpy's own operations) that turn ``original`` into ``moved``."""
    return [name for name, (op, _) in OWN.items() if np.array_equal(op(original), moved)]


# ---- buffers, shapes, values -------------------------------------------------------------


def light_vector(a, e):
    """The unit vector towards the light (x right, y up the screen, z up) at azimuth a and
    elevation e, radians: what the derived ``light`` input holds."""
    return [math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)]


def test_every_buffer_has_its_channels_dtype_and_value_range(light135):
    for name, channels in ((n, b.channels) for n, b in SCHEMA.items()):
        ds = Pairs(light135, "all", inputs=(name,), targets=("target",), mode="full")
        x, y = ds[0]
        assert x.shape == (channels, 40, 40) and x.dtype == torch.float32, name
        assert y.shape == (3, 40, 40) and 0 <= y.min() and y.max() <= 1
        if name in ("source", "target", "ao", "shadow"):
            assert 0 <= x.min() and x.max() <= 1, name
        if name == "source":  # exactly the 8-bit levels of the PNG
            np.testing.assert_array_equal(x * 255, torch.round(x * 255))
            assert set(torch.unique(x).tolist()) >= {0.0, 1.0}
        if name == "height":  # pixels, not normalised: shape tops reach the render height
            assert x.min() == 0 and 4 < x.max() <= 8
        if name == "sdf":  # pixels, negative inside the shapes
            assert x.min() < -1 and x.max() > 1 and x.abs().max() <= 80
        if name == "normal":
            torch.testing.assert_close(x.norm(dim=0), torch.ones(40, 40), atol=1e-4, rtol=0)
            assert x[2].min() >= 0 and x[0].abs().max() > 0.5  # walls seen from above
        if name == "light":
            a, e = math.radians(135), math.radians(30)
            expected = torch.tensor(light_vector(a, e))
            torch.testing.assert_close(x, expected[:, None, None].expand(3, 40, 40))


def test_inputs_and_targets_concatenate_in_the_order_given(light135):
    ds = Pairs(light135, inputs=("source", "light", "normal"), targets=("target", "ao"), crop=16)
    assert (ds.in_channels, ds.out_channels) == (7, 4)
    x, y = ds[1]
    assert x.shape == (7, 16, 16) and y.shape == (4, 16, 16)
    # a buffer that is both input and target is the same data in both
    ds = Pairs(light135, inputs=("ao", "source"), targets=("source",), crop=16)
    x, y = ds[2]
    torch.testing.assert_close(x[1:], y)


def test_full_mode_returns_the_stored_files(light135):
    ds = Pairs(
        light135,
        "test",
        inputs=("source", "sdf"),
        targets=("target", "normal"),
        mode="full",
        crop=999,  # ignored in mode "full"
    )
    for i, index in enumerate(ds.indices):
        x, y = ds[i]
        np.testing.assert_array_equal(x[:1].numpy(), stored(light135, index, "source"))
        np.testing.assert_array_equal(x[1:].numpy(), stored(light135, index, "sdf"))
        np.testing.assert_array_equal(y[:3].numpy(), stored(light135, index, "target"))
        np.testing.assert_array_equal(y[3:].numpy(), stored(light135, index, "normal"))


# ---- crops ---------------------------------------------------------------------------------


def crop_position(ds, i, crop):
    """Where the crop of ds[i] (inputs = sdf, distinct almost everywhere) lies in the image."""
    x, _ = ds[i]
    full = stored(ds.root, ds.indices[i], "sdf")[0]
    found = [
        (r, c)
        for r in range(full.shape[0] - crop + 1)
        for c in range(full.shape[1] - crop + 1)
        if np.array_equal(full[r : r + crop, c : c + crop], x[0].numpy())
    ]
    assert len(found) == 1, found
    return found[0]


def test_fixed_crops_are_the_same_every_call_and_epoch_and_differ_between_samples(light135):
    def fixed(seed=0):
        return Pairs(
            light135, "all", inputs=("sdf",), targets=("ao",), crop=16, mode="fixed", seed=seed
        )

    ds = fixed()
    first = [crop_position(ds, i, 16) for i in range(len(ds))]
    ds.set_epoch(5)
    assert [crop_position(ds, i, 16) for i in range(len(ds))] == first
    assert len(set(first)) > 1
    # another instance (as a DataLoader worker or a resumed run builds), at another epoch and
    # read in another order, serves the same crops: they come from (seed, index) alone
    other = fixed()
    other.set_epoch(9)
    assert [crop_position(other, i, 16) for i in reversed(range(len(ds)))] == first[::-1]
    assert [crop_position(fixed(seed=4), i, 16) for i in range(len(ds))] != first


def test_random_crops_change_with_the_epoch_and_repeat_for_the_same_seed_epoch_and_index(
    light135,
):
    def positions(seed, epoch):
        ds = Pairs(light135, "all", inputs=("sdf",), targets=("ao",), crop=16, seed=seed)
        ds.set_epoch(epoch)
        return [crop_position(ds, i, 16) for i in range(len(ds))]

    assert positions(0, 1) == positions(0, 1)
    assert positions(0, 1) != positions(0, 2)
    assert positions(0, 1) != positions(7, 1)


def test_the_stream_does_not_depend_on_the_number_of_workers(light135):
    ds = Pairs(light135, "train", crop=16, augment=True)
    ds.set_epoch(3)

    def batches(workers):
        loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=workers)
        return [torch.cat([x.flatten(), y.flatten()]) for x, y in loader]

    for a, b in zip(batches(0), batches(2), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# ---- splits and errors ---------------------------------------------------------------------


def test_split_sizes_and_samples_come_from_the_manifest(light135):
    split = read_manifest(light135)["split"]
    for name in ("train", "val", "test"):
        ds = Pairs(light135, name, crop=16)
        assert ds.indices == split[name] and len(ds) == len(split[name]) > 0
    assert len(Pairs(light135, "all", crop=16)) == 6
    with pytest.raises(ConfigError, match=r"unknown split 'valid'.*'val'"):
        Pairs(light135, "valid")
    with pytest.raises(ConfigError, match=r"unknown mode 'center'.*'fixed'"):
        Pairs(light135, mode="center")


def test_unknown_buffer_lists_the_known_ones(light135):
    with pytest.raises(ConfigError, match=r"buffers: unknown buffer.*'albedo'.*known:.*'sdf'"):
        Pairs(light135, targets=("albedo",))


def test_a_buffer_the_dataset_did_not_save_says_to_regenerate_with_it(light90):
    with pytest.raises(DatasetError, match=r"did not save.*'ao'.*neuralshade dataset ao2d --help"):
        Pairs(light90, inputs=("source",), targets=("ao",))


def test_incomplete_samples_are_counted_and_the_fix_is_named(light90, tmp_path):
    root = shutil.copytree(light90, tmp_path / "copy")
    train = read_manifest(root)["split"]["train"]
    (sample_dir(root, train[1]) / "target.png").unlink()
    with pytest.raises(
        DatasetError,
        match=rf"1 of the {len(train)} samples of the train split.*missing.*"
        r"rerun `neuralshade dataset ao2d` with the same options",
    ):
        Pairs(root, "train", crop=16)
    Pairs(root, "test", crop=16)  # the other splits are whole and still usable


def test_a_crop_larger_than_the_images_is_refused(light90):
    with pytest.raises(ConfigError, match=r"crop 64 is larger than the dataset's 32 × 32 images"):
        Pairs(light90, crop=64)
    assert Pairs(light90, crop=32)[0][0].shape == (1, 32, 32)


def test_an_empty_split_says_why(tmp_path):
    root = make(tmp_path / "three", count=3, size=16)  # val: round(3 × 0.1) = 0 samples
    with pytest.raises(DatasetError, match=r"val split .* is empty: 3 samples × val fraction 0.1"):
        Pairs(root, "val", crop=8)


def test_a_corrupt_file_is_named(light90, tmp_path):
    root = shutil.copytree(light90, tmp_path / "copy")
    ds = Pairs(root, "train", crop=16)
    path = sample_dir(root, ds.indices[0]) / "target.png"
    path.write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=rf"{path}.*corrupt.*rerun"):
        ds[0]


def test_pickles_are_never_loaded(light135, tmp_path):
    root = shutil.copytree(light135, tmp_path / "copy")
    sentinel = tmp_path / "unpickled"

    class Payload:  # unpickling it creates the sentinel file
        def __reduce__(self):
            return (open, (str(sentinel), "w"))

    ds = Pairs(root, "all", inputs=("ao",), crop=16)
    path = sample_dir(root, ds.indices[0]) / "ao.npy"
    np.save(path, np.array([Payload()], dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError, match=rf"{path}"):
        ds[0]
    assert not sentinel.exists()
    np.load(path, allow_pickle=True)  # the payload is live: loading it unsafely runs it
    assert sentinel.exists()


# ---- augmentation --------------------------------------------------------------------------


def test_symmetries_act_on_images_azimuths_and_vectors_like_the_scene():
    image = np.arange(2 * 5 * 5, dtype=np.float32).reshape(2, 5, 5)
    assert np.rot90(image, 1, axes=(-2, -1))[0, 0, 0] == image[0, 0, -1]  # counter-clockwise
    for s in D4:
        op, turn = OWN[s.name]
        np.testing.assert_array_equal(s.apply(image), op(image))
        for a in (0.0, 30.0, 135.0, 250.0):
            assert s.azimuth(a) == pytest.approx(turn(a) % 360)
            # the light's own direction (scene x, y) turns like any vector
            lx, ly, _ = RenderParams(light_azimuth=a).light_direction()
            tx, ty, _ = RenderParams(light_azimuth=s.azimuth(a)).light_direction()
            assert s.vector(lx, ly) == pytest.approx((tx, ty))


def test_a_fixed_light_keeps_only_the_symmetries_that_fix_its_azimuth():
    def names(a):
        return {s.name for s in allowed_symmetries([a], light_known=False)}

    assert names(135) == {"identity", "mirror135"}
    assert names(90) == {"identity", "mirror90"}
    assert names(-270) == {"identity", "mirror90"}
    assert names(0) == {"identity", "mirror0"}
    assert names(45) == {"identity", "mirror45"}
    assert names(30) == {"identity"}
    assert names(90 + 1e-9) == {"identity", "mirror90"}
    assert len(allowed_symmetries([30], light_known=True)) == 8
    assert {s.name for s in allowed_symmetries([90, 0], light_known=False)} == {"identity"}


@pytest.mark.parametrize(
    ("fixture", "azimuth", "mirror"), [("light135", 135, "mirror135"), ("light90", 90, "mirror90")]
)
def test_with_a_fixed_light_every_augmented_pair_is_a_true_render(
    request, fixture, azimuth, mirror
):
    root = request.getfixturevalue(fixture)
    ds = Pairs(root, "all", inputs=("source", "light"), crop=None, augment=True)
    assert [s.name for s in ds.transforms] == ["identity", mirror]
    used = {}
    for epoch in range(6):
        ds.set_epoch(epoch)
        for i, index in enumerate(ds.indices):
            x, y = ds[i]
            pair = np.concatenate([x[:1].numpy(), y.numpy()])
            original = np.concatenate([stored(root, index, n) for n in ("source", "target")])
            (name,) = which(original, pair)  # the mask alone is never symmetric here
            assert name in ("identity", mirror)
            used.setdefault(name, (i, pair))
            a, e = math.radians(azimuth), math.radians(30)  # the light itself never turns
            np.testing.assert_allclose(
                x[1:, 0, 0], light_vector(a, e), atol=1e-6
            )
    assert set(used) == {"identity", mirror}
    # the mirrored pair is what the renderer gives for the mirrored mask under the same light;
    # a quarter turn, which moves the light, is not
    i, pair = used[mirror]
    params = ds.render_params(i)
    assert agreement(render(pair[0], params).beauty, pair[1:]) > 0.99
    quarter = OWN["rot90"][0](pair)
    assert agreement(render(quarter[0], params).beauty, quarter[1:]) < 0.9


def test_augmentation_is_off_when_no_symmetry_keeps_the_light(varied):
    # the azimuth varies but the network is not told it: only the identity is true
    ds = Pairs(varied, "train", inputs=("source",), crop=None, augment=True)
    assert [s.name for s in ds.transforms] == ["identity"]
    for i, index in enumerate(ds.indices):
        np.testing.assert_array_equal(ds[i][0].numpy(), stored(varied, index, "source"))


def test_with_the_light_as_input_all_8_symmetries_are_true_renders_with_the_light_turned(varied):
    ds = Pairs(
        varied,
        "all",
        inputs=("source", "light"),
        targets=("target", "normal"),
        crop=None,
        augment=True,
    )
    assert len(ds.transforms) == 8
    i, index = 0, ds.indices[0]
    params = ds.render_params(i)
    original = np.concatenate([stored(varied, index, n) for n in ("source", "target", "normal")])
    for s in D4:
        ds.transforms = (s,)  # force each symmetry in turn
        x, y = ds[i]
        op, turn = OWN[s.name]
        moved = op(original)
        assert which(original[:1], x[:1].numpy()) == [s.name]
        np.testing.assert_array_equal(y[:3].numpy(), moved[1:4])
        azimuth = turn(params.light_azimuth)
        a, e = math.radians(azimuth), math.radians(params.light_elevation)
        np.testing.assert_allclose(
            x[1:, 5, 7].numpy(), light_vector(a, e), atol=1e-6
        )
        # a fresh render of the moved mask under the turned light gives the moved image and
        # its normals, which must turn with the image; under the old light it does not
        fresh = render(x[0].numpy(), params.model_copy(update={"light_azimuth": azimuth % 360}))
        assert agreement(fresh.beauty, y[:3]) > 0.99, s.name
        assert agreement(fresh.normal, y[3:], tol=0.02) > 0.99, s.name
        if s.name != "identity":
            assert agreement(render(x[0].numpy(), params).beauty, y[:3]) < 0.9, s.name


def test_a_quarter_turn_makes_walls_facing_right_face_up(varied):
    ds = Pairs(
        varied, "all", inputs=("source", "light"), targets=("normal",), crop=None, augment=True
    )
    ds.transforms = tuple(s for s in D4 if s.name == "rot90")
    normal = stored(varied, ds.indices[0], "normal")
    facing_right = normal[0] > 0.5  # walls and bevels whose normal points to +x
    assert facing_right.sum() > 20
    _, y = ds[0]
    moved = np.rot90(facing_right, 1)  # where those pixels went
    # up on screen is −y in scene coordinates (y runs down the rows)
    assert np.all(y[1].numpy()[moved] < -0.5)


def test_all_8_symmetries_are_drawn_over_epochs_when_the_light_is_an_input(varied):
    ds = Pairs(varied, "all", inputs=("source", "light"), crop=None, augment=True)
    seen = set()
    for epoch in range(8):
        ds.set_epoch(epoch)
        for i, index in enumerate(ds.indices):
            seen.update(which(stored(varied, index, "source"), ds[i][0][:1].numpy()))
    assert seen == set(OWN)


def test_decoded_images_are_kept_and_crops_of_them_match_the_files(light90, monkeypatch):
    """PNGs are decoded once and kept (up to CACHE_BYTES): every later crop, mirrored or not,
    is the file's pixels, and a caller changing what it got does not change the cache."""
    from neuralshade.data import datasets

    ds = BufferDataset(light90, "train", ["source", "target"], crop=16, augment=True)
    first = [ds[i] for i in range(len(ds))]
    assert len(ds._decoded) == 2 * len(ds)  # every file, decoded once
    first[0]["target"] += 1.0  # the caller's copy
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        monkeypatch.setattr(datasets, "CACHE_BYTES", 0)
        uncached = BufferDataset(light90, "train", ["source", "target"], crop=16, augment=True)
        uncached.set_epoch(epoch)
        for i in range(len(ds)):
            for name in ("source", "target"):
                assert torch.equal(ds[i][name], uncached[i][name])
        assert not uncached._decoded


def test_the_shape_height_input_is_each_samples_height_over_24_under_every_symmetry(
    tmp_path,
):
    root = make(tmp_path / "tall", count=4, size=24, vary={"height": [4, 8]})
    ds = Pairs(root, "all", inputs=("source", "shape_height"), crop=None, augment=True)
    heights = [ds.render_params(i).height for i in range(len(ds))]
    assert len(set(heights)) == len(heights)  # drawn per sample
    for s in D4:
        ds.transforms = (s,)
        for i, h in enumerate(heights):
            x, _ = ds[i]
            np.testing.assert_allclose(x[1].numpy(), np.full((24, 24), h / 24), rtol=1e-6)

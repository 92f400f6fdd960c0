"""Image symmetries act on each buffer by its kind: pixels move, vectors turn, labels stay."""

import numpy as np
import pytest

from neuralshade.data.augment import D4, crop_window
from neuralshade.data.schema import Buffer

RNG = np.random.default_rng(0)
SCALAR = Buffer(name="f", channels=1, kind="scalar", file="f.npy")
DOWN = Buffer(name="v", channels=3, kind="vector", file="v.npy", image_axes=(0, 1))
UP = Buffer(name="u", channels=2, kind="vector", image_axes=(1, 0), y_down=False)
IDS = Buffer(name="id", channels=1, kind="id", file="id.npy")
WORLD = Buffer(name="n", channels=3, kind="vector", file="n.npy")


def gradient(f: np.ndarray, y_down: bool = True) -> np.ndarray:
    """(∂f/∂x, ∂f/∂y) of an (H, W) image, x along the columns, y down (or up) the rows."""
    dy, dx = np.gradient(f)
    return np.stack([dx, dy if y_down else -dy])


@pytest.mark.parametrize("s", D4, ids=lambda s: s.name)
def test_a_vector_buffer_turns_as_the_gradient_of_the_moved_image(s):
    # an independent truth: the gradient of the moved image is the moved, turned gradient
    f = RNG.integers(0, 100, (9, 9)).astype(np.float64)
    moved = s.apply(f)
    v = np.concatenate([gradient(f), f[None]])  # a third component, which must only move
    np.testing.assert_array_equal(s.buffer(v, DOWN), np.concatenate([gradient(moved), moved[None]]))
    # a y-up vector stored with its components swapped (image_axes (1, 0)) turns the same way
    u = gradient(f, y_down=False)[::-1]
    np.testing.assert_array_equal(s.buffer(u, UP), gradient(moved, y_down=False)[::-1])


@pytest.mark.parametrize("s", D4, ids=lambda s: s.name)
def test_scalars_and_labels_only_move_and_keep_their_exact_values(s):
    f = RNG.normal(size=(1, 7, 7)).astype(np.float32)
    np.testing.assert_array_equal(s.buffer(f, SCALAR), s.apply(f))
    ids = RNG.integers(0, 5, (1, 7, 7)).astype(np.float32)
    out = s.buffer(ids, IDS)
    np.testing.assert_array_equal(np.sort(out, axis=None), np.sort(ids, axis=None))
    assert set(np.unique(out)) <= set(np.unique(ids))


def test_a_world_space_vector_cannot_follow_an_image_symmetry():
    assert not WORLD.follows_symmetries and DOWN.follows_symmetries and SCALAR.follows_symmetries
    n = RNG.normal(size=(3, 4, 4))
    np.testing.assert_array_equal(D4[0].buffer(n, WORLD), n)
    with pytest.raises(AssertionError, match="cannot follow"):
        D4[1].buffer(n, WORLD)


def test_crop_windows_stay_inside_and_cover_every_position():
    seen = set()
    for seed in range(400):
        rows, cols = crop_window((10, 10), 8, np.random.default_rng(seed))
        assert 0 <= rows.start and rows.stop <= 10 and rows.stop - rows.start == 8
        assert 0 <= cols.start and cols.stop <= 10 and cols.stop - cols.start == 8
        seen.add((rows.start, cols.start))
    assert seen == {(r, c) for r in range(3) for c in range(3)}
    rows, cols = crop_window((6, 20), 5, np.random.default_rng(1))  # not square
    assert rows.stop <= 6 and cols.stop <= 20


def test_bad_schemas_are_refused():
    with pytest.raises(ValueError, match="only a vector"):
        Buffer(name="x", channels=2, kind="scalar", image_axes=(0, 1))
    with pytest.raises(ValueError, match="bad image_axes"):
        Buffer(name="x", channels=2, kind="vector", image_axes=(0, 2))
    with pytest.raises(ValueError, match="unknown file type"):
        Buffer(name="x", channels=1, kind="mask", file="x.jpg")

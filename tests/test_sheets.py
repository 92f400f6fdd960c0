"""Contact sheets show each buffer by its kind, labelled, in a grid."""

import numpy as np
import pytest

from neuralshade.sheets import LABEL_HEIGHT, contact_sheet, display


def test_each_kind_maps_to_the_picture_it_should():
    normal = np.zeros((2, 2, 3), np.float32)
    normal[..., 1] = 1.0  # facing up: (0.5, 1, 0.5)
    np.testing.assert_allclose(display(normal, "vector")[0, 0], [0.5, 1.0, 0.5])
    position = np.array([[[0, 0, 0], [4, 2, -4]]], np.float32)  # beyond [-1, 1]: own range
    np.testing.assert_allclose(display(position, "vector")[0], [[0.5, 0.5, 0.5], [1, 0.75, 0]])
    linear = np.array([[[0.0, 0.0031308, 0.5]]], np.float32)  # the sRGB curve's own values
    np.testing.assert_allclose(display(linear, "linear")[0, 0], [0, 0.04045, 0.7353570], atol=1e-4)
    depth = np.array([[0.0, 2.0], [4.0, 8.0]], np.float32)
    np.testing.assert_allclose(display(depth, "scalar")[..., 0], depth / 8)
    ao = np.array([[0.25, 1.0]], np.float32)  # already in [0, 1]: as it is
    np.testing.assert_allclose(display(ao, "scalar")[..., 0], ao)
    ids = np.array([[0.0, 0.5], [0.5, 1.0]], np.float32)
    shown = display(ids, "id")
    assert np.array_equal(shown[0, 1], shown[1, 0]) and not np.array_equal(shown[0, 0], shown[1, 1])


def test_the_sheet_is_a_labelled_grid_of_equal_tiles():
    panels = [(f"b{i}", np.full((8, 6), i / 5, np.float32), "scalar") for i in range(5)]
    sheet = contact_sheet(panels, columns=3, scale=2)
    tile_h, tile_w = 16 + LABEL_HEIGHT, 12
    assert sheet.shape == (2 * tile_h, 3 * tile_w, 3) and sheet.dtype == np.uint8
    # the second tile's image (below its label strip) is its value in grey
    assert np.all(sheet[LABEL_HEIGHT:tile_h, tile_w : 2 * tile_w] == round(255 * 0.2))
    assert np.all(sheet[tile_h:, 2 * tile_w :] == 255)  # the grid's empty last place
    with pytest.raises(ValueError, match="share one size"):
        contact_sheet([("a", np.zeros((4, 4)), "mask"), ("b", np.zeros((5, 4)), "mask")])

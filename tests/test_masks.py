"""Decoding graph-coloured masks: equal colours that do not touch are different nuclei."""

import numpy as np
import pytest

from nucseg_zoo.datasets import decode_graph_coloured_mask


def test_same_colour_apart_and_touching_different_colours():
    red = np.array([[1, 1, 0, 1],
                    [1, 2, 0, 1],
                    [0, 2, 0, 0],
                    [3, 0, 0, 1]], np.uint8)
    rgba = np.stack([red, np.zeros_like(red), np.zeros_like(red), np.full_like(red, 255)], axis=-1)
    labels = decode_graph_coloured_mask(rgba)
    assert labels.dtype == np.int32
    assert labels.max() == 5  # two separate colour-1 regions + 2 + 3 + the lone 1 at (3, 3)
    assert labels[0, 0] != labels[0, 3] and labels[0, 0] != labels[1, 1]


def test_diagonal_neighbours_join_only_with_8_connectivity():
    red = np.array([[1, 0], [0, 1]], np.uint8)
    assert decode_graph_coloured_mask(red).max() == 2
    assert decode_graph_coloured_mask(red, connectivity=2).max() == 1


def test_rejects_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        decode_graph_coloured_mask(np.zeros((2, 2, 2, 2)))

"""Counts and articles in messages: "1 nucleus", "2 nuclei", "an int" (never "1 nuclei", "a int")."""

from __future__ import annotations

import pytest

from nucseg_zoo._text import a, count


@pytest.mark.parametrize(("n", "noun", "expected"), [
    (0, "nucleus", "0 nuclei"), (1, "nucleus", "1 nucleus"), (2, "nucleus", "2 nuclei"),
    (1, "image", "1 image"), (8596, "predicted object", "8,596 predicted objects"),
])
def test_count_uses_the_right_form(n, noun, expected):
    assert count(n, noun) == expected


@pytest.mark.parametrize(("word", "expected"), [("int", "an int"), ("list", "a list"),
                                                ("NoneType", "a NoneType"), ("Image", "an Image")])
def test_article_follows_the_spelling(word, expected):
    assert a(word) == expected


def test_a_comparison_of_one_nucleus_says_nucleus():
    import numpy as np

    from nucseg_zoo.leaderboard.compare import Comparison

    comparison = Comparison(image="x", first="a", second="b", only_first=np.array([3]), only_second=np.array([]),
                            both=np.array([1, 2]), neither=np.array([4]))
    assert comparison.summary() == ("x: a finds 1 nucleus that b misses, b finds 0 that a misses; both find 2, "
                                    "both miss 1 (IoU 0.7)")

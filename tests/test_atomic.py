"""Atomic writes: a failed write leaves the old file and no temporary file behind."""

import pytest

from nucseg_zoo._atomic import atomic_path, write_text_atomically


def test_write_replaces_the_file(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("old")
    write_text_atomically(target, "new")
    assert target.read_text() == "new"
    assert list(tmp_path.iterdir()) == [target]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]

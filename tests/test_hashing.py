"""Content hashes (:mod:`nucseg_zoo._hashing`): of one file, and of a set of files by name."""

from __future__ import annotations

import hashlib

import pytest

from nucseg_zoo._hashing import hash_of_files, sha256_of


def test_sha256_of_a_file_is_that_of_its_bytes_whatever_the_chunk_size(tmp_path):
    data = bytes(range(256)) * 5000
    (tmp_path / "a.bin").write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert sha256_of(tmp_path / "a.bin") == sha256_of(tmp_path / "a.bin", chunk_size=7) == expected
    with pytest.raises(FileNotFoundError):
        sha256_of(tmp_path / "missing.bin")


def test_a_set_of_files_is_hashed_by_name_and_content_in_order(tmp_path):
    (tmp_path / "sub").mkdir()
    a, b = tmp_path / "a.txt", tmp_path / "sub" / "b.txt"
    a.write_text("a")
    b.write_text("b")
    lines = f"a.txt\0{sha256_of(a)}\nb.txt\0{sha256_of(b)}\n"
    assert hash_of_files([a, b]) == hashlib.sha256(lines.encode()).hexdigest()
    assert hash_of_files([a, b], root=tmp_path) != hash_of_files([a, b])  # sub/b.txt, not b.txt
    assert hash_of_files([b, a]) != hash_of_files([a, b])
    copy = tmp_path / "elsewhere"
    copy.mkdir()
    (copy / "a.txt").write_text("a")
    assert hash_of_files([copy / "a.txt"]) == hash_of_files([a])

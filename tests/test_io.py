"""Where files live (:mod:`nucseg_zoo._io`): the download cache, URLs, JSON-lines records."""

from __future__ import annotations

import json
from pathlib import Path

import pooch
import pytest

from nucseg_zoo._io import DATA_DIR_ENV, cache_dir, is_url, read_jsonl


def test_the_cache_is_the_configured_folder_else_the_os_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache" and not (tmp_path / "cache").exists()  # named, not created
    monkeypatch.delenv(DATA_DIR_ENV)
    assert cache_dir() == Path(pooch.os_cache("nucseg-zoo"))
    monkeypatch.setenv(DATA_DIR_ENV, "")
    assert cache_dir() == Path(pooch.os_cache("nucseg-zoo"))


@pytest.mark.parametrize("location, url", [
    ("https://example.org/model.zip", True), ("HTTP://example.org/a", True), ("ftp://host/x", True),
    ("file:///data/x.zip", True), ("data/model.zip", False), ("/abs/path", False), ("C:\\models\\x.zip", False),
    ("mylab:segment", False),
])
def test_urls_are_told_from_paths_by_their_scheme(location, url):
    assert is_url(location) is url


def test_jsonl_records_skip_blank_lines(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text(json.dumps({"epoch": 1}) + "\n\n  \n" + json.dumps({"epoch": 2}) + "\n")
    assert read_jsonl(path) == [{"epoch": 1}, {"epoch": 2}]
    path.write_text("{not json\n")
    with pytest.raises(json.JSONDecodeError):
        read_jsonl(path)

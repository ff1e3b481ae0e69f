"""Model packages by URL (``nucseg_zoo/downloads.py``, through the resolver): one pooch download path, checked to be a
model package before it enters the cache, and the hash recorded is the hash of what runs.

Every test serves a real package (the outside lab's ONNX model from ``external_model``)
from a loopback server and "fixes the server" between calls by editing its dicts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from pathlib import Path

import pytest
import yaml
from external_model import build_external_package
from loopback import LoopbackServer, zip_bytes

from nucseg_zoo.cli import main
from nucseg_zoo.downloads import DownloadError
from nucseg_zoo.evaluation import evaluate_source
from nucseg_zoo.segmenters import resolve_source

HTML_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Download quota exceeded</title></head>\n"
             b"<body><p>Please log in to download this file.</p></body></html>\n")
PACKAGE_FILES = ("rdf.yaml", "input.npy", "output.npy", "weights.onnx", "README.md", "cover.png")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    """Every test gets its own download and result cache; returns its models folder."""
    monkeypatch.setenv("NUCSEG_ZOO_DATA_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


@pytest.fixture(scope="module")
def package(sample_split, tmp_path_factory) -> Path:
    """The outside lab's ONNX package (its folder also holds rdf.yaml and the files it names)."""
    return build_external_package(tmp_path_factory.mktemp("external"), sample_split[0].image)


@pytest.fixture
def server():
    server = LoopbackServer({})
    yield server
    server.close()


def _listing(folder: Path) -> list[str]:
    """Everything under ``folder`` (hidden temporary files included), relative names."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _serve_zip(server: LoopbackServer, package: Path) -> tuple[str, bytes]:
    data = package.read_bytes()
    server.files["model.zip"], server.types["model.zip"] = data, "application/zip"
    return server.url + "model.zip", data


# ---------------------------------------------------------------- a zip URL


def test_an_html_page_is_refused_then_the_fixed_url_runs_the_hashed_zip(package, server, cache, capsys):
    url = server.url + "model.zip"
    server.files["model.zip"], server.types["model.zip"] = HTML_PAGE, "text/html; charset=utf-8"
    with pytest.raises(DownloadError, match=re.escape(f"{url} sent an HTML page, not a bioimage.io model package "
                                                      "(text/html; charset=utf-8, 138 bytes, starting b'<!DOCTYPE")):
        resolve_source(url)
    assert main(["evaluate", url, "--dataset", "bbbc039-sample", "--limit", "1"]) == 2
    assert f"{url} sent an HTML page, not a bioimage.io model package" in capsys.readouterr().err
    assert _listing(cache) == []

    url, data = _serve_zip(server, package)  # the server is fixed
    source = resolve_source(url)
    assert source.sha256 == _sha256(data) and source.kind == "bioimageio" and source.name == "model.zip"
    location = Path(source.location)
    assert location.parent == cache and location.read_bytes() == data
    assert _listing(cache) == [location.name, location.name + ".sha256"]
    assert (cache / (location.name + ".sha256")).read_text() == _sha256(data) + "\n"
    result = evaluate_source(url, dataset="bbbc039-sample", limit=1)
    assert result.provenance["source_sha256"] == _sha256(data)
    assert result.provenance["output_kind"] == "foreground_boundary"
    assert server.requests == ["model.zip"] * 3  # page twice, the package once: bioimageio.core never fetched it


@pytest.mark.parametrize("body, content_type, what", [
    (lambda package_bytes: package_bytes[: len(package_bytes) // 2], "application/zip",
     r"a truncated or corrupt zip archive, not a bioimage.io model package \(application/zip, \d+ bytes, "
     r"starting b'PK\\x03\\x04"),
    (lambda package_bytes: b'{"error": "rate limit exceeded", "retry_after": 3600}', "application/json",
     r"a JSON document, not a bioimage.io model package \(application/json, 53 bytes, starting b'\{\"error\""),
    (lambda package_bytes: zip_bytes({"README.md": b"# no rdf here\n"}), "application/zip",
     r"a zip archive without rdf.yaml or \*.bioimageio.yaml at its root, not a bioimage.io model package"),
    (lambda package_bytes: zip_bytes({"rdf.yaml": b"type: dataset\nformat_version: 0.3.0\n"}), None,
     r"a zip archive whose rdf.yaml is not a model rdf \(type: dataset\), not a bioimage.io model package "
     r"\(no Content-Type"),
    (lambda package_bytes: b"", None, r"an empty file, not a bioimage.io model package \(no Content-Type, 0 bytes"),
], ids=["truncated-zip", "json-error", "zip-without-rdf", "dataset-zip", "empty"])
def test_what_is_not_a_model_package_is_refused_and_not_cached(package, server, cache, body, content_type, what):
    url = server.url + "model.zip"
    server.files["model.zip"] = body(package.read_bytes())
    if content_type:
        server.types["model.zip"] = content_type
    with pytest.raises(DownloadError, match=re.escape(f"{url} sent ") + what):
        resolve_source(url)
    assert _listing(cache) == []
    assert server.requests == ["model.zip"]  # a complete answer is not retried


def test_an_interrupted_transfer_names_the_url_leaves_nothing_and_the_next_run_works(package, server, cache):
    url, data = _serve_zip(server, package)
    server.drops["model.zip"] = 100  # every try is cut off half-way
    with pytest.raises(DownloadError, match=re.escape(f"download of {url} was interrupted or failed after 4 tries")):
        resolve_source(url)
    assert server.requests == ["model.zip"] * 4  # one try + three retries
    assert _listing(cache) == []  # no partial file, no temporary file, no hash record
    server.drops.clear()
    assert resolve_source(url).sha256 == _sha256(data)
    assert len(server.requests) == 5


def test_one_dropped_transfer_is_retried(package, server, cache):
    url, data = _serve_zip(server, package)
    server.drops["model.zip"] = 1
    source = resolve_source(url)
    assert source.sha256 == _sha256(data) and Path(source.location).read_bytes() == data
    assert server.requests == ["model.zip"] * 2


def test_an_html_page_cached_by_an_older_version_is_downloaded_again(package, server, cache, caplog):
    url, data = _serve_zip(server, package)
    # what the previous version left: the page under the URL's cache name, with its hash recorded
    stale = cache / (_sha256(url.encode())[:16] + "-model.zip")
    cache.mkdir(parents=True)
    stale.write_bytes(HTML_PAGE)
    (cache / (stale.name + ".sha256")).write_text(_sha256(HTML_PAGE) + "\n")
    with caplog.at_level(logging.WARNING, logger="nucseg_zoo.downloads"):
        source = resolve_source(url)
    assert "is not a model package zip but an HTML page; discarding it and downloading again" in caplog.text
    assert source.sha256 == _sha256(data) and source.location == str(stale)
    assert stale.read_bytes() == data
    assert (cache / (stale.name + ".sha256")).read_text() == _sha256(data) + "\n"
    assert server.requests == ["model.zip"]


def test_a_sha256_pin_is_enforced_and_a_mismatch_caches_nothing(package, server, cache):
    url, data = _serve_zip(server, package)
    with pytest.raises(DownloadError, match=f"download of {re.escape(url)} failed its hash check: "
                                            f"sha256 {_sha256(data)}, expected {'0' * 64}; nothing was cached"):
        resolve_source(url, sha256="0" * 64)
    assert _listing(cache) == []
    assert resolve_source(url, sha256=_sha256(data)).sha256 == _sha256(data)
    with pytest.raises(DownloadError, match="cached download .* expected 1{64}; delete it to download again"):
        resolve_source(url, sha256="1" * 64)
    assert server.requests == ["model.zip"] * 2


# ---------------------------------------------------------------- a bare rdf URL


def _serve_rdf(server: LoopbackServer, package: Path, **replaced: bytes) -> tuple[str, dict[str, bytes]]:
    served = {name: replaced.get(name, (package.parent / name).read_bytes()) for name in PACKAGE_FILES}
    server.files.update(served)
    return server.url + "rdf.yaml", served


def test_an_rdf_url_runs_from_local_copies_of_every_file_it_names(package, server, cache):
    url, served = _serve_rdf(server, package)
    source = resolve_source(url)
    root = Path(source.location).parent
    assert Path(source.location) == root / "rdf.yaml" and root.parent == cache
    assert _listing(root) == sorted(PACKAGE_FILES)
    assert all((root / name).read_bytes() == data for name, data in served.items())
    lines = [f"{name}\0{_sha256(served[name])}\n" for name in ["rdf.yaml", *sorted(PACKAGE_FILES[1:])]]
    expected = _sha256("".join(lines).encode())
    assert source.sha256 == expected
    assert (cache / (root.name + ".sha256")).read_text() == expected + "\n"
    assert sorted(server.requests) == sorted(PACKAGE_FILES)

    server.files.clear()  # from now on the URL answers 404: everything runs from the cache
    result = evaluate_source(url, dataset="bbbc039-sample", limit=1)
    assert result.provenance["source_sha256"] == expected
    assert result.provenance["output_kind"] == "foreground_boundary"
    # a pin may be the rdf file's own hash or the recorded one
    assert resolve_source(url, sha256=_sha256(served["rdf.yaml"])).sha256 == expected
    assert resolve_source(url, sha256=expected).sha256 == expected
    assert len(server.requests) == len(PACKAGE_FILES)
    (root / "weights.onnx").write_bytes(b"swapped")
    with pytest.raises(DownloadError, match="cached download .* it changed on disk"):
        resolve_source(url)


def test_an_rdf_file_that_differs_from_its_pinned_sha256_is_refused(package, server, cache):
    url, served = _serve_rdf(server, package, **{"input.npy": b"\x93NUMPY not the test input"})
    pinned = yaml.safe_load(served["rdf.yaml"])["inputs"][0]["test_tensor"]["sha256"]
    with pytest.raises(DownloadError, match=re.escape(f"input.npy, named in the rdf at {url}, has sha256 "
                                                      f"{_sha256(served['input.npy'])} at {server.url}input.npy")
                       + f".*but the rdf pins {pinned}; nothing was cached"):
        resolve_source(url)
    assert _listing(cache) == []


def test_an_unpinned_rdf_file_that_is_an_html_page_is_refused(package, server, cache):
    url, served = _serve_rdf(server, package, **{"README.md": HTML_PAGE})
    server.types["README.md"] = "text/html"
    with pytest.raises(DownloadError, match=re.escape(f"{server.url}README.md, named 'README.md' in the rdf at {url},"
                                                      " sent an HTML page (text/html")):
        resolve_source(url)
    assert _listing(cache) == []


def test_an_rdf_naming_a_file_outside_its_folder_is_refused(package, server, cache):
    rdf = yaml.safe_load((package.parent / "rdf.yaml").read_text())
    rdf["documentation"] = "../README.md"
    url, _ = _serve_rdf(server, package, **{"rdf.yaml": yaml.safe_dump(rdf).encode()})
    with pytest.raises(DownloadError, match=re.escape(f"the rdf at {url} names '../README.md', which is not a "
                                                      "file beside it")):
        resolve_source(url)
    assert _listing(cache) == []
    assert server.requests == ["rdf.yaml"]


# ---------------------------------------------------------------- submit and verify


def test_submit_by_url_refuses_a_page_then_records_the_hash_of_what_ran(package, server, tmp_path, cache,
                                                                        bbbc039_mirror, capsys):
    from nucseg_zoo.leaderboard import verify

    board = Path(shutil.copytree(Path(__file__).resolve().parent.parent / "validation", tmp_path / "validation"))
    before = sorted((p.name, p.read_bytes()) for p in board.rglob("*") if p.is_file())
    url = server.url + "model.zip"
    server.files["model.zip"], server.types["model.zip"] = HTML_PAGE, "text/html"
    args = ["submit", url, "--name", "Threshold by URL", "--author", "An Outside Lab", "--dir", str(board)]
    assert main(args) == 2
    assert f"{url} sent an HTML page, not a bioimage.io model package" in capsys.readouterr().err
    assert sorted((p.name, p.read_bytes()) for p in board.rglob("*") if p.is_file()) == before
    assert _listing(cache) == []

    url, data = _serve_zip(server, package)
    assert main(args) == 0
    record = json.loads((board / "results" / "threshold-by-url.json").read_text())
    assert record["entry"]["source"] == url and record["entry"]["source_sha256"] == _sha256(data)
    assert record["evaluation"]["source_sha256"] == _sha256(data)
    [check] = verify(board, ["threshold-by-url"])
    assert check.passed, check.message
    assert server.requests == ["model.zip"] * 2  # the page, then the package once for submit and verify

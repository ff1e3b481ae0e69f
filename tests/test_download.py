"""The real pooch download path against a loopback HTTP server serving small archives."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from dataclasses import replace
from types import MappingProxyType

import numpy as np
import pytest

from nucseg_zoo import datasets
from nucseg_zoo.datasets.card import SplitInfo
from nucseg_zoo.datasets.source import dataset_root


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


class _Server:
    """Serves ``files`` on 127.0.0.1; ``drops[name]`` responses are cut off half-way first."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.drops, self.requests = files, {}, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                name = self.path.rsplit("/", 1)[-1]
                server.requests.append(name)
                data = server.files.get(name)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if server.drops.get(name, 0) > 0:
                    server.drops[name] -= 1
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/bbbc/"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(sample_split, tmp_path, monkeypatch):
    """A loopback server with images.zip / masks.zip of one sample image, and a test card."""
    monkeypatch.setenv("NUCSEG_ZOO_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("NUCSEG_ZOO_TESTSET_MIRROR", raising=False)
    sample = sample_split[0]
    files = {
        "images.zip": _zip({f"images/{sample.name}.tif": sample.image_path.read_bytes()}),
        "masks.zip": _zip({f"masks/{sample.name}.png": sample.mask_path.read_bytes()}),
    }
    server = _Server(files)
    real = datasets.card("bbbc039")
    relpaths = [f"images/{sample.name}.tif", f"masks/{sample.name}.png"]
    card = replace(
        real, id="testset", base_url=server.url,
        archives=MappingProxyType({k: "sha256:" + hashlib.sha256(v).hexdigest() for k, v in files.items()}),
        manifest=MappingProxyType({p: real.manifest[p] for p in relpaths}),
        splits=MappingProxyType({"test": SplitInfo("test", (sample.name,), int(sample.labels.max()))}),
    )
    yield server, card, relpaths, tmp_path / "cache"
    server.close()


def test_correct_hash_downloads_extracts_and_loads(served, sample_split):
    server, card, relpaths, cache = served
    root = dataset_root(card, relpaths)
    assert root == cache / "testset"
    labels = datasets.decode_graph_coloured_mask(__import__("imageio").v3.imread(root / relpaths[1]))
    np.testing.assert_array_equal(labels, sample_split[0].labels)
    assert sorted(server.requests) == ["images.zip", "masks.zip"]
    dataset_root(card, relpaths)  # second call: served from the cache
    assert len(server.requests) == 2


def test_wrong_hash_is_an_error_and_leaves_no_file(served):
    server, card, relpaths, cache = served
    bad = replace(card, archives=MappingProxyType({**card.archives, "images.zip": "sha256:" + "0" * 64}))
    with pytest.raises(ValueError, match="SHA256 hash"):
        dataset_root(bad, relpaths)
    assert not (cache / "testset" / "images.zip").exists()
    assert not (cache / "testset" / "images").exists()


def test_dropped_connection_is_retried(served, sample_split):
    server, card, relpaths, cache = served
    server.drops["images.zip"] = 1
    root = dataset_root(card, relpaths)
    assert server.requests.count("images.zip") == 2
    assert (root / relpaths[0]).read_bytes() == sample_split[0].image_path.read_bytes()


def test_a_server_that_always_drops_never_yields_a_truncated_file(served):
    server, card, relpaths, cache = served
    server.drops["images.zip"] = 100
    with pytest.raises(Exception):
        dataset_root(card, relpaths)
    assert server.requests.count("images.zip") == 4  # one try + three retries
    assert not (cache / "testset" / "images.zip").exists()
    assert not (cache / "testset" / "images").exists()


def test_mirror_url_replaces_the_official_base(served):
    server, card, relpaths, cache = served
    official = replace(card, base_url="https://data.broadinstitute.org/bbbc/BBBC039/")
    assert dataset_root(official, relpaths, mirror=server.url) == cache / "testset"

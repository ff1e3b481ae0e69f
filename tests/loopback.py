"""A loopback HTTP server for download tests (no network needed)."""

from __future__ import annotations

import http.server
import io
import threading
import zipfile


class LoopbackServer:
    """Serves ``files`` on 127.0.0.1; ``drops[name]`` responses are cut off half-way first.

    ``files``, ``types`` (name -> Content-Type header, sent only for the names listed) and
    ``drops`` are plain dicts the test may change between requests ("fix the server").
    ``requests`` lists the names asked for, in order.
    """

    def __init__(self, files: dict[str, bytes], types: dict[str, str] | None = None):
        self.files, self.types, self.drops, self.requests = files, dict(types or {}), {}, []
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
                if name in server.types:
                    self.send_header("Content-Type", server.types[name])
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
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/files/"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A zip archive holding ``members`` (name -> bytes), as bytes to serve."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()

"""A loopback HTTP server for download tests: serves named byte strings, honours `Range:
bytes=N-` (206), can cut a response short, and records every request."""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import socket
import threading


@dataclasses.dataclass
class Served:
  files: dict[str, bytes]
  # name -> body bytes a response sends before the connection is dropped; `cut_times` says for
  # how many requests of that name (later ones are served whole).
  cut_after: dict[str, int] = dataclasses.field(default_factory=dict)
  cut_times: int = 1
  requests: list[tuple[str, str | None]] = dataclasses.field(default_factory=list)

  def requested(self, name: str) -> list[str | None]:
    """The Range headers of the requests for `name`, in order (None: no Range)."""
    return [r for n, r in self.requests if n == name]


def _handler(served: Served):
  class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep pytest output clean
      pass

    def do_GET(self):
      name = self.path.lstrip("/")
      ranged = self.headers.get("Range")
      served.requests.append((name, ranged))
      data = served.files.get(name)
      if data is None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return
      start = int(ranged.split("=", 1)[1].split("-", 1)[0]) if ranged else 0
      if start >= len(data):
        self.send_response(416)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return
      self.send_response(206 if start else 200)
      if start:
        self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
      self.send_header("Content-Length", str(len(data) - start))
      self.end_headers()
      body = data[start:]
      cut = served.cut_after.get(name)
      if cut is not None and len(served.requested(name)) <= served.cut_times:
        self.wfile.write(body[:cut])
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True
        return
      self.wfile.write(body)

  return Handler


@contextlib.contextmanager
def serve(served: Served):
  """Yields the base URL (`http://127.0.0.1:<port>`) of a server for `served`."""
  server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    yield f"http://127.0.0.1:{server.server_address[1]}"
  finally:
    server.shutdown()
    server.server_close()

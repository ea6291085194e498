"""Paths a user gives us (workdirs, overrides, caches, report inputs and outputs), resolved once at
the edge, and the few ways we write files so that they work on local disks and object stores alike.

Resolution: `gs://`-style URLs stay as they are; anything else becomes absolute against the current
working directory (Orbax refuses relative paths, and a relative path read later by another process
or after a `chdir` would point somewhere else). Everything downstream is an `etils.epath.Path`, so
local and `gs://` run through the same code (never `pathlib.Path(gs_path)`, which turns
`gs://b/run` into `gs:/b/run`).

Object stores have no append and no rename-in-place: files are written whole (`write_atomic`), and
logs that grow are rewritten (see tracking.py), never opened with "a".
"""

from __future__ import annotations

import os
import tempfile
from typing import Union

from etils import epath

from stilts_jax.errors import UserError

PathLike = Union[str, os.PathLike, epath.Path]

# URL schemes that need extra packages, and what to install for them.
_BACKENDS = {"gs": (("gcsfs", "google.cloud.storage"), 'pip install "stilts-jax[gcs]"'),
             "s3": (("s3fs",), "pip install s3fs")}


class PathError(UserError, ValueError):
  """A user-given path cannot be used (wrong scheme, missing backend package)."""


def is_url(path: PathLike) -> bool:
  return "://" in os.fspath(path)


def scheme(path: PathLike) -> str | None:
  text = os.fspath(path)
  return text.split("://", 1)[0] if "://" in text else None


def resolve(path: PathLike) -> epath.Path:
  """`path` as an `epath.Path`: URLs kept, local paths made absolute (and `~` expanded)."""
  text = os.fspath(path)
  if not text:
    raise PathError("empty path")
  if is_url(text):
    check_backend(text)
    return epath.Path(text)
  return epath.Path(os.path.abspath(os.path.expanduser(text)))


def check_backend(path: PathLike) -> None:
  """Fails with the install command when the packages a URL scheme needs are missing.

  Without this, a `gs://` workdir without gcsfs fails at the first file operation, possibly after
  the checkpoint download, with an ImportError from deep inside etils or tensorboardX.
  """
  import importlib.util
  kind = scheme(path)
  if kind not in _BACKENDS:
    return
  modules, how = _BACKENDS[kind]
  missing = []
  for module in modules:
    try:
      found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a missing parent package (google.cloud)
      found = False
    if not found:
      missing.append(module)
  if missing:
    raise PathError(f"{os.fspath(path)}: {kind}:// paths need {', '.join(missing)}; install "
                    f"them with: {how}")


def user_cache_dir() -> str:
  """stilts-jax's local cache: $XDG_CACHE_HOME/stilts_jax, else ~/.cache/stilts_jax."""
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "stilts_jax")


# The settings of the caches (`compilation_cache_dir`, `data.cache_dir`): "" = the default under
# user_cache_dir(), OFF = no cache, anything else = that directory.
OFF = "none"


def is_off(setting: str) -> bool:
  return setting.strip().lower() == OFF


def write_atomic(path: PathLike, data: bytes | str) -> None:
  """Writes the whole file so a reader never sees half of it.

  Locally: a temp file in the same directory, then rename. On object stores an upload only
  becomes visible once complete, so a plain write is already atomic.
  """
  path = epath.Path(path)
  payload = data.encode("utf-8") if isinstance(data, str) else data
  if is_url(path):
    path.write_bytes(payload)
    return
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=os.fspath(path.parent), prefix=f".{path.name}.", suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(payload)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, os.fspath(path))
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise

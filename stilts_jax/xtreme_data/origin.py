"""Where data came from: the record a prepared folder carries, and the origin of a loaded split.

`stilts-jax-data prepare --out DIR` writes `DIR/<source>/stilts-jax-data.json` (`MARKER`: the
archives with URL and SHA-256, and which archive each prepared file came from) and
`DIR/overrides.json` ({source: folder relative to DIR}); `data.xtreme_dir=DIR` reads the latter.

A result's data origin is derived from the files actually read, not from the config, so it stays
true however the folder was named (`data.xtreme_dir` or a `data.overrides` entry pointing into
it):

  hub:<id>/<config>@<revision>   read from the Hub
  xtreme:<archive>[+<archive>]   files `stilts-jax-data` extracted from XTREME's archives
  local:<path>                   any other local file or folder
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Mapping, Sequence

from stilts_jax.errors import UserError

MARKER = "stilts-jax-data.json"
OVERRIDES = "overrides.json"
_MAX_DEPTH = 4  # prepared files sit at most this many folders below their marker


class XtremeDirError(UserError, FileNotFoundError):
  """data.xtreme_dir is not a folder `stilts-jax-data prepare` wrote."""


def read_marker(folder: str) -> dict | None:
  path = os.path.join(folder, MARKER)
  if not os.path.isfile(path):
    return None
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def read_overrides(xtreme_dir: str) -> dict[str, str]:
  """{source: absolute folder} from DIR/overrides.json (paths in it are relative to DIR)."""
  path = os.path.join(xtreme_dir, OVERRIDES)
  if not os.path.isfile(path):
    raise XtremeDirError(
        f"data.xtreme_dir={xtreme_dir}: no {OVERRIDES} there. Prepare it first: "
        f"stilts-jax-data prepare --out {xtreme_dir}")
  with open(path, encoding="utf-8") as f:
    relative = json.load(f)
  return {source: os.path.normpath(os.path.join(xtreme_dir, folder))
          for source, folder in relative.items()}


def write_overrides(xtreme_dir: str, entries: Mapping[str, str]) -> None:
  """Adds `entries` ({source: folder relative to DIR}) to DIR/overrides.json, keeping others."""
  path = os.path.join(xtreme_dir, OVERRIDES)
  current = {}
  if os.path.isfile(path):
    with open(path, encoding="utf-8") as f:
      current = json.load(f)
  current.update(entries)
  tmp = path + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(dict(sorted(current.items())), f, indent=1)
    f.write("\n")
  os.replace(tmp, path)


def _archive_of(path: str) -> str | None:
  """The archive a prepared file came from, from the nearest marker above it; None if none."""
  folder = os.path.dirname(os.path.abspath(path))
  for _ in range(_MAX_DEPTH):
    marker = read_marker(folder)
    if marker is not None:
      relative = os.path.relpath(os.path.abspath(path), folder).replace(os.sep, "/")
      return marker.get("files", {}).get(relative)
    parent = os.path.dirname(folder)
    if parent == folder:
      break
    folder = parent
  return None


def _local_origin(path: str) -> str:
  files = sorted(glob.glob(path)) if path.endswith(".*") else [path]
  archives = [_archive_of(f) for f in files]
  if files and all(archives):
    return "xtreme:" + "+".join(sorted(set(archives)))
  return f"local:{path}"


def data_origin(origins: Sequence[str]) -> str:
  """One origin string for a loaded split's `origins` ("hub:<id>/<config>@<rev>:<split>",
  "local:<path>"); several different ones are joined with " + " (e.g. ANLI+ training data)."""
  parts = []
  for origin in origins:
    if origin.startswith("hub:"):
      parts.append(origin.rsplit(":", 1)[0])  # the Hub split name is not part of the origin
    elif origin.startswith("local:"):
      parts.append(_local_origin(origin[len("local:"):]))
    else:
      parts.append(origin)
  return " + ".join(dict.fromkeys(parts))

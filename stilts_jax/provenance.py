"""What ran, recorded where the results are: `WORKDIR/run.json` and `<phase dir>/run.json`.

WORKDIR/run.json (rewritten by every invocation, earlier ones kept in `previous`): the resolved
config, the command line, the working directory, package versions, the git commit of the code
(when it is a git checkout), devices and mesh. A short form of it is printed at start-up.

<phase dir>/run.json: the phase's recipe (run_config.phase_recipe) and its fingerprint, written
when the phase first starts. A rerun whose recipe differs stops with the diff
(`ConfigChanged`), because a finished phase would otherwise hand back results of the old recipe
under the new command; `allow_changed_config=True` continues and appends the change to `changes`.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import time
from typing import Any

import jax
from etils import epath

from stilts_jax import paths, run_config
from stilts_jax.errors import UserError
from stilts_jax.layout import RUN_FILE

PACKAGES = ("stilts-jax", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "tensorstore",
            "ml-collections", "transformers", "tokenizers", "datasets", "numpy", "torch",
            "libtpu", "jax-cuda12-plugin", "gcsfs")


class ConfigChanged(UserError):
  """A phase's recorded recipe differs from the one this run would use."""


def package_versions() -> dict[str, str]:
  out = {"python": sys.version.split()[0]}
  for name in PACKAGES:
    try:
      out[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      pass
  return out


def git_state() -> dict[str, Any] | None:
  """The commit of the code that runs (and whether it has local changes), if it is a checkout."""
  source = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  try:
    def git(*args):
      return subprocess.run(["git", "-C", source, *args], capture_output=True, text=True,
                            timeout=10, check=True).stdout.strip()
    commit = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
  except (OSError, subprocess.SubprocessError):
    return None
  return {"commit": commit, "dirty": dirty}


def _devices(mesh) -> dict[str, Any]:
  devices = jax.devices()
  return {"platform": devices[0].platform, "kind": devices[0].device_kind,
          "count": len(devices), "processes": jax.process_count(),
          "mesh": {str(k): int(v) for k, v in mesh.shape.items()} if mesh is not None else None}


def _command() -> list[str]:
  return [os.path.basename(sys.argv[0])] + sys.argv[1:] if sys.argv else []


def _read(path: epath.Path) -> dict | None:
  try:
    return json.loads(path.read_text()) if path.exists() else None
  except (json.JSONDecodeError, OSError):
    return None


def write_run_record(workdir: epath.Path, config, mesh) -> dict:
  """Writes WORKDIR/run.json (process 0) and returns the record."""
  record = {
      "command": _command(), "cwd": os.getcwd(), "time": time.time(),
      "workdir": os.fspath(workdir), "git": git_state(), "versions": package_versions(),
      "devices": _devices(mesh),
      "config": json.loads(config.to_json_best_effort(sort_keys=True)),
  }
  path = workdir / RUN_FILE
  previous = _read(path)
  if previous is not None:
    record["previous"] = previous.pop("previous", []) + [
        {k: previous.get(k) for k in ("command", "time", "git")}]
  if jax.process_index() == 0:
    paths.write_atomic(path, json.dumps(record, indent=1, sort_keys=True))
  return record


def startup_lines(record: dict) -> list[str]:
  git = record["git"]
  code = "not a git checkout" if git is None else \
      f"git {git['commit'][:10]}" + (" with local changes" if git["dirty"] else "")
  v, d = record["versions"], record["devices"]
  mesh = " ".join(f"{k}={n}" for k, n in (d["mesh"] or {}).items())
  return [f"stilts-jax {v.get('stilts-jax', '?')} ({code}), jax {v.get('jax', '?')}, "
          f"{d['count']} {d['kind']} device(s) in {d['processes']} process(es), mesh {mesh}",
          f"command: {' '.join(record['command'])}",
          f"recorded in {record['workdir'].rstrip('/')}/{RUN_FILE}"]


def check_phase(directory: epath.Path, name: str, recipe: dict, *, mode: str,
                allow_changed: bool) -> str:
  """Records `recipe` for the phase in `directory` or checks it against the recorded one; returns
  its fingerprint. In mode="eval" only the training part must match (the evaluation part may
  change: that is what re-scoring is for)."""
  recipe = json.loads(json.dumps(recipe, default=str))  # the form it takes in the file
  path = directory / RUN_FILE
  recorded = _read(path)
  fingerprint = run_config.fingerprint(recipe)
  entry = {"phase": name, "recipe": recipe, "fingerprint": fingerprint}
  if recorded is None:
    if jax.process_index() == 0:
      directory.mkdir(parents=True, exist_ok=True)
      paths.write_atomic(path, json.dumps(dict(entry, created=time.time(), git=git_state(),
                                               command=_command(), changes=[]), indent=1))
    return fingerprint
  old = recorded.get("recipe", {})
  compared = (lambda r: {"train": r.get("train")}) if mode == "eval" else (lambda r: r)
  diff = run_config.recipe_diff(compared(old), compared(recipe))
  if diff and not allow_changed:
    raise ConfigChanged(
        f"{name} was run with a different config ({path}): {'; '.join(diff[:8])}"
        + (f"; and {len(diff) - 8} more" if len(diff) > 8 else "")
        + ". Use a new --workdir for the new config, or pass --config.allow_changed_config=True "
        "to go on in this workdir (finished phases keep their results; the change is recorded).")
  all_diff = run_config.recipe_diff(old, recipe)
  if all_diff and jax.process_index() == 0:
    change = {"time": time.time(), "command": _command(), "mode": mode, "diff": all_diff,
              "previous_fingerprint": recorded.get("fingerprint")}
    recorded.update(entry, changes=recorded.get("changes", []) + [change])
    paths.write_atomic(path, json.dumps(recorded, indent=1))
  return fingerprint

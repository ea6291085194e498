"""`prepare(out, tasks)`: XTREME's archives fetched, verified and laid out for the loader.

    OUT/archives/<archive>            what was downloaded (kept: a rerun verifies and skips it)
    OUT/<source>/...                  the prepared files (recipes.py), and stilts-jax-data.json
    OUT/overrides.json                {source: "<source>"}, read by --config.data.xtreme_dir=OUT

A source whose folder already has a record naming the same archives and hashes is skipped. The
folder is built under `<source>.tmp` and renamed into place with its record written, so an
interrupted run never leaves a half-prepared folder that looks finished.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence

from stilts_jax.errors import UserError
from stilts_jax.xtreme_data import download, origin
from stilts_jax.xtreme_data.recipes import RECIPES, Recipe, counts

ARCHIVES = "archives"


class PrepareError(UserError, ValueError):
  """A task name, checksum file or archive content is not what `prepare` needs."""


def resolve_tasks(names: Sequence[str]) -> list[str]:
  """The tasks to prepare (all of them when none is named), in XTREME's order."""
  unknown = [n for n in names if n not in RECIPES]
  if unknown:
    raise PrepareError(f"unknown task(s) {', '.join(unknown)}; stilts-jax-data prepares: "
                       f"{' '.join(RECIPES)}. (XNLI needs no preparation: its Hub copy is "
                       f"XTREME's data.)")
  return [t for t in RECIPES if t in names] if names else list(RECIPES)


def read_checksums(path: str) -> dict[str, str]:
  """`sha256sum` output (`<hex>  <name>` per line) as {archive name: hex}."""
  table = {}
  with open(path, encoding="utf-8") as f:
    for line_no, line in enumerate(f, 1):
      if not line.strip():
        continue
      fields = line.split()
      if len(fields) != 2 or len(fields[0]) != 64:
        raise PrepareError(f"{path}, line {line_no}: expected '<sha256>  <archive name>' "
                           f"(sha256sum's format), got {line.strip()!r}.")
      table[os.path.basename(fields[1].lstrip("*"))] = fields[0].lower()
  return table


def _expected(recipe: Recipe, checksums: Mapping[str, str]) -> list[dict]:
  return [{"name": a.name, "url": a.url, "sha256": checksums.get(a.name, a.sha256)}
          for a in recipe.archives]


def _have(name: str, archives_dir: str, from_dirs: Sequence[str]) -> bool:
  return any(os.path.isfile(os.path.join(d, name)) for d in (archives_dir, *from_dirs))


def _same_archives(record: dict | None, expected: list[dict]) -> bool:
  """Whether a prepared folder's record names the archives wanted (a None hash: any)."""
  if record is None or len(record.get("archives", ())) != len(expected):
    return False
  return all(have["name"] == want["name"] and want["sha256"] in (None, have["sha256"])
             for have, want in zip(record["archives"], expected))


def prepare(out: str, tasks: Sequence[str] = (), from_dirs: Sequence[str] = (),
            mirror: str | None = None, checksums: Mapping[str, str] | None = None,
            progress: bool = True, say: Callable[[str], None] = print) -> dict[str, str]:
  """Prepares `tasks` under `out`; returns {source: prepared folder}. With no task named, all
  of them, except that one whose archive must be downloaded by hand (PAN-X) is skipped with a
  note when it is not there."""
  out = os.path.abspath(out)
  checksums = dict(checksums or {})
  archives_dir = os.path.join(out, ARCHIVES)
  prepared = {}
  for task in resolve_tasks(tasks):
    recipe = RECIPES[task]
    folder = os.path.join(out, recipe.source)
    manual = [a for a in recipe.archives
              if a.manual and not _have(a.name, archives_dir, from_dirs)]
    if manual and not tasks and origin.read_marker(folder) is None:
      # "prepare everything" should not stop at the one archive nobody can download for you.
      where = " or ".join(from_dirs) or "any --from folder"
      say(f"{task}: skipped, {manual[0].name} is not in {where}: {manual[0].manual} Then: "
          f"stilts-jax-data prepare --out {out} {task} --from DIR")
      continue
    expected = _expected(recipe, checksums)
    record = origin.read_marker(folder)
    if _same_archives(record, expected):
      say(f"{task}: already prepared in {folder}")
      prepared[recipe.source] = folder
      origin.write_overrides(out, {recipe.source: recipe.source})
      continue
    paths, found = {}, {}
    for archive, want in zip(recipe.archives, expected):
      paths[archive.name] = download.fetch(archive, archives_dir, from_dirs, mirror,
                                           want["sha256"], progress)
      found[archive.name] = download.sha256_of(paths[archive.name]) if want["sha256"] is None \
          else want["sha256"]
    tmp = folder + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    written = recipe.build(paths, tmp)
    empty = [a.name for a in recipe.archives if not counts(written)[a.name]]
    if empty:
      shutil.rmtree(tmp)
      raise PrepareError(f"{task}: {', '.join(empty)} held none of the files XTREME uses; is it "
                         f"the right archive?")
    record = {"task": task, "source": recipe.source, "note": recipe.note,
              "archives": [dict(a, sha256=found[a["name"]], checked=a["sha256"] is not None)
                           for a in expected],
              "files": dict(sorted(written.items())), "prepared_by": f"stilts-jax {_version()}"}
    with open(os.path.join(tmp, origin.MARKER), "w", encoding="utf-8") as f:
      json.dump(record, f, indent=1)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    unchecked = [a for a in record["archives"] if not a["checked"]]
    for a in unchecked:
      say(f"{task}: {a['name']} has no published SHA-256; recorded {a['sha256']}")
    say(f"{task}: prepared {len(written)} files in {folder}")
    prepared[recipe.source] = folder
    # Recorded task by task: a later task's failed download keeps the finished ones usable.
    origin.write_overrides(out, {recipe.source: recipe.source})
  return prepared


def _version() -> str:
  try:
    return importlib.metadata.version("stilts-jax")
  except importlib.metadata.PackageNotFoundError:
    return "unknown"

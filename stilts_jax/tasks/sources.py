"""Where a source's rows come from: a local override (a file, or a directory in the Hub's layout
or the official release's) or the Hub, both read through `datasets.load_dataset` (the Hub as
`load_dataset(hub_id, config, split=..., revision=...)`, never with remote code; local files as
`load_dataset("json" | "parquet" | "csv", data_files=...)`).

`data_overrides` maps keys to local paths; the most specific key wins, and an override always
takes precedence over the Hub (a missing file under an override is an error, not a fallback):

  "{source}/{split}/{language}"  file, or directory holding `{hub_split}.{ext}`
  "{source}/{split}"             same; one file replaces every Hub split of that split
  "{source}"                     directory mirroring the Hub: `{dir}/{config}/{hub_split}.{ext}`
                                 (or `{dir}/{hub_split}.{ext}` when the config is per-source)

`source` is a SourceSpec name (`registry.list_sources()`: mnli, snli, anli, qqp, squad_v1, ...,
xnli, pawsx, udpos, panx, xquad, mlqa, tydiqa, bucc2018, tatoeba, and xtreme_r.py's xnli_mt,
squad_translated, copa, xcopa, wikiann), `split` is ours (train / validation / test), `ext` is one
of jsonl, json, parquet, csv, tsv. Sources with `hub_id=None` (squad_translated, copa) have no
Hub fallback: without an override they raise `LocalDataMissingError`. A `.json` file holding
nested SQuAD v1.1 JSON (`{"data": [{"paragraphs": ...}]}`) is flattened to Hub SQuAD rows.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from stilts_jax.errors import UserError
from stilts_jax.tasks import raw_formats
from stilts_jax.tasks.convert import SCHEMAS, DataError, RowTally
from stilts_jax.tasks.registry import SourceSpec

FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv",
                 ".tsv": "csv"}
Overrides = Mapping[str, "str | os.PathLike[str]"]


class LocalDataMissingError(UserError, FileNotFoundError):
  """A source with no Hub copy was asked for without a data_overrides entry; says what to give."""


class HubSourceError(UserError, RuntimeError):
  """The Hub repository at the declared revision is a loading script, which datasets >= 4 will not
  run (and we never pass trust_remote_code); says how to get the data instead."""


def read_source(source: SourceSpec, split: str, language: str, overrides: dict[str, str],
                 seen: Counter, tally: RowTally):
  """Yields (origin, indexed rows filtered to `language`, features, hub_split) per Hub split."""
  override, source_level = _override_path(source, split, language, overrides)
  hub_splits = source.splits[split]
  if override is not None and os.path.isfile(override):
    # One file stands for the whole split (e.g. all three ANLI rounds); its rows are treated as
    # the first Hub split's (guids, and whether gold labels are expected).
    ds = _load_local(override, tally)
    yield f"local:{override}", _filtered(ds, source, language, seen), ds.features, hub_splits[0]
    return
  if override is None and source.hub_id is None:
    keys = ", ".join(repr(k) for k in _override_keys(source, split, language))
    raise LocalDataMissingError(
        f"Source {source.name!r} (split {split!r}, language {language!r}) has no Hub copy and "
        f"data_overrides has none of {keys}. Expected rows in schema '{source.schema}': "
        f"{SCHEMAS[source.schema]}. {source.notes}")
  for hub_split in hub_splits:
    if override is not None:
      path = _find_in_dir(override, source, hub_split, language, source_level)
      ds, origin = _load_local(path, tally), f"local:{path}"
    else:
      ds, origin = _load_hub(source, hub_split, language)
    yield origin, _filtered(ds, source, language, seen), ds.features, hub_split


def _override_path(source: SourceSpec, split: str, language: str,
                   overrides: dict[str, str]) -> tuple[str | None, bool]:
  """(override path, whether it is the source-level key) or (None, False) for the Hub."""
  for key in _override_keys(source, split, language):
    if key in overrides:
      path = overrides[key]
      if key == source.name and not os.path.isdir(path):
        raise LocalDataMissingError(
            f"data_overrides[{key!r}] = {path!r} must be an existing directory (use "
            f"'{source.name}/<split>' for a single file).")
      if not os.path.exists(path):
        raise LocalDataMissingError(f"data_overrides[{key!r}] = {path!r} does not exist.")
      return path, key == source.name
  return None, False


def _override_keys(source: SourceSpec, split: str, language: str) -> tuple[str, ...]:
  """The data_overrides keys that can supply (source, split, language), most specific first."""
  return (f"{source.name}/{split}/{language}", f"{source.name}/{split}", source.name)


def _find_in_dir(directory: str, source: SourceSpec, hub_split: str, language: str,
                 source_level: bool) -> str:
  """The file for (hub_split, language) under an override directory: the Hub mirror layout
  (`{config}/{hub_split}.{ext}`, `{hub_split}.{ext}`) or the official release's file names
  (`SourceSpec.official_files`, e.g. PAWS-X `x-final/{lang}/dev_2k.tsv`, `xquad.{lang}.json`)."""
  config = source.hub_config(language)
  stems = [os.path.join(directory, config, hub_split)] if config else []
  # A source-level directory covers every language, so `{dir}/{hub_split}` would be ambiguous for
  # per-language configs; split- and language-level directories may hold the split file directly.
  if not (source_level and source.per_language_config):
    stems.append(os.path.join(directory, hub_split))
  candidates = [stem + ext for stem in stems for ext in FILE_BUILDERS]
  names = {"lang": language, "name": source.lang_value(language)}
  for template in source.official_files.get(hub_split, ()):
    candidates.append(os.path.join(directory, template.format(**names)))
    # The same file directly in a language's own directory (`x-final/ko` given for `ko`).
    base = os.path.basename(template)
    if base != template and not (source_level and "{" not in base):
      candidates.append(os.path.join(directory, base.format(**names)))
  for path in candidates:
    if os.path.isfile(path):
      return path
  raise FileNotFoundError(
      f"Source {source.name!r} split {hub_split!r} ({language}): no file under the override "
      f"directory {directory}. Tried: {', '.join(candidates)}.")


def _load_local(path: str, tally: RowTally):
  import datasets
  ext = os.path.splitext(path)[1].lower()
  if ext not in FILE_BUILDERS:
    raise ValueError(f"Unsupported data file {path}: expected one of {', '.join(FILE_BUILDERS)}.")
  if os.path.getsize(path) == 0:
    return datasets.Dataset.from_list([])  # no rows (the builders cannot infer a schema from it)
  if ext == ".json":
    rows = raw_formats.read_nested_squad(path)
    if rows is not None:  # original SQuAD layout (XQuAD, MLQA, TyDiQA-GoldP files): flatten
      return datasets.Dataset.from_list(rows)
  if ext == ".tsv":
    # A plain tab split, as XTREME reads PAWS-X: CSV quoting would swallow rows with a '"'.
    rows, bad = raw_formats.read_tsv(path)
    for line_no, message in bad:
      tally.rows += 1
      tally.skip("wrong_shape", f"local:{path}, line {line_no}: {message}")
    return datasets.Dataset.from_list(rows)
  # Keep empty cells as "" (pandas would make them NaN) so they hit the empty-text policy.
  kwargs = {"keep_default_na": False} if ext == ".csv" else {}
  return datasets.load_dataset(FILE_BUILDERS[ext], data_files={"rows": path}, split="rows",
                               **kwargs)


def _load_hub(source: SourceSpec, hub_split: str, language: str):
  import datasets
  config = source.hub_config(language)
  where = f"{source.hub_id}/{config or 'default'}@{source.revision or 'main'}"
  try:
    ds = datasets.load_dataset(source.hub_id, config, split=hub_split, revision=source.revision)
  except RuntimeError as e:
    if "scripts are no longer supported" not in str(e):
      raise
    raise HubSourceError(
        f"Source {source.name!r}: the Hub repository {where} holds a loading script ({e}), which "
        f"datasets >= 4 does not run (and stilts-jax never passes trust_remote_code). Download "
        f"the official files and pass --config.data.overrides.{source.name}=DIR (docs/data.md "
        f"says where each source's files are).") from None
  return ds, f"hub:{where}:{hub_split}"


def _filtered(ds, source: SourceSpec, language: str,
              seen: Counter) -> Iterator[tuple[int, Mapping[str, Any]]]:
  """Rows (with their index in the file) of `language`, for sources with all languages mixed.
  `seen` tallies the language values met, for the error when none is the one wanted."""
  if source.lang_filter is None:
    yield from enumerate(ds)
    return
  kind, _, column = source.lang_filter.partition(":")
  wanted = source.lang_value(language)
  column = column or "id"
  if column not in ds.column_names and len(ds):
    raise DataError(f"Source {source.name!r}: missing column {column!r} needed to select "
                    f"language {language!r} (columns: {', '.join(ds.column_names)}).")
  for index, row in enumerate(ds):
    value = str(row[column])
    if (value == wanted) if kind == "column" else value.startswith(f"{wanted}-"):
      yield index, row
    else:
      seen[value if kind == "column" else value.split("-", 1)[0]] += 1


def override_dir(source: SourceSpec, split: str, language: str,
                  overrides: dict[str, str]) -> str | None:
  """An override directory that may hold the original files (checked by the raw readers)."""
  for key in _override_keys(source, split, language):
    path = overrides.get(key)
    if path is not None:
      return path if os.path.isdir(path) else None
  return None

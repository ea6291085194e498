"""Loading a task split into canonical examples, from the Hub or from local files.

    load_examples(task, split, language=None, data_overrides=None, limit=None) -> LoadedSplit

Every source is read through `datasets.load_dataset`: the Hub as `load_dataset(hub_id, config,
split=..., revision=...)` (never with remote code), local files as `load_dataset("json" |
"parquet" | "csv", data_files=...)`. Either way the rows go through the same converter
(`convert.py`), so a local copy in the Hub schema behaves exactly like the Hub.

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
`load_examples_multi` concatenates several languages of one split. Two sources are special:
`ccg` must be a directory in the CCG file format, and `bucc2018` may be a directory of the
original BUCC 2018 files (detected by name, see raw_formats.py), recorded as
`LoadedSplit.source_kind == "bucc_original_files"`; `udpos` may be an extracted Universal
Dependencies release (`UD_*/*.conllu`), converted as XTREME does (ud_release.py, "ud_release").
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from stilts_jax.errors import UserError
from stilts_jax.examples import Example, SentenceExample
from stilts_jax.tasks import raw_formats, ud_release
from stilts_jax.tasks.convert import (CONVERTERS, DEFAULT_MAX_BAD_FRACTION, SCHEMAS, BadRow,
                                      DataError, RowContext, RowTally, SkipRow)
from stilts_jax.tasks.registry import (SourceSpec, TaskSpec, TaskType, get_source, get_task,
                                       resolve_language)
from stilts_jax.xtreme_data.origin import data_origin

log = logging.getLogger(__name__)

FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv",
                 ".tsv": "csv"}
Overrides = Mapping[str, "str | os.PathLike[str]"]


class LocalDataMissingError(UserError, FileNotFoundError):
  """A source with no Hub copy was asked for without a data_overrides entry; says what to give."""


class HubSourceError(UserError, RuntimeError):
  """The Hub repository at the declared revision is a loading script, which datasets >= 4 will not
  run (and we never pass trust_remote_code); says how to get the data instead."""


@dataclasses.dataclass(frozen=True)
class RetrievalData:
  """Both sides of a retrieval split. `gold` pairs (source guid, target guid)."""
  source: tuple[SentenceExample, ...]  # non-English side
  target: tuple[SentenceExample, ...]  # English side
  gold: tuple[tuple[str, str], ...]


@dataclasses.dataclass(frozen=True)
class LoadedSplit:
  """One (task, split, language) as canonical examples, with what was skipped and from where.

  `source_kind`: "hub_rows" (Hub or a local file in the Hub schema), "bucc_original_files",
  "hub_gold_pairs" (BUCC from the bucc18 configs), "tatoeba_files" or "ccg_files". `origins`
  lists every place read ("hub:<id>/<config>@<revision>:<split>" or "local:<path>"). For retrieval
  tasks `examples` is source side + target side and `retrieval` holds the two sides and the gold
  pairs. `rows_read` counts the rows of this language that were read, `skipped` the rows dropped
  per reason (first messages in `skip_details`), `repaired` what was fixed in kept rows (SQuAD
  answers re-aligned or dropped); see convert.py for the policy.
  """
  task: str
  split: str
  language: str
  examples: tuple[Example, ...]
  label_names: tuple[str, ...] | None
  skipped: Mapping[str, int]
  origins: tuple[str, ...]
  source_kind: str
  retrieval: RetrievalData | None = None
  repaired: Mapping[str, int] = dataclasses.field(default_factory=dict)
  rows_read: int = 0
  skip_details: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

  @property
  def num_skipped(self) -> int:
    return sum(self.skipped.values())

  def data_summary(self) -> dict[str, Any]:
    """What a result was computed on, for its result rows (`data`): the examples scored, the
    rows read, what was skipped and repaired per reason, and where the data came from."""
    examples = len(self.retrieval.gold) if self.retrieval is not None else len(self.examples)
    return {"examples": examples, "rows_read": self.rows_read, "skipped": dict(self.skipped),
            "repaired": dict(self.repaired), "origin": self.data_origin}

  @functools.cached_property  # reads the prepared folders' records; asked once per result row
  def data_origin(self) -> str:
    """`hub:<id>/<config>@<revision>`, `xtreme:<archive>` or `local:<path>` (origin.py)."""
    return data_origin(self.origins)

  def __len__(self) -> int:
    return len(self.examples)


def load_examples(task_name: str, split: str, language: str | None = None,
                  data_overrides: Overrides | None = None, limit: int | None = None,
                  max_bad_fraction: float | None = DEFAULT_MAX_BAD_FRACTION) -> LoadedSplit:
  """Loads (task, split, language) as canonical examples; see the module docstring.

  Bad rows are skipped and counted; a `train` split that skips more than `max_bad_fraction` of
  its rows raises `DataError` (None: never). A split that yields no example raises `DataError`
  saying what was read, so a language can never drop out of the results unnoticed.
  """
  task = get_task(task_name)
  language = resolve_language(task, split, language)
  overrides = {str(k): os.fspath(v) for k, v in (data_overrides or {}).items() if v}  # "": Hub
  tally = RowTally()
  ud_root = _ud_release_root(task, split, language, overrides)
  if task.name == "ccg":
    loaded = _load_ccg(task, split, overrides, limit, tally)
  elif ud_root is not None:
    loaded = _load_ud_release(task, split, language, ud_root, limit, tally)
  elif task.task_type == TaskType.RETRIEVAL:
    loaded = _load_retrieval(task, split, language, overrides, limit, tally)
  else:
    loaded = _load_rows(task, split, language, overrides, limit, tally)
  _report(loaded, tally, max_bad_fraction if split == "train" else None)
  return loaded


def _load_rows(task: TaskSpec, split: str, language: str, overrides: dict[str, str],
               limit: int | None, tally: RowTally) -> LoadedSplit:
  examples: list[Example] = []
  origins: list[str] = []
  seen: Counter = Counter()  # language-column values of the rows read (for the no-rows error)
  for source_name in task.sources[split]:
    source = get_source(source_name)
    tally.schema = tally.schema or source.schema
    for origin, rows, features, hub_split in _read_source(source, split, language, overrides,
                                                          seen, tally):
      origins.append(origin)
      ctx = _context(task, split, source, origin, hub_split, language, features, tally)
      remaining = None if limit is None else limit - len(examples)
      if remaining is not None and remaining <= 0:
        break
      examples.extend(_convert_rows(rows, ctx, tally, remaining))
  if not examples and limit != 0:
    raise DataError(_no_examples(task.name, split, language, origins, tally, seen,
                                 [get_source(n) for n in task.sources[split]]))
  return _loaded(task.name, split, language, examples, task.labels, origins, "hub_rows", tally)


def _loaded(task: str, split: str, language: str, examples, labels, origins, kind: str,
            tally: RowTally, retrieval: RetrievalData | None = None) -> LoadedSplit:
  return LoadedSplit(task, split, language, tuple(examples), labels, dict(tally.skipped),
                     tuple(origins), kind, retrieval=retrieval, repaired=dict(tally.repaired),
                     rows_read=tally.rows,
                     skip_details={k: tuple(v) for k, v in tally.details.items()})


def _no_examples(task: str, split: str, language: str, origins: Sequence[str], tally: RowTally,
                 seen: Counter, sources: Sequence[SourceSpec]) -> str:
  read = f"{tally.rows} row(s) of language {language!r}" if tally.rows else "no rows"
  msg = f"{task}/{split}/{language}: no examples. Read {read} from {', '.join(origins) or '-'}"
  filtered = [s for s in sources if s.lang_filter]
  if not tally.rows and filtered and seen:
    source = filtered[0]
    kind, _, column = source.lang_filter.partition(":")
    values = ", ".join(f"{v!r} ({n})" for v, n in seen.most_common(8))
    what = f"the {column!r} column holds" if kind == "column" else "the ids start with"
    msg += (f"; {what} {values}, but {source.lang_value(language)!r} was expected for "
            f"{language!r}")
  if tally.skipped:
    msg += f"; every row was skipped: {tally.describe()}"
  return msg + ". Check that the data.overrides file is the one for this language and split." + (
      tally.schema_hint() if tally.skipped else "")


def _report(loaded: LoadedSplit, tally: RowTally, max_bad_fraction: float | None) -> None:
  where = f"{loaded.task}/{loaded.split}/{loaded.language}"
  if tally.repaired:
    log.warning("%s: repaired %s in %d kept examples.", where,
                ", ".join(f"{n} {k}" for k, n in sorted(tally.repaired.items())),
                len(loaded.examples))
  if tally.skipped:
    log.warning("%s: skipped %d of %d row(s): %s.", where, sum(tally.skipped.values()),
                tally.rows, tally.describe())
  tally.check_fraction(where, max_bad_fraction)


def load_examples_multi(task_name: str, split: str, languages: Sequence[str],
                        **kwargs: Any) -> LoadedSplit:
  """Several languages of one (task, split), concatenated in the order given.

  For training on a language set (e.g. `mnli_translated` over all 15 XNLI languages). `kwargs`
  (`data_overrides`, `limit`) go to each `load_examples` call, so `limit` is per language. The
  result's `language` is the languages joined by "+" (each example keeps its own `language`),
  `skipped` sums the per-language counts and `origins` concatenates them. Guids start with the
  language, so they are unique across languages; that is checked anyway, since predictions are
  joined back to examples by guid.
  """
  languages = tuple(languages)
  if not languages:
    raise ValueError(f"load_examples_multi({task_name!r}, {split!r}): no languages given.")
  repeated = sorted({l for l in languages if languages.count(l) > 1})
  if repeated:
    raise ValueError(f"load_examples_multi({task_name!r}, {split!r}): language(s) "
                     f"{', '.join(repeated)} given more than once.")
  parts = [load_examples(task_name, split, language, **kwargs) for language in languages]
  if any(p.retrieval is not None for p in parts):
    raise ValueError(f"Task {task_name!r} is a retrieval task: its splits pair two sides per "
                     f"language and cannot be concatenated across languages.")
  examples = tuple(e for p in parts for e in p.examples)
  seen: set[str] = set()
  for e in examples:
    if e.guid in seen:
      raise DataError(f"{task_name}/{split} over {' '.join(languages)}: guid {e.guid!r} occurs "
                      f"twice; examples of a concatenated split must have unique guids.")
    seen.add(e.guid)
  skipped: Counter = Counter()
  repaired: Counter = Counter()
  details: dict[str, tuple[str, ...]] = {}
  for p in parts:
    skipped.update(p.skipped)
    repaired.update(p.repaired)
    for reason, messages in p.skip_details.items():
      details[reason] = details.get(reason, ()) + messages
  kinds = sorted({p.source_kind for p in parts})
  return LoadedSplit(parts[0].task, split, "+".join(languages), examples, parts[0].label_names,
                     dict(skipped), tuple(o for p in parts for o in p.origins), "+".join(kinds),
                     repaired=dict(repaired), rows_read=sum(p.rows_read for p in parts),
                     skip_details=details)


def _context(task: TaskSpec, split: str, source: SourceSpec, origin: str, hub_split: str,
             language: str, features: Mapping[str, Any], tally: RowTally) -> RowContext:
  return RowContext(repaired=tally.repaired,
      task=task.name, split=split, source=source.name, origin=origin, hub_split=hub_split,
      language=language, schema=source.schema, columns=source.columns, labels=task.labels,
      labeled=hub_split not in source.unlabeled_splits, drop_no_gold=source.drop_no_gold,
      squad_v2=task.squad_v2, classlabel_names=_classlabel_names(features))


def _classlabel_names(features: Mapping[str, Any]) -> dict[str, tuple[str, ...] | None]:
  import datasets
  names: dict[str, tuple[str, ...] | None] = {}
  for col, feat in (features or {}).items():
    inner = getattr(feat, "feature", feat)  # List/Sequence(ClassLabel) for tag columns
    names[col] = tuple(inner.names) if isinstance(inner, datasets.ClassLabel) else None
  return names


def _convert_rows(rows: Iterator[tuple[int, Mapping[str, Any]]], ctx: RowContext,
                  tally: RowTally, limit: int | None) -> list:
  convert = CONVERTERS[ctx.schema]
  out: list = []
  for index, row in rows:
    if limit is not None and len(out) >= limit:
      break
    ctx.row_index = index
    tally.rows += 1
    try:
      out.append(convert(row, ctx))
    except SkipRow as skip:
      tally.skip(skip.reason)
    except BadRow as bad:
      tally.skip(bad.reason, bad.short)
  return out


# --------------------------------------------------------------------------- reading sources


def _read_source(source: SourceSpec, split: str, language: str, overrides: dict[str, str],
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


# --------------------------------------------------------------------------- special tasks


def _load_ccg(task: TaskSpec, split: str, overrides: dict[str, str], limit: int | None,
              tally: RowTally) -> LoadedSplit:
  directory = overrides.get("ccg")
  labels = raw_formats.read_ccg_labels(directory)
  examples, path = raw_formats.read_ccg(directory, split, labels, tally)
  if limit is not None:
    examples = examples[:limit]
  if not examples:
    raise DataError(f"ccg/{split}: no examples in {path} ({tally.rows} lines read"
                    f"{'; ' + tally.describe() if tally.skipped else ''}).")
  return _loaded(task.name, split, "en", examples, labels, (f"local:{path}",), "ccg_files", tally)


def _ud_release_root(task: TaskSpec, split: str, language: str,
                     overrides: dict[str, str]) -> str | None:
  """The UD release folder when UD-POS's override points at one (ud_release.py), else None."""
  if tuple(task.sources.get(split, ())) != ("udpos",):
    return None
  directory = _override_dir(get_source("udpos"), split, language, overrides)
  return ud_release.find_release(directory) if directory else None


def _load_ud_release(task: TaskSpec, split: str, language: str, root: str, limit: int | None,
                     tally: RowTally) -> LoadedSplit:
  examples, files = ud_release.read_udpos(root, language, split, task.labels, tally)
  if limit is not None:
    examples = examples[:limit]
  if not examples:
    found = (f"{tally.rows} sentences in {len(files)} file(s)"
             f"{'; skipped: ' + tally.describe() if tally.skipped else ''}") if files else \
        f"no file {ud_release.file_pattern(root, language, split)}"
    raise DataError(f"udpos/{split}/{language}: no examples in the UD release {root} ({found}).")
  return _loaded(task.name, split, language, examples, task.labels,
                 [f"local:{f}" for f in files], "ud_release", tally)


def _load_retrieval(task: TaskSpec, split: str, language: str, overrides: dict[str, str],
                    limit: int | None, tally: RowTally) -> LoadedSplit:
  """Both sides and the gold pairs: original BUCC files, LASER's Tatoeba files, or gold-pair rows.

  Orientation: `source` is the non-English side, `target` English, as XTREME writes and pairs
  them (see evaluate.evaluate_retrieval_task for which side queries which).
  """
  (source_name,) = task.sources[split]
  source = get_source(source_name)
  directory = _override_dir(source, split, language, overrides)
  prefix = None
  if directory is not None:
    find = raw_formats.find_bucc_original if source.name == "bucc2018" else \
        raw_formats.find_tatoeba_files
    prefix = find(directory, language if source.name == "bucc2018" else
                  source.lang_value(language), split)
  if prefix is not None:
    if source.name == "bucc2018":
      src, trg, gold = raw_formats.read_bucc_original(prefix, language, tally)
      origins, kind = (f"local:{prefix}.*",), "bucc_original_files"
    else:
      src, trg, gold = raw_formats.read_tatoeba_files(prefix, language, tally)
      origins, kind = (f"local:{prefix}.*",), "tatoeba_files"
    if limit is not None:  # keep the gold pairs whose sentences survive the cut
      src, trg = src[:limit], trg[:limit]
      kept = {s.guid for s in src} | {t.guid for t in trg}
      gold = tuple(g for g in gold if g[0] in kept and g[1] in kept)
  else:
    src, trg, gold, origins = _retrieval_rows(task, split, language, source, overrides, limit,
                                              tally)
    kind = "hub_gold_pairs" if source.name == "bucc2018" else "hub_rows"
  if not gold and not (kind == "bucc_original_files" and split == "test"):
    raise DataError(f"{task.name}/{split}/{language}: no gold pairs. Read {tally.rows} row(s) "
                    f"from {', '.join(origins)}"
                    f"{'; skipped: ' + tally.describe() if tally.skipped else ''}.")
  data = RetrievalData(tuple(src), tuple(trg), tuple(gold))
  return _loaded(task.name, split, language, data.source + data.target, None, origins, kind,
                 tally, retrieval=data)


def _override_dir(source: SourceSpec, split: str, language: str,
                  overrides: dict[str, str]) -> str | None:
  """An override directory that may hold the original files (checked by the raw readers)."""
  for key in _override_keys(source, split, language):
    path = overrides.get(key)
    if path is not None:
      return path if os.path.isdir(path) else None
  return None


def _retrieval_rows(task, split, language, source, overrides, limit, tally: RowTally):
  """Gold pair rows -> deduplicated sides + gold guid pairs."""
  origins, gold = [], []
  sides: tuple[dict, dict] = ({}, {})
  for origin, rows, features, hub_split in _read_source(source, split, language, overrides,
                                                        Counter(), tally):
    origins.append(origin)
    ctx = _context(task, split, source, origin, hub_split, language, features, tally)
    for pair in _convert_rows(rows, ctx, tally, None if limit is None else limit - len(gold)):
      # BUCC gold can pair one sentence with several; keep one copy per id. An id naming two
      # different sentences is a bad row: that pair is skipped, the first sentence kept.
      if any(side.get(e.guid, e).text != e.text for side, e in zip(sides, pair)):
        tally.skip("duplicate_id", f"{origin}, row {ctx.row_index}: an id names two different "
                                   "sentences")
        continue
      for side, example in zip(sides, pair):
        side.setdefault(example.guid, example)
      gold.append((pair[0].guid, pair[1].guid))
  return list(sides[0].values()), list(sides[1].values()), gold, origins

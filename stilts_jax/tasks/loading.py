"""Loading a task split into canonical examples, from the Hub or from local files.

    load_examples(task, split, language=None, data_overrides=None, limit=None) -> LoadedSplit

Each source's rows come from `sources.py` (a local override file or directory, else the Hub, both
through `datasets`) and go through the same converter (`convert.py`), so a local copy in the Hub
schema behaves exactly like the Hub. `load_examples_multi` concatenates several languages of one
split. Two sources are special: `ccg` must be a directory in the CCG file format, and `bucc2018`
may be a directory of the original BUCC 2018 files (detected by name, see raw_formats.py),
recorded as `LoadedSplit.source_kind == "bucc_original_files"`; `udpos` may be an extracted
Universal Dependencies release (`UD_*/*.conllu`), converted as XTREME does (ud_release.py,
"ud_release").
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from stilts_jax.examples import Example, SentenceExample
from stilts_jax.tasks import raw_formats, ud_release
from stilts_jax.tasks.convert import (CONVERTERS, DEFAULT_MAX_BAD_FRACTION, BadRow,
                                      DataError, RowContext, RowTally, SkipRow)
from stilts_jax.tasks.registry import (SourceSpec, TaskSpec, TaskType, get_source, get_task,
                                       resolve_language)
from stilts_jax.tasks.sources import Overrides, override_dir, read_source
from stilts_jax.xtreme_data.origin import data_origin

log = logging.getLogger(__name__)

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
    for origin, rows, features, hub_split in read_source(source, split, language, overrides,
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
  directory = override_dir(get_source("udpos"), split, language, overrides)
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
  them (see evaluate.evaluate_retrieval_task, behind Evaluator.retrieval, for which side
  queries which).
  """
  (source_name,) = task.sources[split]
  source = get_source(source_name)
  directory = override_dir(source, split, language, overrides)
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


def _retrieval_rows(task, split, language, source, overrides, limit, tally: RowTally):
  """Gold pair rows -> deduplicated sides + gold guid pairs."""
  origins, gold = [], []
  sides: tuple[dict, dict] = ({}, {})
  for origin, rows, features, hub_split in read_source(source, split, language, overrides,
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

"""Task and source declarations, and the registry that holds them.

Two kinds of record:

* `SourceSpec`: one dataset family as it lives on the Hub (id, config template, revision, split
  mapping, row schema). Its `name` is also the key of `data_overrides` (see `loading.py`), so a
  local copy in the same schema replaces exactly one Hub source. 18 feed X-STILTs/XTREME
  (`intermediate.py`, `target.py`); `xtreme_r.py` adds the paper's translated-data alternatives
  and the XTREME-R targets. A source with `hub_id=None` (translated SQuAD, English COPA) exists
  only as user files: the loader then requires a `data_overrides` entry and says what to provide.
* `TaskSpec`: what the trainer/evaluator sees (name, type, label list, metrics, max length,
  languages) plus, per split, which sources feed it. `xnli`'s train split is the `mnli` source,
  `xquad`'s is `squad_v1`: a target task borrows an intermediate source by naming it.

A new task is one `register_task(TaskSpec(...))` (plus a `register_source` if its data is new) in
`intermediate.py`, `target.py` or `xtreme_r.py`; the loader needs no new code as long as its rows
match one of the schemas in `convert.py`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping

from stilts_jax.errors import UserError

ENGLISH = ("en",)


class TaskType(str, enum.Enum):
  """The built-in task kinds' names (`kinds/` holds each kind's behaviour). A `TaskSpec` may name
  any registered kind; its `task_type` is the plain name, equal to these members."""
  CLASSIFICATION = "classification"  # single sentence or pair -> PairExample
  MULTIPLE_CHOICE = "multiple_choice"  # -> ChoiceExample
  SPAN_QA = "span_qa"  # SQuAD 1.1 / 2.0 style -> SpanExample
  TAGGING = "tagging"  # one label per pre-split word -> TagExample
  RETRIEVAL = "retrieval"  # no training; encoder embeddings -> SentenceExample


class RegistryError(UserError, KeyError):
  """Unknown task, source, split or language. The message lists the valid names."""


@dataclasses.dataclass(frozen=True)
class SourceSpec:
  """One Hub dataset family and how its rows map to canonical examples.

  `config` may contain `{lang}`, filled with `lang_names.get(code, code)` (e.g. udpos wants
  `English`, tatoeba wants `deu`). When the Hub keeps all languages in one config, `lang_filter`
  says how to select rows instead: `"column:<name>"` keeps rows whose column equals the language
  name, `"id_prefix"` keeps rows whose `id` starts with `"<name>-"` (TyDiQA).
  `splits` maps our split names (train/validation/test) to one or more Hub split names; several
  Hub splits are concatenated in order (ANLI rounds). `unlabeled_splits` are Hub splits that carry
  no gold (GLUE test rows have label -1): labels become None there instead of raising.
  `hub_id=None`: no Hub copy in a loadable form; only `data_overrides` can supply the rows, and a
  missing override raises `LocalDataMissingError` quoting the schema and `notes` (where to get it).
  `official_files[hub_split]`: the file names of the official release, relative to an override
  directory (`{lang}` = our code, `{name}` = `lang_value`), so `data_overrides` may point at the
  downloaded files as they are (PAWS-X `x-final/`, `xquad.{lang}.json`, MLQA_V1, TyDiQA-GoldP).
  `revision` pins what `load_dataset` reads; it must name data files, never a loading script
  (datasets >= 4 refuses scripts and we never pass `trust_remote_code`): where the main branch is
  a script, the Hub's parquet conversion `refs/convert/parquet`, whose only config of a
  single-config dataset is "default" (so `config=None`). `hub_files` records the data files the
  declared revision holds (`{config}`, `{split}` filled in), as published; docs/data.md has the
  evidence and row counts, and tests/test_tasks_hub_sources.py checks every declaration.
  """
  name: str
  hub_id: str | None
  schema: str  # a key of convert.CONVERTERS
  splits: Mapping[str, tuple[str, ...]]
  config: str | None = None
  revision: str | None = None
  columns: Mapping[str, str] = dataclasses.field(default_factory=dict)
  lang_names: Mapping[str, str] = dataclasses.field(default_factory=dict)
  lang_filter: str | None = None
  unlabeled_splits: frozenset[str] = frozenset()
  # Rows whose gold label is the "no gold" marker (-1 / "") are dropped and counted rather than
  # raising. Only SNLI needs this: 785 train pairs had no annotator majority.
  drop_no_gold: bool = False
  notes: str = ""
  official_files: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
  hub_files: str = ""
  # Why the Hub copy is not the data XTREME evaluated on ("" = it is); results read from the Hub
  # are then marked not comparable with published numbers (report/summary.py).
  hub_differs: str = ""

  def hub_config(self, language: str) -> str | None:
    if self.config is None:
      return None
    return self.config.format(lang=self.lang_names.get(language, language))

  def lang_value(self, language: str) -> str:
    return self.lang_names.get(language, language)

  @property
  def per_language_config(self) -> bool:
    return self.config is not None and "{lang}" in self.config


@dataclasses.dataclass(frozen=True)
class TaskSpec:
  """A task as the trainer sees it.

  `sources[split]` names the SourceSpecs whose rows make up that split (concatenated in order).
  `split_languages[split]` restricts the languages of a split (default: `languages`); target
  tasks train on English only, and UD-POS has test-only languages.
  `labels` is None only for CCG, whose supertag inventory comes with the user's files.
  `task_type` names its kind (`kinds.KINDS`): a `TaskType` member or a kind registered with
  `kinds.register_kind`; it is stored as the plain name.
  """
  name: str
  task_type: str
  sources: Mapping[str, tuple[str, ...]]
  metrics: tuple[str, ...]
  max_length: int
  languages: tuple[str, ...] = ENGLISH
  labels: tuple[str, ...] | None = None
  split_languages: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
  squad_v2: bool = False  # span_qa: unanswerable questions allowed
  intermediate: bool = False
  description: str = ""
  # The task set it belongs to: "x-stilts" (the paper's intermediate tasks), "x-stilts-translated"
  # (their machine-translated alternatives), "xtreme" (the paper's targets), "xtreme_r". A target
  # also has its name in tables and the result metric its cell reports (QA: (EM + F1) / 2).
  benchmark: str = ""
  title: str = ""
  main_metric: str = ""

  def __post_init__(self):
    object.__setattr__(self, "task_type", str(getattr(self.task_type, "value", self.task_type)))

  @property
  def splits(self) -> tuple[str, ...]:
    return tuple(self.sources)

  def languages_for(self, split: str) -> tuple[str, ...]:
    return self.split_languages.get(split, self.languages)

  @property
  def num_labels(self) -> int | None:
    return None if self.labels is None else len(self.labels)


_SOURCES: dict[str, SourceSpec] = {}
_TASKS: dict[str, TaskSpec] = {}


def _valid(names) -> str:
  return ", ".join(sorted(names))


def register_source(spec: SourceSpec) -> SourceSpec:
  if spec.name in _SOURCES and _SOURCES[spec.name] != spec:
    raise ValueError(f"Source {spec.name!r} is already registered with a different declaration.")
  _SOURCES[spec.name] = spec
  return spec


def register_task(spec: TaskSpec) -> TaskSpec:
  if spec.name in _TASKS and _TASKS[spec.name] != spec:
    raise ValueError(f"Task {spec.name!r} is already registered with a different declaration.")
  # Check references now so a typo in a declaration fails at import, not at load time.
  if spec.task_type not in {t.value for t in TaskType}:
    # A kind of its own: declared (kinds.register_kind) before its tasks. The built-in kinds are
    # not looked up here: `kinds/` imports this package while it loads.
    from stilts_jax.kinds.base import KINDS
    if spec.task_type not in KINDS:
      raise ValueError(f"Task {spec.name!r}: unknown task kind {spec.task_type!r}; register it "
                       f"with kinds.register_kind first (known: {_valid(KINDS)}).")
  for split, names in spec.sources.items():
    for name in names:
      if name in _SOURCES:
        if split not in _SOURCES[name].splits:
          raise ValueError(f"Task {spec.name!r} split {split!r}: source {name!r} has no such split "
                           f"(it has: {_valid(_SOURCES[name].splits)}).")
      elif name not in _RAW_SOURCES:
        raise ValueError(f"Task {spec.name!r} split {split!r} names unknown source {name!r}.")
  for split, langs in spec.split_languages.items():
    if not set(langs) <= set(spec.languages):
      raise ValueError(f"Task {spec.name!r} split {split!r} languages not in task languages.")
  _TASKS[spec.name] = spec
  return spec


PARQUET_CONVERSION = "refs/convert/parquet"  # the Hub's parquet copy of a script dataset
MAIN_PARQUET = "{config}/{split}-*.parquet"  # the layout of a repo converted to parquet on main
CONVERSION_PARQUET = "default/{split}/*.parquet"  # refs/convert/parquet of a one-config dataset

# Sources read only from user files (no Hub copy); the loader dispatches them to raw_formats.py.
_RAW_SOURCES = {"ccg"}


def get_task(name: str) -> TaskSpec:
  try:
    return _TASKS[name]
  except KeyError:
    raise RegistryError(f"Unknown task {name!r}. Valid tasks: {_valid(_TASKS)}.") from None


def get_source(name: str) -> SourceSpec:
  try:
    return _SOURCES[name]
  except KeyError:
    raise RegistryError(f"Unknown source {name!r}. Valid sources: {_valid(_SOURCES)}.") from None


def list_tasks(intermediate: bool | None = None) -> tuple[str, ...]:
  """Registered task names, optionally only intermediate (True) or only target (False) tasks."""
  return tuple(sorted(n for n, t in _TASKS.items()
                      if intermediate is None or t.intermediate == intermediate))


def benchmark_tasks(benchmark: str) -> tuple[str, ...]:
  """The set's tasks in registration order: the paper's order (for XTREME: classification,
  structured prediction, QA, retrieval, the order of its results table)."""
  return tuple(n for n, t in _TASKS.items() if t.benchmark == benchmark)


def list_sources() -> tuple[str, ...]:
  return tuple(sorted(_SOURCES))


def list_override_keys() -> tuple[str, ...]:
  """Source names that `data_overrides` can point at local files: Hub sources and raw ones."""
  return tuple(sorted(set(_SOURCES) | _RAW_SOURCES))


def resolve_split(task: TaskSpec, split: str) -> str:
  if split not in task.sources:
    raise RegistryError(f"Task {task.name!r} has no split {split!r}. Valid splits: "
                        f"{_valid(task.sources)}.")
  return split


def resolve_language(task: TaskSpec, split: str, language: str | None) -> str:
  """Validates `language` for (task, split); None means English where the split has it."""
  valid = task.languages_for(resolve_split(task, split))
  if language is None:
    if "en" in valid:
      return "en"
    raise RegistryError(f"Task {task.name!r} split {split!r} needs a language. Valid languages: "
                        f"{' '.join(valid)}.")
  if language not in valid:
    where = "" if language not in task.languages else f" (it has no {split!r} split there)"
    raise RegistryError(f"Unknown language {language!r} for task {task.name!r} split {split!r}"
                        f"{where}. Valid languages: {' '.join(valid)}.")
  return language

"""Reading and validating `results.jsonl` rows written by the training pipeline.

One JSON object per line. Required keys: `intermediate` (str, or null for the no-intermediate
XLM-R baseline), `target` (an XTREME task), `language`, `split` ("validation" | "test"), `metric`,
`value` (a float in [0, 100]). Optional: `seed` (int), `model` (str), `bucc_source`
("bucc_original_files" | "hub_gold_pairs"), `step`, `config` (hex fingerprint of the recipe:
hyperparameters, model, data; not the seed, so the seeds of one recipe share it), `data` (what the
score was computed on: `{"examples": int, "rows_read": int, "skipped": {reason: int},
"repaired": {reason: int}, "origin": str}`, see `tasks.LoadedSplit.data_summary`; `origin` is
`hub:<id>/<config>@<revision>`, `xtreme:<archive>` or `local:<path>`, xtreme_data/origin.py).

Every problem is reported with the file and line it came from; nothing is silently dropped, since a
table computed from half-read results looks exactly like a real one. Rows still in memory (the
pipeline's, before it writes results.jsonl) go through the same checks (`parse_rows`). Paths are
`etils.epath` paths, so workdirs may be `gs://...`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence

from etils import epath

from stilts_jax.paths import PathLike
from stilts_jax.layout import RESULTS_FILE
from stilts_jax.tasks import TaskType, benchmark_tasks, get_task, list_tasks

# From the task registry (TaskSpec.benchmark / main_metric), the one list of each.
# XTREME's task order (paper.md §3): classification, structured prediction, QA, retrieval.
TARGETS = benchmark_tasks("xtreme")
QA_TARGETS = tuple(t for t in TARGETS if get_task(t).task_type == TaskType.SPAN_QA)
# XTREME-R targets the pipeline also runs: valid rows, but outside the XTREME table and its Avg.
XTREME_R_TARGETS = benchmark_tasks("xtreme_r")


def known_targets() -> tuple[str, ...]:
  """Every target a row may name: XTREME's, XTREME-R's, then any other registered target task
  (one of a new kind, say), read from the registry when asked so later registrations count."""
  others = tuple(t for t in list_tasks(intermediate=False) if t not in TARGETS + XTREME_R_TARGETS)
  return TARGETS + XTREME_R_TARGETS + others


class _MainMetric(Mapping):
  """{target: the metric its cell reports} (`TaskSpec.main_metric`, else its first metric), live
  over the registry. QA's is "score", (exact_match + f1) / 2, the XTREME task metric."""

  def __getitem__(self, target: str) -> str:
    if target not in known_targets():
      raise KeyError(target)
    spec = get_task(target)
    return spec.main_metric or spec.metrics[0]

  def __iter__(self):
    return iter(known_targets())

  def __len__(self) -> int:
    return len(known_targets())


MAIN_METRIC: Mapping[str, str] = _MainMetric()
SPLITS = ("validation", "test")
BUCC_SOURCES = ("bucc_original_files", "hub_gold_pairs")
REQUIRED_KEYS = ("intermediate", "target", "language", "split", "metric", "value")
OPTIONAL_KEYS = ("seed", "model", "bucc_source", "step", "config", "data")
DATA_COUNTS = ("examples", "rows_read")
DATA_REASONS = ("skipped", "repaired")
DATA_ORIGIN_KINDS = ("hub:", "xtreme:", "local:")  # xtreme_data/origin.py


class ResultsError(ValueError):
  """A results file or row is malformed; the message names the file and line."""


@dataclasses.dataclass(frozen=True)
class ResultRow:
  """One validated result; `origin` is "file:line" for error messages."""
  intermediate: str | None
  target: str
  language: str
  split: str
  metric: str
  value: float
  seed: int | None = None
  model: str | None = None
  bucc_source: str | None = None
  step: int | None = None
  origin: str = ""
  config: str | None = None  # recipe fingerprint; seeds of one recipe share it
  data: dict | None = dataclasses.field(default=None, compare=False)  # see the module docstring

  @property
  def key(self) -> tuple:
    """Identity of a row; two rows with the same key are duplicates."""
    return (self.intermediate, self.target, self.language, self.split, self.metric, self.seed)


def _results_file(path: epath.Path) -> epath.Path:
  if path.is_dir():
    path = path / RESULTS_FILE
    if not path.is_file():
      raise ResultsError(f"{path.parent} is a directory without {RESULTS_FILE}.")
  elif not path.is_file():
    raise ResultsError(f"{path} does not exist (expected a workdir or a {RESULTS_FILE} file).")
  return path


def _is_int(x) -> bool:
  return isinstance(x, int) and not isinstance(x, bool)


def _parse_row(obj, where: str) -> ResultRow:
  def bad(message: str) -> ResultsError:
    return ResultsError(f"{where}: {message}")

  if not isinstance(obj, dict):
    raise bad(f"expected a JSON object, got {type(obj).__name__}")
  missing = [k for k in REQUIRED_KEYS if k not in obj]
  if missing:
    raise bad(f"missing key(s) {', '.join(missing)} (required: {', '.join(REQUIRED_KEYS)})")
  unknown = sorted(set(obj) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
  if unknown:
    # A misspelt optional key ("seeds") would otherwise merge seeds silently.
    raise bad(f"unknown key(s) {', '.join(unknown)} (optional keys: {', '.join(OPTIONAL_KEYS)})")
  inter = obj["intermediate"]
  if inter is not None and (not isinstance(inter, str) or not inter.strip()):
    raise bad(f"intermediate must be a non-empty string or null (baseline), got {inter!r}")
  target = obj["target"]
  if target not in known_targets():
    raise bad(f"unknown target {target!r} (known: {', '.join(known_targets())})")
  language = obj["language"]
  languages = get_task(target).languages
  if language not in languages:
    raise bad(f"language {language!r} is not an XTREME language of {target} "
              f"(valid: {' '.join(languages)})")
  if obj["split"] not in SPLITS:
    raise bad(f"split must be one of {', '.join(SPLITS)}, got {obj['split']!r}")
  metric = obj["metric"]
  if not isinstance(metric, str) or not metric:
    raise bad(f"metric must be a non-empty string, got {metric!r}")
  value = obj["value"]
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise bad(f"value must be a number, got {value!r}")
  value = float(value)
  if not math.isfinite(value):
    raise bad(f"value is not finite ({value})")
  if not 0.0 <= value <= 100.0:
    raise bad(f"value {value} is outside [0, 100] (scores are percentages)")
  seed = obj.get("seed")
  if seed is not None and not _is_int(seed):
    raise bad(f"seed must be an int, got {seed!r}")
  model = obj.get("model")
  if model is not None and not isinstance(model, str):
    raise bad(f"model must be a string, got {model!r}")
  bucc_source = obj.get("bucc_source")
  if bucc_source is not None and bucc_source not in BUCC_SOURCES:
    raise bad(f"bucc_source must be one of {', '.join(BUCC_SOURCES)}, got {bucc_source!r}")
  step = obj.get("step")
  if step is not None and not _is_int(step):
    raise bad(f"step must be an int, got {step!r}")
  config = obj.get("config")
  if config is not None and (not isinstance(config, str) or not config
                             or not set(config) <= set(string.hexdigits)):
    raise bad(f"config must be a non-empty hex fingerprint, got {config!r}")
  data = obj.get("data")
  if data is not None:
    _check_data(data, bad)
  return ResultRow(inter, target, language, obj["split"], metric, value, seed, model, bucc_source,
                   step, where, config, data)


def _check_data(data, bad) -> None:
  keys = DATA_COUNTS + DATA_REASONS + ("origin",)
  if not isinstance(data, dict) or set(data) - set(keys):
    raise bad(f"data must be an object with keys {', '.join(keys)}, got {data!r:.80}")
  origin = data.get("origin")
  if origin is not None and not (isinstance(origin, str) and all(
      part.startswith(DATA_ORIGIN_KINDS) for part in origin.split(" + "))):
    raise bad(f"data.origin must be 'hub:<id>/<config>@<revision>', 'xtreme:<archive>' or "
              f"'local:<path>' (several joined by ' + '), got {origin!r:.80}")
  for key in DATA_COUNTS:
    if key in data and not (_is_int(data[key]) and data[key] >= 0):
      raise bad(f"data.{key} must be a count, got {data[key]!r}")
  for key in DATA_REASONS:
    counts = data.get(key, {})
    if not isinstance(counts, dict) or not all(
        isinstance(k, str) and _is_int(v) and v >= 0 for k, v in counts.items()):
      raise bad(f"data.{key} must map reasons to counts, got {counts!r:.80}")


def parse_rows(objs: Iterable[dict], origin: str) -> list[ResultRow]:
  """Validated rows from objects in memory, with every check `read_results_file` makes and the
  duplicate check of `load_results`.

  `origin` names the rows in messages, as the file they become: row k (from 1) is "<origin>:k",
  its line in `<workdir>/results.jsonl` once written.
  """
  return _validate(enumerate(objs, start=1), origin, {})


def read_results_file(path: PathLike) -> list[ResultRow]:
  """Validated rows of one results.jsonl (blank lines are allowed; local or gs://)."""
  path = epath.Path(path)
  return _validate(_json_lines(path), os.fspath(path), {})


def load_results(paths: Iterable[PathLike]) -> list[ResultRow]:
  """Validated rows of all `paths` (workdirs holding results.jsonl, or results.jsonl files).

  Raises ResultsError on the first malformed row, and on duplicate rows (same intermediate,
  target, language, split, metric and seed), naming both locations: a duplicate usually means a
  run was repeated or two workdirs overlap, and averaging it would weight one seed twice.
  """
  paths = list(paths)
  if not paths:
    raise ResultsError("No results paths given.")
  rows: list[ResultRow] = []
  seen: dict[tuple, str] = {}  # shared across files: overlapping workdirs are duplicates too
  for p in paths:
    path = _results_file(epath.Path(p))
    rows += _validate(_json_lines(path), os.fspath(path), seen)
  return rows


def text_lines(path: epath.Path) -> Iterator[tuple[int, str]]:
  """(line number from 1, line) of each non-blank line of a text file, local or on an object
  store (read whole: gs:// has no cheap line iteration). Newlines as `open()` reads them."""
  text = path.read_text(encoding="utf-8")
  for lineno, line in enumerate(io.StringIO(text, newline=None), start=1):
    if line.strip():
      yield lineno, line


def _json_lines(path: epath.Path) -> Iterator[tuple[int, object]]:
  for lineno, line in text_lines(path):
    try:
      yield lineno, json.loads(line)
    except json.JSONDecodeError as e:
      raise ResultsError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None


def _validate(numbered: Iterable[tuple[int, object]], origin: str,
              seen: dict[tuple, str]) -> list[ResultRow]:
  """The one place rows are checked: each object, then duplicates against `seen` (key -> where
  first seen), which it updates."""
  rows = []
  for lineno, obj in numbered:
    row = _parse_row(obj, f"{origin}:{lineno}")
    if row.key in seen:
      raise ResultsError(
          f"{row.origin}: duplicate result {_describe(row)}, first seen at {seen[row.key]}.")
    seen[row.key] = row.origin
    rows.append(row)
  return rows


def _describe(row: ResultRow) -> str:
  return (f"(intermediate={row.intermediate!r}, target={row.target}, language={row.language}, "
          f"split={row.split}, metric={row.metric}, seed={row.seed})")


@dataclasses.dataclass(frozen=True)
class SeedStats:
  """One (intermediate, target, language, split, metric) over seeds."""
  mean: float
  std: float | None  # sample std (ddof=1); None for a single seed
  n: int
  by_seed: dict  # seed (None = unseeded) -> value
  config_by_seed: dict = dataclasses.field(default_factory=dict)  # seed -> fingerprint or None


def aggregate_seeds(rows: Sequence[ResultRow]) -> dict[tuple, SeedStats]:
  """Maps (intermediate, target, language, split, metric) to the mean/std/n over its seeds."""
  groups: dict[tuple, dict] = {}
  configs: dict[tuple, dict] = {}
  for r in rows:
    groups.setdefault(r.key[:5], {})[r.seed] = r.value
    configs.setdefault(r.key[:5], {})[r.seed] = r.config
  out = {}
  for key, by_seed in groups.items():
    values = list(by_seed.values())
    mean = math.fsum(values) / len(values)
    std = None
    if len(values) > 1:
      std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))
    out[key] = SeedStats(mean, std, len(values), dict(by_seed), configs[key])
  return out

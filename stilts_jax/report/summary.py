"""XTREME summary table (intermediate setting x target task) and gains over the XLM-R baseline.

Scoring follows XTREME's `evaluate.py` (paper.md §3): per task, the unweighted average over the
task's languages of its main metric (QA: (EM + F1) / 2); the overall "Avg" is the average over the
9 tasks and exists only when all 9 are present. Seeds are averaged per language first.

Split: one split per table, chosen explicitly (default "validation", the dev results the X-STILTs
paper analyses). The expected languages are `get_task(t).languages_for(split)` (UD-POS has 4
test-only languages). Rows are taken with the split the pipeline wrote; nothing is relabelled.

A task with some languages missing is still averaged over the languages present but marked `*`,
with a footnote naming the missing languages: an average over fewer languages is not an XTREME
score and must not pass for one.

A cell whose data is not XTREME's (UD-POS and PAWS-X read from the Hub, BUCC from its gold pairs;
`SourceSpec.hub_differs`) is marked `‡` and listed with the command that fetches XTREME's data.

Likewise a cell whose rows come from different recipes (distinct `config` fingerprints, or
fingerprinted rows mixed with rows without one) is still averaged but marked `†`, with a footnote
naming the fingerprints: seeds of different recipes are not repeats of one experiment.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Sequence

import numpy as np

from stilts_jax.report.results import (MAIN_METRIC, QA_TARGETS, SPLITS, TARGETS, ResultRow,
                                       ResultsError, aggregate_seeds, known_targets)
from stilts_jax.tasks import get_source, get_task

BASELINE_LABEL = "none (XLM-R)"
def target_title(target: str) -> str:
  """A target's name in tables (`TaskSpec.title`, else its registry name)."""
  return get_task(target).title or target


def setting_label(intermediate: str | None) -> str:
  return BASELINE_LABEL if intermediate is None else intermediate


@dataclasses.dataclass(frozen=True)
class Cell:
  """One (intermediate, target) entry: the language average of the main metric."""
  target: str
  value: float | None  # average over the languages present; None if none are
  per_language: dict[str, float]  # seed-mean main metric per language present
  expected: tuple[str, ...]  # the task's full language list for the split
  std: float | None = None  # sample std over seeds of the task average (None: < 2 full seeds)
  n_seeds: int = 0  # distinct seeds seen (an unseeded row counts as one)
  em: float | None = None  # QA: language average of exact_match (same languages as `value`)
  f1: float | None = None  # QA: language average of f1
  # Distinct recipe fingerprints of the rows behind `value` (None: rows without one), None last.
  configs: tuple[str | None, ...] = ()

  @property
  def missing(self) -> tuple[str, ...]:
    return tuple(l for l in self.expected if l not in self.per_language)

  @property
  def complete(self) -> bool:
    return self.value is not None and not self.missing

  @property
  def mixed_configs(self) -> bool:
    return len(self.configs) > 1


@dataclasses.dataclass
class Summary:
  split: str
  settings: list[str | None]  # baseline (None) first when present, then sorted
  cells: dict[tuple[str | None, str], Cell]
  avg: dict[str | None, float | None]
  notes: list[str]  # footnotes (BUCC data source, model, `†` cells mixing recipes)
  data_notes: list[str] = dataclasses.field(default_factory=list)  # repairs and skips
  # {target: why not comparable with published numbers}; those cells are marked `‡`
  not_comparable: dict[str, str] = dataclasses.field(default_factory=dict)
  # Targets outside XTREME with rows here (XTREME-R's, a new task's): their cells are in `cells`,
  # shown in a table of their own and never in the XTREME Avg.
  others: tuple[str, ...] = ()

  @property
  def has_baseline(self) -> bool:
    return None in self.settings

  def cell(self, setting: str | None, target: str) -> Cell:
    return self.cells[(setting, target)]

  def avg_missing(self, setting: str | None) -> list[str]:
    return [t for t in TARGETS if self.cells[(setting, t)].value is None]

  def avg_partial(self, setting: str | None) -> bool:
    return any(not self.cells[(setting, t)].complete for t in TARGETS)


def _mean(xs) -> float:
  xs = list(xs)
  return math.fsum(xs) / len(xs)


def _cell(target: str, split: str, stats: dict, setting: str | None) -> Cell:
  expected = get_task(target).languages_for(split)
  by_lang: dict[str, dict] = {}  # language -> seed -> main-metric value
  em_f1: dict[str, tuple[float, float]] = {}
  configs: set[str | None] = set()  # of exactly the (language, seed) values used
  for lang in expected:
    if target in QA_TARGETS:
      em = stats.get((setting, target, lang, split, "exact_match"))
      f1 = stats.get((setting, target, lang, split, "f1"))
      if em is None or f1 is None:
        continue
      # Per seed, only seeds that report both halves of the score.
      seeds = [s for s in em.by_seed if s in f1.by_seed]
      if seeds:
        by_lang[lang] = {s: (em.by_seed[s] + f1.by_seed[s]) / 2 for s in seeds}
        em_f1[lang] = (_mean(em.by_seed[s] for s in seeds), _mean(f1.by_seed[s] for s in seeds))
        configs.update(st.config_by_seed.get(s) for st in (em, f1) for s in seeds)
    else:
      st = stats.get((setting, target, lang, split, MAIN_METRIC[target]))
      if st is not None:
        by_lang[lang] = st.by_seed
        configs.update(st.config_by_seed.get(s) for s in st.by_seed)
  if not by_lang:
    return Cell(target, None, {}, expected)
  per_language = {l: _mean(v.values()) for l, v in by_lang.items()}
  all_seeds = set().union(*(v.keys() for v in by_lang.values()))
  # The std is over seeds that cover every language present; others would shift the language mix.
  full = [s for s in all_seeds if all(s in v for v in by_lang.values())]
  std = None
  if len(full) > 1:
    per_seed = [_mean(v[s] for v in by_lang.values()) for s in full]
    m = _mean(per_seed)
    std = math.sqrt(math.fsum((x - m) ** 2 for x in per_seed) / (len(per_seed) - 1))
  em = f1 = None
  if em_f1:
    em, f1 = _mean(e for e, _ in em_f1.values()), _mean(f for _, f in em_f1.values())
  return Cell(target, _mean(per_language.values()), per_language, expected, std, len(all_seeds),
              em, f1, tuple(sorted(configs, key=lambda c: (c is None, c or ""))))


def build_summary(rows: Sequence[ResultRow], split: str = "validation") -> Summary:
  """The XTREME table of `rows` on `split` (see the module docstring for the rules)."""
  if split not in SPLITS:
    raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
  rows = [r for r in rows if r.split == split]
  if not rows:
    raise ResultsError(f"No results for split {split!r}.")
  models = sorted({r.model for r in rows if r.model is not None})
  if len(models) > 1:
    # One table compares intermediate tasks; mixing base and large rows would compare models.
    raise ResultsError(f"Results on {split} mix models {', '.join(models)}; pass the workdirs of "
                       f"one model at a time.")
  notes = []
  bucc = sorted({r.bucc_source for r in rows if r.target == "bucc2018" and r.bucc_source})
  if len(bucc) > 1:
    raise ResultsError(f"BUCC results on {split} mix data sources {', '.join(bucc)}; their F1 "
                       f"scores are not comparable.")
  if models:
    notes.append(f"Model: {models[0]}.")
  stats = aggregate_seeds(rows)
  inters = {r.intermediate for r in rows}
  settings = ([None] if None in inters else []) + sorted(i for i in inters if i is not None)
  present = {r.target for r in rows}
  others = tuple(t for t in known_targets() if t not in TARGETS and t in present)
  cells = {(s, t): _cell(t, split, stats, s) for s in settings for t in TARGETS + others}
  avg = {}
  for s in settings:
    values = [cells[(s, t)].value for t in TARGETS]
    avg[s] = None if any(v is None for v in values) else _mean(values)
  notes += [f"`†` {setting_label(s)} / {t}: averages rows of {len(c.configs)} different recipes "
            f"(configs: {_configs_text(c.configs)}"
            + ("; none = rows without a config fingerprint" if None in c.configs else "") + ")."
            for (s, t), c in cells.items() if c.value is not None and c.mixed_configs]
  return Summary(split, settings, cells, avg, notes, data_notes(rows), not_comparable(rows),
                 others)


PREPARE_DIR = "xtreme_data"  # the folder name the fix command suggests


def fix_command(target: str) -> str:
  return (f"stilts-jax-data prepare --out {PREPARE_DIR} {target}, then rerun with "
          f"--config.data.xtreme_dir={PREPARE_DIR}")


def not_comparable(rows: Sequence[ResultRow]) -> dict[str, str]:
  """{target: why its scores are not comparable with published numbers}, for targets whose rows
  were read from a Hub copy that is not XTREME's data (`SourceSpec.hub_differs`), with the
  command that fetches XTREME's. Rows written before data origins existed count by
  `bucc_source`."""
  out = {}
  for target in TARGETS:
    mine = [r for r in rows if r.target == target]
    if not mine:
      continue
    spec = get_task(target)
    sources = {n for r in mine for n in spec.sources.get(r.split, ())}
    reasons = {get_source(n).hub_differs for n in sources} - {""}
    hub = sorted({p for r in mine if r.data for p in str(r.data.get("origin", "")).split(" + ")
                  if p.startswith("hub:")})
    if target == "bucc2018" and any(r.bucc_source == "hub_gold_pairs" for r in mine):
      hub = hub or ["hub gold pairs"]
    if hub and reasons:
      out[target] = (f"{target_title(target)}: read from the Hub ({', '.join(hub[:2])}"
                     f"{', ...' if len(hub) > 2 else ''}), and {'; '.join(sorted(reasons))}. "
                     f"Not comparable with published numbers; fix: {fix_command(target)}.")
  return out


REPAIR_WORDS = {"answer_realigned": "answers re-aligned", "answer_dropped": "answers dropped"}


def data_notes(rows: Sequence[ResultRow]) -> list[str]:
  """One line per (target, split, language) whose data had rows skipped or answers repaired,
  e.g. "XQuAD zh (validation): 1190 examples; 100 answers re-aligned, 0 answers dropped"."""
  seen: dict[tuple, dict] = {}
  for r in rows:
    if r.data and (r.data.get("skipped") or r.data.get("repaired")):
      seen.setdefault((TARGETS.index(r.target) if r.target in TARGETS else len(TARGETS),
                       r.target, r.language, r.split), r.data)
  lines = []
  for (_, target, language, split), data in sorted(seen.items()):
    parts = [f"{data.get('examples', '?')} examples"]
    repaired = data.get("repaired") or {}
    if repaired:
      parts.append(", ".join(f"{repaired.get(k, 0)} {w}" for k, w in REPAIR_WORDS.items()))
    skipped = data.get("skipped") or {}
    if skipped:
      read = data.get("rows_read")
      parts.append(f"{sum(skipped.values())} of {read if read is not None else '?'} rows "
                   f"skipped (" + ", ".join(f"{k} {n}" for k, n in sorted(skipped.items())) + ")")
    lines.append(f"{target_title(target)} {language} ({split}): " + "; ".join(parts))
  return lines


def _configs_text(configs: Sequence[str | None]) -> str:
  return " ".join("none" if c is None else c for c in configs)


@dataclasses.dataclass(frozen=True)
class GainTable:
  """Gains of each non-baseline setting over the baseline; NaN where either side is missing."""
  settings: list[str]
  columns: list[str]  # TARGETS + "avg"
  values: np.ndarray  # [len(settings), len(columns)]
  partial: np.ndarray  # bool: computed on fewer than the full language list / task set


def gain_table(summary: Summary) -> GainTable:
  """Per target, the mean over languages present for both of (setting - baseline).

  Pairing languages keeps a gain meaningful when one side lacks a language; with full coverage it
  equals the difference of the table's averages. The "avg" gain is the mean of the 9 task gains.
  """
  if not summary.has_baseline:
    raise ResultsError(
        f"No baseline rows (intermediate = null) on {summary.split}: gains need the XLM-R "
        f"baseline fine-tuned without an intermediate task.")
  others = [s for s in summary.settings if s is not None]
  columns = list(TARGETS) + ["avg"]
  values = np.full((len(others), len(columns)), np.nan)
  partial = np.zeros_like(values, dtype=bool)
  for i, s in enumerate(others):
    for j, t in enumerate(TARGETS):
      base, cell = summary.cell(None, t), summary.cell(s, t)
      common = [l for l in cell.expected if l in base.per_language and l in cell.per_language]
      if common:
        values[i, j] = _mean(cell.per_language[l] - base.per_language[l] for l in common)
        partial[i, j] = len(common) < len(cell.expected)
    if np.all(np.isfinite(values[i, :-1])):
      values[i, -1] = float(np.mean(values[i, :-1]))
      partial[i, -1] = bool(partial[i, :-1].any())
  return GainTable(others, columns, values, partial)


def _fmt(value: float | None, std: float | None = None, mark: str = "") -> str:
  if value is None:
    return ""
  s = f"{value:.1f}"
  if std is not None:
    s += f" ± {std:.1f}"
  return s + mark


def _marks(c: Cell) -> str:
  """`*`: fewer languages than the task's list; `†`: rows of more than one recipe."""
  if c.value is None:
    return ""
  return ("" if c.complete else "*") + ("†" if c.mixed_configs else "")


def _md_row(cells: Sequence[str]) -> str:
  return "| " + " | ".join(cells) + " |"


def to_markdown(summary: Summary) -> str:
  """The summary (and, with a baseline, the gains) as markdown tables with footnotes."""
  head = ["intermediate"] + [target_title(t) for t in TARGETS] + ["Avg"]
  lines = [f"XTREME summary ({summary.split}; main metric averaged over each task's languages; "
           f"QA = (EM + F1) / 2; ± = std over seeds)", "",
           _md_row(head), _md_row(["---"] + ["---:"] * (len(head) - 1))]
  foot = []
  for s in summary.settings:
    row = [setting_label(s)]
    for t in TARGETS:
      c = summary.cell(s, t)
      row.append(_fmt(c.value, c.std, _marks(c) + (
          "‡" if c.value is not None and t in summary.not_comparable else "")))
      if c.value is not None and c.missing:
        foot.append(f"`*` {setting_label(s)} / {t}: averaged over {len(c.per_language)} of "
                    f"{len(c.expected)} languages; missing: {' '.join(c.missing)}.")
    missing = summary.avg_missing(s)
    row.append(_fmt(summary.avg[s], mark="*" if summary.avg_partial(s) else ""))
    if missing:
      foot.append(f"Avg blank for {setting_label(s)}: no results for {', '.join(missing)}.")
    lines.append(_md_row(row))
  lines += ["", *(f"- {f}" for f in foot + summary.notes)] if foot or summary.notes else []

  qa_head = ["intermediate"] + [f"{target_title(t)} F1 / EM" for t in QA_TARGETS]
  lines += ["", "QA detail (F1 / EM)", "", _md_row(qa_head), _md_row(["---"] + ["---:"] * 3)]
  for s in summary.settings:
    cs = [summary.cell(s, t) for t in QA_TARGETS]
    lines.append(_md_row([setting_label(s)] + [
        "" if c.f1 is None else f"{c.f1:.1f} / {c.em:.1f}" + _marks(c)
        for c in cs]))

  if summary.others:
    other_head = ["intermediate"] + [target_title(t) for t in summary.others]
    lines += ["", f"Other targets ({summary.split}; main metric averaged over the languages "
              f"run; not in the XTREME Avg)", "", _md_row(other_head),
              _md_row(["---"] + ["---:"] * len(summary.others))]
    for s in summary.settings:
      cs = [summary.cell(s, t) for t in summary.others]
      lines.append(_md_row([setting_label(s)] + [_fmt(c.value, c.std, _marks(c)) for c in cs]))

  if summary.has_baseline and len(summary.settings) > 1:
    g = gain_table(summary)
    lines += ["", f"Gain over {BASELINE_LABEL} ({summary.split})", "",
              _md_row(head), _md_row(["---"] + ["---:"] * (len(head) - 1))]
    for i, s in enumerate(g.settings):
      lines.append(_md_row([s] + [
          "" if not np.isfinite(v) else f"{v:+.1f}" + ("*" if p else "")
          for v, p in zip(g.values[i], g.partial[i])]))
    lines += ["", "- `*` gain over the languages both settings have (not the full list)."]
  if summary.not_comparable:
    lines += ["", "`‡` Not comparable with published numbers (data is not XTREME's)", "",
              *(f"- {n}" for n in summary.not_comparable.values())]
  if summary.data_notes:
    lines += ["", "Data repaired or skipped (counted by the loader; see tasks/convert.py)", "",
              *(f"- {n}" for n in summary.data_notes)]
  return "\n".join(lines) + "\n"


def _num(v: float | None) -> str:
  return "" if v is None or not math.isfinite(v) else f"{v:.4f}"


def to_csv(summary: Summary) -> str:
  """Wide CSV mirroring the markdown table: one row per setting, plain numbers, blanks missing.

  Columns: intermediate, the 9 task scores, avg, <qa>_em / <qa>_f1, and `incomplete`
  ("task:lang lang; ..." for cells averaged over fewer than all languages).
  """
  buf = io.StringIO()
  w = csv.writer(buf, lineterminator="\n")
  qa_cols = [f"{t}_{m}" for t in QA_TARGETS for m in ("em", "f1")]
  w.writerow(["intermediate", *TARGETS, "avg", *qa_cols, "incomplete"])
  for s in summary.settings:
    cs = {t: summary.cell(s, t) for t in TARGETS}
    incomplete = "; ".join(f"{t}:{' '.join(c.missing)}" for t, c in cs.items()
                           if c.value is not None and c.missing)
    qa = [_num(getattr(cs[t], m)) for t in QA_TARGETS for m in ("em", "f1")]
    w.writerow([setting_label(s), *(_num(cs[t].value) for t in TARGETS), _num(summary.avg[s]),
                *qa, incomplete])
  return buf.getvalue()


def to_long_csv(summary: Summary) -> str:
  """Tidy CSV: one row per (setting, target) with std, seeds, language coverage and `configs`
  (the cell's distinct recipe fingerprints, sorted, space-separated; "none" = rows without one)."""
  buf = io.StringIO()
  w = csv.writer(buf, lineterminator="\n")
  w.writerow(["intermediate", "target", "split", "metric", "value", "std", "n_seeds",
              "n_languages", "n_expected", "missing_languages", "exact_match", "f1", "configs"])
  for s in summary.settings:
    for t in TARGETS:
      c = summary.cell(s, t)
      w.writerow([setting_label(s), t, summary.split, MAIN_METRIC[t], _num(c.value), _num(c.std),
                  c.n_seeds, len(c.per_language), len(c.expected), " ".join(c.missing),
                  _num(c.em), _num(c.f1), _configs_text(c.configs)])
  return buf.getvalue()

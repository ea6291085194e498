"""Analysis 1: does the similarity between an intermediate and a target task predict the gain?

Unit: one (intermediate setting, target) cell. Gain = the report's gain over the XLM-R baseline
(`gain_table`: per target, the mean over languages both have of setting - baseline, task score =
main metric, QA (EM + F1) / 2). Similarity comes from a user table (CSV/JSON: intermediate, target,
similarity), e.g. `embedding_similarity` of the two tasks' texts, and from the built-in format-match
indicator (same task type: QA <-> QA, sentence-pair classification <-> XNLI/PAWS-X, tagging <->
UD-POS/PAN-X; multiple choice and retrieval match nothing). Pearson and Spearman with bootstrap CIs
resampling cells; a permutation test of matched vs unmatched mean gain.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from etils import epath

from stilts_jax.analysis import common as C
from stilts_jax.analysis.stats import Correlation, PermutationTest, correlation, two_sample_test
from stilts_jax.analysis.task_similarity import TABLE_COLUMNS, cosine
from stilts_jax.paths import PathLike
from stilts_jax.report.results import TARGETS, ResultRow
from stilts_jax.report.summary import gain_table
from stilts_jax.tasks import RegistryError, get_task, list_tasks

SimilarityTable = Mapping[tuple[str, str], float]


def task_format(name: str) -> str | None:
  """The task type of a registered task, or of the longest registered task name `name` extends
  with "_..." (`mnli_multilingual` -> mnli's); None when unknown."""
  try:
    return get_task(name).task_type
  except RegistryError:
    pass
  known = sorted((t for t in list_tasks() if name.startswith(t + "_")), key=len, reverse=True)
  return get_task(known[0]).task_type if known else None


def format_match(intermediate: str, target: str) -> float | None:
  """1.0 when any task of the setting (`a+b` multi-task, `x@pct` fractions allowed) has the
  target's task type, 0.0 when none does, None when a component's type is unknown."""
  formats = [task_format(t) for t in C.parse_setting(intermediate).tasks]
  target_format = task_format(target)
  if target_format in formats:
    return 1.0
  return None if None in formats or target_format is None else 0.0


def load_similarity_table(path: PathLike) -> dict[tuple[str, str], float]:
  """Reads (intermediate, target) -> similarity from a CSV with a header row
  `intermediate,target,similarity`, or a JSON list of such objects, or JSON
  {intermediate: {target: similarity}}. Local or gs://."""
  path = epath.Path(path)
  if not path.is_file():
    raise C.AnalysisError(f"Similarity file {path} does not exist.")
  text = path.read_text(encoding="utf-8")
  if path.suffix.lower() == ".json":
    try:
      obj = json.loads(text)
    except json.JSONDecodeError as e:
      raise C.AnalysisError(f"{path}: not valid JSON ({e.msg}).") from None
    if isinstance(obj, dict):
      entries = [(i, t, v) for i, row in obj.items() for t, v in dict(row).items()]
    elif isinstance(obj, list):
      try:
        entries = [(o["intermediate"], o["target"], o["similarity"]) for o in obj]
      except (KeyError, TypeError):
        raise C.AnalysisError(f"{path}: each entry needs intermediate, target, similarity.") \
            from None
    else:
      raise C.AnalysisError(f"{path}: expected a JSON list or object.")
  else:
    reader = csv.DictReader(text.splitlines())
    need = set(TABLE_COLUMNS)
    if not reader.fieldnames or not need <= set(reader.fieldnames):
      raise C.AnalysisError(f"{path}: CSV header must contain {', '.join(sorted(need))}; got "
                            f"{reader.fieldnames}.")
    entries = [(r["intermediate"], r["target"], r["similarity"]) for r in reader]
  table: dict[tuple[str, str], float] = {}
  for k, (inter, target, value) in enumerate(entries, start=1):
    where = f"{path} entry {k}"
    if target not in TARGETS:
      raise C.AnalysisError(f"{where}: unknown target {target!r} (known: {', '.join(TARGETS)}).")
    try:
      value = float(value)
    except (TypeError, ValueError):
      raise C.AnalysisError(f"{where}: similarity {value!r} is not a number.") from None
    if not math.isfinite(value):
      raise C.AnalysisError(f"{where}: similarity is not finite.")
    if (inter, target) in table:
      raise C.AnalysisError(f"{where}: duplicate ({inter}, {target}).")
    table[(str(inter), target)] = value
  return table


def embedding_similarity(encoder_fn: Callable[[list[str]], object], texts_a: Sequence[str],
                         texts_b: Sequence[str]) -> float:
  """Cosine similarity of the mean-pooled embeddings of two text samples.

  `encoder_fn(list_of_texts)` returns an array [len(texts), dim] (any encoder: the pretrained
  XLM-R's mean-pooled hidden states, a sentence-embedding model, a toy function in tests).
  """
  means = []
  for name, texts in (("texts_a", texts_a), ("texts_b", texts_b)):
    texts = list(texts)
    if not texts:
      raise ValueError(f"{name} is empty.")
    emb = np.asarray(encoder_fn(texts), dtype=float)
    if emb.ndim != 2 or emb.shape[0] != len(texts):
      raise ValueError(f"encoder_fn must return [len(texts), dim]; got shape {emb.shape} for "
                       f"{len(texts)} texts.")
    means.append(emb.mean(axis=0))
  a, b = means
  if a.shape != b.shape:
    raise ValueError(f"Embedding sizes differ ({a.shape[0]} vs {b.shape[0]}).")
  return cosine(a, b)  # raises on a zero mean embedding


@dataclasses.dataclass(frozen=True)
class SimilarityCell:
  intermediate: str
  target: str
  gain: float
  similarity: float | None  # from the table (None: not given)
  format_match: float | None


@dataclasses.dataclass
class SimilarityResult:
  split: str
  cells: list[SimilarityCell]
  correlations: dict[str, Correlation]  # measure ("table", "format_match") -> correlation
  format_gap: PermutationTest | None  # matched minus unmatched mean gain
  n_boot: int
  seed: int
  notes: list[str]

  def plot(self, out_dir: PathLike) -> list[epath.Path]:
    paths = []
    for measure in self.correlations:
      fig = C.figure((6.0, 4.5))
      ax = fig.subplots()
      for matched, colour, label in ((1.0, "tab:blue", "format match"),
                                     (0.0, "tab:orange", "no format match"),
                                     (None, "grey", "format unknown")):
        pts = [c for c in self.cells if c.format_match == matched and _x(c, measure) is not None]
        if pts:
          ax.scatter([_x(c, measure) for c in pts], [c.gain for c in pts], c=colour, label=label,
                     s=25)
      for c in self.cells:
        if _x(c, measure) is not None:
          ax.annotate(f"{c.intermediate}→{c.target}", (_x(c, measure), c.gain), fontsize=6,
                      alpha=0.7)
      ax.axhline(0, color="black", lw=0.5)
      r = self.correlations[measure]
      ax.set_title(f"gain vs {measure} (n={r.n}; Spearman {r.spearman.fmt()})", fontsize=9)
      ax.set_xlabel("similarity" if measure == "table" else "format match (0/1)")
      ax.set_ylabel(f"gain over baseline ({self.split}, points)")
      ax.legend(fontsize=7)
      paths.append(C.save(fig, epath.Path(out_dir) / f"similarity_{measure}.png"))
    return paths

  def to_markdown(self, images: Sequence[PathLike] = (),
                  relative_to: PathLike | None = None) -> str:
    lines = ["## 1. Task similarity vs transfer gain", "",
             f"Unit: (intermediate, target) cell; gain = task score minus the XLM-R baseline, "
             f"averaged over languages ({self.split}). Correlations with "
             f"{C.ci_note(self.n_boot, self.seed)} resampling cells.", ""]
    rows = [[m, str(r.n), r.pearson.fmt(), r.spearman.fmt()] for m, r in self.correlations.items()]
    lines += C.md_table(["similarity", "n", "Pearson r [CI]", "Spearman ρ [CI]"], rows)
    if self.format_gap is not None:
      g = self.format_gap
      lines += ["", f"Format-matched minus unmatched mean gain: {g.statistic:+.2f} points "
                f"(n = {g.n} cells; two-sample permutation test, {g.method}: p = {C.fmt_p(g)})."]
    lines += ["", *C.md_table(["intermediate", "target", "gain", "similarity", "format match"], [
        [c.intermediate, c.target, f"{c.gain:+.2f}",
         "" if c.similarity is None else f"{c.similarity:.3f}",
         "" if c.format_match is None else str(int(c.format_match))] for c in self.cells])]
    lines += [""] + [f"- {n}" for n in self.notes] + [""] * bool(self.notes)
    lines += C.images_md(images, relative_to)
    return "\n".join(lines) + "\n"


def _x(cell: SimilarityCell, measure: str) -> float | None:
  return cell.similarity if measure == "table" else cell.format_match


def _check_measure(cells: list[SimilarityCell], measure: str) -> str | None:
  xs = [_x(c, measure) for c in cells if _x(c, measure) is not None]
  if len(xs) < 3:
    return f"{measure}: only {len(xs)} cell(s) with a gain and a similarity; need at least 3"
  if len(set(xs)) < 2:
    return f"{measure}: the similarity is the same for every cell, so no correlation exists"
  return None


def analyze_similarity(rows: Sequence[ResultRow], similarity: SimilarityTable | PathLike
                       | None = None, split: str = "validation",
                       settings: Sequence[str] | None = None, n_boot: int = 2000,
                       seed: int = 0) -> SimilarityResult:
  """Correlates per-cell gains with the similarity table (when given) and with format match.

  Raises AnalysisError without a baseline, or when the primary measure (the table if given, else
  format match) has fewer than 3 cells or no variation.
  """
  summary = C.summarize(rows, split)
  C.require_baseline(summary, "Analysis 1 (similarity vs gain)")
  settings = C.choose_settings(summary, settings, "Analysis 1")
  table = None
  if similarity is not None:
    table = similarity if isinstance(similarity, Mapping) else load_similarity_table(similarity)
  g = gain_table(summary)
  cells = []
  for i, s in enumerate(g.settings):
    if s not in settings:
      continue
    for j, t in enumerate(TARGETS):
      if np.isfinite(g.values[i, j]):
        cells.append(SimilarityCell(s, t, float(g.values[i, j]),
                                    None if table is None else table.get((s, t)),
                                    format_match(s, t)))
  notes = []
  measures = (["table"] if table is not None else []) + ["format_match"]
  correlations: dict[str, Correlation] = {}
  for k, m in enumerate(measures):
    problem = _check_measure(cells, m)
    if problem and k == 0:
      raise C.AnalysisError(f"Analysis 1 cannot run: {problem}.")
    if problem:
      notes.append(f"Not computed: {problem}.")
      continue
    used = [c for c in cells if _x(c, m) is not None]
    correlations[m] = correlation([_x(c, m) for c in used], [c.gain for c in used], n_boot, seed)
  if table is not None:
    unused = sorted(set(table) - {(c.intermediate, c.target) for c in cells})
    if unused:
      notes.append(f"{len(unused)} similarity entr{'y' if len(unused) == 1 else 'ies'} without a "
                   f"gain in the results: " + ", ".join(f"{i}→{t}" for i, t in unused[:10]) +
                   (" ..." if len(unused) > 10 else ""))
  matched = [c.gain for c in cells if c.format_match == 1.0]
  unmatched = [c.gain for c in cells if c.format_match == 0.0]
  gap = two_sample_test(matched, unmatched, seed=seed) if matched and unmatched else None
  notes.append("Cells share baselines and targets, so they are not independent; read the CIs as "
               "descriptive.")
  return SimilarityResult(split, cells, correlations, gap, n_boot, seed, notes)

"""Analysis 4: target score vs the fraction of intermediate-task data used.

Convention: a setting trained on p % of an intermediate task's training set is named `<task>@<p>`
(`mnli@1`, `mnli@10`, `squad_v1+mnli@30`; `<task>@100` or the plain `<task>` is the full set).
Per (task, target, fraction): the task score of each seed (the report's score computed on that
seed's rows alone), mean, sample std and a t-based 95 % CI over seeds; and the slope of score vs
log10(fraction) — points per tenfold more data — fitted to all seed scores, with a bootstrap CI
resampling seeds within each fraction.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
from etils import epath

from stilts_jax.analysis import common as C
from stilts_jax.analysis.stats import Estimate, linear_fit, t_quantile_975
from stilts_jax.paths import PathLike
from stilts_jax.report.results import TARGETS, ResultRow, ResultsError
from stilts_jax.report.summary import target_title


@dataclasses.dataclass(frozen=True)
class ScalePoint:
  fraction: float  # percent of the intermediate training set
  setting: str
  seed_scores: tuple[float, ...]

  @property
  def n(self) -> int:
    return len(self.seed_scores)

  @property
  def mean(self) -> float:
    return float(np.mean(self.seed_scores))

  @property
  def std(self) -> float | None:
    return float(np.std(self.seed_scores, ddof=1)) if self.n > 1 else None

  @property
  def ci(self) -> tuple[float, float] | None:
    if self.n < 2:
      return None
    half = t_quantile_975(self.n - 1) * self.std / math.sqrt(self.n)
    return self.mean - half, self.mean + half


@dataclasses.dataclass
class ScalingResult:
  split: str
  curves: dict[tuple[str, str], list[ScalePoint]]  # (task, target) -> points by fraction
  slopes: dict[tuple[str, str], Estimate]  # points per 10x data
  baseline: dict[str, float]  # target -> baseline score (drawn as a reference line)
  n_boot: int
  seed: int
  notes: list[str]

  def plot(self, out_dir: PathLike) -> list[epath.Path]:
    paths = []
    for task in sorted({k[0] for k in self.curves}):
      targets = [t for t in TARGETS if (task, t) in self.curves]
      fig = C.figure((6.0, 4.0))
      ax = fig.subplots()
      for k, t in enumerate(targets):
        pts = self.curves[(task, t)]
        colour = f"C{k % 10}"
        x = [p.fraction for p in pts]
        y = np.array([p.mean for p in pts])
        err = np.array([p.std or 0.0 for p in pts])
        ax.plot(x, y, marker="o", color=colour, label=target_title(t))
        ax.fill_between(x, y - err, y + err, color=colour, alpha=0.2)
        if t in self.baseline:
          ax.axhline(self.baseline[t], color=colour, ls="--", lw=0.8)
      ax.set_xscale("log")
      ax.set_xlabel(f"{task} training data (%)")
      ax.set_ylabel(f"task score ({self.split})")
      ax.set_title(f"Intermediate-data scaling: {task} (band = ±1 std over seeds; "
                   f"dashed = baseline)", fontsize=8)
      ax.legend(fontsize=7)
      paths.append(C.save(fig, epath.Path(out_dir) / f"scaling_{task.replace('+', '_')}.png"))
    return paths

  def to_markdown(self, images: Sequence[PathLike] = (),
                  relative_to: PathLike | None = None) -> str:
    lines = ["## 4. Intermediate-data scaling", "",
             f"Settings `<task>@<percent>` ({self.split}). Per point: mean ± sample std over "
             f"seeds and a t-based 95 % CI; slope = points per 10× more intermediate data "
             f"(least squares on log10 fraction) with {C.ci_note(self.n_boot, self.seed)} "
             f"resampling seeds within each fraction.", ""]
    rows = []
    for (task, t), pts in self.curves.items():
      cells = []
      for p in pts:
        s = f"{p.fraction:g} %: {p.mean:.1f}"
        s += f" ± {p.std:.1f} [{p.ci[0]:.1f}, {p.ci[1]:.1f}]" if p.std is not None else " (1 seed)"
        cells.append(f"{s} (n={p.n})")
      rows.append([task, t, self.slopes[(task, t)].fmt(2, sign=True), "; ".join(cells)])
    lines += C.md_table(["task", "target", "slope per 10× [CI]", "points"], rows)
    lines += [""] + [f"- {n}" for n in self.notes] + [""] * bool(self.notes)
    lines += C.images_md(images, relative_to)
    return "\n".join(lines) + "\n"


def _seed_score(rows: Sequence[ResultRow], setting: str, target: str, seed, split: str,
                languages: set[str]) -> float | None:
  sub = [r for r in rows if r.intermediate == setting and r.target == target and r.seed == seed]
  try:
    cell = C.summarize(sub, split).cell(setting, target)
  except ResultsError:
    return None
  # A seed missing languages would shift the language mix, not measure data size.
  return cell.value if set(cell.per_language) == languages else None


def analyze_scaling(rows: Sequence[ResultRow], split: str = "validation", n_boot: int = 2000,
                    seed: int = 0) -> ScalingResult:
  """Scaling curves of every task with `@fraction` settings.

  Raises AnalysisError when no `<task>@<pct>` setting exists, when no (task, target) has 3 or more
  fractions, or when no point has 2 or more seeds (no spread to report).
  """
  summary = C.summarize(rows, split)
  by_task: dict[str, dict[float, str]] = {}
  notes = []
  for s in summary.settings:
    if s is not None:
      try:
        base, pct = C.split_fraction(s)
      except C.AnalysisError as e:  # tasks on different fractions: on no one curve
        notes.append(f"{s} left out: {e}")
        continue
      if pct is not None:
        by_task.setdefault(base, {})[pct] = s
  if not by_task:
    raise C.AnalysisError("Analysis 4 needs data-fraction settings named <task>@<percent> "
                          "(e.g. mnli@1, mnli@10, mnli@100); there are none.")
  for base, fr in by_task.items():
    if 100.0 not in fr and base in summary.settings:
      fr[100.0] = base  # the plain name is the full training set
  curves = {}
  for base, fr in by_task.items():
    for t in TARGETS:
      pts = []
      for pct in sorted(fr):
        cell = summary.cell(fr[pct], t)
        if cell.value is None:
          continue
        langs = set(cell.per_language)
        seeds = sorted({r.seed for r in rows if r.intermediate == fr[pct] and r.target == t
                        and r.split == split}, key=lambda s: (s is None, s))
        scores = [_seed_score(rows, fr[pct], t, s, split, langs) for s in seeds]
        scores = [x for x in scores if x is not None]
        if scores:
          pts.append(ScalePoint(pct, fr[pct], tuple(scores)))
      if len(pts) >= 3:
        curves[(base, t)] = pts
      elif pts:
        notes.append(f"{base} / {t}: only {len(pts)} fraction(s); need 3 for a curve.")
  if not curves:
    raise C.AnalysisError("Analysis 4 needs at least 3 data fractions of one task on one target; "
                          + ("; ".join(notes) or "none found."))
  if not any(p.n >= 2 for pts in curves.values() for p in pts):
    raise C.AnalysisError("Analysis 4 needs seeds: every scaling point has a single seed, so there "
                          "is no spread to report. Run at least 2 seeds per fraction.")
  if any(p.n < 2 for pts in curves.values() for p in pts):
    notes.append("Points marked (1 seed) have no spread.")
  slopes = {k: _slope(pts, n_boot, seed) for k, pts in curves.items()}
  baseline = {t: summary.cell(None, t).value for t in TARGETS
              if summary.has_baseline and summary.cell(None, t).value is not None}
  return ScalingResult(split, curves, slopes, baseline, n_boot, seed, notes)


def _slope(pts: Sequence[ScalePoint], n_boot: int, seed: int) -> Estimate:
  x = np.concatenate([[math.log10(p.fraction)] * p.n for p in pts])
  y = np.concatenate([p.seed_scores for p in pts])
  value = linear_fit(x, y)[0]
  rng = np.random.default_rng(seed)
  boots = []
  for _ in range(n_boot):
    yb = np.concatenate([rng.choice(p.seed_scores, p.n) for p in pts])
    boots.append(linear_fit(x, yb)[0])
  low, high = np.quantile(boots, [0.025, 0.975])
  return Estimate(value, float(low), float(high), len(y), n_boot)

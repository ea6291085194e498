"""Shared pieces of the analyses: the refusal error, per-language task scores (reusing the report's
scoring), setting-name conventions, markdown and figure helpers.

Scores are the report's: `build_summary` gives, per (setting, target, language), the seed-mean
main metric, with QA scored as (EM + F1) / 2. The analyses never re-derive a score, so a number
here is the number in `stilts-jax-report`'s table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from etils import epath
from matplotlib.figure import Figure

from stilts_jax.analysis.stats import PermutationTest
from stilts_jax.paths import PathLike
from stilts_jax.report.plots import figure, save_png  # noqa: F401 (C.figure in the analyses)
from stilts_jax.report.results import ResultRow
from stilts_jax.report.summary import Summary, build_summary
from stilts_jax.setting import Setting, SettingError

ENGLISH = "en"


class AnalysisError(ValueError):
  """The results lack what an analysis needs; the message says what is missing."""


def summarize(rows: Sequence[ResultRow], split: str) -> Summary:
  return build_summary(rows, split=split)


def parse_setting(setting: str) -> Setting:
  """`Setting.parse` (the pipeline's grammar), its error an AnalysisError."""
  try:
    return Setting.parse(setting)
  except SettingError as e:
    raise AnalysisError(str(e)) from None


def split_fraction(setting: str) -> tuple[str, float | None]:
  """("mnli", 10.0) for "mnli@10", ("squad_v1+mnli", 2.5) for "squad_v1+mnli@2.5"; (setting,
  None) for a setting on all its data."""
  try:
    parsed = Setting.parse(setting)
    percent = parsed.data_percent()
  except SettingError as e:
    raise AnalysisError(str(e)) from None
  return (setting, None) if percent is None else (str(parsed.on_all_data()), percent)


def default_settings(summary: Summary) -> list[str]:
  """Non-baseline settings, less data-fraction runs (`x@pct`, analysis 4's): a 1 % run is not a
  separate intermediate task and would weight MNLI five times in a pooled analysis."""
  return [s for s in summary.settings
          if s is not None and all(p.percent == 100 for p in parse_setting(s).parts)]


def choose_settings(summary: Summary, settings: Sequence[str] | None, what: str) -> list[str]:
  """`settings` (checked to exist), or `default_settings`; refuses when none is left."""
  settings = list(settings) if settings is not None else default_settings(summary)
  check_settings(summary, settings)
  if not settings:
    raise AnalysisError(f"{what} needs at least one intermediate setting besides the baseline.")
  return settings


def check_settings(summary: Summary, settings: Sequence[str]) -> None:
  missing = [s for s in settings if s not in summary.settings]
  if missing:
    present = ", ".join(s for s in summary.settings if s is not None) or "none"
    raise AnalysisError(f"No {summary.split} results for setting(s) {', '.join(missing)} "
                        f"(present: {present}).")


def require_baseline(summary: Summary, what: str) -> None:
  if not summary.has_baseline:
    raise AnalysisError(f"{what} needs the XLM-R baseline (rows with intermediate = null) on "
                        f"{summary.split}; there is none.")


def per_language(summary: Summary, setting: str | None, target: str) -> dict[str, float]:
  return dict(summary.cell(setting, target).per_language)


def language_gains(summary: Summary, settings: Sequence[str], target: str,
                   exclude_english: bool = True) -> dict[str, float]:
  """Per language: the mean over `settings` of (setting - baseline), languages all settings and
  the baseline have. English is left out by default: it is the training language, not zero-shot."""
  base = per_language(summary, None, target)
  scores = [per_language(summary, s, target) for s in settings]
  langs = [l for l in summary.cell(None, target).expected
           if l in base and all(l in sc for sc in scores)
           and not (exclude_english and l == ENGLISH)]
  return {l: math.fsum(sc[l] - base[l] for sc in scores) / len(scores) for l in langs}


# --- markdown ------------------------------------------------------------------------------------

def md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
  lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(["---"] * len(head)) + " |"]
  return lines + ["| " + " | ".join(r) + " |" for r in rows]


def fmt_p(test: PermutationTest) -> str:
  return f"{test.p_value:.4f}" if test.p_value >= 1e-4 else f"{test.p_value:.1e}"


def ci_note(n_boot: int, seed: int) -> str:
  return f"95 % percentile bootstrap CI, {n_boot} resamples, seed {seed}"


def images_md(paths: Sequence[PathLike], relative_to: PathLike | None) -> list[str]:
  """Markdown image links; images beside the markdown (in `relative_to`) by name only."""
  out = []
  for p in map(epath.Path, paths):
    beside = relative_to is not None and p.parent == epath.Path(relative_to)
    out.append(f"![{p.stem}]({p.name if beside else p})")
  return out


# --- figures (report/plots.py's: Agg canvas, no pyplot state; PNGs written through epath) -------

def save(fig: Figure, path: PathLike) -> epath.Path:
  fig.tight_layout()
  return save_png(fig, path)

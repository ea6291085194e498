"""The published XTREME test numbers beside a run's, with the delta and whether they compare.

    stilts-jax-report runs/* --out report/ --paper     -> report/paper.md (and printed)

Published rows (per target, the paper's metric: accuracy, or F1 for tagging, QA and BUCC; QA EM
where published). The X-STILTs paper's own results table could not be read here, so its numbers
come from the papers that reprint them; two reprints disagree slightly and both are shown, each
with its source (shared/reference/paper.md has the evidence):

* X-STILTs, best intermediate task per target, as reported in mT5 (Xue et al. 2021, Table 2;
  google-research/multilingual-t5 README): QA F1 only, no POS, BUCC or Tatoeba.
* X-STILTs on the XTREME leaderboard, as reprinted in RemBERT (Chung et al. 2021, Table 16).
* XLM-R Large (Hu et al. 2020, XTREME): mT5 and RemBERT agree on everything but POS, where
  RemBERT's Table 7 group score gives 72.6 and its Table 16 prints 73.8 (72.6 shown); BUCC and
  Tatoeba come from one secondary source only.

A run's cell compares with a published number only when it is on the split XTREME reports (its
test sets: XQuAD, TyDiQA-GoldP and Tatoeba have one evaluation set, our `validation`), covers the
task's full language list, ran XLM-R Large, and read XTREME's data (summary.not_comparable).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from stilts_jax.report.results import QA_TARGETS, TARGETS, ResultRow
from stilts_jax.report.summary import (BASELINE_LABEL, Summary, build_summary, target_title,
                                       fix_command, setting_label)

PAPER_MODEL = "xlm-roberta-large"
# The split of ours that holds the set XTREME reports as test.
PAPER_SPLIT = {"xnli": "test", "pawsx": "test", "udpos": "test", "panx": "test",
               "xquad": "validation", "mlqa": "test", "tydiqa": "validation",
               "bucc2018": "test", "tatoeba": "validation"}


@dataclasses.dataclass(frozen=True)
class Published:
  label: str
  source: str
  score: dict[str, float]  # accuracy / F1 (QA: F1), 0-100
  em: dict[str, float] = dataclasses.field(default_factory=dict)  # QA exact match
  baseline: bool = False  # compares with the run's no-intermediate rows, else with its best


PUBLISHED = (
    Published("X-STILTs (mT5's table)", "Xue et al. 2021 (mT5), Table 2",
              {"xnli": 80.4, "pawsx": 87.7, "panx": 64.7, "xquad": 77.2, "mlqa": 72.3,
               "tydiqa": 76.0}),
    Published("X-STILTs (leaderboard)", "Chung et al. 2021 (RemBERT), Table 16",
              {"xnli": 80.0, "pawsx": 87.9, "udpos": 74.9, "panx": 64.0, "xquad": 78.7,
               "mlqa": 72.4, "tydiqa": 76.0}, {"xquad": 63.3, "mlqa": 53.7, "tydiqa": 59.5}),
    Published("XLM-R Large", "Hu et al. 2020 (XTREME), via mT5 Table 2 and RemBERT Tables 7/16",
              {"xnli": 79.2, "pawsx": 86.4, "udpos": 72.6, "panx": 65.4, "xquad": 76.6,
               "mlqa": 71.6, "tydiqa": 65.1, "bucc2018": 66.0, "tatoeba": 57.3},
              {"xquad": 60.8, "mlqa": 53.2, "tydiqa": 45.0}, baseline=True),
)


@dataclasses.dataclass(frozen=True)
class Comparison:
  target: str
  split: str
  baseline: float | None  # the run's no-intermediate score in the paper's metric
  best: float | None  # the run's best intermediate setting's score
  best_setting: str | None
  why_not: tuple[str, ...]  # empty: comparable


def _paper_metric(summary: Summary, setting, target: str) -> float | None:
  cell = summary.cell(setting, target)
  return cell.f1 if target in QA_TARGETS else cell.value


def compare(rows: Sequence[ResultRow]) -> list[Comparison]:
  """One Comparison per target the rows have on the split XTREME reports."""
  summaries = {}
  for split in sorted({PAPER_SPLIT[r.target] for r in rows if r.target in PAPER_SPLIT}):
    if any(r.split == split for r in rows):
      summaries[split] = build_summary(rows, split)
  out = []
  for target in TARGETS:
    summary = summaries.get(PAPER_SPLIT[target])
    if summary is None or all(summary.cell(s, target).value is None for s in summary.settings):
      continue
    baseline = _paper_metric(summary, None, target) if summary.has_baseline else None
    scored = [(v, s) for s in summary.settings if s is not None
              and (v := _paper_metric(summary, s, target)) is not None]
    best, best_setting = max(scored, key=lambda x: x[0]) if scored else (None, None)
    why = []
    if any(not summary.cell(s, target).complete for s in summary.settings
           if summary.cell(s, target).value is not None):
      why.append("not every language")
    models = {r.model for r in rows if r.target == target}
    if models != {PAPER_MODEL}:
      why.append(f"model {', '.join(sorted(m or '?' for m in models))}")
    if target in summary.not_comparable:
      why.append(f"data not XTREME's; fix: {fix_command(target)}")
    out.append(Comparison(target, summary.split, baseline, best, best_setting, tuple(why)))
  return out


def _num(v: float | None) -> str:
  return "" if v is None else f"{v:.1f}"


def _delta(mine: float | None, theirs: float | None) -> str:
  return "" if mine is None or theirs is None else f"{mine - theirs:+.1f}"


def to_markdown(rows: Sequence[ResultRow]) -> str:
  """The comparison table with its sources; every published row is shown even when blank."""
  comparisons = compare(rows)
  head = ["target", "split", f"yours: {BASELINE_LABEL}", "yours: best intermediate"]
  for p in PUBLISHED:
    head += [p.label, "Δ"]
  head.append("comparable")
  lines = ["Published XTREME test results beside yours (accuracy; F1 for POS, NER, QA, BUCC). "
           "Δ = yours − published: the baseline against XLM-R Large, your best intermediate "
           "against X-STILTs (best intermediate per target).", "",
           "| " + " | ".join(head) + " |",
           "|" + "---|" * 4 + "---:|---:|" * len(PUBLISHED) + "---|"]
  for c in comparisons:
    cells = [target_title(c.target), c.split, _num(c.baseline),
             f"{_num(c.best)} ({setting_label(c.best_setting)})" if c.best is not None else ""]
    for p in PUBLISHED:
      theirs = p.score.get(c.target)
      cells += [_num(theirs), _delta(c.baseline if p.baseline else c.best, theirs)]
    cells.append("yes" if not c.why_not else "no: " + "; ".join(c.why_not))
    lines.append("| " + " | ".join(cells) + " |")
  if not comparisons:
    lines.append("(no results on the splits XTREME reports: "
                 + ", ".join(f"{target_title(t)} {s}" for t, s in PAPER_SPLIT.items()) + ")")
  lines += ["", "Sources:", *(f"- {p.label}: {p.source}." for p in PUBLISHED),
            "- QA exact match, published: " + "; ".join(
                f"{p.label} " + ", ".join(f"{target_title(t)} {v:.1f}" for t, v in p.em.items())
                for p in PUBLISHED if p.em) + "."]
  return "\n".join(lines) + "\n"

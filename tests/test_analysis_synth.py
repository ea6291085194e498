"""Synthetic results with planted structure for the analysis tests (imported by the other
test_analysis_* modules), and checks that the generator itself scores as intended."""

import json

import numpy as np

from stilts_jax.report.results import MAIN_METRIC, QA_TARGETS, ResultRow
from stilts_jax.report.summary import build_summary
from stilts_jax.tasks import get_task


def make_rows(score_fn, settings, targets, seeds=(0,), split="validation"):
  """One row per (setting, target, language, seed); QA gets EM = F1 = the score, so the task
  score (EM + F1) / 2 is exactly `score_fn(setting, target, language, seed)` (clipped to 0-100)."""
  rows = []
  for s in settings:
    for t in targets:
      for lang in get_task(t).languages_for(split):
        for seed in seeds:
          v = float(np.clip(score_fn(s, t, lang, seed), 0.0, 100.0))
          metrics = ("exact_match", "f1") if t in QA_TARGETS else (MAIN_METRIC[t],)
          rows += [ResultRow(s, t, lang, split, m, v, seed) for m in metrics]
  return rows


def write_jsonl(path, rows):
  path.parent.mkdir(parents=True, exist_ok=True)
  keys = ("intermediate", "target", "language", "split", "metric", "value", "seed")
  path.write_text("".join(json.dumps({k: getattr(r, k) for k in keys}) + "\n" for r in rows))
  return path


def is_png(path):
  return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_make_rows_scores_as_planted():
  rows = make_rows(lambda s, t, l, seed: 40.0 if s is None else 45.0, [None, "mnli"],
                   ["xnli", "xquad"], seeds=(0, 1))
  summary = build_summary(rows)
  assert summary.cell(None, "xquad").value == 40.0
  assert summary.cell("mnli", "xnli").value == 45.0
  assert summary.cell("mnli", "xnli").n_seeds == 2

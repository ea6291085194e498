"""SQuAD 2.0 scorer with the official v2.0 script's semantics (`evaluate-v2.0.py`).

Differences from v1.1 that the official script has and we keep: unanswerable questions (empty gold
list) are only answered correctly by the empty string; gold answers that normalise to "" are
dropped; F1 is 1 when both sides are empty and 0 when only one is; a predicted no-answer
probability above `na_prob_thresh` turns the prediction into an abstention; with `na_probs`, the
best threshold is searched (`find_best_thresh`).

One deliberate difference: a question with no prediction scores 0 (never as an abstention) and
counts in every denominator. The official script skips it in the overall totals but still counts
it in `find_best_thresh`'s starting score, which is inconsistent.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

from stilts_jax.metrics._checks import check_qa_inputs
from stilts_jax.metrics.qa import normalize_squad, token_f1


def _v2_f1(gold: str, pred: str) -> float:
  gold_toks = normalize_squad(gold).split() if gold else []
  pred_toks = normalize_squad(pred).split() if pred else []
  if not gold_toks or not pred_toks:
    return float(gold_toks == pred_toks)  # no-answer agrees only with no-answer
  return token_f1(pred_toks, gold_toks)


def _raw_scores(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]
                ) -> tuple[dict[str, float], dict[str, float]]:
  """Per-question EM and F1 before any no-answer threshold; only answered questions appear."""
  exact, f1 = {}, {}
  for qid, golds in references.items():
    if qid not in predictions:
      continue
    golds = [g for g in golds if normalize_squad(g)] or [""]
    pred = predictions[qid]
    exact[qid] = max(float(normalize_squad(g) == normalize_squad(pred)) for g in golds)
    f1[qid] = max(_v2_f1(g, pred) for g in golds)
  return exact, f1


def _best_thresh(predictions: Mapping[str, str], scores: Mapping[str, float],
                 na_probs: Mapping[str, float], has_ans: Mapping[str, bool],
                 total: int) -> tuple[float, float]:
  """Official `find_best_thresh`: start from "abstain on everything", then answer questions in
  increasing na_prob order; keep the na_prob where the running score is strictly highest."""
  # Abstaining is right for every unanswerable question that has a prediction (missing ones are 0).
  cur = sum(1 for qid in scores if not has_ans[qid])
  best, best_thresh = cur, 0.0
  # sorted() is stable, so equal na_probs keep the official (dict) order.
  for qid in sorted(na_probs, key=lambda k: na_probs[k]):
    if qid not in scores:
      continue
    if has_ans[qid]:
      cur += scores[qid]
    else:
      cur += -1 if predictions[qid] else 0
    if cur > best:
      best, best_thresh = cur, float(na_probs[qid])
  return 100.0 * best / total, best_thresh


def squad_v2(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]],
             na_probs: Mapping[str, float] | None = None,
             na_prob_thresh: float = 1.0) -> dict[str, float]:
  """Official SQuAD 2.0 metrics (x100).

  Args:
    predictions: question id -> predicted text; "" means "no answer".
    references: question id -> gold answer texts; an empty list marks an unanswerable question.
    na_probs: optional question id -> predicted no-answer probability; must cover every predicted
      id. When given, also returns best_exact/best_f1 and their thresholds.
    na_prob_thresh: a prediction whose na_prob is > this counts as an abstention.

  Returns: exact, f1, total; HasAns_{exact,f1,total} if any answerable question; NoAns_* if any
  unanswerable one; best_exact, best_exact_thresh, best_f1, best_f1_thresh if `na_probs` is given.
  """
  check_qa_inputs(predictions, references, allow_unanswerable=True)
  if not isinstance(na_prob_thresh, numbers.Real) or math.isnan(na_prob_thresh):
    raise ValueError(f"na_prob_thresh must be a number, got {na_prob_thresh!r}.")
  if na_probs is not None:
    if not isinstance(na_probs, Mapping):
      raise ValueError(f"na_probs must be a mapping question id -> probability, "
                       f"got {type(na_probs).__name__}.")
    extra = [qid for qid in na_probs if qid not in references]
    if extra:
      raise ValueError(f"{len(extra)} na_probs id(s) are not in references, e.g. {extra[:3]!r}.")
    missing = [qid for qid in predictions if qid not in na_probs]
    if missing:
      raise ValueError(f"na_probs must cover every predicted id; {len(missing)} missing, "
                       f"e.g. {missing[:3]!r}.")
    for qid, p in na_probs.items():
      if not isinstance(p, numbers.Real) or not math.isfinite(p):
        raise ValueError(f"na_probs[{qid!r}] must be a finite number, got {p!r}.")
  has_ans = {qid: bool(golds) for qid, golds in references.items()}
  exact_raw, f1_raw = _raw_scores(predictions, references)
  probs = na_probs if na_probs is not None else {qid: 0.0 for qid in predictions}

  def thresholded(raw: dict[str, float]) -> dict[str, float]:
    # Missing predictions stay 0; an abstention is right iff the question is unanswerable.
    return {qid: (float(not has_ans[qid]) if probs[qid] > na_prob_thresh else s)
            for qid, s in raw.items()}

  exact, f1 = thresholded(exact_raw), thresholded(f1_raw)

  def summary(qids: list[str], prefix: str = "") -> dict[str, float]:
    n = len(qids)
    return {f"{prefix}exact": 100.0 * sum(exact.get(q, 0.0) for q in qids) / n,
            f"{prefix}f1": 100.0 * sum(f1.get(q, 0.0) for q in qids) / n,
            f"{prefix}total": n}

  out = summary(list(references))
  has_qids = [q for q, v in has_ans.items() if v]
  no_qids = [q for q, v in has_ans.items() if not v]
  if has_qids:
    out.update(summary(has_qids, "HasAns_"))
  if no_qids:
    out.update(summary(no_qids, "NoAns_"))
  if na_probs is not None:
    total = len(references)
    out["best_exact"], out["best_exact_thresh"] = _best_thresh(
        predictions, exact_raw, na_probs, has_ans, total)
    out["best_f1"], out["best_f1_thresh"] = _best_thresh(
        predictions, f1_raw, na_probs, has_ans, total)
  return out

"""squad_v2 against the official SQuAD 2.0 script's semantics (hand-computed cases)."""

import pytest

from stilts_jax import metrics

REFS = {"q1": ["Paris"], "q2": [], "q3": ["red dog barks"], "q4": []}
PREDS = {"q1": "paris", "q2": "", "q3": "the big red dog", "q4": "something"}
# Raw per-question (EM, F1): q1 (1, 1); q2 (1, 1) abstained correctly; q3 (0, 2/3); q4 (0, 0).


def test_without_na_probs():
  r = metrics.squad_v2(PREDS, REFS)
  assert r["exact"] == pytest.approx(50.0)
  assert r["f1"] == pytest.approx(100 * (1 + 1 + 2 / 3) / 4)
  assert r["total"] == 4
  assert r["HasAns_exact"] == pytest.approx(50.0)
  assert r["HasAns_f1"] == pytest.approx(100 * (1 + 2 / 3) / 2)
  assert r["HasAns_total"] == 2
  assert r["NoAns_exact"] == pytest.approx(50.0) and r["NoAns_f1"] == pytest.approx(50.0)
  assert r["NoAns_total"] == 2
  assert "best_exact" not in r


def test_na_prob_thresh_turns_predictions_into_abstentions():
  na = {"q1": 0.1, "q2": 0.9, "q3": 0.5, "q4": 0.8}
  r = metrics.squad_v2(PREDS, REFS, na_probs=na, na_prob_thresh=0.6)
  # q4 (0.8 > 0.6) now abstains on an unanswerable question -> correct.
  assert r["exact"] == pytest.approx(75.0)
  assert r["f1"] == pytest.approx(100 * (1 + 1 + 2 / 3 + 1) / 4)
  assert r["NoAns_exact"] == pytest.approx(100.0)
  # Threshold 0.4 also turns q3 (answerable, 0.5) into an abstention -> 0.
  r = metrics.squad_v2(PREDS, REFS, na_probs=na, na_prob_thresh=0.4)
  assert r["HasAns_f1"] == pytest.approx(50.0)
  # Strictly greater: na_prob == thresh keeps the answer.
  r = metrics.squad_v2(PREDS, REFS, na_probs=na, na_prob_thresh=0.8)
  assert r["NoAns_exact"] == pytest.approx(50.0)


def test_best_thresholds_find_best_thresh_semantics():
  na = {"q1": 0.1, "q2": 0.9, "q3": 0.5, "q4": 0.8}
  r = metrics.squad_v2(PREDS, REFS, na_probs=na)
  # EM walk from "abstain on all" (2 correct): q1 +1 -> 3 @0.1; q3 +0; q4 -1; q2 +0.
  assert r["best_exact"] == pytest.approx(75.0) and r["best_exact_thresh"] == pytest.approx(0.1)
  # F1 walk: q1 +1 -> 3 @0.1; q3 +2/3 -> 3.67 @0.5; q4 -1; q2 +0.
  assert r["best_f1"] == pytest.approx(100 * (3 + 2 / 3) / 4)
  assert r["best_f1_thresh"] == pytest.approx(0.5)


def test_best_thresh_stays_zero_when_abstaining_everywhere_is_best():
  refs = {"a": [], "b": ["x"]}
  r = metrics.squad_v2({"a": "junk", "b": "wrong"}, refs, na_probs={"a": 0.2, "b": 0.3})
  assert r["best_exact"] == pytest.approx(50.0) and r["best_exact_thresh"] == 0.0


def test_missing_prediction_counts_as_zero():
  preds = {k: v for k, v in PREDS.items() if k != "q1"}
  r = metrics.squad_v2(preds, REFS)
  assert r["total"] == 4 and r["exact"] == pytest.approx(25.0)
  assert r["HasAns_exact"] == 0.0
  # A missing unanswerable question is not an abstention either.
  preds = {k: v for k, v in PREDS.items() if k != "q2"}
  r = metrics.squad_v2(preds, REFS, na_probs={"q1": 0.0, "q3": 0.0, "q4": 0.0})
  assert r["NoAns_exact"] == 0.0
  # Walk: start 1 (q4 is the only predicted unanswerable; missing q2 never scores), q1 +1 -> 2,
  # q3 +0, q4 -1 -> best 2 of all 4 questions.
  assert r["best_exact"] == pytest.approx(50.0)


def test_v2_normalisation_details():
  # Golds that normalise to "" are dropped; if none remain, only "" is right (still HasAns).
  r = metrics.squad_v2({"q": ""}, {"q": ["The", "a"]})
  assert r["exact"] == 100.0 and r["f1"] == 100.0 and r["HasAns_total"] == 1
  # ...but while a real gold remains, an empty prediction cannot match the dropped "the".
  assert metrics.squad_v2({"q": ""}, {"q": ["the", "dog"]})["exact"] == 0.0
  assert metrics.squad_v2({"q": ""}, {"q": ["the", "dog"]})["f1"] == 0.0
  # Unlike v1.1, F1 of empty vs non-empty is 0 and empty vs empty is 1.
  assert metrics.squad_v2({"q": "an"}, {"q": []})["f1"] == 100.0
  assert metrics.squad_v2({"q": "dog"}, {"q": []})["f1"] == 0.0
  assert metrics.squad_v2({"q": ""}, {"q": ["dog"]})["f1"] == 0.0


@pytest.mark.parametrize("kwargs,match", [
    ({"na_probs": {"q1": 0.1}}, "cover every predicted id"),
    ({"na_probs": {**dict.fromkeys(PREDS, 0.1), "zz": 0.3}}, "not in references"),
    ({"na_probs": {**dict.fromkeys(PREDS, 0.1), "q1": float("nan")}}, "finite"),
    ({"na_prob_thresh": float("nan")}, "na_prob_thresh"),
])
def test_v2_bad_input(kwargs, match):
  with pytest.raises(ValueError, match=match):
    metrics.squad_v2(PREDS, REFS, **kwargs)
  with pytest.raises(ValueError, match="not in references"):
    metrics.squad_v2({"zz": ""}, REFS)

"""BUCC threshold/F1 (official `bucc_optimize`/`bucc_eval` semantics) and Tatoeba accuracy."""

import itertools
import random

import numpy as np
import pytest

from stilts_jax import metrics

# --- BUCC ---------------------------------------------------------------------------------------

DISTINCT = {("a", "A"): 0.9, ("b", "B"): 0.8, ("c", "X"): 0.7, ("d", "D"): 0.6, ("e", "Y"): 0.5}
DISTINCT_GOLD = {("a", "A"), ("b", "B"), ("d", "D"), ("f", "F")}


def test_bucc_hand_computed_distinct_scores():
  # Cumulative F1 down the list: .4, .667, .571, .75, .667 -> best after 0.6, midpoint to 0.5.
  t = metrics.bucc_optimal_threshold(DISTINCT, DISTINCT_GOLD)
  assert t == pytest.approx(0.55)
  r = metrics.bucc_f1(DISTINCT, DISTINCT_GOLD, t)
  assert r == pytest.approx({"precision": 75.0, "recall": 75.0, "f1": 75.0})
  # Lower threshold: 5 kept, 3 correct -> P 60, R 75.
  r = metrics.bucc_f1(DISTINCT, DISTINCT_GOLD, 0.0)
  assert r["precision"] == pytest.approx(60.0)
  assert r["f1"] == pytest.approx(100 * 2 * .6 * .75 / 1.35)


def test_bucc_best_is_last_candidate_uses_its_own_score():
  cands = {("a", "A"): 0.9, ("b", "B"): 0.5}
  gold = {("b", "B")}
  t = metrics.bucc_optimal_threshold(cands, gold)
  assert t == 0.5  # official script: IndexError (midpoint to a non-existent next item)
  assert metrics.bucc_f1(cands, gold, t)["f1"] == pytest.approx(200 / 3)


def test_bucc_threshold_keeps_ties_at_threshold():
  cands = {("a", "A"): 0.9, ("b", "B"): 0.8, ("c", "C"): 0.8, ("d", "D"): 0.7}
  gold = {("a", "A"), ("b", "B"), ("c", "C")}
  # score >= threshold: both 0.8 candidates are kept, 0.7 is not.
  r = metrics.bucc_f1(cands, gold, 0.8)
  assert r == pytest.approx({"precision": 100.0, "recall": 100.0, "f1": 100.0})
  assert metrics.bucc_f1(cands, gold, 0.8000001)["recall"] == pytest.approx(100 / 3)


def test_bucc_tied_scores_are_one_step_and_order_independent():
  # Gold a (0.9), b (0.8) tied with three wrong pairs at 0.8, then a wrong pair at 0.1.
  # The official walk, if b came first in dict order, would see F1 = 1 "after b" and pick the
  # threshold 0.8, which really keeps all four 0.8 pairs (F1 .571). Treating the tie as one step:
  # F1 after 0.9 = .667, after 0.8 = .571 -> threshold = (0.9 + 0.8) / 2.
  tied = [("b", "B"), ("x", "X"), ("y", "Y"), ("z", "Z")]
  gold = {("a", "A"), ("b", "B")}
  for order in itertools.permutations(tied):
    cands = {("a", "A"): 0.9, **{p: 0.8 for p in order}, ("w", "W"): 0.1}
    t = metrics.bucc_optimal_threshold(cands, gold)
    assert t == pytest.approx(0.85)
    assert metrics.bucc_f1(cands, gold, t)["f1"] == pytest.approx(200 / 3)


def test_bucc_tie_group_that_improves_f1():
  cands = {("x", "X"): 0.9, ("a", "A"): 0.5, ("b", "B"): 0.5, ("y", "Y"): 0.2}
  gold = {("a", "A"), ("b", "B")}
  # After 0.9: nothing correct; after the 0.5 pair: P 2/3, R 1 -> F1 .8; after 0.2: .667.
  t = metrics.bucc_optimal_threshold(cands, gold)
  assert t == pytest.approx(0.35)
  assert metrics.bucc_f1(cands, gold, t)["f1"] == pytest.approx(80.0)


def test_bucc_midpoint_of_adjacent_floats_still_excludes_next():
  lo = float(np.nextafter(1.0, 0.0))
  cands = {("a", "A"): 1.0, ("x", "X"): lo}
  t = metrics.bucc_optimal_threshold(cands, {("a", "A")})
  assert t > lo
  assert metrics.bucc_f1(cands, {("a", "A")}, t)["f1"] == 100.0


def test_bucc_no_correct_candidate():
  cands = {("x", "X"): 0.9}
  assert metrics.bucc_optimal_threshold(cands, {("a", "A")}) == 0.0  # as the official script
  assert metrics.bucc_f1(cands, {("a", "A")}, 0.0) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
  assert metrics.bucc_f1({}, {("a", "A")}, 0.0)["f1"] == 0.0


def _official_bucc_optimize(candidate2score, gold):
  """The official walk, one candidate at a time (agrees with ours when scores are distinct)."""
  items = sorted(candidate2score.items(), key=lambda x: -x[1])
  nextract = ncorrect = 0
  threshold, best_f1 = 0, 0
  for i in range(len(items)):
    nextract += 1
    if items[i][0] in gold:
      ncorrect += 1
    if ncorrect > 0:
      p, r = ncorrect / nextract, ncorrect / len(gold)
      f1 = 2 * p * r / (p + r)
      if f1 > best_f1:
        best_f1 = f1
        if i + 1 < len(items):
          threshold = (items[i][1] + items[i + 1][1]) / 2
        else:  # the official script raises IndexError here; the documented fix: own score
          threshold = items[i][1]
  return threshold


def test_bucc_random_distinct_scores_match_official_and_brute_force():
  rng = random.Random(0)
  for _ in range(40):
    n = rng.randint(1, 30)
    scores = rng.sample(range(1, 10_000), n)
    cands = {(f"s{i}", f"t{i}"): s / 1000 for i, s in enumerate(scores)}
    unmined = {("g", f"G{j}") for j in range(rng.randint(0, 3))}  # gold the miner never found
    gold = {p for p in cands if rng.random() < 0.5} | unmined
    if not gold:
      gold = {("g", "G")}
    t = metrics.bucc_optimal_threshold(cands, gold)
    assert t == pytest.approx(_official_bucc_optimize(cands, gold))
    # The tuned threshold realises the best F1 over every possible cut.
    best = max(metrics.bucc_f1(cands, gold, s)["f1"] for s in cands.values())
    assert metrics.bucc_f1(cands, gold, t)["f1"] == pytest.approx(best)


@pytest.mark.parametrize("cands,gold,match", [
    ({("a", "A"): 0.5}, set(), "gold is empty"),
    ({("a", "A"): 0.5}, {"a\tA"}, "tuples"),
    ({"a\tA": 0.5}, {("a", "A")}, "tuples"),
    ({("a", "A"): float("nan")}, {("a", "A")}, "finite"),
    ({("a", "A"): "0.5"}, {("a", "A")}, "finite"),
    ({("a", "A"): 0.5}, [("a", "A")], "set"),
])
def test_bucc_bad_input(cands, gold, match):
  with pytest.raises(ValueError, match=match):
    metrics.bucc_optimal_threshold(cands, gold)
  with pytest.raises(ValueError, match=match):
    metrics.bucc_f1(cands, gold, 0.1)


def test_bucc_bad_threshold_and_empty_candidates():
  with pytest.raises(ValueError, match="candidates is empty"):
    metrics.bucc_optimal_threshold({}, {("a", "A")})
  with pytest.raises(ValueError, match="threshold"):
    metrics.bucc_f1({("a", "A"): 0.5}, {("a", "A")}, float("nan"))


# --- Tatoeba ------------------------------------------------------------------------------------

def test_tatoeba_hand_computed_cosine_not_dot():
  q = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
  x = np.array([[2.0, 0.0], [1.0, 1.1], [0.0, 1.0]])
  # q0 -> x0 (right); q1 -> x2 (wrong, own is x1); q2 -> x1 (cos .9989 > .707, wrong).
  assert metrics.tatoeba_accuracy(q, x) == pytest.approx(100 / 3)
  # Cosine is scale-free: a huge x0 would win q2 under a raw dot product, not under cosine.
  scaled = x * np.array([[100.0], [1.0], [0.5]])
  assert metrics.tatoeba_accuracy(q * 7.0, scaled) == pytest.approx(100 / 3)


def _brute_force_accuracy(q, x):
  hits = 0
  for i, row in enumerate(q):
    sims = [float(row @ c) / (np.linalg.norm(row) * np.linalg.norm(c)) for c in x]
    hits += int(np.argmax(sims) == i)
  return 100 * hits / len(q)


def test_tatoeba_random_vs_brute_force_and_chunking():
  rng = np.random.default_rng(0)
  for noise in (0.1, 1.0, 3.0):
    q = rng.normal(size=(50, 8))
    x = q + noise * rng.normal(size=q.shape)
    expected = _brute_force_accuracy(q, x)
    assert metrics.tatoeba_accuracy(q, x) == pytest.approx(expected)
    assert metrics.tatoeba_accuracy(q, x, chunk_size=7) == pytest.approx(expected)
  q = rng.normal(size=(40, 16))
  assert metrics.tatoeba_accuracy(q, q[rng.permutation(40)]) < 100.0
  assert metrics.tatoeba_accuracy(q, 2 * q) == 100.0


def test_tatoeba_accepts_jax_arrays():
  import jax.numpy as jnp
  q = jnp.eye(4, dtype=jnp.bfloat16)
  assert metrics.tatoeba_accuracy(q, jnp.eye(4)[::-1]) == 0.0
  assert metrics.tatoeba_accuracy(q, q) == 100.0


@pytest.mark.parametrize("q,x,match", [
    (np.ones((3, 2)), np.ones((4, 2)), "same shape"),
    (np.ones(3), np.ones(3), "2-D"),
    (np.ones((0, 2)), np.ones((0, 2)), "empty"),
    (np.array([[1.0, np.nan]]), np.ones((1, 2)), "non-finite"),
    (np.ones((2, 2)), np.array([[1.0, 1.0], [0.0, 0.0]]), "all-zero"),
])
def test_tatoeba_bad_input(q, x, match):
  with pytest.raises(ValueError, match=match):
    metrics.tatoeba_accuracy(q, x)


def test_tatoeba_nearest_separates_what_float32_ties():
  # cos(q1, x0) = 1 - 5e-11 and cos(q1, x1) = 1 are equal in float32 (a device search would pick
  # row 0, the lower index) but not in float64: the evaluator writes these predictions and scores
  # them, so the written predictions and the accuracy agree.
  x = np.array([[1.0, 0.0], [1.0, 1e-5]])
  q = np.array([[1.0, -1e-3], [1.0, 1e-5]])
  assert metrics.tatoeba_nearest(q, x).tolist() == [0, 1]
  assert metrics.tatoeba_accuracy(q, x) == metrics.tatoeba_accuracy_of(np.array([0, 1])) == 100.0
  q32, x32 = (a / np.linalg.norm(a, axis=1, keepdims=True) for a in (q, x))
  assert (q32.astype(np.float32) @ x32.astype(np.float32).T)[1].tolist() == [1.0, 1.0]

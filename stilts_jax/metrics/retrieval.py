"""Retrieval scorers: BUCC 2018 bitext-mining F1 (with threshold tuning) and Tatoeba accuracy.

BUCC follows `bucc_optimize` / `bucc_eval` of XTREME's `third_party/utils_retrieve.py` (copied by
jiant): candidates are (src_id, trg_id) pairs with a margin score; a threshold keeps every pair with
score >= threshold; the tuned threshold is the midpoint between the best cut and the next score.
Tatoeba follows jiant/XTREME `similarity_search`: L2-normalise, nearest neighbour (≡ cosine).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Hashable, Mapping, Set
from typing import Any

import numpy as np

Pair = tuple[Hashable, Hashable]


def _check_pairs(pairs: Any, name: str) -> None:
  for pair in pairs:
    if not (isinstance(pair, tuple) and len(pair) == 2):
      raise ValueError(f"{name} must hold (src_id, trg_id) tuples, found {pair!r} "
                       f"(split 'src\\ttrg' strings into tuples first).")


def _check_bucc(candidates: Mapping[Pair, float], gold: Set[Pair]) -> None:
  if not isinstance(candidates, Mapping):
    raise ValueError(f"candidates must be a mapping (src_id, trg_id) -> score, "
                     f"got {type(candidates).__name__}.")
  if not isinstance(gold, Set):
    raise ValueError(f"gold must be a set of (src_id, trg_id) pairs, got {type(gold).__name__}.")
  if not gold:
    raise ValueError("gold is empty; BUCC recall over no gold pairs is undefined.")
  _check_pairs(candidates, "candidates")
  _check_pairs(gold, "gold")
  for pair, score in candidates.items():
    if not isinstance(score, numbers.Real) or not math.isfinite(score):
      raise ValueError(f"candidate score of {pair!r} must be a finite number, got {score!r}.")


def bucc_optimal_threshold(candidates: Mapping[Pair, float], gold: Set[Pair]) -> float:
  """The score threshold that maximises BUCC F1 of `candidates` against `gold` (`bucc_optimize`).

  Walks the candidates from the highest score down; whenever F1 strictly improves, the threshold
  becomes the midpoint between the current score and the next lower one, so `bucc_f1(...,
  threshold)` (score >= threshold) keeps exactly the candidates walked so far.

  Ties: candidates with equal scores are one step (a threshold cannot split them), so the result
  does not depend on dict order and the F1 found is the F1 `bucc_f1` reports at the threshold. The
  official walk splits ties in dict order, which can pick a threshold whose real F1 is lower; on
  distinct scores both agree. When the best cut is the lowest score, its own score is returned
  (the official script raises IndexError there). As in the official script, 0.0 is returned when
  no candidate is gold (F1 is 0 at every threshold). Raises ValueError on empty candidates/gold.
  """
  _check_bucc(candidates, gold)
  if not candidates:
    raise ValueError("candidates is empty; there is no threshold to choose.")
  items = sorted(candidates.items(), key=lambda kv: -kv[1])
  groups = [(score, [pair for pair, _ in grp])
            for score, grp in itertools.groupby(items, key=lambda kv: kv[1])]
  n_gold = len(gold)
  n_extract = n_correct = 0
  best_f1, threshold = 0.0, 0.0
  for i, (score, pairs) in enumerate(groups):
    n_extract += len(pairs)
    n_correct += sum(1 for p in pairs if p in gold)
    if n_correct == 0:
      continue
    precision, recall = n_correct / n_extract, n_correct / n_gold
    f1 = 2 * precision * recall / (precision + recall)
    if f1 > best_f1:
      best_f1 = f1
      if i + 1 < len(groups):
        next_score = groups[i + 1][0]
        threshold = (score + next_score) / 2
        if threshold <= next_score:  # adjacent floats: the midpoint rounds onto the next score
          threshold = score
      else:
        threshold = score
  return float(threshold)


def bucc_f1(candidates: Mapping[Pair, float], gold: Set[Pair],
            threshold: float) -> dict[str, float]:
  """Precision/recall/F1 (x100) of the candidates with score >= `threshold` against `gold`.

  As the XTREME scorer: all three are 0 when no kept pair is gold. Empty `candidates` is allowed
  (scores 0); empty `gold` raises ValueError.
  """
  _check_bucc(candidates, gold)
  if not isinstance(threshold, numbers.Real) or math.isnan(threshold):
    raise ValueError(f"threshold must be a number, got {threshold!r}.")
  kept = {pair for pair, score in candidates.items() if score >= threshold}
  n_correct = len(kept & gold)
  if n_correct == 0:
    return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
  precision, recall = n_correct / len(kept), n_correct / len(gold)
  f1 = 2 * precision * recall / (precision + recall)
  return {"precision": 100.0 * precision, "recall": 100.0 * recall, "f1": 100.0 * f1}


def _unit_rows(emb: Any, name: str) -> np.ndarray:
  x = np.asarray(emb, dtype=np.float64)  # float64: argmax ties from bf16/f32 rounding are rarer
  if x.ndim != 2:
    raise ValueError(f"{name} must be a 2-D [num_sentences, dim] array, got shape {x.shape}.")
  if x.shape[0] == 0 or x.shape[1] == 0:
    raise ValueError(f"{name} is empty (shape {x.shape}); expected at least one row and column.")
  if not np.all(np.isfinite(x)):
    bad = np.flatnonzero(~np.all(np.isfinite(x), axis=1))
    raise ValueError(f"{name} has non-finite values in {bad.size} row(s), "
                     f"e.g. rows {bad[:5].tolist()}.")
  norms = np.linalg.norm(x, axis=1, keepdims=True)
  if np.any(norms == 0):
    bad = np.flatnonzero(norms[:, 0] == 0)
    raise ValueError(f"{name} has all-zero row(s) {bad[:5].tolist()}; cosine similarity is "
                     f"undefined for them.")
  return x / norms


def tatoeba_nearest(query_emb: Any, index_emb: Any, chunk_size: int = 4096) -> np.ndarray:
  """For each query row, the `index_emb` row with the highest cosine similarity ([n] int64): the
  predictions `tatoeba_accuracy` scores, so the two never disagree.

  jiant/XTREME query with the English side and index the other language. Accepts numpy or jax
  arrays of equal shape [n, dim]; `chunk_size` bounds the [chunk, n] similarity block in memory.
  Equal similarities resolve to the lowest index row.
  """
  q = _unit_rows(query_emb, "query_emb")
  x = _unit_rows(index_emb, "index_emb")
  if q.shape != x.shape:
    raise ValueError(f"query_emb and index_emb must have the same shape (row i of each is a pair), "
                     f"got {q.shape} and {x.shape}.")
  return np.concatenate([np.argmax(q[start:start + chunk_size] @ x.T, axis=1)
                         for start in range(0, q.shape[0], chunk_size)])


def tatoeba_accuracy_of(nearest: np.ndarray) -> float:
  """Percentage of query rows i whose nearest index row is row i (its translation)."""
  nearest = np.asarray(nearest)
  return 100.0 * int(np.sum(nearest == np.arange(nearest.shape[0]))) / nearest.shape[0]


def tatoeba_accuracy(query_emb: Any, index_emb: Any, chunk_size: int = 4096) -> float:
  """Percentage of query rows whose cosine nearest neighbour among `index_emb` rows is the row
  with the same index (row i of both sides is a translation pair); see `tatoeba_nearest`."""
  return tatoeba_accuracy_of(tatoeba_nearest(query_emb, index_emb, chunk_size))

"""Accuracy, as XTREME `evaluate.py` scores XNLI / PAWS-X: exact equality per item, x100."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stilts_jax.metrics._checks import as_list, check_same_length


def accuracy(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
  """Percentage of positions where `y_pred[i] == y_true[i]` (labels may be str or int).

  Accepts lists, tuples and 1-D numpy/jax arrays. Raises ValueError on length mismatch or empty
  input. Labels are compared as given, so `"1"` and `1` differ: map both sides to one label space.
  """
  t = as_list(y_true, "y_true")
  p = as_list(y_pred, "y_pred")
  check_same_length(t, p, "y_true", "y_pred")
  return 100.0 * sum(1 for a, b in zip(t, p) if a == b) / len(t)

"""Tagging F1 (UD-POS, PAN-X) exactly as XTREME scores it: `seqeval` chunk F1, default mode.

The default (lenient, IOB1-like) mode is what `evaluate.py` uses, including its quirk on UPOS tags
(the first character is read as a B/I prefix, so runs of equal adjacent tags become one chunk).
We call seqeval itself rather than re-implementing it, so every such quirk matches.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from stilts_jax.metrics._checks import as_list


def _sentences(tags: Sequence[Sequence[str]], name: str) -> list[list[str]]:
  out = []
  for i, sent in enumerate(as_list(tags, name)):
    sent = as_list(sent, f"{name}[{i}]")
    for tag in sent:
      if not isinstance(tag, str):
        raise ValueError(f"{name}[{i}] must hold str tags like 'B-PER', got {type(tag).__name__} "
                         f"({tag!r}); map label ids to tag strings first.")
    out.append(sent)
  return out


def tagging_f1(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]]) -> float:
  """seqeval chunk-level micro F1 x100 over sentences of string tags (one tag per word).

  Raises ValueError unless both sides have the same number of sentences and each sentence pair has
  the same length, and at least one tag overall.
  """
  true = _sentences(y_true, "y_true")
  pred = _sentences(y_pred, "y_pred")
  if len(true) != len(pred):
    raise ValueError(f"y_true and y_pred must have the same number of sentences, "
                     f"got {len(true)} and {len(pred)}.")
  for i, (t, p) in enumerate(zip(true, pred)):
    if len(t) != len(p):
      raise ValueError(f"sentence {i}: y_true has {len(t)} tags but y_pred has {len(p)}; expected "
                       f"one predicted tag per gold word.")
  if not any(true):
    raise ValueError("y_true has no tags; tagging F1 over no words is undefined.")
  with warnings.catch_warnings():
    # Expected for UPOS tags (XTREME scores them with seqeval too); one warning per tag is noise.
    warnings.filterwarnings("ignore", message=".*seems not to be NE tag", category=UserWarning)
    # Imported here: seqeval pulls in scikit-learn/scipy (~2 s), which every pod worker would pay
    # at import time even when no tagging task is evaluated.
    from seqeval.metrics import f1_score
    return 100.0 * float(f1_score(true, pred))

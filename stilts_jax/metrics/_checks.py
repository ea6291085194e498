"""Input validation shared by the scorers: every bad input becomes a ValueError that says what was
wrong and what was expected, instead of a silently wrong score."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def as_list(values: Any, name: str) -> list:
  """`values` (list, tuple, numpy or jax 1-D array) as a Python list; rejects str and scalars."""
  if isinstance(values, (str, bytes)):
    raise ValueError(f"{name} must be a sequence of labels, got a single {type(values).__name__}.")
  if hasattr(values, "tolist") and hasattr(values, "ndim"):  # numpy / jax arrays
    if values.ndim != 1:
      raise ValueError(f"{name} must be 1-D, got an array of shape {tuple(values.shape)}.")
    return values.tolist()
  if not isinstance(values, Sequence):
    raise ValueError(f"{name} must be a sequence, got {type(values).__name__}.")
  return list(values)


def check_same_length(a: Sequence, b: Sequence, name_a: str, name_b: str) -> None:
  if len(a) != len(b):
    raise ValueError(f"{name_a} and {name_b} must have the same length, got {len(a)} and {len(b)}.")
  if not a:
    raise ValueError(f"{name_a} and {name_b} are empty; a score over no items is undefined.")


def check_qa_inputs(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]],
                    allow_unanswerable: bool) -> None:
  """Shared QA checks: mappings, str answers, prediction ids ⊆ reference ids."""
  if not isinstance(predictions, Mapping):
    raise ValueError(f"predictions must be a mapping question id -> answer text, "
                     f"got {type(predictions).__name__}.")
  if not isinstance(references, Mapping):
    raise ValueError(f"references must be a mapping question id -> list of gold answer texts, "
                     f"got {type(references).__name__}.")
  if not references:
    raise ValueError("references is empty; a QA score over no questions is undefined.")
  extra = [qid for qid in predictions if qid not in references]
  if extra:
    raise ValueError(f"{len(extra)} prediction id(s) are not in references (expected every "
                     f"predicted id to be a reference question), e.g. {extra[:3]!r}.")
  for qid, text in predictions.items():
    if not isinstance(text, str):
      raise ValueError(f"prediction for {qid!r} must be a str, got {type(text).__name__}.")
  for qid, golds in references.items():
    if isinstance(golds, str) or not isinstance(golds, Sequence):
      raise ValueError(f"references[{qid!r}] must be a list of gold answer strings, "
                       f"got {type(golds).__name__}.")
    if not golds and not allow_unanswerable:
      raise ValueError(f"references[{qid!r}] has no gold answer; SQuAD v1.1/MLQA need at least "
                       f"one (use squad_v2 for unanswerable questions).")
    for g in golds:
      if not isinstance(g, str):
        raise ValueError(f"gold answers of {qid!r} must be str, got {type(g).__name__}.")

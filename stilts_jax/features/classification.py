"""Sentence(-pair) classification, multiple choice and retrieval sentences as XLM-R features.

Layouts (jiant's XLM-R feat spec, `sep_token_extra=True`):
  single      `<s> A </s>`
  pair        `<s> A </s></s> B </s>`      longest-first truncation, tokens dropped from the end
  choice      `<s> P </s></s> C_i </s>`    one row per choice; longest-first, dropped from the START
  retrieval   `<s> S </s>`                 end truncation
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stilts_jax.examples import ChoiceExample, PairExample, SentenceExample
from stilts_jax.features.common import (
    NO_LABEL, SpecialIds, check_max_length, pad_rows, padded_length, tokenize,
    truncate_longest_first)

PAIR_SPECIALS = 4  # <s> A </s></s> B </s>
SINGLE_SPECIALS = 2  # <s> A </s>


def build_pair(a: list[int], b: list[int] | None, max_length: int, special: SpecialIds,
               keep_end: bool = False) -> list[int]:
  """One XLM-R row for `a` (and `b`), truncated longest-first to `max_length`."""
  if b is None:
    (a,) = truncate_longest_first([a], max_length - SINGLE_SPECIALS, keep_end)
    return [special.cls, *a, special.sep]
  a, b = truncate_longest_first([a, b], max_length - PAIR_SPECIALS, keep_end)
  return [special.cls, *a, special.sep, special.sep, *b, special.sep]


def _label(label: int | None, num_labels: int | None, guid: str) -> int:
  if label is None:
    return NO_LABEL
  if label < 0 or (num_labels is not None and label >= num_labels):
    raise ValueError(f"Example {guid!r}: label {label} is outside [0, {num_labels}).")
  return int(label)


def _arrays(rows: list[list[int]], max_length: int, pad_to_max_length: bool, pad: int
            ) -> tuple[np.ndarray, np.ndarray]:
  length = padded_length([len(r) for r in rows], max_length, pad_to_max_length)
  input_ids = pad_rows(rows, length, pad)
  mask = pad_rows([[1] * len(r) for r in rows], length, 0)
  return input_ids, mask


def featurize_pairs(examples: Sequence[PairExample], tokenizer, max_length: int = 128, *,
                    num_labels: int | None = None, pad_to_max_length: bool = True
                    ) -> dict[str, np.ndarray]:
  """Single-sentence or pair classification features.

  Returns int32 `input_ids [N,T]`, `attention_mask [N,T]`, `label [N]` (-1 when unlabeled) and
  `example_index [N]` (= arange: one row per example). T = max_length unless
  `pad_to_max_length=False` (then the longest row).
  """
  check_max_length(max_length, PAIR_SPECIALS + 2, "a pair with one token per side")
  special = SpecialIds.of(tokenizer)
  ids_a, _ = tokenize(tokenizer, [e.text_a for e in examples])
  # Tokenize only the second sides that exist; single-sentence examples keep `None`.
  with_b = [i for i, e in enumerate(examples) if e.text_b is not None]
  ids_b: list[list[int] | None] = [None] * len(examples)
  for i, ids in zip(with_b, tokenize(tokenizer, [examples[i].text_b for i in with_b])[0]):
    ids_b[i] = ids
  rows = [build_pair(a, b, max_length, special) for a, b in zip(ids_a, ids_b)]
  input_ids, mask = _arrays(rows, max_length, pad_to_max_length, special.pad)
  return {
      "input_ids": input_ids,
      "attention_mask": mask,
      "label": np.array([_label(e.label, num_labels, e.guid) for e in examples], np.int32),
      "example_index": np.arange(len(examples), dtype=np.int32),
  }


def featurize_choices(examples: Sequence[ChoiceExample], tokenizer, max_length: int = 128, *,
                      num_choices: int | None = None, pad_to_max_length: bool = True
                      ) -> dict[str, np.ndarray]:
  """Multiple-choice features: one `<s> prompt </s></s> choice </s>` row per choice.

  Truncation is jiant's `truncate_end=False`: longest-first, removing tokens from the start of the
  sequence (so the end of a long prompt, usually the question, survives). Every example of a call
  must have the same number of choices C (a fixed head width): `num_choices` if given (it also
  shapes an empty result), else the first example's count.
  Returns int32 `input_ids [N,C,T]`, `attention_mask [N,C,T]`, `label [N]`, `example_index [N]`.
  """
  check_max_length(max_length, PAIR_SPECIALS + 2, "a prompt/choice pair")
  if num_choices is not None and num_choices < 1:
    raise ValueError(f"num_choices must be >= 1, got {num_choices}.")
  special = SpecialIds.of(tokenizer)
  if not examples:
    empty = np.zeros((0, num_choices or 0, max_length if pad_to_max_length else 1), np.int32)
    return {"input_ids": empty, "attention_mask": empty.copy(),
            "label": np.zeros((0,), np.int32), "example_index": np.zeros((0,), np.int32)}
  expected = "the declared num_choices" if num_choices is not None else (
      "the first example's count, which must be > 0")
  num_choices = num_choices if num_choices is not None else len(examples[0].choices)
  for e in examples:
    if len(e.choices) != num_choices or num_choices == 0:
      raise ValueError(f"Example {e.guid!r}: has {len(e.choices)} choices, expected "
                       f"{num_choices} ({expected}).")
  ids_p, _ = tokenize(tokenizer, [e.prompt for e in examples])
  ids_c, _ = tokenize(tokenizer, [c for e in examples for c in e.choices])
  rows = [build_pair(ids_p[i], ids_c[i * num_choices + j], max_length, special, keep_end=True)
          for i in range(len(examples)) for j in range(num_choices)]
  input_ids, mask = _arrays(rows, max_length, pad_to_max_length, special.pad)
  shape = (len(examples), num_choices, input_ids.shape[-1])
  return {
      "input_ids": input_ids.reshape(shape),
      "attention_mask": mask.reshape(shape),
      "label": np.array([_label(e.label, num_choices, e.guid) for e in examples], np.int32),
      "example_index": np.arange(len(examples), dtype=np.int32),
  }


def featurize_sentences(examples: Sequence[SentenceExample], tokenizer, max_length: int = 512, *,
                        pad_to_max_length: bool = True) -> dict[str, np.ndarray]:
  """Retrieval inputs `<s> text </s>` (BUCC, Tatoeba), truncated at the end.

  Returns int32 `input_ids [N,T]`, `attention_mask [N,T]`, `example_index [N]`.
  """
  check_max_length(max_length, SINGLE_SPECIALS + 1, "a sentence")
  special = SpecialIds.of(tokenizer)
  ids, _ = tokenize(tokenizer, [e.text for e in examples])
  rows = [build_pair(s, None, max_length, special) for s in ids]
  input_ids, mask = _arrays(rows, max_length, pad_to_max_length, special.pad)
  return {"input_ids": input_ids, "attention_mask": mask,
          "example_index": np.arange(len(examples), dtype=np.int32)}

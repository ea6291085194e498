"""Token tagging (UDPOS, PAN-X, CCG) as XLM-R features, with XTREME-style window splitting.

Each word is tokenized on its own (as jiant and XTREME do; each distinct word once); a word with
no sub-words (empty string, zero-width characters) or more than `max_subwords_per_word` becomes a
single `<unk>` so that every word keeps exactly one labelled position. The first sub-word carries
the word's label; the others get -100.

A sentence whose sub-words do not fit in one `<s> ... </s>` row is split on word boundaries into
several windows (XTREME splits instead of truncating, so every word gets a prediction). Each word is
*owned* by exactly one window; with `context_subwords > 0` a window also shows up to that many
sub-words of neighbouring words on each side, which are context only (label -100, word_index -1).
`tagging_predictions_to_words` maps per-token predictions back to one prediction per word; the
`num_words [N]` array (the example's word count, repeated on each of its rows) lets it notice rows
or trailing words that went missing.

Unlike XTREME's `run_tag.py` (which appends `</s></s>` to single sentences, a RoBERTa-era quirk),
rows use XLM-R's standard single-sentence layout `<s> x </s>`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from stilts_jax.examples import TagExample
from stilts_jax.features.common import (
    IGNORE_INDEX, SpecialIds, check_max_length, pad_rows, padded_length, tokenize)

log = logging.getLogger(__name__)

SPECIALS = 2  # <s> ... </s>
MAX_SUBWORDS_PER_WORD = 100  # jiant's ARBITRARY_OVERLY_LONG_WORD_CONSTRAINT


def _word_pieces(examples: Sequence[TagExample], tokenizer, unk: int, max_subwords: int
                 ) -> tuple[list[list[list[int]]], int]:
  """Sub-word ids of every word (one batched tokenizer call, each distinct word once), and how
  many became `<unk>`."""
  ids, _ = tokenize(tokenizer, [w for e in examples for w in e.words])
  num_unk = 0
  pieces, k = [], 0
  for e in examples:
    words = []
    for _ in e.words:
      p = ids[k]
      k += 1
      if not p or len(p) > max_subwords:
        p = [unk]
        num_unk += 1
      words.append(p)
    pieces.append(words)
  return pieces, num_unk


def split_windows(lengths: Sequence[int], budget: int, context: int = 0
                  ) -> list[tuple[int, int, int, int]]:
  """Splits words with sub-word counts `lengths` into windows of at most `budget` sub-words.

  Returns `(left, start, end, right)` word ranges per window: words [start, end) are owned (labelled
  here), [left, start) and [end, right) are context. Owned ranges tile all words in order. A single
  word longer than the room left is owned alone (the caller cuts its tail; its first sub-word, the
  labelled one, survives).
  """
  n = len(lengths)
  if n == 0:
    return [(0, 0, 0, 0)]  # one empty window keeps one row per example
  if sum(lengths) <= budget:
    return [(0, 0, n, n)]
  windows = []
  s = 0
  while s < n:
    left, used_left = s, 0
    while left > 0 and used_left + lengths[left - 1] <= context:
      left -= 1
      used_left += lengths[left]
    room = budget - used_left
    if sum(lengths[s:]) <= room:
      end = n
    else:
      room_owned = room - context  # keep space for right context when more words follow
      end, used = s, 0
      while end < n and used + lengths[end] <= room_owned:
        used += lengths[end]
        end += 1
      end = max(end, s + 1)
    used = used_left + sum(lengths[s:end])
    right, used_right = end, 0
    while (right < n and used_right + lengths[right] <= context
           and used + lengths[right] <= budget):
      used += lengths[right]
      used_right += lengths[right]
      right += 1
    windows.append((left, s, end, right))
    s = end
  return windows


def featurize_tagging(examples: Sequence[TagExample], tokenizer, max_length: int = 128, *,
                      context_subwords: int = 0, max_subwords_per_word: int = MAX_SUBWORDS_PER_WORD,
                      pad_to_max_length: bool = True, num_labels: int | None = None,
                      stats: dict | None = None) -> dict[str, np.ndarray]:
  """Tagging features, one row per window (several for sentences longer than one row).

  Returns int32 `input_ids [N,T]`, `attention_mask [N,T]`, `labels [N,T]` (-100 on specials, pads,
  non-first sub-words, context-only words and unlabeled examples), `word_index [N,T]` (index of the
  owned word whose first sub-word sits here, else -1), `example_index [N]` and `num_words [N]`
  (word count of the row's example). `num_labels`, when given, makes a label outside
  [0, num_labels) a ValueError. If `stats` is given it receives `num_unk_words` (words mapped to
  `<unk>`), `num_windows` and `num_split_examples`.
  """
  budget = max_length - SPECIALS
  check_max_length(max_length, SPECIALS + 1, "one sub-word")
  if budget - 2 * context_subwords < 1:
    raise ValueError(f"max_length={max_length} leaves no room for owned words next to "
                     f"context_subwords={context_subwords} on each side.")
  special = SpecialIds.of(tokenizer)
  for e in examples:
    if e.labels is not None and len(e.labels) != len(e.words):
      raise ValueError(f"Example {e.guid!r}: {len(e.labels)} labels for {len(e.words)} words "
                       f"(expected one label per word).")
    if e.labels and num_labels is not None and not all(0 <= l < num_labels for l in e.labels):
      bad = next(l for l in e.labels if not 0 <= l < num_labels)
      raise ValueError(f"Example {e.guid!r}: label {bad} is outside [0, {num_labels}).")
  pieces, num_unk = _word_pieces(examples, tokenizer, special.unk, max_subwords_per_word)
  if num_unk:
    log.warning("%d word(s) had no sub-words or more than %d and were mapped to <unk>.", num_unk,
                max_subwords_per_word)
  rows, labels, word_index, example_index = [], [], [], []
  num_split = 0
  for ex_i, (e, words) in enumerate(zip(examples, pieces)):
    lengths = [len(p) for p in words]
    windows = split_windows(lengths, budget, context_subwords)
    num_split += len(windows) > 1
    for left, start, end, right in windows:
      ids, lab, widx = [special.cls], [IGNORE_INDEX], [-1]
      for w in range(left, right):
        p = words[w][:budget - (len(ids) - 1)]  # only a lone over-long word is ever cut
        owned = start <= w < end
        ids.extend(p)
        first_label = e.labels[w] if (owned and e.labels is not None) else IGNORE_INDEX
        lab.extend([first_label] + [IGNORE_INDEX] * (len(p) - 1))
        widx.extend([w if owned else -1] + [-1] * (len(p) - 1))
      ids.append(special.sep)
      lab.append(IGNORE_INDEX)
      widx.append(-1)
      rows.append(ids)
      labels.append(lab)
      word_index.append(widx)
      example_index.append(ex_i)
  if stats is not None:
    stats.update(num_unk_words=num_unk, num_windows=len(rows), num_split_examples=num_split)
  length = padded_length([len(r) for r in rows], max_length, pad_to_max_length)
  return {
      "input_ids": pad_rows(rows, length, special.pad),
      "attention_mask": pad_rows([[1] * len(r) for r in rows], length, 0),
      "labels": pad_rows(labels, length, IGNORE_INDEX),
      "word_index": pad_rows(word_index, length, -1),
      "example_index": np.asarray(example_index, dtype=np.int32),
      "num_words": np.asarray([len(examples[i].words) for i in example_index], dtype=np.int32),
  }


def tagging_predictions_to_words(features: dict[str, np.ndarray], logits_or_pred_ids: np.ndarray,
                                 num_examples: int, word_counts: Sequence[int] | None = None
                                 ) -> list[list[int]]:
  """One predicted label id per original word, for every example (in example order).

  `logits_or_pred_ids` is `[N,T,num_labels]` logits (argmaxed here) or `[N,T]` label ids, aligned
  with `features` rows. Raises ValueError if some word has no prediction (e.g. rows were dropped).
  Word counts come from `word_counts` (one per example) if given, else from `features["num_words"]`;
  with neither (features from before `num_words` existed) only gaps and duplicates are detected,
  not missing trailing words or examples.
  """
  preds = np.asarray(logits_or_pred_ids)
  if preds.ndim == 3:
    preds = preds.argmax(-1)
  word_index = np.asarray(features["word_index"])
  if preds.shape != word_index.shape:
    raise ValueError(f"Predictions of shape {preds.shape} do not match word_index "
                     f"{word_index.shape} (expected [N,T] or [N,T,num_labels]).")
  example_index = np.asarray(features["example_index"])
  counts = _word_counts(features, example_index, num_examples, word_counts)
  rows, cols = np.nonzero(word_index >= 0)
  ex = example_index[rows]
  words = word_index[rows, cols]
  values = preds[rows, cols]
  order = np.lexsort((words, ex))  # by example, then word
  ex, words, values = ex[order], words[order], values[order]
  bounds = np.searchsorted(ex, np.arange(num_examples + 1))
  out = []
  for i in range(num_examples):
    w = words[bounds[i]:bounds[i + 1]]
    expected = len(w) if counts is None or counts[i] < 0 else int(counts[i])
    if not np.array_equal(w, np.arange(expected)):
      raise ValueError(f"Example {i}: word predictions are not exactly one per word 0..n-1 with "
                       f"n={expected} (got {len(w)} word indices {w.tolist()[:20]}...).")
    out.append(values[bounds[i]:bounds[i + 1]].astype(int).tolist())
  return out


def _word_counts(features: dict[str, np.ndarray], example_index: np.ndarray, num_examples: int,
                 word_counts: Sequence[int] | None) -> np.ndarray | None:
  """Expected word count per example (-1 = unknown), or None when nothing says."""
  if word_counts is not None:
    counts = np.asarray(word_counts, dtype=np.int64)
    if counts.shape != (num_examples,) or (counts < 0).any():
      raise ValueError(f"word_counts must hold {num_examples} non-negative counts (one per "
                       f"example); got shape {counts.shape}.")
    return counts
  if "num_words" not in features:
    return None
  num_words = np.asarray(features["num_words"])
  if example_index.size and (example_index.min() < 0 or example_index.max() >= num_examples):
    raise ValueError(f"features refer to examples outside [0, {num_examples}) (expected "
                     f"num_examples to be the length of the featurized list).")
  counts = np.full(num_examples, -1, dtype=np.int64)
  counts[example_index] = num_words
  # featurize_tagging emits at least one row per example, so an example without rows lost them.
  missing = np.nonzero(counts < 0)[0]
  if missing.size:
    raise ValueError(f"Example {int(missing[0])}: no feature rows ({missing.size} example(s) have "
                     f"none; expected at least one row per example).")
  return counts

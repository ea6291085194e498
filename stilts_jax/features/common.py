"""Helpers shared by the featurizers: batched tokenization, truncation and padding.

All featurizers build XLM-R layouts by hand from sub-word ids tokenized *without* special tokens, so
truncation and window splitting follow jiant/XTREME exactly instead of whatever the tokenizer's own
truncation strategy does (its `longest_first` breaks ties differently, and it cannot truncate a
multiple-choice prompt from the start while keeping a pair layout).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

IGNORE_INDEX = -100  # label value ignored by the loss (tagging)
NO_LABEL = -1  # classification / multiple choice label of an unlabeled example
_TOKENIZE_CHUNK = 8192  # bounds peak memory of one fast-tokenizer call on big splits


@dataclasses.dataclass(frozen=True)
class SpecialIds:
  """Ids of the XLM-R special tokens (`<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3 in real XLM-R)."""
  cls: int
  sep: int
  pad: int
  unk: int

  @classmethod
  def of(cls, tokenizer) -> SpecialIds:
    ids = (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id,
           tokenizer.unk_token_id)
    if any(i is None for i in ids):
      raise ValueError(
          f"Tokenizer {tokenizer.name_or_path!r} lacks one of <s>, </s>, <pad>, <unk>.")
    return cls(*ids)


def tokenize(tokenizer, texts: Sequence[str], offsets: bool = False
             ) -> tuple[list[list[int]], list[np.ndarray] | None]:
  """Sub-word ids (no special tokens) of each text, and optionally its char offsets into the text
  (int32 `[n, 2]`).

  Each distinct text is tokenized once (repeats share one list/array: copy before changing it):
  SQuAD-style data asks ~5 questions per context, and a treebank's ~150k words are ~30 %
  distinct. One call of the Rust tokenizer per chunk (parallel batching), directly rather than
  through transformers' `__call__`, which converts every encoding to a Python dict first (for
  one-word texts that took as long as tokenizing) and hands the texts to the same
  `encode_batch`: same ids and offsets.
  """
  if not getattr(tokenizer, "is_fast", False):
    raise ValueError("Featurization needs a fast tokenizer (char offsets); got a slow one.")
  backend = tokenizer.backend_tokenizer
  # What the wrapper sets for a call without truncation or padding (contexts longer than
  # model_max_length are fine here: we window them).
  backend.no_truncation()
  backend.no_padding()
  distinct = {t: i for i, t in enumerate(dict.fromkeys(texts))}
  unique = list(distinct)
  ids: list[list[int]] = []
  offs: list[np.ndarray] = []
  for i in range(0, len(unique), _TOKENIZE_CHUNK):
    encodings = backend.encode_batch(unique[i:i + _TOKENIZE_CHUNK], add_special_tokens=False)
    ids.extend(e.ids for e in encodings)
    if offsets:
      offs.extend(np.asarray(e.offsets, dtype=np.int32).reshape(-1, 2) for e in encodings)
  where = [distinct[t] for t in texts]
  return [ids[j] for j in where], ([offs[j] for j in where] if offsets else None)


def truncate_longest_first(seqs: Sequence[list[int]], budget: int, keep_end: bool = False
                           ) -> list[list[int]]:
  """jiant's `truncate_sequences`: drop one token at a time from the longest sequence.

  Ties go to the earliest sequence (numpy argmax). `keep_end=True` removes tokens from the start of
  each sequence instead of its end (multiple choice keeps the end of the prompt). Unlike jiant, a
  sequence truncated to length 0 really is empty (jiant's `tokens[-0:]` keeps it whole).
  """
  lengths = np.array([len(s) for s in seqs], dtype=np.int64)
  if lengths.sum() <= budget:
    return [list(s) for s in seqs]
  if budget < 0:
    raise ValueError(f"Negative token budget {budget}.")
  # Closed form of the one-at-a-time loop: cap every sequence at the largest ceiling `c` whose
  # capped total fits, then hand the leftover tokens back to the capped sequences, latest first
  # (the loop takes from the earliest first on ties).
  lo, hi = 0, int(lengths.max())
  while lo < hi:  # largest ceiling whose capped total fits
    mid = (lo + hi + 1) // 2
    if np.minimum(lengths, mid).sum() <= budget:
      lo = mid
    else:
      hi = mid - 1
  target = np.minimum(lengths, lo)
  spare = budget - int(target.sum())
  for i in reversed(range(len(seqs))):
    if spare == 0:
      break
    if lengths[i] > lo:
      target[i] += 1
      spare -= 1
  return [list(s[len(s) - t:]) if keep_end else list(s[:t]) for s, t in zip(seqs, target)]


def pad_rows(rows: Sequence[Sequence[int]], length: int, value: int) -> np.ndarray:
  """Stacks variable-length int rows into a `[len(rows), length]` int32 array, padded with `value`.
  """
  out = np.full((len(rows), length), value, dtype=np.int32)
  for i, row in enumerate(rows):
    out[i, :len(row)] = row
  return out


def padded_length(lengths: Sequence[int], max_length: int, pad_to_max_length: bool) -> int:
  """Fixed `max_length` (static shapes for jit) or the longest real row (jiant's smart truncate)."""
  if pad_to_max_length:
    return max_length
  return max(1, max(lengths, default=1))


def check_max_length(max_length: int, needed: int, what: str) -> None:
  if max_length < needed:
    raise ValueError(f"max_length={max_length} cannot hold {what} (needs at least {needed}).")

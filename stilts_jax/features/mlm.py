"""MLM rows from plain text: `<s> piece </s>` per chunk of each line, unmasked (the masking is
drawn per step by `kinds/mlm.py`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from stilts_jax.features.common import SpecialIds, check_max_length, pad_rows, tokenize


def featurize_mlm(texts: Sequence[str] | Mapping[str, Sequence[str]], tokenizer,
                  max_length: int) -> dict[str, np.ndarray]:
  """Unmasked MLM rows `<s> piece </s>`, int32 and padded with `<pad>` to T = `max_length`.

  Each text is tokenized on its own and cut into consecutive pieces of at most `max_length - 2`
  sub-words (per-line chunking: no text is dropped and no row mixes two texts or languages); texts
  without any sub-word give no row. Returns `input_ids`, `attention_mask` [N, T] and
  `example_index` [N] (index of the text); given `{language: texts}`, the texts are taken in the
  mapping's order and `language_index` [N] (position of the language in the mapping) is added.
  """
  check_max_length(max_length, 3, "an MLM row (<s> token </s>)")
  by_lang = texts if isinstance(texts, Mapping) else {None: texts}
  flat = [t for group in by_lang.values() for t in group]
  lang_of = np.repeat(np.arange(len(by_lang), dtype=np.int32),
                      [len(group) for group in by_lang.values()])
  special = SpecialIds.of(tokenizer)
  ids, _ = tokenize(tokenizer, flat)
  piece = max_length - 2
  rows, index = [], []
  for i, toks in enumerate(ids):
    for start in range(0, len(toks), piece):
      rows.append([special.cls, *toks[start:start + piece], special.sep])
      index.append(i)
  input_ids = pad_rows(rows, max_length, special.pad)
  features = {"input_ids": input_ids,
              "attention_mask": (np.arange(max_length) < np.array(
                  [len(r) for r in rows], np.int32)[:, None]).astype(np.int32),
              "example_index": np.asarray(index, np.int32)}
  if isinstance(texts, Mapping):
    features["language_index"] = lang_of[features["example_index"]]
  return features

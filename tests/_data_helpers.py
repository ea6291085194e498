"""Synthetic features shared by tests/test_data_*.py and the multi-process worker."""

import numpy as np

T = 40


def make_features(n: int, t: int = T, seed: int = 0, max_len: int | None = None) -> dict:
  """Token-classification-like features with right padding and row-identifying token ids."""
  rng = np.random.default_rng(seed)
  lengths = rng.integers(3, (max_len or t) + 1, size=n)
  pos = np.arange(t)[None, :]
  real = pos < lengths[:, None]
  ids = np.where(real, 4 + np.arange(n)[:, None] * 7 + pos, 1).astype(np.int32)
  labels = np.where(real, pos % 5, -100).astype(np.int32)
  offsets = np.stack([pos, pos + 1], -1).repeat(n, 0)
  offsets = np.where(real[..., None], offsets, -1).astype(np.int32)
  return {
      "input_ids": ids,
      "attention_mask": real.astype(np.int32),
      "labels": labels,
      "word_index": np.where(real, pos // 2, -1).astype(np.int32),
      "offsets": offsets,
      "label": (np.arange(n) % 3).astype(np.int32),
      "example_index": np.arange(n, dtype=np.int32),
  }

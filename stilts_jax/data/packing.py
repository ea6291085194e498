"""Sequence packing: several short examples per row, so short-text tasks stop paying for padding.

MNLI-like pairs average ~40 real tokens; padded to a 128 bucket, two thirds of every step is pad.
Packing concatenates examples into rows of `max_length` tokens; `segment_ids` (1, 2, ... per
example, 0 = padding) make attention block-diagonal and restart position ids in the model, and each
example keeps its own label (classification: its `<s>` index in `cls_positions`), so a packed batch
computes exactly the per-example logits and losses of the unpacked one (tested).

The packing is a deterministic best-fit-decreasing over real lengths, done once per dataset; the
step-indexed order of `TrainBatches` then shuffles packed rows as it would examples.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from stilts_jax.data.batching import real_lengths

PACKED_SEQUENCE_KEYS = ("input_ids", "attention_mask", "segment_ids", "labels")


def _best_fit(lengths: np.ndarray, max_length: int, max_segments: int) -> list[list[int]]:
  """Rows of example indices: longest first, each into the fullest row it still fits."""
  by_room: list[list[int]] = [[] for _ in range(max_length + 1)]  # room -> open row ids
  rows: list[list[int]] = []
  for i in np.argsort(-lengths, kind="stable"):
    need = int(lengths[i])
    row = None
    for room in range(need, max_length + 1):  # smallest room that fits: best fit
      if by_room[room]:
        row = by_room[room].pop()
        break
    if row is None:
      row, room = len(rows), max_length
      rows.append([])
    rows[row].append(int(i))
    if len(rows[row]) < max_segments and room - need > 0:
      by_room[room - need].append(row)
  return rows


def pack_features(features: Mapping[str, np.ndarray], max_length: int | None = None, *,
                  max_segments: int = 16) -> dict[str, np.ndarray]:
  """Packs classification (`label` [N]) or tagging (`labels` [N, T]) features into rows.

  Returns `input_ids`, `attention_mask`, `segment_ids` [R, L] and `example_index` [R, S]
  (-1 = empty slot), plus `label` and `cls_positions` [R, S] for classification or `labels`
  [R, L] for tagging. Other per-example arrays are not carried (they are not model inputs).
  """
  ids, mask = np.asarray(features["input_ids"]), np.asarray(features["attention_mask"])
  if ids.ndim != 2:
    raise ValueError(f"packing needs [N, T] features; got input_ids of shape {ids.shape} "
                     "(multiple-choice and QA windows are not packed).")
  classification = "label" in features
  if not classification and "labels" not in features:
    raise ValueError("packing supports classification (`label`) and tagging (`labels`) "
                     f"features; got keys {sorted(features)}.")
  max_length = max_length or ids.shape[1]
  lengths = real_lengths(features)
  if lengths.size and lengths.max() > max_length:
    raise ValueError(f"an example has {lengths.max()} real tokens, more than the packed row "
                     f"length {max_length}.")
  packs = _best_fit(lengths, max_length, max_segments)
  r = len(packs)
  out = {
      "input_ids": np.ones((r, max_length), ids.dtype),  # pad id 1
      "attention_mask": np.zeros((r, max_length), mask.dtype),
      "segment_ids": np.zeros((r, max_length), np.int32),
      "example_index": np.full((r, max_segments), -1, np.int32),
  }
  if classification:
    out["label"] = np.full((r, max_segments), -1, np.int32)
    out["cls_positions"] = np.zeros((r, max_segments), np.int32)
  else:
    labels = np.asarray(features["labels"])
    out["labels"] = np.full((r, max_length), -100, labels.dtype)
  source_index = np.asarray(features.get("example_index", np.arange(len(ids))))
  for row, members in enumerate(packs):
    at = 0
    for slot, i in enumerate(members):
      n = int(lengths[i])
      out["input_ids"][row, at:at + n] = ids[i, :n]
      out["attention_mask"][row, at:at + n] = mask[i, :n]
      out["segment_ids"][row, at:at + n] = slot + 1
      out["example_index"][row, slot] = source_index[i]
      if classification:
        out["label"][row, slot] = features["label"][i]
        out["cls_positions"][row, slot] = at
      else:
        out["labels"][row, at:at + n] = labels[i, :n]
      at += n
  return out

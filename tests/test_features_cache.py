"""The on-disk feature cache: hits skip the featurizer, any changed key part misses."""

import json
import os

import numpy as np

from stilts_jax.examples import PairExample
from stilts_jax.features import (
    CODE_VERSION, cache_key, cached_featurize, featurize_pairs, tokenizer_fingerprint)


def key_parts(tok, **over):
  parts = {"tokenizer": tokenizer_fingerprint(tok), "task": "xnli", "split": "val",
           "source": "rev-abc123", "max_length": 128, "featurizer": "pairs"}
  parts.update(over)
  return parts


def test_second_call_hits_and_any_change_misses(tmp_path, tokenizer):
  calls = []
  examples = [PairExample("a", "A man plays.", "Ein Mann spielt.", 1)]

  def fn():
    calls.append(1)
    return featurize_pairs(examples, tokenizer, max_length=128)

  first = cached_featurize(tmp_path, key_parts(tokenizer), fn)
  second = cached_featurize(tmp_path, key_parts(tokenizer), fn)
  assert len(calls) == 1
  assert first.keys() == second.keys()
  for k in first:
    np.testing.assert_array_equal(first[k], second[k])
    assert first[k].dtype == second[k].dtype
  for change in [dict(task="pawsx"), dict(split="test"), dict(source="rev-def456"),
                 dict(max_length=256), dict(featurizer="tagging"),
                 dict(tokenizer={"name_or_path": "other", "vocab_sha256": "0"})]:
    cached_featurize(tmp_path, key_parts(tokenizer, **change), fn)
  assert len(calls) == 7
  # Side metadata is readable; no temp files are left behind.
  names = sorted(os.listdir(tmp_path))
  assert not [n for n in names if n.startswith(".tmp-")]
  meta = json.loads((tmp_path / (cache_key(key_parts(tokenizer)) + ".json")).read_text())
  assert meta["code_version"] == CODE_VERSION and meta["key_parts"]["task"] == "xnli"
  assert meta["arrays"]["input_ids"]["shape"] == [1, 128]


def test_key_is_order_independent_and_fingerprint_is_content_based(tokenizer):
  a = {"x": 1, "y": [1, 2]}
  assert cache_key(a) == cache_key({"y": [1, 2], "x": 1})
  assert cache_key(a) != cache_key({"x": 2, "y": [1, 2]})
  fp = tokenizer_fingerprint(tokenizer)
  assert fp == tokenizer_fingerprint(tokenizer) and len(fp["vocab_sha256"]) == 64


def test_corrupt_entry_is_recomputed(tmp_path):
  parts = {"task": "t"}
  calls = []

  def fn():
    calls.append(1)
    return {"x": np.arange(3, dtype=np.int32), "m": np.ones((3, 2), bool)}

  cached_featurize(tmp_path, parts, fn)
  (tmp_path / (cache_key(parts) + ".npz")).write_bytes(b"not a zip")
  out = cached_featurize(tmp_path, parts, fn)
  assert len(calls) == 2 and out["m"].dtype == bool
  np.testing.assert_array_equal(cached_featurize(tmp_path, parts, fn)["x"], np.arange(3))
  assert len(calls) == 2

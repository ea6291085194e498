"""Golden tests: pair / multiple-choice / retrieval featurization in the XLM-R layout."""

import numpy as np
import pytest

from stilts_jax.examples import ChoiceExample, PairExample, SentenceExample
from stilts_jax.features import (
    featurize_choices, featurize_pairs, featurize_sentences, truncate_longest_first)

CLS, PAD, SEP = 0, 1, 2


def ids(tokenizer, text):
  return tokenizer(text, add_special_tokens=False)["input_ids"]


def real(row, mask):
  return [int(t) for t, m in zip(row, mask) if m]


def test_pair_and_single_layout(tokenizer):
  a, b = "The quick brown fox.", "Der schnelle braune Fuchs."
  f = featurize_pairs([PairExample("p0", a, b, 2), PairExample("s0", "敏捷的狐狸", None, None)],
                      tokenizer, max_length=64)
  assert f["input_ids"].shape == (2, 64) and f["input_ids"].dtype == np.int32
  assert real(f["input_ids"][0], f["attention_mask"][0]) == (
      [CLS] + ids(tokenizer, a) + [SEP, SEP] + ids(tokenizer, b) + [SEP])
  assert real(f["input_ids"][1], f["attention_mask"][1]) == [CLS] + ids(tokenizer, "敏捷的狐狸") + [SEP]
  n = int(f["attention_mask"][0].sum())
  assert (f["input_ids"][0, n:] == PAD).all() and (f["attention_mask"][0, n:] == 0).all()
  assert f["label"].tolist() == [2, -1]
  assert f["example_index"].tolist() == [0, 1]
  # The fast tokenizer's own pair encoding agrees with the hand-built layout.
  assert real(f["input_ids"][0], f["attention_mask"][0]) == tokenizer(a, b)["input_ids"]


def _reference_truncate(seqs, budget):
  """jiant's loop, verbatim semantics: argmax (earliest on ties) loses one token at a time."""
  t = np.array([len(s) for s in seqs])
  while t.sum() > budget:
    t[np.argmax(t)] -= 1
  return t.tolist()


def test_longest_first_truncation_matches_jiant():
  rng = np.random.default_rng(0)
  for _ in range(500):
    seqs = [list(range(rng.integers(0, 15))) for _ in range(rng.integers(1, 4))]
    budget = int(rng.integers(0, 30))
    got = truncate_longest_first(seqs, budget)
    assert [len(s) for s in got] == _reference_truncate(seqs, budget)
    assert all(g == s[:len(g)] for g, s in zip(got, seqs))  # prefixes kept
    got_end = truncate_longest_first(seqs, budget, keep_end=True)
    assert all(g == s[len(s) - len(g):] for g, s in zip(got_end, seqs))  # suffixes kept


def test_pair_truncation_longest_first(tokenizer):
  a = "The quick brown fox jumps over the lazy dog. " * 3
  b = "Der Hund."
  la, lb = len(ids(tokenizer, a)), len(ids(tokenizer, b))
  max_length = lb * 2 + 4 + 3  # B survives whole; A shrinks to fill the rest
  f = featurize_pairs([PairExample("g", a, b, 0)], tokenizer, max_length=max_length)
  row = real(f["input_ids"][0], f["attention_mask"][0])
  assert len(row) == max_length
  kept_a = max_length - 4 - lb
  assert row == [CLS] + ids(tokenizer, a)[:kept_a] + [SEP, SEP] + ids(tokenizer, b) + [SEP]
  # Both long: they end equal (ties cut A first, so B keeps the odd token).
  f = featurize_pairs([PairExample("g", a, a + a, 0)], tokenizer, max_length=4 + 11)
  row = real(f["input_ids"][0], f["attention_mask"][0])
  assert row == [CLS] + ids(tokenizer, a)[:5] + [SEP, SEP] + ids(tokenizer, a + a)[:6] + [SEP]
  assert la > 6


def test_pairs_pad_to_longest_and_errors(tokenizer):
  ex = [PairExample("x", "a man", "ein Mann", 1), PairExample("y", "", "", 0)]
  f = featurize_pairs(ex, tokenizer, max_length=64, pad_to_max_length=False)
  assert f["input_ids"].shape[1] == int(f["attention_mask"].sum(1).max())
  assert real(f["input_ids"][1], f["attention_mask"][1]) == [CLS, SEP, SEP, SEP]  # empty texts
  with pytest.raises(ValueError, match="'bad'.*label 5"):
    featurize_pairs([PairExample("bad", "a", "b", 5)], tokenizer, num_labels=3)
  with pytest.raises(ValueError, match="max_length=3"):
    featurize_pairs(ex, tokenizer, max_length=3)


def test_multiple_choice_shape_and_truncation_from_start(tokenizer):
  prompt = "A man is playing a guitar on the street while people walk by. What is he doing?"
  choices = ("playing", "Er spielt Gitarre", "walking", "sleeping")
  ex = [ChoiceExample("mc0", prompt, choices, 1), ChoiceExample("mc1", "short", choices, None)]
  max_length = 24
  f = featurize_choices(ex, tokenizer, max_length=max_length)
  assert f["input_ids"].shape == (2, 4, max_length)
  assert f["attention_mask"].shape == (2, 4, max_length)
  assert f["label"].tolist() == [1, -1] and f["example_index"].tolist() == [0, 1]
  p = ids(tokenizer, prompt)
  for j, c in enumerate(choices):
    c_ids = ids(tokenizer, c)
    row = real(f["input_ids"][0, j], f["attention_mask"][0, j])
    assert len(row) == max_length  # the long prompt fills the row
    kept = max_length - 4 - len(c_ids)
    assert row == [CLS] + p[-kept:] + [SEP, SEP] + c_ids + [SEP]  # END of the prompt kept
    short = real(f["input_ids"][1, j], f["attention_mask"][1, j])
    assert short == [CLS] + ids(tokenizer, "short") + [SEP, SEP] + c_ids + [SEP]


def test_multiple_choice_errors(tokenizer):
  with pytest.raises(ValueError, match="'b'.*3 choices, expected 2"):
    featurize_choices([ChoiceExample("a", "p", ("x", "y"), 0),
                       ChoiceExample("b", "p", ("x", "y", "z"), 0)], tokenizer)
  with pytest.raises(ValueError, match="'a'.*label 2"):
    featurize_choices([ChoiceExample("a", "p", ("x", "y"), 2)], tokenizer)


def test_sentences(tokenizer):
  texts = ["Мужчина играет на гитаре на улице.", "रजल", "一个男人在街上弹吉他。" * 10]
  f = featurize_sentences([SentenceExample(f"s{i}", t) for i, t in enumerate(texts)], tokenizer,
                          max_length=16)
  assert set(f) == {"input_ids", "attention_mask", "example_index"}
  assert f["input_ids"].shape == (3, 16)
  long_row = real(f["input_ids"][2], f["attention_mask"][2])
  assert long_row == [CLS] + ids(tokenizer, texts[2])[:14] + [SEP]  # end truncation
  assert real(f["input_ids"][0], f["attention_mask"][0]) == tokenizer(
      texts[0], truncation=True, max_length=16)["input_ids"]


def test_multiple_choice_declared_num_choices(tokenizer):
  ex = [ChoiceExample("m", "Where?", ("here", "there", "nowhere"), 2)]
  f = featurize_choices(ex, tokenizer, max_length=16, num_choices=3)
  assert f["input_ids"].shape == (1, 3, 16)
  # An empty split still has the head width, so it batches like a non-empty one.
  assert featurize_choices([], tokenizer, max_length=16, num_choices=4)["input_ids"].shape == (
      0, 4, 16)
  with pytest.raises(ValueError, match="'m': has 3 choices, expected 4 \\(the declared"):
    featurize_choices(ex, tokenizer, max_length=16, num_choices=4)
  with pytest.raises(ValueError, match="num_choices must be >= 1"):
    featurize_choices(ex, tokenizer, max_length=16, num_choices=0)

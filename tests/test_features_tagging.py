"""Golden tests: first-subword tagging, `<unk>` words, window splitting, round trip to words."""

import numpy as np
import pytest

from stilts_jax.examples import TagExample
from stilts_jax.features import featurize_tagging, tagging_predictions_to_words
from stilts_jax.features.tagging import split_windows

CLS, PAD, SEP, UNK = 0, 1, 2, 3

WORDS = {
    "en": "The quick brown fox jumps over the lazy dog .".split(),
    "de": "Der schnelle braune Fuchs springt über den faulen Hund .".split(),
    "ru": "Мужчина играет на гитаре на улице .".split(),
    "hi": "एक आदमी सड़क पर गिटार बजा रहा है ।".split(),
    "zh": ["一个", "男人", "在", "街上", "弹", "吉他", "。"],
    "th": ["ผู้ชาย", "คนหนึ่ง", "กำลัง", "เล่น", "กีตาร์", "อยู่", "บน", "ถนน"],
}


def pieces(tokenizer, word):
  return tokenizer(word, add_special_tokens=False)["input_ids"] or [UNK]


def make(guid, words, num_labels=5, offset=0):
  return TagExample(guid, tuple(words), tuple((i + offset) % num_labels for i in range(len(words))))


def test_first_subword_alignment(tokenizer):
  examples = [make(lang, words) for lang, words in WORDS.items()]
  f = featurize_tagging(examples, tokenizer, max_length=128)
  assert f["input_ids"].shape == (len(examples), 128)
  assert f["example_index"].tolist() == list(range(len(examples)))  # all fit: one row each
  for r, e in enumerate(examples):
    expect_ids, expect_labels, expect_words = [CLS], [-100], [-1]
    for w, word in enumerate(e.words):
      p = pieces(tokenizer, word)
      expect_ids += p
      expect_labels += [e.labels[w]] + [-100] * (len(p) - 1)
      expect_words += [w] + [-1] * (len(p) - 1)
    expect_ids.append(SEP)
    n = len(expect_ids)
    assert f["input_ids"][r, :n].tolist() == expect_ids
    assert (f["input_ids"][r, n:] == PAD).all() and f["attention_mask"][r].sum() == n
    assert f["labels"][r, :n].tolist() == expect_labels + [-100]
    assert (f["labels"][r, n:] == -100).all()
    assert f["word_index"][r, :n].tolist() == expect_words + [-1]
  preds = tagging_predictions_to_words(f, f["labels"], len(examples))
  assert preds == [list(e.labels) for e in examples]


def test_zero_subword_words_become_unk_and_are_counted(tokenizer):
  words = ("Der", "", "\u200b", "Hund")
  stats = {}
  f = featurize_tagging([TagExample("z", words, (0, 1, 2, 3))], tokenizer, max_length=32,
                        stats=stats)
  assert stats["num_unk_words"] == 2
  word_pos = {int(w): i for i, w in enumerate(f["word_index"][0]) if w >= 0}
  assert sorted(word_pos) == [0, 1, 2, 3]
  assert f["input_ids"][0, word_pos[1]] == UNK and f["input_ids"][0, word_pos[2]] == UNK
  assert [int(f["labels"][0, word_pos[w]]) for w in range(4)] == [0, 1, 2, 3]
  assert tagging_predictions_to_words(f, f["labels"], 1) == [[0, 1, 2, 3]]


def test_unlabeled_and_empty_examples(tokenizer):
  ex = [TagExample("u", ("a", "man"), None), TagExample("e", (), None)]
  f = featurize_tagging(ex, tokenizer, max_length=16)
  assert (f["labels"] == -100).all()
  assert f["example_index"].tolist() == [0, 1]
  assert f["input_ids"][1, :3].tolist() == [CLS, SEP, PAD]
  assert tagging_predictions_to_words(f, np.zeros((2, 16, 3)), 2) == [[0, 0], []]


@pytest.mark.parametrize("context", [0, 3])
def test_window_split_round_trip(tokenizer, context):
  long_words = [w for words in WORDS.values() for w in words] * 2
  examples = [make("long", long_words, num_labels=7), make("short", ["Der", "Hund"], offset=2),
              make("long2", list(reversed(long_words)), num_labels=7, offset=1)]
  max_length = 20
  stats = {}
  f = featurize_tagging(examples, tokenizer, max_length=max_length, context_subwords=context,
                        stats=stats)
  assert stats["num_split_examples"] == 2 and stats["num_windows"] == f["input_ids"].shape[0]
  assert f["input_ids"].shape[1] == max_length
  ex_idx = f["example_index"]
  assert (np.diff(ex_idx) >= 0).all() and (ex_idx == 0).sum() > 3
  for r in range(len(ex_idx)):
    n = int(f["attention_mask"][r].sum())
    assert f["input_ids"][r, 0] == CLS and f["input_ids"][r, n - 1] == SEP
    labelled = f["labels"][r] != -100
    assert (labelled == (f["word_index"][r] >= 0)).all()  # only owned first sub-words
  if context:
    # Context-only tokens exist: real, non-special tokens that are neither labelled nor continuing
    # an owned word are covered by the neighbouring windows.
    total_real = int(f["attention_mask"].sum()) - 2 * len(ex_idx)
    total_pieces = sum(len(pieces(tokenizer, w)) for e in examples for w in e.words)
    assert total_real > total_pieces
  # Labels as predictions, and as one-hot logits, map back to every word exactly.
  gold = [list(e.labels) for e in examples]
  assert tagging_predictions_to_words(f, f["labels"], len(examples)) == gold
  logits = np.eye(7)[np.where(f["labels"] < 0, 0, f["labels"])]
  assert tagging_predictions_to_words(f, logits, len(examples)) == gold
  with pytest.raises(ValueError, match="one per word"):
    tagging_predictions_to_words({k: v[1:] for k, v in f.items()}, f["labels"][1:], len(examples))


def test_split_windows_tiles_words():
  rng = np.random.default_rng(1)
  for _ in range(300):
    lengths = rng.integers(1, 6, size=rng.integers(0, 30)).tolist()
    budget, context = int(rng.integers(5, 20)), int(rng.integers(0, 3))
    windows = split_windows(lengths, budget, context)
    owned = [w for _, s, e, _ in windows for w in range(s, e)]
    assert owned == list(range(len(lengths)))
    for left, s, e, right in windows:
      assert left <= s <= e <= right
      assert sum(lengths[left:right]) <= budget or e - s == 1  # a lone long word may be cut


def test_overlong_word_and_errors(tokenizer):
  long_word = "Быстрая" * 10
  f = featurize_tagging([TagExample("w", ("Der", long_word, "Hund"), (1, 2, 3))], tokenizer,
                        max_length=10)
  assert (f["attention_mask"].sum(1) <= 10).all()
  assert tagging_predictions_to_words(f, f["labels"], 1) == [[1, 2, 3]]
  with pytest.raises(ValueError, match="'bad'.*2 labels for 3 words"):
    featurize_tagging([TagExample("bad", ("a", "b", "c"), (0, 1))], tokenizer)
  with pytest.raises(ValueError, match="context_subwords"):
    featurize_tagging([], tokenizer, max_length=8, context_subwords=3)


def test_num_words_catches_missing_trailing_words_and_examples(tokenizer):
  examples = [make("long", WORDS["en"] + WORDS["de"], num_labels=7), make("short", ["Der", "Hund"]),
              make("last", WORDS["ru"])]
  f = featurize_tagging(examples, tokenizer, max_length=10)
  assert f["num_words"].dtype == np.int32
  assert f["num_words"].tolist() == [len(examples[i].words) for i in f["example_index"]]
  gold = [list(e.labels) for e in examples]
  assert tagging_predictions_to_words(f, f["labels"], 3) == gold
  # Drop the last window of example 0: its remaining words are still 0..k-1 without gaps, which
  # only the word count reveals.
  last0 = int(np.nonzero(f["example_index"] == 0)[0][-1])
  keep = np.arange(len(f["example_index"])) != last0
  cut = {k: v[keep] for k, v in f.items()}
  with pytest.raises(ValueError, match="Example 0: .*n=20"):
    tagging_predictions_to_words(cut, cut["labels"], 3)
  # Features without num_words (from before it existed): word_counts gives the same check...
  old = {k: v for k, v in cut.items() if k != "num_words"}
  assert len(tagging_predictions_to_words(old, old["labels"], 3)[0]) < 20  # silently short
  with pytest.raises(ValueError, match="Example 0"):
    tagging_predictions_to_words(old, old["labels"], 3, word_counts=[20, 2, 7])
  assert tagging_predictions_to_words(
      {k: v for k, v in f.items() if k != "num_words"}, f["labels"], 3, word_counts=[20, 2, 7]
  ) == gold
  # ...and a whole example without rows is reported, with or without word_counts.
  rows = f["example_index"] != 2
  no_last = {k: v[rows] for k, v in f.items()}
  with pytest.raises(ValueError, match="Example 2: no feature rows"):
    tagging_predictions_to_words(no_last, no_last["labels"], 3)
  with pytest.raises(ValueError, match="Example 2"):
    tagging_predictions_to_words(no_last, no_last["labels"], 3, word_counts=[20, 2, 7])
  with pytest.raises(ValueError, match="word_counts must hold 3"):
    tagging_predictions_to_words(f, f["labels"], 3, word_counts=[20, 2])
  with pytest.raises(ValueError, match="outside"):
    tagging_predictions_to_words(f, f["labels"], 2)


def test_num_labels_bounds_tag_labels(tokenizer):
  ok = featurize_tagging([make("a", ["Der", "Hund"], num_labels=3)], tokenizer, max_length=16,
                         num_labels=3)
  assert ok["labels"].max() < 3
  with pytest.raises(ValueError, match="'bad'.*label 5 is outside \\[0, 3\\)"):
    featurize_tagging([TagExample("bad", ("a", "b"), (0, 5))], tokenizer, num_labels=3)
  with pytest.raises(ValueError, match="label -1 is outside"):
    featurize_tagging([TagExample("neg", ("a",), (-1,))], tokenizer, num_labels=3)

"""`featurize_split` dispatch: the type table, option resolution, label counts and bad input."""

import dataclasses

import numpy as np
import pytest

from stilts_jax import tasks
from stilts_jax.examples import ChoiceExample, PairExample, SentenceExample, TagExample
from stilts_jax.features import (
    FEATURIZERS, Featurizer, examples_fingerprint, featurize_pairs, featurize_split,
    featurizer_for, register_featurizer)
from stilts_jax.tasks import LoadedSplit, TaskType


def split_of(task, examples, labels=None, split="validation", language="en"):
  spec = tasks.get_task(task)
  return LoadedSplit(task, split, language, tuple(examples),
                     spec.labels if labels is None else labels, {}, ("local:/x",), "hub_rows")


PAIRS = [PairExample("p0", "A man plays.", "Ein Mann spielt.", 0),
         PairExample("p1", "A dog runs.", None, 2, language="de")]


def test_every_task_type_has_a_featurizer():
  assert featurizer_for("span_qa").name == "qa"  # the kinds (kinds/) declare them
  assert set(FEATURIZERS) == set(TaskType)
  with pytest.raises(ValueError, match="No featurizer registered for task type 'parsing'"):
    featurizer_for("parsing")


def test_defaults_and_label_count(tokenizer):
  spec = tasks.get_task("xnli")
  f = featurize_split(spec, split_of("xnli", PAIRS), tokenizer)
  assert f["input_ids"].shape == (2, spec.max_length) and f["label"].tolist() == [0, 2]
  # The label count reaches the featurizer: label 2 is out of range for two label names.
  with pytest.raises(ValueError, match="'p1': label 2 is outside \\[0, 2\\)"):
    featurize_split(spec, split_of("xnli", PAIRS, labels=("a", "b")), tokenizer)
  # ...unless given explicitly.
  f = featurize_split(spec, split_of("xnli", PAIRS, labels=("a", "b")), tokenizer,
                      num_labels=3, max_length=64, pad_to_max_length=False)
  assert f["input_ids"].shape[1] < 64


def test_multiple_choice_width_and_tagging_labels_come_from_the_task(tokenizer):
  three = [ChoiceExample("c", "Why?", ("a", "b", "c"), 0)]
  with pytest.raises(ValueError, match="'c': has 3 choices, expected 4"):
    featurize_split(tasks.get_task("hellaswag"), split_of("hellaswag", three), tokenizer)
  bad_tag = [TagExample("t", ("Der", "Hund"), (0, 7))]
  with pytest.raises(ValueError, match="'t': label 7 is outside \\[0, 7\\)"):
    featurize_split(tasks.get_task("panx"), split_of("panx", bad_tag), tokenizer)
  # CCG has no declared labels: the loaded label names (its tags file) bound them.
  ccg = split_of("ccg", bad_tag, labels=("N", "NP"), split="train")
  with pytest.raises(ValueError, match="label 7 is outside \\[0, 2\\)"):
    featurize_split(tasks.get_task("ccg"), ccg, tokenizer)


def test_bad_input_is_a_clear_value_error(tokenizer):
  spec, loaded = tasks.get_task("xnli"), split_of("xnli", PAIRS)
  with pytest.raises(ValueError, match="task 'xnli' but spec is 'pawsx'"):
    featurize_split(tasks.get_task("pawsx"), loaded, tokenizer)
  for bad in (0, -4, "128", True, 12.5):
    with pytest.raises(ValueError, match="max_length must be a positive int"):
      featurize_split(spec, loaded, tokenizer, max_length=bad)
  with pytest.raises(ValueError, match="Unknown featurizer argument\\(s\\) doc_stride for the "
                                       "'pairs' featurizer \\(expected some of: num_labels"):
    featurize_split(spec, loaded, tokenizer, doc_stride=64)
  tags = split_of("xnli", [TagExample("t", ("a",), (0,))])
  with pytest.raises(ValueError, match="xnli/validation/en: example 't' is a TagExample; the "
                                       "'pairs' featurizer expects PairExample"):
    featurize_split(spec, tags, tokenizer)


def test_registering_a_featurizer_is_one_entry(tokenizer, monkeypatch, tmp_path):
  seen = {}

  def featurize_upper(examples, tokenizer, max_length=8, *, num_labels=None, upper=False):
    seen.update(num_labels=num_labels, upper=upper)
    if upper:
      examples = [dataclasses.replace(e, text_a=e.text_a.upper()) for e in examples]
    return featurize_pairs(examples, tokenizer, max_length, num_labels=num_labels)

  monkeypatch.setitem(FEATURIZERS, TaskType.CLASSIFICATION, FEATURIZERS[TaskType.CLASSIFICATION])
  register_featurizer(TaskType.CLASSIFICATION,
                      Featurizer("upper", featurize_upper, PairExample, "num_labels"))
  spec, loaded = tasks.get_task("xnli"), split_of("xnli", PAIRS)
  plain = featurize_split(spec, loaded, tokenizer, max_length=24, cache_dir=tmp_path)
  upper = featurize_split(spec, loaded, tokenizer, max_length=24, upper=True, cache_dir=tmp_path)
  assert seen == {"num_labels": 3, "upper": True}
  assert not np.array_equal(plain["input_ids"], upper["input_ids"])  # the option is in the key

  def needs_vocab(examples, tokenizer, max_length, *, vocab):
    return featurize_pairs(examples, tokenizer, max_length)

  register_featurizer(TaskType.CLASSIFICATION, Featurizer("vocab", needs_vocab, PairExample))
  with pytest.raises(ValueError, match="'vocab' featurizer needs argument\\(s\\) vocab"):
    featurize_split(spec, loaded, tokenizer)
  assert featurize_split(spec, loaded, tokenizer, vocab="v", max_length=24)["input_ids"].shape == (
      2, 24)


def test_tagging_stats_pass_through(tokenizer, tmp_path):
  stats = {}
  loaded = split_of("udpos", [TagExample("t", ("Der", "", "Hund"), (0, 1, 2))])
  featurize_split(tasks.get_task("udpos"), loaded, tokenizer, max_length=16, stats=stats,
                  cache_dir=tmp_path)
  assert stats["num_unk_words"] == 1
  again = {}  # stats are not part of the key: a hit, which does not fill them
  featurize_split(tasks.get_task("udpos"), loaded, tokenizer, max_length=16, stats=again,
                  cache_dir=tmp_path)
  assert again == {}


def test_retrieval_split_without_sides_is_flat(tokenizer):
  sents = [SentenceExample("s0", "Ein Mann."), SentenceExample("s1", "A man.")]
  f = featurize_split(tasks.get_task("tatoeba"), split_of("tatoeba", sents), tokenizer,
                      max_length=16)
  assert f["input_ids"].shape == (2, 16) and f["example_index"].tolist() == [0, 1]


def test_examples_fingerprint_is_content_and_order_sensitive():
  a = examples_fingerprint(PAIRS)
  assert a == examples_fingerprint(list(PAIRS)) and a["count"] == 2
  assert a != examples_fingerprint(PAIRS[::-1])
  assert a != examples_fingerprint([dataclasses.replace(PAIRS[0], label=1), PAIRS[1]])

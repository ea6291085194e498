"""accuracy and tagging_f1 against XTREME `evaluate.py` semantics (exact match; seqeval default)."""

import random

import numpy as np
import pytest
from seqeval.metrics import f1_score as seqeval_f1

from stilts_jax import metrics


def test_accuracy_hand_computed():
  assert metrics.accuracy(["a", "b", "c", "d"], ["a", "x", "c", "y"]) == pytest.approx(50.0)
  assert metrics.accuracy([0, 1, 2], [0, 1, 2]) == pytest.approx(100.0)
  assert metrics.accuracy(["1"], [1]) == 0.0  # no silent str/int coercion


def test_accuracy_accepts_numpy_and_jax():
  import jax.numpy as jnp
  t = np.array([0, 1, 2, 2, 1])
  p = jnp.array([0, 2, 2, 2, 0])
  assert metrics.accuracy(t, p) == pytest.approx(60.0)


@pytest.mark.parametrize("t,p,match", [
    ([1, 2], [1], "same length"),
    ([], [], "empty"),
    ("abc", "abc", "single str"),
    (np.zeros((2, 2)), np.zeros((2, 2)), "1-D"),
])
def test_accuracy_bad_input(t, p, match):
  with pytest.raises(ValueError, match=match):
    metrics.accuracy(t, p)


def test_tagging_f1_hand_computed():
  # gold {PER(0,1), LOC(3)}, pred {PER(0,1), ORG(3)} -> P = R = 1/2.
  assert metrics.tagging_f1([["B-PER", "I-PER", "O", "B-LOC"]],
                            [["B-PER", "I-PER", "O", "B-ORG"]]) == pytest.approx(50.0)
  # Default (lenient) mode: I-LOC after O starts an entity, equal to B-LOC.
  assert metrics.tagging_f1([["O", "I-LOC"]], [["O", "B-LOC"]]) == pytest.approx(100.0)
  # Micro-averaged over sentences: 2 gold, 3 predicted, 2 correct -> P 2/3, R 1, F1 0.8.
  assert metrics.tagging_f1([["B-PER"], ["B-LOC", "O"]],
                            [["B-PER"], ["B-LOC", "B-ORG"]]) == pytest.approx(80.0)


def test_tagging_f1_upos_quirk_matches_xtreme():
  # seqeval reads the first char of UPOS tags as a prefix: NOUN NOUN is one chunk, so a one-token
  # shift gives 0 (documented in jiant_xtreme.md §3) although token accuracy is 2/3.
  assert metrics.tagging_f1([["NOUN", "NOUN", "VERB"]], [["NOUN", "VERB", "VERB"]]) == 0.0
  assert metrics.tagging_f1([["NOUN", "VERB"]], [["NOUN", "VERB"]]) == pytest.approx(100.0)


def _iob2_chunks(sents):
  """Chunks of well-formed IOB2 sequences, written independently of seqeval."""
  chunks = set()
  for s, tags in enumerate(sents):
    start = None
    for i, tag in enumerate(tags + ["O"]):
      if start is not None and not (tag.startswith("I-") and tag[2:] == tags[start][2:]):
        chunks.add((s, start, i, tags[start][2:]))
        start = None
      if tag.startswith("B-"):
        start = i
  return chunks


def _random_iob2(rng, n):
  tags, prev = [], "O"
  for _ in range(n):
    r = rng.random()
    if r < 0.4:
      tag = "O"
    elif r < 0.7 or prev == "O":
      tag = "B-" + rng.choice(["PER", "LOC", "ORG"])
    else:
      tag = "I-" + prev[2:]
    tags.append(tag)
    prev = tag
  return tags


def test_tagging_f1_random_well_formed_iob2_vs_independent_chunk_f1():
  rng = random.Random(0)
  for _ in range(50):
    lens = [rng.randint(0, 12) for _ in range(rng.randint(1, 6))]
    lens[0] = max(lens[0], 1)
    true = [_random_iob2(rng, n) for n in lens]
    pred = [_random_iob2(rng, n) for n in lens]
    gc, pc = _iob2_chunks(true), _iob2_chunks(pred)
    ok = len(gc & pc)
    expected = 0.0 if ok == 0 else 100 * 2 * ok / (len(gc) + len(pc))
    assert metrics.tagging_f1(true, pred) == pytest.approx(expected)


@pytest.mark.filterwarnings("ignore:.*seems not to be NE tag")
def test_tagging_f1_random_bio_equals_seqeval():
  # Arbitrary (also ill-formed) sequences: must be exactly seqeval's default-mode F1 x100.
  rng = random.Random(1)
  tagset = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "NOUN", "X"]
  for _ in range(50):
    lens = [rng.randint(1, 10) for _ in range(rng.randint(1, 5))]
    true = [[rng.choice(tagset) for _ in range(n)] for n in lens]
    pred = [[rng.choice(tagset) for _ in range(n)] for n in lens]
    assert metrics.tagging_f1(true, pred) == pytest.approx(100 * seqeval_f1(true, pred))


@pytest.mark.parametrize("t,p,match", [
    ([["O", "B-PER"]], [["O"]], "sentence 0"),
    ([["O"], ["O"]], [["O"]], "number of sentences"),
    ([[]], [[]], "no tags"),
    ([[0, 1]], [[0, 1]], "str tags"),
    (["O", "B-PER"], ["O", "B-PER"], "single str"),
])
def test_tagging_f1_bad_input(t, p, match):
  with pytest.raises(ValueError, match=match):
    metrics.tagging_f1(t, p)

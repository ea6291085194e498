"""Token tagging (UD POS, PAN-X NER, CCG supertags): a label per word, predicted on its first
piece; the other pieces and the special tokens carry IGNORE_INDEX."""

from __future__ import annotations

from stilts_jax import metrics
from stilts_jax.examples import TagExample
from stilts_jax.features import IGNORE_INDEX, tagging_predictions_to_words
from stilts_jax.features.dispatch import Featurizer
from stilts_jax.features.tagging import featurize_tagging
from stilts_jax.kinds.base import (FitShape, Kind, argmax_predict, cross_entropy, label_names,
                                   register_kind)
from stilts_jax.models.heads import TaggingHead


def token_loss(outputs, batch, rows):
  labels = batch["labels"]
  return cross_entropy(outputs, labels, rows[:, None] * (labels != IGNORE_INDEX))


def score(spec, part, outputs):
  examples = part.loaded.examples
  names = label_names(spec, part)
  words = tagging_predictions_to_words(part.features, outputs["pred"], len(examples))
  pred = [[names[max(p, 0)] for p in w] for w in words]
  gold = [[names[l] for l in e.labels] for e in examples]
  scores = {}
  if "seqeval_f1" in spec.metrics:
    scores["seqeval_f1"] = metrics.tagging_f1(gold, pred)
  if "token_accuracy" in spec.metrics:
    scores["token_accuracy"] = metrics.accuracy(sum(gold, []), sum(pred, []))
  return scores, pred


TAGGING = register_kind(Kind(
    name="tagging", train_keys=("input_ids", "attention_mask", "labels"), loss=token_loss,
    predict=argmax_predict, score=score, packable=True, output_pad={"pred": -1},
    head=TaggingHead, featurizer=Featurizer("tagging", featurize_tagging, TagExample, "num_labels"),
    # one d x labels classifier on every token; UD POS's 17 labels by default
    fit=FitShape(default_labels=17, head_params=lambda d, n: d * n + n,
                 logits=lambda n, t: (t, n), label_shapes=lambda b, t: {"labels": (b, t)})))

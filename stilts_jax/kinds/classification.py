"""Sequence(-pair) classification (XNLI, PAWS-X, MNLI, QQP, ANLI): one label per example, read
from the `<s>` token; packed rows carry several examples, each with its own label slot."""

from __future__ import annotations

import numpy as np

from stilts_jax import metrics
from stilts_jax.examples import PairExample
from stilts_jax.features.classification import featurize_pairs
from stilts_jax.features.dispatch import Featurizer
from stilts_jax.kinds.base import (FitShape, Kind, argmax_predict, cross_entropy, label_names,
                                   register_kind)
from stilts_jax.models.heads import ClassificationHead


def row_loss(outputs, batch, rows):
  labels = batch["label"]  # [B], or [B, S] packed (-1 = empty slot)
  weights = rows.reshape(rows.shape + (1,) * (labels.ndim - 1)) * (labels >= 0)
  return cross_entropy(outputs, labels, weights)


def row_scores(spec, part, outputs) -> tuple[dict[str, float], np.ndarray]:
  """Accuracy (and binary F1 where the task reports it) of one predicted label per example."""
  examples = part.loaded.examples
  pred = np.zeros(len(examples), np.int64)
  pred[part.features["example_index"]] = outputs["pred"]
  gold = [e.label for e in examples]
  scores = {"accuracy": metrics.accuracy(gold, pred.tolist())}
  if "f1" in spec.metrics:
    scores["f1"] = _binary_f1(gold, pred)
  return scores, pred


def _binary_f1(gold, pred) -> float:
  gold, pred = np.asarray(gold), np.asarray(pred)
  tp = int(((gold == 1) & (pred == 1)).sum())
  denom = 2 * tp + int(((gold == 0) & (pred == 1)).sum()) + int(((gold == 1) & (pred == 0)).sum())
  return 100.0 * 2 * tp / denom if denom else 0.0


def score(spec, part, outputs):
  scores, pred = row_scores(spec, part, outputs)
  names = label_names(spec, part)
  return scores, [names[p] for p in pred]


CLASSIFICATION = register_kind(Kind(
    name="classification", train_keys=("input_ids", "attention_mask", "label"), loss=row_loss,
    predict=argmax_predict, score=score, packable=True, output_pad={"pred": -1},
    head=ClassificationHead,
    featurizer=Featurizer("pairs", featurize_pairs, PairExample, "num_labels"),
    # dense d x d + out_proj d x labels on <s>; XNLI's 3 labels by default
    fit=FitShape(default_labels=3, head_params=lambda d, n: d * d + d + d * n + n,
                 logits=lambda n, t: (1, n), label_shapes=lambda b, t: {"label": (b,)})))

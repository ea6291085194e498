"""Multiple choice (HellaSwag, CosmosQA, CommonsenseQA, XCOPA): inputs [B, C, T], one score per
choice, the label is the index of the right choice."""

from __future__ import annotations

from stilts_jax.examples import ChoiceExample
from stilts_jax.features.classification import featurize_choices
from stilts_jax.features.dispatch import Featurizer
from stilts_jax.kinds.base import Kind, argmax_predict, register_kind
from stilts_jax.kinds.classification import row_loss, row_scores
from stilts_jax.models.heads import MultipleChoiceHead


def score(spec, part, outputs):
  scores, pred = row_scores(spec, part, outputs)
  return scores, [int(p) for p in pred]


MULTIPLE_CHOICE = register_kind(Kind(
    name="multiple_choice", train_keys=("input_ids", "attention_mask", "label"), loss=row_loss,
    predict=argmax_predict, score=score, output_pad={"pred": -1}, head=MultipleChoiceHead,
    featurizer=Featurizer("choices", featurize_choices, ChoiceExample, "num_choices")))

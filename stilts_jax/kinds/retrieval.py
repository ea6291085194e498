"""Sentence retrieval (BUCC, Tatoeba): no head and no training; scored from the encoder's
sentence embeddings by `evaluate.Evaluator.retrieval`, not from predictions."""

from __future__ import annotations

from stilts_jax.examples import SentenceExample
from stilts_jax.features.classification import featurize_sentences
from stilts_jax.features.dispatch import Featurizer
from stilts_jax.kinds.base import Kind, register_kind

# No head and no training: both sides are embedded by the encoder (retrieval.py).
RETRIEVAL = register_kind(Kind(
    name="retrieval", train_keys=(),
    featurizer=Featurizer("sentences", featurize_sentences, SentenceExample)))

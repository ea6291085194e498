"""Sentence retrieval (BUCC, Tatoeba): no head and no training; scored from the encoder's
sentence embeddings by `evaluate.Evaluator.retrieval`, not from predictions."""

from __future__ import annotations

from stilts_jax.kinds.base import Kind, register_kind

RETRIEVAL = register_kind(Kind(name="retrieval", train_keys=()))

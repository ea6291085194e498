"""XTREME scorers with the official scripts' semantics; every value is on a 0–100 scale.

- `accuracy`: XNLI, PAWS-X (and any exact-match classification).
- `tagging_f1`: UD-POS, PAN-X (seqeval chunk F1, default mode).
- `squad_em_f1`: XQuAD, TyDiQA-GoldP (SQuAD v1.1); `mlqa_em_f1`: MLQA; `squad_v2`: SQuAD 2.0.
- `bucc_optimal_threshold`, `bucc_f1`: BUCC 2018; `tatoeba_nearest` and its `tatoeba_accuracy`:
  Tatoeba.
"""

from stilts_jax.metrics.classification import accuracy
from stilts_jax.metrics.qa import mlqa_em_f1, squad_em_f1
from stilts_jax.metrics.retrieval import (bucc_f1, bucc_optimal_threshold, tatoeba_accuracy,
                                          tatoeba_accuracy_of, tatoeba_nearest)
from stilts_jax.metrics.squad_v2 import squad_v2
from stilts_jax.metrics.tagging import tagging_f1

__all__ = [
    "accuracy", "tagging_f1", "squad_em_f1", "mlqa_em_f1", "squad_v2",
    "bucc_optimal_threshold", "bucc_f1", "tatoeba_accuracy", "tatoeba_accuracy_of",
    "tatoeba_nearest",
]

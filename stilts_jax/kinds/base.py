"""What a task kind is: the one object that holds everything kind-specific about training on it
and scoring it, and the registry the rest of the code looks kinds up in.

`steps`, `train` and `evaluate` never branch on a kind's name: they ask `get_kind(name)` for its
train keys, its loss, its predictions and its scoring. A new kind is one module in this package
that builds a `Kind` and calls `register_kind`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

# loss(outputs, batch, rows) -> (sum of weighted losses, sum of weights); `rows` is 1 for real rows
# and 0 for the masked padding rows of evaluation batches.
Loss = Callable[[Any, Mapping[str, jax.Array], jax.Array], tuple[jax.Array, jax.Array]]
# predict(outputs) -> {name: array}: what evaluation fetches from the device, per batch row.
Predict = Callable[[Any], dict[str, jax.Array]]
# score(spec, part, outputs) -> ({task metric name: value on 0-100}, per-example predictions).
Score = Callable[[Any, Any, Mapping[str, np.ndarray]], tuple[dict[str, float], list[Any]]]


@dataclasses.dataclass(frozen=True)
class FitShape:
  """What `stilts-jax-fit` needs of a kind's head to estimate memory (the encoder is common)."""
  default_labels: int  # the number of labels when none is given (e.g. XNLI's 3)
  head_params: Callable[[int, int], int]  # (hidden size d, labels) -> parameter count
  logits: Callable[[int, int], tuple[int, int]]  # (labels, T) -> (logit rows per example, width)
  label_shapes: Callable[[int, int], dict[str, tuple[int, ...]]]  # (B, T) -> label arrays


@dataclasses.dataclass(frozen=True)
class Kind:
  name: str
  train_keys: tuple[str, ...]  # the feature arrays its loss reads (the rest stay on the host)
  loss: Loss | None = None
  predict: Predict | None = None
  score: Score | None = None  # None: not scored from predictions (retrieval, MLM)
  packable: bool = False  # several short examples may share a row (data/packing.py)
  masked: bool = False  # inputs masked afresh every step, labels from the masking (MLM)
  # How per-token outputs are padded back to the full length T after bucketed batches.
  output_pad: Mapping[str, float] = dataclasses.field(default_factory=dict)
  # Its head module (`head(cfg, num_labels, rngs)`, called on the encoder output), the one
  # `TaskModel` builds for a head of this kind; None for kinds without a head (retrieval).
  head: type | None = None
  fit: FitShape | None = None  # None: not estimated by stilts-jax-fit
  # How its examples become features (`features.dispatch.Featurizer`: the example type it takes,
  # the function, the label-count keyword); None for a kind fed otherwise (MLM's corpus).
  featurizer: Any = None


KINDS: dict[str, Kind] = {}


def register_kind(kind: Kind) -> Kind:
  """Registers `kind`, its head with `models.heads` (so `TaskModel` can build it; the models layer
  lists the built-in heads itself and never imports this package) and its featurizer with
  `features.dispatch` (which `featurize_split` looks up)."""
  from stilts_jax.features import dispatch
  from stilts_jax.models import heads
  if kind.name in KINDS:
    raise ValueError(f"task kind {kind.name!r} is already registered.")
  if kind.head is not None:
    known = heads.HEAD_TYPES.setdefault(kind.name, kind.head)
    if known is not kind.head:
      raise ValueError(f"kind {kind.name!r}: models.heads already has another head for it.")
  if kind.featurizer is not None:
    dispatch.register_featurizer(kind.name, kind.featurizer)
  KINDS[kind.name] = kind
  return kind


def get_kind(name: str) -> Kind:
  if name not in KINDS:
    raise ValueError(f"unknown task kind {name!r}; known: {', '.join(sorted(KINDS))}.")
  return KINDS[name]


# ----------------------------------------------------------------------------------------------
# Pieces several kinds share.


def cross_entropy(logits: jax.Array, labels: jax.Array, weights: jax.Array):
  """(sum of weighted NLL, sum of weights); labels outside [0, K) must carry weight 0."""
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  safe = jnp.clip(labels, 0, logits.shape[-1] - 1)
  nll = -jnp.take_along_axis(logp, safe[..., None], axis=-1)[..., 0]
  return (nll * weights).sum(), weights.sum()


def argmax_predict(outputs: jax.Array) -> dict[str, jax.Array]:
  return {"pred": jnp.argmax(outputs, axis=-1).astype(jnp.int32)}


def label_names(spec, part) -> Sequence[str]:
  names = part.loaded.label_names or spec.labels
  if names is None:
    raise ValueError(f"{spec.name}: no label names for {part.split}/{part.language}.")
  return names

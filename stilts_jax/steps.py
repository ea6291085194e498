"""The jitted train, predict and embed steps (each kind's loss and predictions: `kinds/`).

The train state is a plain pytree, which Orbax saves as is:
  {"params": pure dict of the TaskModel's parameters ({"encoder": ..., "heads": {name: ...}}),
   "opt_state": optax state, "step": int32, "rng": uint32 key data}
The model's structure (graphdef) is static, so a step merges it with the params inside jit.

Each step is jitted once per (head, length bucket): the head name is a static argument, batch shapes
come from a handful of buckets.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from stilts_jax.kinds import get_kind

State = dict[str, Any]


def _row_weights(batch: Mapping[str, jax.Array]) -> jax.Array:
  """1 for real rows, 0 for the masked padding rows of evaluation batches."""
  if "mask" in batch:
    return batch["mask"].astype(jnp.float32)
  return jnp.ones(batch["input_ids"].shape[0], jnp.float32)


def task_loss(model, head: str, head_type: str, batch: Mapping[str, jax.Array],
              dropout_rng: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
  """Mean loss over the batch's labelled units (rows, or tokens for tagging/MLM) and their count."""
  rows = _row_weights(batch)
  # Packed rows carry several examples: segment ids, and for classification each one's <s>.
  packed = {k: batch[k] for k in ("segment_ids", "cls_positions") if k in batch}
  kind = get_kind(head_type)
  if kind.loss is None:
    raise ValueError(f"no loss for head type {head_type!r}.")
  outputs = model(head, batch["input_ids"], batch["attention_mask"], dropout_rng=dropout_rng,
                  **packed)
  total, count = kind.loss(outputs, batch, rows)
  return total / jnp.maximum(count, 1.0), count


def make_train_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation,
                    head_types: Mapping[str, str], *, state_sharding: Any = None,
                    batch_sharding: Any = None) -> Callable:
  """`train_step(state, batch, head_name) -> (state, metrics)`, jitted with donated state.

  A step whose loss or gradient is not finite leaves the state untouched and reports
  `finite=False`; the loop stops there, so a diverged update is never applied or checkpointed.

  One jitted function per (model structure, optimizer, heads, shardings): phases with the same
  recipe (a target after each intermediate setting, a relaunch in the same process) run the
  executables the first one compiled. `optim.make_optimizer` returns the same object for the same
  hyperparameters, so equal recipes meet here.
  """
  leaves, treedef = jax.tree.flatten(state_sharding)
  return _cached_train_step(graphdef, tx, tuple(sorted(head_types.items())), tuple(leaves),
                            treedef, batch_sharding)


def fresh_train_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation,
                     head_types: Mapping[str, str], *, state_sharding: Any = None,
                     batch_sharding: Any = None) -> Callable:
  """An uncached `make_train_step`: its own jit, nothing compiled yet (to count compiles)."""
  head_types = dict(head_types)

  def train_step(state: State, batch: Mapping[str, jax.Array], head: str):
    key = jax.random.wrap_key_data(state["rng"])
    dropout_rng = jax.random.fold_in(key, state["step"])

    def loss_fn(params):
      return task_loss(nnx.merge(graphdef, params), head, head_types[head], batch, dropout_rng)

    (loss, count), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
    updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    grad_norm = optax.tree.norm(grads)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)
    new_state = dict(state, params=keep(params, state["params"]),
                     opt_state=keep(opt_state, state["opt_state"]),
                     step=state["step"] + 1)
    metrics = {"loss": loss, "grad_norm": grad_norm, "units": count, "finite": finite}
    return new_state, metrics

  kwargs = {}
  if state_sharding is not None:
    kwargs = dict(in_shardings=(state_sharding, batch_sharding),
                  out_shardings=(state_sharding, None))
  # The head is static and positional: jit accepts no keyword arguments with in_shardings.
  return jax.jit(train_step, static_argnums=(2,), donate_argnums=(0,), **kwargs)


@functools.lru_cache(maxsize=16)
def _cached_train_step(graphdef, tx, head_types: tuple[tuple[str, str], ...], sharding_leaves: tuple, sharding_treedef,
                       batch_sharding) -> Callable:
  return fresh_train_step(graphdef, tx, head_types,
                          state_sharding=jax.tree.unflatten(sharding_treedef, sharding_leaves),
                          batch_sharding=batch_sharding)


def predictions(model, head: str, head_type: str, batch: Mapping[str, jax.Array]):
  """What evaluation needs from one batch: labels for argmax tasks, logits for span QA."""
  return get_kind(head_type).predict(model(head, batch["input_ids"], batch["attention_mask"]))


def make_predict_step(graphdef: nnx.GraphDef, head_types: Mapping[str, str]) -> Callable:
  """`predict_step(params, batch, head=name) -> dict of arrays` (no dropout).

  One jitted function per (model structure, heads): the dev evaluations inside a phase, its final
  evaluation and every later phase with the same model reuse the executables compiled for each
  bucket instead of compiling them again (the params are arguments, not constants)."""
  return _cached_predict_step(graphdef, tuple(sorted(head_types.items())))


def fresh_predict_step(graphdef: nnx.GraphDef, head_types: Mapping[str, str]) -> Callable:
  """An uncached `make_predict_step`: its own jit, nothing compiled yet (to count compiles)."""
  types = dict(head_types)

  def predict_step(params, batch, head: str):
    return predictions(nnx.merge(graphdef, params), head, types[head], batch)

  return jax.jit(predict_step, static_argnames=("head",))


@functools.lru_cache(maxsize=16)
def _cached_predict_step(graphdef: nnx.GraphDef, head_types: tuple) -> Callable:
  return fresh_predict_step(graphdef, dict(head_types))


POOLINGS = ("mean", "cls")  # sentence embeddings for retrieval (config.retrieval.pooling)


def sentence_embeddings(encoder, batch: Mapping[str, jax.Array], layer: int,
                        pooling: str = "mean") -> jax.Array:
  """Embeddings from `hidden_states[layer]` (0 = embedding output), as the paper's retrieval:
  mean over all non-pad tokens including `<s>` and `</s>`, or the `<s>` vector ("cls")."""
  out = encoder(batch["input_ids"], batch["attention_mask"], output_hidden_states=True)
  if not 0 <= layer < len(out.hidden_states):
    raise ValueError(f"retrieval layer {layer} is out of range: the encoder has "
                     f"{len(out.hidden_states)} hidden states (0 = embeddings).")
  h = out.hidden_states[layer].astype(jnp.float32)
  if pooling == "cls":
    return h[:, 0]
  if pooling != "mean":
    raise ValueError(f"pooling must be {' or '.join(map(repr, POOLINGS))}, got {pooling!r}.")
  mask = batch["attention_mask"].astype(jnp.float32)[..., None]
  return (h * mask).sum(1) / jnp.maximum(mask.sum(1), 1.0)


@functools.lru_cache(maxsize=16)
def make_embed_step(encoder_graphdef: nnx.GraphDef, layer: int, pooling: str = "mean") -> Callable:
  """`embed_step(encoder_params, batch) -> [B, H] float32`.

  Cached per (graphdef, layer, pooling): `Evaluator.retrieval` asks for a step on every call
  (BUCC, then Tatoeba, then again for the next setting), and a fresh `jax.jit` each time would
  recompile every length bucket for the same encoder.
  """

  def embed_step(params, batch):
    return sentence_embeddings(nnx.merge(encoder_graphdef, params), batch, layer, pooling)

  return jax.jit(embed_step)

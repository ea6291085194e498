"""The paper's optimizer: AdamW, linear warmup then linear decay, global-norm clipping, accumulation.

As jiant (the X-STILTs code): transformers' AdamW with eps 1e-8 and weight decay 0.01 on every
weight except biases and LayerNorm parameters, warmup over the first 10 % of optimizer updates,
linear decay to zero, gradients clipped to global norm 1.0, and gradient accumulation to reach the
effective batch (e.g. 4 × 8 = 32) on small devices.
"""

from __future__ import annotations

import functools

import jax
import optax

NO_DECAY_LEAVES = ("bias", "scale")  # biases and LayerNorm scales (our name for LN weights)


def warmup_linear_schedule(learning_rate: float, total_updates: int,
                           warmup_fraction: float = 0.1) -> optax.Schedule:
  if total_updates < 1:
    raise ValueError(f"total_updates must be >= 1, got {total_updates}.")
  warmup = int(round(warmup_fraction * total_updates))
  decay = optax.linear_schedule(learning_rate, 0.0, max(total_updates - warmup, 1))
  if warmup == 0:
    return decay
  return optax.join_schedules(
      [optax.linear_schedule(0.0, learning_rate, warmup), decay], boundaries=[warmup])


def decay_mask(params):
  """True where weight decay applies: kernels and embeddings, not biases or LayerNorm."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: getattr(path[-1], "key", None) not in NO_DECAY_LEAVES, params)


@functools.lru_cache(maxsize=32)
def make_optimizer(*, learning_rate: float, total_updates: int, warmup_fraction: float = 0.1,
                   weight_decay: float = 0.01, b1: float = 0.9, b2: float = 0.999,
                   eps: float = 1e-8, max_grad_norm: float | None = 1.0,
                   grad_accum_steps: int = 1) -> optax.GradientTransformation:
  """`total_updates` counts optimizer updates (micro-steps / grad_accum_steps).

  Cached: equal hyperparameters give the same transformation object, so the train steps built
  on it are one jitted function (steps.make_train_step) and compile once."""
  schedule = warmup_linear_schedule(learning_rate, total_updates, warmup_fraction)
  parts = [optax.clip_by_global_norm(max_grad_norm)] if max_grad_norm else []
  parts.append(optax.adamw(schedule, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay,
                           mask=decay_mask))
  tx = optax.chain(*parts)
  if grad_accum_steps > 1:
    # Accumulates the mean gradient over k micro-batches, then clips and updates once: the same
    # update a k-times larger batch would make.
    tx = optax.MultiSteps(tx, every_k_schedule=grad_accum_steps)
  return tx

"""Batches for a pod: length buckets, step-indexed training order, masked eval padding, and global
array assembly across processes. See `batching` and `multihost`.

Typical use on every process:

  index, count = process_slice(mesh, global_batch_size=gbs)
  train = TrainBatches(features, gbs, seed, index, count, group_by_length=True)
  for step, local in enumerate(train.from_step(start_step), start_step):
    state = train_step(state, to_global_batch(local, mesh))
  for local in EvalBatches(eval_features, gbs, index, count):
    out = eval_step(state, to_global_batch(local, mesh))  # weight by out["mask"], join on "index"
"""

from stilts_jax.data.batching import (
    DEFAULT_BUCKETS,
    DEFAULT_PAD_VALUES,
    INDEX_KEY,
    MASK_KEY,
    EvalBatches,
    TrainBatches,
    choose_bucket,
    real_lengths,
    resolve_buckets,
    sequence_keys_of,
    trim,
    validate_features,
)
from stilts_jax.data.multihost import (
    DEFAULT_BATCH_AXES,
    batch_sharding,
    mesh_batch_axes,
    process_slice,
    to_global_batch,
)

__all__ = [
    "DEFAULT_BATCH_AXES", "DEFAULT_BUCKETS", "DEFAULT_PAD_VALUES", "INDEX_KEY", "MASK_KEY",
    "EvalBatches", "TrainBatches", "batch_sharding", "choose_bucket",
    "mesh_batch_axes", "process_slice", "real_lengths", "resolve_buckets", "sequence_keys_of",
    "to_global_batch", "trim", "validate_features",
]

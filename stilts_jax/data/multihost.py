"""Multi-host input: which rows of the global batch this process loads, and assembling the global
`jax.Array` from every process's local rows.

Each process loads only its block of each global batch (`TrainBatches` / `EvalBatches` with the
`(index, count)` from `process_slice`), then `to_global_batch` builds arrays sharded over the batch
axes with `jax.make_array_from_process_local_data`. Block `i` of `count` must be exactly the rows
this process's devices hold in the global array; `process_slice` reads that off the mesh rather
than assuming `jax.process_index()`, so unusual device orders (and processes that are replicas of
each other along a non-batch axis) stay correct.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DEFAULT_BATCH_AXES: tuple[str, ...] = ("data", "fsdp")


def mesh_batch_axes(mesh: Mesh, batch_axes: Sequence[str] = DEFAULT_BATCH_AXES) -> tuple[str, ...]:
  """The batch axes present in `mesh`, in the given order.

  Missing axes are skipped so the default ("data", "fsdp") works on a pure-FSDP or pure-data mesh.
  """
  if isinstance(batch_axes, str):
    batch_axes = (batch_axes,)
  axes = tuple(a for a in batch_axes if a in mesh.axis_names)
  if not axes:
    raise ValueError(
        f"none of batch_axes {tuple(batch_axes)} is an axis of the mesh {mesh.axis_names}.")
  return axes


def batch_sharding(mesh: Mesh, batch_axes: Sequence[str] = DEFAULT_BATCH_AXES) -> NamedSharding:
  """Leading dim sharded over the batch axes, everything else replicated."""
  return NamedSharding(mesh, PartitionSpec(mesh_batch_axes(mesh, batch_axes)))


def _shard_count(mesh: Mesh, axes: tuple[str, ...]) -> int:
  return math.prod(mesh.shape[a] for a in axes)


def _local_shard_range(mesh: Mesh, axes: tuple[str, ...]) -> tuple[int, int]:
  """[first, last + 1) of the batch shards held by this process's devices; must be contiguous."""
  names = mesh.axis_names
  # Move the batch axes to the front in spec order; row-major flattening of them is the shard
  # index along the batch dim (the first axis in the spec is the major one).
  devices = np.transpose(mesh.devices, [names.index(a) for a in axes]
                         + [i for i, n in enumerate(names) if n not in axes])
  n_shards = _shard_count(mesh, axes)
  devices = devices.reshape(n_shards, -1)
  me = jax.process_index()
  mine = sorted({s for s in range(n_shards) for d in devices[s] if d.process_index == me})
  if not mine:
    raise ValueError(f"process {me} holds no device of the mesh; cannot place its batch rows.")
  first, last = mine[0], mine[-1]
  if last - first + 1 != len(mine):
    raise ValueError(
        f"process {me} holds batch shards {mine} of {n_shards} on mesh axes {axes}, which are not "
        "contiguous; order the mesh devices so each process owns a contiguous block of the batch.")
  return first, last + 1


def process_slice(
    mesh: Mesh,
    batch_axes: Sequence[str] = DEFAULT_BATCH_AXES,
    global_batch_size: int | None = None,
) -> tuple[int, int]:
  """`(index, count)`: this process loads block `index` of `count` equal blocks of each global batch.

  Pass these as `process_index, process_count` to `TrainBatches` / `EvalBatches`. With the usual
  device order this is `(jax.process_index(), jax.process_count())`; processes that differ only
  along a non-batch axis (e.g. tensor parallel across hosts) get the same block. When
  `global_batch_size` is given it is checked against the mesh's batch-axis size.
  """
  axes = mesh_batch_axes(mesh, batch_axes)
  n_shards = _shard_count(mesh, axes)
  first, stop = _local_shard_range(mesh, axes)
  k = stop - first
  if n_shards % k or first % k:
    raise ValueError(
        f"process {jax.process_index()} holds batch shards [{first}, {stop}) of {n_shards}; "
        "every process must hold the same number of aligned shards.")
  if global_batch_size is not None and global_batch_size % n_shards:
    raise ValueError(
        f"global_batch_size={global_batch_size} is not divisible by the mesh's batch-axis size "
        f"{n_shards} (axes {axes} of mesh {dict(mesh.shape)}).")
  return first // k, n_shards // k


def to_global_batch(
    local_batch: Mapping[str, np.ndarray],
    mesh: Mesh,
    batch_axes: Sequence[str] = DEFAULT_BATCH_AXES,
) -> dict[str, jax.Array]:
  """Assembles this process's rows into global arrays sharded on their leading dim.

  Every process must call this with its own block (see `process_slice`) of the same global batch,
  with equal local shapes. The global leading dim is `local_rows * count`.
  """
  axes = mesh_batch_axes(mesh, batch_axes)
  sharding = NamedSharding(mesh, PartitionSpec(axes))
  n_shards = _shard_count(mesh, axes)
  first, stop = _local_shard_range(mesh, axes)
  k = stop - first
  rows = {key: np.shape(v)[0] if np.ndim(v) else None for key, v in local_batch.items()}
  if len(set(rows.values())) > 1 or None in rows.values():
    raise ValueError(f"local batch arrays must share a leading (batch) dim; got {rows}.")
  local, global_shapes = {}, {}
  for key, v in local_batch.items():
    v = np.asarray(v)
    if v.shape[0] % k:
      raise ValueError(
          f"local batch {key!r} has {v.shape[0]} rows, not divisible by this process's {k} "
          f"batch shards: the global batch ({v.shape[0] * (n_shards // k)} rows) must be "
          f"divisible by the mesh's batch-axis size {n_shards} (axes {axes} of mesh "
          f"{dict(mesh.shape)}).")
    local[key] = v
    global_shapes[key] = (v.shape[0] * n_shards // k,) + v.shape[1:]
  # One call for the whole batch: in a single process that is one `device_put` of every array
  # together (about half the host time of one transfer per array).
  return jax.make_array_from_process_local_data(sharding, local, global_shapes)

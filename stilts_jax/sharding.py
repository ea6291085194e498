"""Device mesh, logical-axis rules, and creating models already sharded.

Parameters carry logical axis names (`vocab`, `embed`, `mlp`, `heads`, `norm`, ...; see
`models/xlmr.py`). Rules map logical names to mesh axes; the default is pure FSDP: `embed` over the
`fsdp` axis (every matrix of XLM-R has an embed dimension, so each is split once), batch over
`(data, fsdp)`. Tensor parallelism (`mlp`/`heads` → `tensor`) is available but rarely worth it for
a 560M-parameter encoder.

A rule applies only if the mesh axes divide the dimension and are not already used by another
dimension of the same array; otherwise the next rule for that name is tried, then replication. So
odd vocabularies (250002) or tiny test models never fail to shard, they just replicate that dim.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
from flax import nnx
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp", "tensor")

# (logical name, mesh axes or None); first applicable rule wins, names may repeat as fallbacks.
Rules = Sequence[tuple[str, str | tuple[str, ...] | None]]
FSDP_RULES: Rules = (
    ("batch", ("data", "fsdp")),
    ("embed", "fsdp"),
    ("vocab", "fsdp"),       # the MLM bias; the embedding matrix already uses fsdp on `embed`
    ("mlp", "tensor"),
    ("heads", "tensor"),
    ("mlp_pooler", None),
    ("norm", None),
    ("length", None),
    ("layers", None),        # the stacked blocks' axis: the scan takes one block per iteration
)


def make_mesh(shape: Mapping[str, int] | None = None, devices: Sequence[Any] | None = None) -> Mesh:
  """A mesh over `devices` (default: all) with axes (data, fsdp, tensor); one size may be -1.

  `shape={"data": 1, "fsdp": -1, "tensor": 1}` is the default: everything on fsdp.
  """
  devices = list(jax.devices() if devices is None else devices)
  shape = dict({"data": 1, "fsdp": -1, "tensor": 1}, **(shape or {}))
  unknown = set(shape) - set(MESH_AXES)
  if unknown:
    raise ValueError(f"unknown mesh axes {sorted(unknown)}; expected a subset of {MESH_AXES}.")
  sizes = [shape[a] for a in MESH_AXES]
  if sizes.count(-1) > 1:
    raise ValueError(f"at most one mesh axis may be -1 (fill the rest); got {shape}.")
  known = math.prod(s for s in sizes if s != -1)
  if -1 in sizes:
    if len(devices) % known:
      raise ValueError(f"mesh {shape} cannot be filled: {len(devices)} devices are not divisible "
                       f"by the fixed axes' product {known}.")
    sizes[sizes.index(-1)] = len(devices) // known
  if math.prod(sizes) != len(devices):
    raise ValueError(f"mesh {dict(zip(MESH_AXES, sizes))} needs {math.prod(sizes)} devices; "
                     f"{len(devices)} are available. Use -1 for one axis to fill the rest.")
  # Auto axes: XLA's sharding propagation places activations; we only pin params and inputs.
  return jax.make_mesh(tuple(sizes), MESH_AXES, axis_types=(AxisType.Auto,) * len(MESH_AXES),
                       devices=devices)


def logical_to_spec(logical_axes: Sequence[str | None], shape: Sequence[int], mesh: Mesh,
                    rules: Rules = FSDP_RULES) -> PartitionSpec:
  """Maps one array's logical axes to a PartitionSpec under `rules`, respecting divisibility.

  Rules are applied in order, so their order is the priority: with the default rules the word
  embedding [vocab, embed] shards `embed` (listed first) even when `vocab` would divide too.
  """
  if len(logical_axes) != len(shape):
    raise ValueError(f"logical axes {tuple(logical_axes)} do not match array rank {len(shape)}.")
  used: set[str] = set()
  spec: list[Any] = [None] * len(shape)
  for rule_name, mesh_axes in rules:
    if mesh_axes is None:
      continue
    axes = (mesh_axes,) if isinstance(mesh_axes, str) else tuple(mesh_axes)
    axes = tuple(a for a in axes if mesh.shape.get(a, 1) > 1)  # size-1 axes shard nothing
    if not axes or used & set(axes):
      continue
    size = math.prod(mesh.shape[a] for a in axes)
    for dim, (name, n) in enumerate(zip(logical_axes, shape)):
      if name == rule_name and spec[dim] is None and n % size == 0:
        spec[dim] = axes[0] if len(axes) == 1 else axes
        used.update(axes)
        break
  return PartitionSpec(*spec)


def _logical_axes(var: nnx.Variable) -> tuple[str | None, ...]:
  axes = var.get_metadata().get("logical_axes")
  if axes is None:
    raise ValueError(f"variable of shape {var.shape} has no logical_axes metadata; every "
                     "parameter must declare them so it can be sharded.")
  return tuple(axes)


def state_specs(state: Any, mesh: Mesh, rules: Rules = FSDP_RULES) -> Any:
  """PartitionSpecs for an (abstract) nnx State, same structure (Variables wrap the specs)."""
  return jax.tree.map(
      lambda v: v.replace(logical_to_spec(_logical_axes(v), v.shape, mesh, rules)),
      state, is_leaf=lambda x: isinstance(x, nnx.Variable))


def state_shardings(state: Any, mesh: Mesh, rules: Rules = FSDP_RULES) -> Any:
  specs = state_specs(state, mesh, rules)
  return jax.tree.map(lambda s: NamedSharding(mesh, s), specs,
                      is_leaf=lambda x: isinstance(x, PartitionSpec))


def batch_sharding(mesh: Mesh, rules: Rules = FSDP_RULES) -> NamedSharding:
  """Sharding of the leading (batch) axis of every input array; other axes replicated."""
  for name, mesh_axes in rules:
    if name == "batch":
      axes = (mesh_axes,) if isinstance(mesh_axes, str) else tuple(mesh_axes or ())
      axes = tuple(a for a in axes if a in mesh.shape)
      return NamedSharding(mesh, PartitionSpec(axes if axes else None))
  return NamedSharding(mesh, PartitionSpec())


def optimizer_state_shardings(tx, params: Any, mesh: Mesh) -> Any:
  """Shardings for `tx.init(params)`: every state leaf that mirrors a parameter (Adam's moments,
  the gradient accumulator) is sharded like that parameter; counters are replicated.

  Without this, `jit(tx.init)` returns fully replicated zeros: FSDP would keep a whole copy of
  Adam's 2 × 560M floats (4 GiB for XLM-R Large) on every chip. A state leaf mirrors a parameter
  when its key path ends with that parameter's path and the shapes agree.
  """
  by_path = {tuple(path): leaf for path, leaf in jax.tree_util.tree_leaves_with_path(params)}
  replicated = NamedSharding(mesh, PartitionSpec())

  def pick(path, leaf):
    for k in range(len(path)):
      param = by_path.get(tuple(path[k:]))
      if param is not None and param.shape == leaf.shape:
        return param.sharding
    return replicated

  return jax.tree_util.tree_map_with_path(pick, jax.eval_shape(tx.init, params))


def abstract_model(ctor: Callable[[], nnx.Module]) -> tuple[nnx.GraphDef, nnx.State]:
  """Shapes and metadata of a model without allocating it."""
  return nnx.split(nnx.eval_shape(ctor))


def sharded_initializer(ctor: Callable[[jax.Array], nnx.Module], mesh: Mesh,
                        rules: Rules = FSDP_RULES) -> Callable[[jax.Array], nnx.Module]:
  """`key -> ctor(key)` built directly into its shards by one jitted program: the key is an
  argument, so every later call (another seed, another phase) runs the same executable."""
  graphdef, abs_state = abstract_model(lambda: ctor(jax.random.key(0)))
  init = jax.jit(lambda key: nnx.split(ctor(key))[1],
                 out_shardings=state_shardings(abs_state, mesh, rules))

  def build(key: jax.Array) -> nnx.Module:
    with jax.set_mesh(mesh):
      return nnx.merge(graphdef, init(key))
  return build


def create_sharded(ctor: Callable[[], nnx.Module], mesh: Mesh,
                   rules: Rules = FSDP_RULES) -> nnx.Module:
  """Builds `ctor()` directly into its shards: each device only ever holds its own pieces."""
  return sharded_initializer(lambda _key: ctor(), mesh, rules)(jax.random.key(0))


def describe(state: Any) -> dict[str, str]:
  """`{"encoder/layers/attention/query/kernel": "PartitionSpec(...)"}` for golden files and logs."""
  out = {}
  for path, v in nnx.to_flat_state(state):
    value = v.get_value()
    sharding = getattr(value, "sharding", None)
    spec = sharding.spec if isinstance(sharding, NamedSharding) else value
    out["/".join(map(str, path))] = str(tuple(spec)) if isinstance(spec, PartitionSpec) else str(spec)
  return out


def host_array(x: jax.Array) -> np.ndarray:
  """A full numpy copy of a (possibly sharded, possibly multi-host) array."""
  if x.is_fully_addressable:
    return np.asarray(x)
  from jax.experimental import multihost_utils
  return np.asarray(multihost_utils.process_allgather(x, tiled=True))

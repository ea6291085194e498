"""Pallas splash attention (TPU): XLM-R's bidirectional attention, padding and packing as segment ids.

The kernel never materialises the [B, heads, T, T] score tensor and skips nothing it must not:
padding and packed-example boundaries become *segment ids* (a query attends to a key only when
their ids match), which is exactly the reference mask of `xlmr.py`:

  plain rows   queries id 1 everywhere, keys id 1 if real else 0  → every query (pads too, as in
               transformers) attends to the row's real keys;
  packed rows  queries their example's id (0 on pads), keys the same id if real else -1
               → block-diagonal, pads attend to nothing.

TPU lanes are 128 wide, so the length is padded to a multiple of 128 inside (keys there get id
-1: masked) and sliced back. Rows whose every key is masked (all-pad rows, pad positions of packed
rows) get the uniform average of the values, as the reference does, but over the padded length:
those outputs are discarded by every head and loss.

On a mesh (`jax.set_mesh`) the kernel runs per shard under `shard_map`: batch over the batch
axes, heads over `tensor`. A Mosaic kernel is opaque to XLA's sharding propagation, so without
this every device would gather the whole batch.

Platforms: TPU runs the Mosaic kernel; CPU runs the Pallas interpreter (slow; it is how the tests
check the kernel's semantics without a TPU); GPU is refused (use attention="cudnn").
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from jax.experimental.pallas.ops.tpu.splash_attention import splash_attention_kernel as sk
from jax.experimental.pallas.ops.tpu.splash_attention import splash_attention_mask as sm
from jax.sharding import PartitionSpec as P

LANES = 128                # TPU vector lane width: sequence blocks are multiples of it
BLOCK_SIZES = (512, 256, 128)  # largest that divides the (padded) length wins


def segment_ids_for(attention_mask: jax.Array, segment_ids: jax.Array | None = None
                    ) -> sk.SegmentIds:
  """The (query, key) segment ids that reproduce the reference mask; see the module docstring."""
  keys = attention_mask.astype(bool)
  if segment_ids is None:
    return sk.SegmentIds(q=jnp.ones(keys.shape, jnp.int32), kv=keys.astype(jnp.int32))
  seg = segment_ids.astype(jnp.int32)
  return sk.SegmentIds(q=seg, kv=jnp.where(keys, seg, -1))


def interpret_mode(backend: str | None = None) -> bool:
  """False on TPU (compiled Mosaic kernel), True on CPU (interpreter); GPU raises."""
  backend = backend or jax.default_backend()
  if backend == "tpu":
    return False
  if backend == "cpu":
    return True
  raise ValueError(f"attention='splash' is a TPU (Pallas/Mosaic) kernel; the backend is {backend!r}. "
                   "Use attention='cudnn' on GPU (or 'auto', which picks it).")


def check_backend(kernel: str) -> None:
  """Fails early (at model load, not at the first evaluation) when splash cannot run here."""
  if kernel == "splash":
    interpret_mode()


def block_size(length: int) -> int:
  """The kernel's q/kv block for a sequence already padded to a multiple of LANES."""
  if length % LANES:
    raise ValueError(f"splash attention needs a length that is a multiple of {LANES}; got {length}.")
  return next(b for b in BLOCK_SIZES if length % b == 0)


def _kernel(num_heads: int, length: int, interpret: bool):
  """A kernel for (local heads, padded length): the full (bidirectional) mask per head.

  Built anew in every trace and deliberately not cached: its block-mask tables are arrays that
  belong to the trace (under shard_map, to its mesh) they were made in, and a kernel reused under
  another trace or mesh fails. Building it is cheap: numpy over a handful of blocks.
  """
  b = block_size(length)
  sizes = sk.BlockSizes(block_q=b, block_kv=b, block_kv_compute=b, block_q_dkv=b, block_kv_dkv=b,
                        block_kv_dkv_compute=b, use_fused_bwd_kernel=True)
  mask = sm.MultiHeadMask([sm.FullMask((length, length))] * num_heads)
  return sk.make_splash_mha(mask, block_sizes=sizes, head_shards=1, q_seq_shards=1,
                            interpret=interpret)


def _attend(q, k, v, segments: sk.SegmentIds, interpret: bool):
  """The kernel over a batch: q, k, v [b, n, T, d] with T a multiple of LANES."""
  kernel = _kernel(q.shape[1], q.shape[2], interpret)
  return jax.vmap(kernel, in_axes=(0, 0, 0, sk.SegmentIds(0, 0)))(q, k, v, segments)


def _attend_padded_head_dim(q, k, v, segments: sk.SegmentIds, interpret: bool):
  """Head dim zero-padded to a multiple of LANES: q·k and the weights are unchanged, and the
  extra output columns are zero and dropped. Only for kernels that refuse head_dim 64."""
  d = q.shape[-1]
  widen = lambda x: jnp.pad(x, ((0, 0), (0, 0), (0, 0), (0, -d % LANES)))
  return _attend(widen(q), widen(k), widen(v), segments, interpret)[..., :d]


def _local_attention(q, k, v, segments: sk.SegmentIds, *, interpret: bool):
  """Attention on one shard: q, k, v [b, T, n, d] → [b, T, n, d]."""
  t, d = q.shape[1], q.shape[-1]
  pad = -t % LANES
  if pad:
    widen = lambda x: jnp.pad(x, ((0, 0), (0, pad), (0, 0), (0, 0)))
    q, k, v = widen(q), widen(k), widen(v)
    segments = sk.SegmentIds(q=jnp.pad(segments.q, ((0, 0), (0, pad))),
                             kv=jnp.pad(segments.kv, ((0, 0), (0, pad)), constant_values=-1))
  # The kernel does not scale: fold 1/sqrt(d) into q. For XLM-R's d = 64 the factor 1/8 is exact,
  # so this equals the reference's division of the scores.
  heads_first = lambda x: x.transpose(0, 2, 1, 3)
  q = heads_first(q * jnp.asarray(1.0 / math.sqrt(d), q.dtype))
  k, v = heads_first(k), heads_first(v)
  try:
    out = _attend(q, k, v, segments, interpret)
  except NotImplementedError:
    if d % LANES == 0:
      raise
    # 2025 jaxlibs take only head dims that are multiples of 128 (jax-ml/jax#30861).
    out = _attend_padded_head_dim(q, k, v, segments, interpret)
  return heads_first(out)[:, :t].astype(v.dtype)


def splash_attention(q: jax.Array, k: jax.Array, v: jax.Array, segments: sk.SegmentIds, *,
                     interpret: bool | None = None) -> jax.Array:
  """softmax(q kᵀ/√d masked by `segments`) v for q, k, v [B, T, heads, head_dim].

  Under `jax.set_mesh` with more than one device it runs per shard (batch over the mesh's
  data/fsdp axes, heads over tensor when they divide); otherwise on the whole arrays. The axis
  names are those of `stilts_jax.sharding`'s mesh: custom rules that put the batch on other axes
  still get correct results, but the batch is then gathered onto every device.
  """
  if interpret is None:
    interpret = interpret_mode()
  local = functools.partial(_local_attention, interpret=interpret)
  mesh = jax.sharding.get_abstract_mesh()
  if mesh.empty or mesh.size == 1:
    return local(q, k, v, segments)
  b, _, n, _ = q.shape
  batch_axes = tuple(a for a in ("data", "fsdp") if mesh.shape.get(a, 1) > 1)
  if b % math.prod(mesh.shape[a] for a in batch_axes):
    batch_axes = ()  # an odd batch (never from our batchers): replicate rather than fail
  tensor = mesh.shape.get("tensor", 1)
  heads = "tensor" if tensor > 1 and n % tensor == 0 else None
  qkv = P(batch_axes or None, None, heads, None)
  seg = P(batch_axes or None, None)
  return jax.shard_map(local, mesh=mesh, in_specs=(qkv, qkv, qkv, sk.SegmentIds(seg, seg)),
                       out_specs=qkv, check_vma=False)(q, k, v, segments)

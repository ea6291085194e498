"""`stilts-jax-fit`: will this run fit in the accelerator's memory? Checked before queueing it.

Three methods, each labelled in the output:
  aot-tpu    the real train step (`steps.make_train_step`) AOT-compiled for the named TPU topology on
             this host, via `jax.experimental.topologies` (needs `libtpu`, no TPU), as MaxText's
             train_compile.py does; XLA's own per-device memory_analysis() is the answer.
  aot-local  the same compile for the local backend's real devices (CPU here, GPU where present).
  estimate   closed-form bytes, always available; see `estimate` for the formula and assumptions.
Everything is abstract (`nnx.eval_shape`, ShapeDtypeStruct): nothing is allocated, so XLM-R Large
on a 64-chip slice is checked on a laptop.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import types
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from stilts_jax import optim, sharding as shd, steps
from stilts_jax.kinds import KINDS
from stilts_jax.models import TaskModel, XLMRConfig

GiB = 1 << 30
TPU_AOT_UNAVAILABLE = ("TPU AOT unavailable (needs libtpu: `pip install libtpu` or 'jax[tpu]'; "
                       "no TPU is needed)")
# The head kinds it estimates: those that declare their head's shape (kinds/: FitShape).
FIT_KINDS = {name: kind.fit for name, kind in KINDS.items() if kind.fit is not None}
# Fragmentation, runtime reservations and the estimate's own error. 15 % keeps the estimate at or
# below XLA's measured limit at every point checked with aot-tpu (docs/fit.md); aot-tpu itself
# gets none: the TPU compiler checks its program against the usable HBM and fails if over.
MARGIN = 0.15


@dataclasses.dataclass(frozen=True)
class Accelerator:
  """One device of a slice: HBM per chip, and how to describe the slice's topology to libtpu."""
  name: str
  platform: str                 # "tpu" | "gpu"
  devices: int                  # JAX devices (= chips; v4/v5p run megacore: one device per chip)
  hbm: int                      # bytes per device
  topology: str | None = None   # libtpu topology name, e.g. "v5e:2x4"
  chip_config: str = "default"  # "megacore" for v4/v5p (two TensorCores act as one device)
  host_bounds: tuple[int, int, int] = (2, 2, 1)  # chips per host; only shapes the process layout


def _tpus() -> dict[str, Accelerator]:
  # HBM per chip from shared/reference/perf.md §2 (Cloud TPU docs): v4 32 GiB, v5e 16, v5p 95;
  # v6e 32 GiB from the Cloud TPU v6e page (not in perf.md). Topologies as MaxText's
  # accelerator_to_spec_map; v5e-8/v6e-8 are single hosts of 8 chips, hence bounds (2, 4, 1).
  out = {}
  for gen, hbm, cfg, shapes in (
      ("v4", 32, "megacore", {8: "2x2x1", 16: "2x2x2", 32: "2x2x4", 64: "2x4x4", 128: "4x4x4"}),
      ("v5p", 95, "megacore", {8: "2x2x1", 16: "2x2x2", 32: "2x2x4", 64: "2x4x4", 128: "4x4x4"}),
      ("v5e", 16, "default", {1: "1x1", 4: "2x2", 8: "2x4", 16: "4x4", 32: "4x8", 64: "8x8"}),
      ("v6e", 32, "default", {1: "1x1", 4: "2x2", 8: "2x4", 16: "4x4", 32: "4x8", 64: "8x8"})):
    for n, shape in shapes.items():
      chips = n // 2 if cfg == "megacore" else n  # v4/v5p names count TensorCores, 2 per chip
      bounds = ((1, 1, 1) if chips == 1 else (2, 4, 1) if chips == 8 and cfg == "default"
                else (2, 2, 1))
      out[f"{gen}-{n}"] = Accelerator(f"{gen}-{n}", "tpu", chips, hbm * GiB, f"{gen}:{shape}",
                                      cfg, bounds)
  return out


# GPUs: perf.md §2 gives H100 SXM 80 GB and H200 141 GB (decimal; the conservative reading).
ACCELERATORS: dict[str, Accelerator] = {
    **_tpus(),
    **{f"h100{s}": Accelerator(f"h100{s}", "gpu", n, 80 * 10**9) for s, n in (("", 1), ("-8", 8))},
    **{f"h200{s}": Accelerator(f"h200{s}", "gpu", n, 141 * 10**9) for s, n in (("", 1), ("-8", 8))},
}


@dataclasses.dataclass
class Query:
  """One configuration to check. `batch_size` is the global batch per optimizer update, as the
  training config's; each step sees a micro-batch of batch_size / grad_accum rows."""
  cfg: XLMRConfig
  head_type: str = "classification"
  num_labels: int | None = None
  batch_size: int = 32
  seq_len: int = 128
  grad_accum: int = 1
  mesh: dict[str, int] = dataclasses.field(default_factory=lambda: {"data": 1, "fsdp": -1})
  # Training shards Adam's moments like the params (sharding.optimizer_state_shardings); False
  # models a replicated optimizer state, for comparison.
  opt_sharded: bool = True

  @property
  def labels(self) -> int:
    return self.num_labels or FIT_KINDS[self.head_type].default_labels

  @property
  def micro_batch(self) -> int:
    if self.batch_size % self.grad_accum:
      raise ValueError(f"batch_size {self.batch_size} is not divisible by grad_accum "
                       f"{self.grad_accum}.")
    return self.batch_size // self.grad_accum


@dataclasses.dataclass
class Report:
  method: str                     # "aot-tpu" | "aot-local" | "estimate"
  target: str                     # accelerator (or local backend) the bytes are for
  devices: int
  per_device_batch: float
  categories: dict[str, int]      # bytes per device
  total: int                      # bytes per device, margin included
  hbm: int
  note: str = ""

  fits = property(lambda self: self.total <= self.hbm)
  headroom = property(lambda self: self.hbm - self.total)


##### Abstract train state ######################################################################

def mesh_sizes(shape: dict[str, int], n: int) -> dict[str, int]:
  """Fills the -1 axis like `sharding.make_mesh`, without needing n real devices."""
  sizes = {a: shape.get(a, 1) for a in shd.MESH_AXES}
  known = math.prod(s for s in sizes.values() if s != -1)
  sizes = {a: (n // known if s == -1 else s) for a, s in sizes.items()}
  if math.prod(sizes.values()) != n:
    raise ValueError(f"mesh {shape} does not cover {n} devices.")
  return sizes


def data_parallel(shape: dict[str, int], n: int) -> int:
  """How many ways the batch is split: over (data, fsdp), as `sharding.batch_sharding`."""
  sizes = mesh_sizes(shape, n)
  return sizes["data"] * sizes["fsdp"]


def abstract_params(q: Query) -> tuple[nnx.GraphDef, nnx.State]:
  """The TaskModel's graphdef and Param state as shapes only (train.py splits it the same way)."""
  return _abstract_params(q.cfg, q.head_type, q.labels)


@functools.lru_cache(maxsize=8)  # seconds for Large, asked for by every CLI method and search
def _abstract_params(cfg: XLMRConfig, head_type: str, labels: int):
  model = nnx.eval_shape(lambda: TaskModel(cfg, {"task": (head_type, labels)}, rngs=nnx.Rngs(0)))
  return nnx.split(model, nnx.Param)


def param_count(cfg: XLMRConfig, head_type: str, num_labels: int) -> int:
  """Closed form (perf.md §1), checked against the abstract model in the tests."""
  d, f, layers = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
  layer = 4 * d * d + 4 * d + 2 * d * f + f + d + 4 * d  # QKVO, FFN, two LayerNorms
  embed = (cfg.vocab_size + cfg.max_position_embeddings + cfg.type_vocab_size) * d + 2 * d
  head = FIT_KINDS[head_type].head_params(d, num_labels)
  return layers * layer + embed + head  # no pooler: only multiple_choice uses it


def sharded_param_bytes(params: nnx.State, sizes: dict[str, int]) -> int:
  """Per-device bytes of `params` under the FSDP rules: each array divided by the mesh axes its
  spec uses (the rules only shard dims they divide, so this is exact)."""
  fake_mesh = types.SimpleNamespace(shape={a: sizes.get(a, 1) for a in shd.MESH_AXES})
  total = 0
  for _, v in nnx.to_flat_state(params):
    spec = shd.logical_to_spec(shd._logical_axes(v), v.shape, fake_mesh)  # noqa: SLF001
    split = math.prod(sizes.get(a, 1) for p in spec if p
                      for a in ((p,) if isinstance(p, str) else p))
    total += math.prod(v.shape) * np.dtype(v.dtype).itemsize // split
  return total


##### Estimate ##################################################################################

def estimate(q: Query, acc: Accelerator, margin: float = MARGIN,
             params: nnx.State | None = None, state_bytes: tuple[int, int] | None = None) -> Report:
  """Per-device bytes in closed form, per category:

  state: params fp32 (P), grads fp32 (P), Adam mu+nu fp32 (2P), + the accumulator (P) when
    grad_accum > 1; params and grads divided over the mesh exactly as the FSDP rules shard them,
    the optimizer state too if `q.opt_sharded`, else whole on every device.
  activations kept for backward, per layer for a per-device micro-batch b = micro / (data*fsdp),
    c = compute-dtype bytes, without remat (cfg.remat=False, the default):
      b*T*[c*(6d + 2f) + 4*2d + 1*2d]    x, q, k, v, context, LN1 out; FFN pre/post GELU;
                                         two fp32 LayerNorm inputs; two hidden dropout masks
    + b*heads*T^2*(4 + 1 + c)            fp32 softmax probs, dropout mask, dropped probs (training
                                         takes the reference attention path while attention
                                         dropout is on, the default; with attention_dropout=0
                                         and a fused kernel this term overestimates)
    plus the embeddings' b*T*d*(4 + 1 + c) and the head's fp32 logits (and their log-softmax).
    remat "block": layers*b*T*d*c (block inputs) + one block's worth, rebuilt during backward.
    remat "dots": layers*b*T*c*(d + 5d + f) (block input and the weight matmuls' outputs: Q, K, V,
    attention output, FFN in and out) + one block's worth.
  workspace: one layer's backward transients, b*heads*T^2*8 (fp32 score grad, uint32 dropout
    bits) + b*T*f*4, and compute-dtype copies of the encoder matrices (the gathered FSDP shards
    or the bf16 casts, assumed kept for backward).
  embed_table: on more than one device, V*d*(8 + c) (the gathered table, its full gradient).
  Total += `margin` (fragmentation, runtime reserve, the formula's error).
  """
  cfg = q.cfg
  remat = getattr(cfg, "remat_policy", "none")
  sizes = mesh_sizes(q.mesh, acc.devices)
  dp = sizes["data"] * sizes["fsdp"]
  b = q.micro_batch / dp
  t, d, f, n, layers = q.seq_len, cfg.hidden_size, cfg.intermediate_size, \
      cfg.num_attention_heads, cfg.num_hidden_layers
  c = jnp.dtype(cfg.dtype).itemsize
  if state_bytes is None:  # (per-device, whole) param bytes; max_batch passes them in
    params = abstract_params(q)[1] if params is None else params
    state_bytes = sharded_param_bytes(params, sizes), sharded_param_bytes(params, {})
  p_bytes, p_total = state_bytes
  per_layer = b * t * (c * (6 * d + 2 * f) + 4 * 2 * d + 2 * d) + b * n * t * t * (4 + 1 + c)
  head_rows, head_out = FIT_KINDS[q.head_type].logits(q.labels, t)
  cats = {
      "params": p_bytes,
      "grads": p_bytes,
      "opt_state": (p_bytes if q.opt_sharded else p_total) * (3 if q.grad_accum > 1 else 2),
      # Under remat only what the policy keeps stays; one block is rebuilt at a time.
      "activations": int({"none": layers * per_layer,
                          "block": layers * b * t * d * c + per_layer,
                          "dots": layers * b * t * c * (6 * d + f) + per_layer}[remat]
                         + b * t * d * (5 + c) + b * head_rows * head_out * 8),
      "workspace": int(b * n * t * t * 8 + b * t * f * 4
                       + layers * (4 * d * d + 2 * d * f) * c // max(sizes["tensor"], 1)),
      # With FSDP the word-embedding gather (jnp.take) runs on the all-gathered table and its
      # gradient is scatter-added into a full fp32 table before the reduce-scatter: whole copies
      # of the 250002 x 1024 table. Two fp32 + one compute-dtype copy put the estimate within 2 %
      # of aot-tpu on v5e-8 (Large, T=384, 4 and 10 rows/device, before margin).
      "embed_table": cfg.vocab_size * d * (8 + c) if dp * sizes["tensor"] > 1 else 0,
  }
  subtotal = sum(cats.values())
  cats["margin"] = int(subtotal * margin)
  return Report("estimate", acc.name, acc.devices, b, cats, subtotal + cats["margin"], acc.hbm,
                f"closed form, {'no remat' if remat == 'none' else f'remat {remat}'}, "
                f"{margin:.0%} margin")


##### AOT compile ###############################################################################

def tpu_devices(acc: Accelerator) -> list[Any]:
  """Compile-only TPU devices for the accelerator's topology; raises RuntimeError without libtpu."""
  from jax.experimental import topologies
  topo = topologies.get_topology_desc(platform="tpu", topology_name=acc.topology,
                                      chip_config_name=acc.chip_config,
                                      chips_per_host_bounds=acc.host_bounds, num_slices=1)
  return list(topo.devices)


def compile_train_step(q: Query, devices: Sequence[Any]) -> Any:
  """`jax.jit(train_step).lower(abstract state, abstract batch, head).compile()` on a mesh over
  `devices`: the exact step, shardings and donation training uses, with nothing allocated."""
  graphdef, params = abstract_params(q)
  mesh = shd.make_mesh(q.mesh, devices)
  p_shard = nnx.to_pure_dict(shd.state_shardings(params, mesh))
  abs_params = jax.tree.map(lambda v, s: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=s),
                            nnx.to_pure_dict(params), p_shard)
  tx = optim.make_optimizer(learning_rate=1e-5, total_updates=1000,
                            grad_accum_steps=q.grad_accum)
  replicated = NamedSharding(mesh, PartitionSpec())
  abs_opt = jax.eval_shape(tx.init, abs_params)
  opt_shard = (shd.optimizer_state_shardings(tx, abs_params, mesh) if q.opt_sharded
               else jax.tree.map(lambda _: replicated, abs_opt))
  abs_opt = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                         abs_opt, opt_shard)
  state = {"params": abs_params, "opt_state": abs_opt,
           "step": jax.ShapeDtypeStruct((), jnp.int32, sharding=replicated),
           "rng": jax.ShapeDtypeStruct((2,), jnp.uint32, sharding=replicated)}
  state_sharding = jax.tree.map(lambda a: a.sharding, state)
  batch_sharding = shd.batch_sharding(mesh)
  b, t = q.micro_batch, q.seq_len
  shapes = {"input_ids": (b, t), "attention_mask": (b, t)}
  shapes.update(FIT_KINDS[q.head_type].label_shapes(b, t))
  batch = {k: jax.ShapeDtypeStruct(s, jnp.int32, sharding=batch_sharding)
           for k, s in shapes.items()}
  step = steps.make_train_step(graphdef, tx, {"task": q.head_type},
                               state_sharding=state_sharding, batch_sharding=batch_sharding)
  with jax.set_mesh(mesh):
    return step.lower(state, batch, "task").compile()


def memory_report(compiled: Any, method: str, target: str, devices: int, batch: float, hbm: int,
                  margin: float = MARGIN, note: str = "") -> Report:
  """Per-device bytes live at once: arguments + outputs - the outputs aliased onto donated
  arguments (the state) + temporaries + generated code; XLA's own peak if it reports a larger."""
  m = compiled.memory_analysis()
  cats = {"arguments": m.argument_size_in_bytes, "outputs": m.output_size_in_bytes,
          "aliased": -m.alias_size_in_bytes, "temp": m.temp_size_in_bytes,
          "code": m.generated_code_size_in_bytes}
  total = sum(cats.values())
  peak = getattr(m, "peak_memory_in_bytes", 0) or 0
  if peak > total:
    cats["peak_extra"] = peak - total
    total = peak
  cats["margin"] = int(total * margin)
  return Report(method, target, devices, batch, cats, total + cats["margin"], hbm, note)


def aot_tpu(q: Query, acc: Accelerator, margin: float = 0.0) -> Report:
  """AOT for the named TPU topology. Raises RuntimeError(TPU_AOT_UNAVAILABLE ...) without libtpu;
  a program over HBM is a compile error on TPU, reported as not fitting."""
  if acc.platform != "tpu":
    raise ValueError(f"{acc.name} is not a TPU.")
  try:
    devices = tpu_devices(acc)
  except Exception as e:  # noqa: BLE001 - libtpu missing or too old: every cause means "no AOT"
    raise RuntimeError(f"{TPU_AOT_UNAVAILABLE}: {type(e).__name__}: {str(e)[:200]}") from e
  b = q.micro_batch / data_parallel(q.mesh, len(devices))
  try:
    compiled = compile_train_step(q, devices)
  except Exception as e:  # noqa: BLE001
    if "RESOURCE_EXHAUSTED" not in str(e) and "Ran out of memory" not in str(e):
      raise
    msg = next((ln.strip() for ln in str(e).splitlines() if "memory" in ln.lower()), str(e))
    return Report("aot-tpu", acc.name, len(devices), b, {}, acc.hbm + 1, acc.hbm,
                  f"compiler: out of HBM: {msg[:160]}")
  return memory_report(compiled, "aot-tpu", acc.name, len(devices), b, acc.hbm, margin,
                       f"XLA memory_analysis for {acc.topology}")


def aot_local(q: Query, acc: Accelerator | None = None, margin: float = MARGIN) -> Report:
  """AOT on the local backend's devices. Against the device's own memory limit where it reports
  one (GPU), else against `acc`'s HBM (a CPU compile is only a proxy for the accelerator's)."""
  devices = jax.devices()
  limit = (devices[0].memory_stats() or {}).get("bytes_limit") if devices[0].platform != "cpu" \
      else None
  hbm = limit or (acc.hbm if acc else 0)
  compiled = compile_train_step(q, devices)
  kind = f"{len(devices)}x {devices[0].platform}"
  note = ("local memory limit" if limit else
          f"CPU compile: layout/fusion differ from {acc.name if acc else 'the target'}")
  return memory_report(compiled, "aot-local", kind, len(devices),
                       q.micro_batch / data_parallel(q.mesh, len(devices)), hbm, margin, note)


##### Search and CLI ############################################################################

def check(q: Query, acc: Accelerator, method: str, margin: float = MARGIN) -> Report:
  if method == "aot-tpu":
    return aot_tpu(q, acc)  # the compiler's own HBM check is the margin
  if method == "aot-local":
    return aot_local(q, acc, margin)
  return estimate(q, acc, margin)


def max_batch(q: Query, acc: Accelerator, method: str = "estimate", margin: float = MARGIN,
              limit: int = 4096) -> int:
  """Largest per-device micro-batch that fits (0 if none): doubling, then bisection. Fit is
  monotone in the batch, so this is exact for the method; AOT probes start from the estimate's
  answer so only a handful of compiles run."""
  n = len(jax.devices()) if method == "aot-local" else acc.devices
  sizes, dp = mesh_sizes(q.mesh, n), data_parallel(q.mesh, n)
  if method == "estimate":
    params = abstract_params(q)[1]
    state_bytes = sharded_param_bytes(params, sizes), sharded_param_bytes(params, {})

  def fits(b: int) -> bool:
    probe = dataclasses.replace(q, batch_size=b * dp * q.grad_accum)
    if method == "estimate":
      return estimate(probe, acc, margin, state_bytes=state_bytes).fits
    return check(probe, acc, method, margin).fits

  b = max(max_batch(q, acc, "estimate", margin, limit) if method != "estimate" else 1, 1)
  if fits(b):  # bracket [lo fits, hi does not] by doubling up ...
    lo = b
    while 2 * lo <= limit and fits(2 * lo):
      lo *= 2
    hi = 2 * lo
    if hi > limit:
      return lo
  else:  # ... or halving down
    hi, lo = b, b // 2
    while lo and not fits(lo):
      hi, lo = lo, lo // 2
  while hi - lo > 1:
    mid = (lo + hi) // 2
    lo, hi = (mid, hi) if fits(mid) else (lo, mid)
  return lo


def model_config(name: str, dtype: str, remat: bool | str = False) -> XLMRConfig:
  ctor = {"base": XLMRConfig.base, "large": XLMRConfig.large}[name]
  # only passed when asked: older configs lack it
  extra = {"remat": remat} if remat not in (False, "none") else {}
  return ctor(dtype=jnp.dtype(dtype), param_dtype=jnp.float32, **extra)


def parse_mesh(text: str) -> dict[str, int]:
  """"data=1,fsdp=-1" -> {"data": 1, "fsdp": -1}."""
  try:
    return {k.strip(): int(v) for k, v in (part.split("=") for part in text.split(",") if part)}
  except ValueError:
    raise ValueError(f"--mesh must look like 'data=1,fsdp=-1', got {text!r}.") from None


def _gib(n: float) -> str:
  return f"{n / GiB:8.2f}"


def format_reports(reports: Sequence[Report]) -> str:
  """One column per method: per-device GiB by category, HBM, fits, headroom."""
  cats = list(dict.fromkeys(c for r in reports for c in r.categories))
  width = max(12, *(len(r.method) + 2 for r in reports))
  head = f"{'per device (GiB)':<18}" + "".join(f"{r.method:>{width}}" for r in reports)
  rows = [head, "-" * len(head)]
  rows += [f"{c:<18}" + "".join(f"{_gib(r.categories[c]) if c in r.categories else '-':>{width}}"
                                for r in reports) for c in cats]
  rows.append(f"{'total':<18}" + "".join(f"{_gib(r.total):>{width}}" for r in reports))
  rows.append(f"{'HBM':<18}" + "".join(f"{_gib(r.hbm):>{width}}" for r in reports))
  rows.append(f"{'fits':<18}" + "".join(f"{'yes' if r.fits else 'NO':>{width}}" for r in reports))
  rows.append(f"{'headroom':<18}" + "".join(f"{_gib(r.headroom):>{width}}" for r in reports))
  rows += [f"[{r.method}] {r.target}, {r.devices} devices, {r.per_device_batch:g} rows/device: "
           f"{r.note}" for r in reports]
  return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
  """Exit status 0 if it fits (by the most exact method that ran), 1 if not, 2 on bad input."""
  p = argparse.ArgumentParser(prog="stilts-jax-fit", description=__doc__.splitlines()[0])
  p.add_argument("--model", choices=("base", "large"), default="large")
  p.add_argument("--accelerator", choices=sorted(ACCELERATORS), default="v5e-8")
  p.add_argument("--batch-size", type=int, default=32,
                 help="global batch per optimizer update (the training config's batch_size)")
  p.add_argument("--seq-len", type=int, default=128)
  p.add_argument("--head", choices=sorted(FIT_KINDS), default="classification")
  p.add_argument("--num-labels", type=int, default=None)
  p.add_argument("--dtype", choices=("bfloat16", "float32"), default="bfloat16",
                 help="compute dtype; parameters and optimizer state stay float32")
  p.add_argument("--mesh", default="data=1,fsdp=-1")
  p.add_argument("--remat", nargs="?", const="block", default="none",
                 choices=("none", "block", "dots"),
                 help="recompute in backward: block (bare --remat; least memory) or dots")
  p.add_argument("--grad-accum", type=int, default=1)
  p.add_argument("--opt-state", choices=("replicated", "sharded"), default="sharded",
                 help="Adam moments sharded like the params (as training does), or replicated")
  p.add_argument("--margin", type=float, default=MARGIN,
                 help="added to the estimate and aot-local (not aot-tpu: its compiler checks)")
  p.add_argument("--aot", nargs="?", const="all", choices=("all", "tpu", "local"), default=None,
                 help="also AOT-compile the real train step: for the TPU topology, locally, or both")
  p.add_argument("--max-batch", action="store_true",
                 help="print the largest per-device micro-batch that fits, per method")
  a = p.parse_args(argv)
  acc = ACCELERATORS[a.accelerator]
  try:
    q = Query(model_config(a.model, a.dtype, a.remat), a.head, a.num_labels, a.batch_size, a.seq_len,
              a.grad_accum, parse_mesh(a.mesh), a.opt_state == "sharded")
    q.micro_batch  # noqa: B018 - validates batch_size / grad_accum
    mesh_sizes(q.mesh, acc.devices)
  except ValueError as e:
    print(f"error: {e}")
    return 2
  methods = ["estimate"]
  if a.aot in ("all", "tpu") and acc.platform == "tpu":
    methods.insert(0, "aot-tpu")
  if a.aot in ("all", "local") or (a.aot == "tpu" and acc.platform != "tpu"):
    methods.insert(len(methods) - 1, "aot-local")
  print(f"XLM-R {a.model} + {a.head}, T={a.seq_len}, batch {a.batch_size} "
        f"(grad_accum {a.grad_accum}), {a.dtype} compute{'' if a.remat == 'none' else f', remat {a.remat}'}, mesh {a.mesh}, optimizer state "
        f"{a.opt_state}, on {acc.name} ({acc.devices} devices, {acc.hbm / GiB:.1f} GiB each)")
  reports, sizes = [], {}
  for m in methods:
    try:
      if a.max_batch:
        sizes[m] = max_batch(q, acc, m, a.margin)
      else:
        reports.append(check(q, acc, m, a.margin))
    except RuntimeError as e:
      if m != "aot-tpu":
        raise
      print(f"{e}\n-> falling back to the other methods.")
    except ValueError as e:  # e.g. a batch the mesh cannot split evenly
      print(f"[{m}] skipped: {e}")
  if a.max_batch:
    dp = data_parallel(q.mesh, acc.devices)
    for m, b in sizes.items():
      print(f"[{m}] largest per-device micro-batch at T={a.seq_len}: {b} "
            f"(global batch {b * dp * a.grad_accum} = {b} x {dp} devices x {a.grad_accum} accum)")
    return 0 if any(sizes.values()) else 1
  print(format_reports(reports))
  return 0 if reports and reports[0].fits else 1


if __name__ == "__main__":
  raise SystemExit(main())

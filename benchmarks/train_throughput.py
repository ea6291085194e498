"""Training-step throughput of stilts-jax (and, with --compare-torch, of transformers' PyTorch
XLM-R on the same shapes in the same process), with MFU on padded and on real tokens.

  python benchmarks/train_throughput.py --size=large --seq-len=128 --batch-size=32 --steps=50 \
      --length-mix=mnli --packing --compare-torch --json=/tmp/train.json

What is timed: one optimizer update per step, i.e. host→device copy of a prebuilt numpy batch,
forward, backward, global-norm clip and AdamW (jax: `steps.make_train_step`, the pipeline's step;
torch: loss.backward(), clip_grad_norm_, AdamW.step, zero_grad, scheduler.step), each step ended by
a device sync (`jax.block_until_ready` on the new state and metrics / `torch.cuda.synchronize`).
Not timed: building the synthetic data, compilation and `--warmup` steps (jax first runs one step
per distinct batch shape, so every bucket is compiled before timing). Step times are summarised
per shape by their median (`common.summarize`). Weights are random (no download); dropout is on
(0.1, as fine-tuning) in both frameworks.

Data (`common.synthetic_features`): with no --length-mix every row is full (T real tokens). With
--length-mix=mnli the real lengths are SYNTHETIC MNLI-like (lognormal, median 36, sigma 0.45,
clipped to [8, T]); then jax batches as the pipeline does, with `TrainBatches` length buckets
(64/128/256/384/512 up to T) and group_by_length, or with --packing several examples per row
(`pack_features`, B packed rows of T per step). Torch pads every batch to T, as the HF Trainer /
run_glue default (pad_to_max_length) does.

MFU: see `benchmarks/common.py` (6·N_mm + 12·L·d·T per token, classification head per sequence,
embedding gather excluded), against the dense bf16 peak of the device (`common.DEVICE_PEAKS`).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any

import numpy as np

if __package__ in (None, ""):  # `python benchmarks/train_throughput.py` from the repo root
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

JAX_KEYS = ("input_ids", "attention_mask", "label")
PACKED_KEYS = ("input_ids", "attention_mask", "segment_ids", "cls_positions", "label")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--size", choices=sorted(common.SIZES), default="base")
  p.add_argument("--seq-len", type=int, default=128)
  p.add_argument("--batch-size", type=int, default=32, help="rows per step (global)")
  p.add_argument("--steps", type=int, default=20, help="timed steps")
  p.add_argument("--warmup", type=int, default=3, help="untimed steps after compilation")
  p.add_argument("--length-mix", choices=("none", "mnli"), default="none")
  p.add_argument("--packing", action="store_true", help="jax: pack examples into rows")
  p.add_argument("--compare-torch", action="store_true")
  p.add_argument("--dtype", choices=("auto", "bfloat16", "float32"), default="auto",
                 help="compute dtype; auto = bfloat16 on GPU/TPU, float32 on CPU")
  p.add_argument("--attention", choices=("auto", "xla", "cudnn", "splash", "reference"),
                 default="auto", help="auto = cudnn on GPU, splash on TPU, xla on CPU")
  p.add_argument("--attention-dropout", type=float, default=None,
                 help="override attention_probs_dropout_prob (both frameworks); 0 lets jax use "
                      "the fused kernels while training")
  p.add_argument("--devices", type=int, default=1, help="jax devices to use (0 = all)")
  p.add_argument("--peak-tflops", type=float, default=None, help="override the device peak")
  p.add_argument("--threads", type=int, default=None,
                 help="CPU only: intra-op threads for BOTH frameworks (see common.limit_threads)")
  p.add_argument("--seed", type=int, default=0)
  common.add_xla_defaults_argument(p)
  p.add_argument("--json", default=None, help="write the result here")
  args = p.parse_args(argv)
  if args.packing and args.length_mix == "none":
    p.error("--packing needs --length-mix (full-length rows have nothing to pack).")
  if args.steps < 1 or args.batch_size < 1:
    p.error("--steps and --batch-size must be positive.")
  return args


# ----------------------------------------------------------------------------------------------
# Data.


def build_data(args: argparse.Namespace, vocab_size: int
               ) -> tuple[list[dict[str, np.ndarray]], list[dict[str, np.ndarray]]]:
  """(jax batches, torch batches), `warmup + steps` of each, as numpy."""
  from stilts_jax.data import DEFAULT_BUCKETS, TrainBatches, resolve_buckets
  from stilts_jax.data.packing import pack_features
  rng = np.random.default_rng(args.seed)
  b, t, n_steps = args.batch_size, args.seq_len, args.warmup + args.steps
  if args.length_mix == "none":
    lengths = np.full(b * n_steps, t)
  else:
    # Enough examples that packing still yields `n_steps` full batches of rows.
    per_row = t / (common.MNLI_MEDIAN * 1.05) if args.packing else 1
    n = max(b * n_steps, math.ceil(b * n_steps * per_row * 1.2) + b)
    lengths = common.lognormal_lengths(n, t, rng)
  feats = common.synthetic_features(lengths, t, vocab_size, rng)
  # Torch: the first examples in order, each batch padded to T.
  torch_batches = [{k: feats[k][i * b:(i + 1) * b] for k in JAX_KEYS} for i in range(n_steps)]
  if args.packing:
    packed = pack_features({k: feats[k] for k in (*JAX_KEYS, "example_index")}, t)
    if len(packed["input_ids"]) < b * n_steps:
      raise RuntimeError(f"packing gave {len(packed['input_ids'])} rows, fewer than "
                         f"{b * n_steps}; raise the example count.")
    source = TrainBatches({k: packed[k] for k in PACKED_KEYS}, b, args.seed, buckets=(t,))
  else:
    buckets = (t,) if args.length_mix == "none" else resolve_buckets(DEFAULT_BUCKETS, t)
    source = TrainBatches({k: feats[k] for k in JAX_KEYS}, b, args.seed, buckets=buckets,
                          group_by_length=args.length_mix != "none")
  jax_batches = [source.batch_at(s) for s in range(n_steps)]
  return jax_batches, torch_batches


def batch_stats(batch: dict[str, np.ndarray]) -> dict[str, int]:
  rows, t = batch["input_ids"].shape
  sequences = int((batch["label"] >= 0).sum())  # packed: filled slots; else rows
  return {"rows": rows, "seq_len": t, "tokens": rows * t,
          "real_tokens": int(batch["attention_mask"].sum()), "sequences": sequences}


def summarize(times: list[float], batches: list[dict[str, np.ndarray]], cfg, devices: int,
              peak: float | None) -> dict[str, Any]:
  stats = [batch_stats(b) for b in batches]
  flops = [common.step_flops(cfg, s["tokens"], s["seq_len"], s["sequences"]) for s in stats]
  real = [common.step_flops(cfg, s["real_tokens"], s["seq_len"], s["sequences"]) for s in stats]
  return common.summarize(times, [(s["rows"], s["seq_len"]) for s in stats],
                          [s["rows"] for s in stats], [s["tokens"] for s in stats],
                          [s["real_tokens"] for s in stats], [s["sequences"] for s in stats],
                          flops, real, devices, peak)


# ----------------------------------------------------------------------------------------------
# JAX.


def effective_attention(cfg, packing: bool) -> str:
  """The kernel `SelfAttention` actually runs in a *training* step (dropout is on)."""
  kernel = cfg.attention_kernel()
  if kernel == "reference" or cfg.attention_dropout_rate > 0:
    return "reference (softmax materialised; attention-probability dropout needs it)"
  if kernel == "cudnn":
    return "cudnn (dense block-diagonal mask)" if packing else "cudnn (sequence lengths)"
  if kernel == "splash":
    return "splash (Pallas, segment ids)"
  return "xla"


def train_state_and_step(cfg, devices, seed: int, *, fresh: bool = False):
  """(mesh, state, step) built as the pipeline builds them: a sharded TaskModel with one 3-way
  classification head, AdamW state sharded like the parameters, `steps.make_train_step` (or,
  with `fresh`, its uncached twin with a jit of its own)."""
  import jax
  import jax.numpy as jnp
  from flax import nnx

  from stilts_jax import optim, steps
  from stilts_jax import sharding as shd

  mesh = shd.make_mesh(devices=devices)
  model = common.random_model(cfg, {"t": ("classification", common.NUM_LABELS)}, mesh, seed)
  graphdef, params = nnx.split(model, nnx.Param)
  params = nnx.to_pure_dict(params)
  del model
  # A small learning rate keeps random weights finite; the schedule never reaches its end.
  tx = optim.make_optimizer(learning_rate=1e-5, total_updates=100_000)
  with jax.set_mesh(mesh):  # as train._train_state: moments sharded like their parameters
    state = {"params": params, "opt_state": jax.jit(tx.init)(params), "step": jnp.int32(0),
             "rng": jax.random.key_data(jax.random.key(seed))}
  make = steps.fresh_train_step if fresh else steps.make_train_step
  step = make(graphdef, tx, {"t": "classification"},
              state_sharding=jax.tree.map(lambda x: x.sharding, state),
              batch_sharding=shd.batch_sharding(mesh))
  return mesh, state, step


def run_jax(args: argparse.Namespace, cfg, batches: list[dict[str, np.ndarray]]
            ) -> dict[str, Any]:
  import jax
  import jax.numpy as jnp

  from stilts_jax.data import to_global_batch

  devices = jax.devices()[:args.devices] if args.devices > 0 else jax.devices()
  host_reset = common.reset_host_peak()
  mesh, state, step = train_state_and_step(cfg, devices, args.seed)

  def run(batch):
    nonlocal state
    with jax.set_mesh(mesh):  # as the pipeline: splash attention runs per shard
      state, metrics = step(state, to_global_batch(batch, mesh), "t")
    jax.block_until_ready((state, metrics))
    return metrics

  warm, timed = batches[:args.warmup], batches[args.warmup:]
  t0 = time.perf_counter()
  first_of_shape = {}
  for b in timed:  # compile every shape the timed steps will use
    first_of_shape.setdefault(b["input_ids"].shape, b)
  for b in list(first_of_shape.values()) + warm:
    run(b)
  warmup_s = time.perf_counter() - t0
  times = []
  for b in timed:
    t0 = time.perf_counter()
    metrics = run(b)
    times.append(time.perf_counter() - t0)
  # Free-running: the same steps with no per-step sync, as the pipeline's loop runs them (the
  # host dispatches step n+1 while the device runs step n); one sync at the end. The gap to the
  # synced rate is what per-step dispatch and copies cost when nothing hides them.
  t0 = time.perf_counter()
  for b in timed:
    with jax.set_mesh(mesh):
      state, metrics = step(state, to_global_batch(b, mesh), "t")
  jax.block_until_ready((state, metrics))
  free_s = time.perf_counter() - t0
  label, peak = common.device_peak(devices[0].device_kind, devices[0].platform, args.peak_tflops)
  out = summarize(times, timed, cfg, len(devices), peak)
  free = summarize([free_s / len(timed)] * len(timed), timed, cfg, len(devices), peak)
  out.update({"free_run_s": free_s, "free_run_real_tokens_per_s": free["real_tokens_per_s"],
              "free_run_mfu": free["mfu"], "free_run_mfu_real": free["mfu_real"]})
  out.update(common.jax_peak_memory(devices, host_reset))
  out.update({
      "framework": "jax", "device": common.jax_device_info(devices), "peak_label": label,
      "peak_tflops_per_device": None if peak is None else peak / 1e12,
      "dtype": jnp.dtype(cfg.dtype).name, "param_dtype": jnp.dtype(cfg.param_dtype).name,
      "attention": cfg.attention, "attention_effective": effective_attention(cfg, args.packing),
      "batching": ("packed rows (pack_features), one bucket" if args.packing else
                   "TrainBatches length buckets + group_by_length" if args.length_mix != "none"
                   else "full rows"),
      "compiles": step._cache_size(), "warmup_and_compile_s": warmup_s,
      "loss_last": float(metrics["loss"]), "finite": bool(metrics["finite"]),
  })
  return out


# ----------------------------------------------------------------------------------------------
# PyTorch (transformers), the baseline a researcher would otherwise run.


def run_torch(args: argparse.Namespace, cfg, batches: list[dict[str, np.ndarray]], *,
              bf16: bool) -> dict[str, Any]:
  import torch
  import transformers

  dev = "cuda" if torch.cuda.is_available() else "cpu"
  hf = transformers.XLMRobertaConfig(
      vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size,
      num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
      intermediate_size=cfg.intermediate_size, max_position_embeddings=cfg.max_position_embeddings,
      type_vocab_size=cfg.type_vocab_size, layer_norm_eps=cfg.layer_norm_eps, pad_token_id=1,
      bos_token_id=0, eos_token_id=2, hidden_dropout_prob=cfg.hidden_dropout_prob,
      attention_probs_dropout_prob=cfg.attention_probs_dropout_prob,
      num_labels=common.NUM_LABELS, attn_implementation="sdpa")
  torch.manual_seed(args.seed)
  host_reset = common.reset_host_peak()
  if dev == "cuda":
    torch.cuda.reset_peak_memory_stats()
  model = transformers.XLMRobertaForSequenceClassification(hf).to(dev).train()
  # As the HF Trainer: no weight decay on biases and LayerNorm weights; linear schedule.
  decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
  no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
  opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                           {"params": no_decay, "weight_decay": 0.0}],
                          lr=1e-5, eps=1e-8, fused=dev == "cuda")
  sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / 100_000))
  sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)

  def run(batch):
    ids = torch.from_numpy(batch["input_ids"]).to(dev).long()
    mask = torch.from_numpy(batch["attention_mask"]).to(dev).long()
    labels = torch.from_numpy(batch["label"]).to(dev).long()
    with torch.autocast(device_type=dev, dtype=torch.bfloat16, enabled=bf16):
      loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    sync()
    return loss

  warm, timed = batches[:args.warmup], batches[args.warmup:]
  t0 = time.perf_counter()
  for b in warm or timed[:1]:
    run(b)
  warmup_s = time.perf_counter() - t0
  times = []
  for b in timed:
    t0 = time.perf_counter()
    loss = run(b)
    times.append(time.perf_counter() - t0)
  name = torch.cuda.get_device_name() if dev == "cuda" else "cpu"
  label, peak = common.device_peak(name, dev, args.peak_tflops)
  out = summarize(times, timed, cfg, 1, peak)
  if dev == "cuda":
    out.update({"peak_memory_bytes": int(torch.cuda.max_memory_allocated()),
                "peak_memory_source": "torch.cuda.max_memory_allocated()"})
  else:
    out.update({"peak_memory_bytes": common.host_peak_rss(),
                "peak_memory_source": "host peak RSS" + ("" if host_reset else
                                                         "; process-wide, not reset")})
  out.update({
      "framework": "torch", "device": {"device": dev, "device_name": name,
                                       "torch": torch.__version__,
                                       "transformers": transformers.__version__,
                                       "threads": torch.get_num_threads()},
      "peak_label": label, "peak_tflops_per_device": None if peak is None else peak / 1e12,
      "dtype": "bfloat16 autocast" if bf16 else "float32", "attention": "sdpa",
      "batching": "padded to --seq-len (HF Trainer default)", "warmup_s": warmup_s,
      "loss_last": float(loss.detach().float().cpu()),
  })
  del model, opt
  if dev == "cuda":
    torch.cuda.empty_cache()  # hand the memory back before jax's allocator starts
  return out


# ----------------------------------------------------------------------------------------------


def resolve_options(args: argparse.Namespace) -> dict[str, Any]:
  """dtype / attention for 'auto', from the default jax backend's platform. Starting that
  backend is what makes JAX preallocate GPU memory, so this runs only after torch is done."""
  import jax
  import jax.numpy as jnp
  accel = jax.default_backend() in ("gpu", "tpu")
  dtype = args.dtype if args.dtype != "auto" else ("bfloat16" if accel else "float32")
  from stilts_jax.models import XLMRConfig
  attention = XLMRConfig(attention=args.attention).attention_kernel()
  opts = {"dtype": jnp.dtype(dtype).type, "param_dtype": jnp.float32, "attention": attention}
  if args.attention_dropout is not None:
    opts["attention_probs_dropout_prob"] = args.attention_dropout
  return opts


def platform_hint() -> str:
  """The accelerator platform without initialising JAX's client (so torch can run first and
  JAX's GPU preallocation does not starve it): JAX_PLATFORMS, else torch's view of CUDA."""
  forced = os.environ.get("JAX_PLATFORMS", "")
  if forced:
    return forced.split(",")[0]
  try:
    import torch
    return "gpu" if torch.cuda.is_available() else "cpu"
  except ImportError:
    return "cpu"


def main(argv: list[str] | None = None) -> dict[str, Any]:
  args = parse_args(argv)
  common.apply_xla_defaults(args)
  cpu_pinning = common.limit_threads(args.threads)
  result: dict[str, Any] = {"benchmark": "train_throughput", "args": vars(args)}
  result.update(common.record("benchmarks/train_throughput.py", argv))
  size_cfg = common.make_config(args.size)
  jax_batches, torch_batches = build_data(args, size_cfg.vocab_size)
  torch_result = None
  if args.compare_torch:
    # Torch first: on a GPU, JAX preallocates most of the memory as soon as its client starts.
    if args.dtype == "auto":
      dtype_name = "bfloat16" if platform_hint() in ("gpu", "cuda", "tpu") else "float32"
    else:
      dtype_name = args.dtype
    tcfg = common.make_config(args.size, **({} if args.attention_dropout is None else
                                           {"attention_probs_dropout_prob":
                                            args.attention_dropout}))
    torch_result = run_torch(args, tcfg, torch_batches, bf16=dtype_name == "bfloat16")
  cfg = common.make_config(args.size, **resolve_options(args))
  jax_result = run_jax(args, cfg, jax_batches)
  result.update({"jax": jax_result, "device": jax_result["device"]})
  result["cpu_pinning"] = cpu_pinning
  result["flops"] = {
      "matmul_params": common.matmul_params(cfg),
      "train_flops_per_token": common.flops_per_token(cfg, args.seq_len),
      "head_flops_per_sequence": common.head_flops_per_sequence(cfg),
      "formula": "6*N_mm + 12*L*d*T per token (+ 6*(d^2+d*k) per sequence); N_mm=L*(4d^2+2*d*d_ff)",
  }
  if torch_result is not None:
    result["torch"] = torch_result
    result["ratio"] = {  # jax ÷ torch: > 1 means stilts-jax is faster
        k: jax_result[k] / torch_result[k]
        for k in ("tokens_per_s", "real_tokens_per_s", "sequences_per_s")}
  common.write_json(args.json, result)
  line = (f"[jax {cfg.dtype.__name__}] {jax_result['sequences_per_s']:,.1f} seq/s, "
          f"{jax_result['tokens_per_s']:,.0f} tok/s, {jax_result['real_tokens_per_s']:,.0f} real "
          f"tok/s, step {jax_result['step_time_s'] * 1e3:.1f} ms, MFU "
          f"{common.fmt_pct(jax_result['mfu'])} (real {common.fmt_pct(jax_result['mfu_real'])})")
  if torch_result is not None:
    line += (f"\n[torch] {torch_result['real_tokens_per_s']:,.0f} real tok/s; jax/torch real "
             f"tokens/s = {result['ratio']['real_tokens_per_s']:.2f}x")
  print(line, file=sys.stderr)
  return result


if __name__ == "__main__":
  main()

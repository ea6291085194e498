"""Shared pieces of the benchmarks: model sizes, analytic FLOPs and MFU, device peaks, synthetic
length mixes, memory probes, timing summaries and the JSON record.

MFU convention (MaxText / PaLM App. B, see shared/reference/perf.md §1): matmul FLOPs only,
backward = 2 × forward, so per token of a padded row of length T

    train FLOPs/token = 6 · N_mm + 12 · L · d · T          (= 6·N_mm + 6·(2·L·d)·T)
    eval  FLOPs/token = 2 · N_mm +  4 · L · d · T

  N_mm = L · (4·d² + 2·d·d_ff)   Q, K, V, O projections and the two FFN matrices per layer
  12·L·d·T                       QKᵀ and A·V (2·T·d FLOPs per token each, forward), ×3 for training;
                                 bidirectional, so no causal halving

plus the classification head once per *sequence* (dense d×d and out_proj d×k on `<s>`):
6·(d² + d·k) for training, 2·(d² + d·k) forward. The embedding lookup is a gather (0 FLOPs) and
its 192M/256M parameters are NOT in N_mm; there is no MLM head and no pooler (classification uses
`<s>` directly). Biases, LayerNorm, GELU, softmax and the optimizer count 0 (they are real time,
not model FLOPs).

MFU = FLOPs per step / step time / (devices · peak). Two flavours:
  mfu       every position the hardware computed (rows × padded T)   — MFU_hw
  mfu_real  only real (non-pad) tokens, same per-token cost           — MFU_useful
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import shlex
import statistics
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stilts_jax.models import XLMRConfig

NUM_LABELS = 3  # MNLI / XNLI: entailment, neutral, contradiction

# `tiny` is for tests and smoke runs only: a few M FLOPs per token, compiles in seconds. It keeps
# 514 positions so every --seq-len up to 512 is valid.
SIZES = {
    "tiny": dict(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=256),
    "base": {},
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                  intermediate_size=4096),
}


def make_config(size: str, **options) -> XLMRConfig:
  if size not in SIZES:
    raise ValueError(f"unknown size {size!r}; expected one of {sorted(SIZES)}.")
  return XLMRConfig(**SIZES[size], **options)


def random_model(cfg: XLMRConfig, heads: Mapping[str, tuple[str, int]], mesh, seed: int = 0):
  """A `TaskModel` with random weights drawn on the host and put into their shards.

  As the model's own initializers: biases 0, LayerNorm scales 1, every other weight with std 0.02
  (uniform: drawn 3.5x faster than a normal, and the benchmarks only time the arithmetic).
  Not `sharding.create_sharded`: that jits the whole constructor, one threefry program per
  weight, and XLA took over 195 s to compile it for XLM-R Large on an H200 (jax 0.11.2,
  2026-12-04), longer than the steps being measured. numpy draws Large in seconds, and the
  pipeline itself never runs that initializer (its encoder comes from a checkpoint). Single
  process only: each array is put whole (`jax.device_put`) from this host.
  """
  import jax
  from flax import nnx

  from stilts_jax import sharding as shd
  from stilts_jax.models import TaskModel

  graphdef, abstract = shd.abstract_model(lambda: TaskModel(cfg, heads, rngs=nnx.Rngs(0)))
  rng = np.random.default_rng(seed)

  def draw(path, leaf, sharding):
    name = [k.key for k in path if isinstance(k, jax.tree_util.DictKey)][-1]
    if name == "bias":
      host = np.zeros(leaf.shape, np.float32)
    elif name == "scale":
      host = np.ones(leaf.shape, np.float32)
    else:  # uniform with the initializers' std (3.5x faster to draw than a normal)
      host = rng.random(leaf.shape, dtype=np.float32)
      host -= np.float32(0.5)
      host *= np.float32(0.02 * np.sqrt(12))
    return jax.device_put(host.astype(leaf.dtype, copy=False), sharding)

  state = jax.tree_util.tree_map_with_path(draw, abstract, shd.state_shardings(abstract, mesh))
  return nnx.merge(graphdef, state)


# ----------------------------------------------------------------------------------------------
# FLOPs and MFU.


def matmul_params(cfg: XLMRConfig) -> int:
  """N_mm = L·(4·d² + 2·d·d_ff): the encoder's matmul weights (no embeddings, biases, LN)."""
  d, f = cfg.hidden_size, cfg.intermediate_size
  return cfg.num_hidden_layers * (4 * d * d + 2 * d * f)


def flops_per_token(cfg: XLMRConfig, seq_len: int, train: bool = True) -> int:
  """6·N_mm + 12·L·d·T (train) or 2·N_mm + 4·L·d·T (forward only), T the padded row length."""
  attn = 4 * cfg.num_hidden_layers * cfg.hidden_size * seq_len  # QKᵀ + AV, forward
  per_token = 2 * matmul_params(cfg) + attn
  return 3 * per_token if train else per_token


def head_flops_per_sequence(cfg: XLMRConfig, num_labels: int = NUM_LABELS,
                            train: bool = True) -> int:
  """Classification head on `<s>`: dense d×d then out_proj d×k, once per example."""
  d = cfg.hidden_size
  fwd = 2 * (d * d + d * num_labels)
  return 3 * fwd if train else fwd


def step_flops(cfg: XLMRConfig, tokens: int, seq_len: int, sequences: int,
               num_labels: int = NUM_LABELS, train: bool = True) -> int:
  """Model FLOPs of a step: `tokens` positions of rows padded to `seq_len`, `sequences` heads."""
  return (tokens * flops_per_token(cfg, seq_len, train)
          + sequences * head_flops_per_sequence(cfg, num_labels, train))


# Dense bf16 peak per chip, FLOP/s (perf.md §2). Matched in order against the lower-cased
# `device_kind`; H100 PCIe / NVL have lower clocks and are deliberately NOT matched (pass
# --peak-tflops) rather than silently credited with the SXM peak.
DEVICE_PEAKS: tuple[tuple[str, tuple[str, ...], str, float | None], ...] = (
    # (label, substrings that must all appear, substrings that must not, peak)
    ("H100 SXM", ("h100",), ("pcie", "nvl"), 989.4e12),
    ("H200 SXM", ("h200",), ("nvl",), 989.4e12),
    ("A100 SXM", ("a100",), (), 312e12),
    ("TPU v4", ("tpu v4",), (), 275e12),
    ("TPU v5e", ("tpu v5 lite",), (), 197e12),
    ("TPU v5e", ("tpu v5e",), (), 197e12),
    ("TPU v5p", ("tpu v5p",), (), 459e12),
    ("TPU v5p", ("tpu v5",), ("lite", "v5e"), 459e12),
    ("CPU (n/a: a shared host CPU has no meaningful peak; use --peak-tflops)", ("cpu",), (), None),
)


def device_peak(device_kind: str, platform_name: str = "",
                override_tflops: float | None = None) -> tuple[str, float | None]:
  """(label, dense bf16 peak FLOP/s per device or None when unknown)."""
  if override_tflops:
    return f"--peak-tflops={override_tflops:g}", override_tflops * 1e12
  kind = f"{device_kind} {platform_name}".lower()
  for label, must, must_not, peak in DEVICE_PEAKS:
    if all(s in kind for s in must) and not any(s in kind for s in must_not):
      return label, peak
  return f"unknown device {device_kind!r} (n/a; use --peak-tflops)", None


def mfu(flops: float, seconds: float, devices: int, peak: float | None) -> float | None:
  if peak is None or seconds <= 0:
    return None
  return flops / seconds / (devices * peak)


# ----------------------------------------------------------------------------------------------
# Synthetic length mixes (no data download; the *lengths* are what matter for throughput).

# MNLI premise+hypothesis under XLM-R's sentencepiece, `<s> a </s></s> b </s>`: a lognormal with
# median 36 and sigma 0.45 (mean ≈ 40, p90 ≈ 64, p99 ≈ 103 tokens), clipped to [8, seq_len].
# SYNTHETIC: a fit to MNLI's published word counts (~22 + ~11 words, ~1.2 pieces per word, 4
# special tokens), not a measurement of the tokenized corpus.
MNLI_MEDIAN, MNLI_SIGMA, MIN_LEN = 36.0, 0.45, 8

# XNLI's 15 languages with a SYNTHETIC length factor relative to English (XLM-R fragments some
# scripts and morphologies more than others); 7,500 pairs each = 2,490 dev + 5,010 test.
XNLI_LANGUAGES: dict[str, float] = {
    "ar": 1.05, "bg": 1.10, "de": 1.20, "el": 1.25, "en": 1.00, "es": 1.10, "fr": 1.15,
    "hi": 1.10, "ru": 1.10, "sw": 1.20, "th": 0.95, "tr": 1.10, "ur": 1.15, "vi": 1.10,
    "zh": 0.90,
}
XNLI_PAIRS = 112_500


def lognormal_lengths(n: int, seq_len: int, rng: np.random.Generator,
                      median: float = MNLI_MEDIAN, sigma: float = MNLI_SIGMA) -> np.ndarray:
  raw = rng.lognormal(np.log(median), sigma, n)
  return np.clip(np.rint(raw), min(MIN_LEN, seq_len), seq_len).astype(np.int64)


def synthetic_features(lengths: np.ndarray, seq_len: int, vocab_size: int,
                       rng: np.random.Generator, num_labels: int = NUM_LABELS
                       ) -> dict[str, np.ndarray]:
  """Featurizer-shaped arrays: `<s> random ids </s>` then pad id 1, right padded to seq_len."""
  n = len(lengths)
  ids = rng.integers(3, vocab_size, (n, seq_len), dtype=np.int32)
  real = np.arange(seq_len)[None, :] < lengths[:, None]
  ids = np.where(real, ids, 1).astype(np.int32)
  ids[:, 0] = 0
  ids[np.arange(n), lengths - 1] = 2
  return {"input_ids": ids, "attention_mask": real.astype(np.int32),
          "label": rng.integers(0, num_labels, n, dtype=np.int32),
          "example_index": np.arange(n, dtype=np.int32)}


# ----------------------------------------------------------------------------------------------
# Memory.


def reset_host_peak() -> bool:
  """Resets this process's peak RSS (VmHWM) so each framework gets its own number (Linux ≥ 4.0)."""
  try:
    with open("/proc/self/clear_refs", "w") as f:
      f.write("5")
    return True
  except OSError:
    return False


def host_peak_rss() -> int:
  try:
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith("VmHWM:"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def jax_peak_memory(devices: Sequence[Any], host_reset: bool) -> dict[str, Any]:
  """Device allocator peak where the backend reports one (GPU/TPU); else the host's peak RSS."""
  stats = [d.memory_stats() for d in devices]
  if all(s and "peak_bytes_in_use" in s for s in stats):
    return {"peak_memory_bytes": int(max(s["peak_bytes_in_use"] for s in stats)),
            "peak_memory_source": "device.memory_stats()['peak_bytes_in_use'] (max over devices)"}
  return {"peak_memory_bytes": host_peak_rss(),
          "peak_memory_source": "host peak RSS (CPU backend: no device stats)"
                                + ("" if host_reset else "; process-wide, not reset")}


# ----------------------------------------------------------------------------------------------
# Timing summaries.


def summarize(times: Sequence[float], shapes: Sequence[Any], rows: Sequence[int],
              tokens: Sequence[int], real_tokens: Sequence[int], sequences: Sequence[int],
              flops: Sequence[float], real_flops: Sequence[float], devices: int,
              peak: float | None) -> dict[str, Any]:
  """Rates over the timed steps, robust to noise: each step is charged the MEDIAN time of the
  steps with its shape (fixed-shape runs: plain median × steps), then totals are divided."""
  by_shape: dict[Any, list[float]] = {}
  for t, s in zip(times, shapes):
    by_shape.setdefault(s, []).append(t)
  median_of = {s: statistics.median(v) for s, v in by_shape.items()}
  total = sum(median_of[s] for s in shapes)
  out = {
      "steps_timed": len(times),
      "step_time_s": statistics.median(times),
      "step_time_min_s": min(times),
      "step_time_max_s": max(times),
      "step_time_by_shape_s": {str(s): median_of[s] for s in median_of},
      "steps_by_shape": {str(s): len(v) for s, v in by_shape.items()},
      "timed_total_s": total,
      "rows_per_s": sum(rows) / total,
      "sequences_per_s": sum(sequences) / total,
      "tokens_per_s": sum(tokens) / total,
      "real_tokens_per_s": sum(real_tokens) / total,
      "real_token_fraction": sum(real_tokens) / max(sum(tokens), 1),
      "model_tflops_per_s": sum(flops) / total / 1e12,
      "model_tflops_per_s_real": sum(real_flops) / total / 1e12,
      "mfu": mfu(sum(flops), total, devices, peak),
      "mfu_real": mfu(sum(real_flops), total, devices, peak),
  }
  return out


# ----------------------------------------------------------------------------------------------
# Records.


def add_xla_defaults_argument(p) -> None:
  p.add_argument("--xla-defaults", choices=("on", "off"), default="on",
                 help="stilts_jax.xla_flags defaults (GPU latency-hiding scheduler), as the "
                      "stilts-jax CLI sets them; off for the A/B")


def apply_xla_defaults(args) -> None:
  """`--xla-defaults=on`: the CLI's default XLA flags, set before the backend starts (so first
  thing in main); host_info records the flags the run really had."""
  if args.xla_defaults == "on":
    from stilts_jax import xla_flags
    xla_flags.apply_defaults()


def limit_threads(threads: int | None) -> dict[str, Any] | None:
  """Caps the CPU threads that compute, for XLA and torch alike, so a CPU comparison is like for
  like; returns what was set (for the JSON), None when nothing was asked.

  On a shared, oversubscribed host (load > cores) torch's OpenMP barriers spin and a tiny model
  runs ~100x slower with 2 threads than with 1, which would say nothing about either framework.
  Torch takes `set_num_threads`. XLA's CPU client ignores the old `--xla_cpu_multi_thread_eigen`
  / `intra_op_parallelism_threads` flags (jax 0.10: a 1024² matmul loop still used 2 cores), and a
  flag without `--` ends XLA_FLAGS parsing, dropping every flag after it. It sizes its thread pool
  from the CPUs its creating thread may run on, so the client is started here from this thread
  pinned to the last `threads` CPUs; the thread then gets the others back (the first core alone
  when XLA has the rest, as a host thread feeding an accelerator). Linux only; a client that is
  already running (the benchmark called in-process by the tests) is left as it is, and said so.
  """
  if not threads:
    return None
  try:
    import torch
    torch.set_num_threads(threads)
  except ImportError:
    pass
  import jax
  from jax._src import xla_bridge  # no public way to ask whether the client has started
  if xla_bridge.backends_are_initialized() or not hasattr(os, "sched_setaffinity"):
    return {"xla_cpus": None, "host_cpus": None,
            "note": "XLA's client was already running: its threads were not limited"}
  cpus = sorted(os.sched_getaffinity(0))
  xla_cpus = cpus[-threads:]
  host_cpus = [c for c in cpus if c not in xla_cpus] or cpus
  os.sched_setaffinity(0, xla_cpus)  # this thread only: the pool's threads inherit it
  try:
    jax.devices()
  finally:
    os.sched_setaffinity(0, host_cpus)
  return {"xla_cpus": xla_cpus, "host_cpus": host_cpus}


def host_info() -> dict[str, Any]:
  load = os.getloadavg() if hasattr(os, "getloadavg") else None
  return {"host_cpus": os.cpu_count(), "host_machine": platform.machine(),
          "python": platform.python_version(),
          "load_avg_1m": None if load is None else round(load[0], 2),
          "xla_flags": os.environ.get("XLA_FLAGS", "")}


def jax_device_info(devices: Sequence[Any]) -> dict[str, Any]:
  import jax
  d = devices[0]
  return {"platform": d.platform, "device_kind": d.device_kind, "devices_used": len(devices),
          "devices_visible": jax.device_count(), "jax": jax.__version__, **host_info()}


def record(script: str, argv: Sequence[str] | None = None) -> dict[str, Any]:
  """The provenance every result carries: the exact command and a UTC timestamp."""
  argv = [script] + list(sys.argv[1:] if argv is None else argv)
  return {"command": " ".join(shlex.quote(a) for a in ["python"] + argv),
          "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def write_json(path: str | None, result: Mapping[str, Any]) -> None:
  text = json.dumps(result, indent=2, sort_keys=False, default=str)
  if path:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
      f.write(text + "\n")
  print(text)


def fmt_rate(x: float | None) -> str:
  return "n/a" if x is None else f"{x:,.1f}"


def fmt_pct(x: float | None) -> str:
  return "n/a" if x is None else f"{100 * x:.1f}%"

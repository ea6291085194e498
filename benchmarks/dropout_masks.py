"""Dropout masks: the model's 16-bit draws (`models/xlmr.keep_mask`, two uniforms per 32-bit
threefry output) against `jax.random.bernoulli` (one threefry evaluation per element), on the
activations one encoder layer drops while training, in the same run.

  python benchmarks/dropout_masks.py                          # XLM-R Large, batch 32 x 128
  python benchmarks/dropout_masks.py --seq-len=512 --json=/tmp/dropout.json

Each timed program draws a layer's masks and applies them as `Dropout` does: the attention
probabilities [B, heads, T, T] and two hidden-state drops [B, T, d]. Reported per method: the
median time of one call (synced), and `ratio` = bernoulli / 16-bit (above 1: the model's masks are
faster). Dropout is a third of a small model's CPU train step with bernoulli (docs/performance.md);
on an accelerator this shows what it costs at Large's shapes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/dropout_masks.py` from the repo root
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--batch-size", type=int, default=32)
  p.add_argument("--seq-len", type=int, default=128)
  p.add_argument("--hidden", type=int, default=1024)
  p.add_argument("--heads", type=int, default=16)
  p.add_argument("--rate", type=float, default=0.1)
  p.add_argument("--calls", type=int, default=20, help="timed calls per method")
  p.add_argument("--threads", type=int, default=None, help="CPU only: XLA intra-op threads")
  p.add_argument("--json", default=None)
  args = p.parse_args(argv)
  if args.calls < 3 or not 0 < args.rate < 1:
    p.error("--calls must be >= 3 and --rate in (0, 1).")
  return args


def methods(rate: float):
  """name -> fn(key, x) returning x with a mask applied, as `models/xlmr.Dropout.__call__`."""
  import jax
  import jax.numpy as jnp

  from stilts_jax.models.xlmr import keep_mask

  def bits16(key, x):
    keep, keep_prob = keep_mask(key, rate, x.shape)
    return jnp.where(keep, x / keep_prob, 0).astype(x.dtype)

  def bernoulli(key, x):
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0).astype(x.dtype)

  return {"bits16": bits16, "bernoulli": bernoulli}


def measure(args: argparse.Namespace) -> dict[str, Any]:
  import jax
  import jax.numpy as jnp

  b, t, d = args.batch_size, args.seq_len, args.hidden
  dtype = jnp.float32 if jax.default_backend() == "cpu" else jnp.bfloat16
  probs = jnp.ones((b, args.heads, t, t), dtype)
  hidden = jnp.ones((b, t, d), dtype)
  times: dict[str, list[float]] = {}
  programs = {}
  for name, apply in methods(args.rate).items():
    def layer(key, probs, hidden, apply=apply):
      keys = [jax.random.fold_in(key, i) for i in range(3)]
      return apply(keys[0], probs), apply(keys[1], hidden), apply(keys[2], hidden)
    programs[name] = jax.jit(layer)
    jax.block_until_ready(programs[name](jax.random.key(0), probs, hidden))  # compile
    times[name] = []
  # Interleaved, so a slow spell of a shared host hits both methods alike.
  for i in range(args.calls):
    for name, program in programs.items():
      t0 = time.perf_counter()
      jax.block_until_ready(program(jax.random.key(i), probs, hidden))
      times[name].append(time.perf_counter() - t0)
  ms = {name: statistics.median(v) * 1e3 for name, v in times.items()}
  return {"ms": ms, "ratio": ms["bernoulli"] / ms["bits16"],
          "elements": b * args.heads * t * t + 2 * b * t * d, "dtype": jnp.dtype(dtype).name}


def main(argv: list[str] | None = None) -> dict[str, Any]:
  args = parse_args(argv)
  cpu_pinning = common.limit_threads(args.threads)
  import jax
  result: dict[str, Any] = {"benchmark": "dropout_masks", "args": vars(args)}
  result.update(common.record("benchmarks/dropout_masks.py", argv))
  result.update(measure(args))
  result["device"] = common.jax_device_info(jax.devices()[:1])
  result["cpu_pinning"] = cpu_pinning
  common.write_json(args.json, result)
  print(f"[dropout] {result['elements']:,} elements per layer ({result['dtype']}): "
        f"16-bit {result['ms']['bits16']:.2f} ms, bernoulli {result['ms']['bernoulli']:.2f} ms, "
        f"ratio {result['ratio']:.2f}", file=sys.stderr)
  return result


if __name__ == "__main__":
  main()

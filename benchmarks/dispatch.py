"""Train-step dispatch: the host time one call of the pipeline's jitted train step takes to
return, for encoders of L = 2, 12 and 24 layers.

  python benchmarks/dispatch.py --layers=2,12,24 --steps=50 --json=/tmp/dispatch.json

What is timed: `state, metrics = step(state, batch, "t")` from the call to its return, with the
previous step finished first (`block_until_ready`), so nothing queues behind the device and the
batch already lives there. JAX dispatches asynchronously: the call returns once the host has
flattened the arguments (state, batch), checked them against the compiled executable and enqueued
it, so what is measured is that host work, which grows with the number of state leaves. On an
accelerator this is the floor under a step's time whenever the device finishes a step faster than
the host can issue the next. With one array per block parameter XLM-R Large's state was 1,183
leaves (10.6 ms per call on an H200's host); the blocks are stacked now, so the count is the same
at every depth (79 with a classification head), and so should the dispatch be.

The model is XLM-R's structure at a tiny width (d=64, vocab 1000): the leaf count, not the width,
sets the dispatch cost, and a tiny width keeps the device time per step negligible. The step is
`steps.fresh_train_step` (a jit of its own), built as the pipeline builds it
(`train_throughput.train_state_and_step`: sharded state, donated).
Reported per L: state leaves, median / p10 / p90 dispatch µs, and the synced step time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

import numpy as np

if __package__ in (None, ""):  # `python benchmarks/dispatch.py` from the repo root
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common, train_throughput  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--layers", default="2,12,24", help="comma-separated encoder depths")
  p.add_argument("--steps", type=int, default=50, help="timed calls per depth")
  p.add_argument("--seq-len", type=int, default=128)
  p.add_argument("--batch-size", type=int, default=32)
  p.add_argument("--threads", type=int, default=None, help="CPU only: XLA intra-op threads")
  common.add_xla_defaults_argument(p)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--json", default=None)
  args = p.parse_args(argv)
  try:
    args.layers = [int(x) for x in args.layers.split(",")]
  except ValueError:
    p.error(f"--layers={args.layers!r}: expected comma-separated integers, e.g. 2,12,24.")
  if args.steps < 3 or min(args.layers) < 1:
    p.error("--steps must be >= 3 and every --layers value >= 1.")
  return args


def measure(layers: int, args: argparse.Namespace) -> dict[str, Any]:
  import jax

  from stilts_jax.data import to_global_batch
  from stilts_jax.models import XLMRConfig

  cfg = XLMRConfig(**{**common.SIZES["tiny"], "num_hidden_layers": layers})
  devices = jax.devices()[:1]
  mesh, state, step = train_throughput.train_state_and_step(cfg, devices, args.seed, fresh=True)
  rng = np.random.default_rng(args.seed)
  lengths = np.full(args.batch_size, args.seq_len)
  feats = common.synthetic_features(lengths, args.seq_len, cfg.vocab_size, rng)
  batch = to_global_batch({k: feats[k] for k in train_throughput.JAX_KEYS}, mesh)
  leaves = len(jax.tree.leaves(state))
  dispatch, synced = [], []
  with jax.set_mesh(mesh):
    for i in range(args.steps + 2):  # the first two calls compile and warm up
      jax.block_until_ready(state)
      t0 = time.perf_counter()
      state, metrics = step(state, batch, "t")
      t1 = time.perf_counter()
      jax.block_until_ready((state, metrics))
      t2 = time.perf_counter()
      if i >= 2:
        dispatch.append(t1 - t0)
        synced.append(t2 - t0)
  q = np.percentile(dispatch, [10, 90])
  return {"layers": layers, "state_leaves": leaves,
          "dispatch_us": statistics.median(dispatch) * 1e6,
          "dispatch_p10_us": float(q[0]) * 1e6, "dispatch_p90_us": float(q[1]) * 1e6,
          "synced_step_us": statistics.median(synced) * 1e6,
          "finite": bool(metrics["finite"])}


def main(argv: list[str] | None = None) -> dict[str, Any]:
  args = parse_args(argv)
  common.apply_xla_defaults(args)
  cpu_pinning = common.limit_threads(args.threads)
  import jax
  result: dict[str, Any] = {"benchmark": "dispatch", "args": vars(args)}
  result.update(common.record("benchmarks/dispatch.py", argv))
  result["by_layers"] = [measure(n, args) for n in args.layers]
  result["device"] = common.jax_device_info(jax.devices()[:1])
  result["cpu_pinning"] = cpu_pinning
  common.write_json(args.json, result)
  for r in result["by_layers"]:
    print(f"[dispatch] L={r['layers']:>2} ({r['state_leaves']} leaves): "
          f"{r['dispatch_us']:,.0f} µs per call (p10 {r['dispatch_p10_us']:,.0f}, "
          f"p90 {r['dispatch_p90_us']:,.0f}); synced step {r['synced_step_us']:,.0f} µs",
          file=sys.stderr)
  return result


if __name__ == "__main__":
  main()

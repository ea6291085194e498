"""The phase loop against the bare jitted train step: what `train.train_phase` adds per step.

  python benchmarks/phase_loop.py --steps=150,450 --log-every=10 --repeats=3 --json=/tmp/loop.json

Both run the same compiled train step (`steps.make_train_step`, the one `train_phase` builds) on
the same batches (`TrainBatches.batch_at`, then `to_global_batch`), on a tiny model where the
step itself is short, so any host work the loop does between steps shows:

- **bare**: `for s in range(n): state, m = step(state, to_global_batch(batches.batch_at(s)))`,
  then one `block_until_ready` at the end. Nothing else.
- **phase loop**: `train_phase(...)` with `max_steps=n`, logging every `--log-every` steps
  (metrics fetched, the tqdm bar, TensorBoard and metrics.jsonl), the checkpoint and preemption
  checks of every step; no dev set and no periodic checkpoint, so what differs is the loop's own
  per-step work.

`--processes=2` runs the same in 2 local JAX processes (jax.distributed over gloo, one CPU
device each, the global batch split between them), as a 2-host slice would: then the loop's
preemption check is a collective, and every step's batch is assembled from both processes' rows.

Each is run at two step counts and the per-step time is the difference over the difference in
steps, which cancels the fixed costs of a phase (its start-up, the final checkpoint, closing the
tracker). Reported: per-step ms of each (median over `--repeats`), and `ratio` = bare / loop
(1.0: the loop costs nothing per step; the target is >= 0.99).

On a host whose cores the "device" shares (XLA:CPU) that wall ratio moves by ±20 % between
repeats. So the CPU time of the thread that runs each loop is reported too (`host_ms_per_step`,
same two-count difference): what the loop itself adds per step (`host_extra_ms_per_step`), and
`host_share`, the loop's host time per step over the bare step's wall time. Below 1, the host
issues steps faster than the device runs them, and a device never waits for the loop.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

import numpy as np

if __package__ in (None, ""):  # `python benchmarks/phase_loop.py` from the repo root
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--steps", default="150,450", help="two step counts, e.g. 150,450")
  p.add_argument("--log-every", type=int, default=10)
  p.add_argument("--batch-size", type=int, default=32)
  p.add_argument("--seq-len", type=int, default=64)
  p.add_argument("--layers", type=int, default=2)
  p.add_argument("--hidden", type=int, default=64)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--processes", type=int, default=1, help="local JAX processes (1 or 2, ...)")
  p.add_argument("--threads", type=int, default=None,
                 help="CPU only: XLA intra-op threads (1 leaves the loop's thread a core of its "
                      "own, as an accelerator's host has)")
  p.add_argument("--json", default=None)
  args = p.parse_args(argv)
  try:
    args.steps = sorted(int(x) for x in args.steps.split(","))
  except ValueError:
    p.error(f"--steps={args.steps!r}: expected two comma-separated integers, e.g. 150,450.")
  if len(args.steps) != 2 or args.steps[0] < 1 or args.steps[0] == args.steps[1]:
    p.error("--steps needs two different positive step counts, e.g. 150,450.")
  if args.repeats < 1 or args.log_every < 1:
    p.error("--repeats and --log-every must be >= 1.")
  return args


def _setup(args):
  """The model, one classification task and the phase hyperparameters, as the pipeline has them."""
  import jax
  from flax import nnx

  from stilts_jax import sharding as shd
  from stilts_jax.models import TaskModel, XLMRConfig
  from stilts_jax.train import PhaseTask

  mesh = shd.make_mesh({"data": -1, "fsdp": 1, "tensor": 1})
  cfg = XLMRConfig(vocab_size=1000, hidden_size=args.hidden, num_hidden_layers=args.layers,
                   num_attention_heads=4, intermediate_size=2 * args.hidden,
                   max_position_embeddings=args.seq_len + 2)
  model = shd.create_sharded(lambda: TaskModel(cfg, {"t": ("classification", 3)},
                                               rngs=nnx.Rngs(args.seed)), mesh)
  rng = np.random.default_rng(args.seed)
  n = args.batch_size * max(args.steps) * jax.process_count()
  ids = rng.integers(3, cfg.vocab_size, size=(n, args.seq_len)).astype(np.int32)
  ids[:, 0] = 0
  features = {"input_ids": ids, "attention_mask": np.ones_like(ids),
              "label": (ids[:, 1] % 3).astype(np.int32)}
  from stilts_jax.run_config import use_config_package
  use_config_package(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                  "configs", "base.py"))  # as the CLI imports the configs
  from configs import base
  hp = base.phase(epochs=1, batch_size=args.batch_size, max_length=args.seq_len)
  hp.update(log_every_steps=args.log_every, learning_rate=1e-4)
  return mesh, model, PhaseTask(head="t", head_type="classification", train_features=features), hp


def _copy(model):
  """A model with its own buffers: both loops donate the state they are given."""
  import jax
  from flax import nnx
  graphdef, state = nnx.split(model)
  return nnx.merge(graphdef, jax.tree.map(lambda x: x.copy(), state))


def _bare_seconds(mesh, model, task, hp, n: int, seed: int) -> tuple[float, float]:
  """n steps of the phase's own step function on the phase's batches, and nothing else: (wall,
  CPU time of this thread) in seconds."""
  import jax
  from flax import nnx

  from stilts_jax import optim, steps, train
  from stilts_jax import sharding as shd
  from stilts_jax.data import to_global_batch
  from stilts_jax.data.multihost import process_slice

  graphdef, params = nnx.split(_copy(model), nnx.Param)
  params = nnx.to_pure_dict(params)
  index, count = process_slice(mesh, global_batch_size=hp.batch_size)
  batches = train._batches(task, hp.batch_size, seed, index, count, train.DEFAULT_BUCKETS)
  tx = optim.make_optimizer(learning_rate=hp.learning_rate, total_updates=n,
                            warmup_fraction=hp.warmup_fraction, weight_decay=hp.weight_decay,
                            max_grad_norm=hp.max_grad_norm, grad_accum_steps=1)
  with jax.set_mesh(mesh):
    state = train._train_state(params, tx, seed, mesh)
  step = steps.make_train_step(graphdef, tx, {"t": "classification"},
                               state_sharding=jax.tree.map(lambda x: x.sharding, state),
                               batch_sharding=shd.batch_sharding(mesh))
  jax.block_until_ready(state)
  t0, c0 = time.perf_counter(), time.thread_time()
  with jax.set_mesh(mesh):
    for s in range(n):
      state, metrics = step(state, to_global_batch(batches.batch_at(s), mesh), "t")
  jax.block_until_ready((state, metrics))
  return time.perf_counter() - t0, time.thread_time() - c0


_RUNS = itertools.count()


def _loop_seconds(mesh, model, task, hp, n: int, seed: int) -> tuple[float, float]:
  from stilts_jax.train import train_phase
  hp = hp.copy_and_resolve_references()
  hp.update(max_steps=n, eval_every_steps=n, checkpoint_every_steps=n)
  # A new workdir per run, the same on every process (checkpoints are written together).
  workdir = os.path.join(os.environ["STILTS_BENCH_DIR"], f"run{next(_RUNS)}")
  t0, c0 = time.perf_counter(), time.thread_time()
  outcome = train_phase("bench", _copy(model), [task], hp, mesh, workdir, seed=seed)
  seconds, cpu = time.perf_counter() - t0, time.thread_time() - c0
  assert outcome.steps == n, outcome
  return seconds, cpu


def run(args: argparse.Namespace) -> dict[str, Any]:
  import jax

  mesh, model, task, hp = _setup(args)
  lo, hi = args.steps
  # Compile every program first: the learning-rate schedule's length is part of the train step,
  # so each step count has its own (the same for both loops), then the loop's final checkpoint.
  for n in (lo, hi):
    _bare_seconds(mesh, model, task, hp, n, args.seed)
    _loop_seconds(mesh, model, task, hp, n, args.seed)
  per_step = {"bare": [], "loop": []}
  host_per_step = {"bare": [], "loop": []}
  for _ in range(args.repeats):  # interleaved, so a slow spell of the machine hits both
    for name, fn in (("bare", _bare_seconds), ("loop", _loop_seconds)):
      (t_lo, c_lo), (t_hi, c_hi) = (fn(mesh, model, task, hp, n, args.seed) for n in (lo, hi))
      per_step[name].append((t_hi - t_lo) / (hi - lo))
      host_per_step[name].append((c_hi - c_lo) / (hi - lo))
  bare, loop = (statistics.median(per_step[k]) for k in ("bare", "loop"))
  host_bare, host_loop = (statistics.median(host_per_step[k]) for k in ("bare", "loop"))
  return {
      "benchmark": "phase_loop", "device": str(jax.devices()[0].platform),
      "processes": jax.process_count(), "devices": jax.device_count(),
      "steps": [lo, hi], "log_every": args.log_every, "batch_size": args.batch_size,
      "seq_len": args.seq_len, "layers": args.layers, "hidden": args.hidden,
      "threads": args.threads,
      "bare_ms_per_step": 1e3 * bare, "loop_ms_per_step": 1e3 * loop,
      "ratio": bare / loop,
      # CPU time of the thread that runs the loop (dispatch, batches, logging, checks): unlike the
      # wall ratio it hardly moves with the machine's load. The loop keeps a device busy while
      # `host_share` (its host time per step over the bare step's wall time) stays below 1.
      "host_ms_per_step": {"bare": 1e3 * host_bare, "loop": 1e3 * host_loop},
      "host_extra_ms_per_step": 1e3 * (host_loop - host_bare),
      "host_share": host_loop / bare,
      "runs_ms_per_step": {k: [round(1e3 * v, 3) for v in vs] for k, vs in per_step.items()},
  }


def _launch(argv: list[str], processes: int) -> None:
  """This script in `processes` local processes joined by jax.distributed (the workers)."""
  import socket
  import subprocess
  with socket.socket() as sock:
    sock.bind(("localhost", 0))
    port = sock.getsockname()[1]
  env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=1",
             STILTS_BENCH_PORT=str(port))
  procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), *argv],
                            env=dict(env, STILTS_BENCH_PROCESS=str(i))) for i in range(processes)]
  codes = [p.wait() for p in procs]
  if any(codes):
    raise SystemExit(f"a benchmark process failed (exit codes {codes}).")


def _join(processes: int) -> None:
  import jax
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=f"localhost:{os.environ['STILTS_BENCH_PORT']}",
                             num_processes=processes,
                             process_id=int(os.environ["STILTS_BENCH_PROCESS"]))


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
  argv = sys.argv[1:] if argv is None else argv
  args = parse_args(argv)
  if "STILTS_BENCH_DIR" not in os.environ:  # the launching process: one folder for all runs
    with tempfile.TemporaryDirectory(prefix="stilts-bench-loop-") as workdir:
      os.environ["STILTS_BENCH_DIR"] = workdir
      try:
        return main(argv)
      finally:
        del os.environ["STILTS_BENCH_DIR"]
  if args.processes > 1:
    if "STILTS_BENCH_PROCESS" not in os.environ:
      _launch(argv, args.processes)
      return None
    _join(args.processes)
  from benchmarks import common
  cpu_pinning = common.limit_threads(args.threads)  # before JAX's CPU client starts
  result = run(args)
  result["cpu_pinning"] = cpu_pinning
  import jax
  if jax.process_index() == 0:
    print(f"bare step {result['bare_ms_per_step']:.3f} ms, phase loop "
          f"{result['loop_ms_per_step']:.3f} ms per step: ratio {result['ratio']:.3f} "
          f"({result['processes']} process(es), log every {args.log_every}); host thread "
          f"{result['host_ms_per_step']['bare']:.3f} / {result['host_ms_per_step']['loop']:.3f} "
          f"ms per step (+{result['host_extra_ms_per_step']:.3f} ms in the loop)", flush=True)
    if args.json:
      with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
  return result


if __name__ == "__main__":
  main()

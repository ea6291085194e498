"""Multi-host: the pipeline under `jax.distributed` with 2 processes (gloo on CPU), preempted by a
real SIGTERM mid-training and relaunched, equals the single-process run over the same 2 devices.

Each process owns one CPU device; the reference is one process owning two, so both runs see the
same 2-device mesh and the same numerics: any difference is a multi-host bug (a process reading
the wrong rows, a result written twice, a checkpoint shard missing). The intermediate phase
accumulates gradients over 2 micro-batches, the path with the most optimizer state.

The preemption is the real chain, nothing mocked: SIGTERM to process 1 only → JAX's preemption
notifier → the coordination service → both processes reach the agreed sync step (Orbax's
`reached_preemption`) → both save their shards of that step → both exit 75.
"""

import re
import subprocess
import sys

import numpy as np
import pytest

import _pipeline_helpers as H
from _multiprocess import free_port
from test_pipeline_resume import ARGS

pytestmark = pytest.mark.slow

INTER = "intermediate/mnli"
EXIT_PREEMPTED = 75
# The training under test is the intermediate phase's; the target is retrieval (Tatoeba: the
# handed-over encoder, evaluated with each process embedding its slice), which trains nothing,
# so the 4 two-process launches stay short.
# Six updates of two micro-steps: the SIGTERM at micro-step 5 falls mid-accumulation, before the
# first regular checkpoint (update 4 = micro-step 8), and six updates still log a loss curve.
MH_ARGS = [("--config.targets=('tatoeba',)" if a.startswith("--config.targets=") else a)
           for a in ARGS if ".xnli." not in a and "intermediate_train.max_steps" not in a] + [
               "--config.intermediate_train.grad_accum=2", "--config.intermediate_train.max_steps=6"]


def _two_processes(workdir, env=None, timeout=600):
  """Launches both processes of one distributed run; returns their CompletedProcess-like results."""
  port = free_port()
  procs = []
  for pid in range(2):
    full_env = H.cli_env(dict(env or {}, JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo"))
    cmd = [sys.executable, str(H.REPO / "tests" / "_pipeline_run.py"), f"--workdir={workdir}",
           *MH_ARGS, "--distributed", f"--coordinator_address=localhost:{port}",
           "--num_processes=2", f"--process_id={pid}"]
    procs.append(subprocess.Popen(cmd, cwd=H.REPO, env=full_env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True))
  outs = []
  try:
    for p in procs:
      outs.append(p.communicate(timeout=timeout)[0])
  finally:
    for p in procs:  # a killed peer leaves the other blocked in a collective
      if p.poll() is None:
        p.kill()
        outs.append(p.communicate()[0])
  return [p.returncode for p in procs], "\n".join(outs)


def _results(workdir):
  rows = H.read_jsonl(workdir / "results.jsonl")
  return sorted((r["target"], r["language"], r["split"], r["metric"], r["value"]) for r in rows)


def _curves(workdir, phase_dir):
  rows = H.read_jsonl(workdir / phase_dir / "metrics.jsonl")
  dev = [(r["step"], r["dev/score"]) for r in rows if "dev/score" in r]
  loss = [(r["step"], r["train/loss"], r["train/grad_norm"]) for r in rows if "train/loss" in r]
  return dev, loss


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
  return H.demo_assets(tmp_path_factory.mktemp("assets"))


@pytest.fixture(scope="module")
def single(assets, tmp_path_factory):
  workdir = H.seed_workdir(tmp_path_factory.mktemp("single") / "w", assets)
  proc = H.cli(workdir, *MH_ARGS, env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
  assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
  assert "2 devices" in proc.stdout + proc.stderr  # the same 2-device mesh as the 2 processes
  return workdir


def test_two_process_run_preempted_by_sigterm_and_relaunched_equals_one_process(single, assets,
                                                                            tmp_path):
  """2 processes, one of them sent SIGTERM mid-phase: both save at the agreed step and exit 75;
  the relaunch resumes there and ends where 1 process over the same 2 devices ends: same results
  and dev scores, per-update losses and gradient norms to float32 rounding, process 0 alone
  writing."""
  workdir = H.seed_workdir(tmp_path / "w", assets)
  codes, log = _two_processes(workdir, env={"STILTS_TEST_SIGTERM_AT": "intermediate:5:1"})
  assert codes == [EXIT_PREEMPTED, EXIT_PREEMPTED], log[-4000:]
  assert "test hook: SIGTERM to process 1 at intermediate/mnli step 5" in log
  assert "SIGTERM caught" in log  # JAX's preemption notifier, not a handler of ours
  # Both processes stopped at the same agreed step, no earlier than the one the signal came in
  # (process 1 holds that step until the notice is out, so it is the one agreed: measured 5), and
  # saved it. Steps are micro-steps: step 5 is mid-accumulation, and no regular checkpoint (every
  # 4) is due before 8, so the relaunch resumes from the preemption's save, accumulator included.
  stopped = {int(s) for s in re.findall(r"preempted during intermediate mnli at step (\d+)", log)}
  assert len(stopped) == 1 and log.count("preempted during intermediate mnli") == 2, log[-4000:]
  step = stopped.pop()
  assert step in (5, 6, 7), step
  assert (workdir / "intermediate/mnli/checkpoints" / str(step)).is_dir()
  assert not (workdir / "COMPLETED").exists()
  codes, log = _two_processes(workdir)
  assert codes == [0, 0], log[-4000:]
  assert f"resuming at step {step}" in log  # the relaunch resumed rather than starting over
  assert _results(workdir) == _results(single)
  assert {r[0] for r in _results(workdir)} == {"tatoeba"} and len(_results(workdir)) >= 2
  (dev2, loss2), (dev1, loss1) = _curves(workdir, INTER), _curves(single, INTER)
  assert dev2 == dev1
  # gloo's cross-process all-reduce sums in another order than XLA's in-process one: the
  # losses agree to float32 rounding, not bit for bit (measured: 1e-7 relative). One history:
  # the preempted attempt's steps up to its checkpoint, then the relaunch's.
  assert [s for s, _, _ in loss2] == [s for s, _, _ in loss1] and len(loss1) >= 6
  np.testing.assert_allclose([l for _, l, _ in loss2], [l for _, l, _ in loss1], rtol=1e-5)
  np.testing.assert_allclose([g for _, _, g in loss2], [g for _, _, g in loss1], rtol=1e-5)
  # Process 0 alone wrote the results and logs: one row per (language, split, metric).
  keys = [r[:4] for r in _results(workdir)]
  assert len(keys) == len(set(keys))
  assert (workdir / "COMPLETED").exists()
  # Both processes saved their shards, then pruned.
  assert (workdir / INTER / "best_params").is_dir()
  assert not (workdir / INTER / "checkpoints").exists()

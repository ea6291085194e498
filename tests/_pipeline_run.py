"""The real `stilts-jax` CLI, plus test hooks driven by environment variables.

  python tests/_pipeline_run.py --config=configs/demo.py --workdir=DIR [--config.x=...]

Hooks (each optional):
  STILTS_TEST_DUMP=DIR          after every phase, DIR/<phase>.init.npz (the params the phase
                                started from), DIR/<phase>.final.npz (the params it handed back)
                                and DIR/<phase>.json (its PhaseOutcome fields)
  STILTS_TEST_KILL_AT=PH:N      SIGKILL this process just before step N of the phase whose name
                                contains PH, once a finalized checkpoint exists (as a crash would)
  STILTS_TEST_SIGTERM_AT=PH:N:P send SIGTERM to process P during step N of that phase: a real
                                preemption notice. A single process saves after that step
                                (checkpoint.handle_sigterm); under jax.distributed JAX's
                                preemption sync service makes the processes agree on a step
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np


def _spec(name):
  value = os.environ.get(name)
  if not value:
    return None
  phase, step = value.rsplit(":", 1)
  return phase, int(step)


def _flat(params) -> dict[str, np.ndarray]:
  import jax  # after the CLI's flags are known: nothing here may initialise a backend early
  return {jax.tree_util.keystr(p): np.asarray(v)
          for p, v in jax.tree_util.tree_flatten_with_path(params)[0]}


def install_hooks() -> None:
  from flax import nnx

  from stilts_jax import pipeline, steps
  current = {"phase": None}
  dump = os.environ.get("STILTS_TEST_DUMP")
  kill = _spec("STILTS_TEST_KILL_AT")
  sigterm = None
  if os.environ.get("STILTS_TEST_SIGTERM_AT"):
    phase, step, process = os.environ["STILTS_TEST_SIGTERM_AT"].split(":")
    sigterm = phase, int(step), int(process)
  real_train_phase = pipeline.train_phase

  def train_phase(name, model, tasks, hp, mesh, workdir, **kw):
    current["phase"] = name
    tag = name.replace("/", "__")
    if dump:
      Path(dump).mkdir(parents=True, exist_ok=True)
      np.savez(Path(dump) / f"{tag}.init.npz",
               **_flat(nnx.to_pure_dict(nnx.state(model, nnx.Param))))
    out = real_train_phase(name, model, tasks, hp, mesh, workdir, **kw)
    if dump:
      np.savez(Path(dump) / f"{tag}.final.npz", **_flat(out.params))
      (Path(dump) / f"{tag}.json").write_text(json.dumps(dict(
          status=out.status, steps=out.steps, best_step=out.best_step,
          best_score=out.best_score)))
    return out

  pipeline.train_phase = train_phase

  if sigterm:
    real_make_for_term = steps.make_train_step
    sent = []

    def make_train_step_term(*args, **kwargs):
      import jax
      step_fn = real_make_for_term(*args, **kwargs)

      def wrapped(state, batch, head):
        if (not sent and sigterm[0] in current["phase"] and jax.process_index() == sigterm[2]
            and int(state["step"]) + 1 == sigterm[1]):
          sent.append(True)
          print(f"test hook: SIGTERM to process {sigterm[2]} at {current['phase']} step "
                f"{sigterm[1]}", flush=True)
          os.kill(os.getpid(), signal.SIGTERM)
          if jax.process_count() > 1:
            # JAX's notifier thread polls for the signal about once a second; without the pause
            # the 12-step phase could end before the notice reached the coordination service.
            time.sleep(3)
        return step_fn(state, batch, head)

      return wrapped

    steps.make_train_step = make_train_step_term

  if kill:
    real_make = steps.make_train_step

    def make_train_step(*args, **kwargs):
      step_fn = real_make(*args, **kwargs)

      def wrapped(state, batch, head):
        if kill[0] in current["phase"] and int(state["step"]) == kill[1]:
          # Wait for a finalized (committed, renamed) checkpoint: the point of the test is
          # resuming from one, not Orbax's atomicity (tested in test_checkpoint.py).
          deadline = time.time() + 60
          while time.time() < deadline and not _finalized():
            time.sleep(0.05)
          print(f"test hook: SIGKILL at {current['phase']} step {kill[1]}", flush=True)
          os.kill(os.getpid(), signal.SIGKILL)
        return step_fn(state, batch, head)

      return wrapped

    def _finalized():
      # Phase names are their directories under the workdir (intermediate/<s>, target/<s>__<t>).
      # Locally Orbax renames a step directory to its bare number once it is complete; on GCS
      # (no renames) it writes <step>/commit_success.txt last.
      from etils import epath
      workdir = os.environ["STILTS_TEST_WORKDIR"]
      directory = epath.Path(workdir) / current["phase"] / "checkpoints"
      if not directory.exists():
        return False
      steps = [p for p in directory.iterdir() if p.name.isdigit()]
      if "://" in workdir:
        return any((p / "commit_success.txt").exists() for p in steps)
      return bool(steps)

    steps.make_train_step = make_train_step


def _hide_torch() -> None:
  """The CLI as a user's install runs it: without torch, which the test environment has only as
  the oracle (`.[test]`; `.[tpu]` has none), and which transformers imports when it finds it
  (3 s a launch here). A path finder that cannot see torch: `find_spec("torch")` is None and
  `import torch` fails, as when it is not installed."""
  import importlib.machinery

  class PathFinderWithoutTorch(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
      if name == "torch" or name.startswith("torch."):
        return None
      return super().find_spec(name, path, target)

  sys.meta_path[:] = [PathFinderWithoutTorch if f is importlib.machinery.PathFinder else f
                      for f in sys.meta_path]


if __name__ == "__main__":
  _hide_torch()
  sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
  for arg in sys.argv[1:]:
    if arg.startswith("--workdir="):
      os.environ["STILTS_TEST_WORKDIR"] = arg.split("=", 1)[1]
  install_hooks()
  from stilts_jax import main
  main.run()

"""What a run logs survives relaunches and object stores: metrics.jsonl is rewritten whole (no
append, which gs:// does not have), a resumed phase continues the history from its checkpoint's
step, and TensorBoard events are flushed with it."""

import json

import pytest
from etils import epath

from stilts_jax.tracking import Tracker


def _rows(path):
  return [json.loads(l) for l in epath.Path(path).read_text().splitlines() if l]


def _attempt(workdir, start, stop, kill=False):
  tracker = Tracker(workdir, "target/x", total_steps=20, start_step=start, progress=False)
  for step in range(start + 1, stop + 1):
    tracker.scalars(step, {"loss": float(step)})
    if step % 4 == 0:  # a checkpoint: what a relaunch resumes from must be on disk
      tracker.persist()
  if not kill:
    tracker.close()
  return tracker


@pytest.mark.parametrize("where", ["local", "gcs"])
def test_a_resumed_phase_continues_one_history(where, tmp_path, request):
  if where == "gcs":
    gcs = request.getfixturevalue("gcs")
    workdir = f"gs://{gcs.create_bucket()}/run/target/x"
  else:
    workdir = tmp_path / "run" / "target" / "x"
  # Attempt 1 logs steps 1..6 and is killed (no close) after its step-4 checkpoint; attempt 2
  # resumes from step 4 and logs 5..10 again; attempt 3 resumes at 10 and finishes.
  killed = _attempt(workdir, 0, 6, kill=True)
  assert [r["step"] for r in _rows(epath.Path(workdir) / "metrics.jsonl")][:4] == [1, 2, 3, 4]
  _attempt(workdir, 4, 10)
  _attempt(workdir, 10, 12)
  rows = _rows(epath.Path(workdir) / "metrics.jsonl")
  assert [r["step"] for r in rows] == list(range(1, 13))  # every step once, in order
  assert [r["train/loss"] for r in rows] == [float(s) for s in range(1, 13)]
  events = list((epath.Path(workdir) / "tensorboard" / "target" / "x").iterdir())
  assert len(events) == 3 and all(e.stat().length > 0 for e in events)
  killed.close()  # (its writer would flush at exit, after the emulator is gone)


def test_eval_scalars_are_written_at_once(tmp_path):
  tracker = Tracker(tmp_path, "p", total_steps=10, progress=False, write_every_s=3600)
  tracker.scalars(1, {"loss": 1.0})  # throttled
  tracker.scalars(1, {"score": 50.0}, prefix="dev")  # forced
  assert [set(r) - {"phase", "step", "time"} for r in _rows(tmp_path / "metrics.jsonl")] == [
      {"train/loss"}, {"dev/score"}]
  tracker.close()

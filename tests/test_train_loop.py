"""The phase loop runs ahead of the device (issue 17, item 2): a log step's metrics are read only
after the next step is queued, so the host never waits for the step it is about to log while the
device has nothing to do. Evaluations, checkpoints and the end still wait (they need the state),
and what is logged is unchanged: every interval's mean loss, at its own step.

Recorded on the real loop: every train-step call and every metrics fetch (`train.fetch_metrics` of
the pending steps), in order.
"""

import jax
import numpy as np

import _pipeline_helpers as H
from stilts_jax import sharding as shd
from stilts_jax import steps, train

STEPS, LOG_EVERY, SAVE_EVERY = 23, 5, 20


def _phase(workdir):
  mesh = shd.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, devices=jax.devices()[:1])
  model = H.tiny_task_model(mesh, {"cls": ("classification", 3)}, seed=0)
  task = train.PhaseTask(head="cls", head_type="classification",
                         train_features=H.classification_features(128, seed=1))
  hp = H.phase_hp(learning_rate=1e-3, batch_size=8, max_steps=STEPS, eval_every_steps=1000,
                  log_every_steps=LOG_EVERY, checkpoint_every_steps=SAVE_EVERY)
  return train.train_phase("loop", model, [task], hp, mesh, workdir, seed=0, buckets=(16,))


def _run(workdir, monkeypatch):
  events, losses = [], {}
  make_train_step = steps.make_train_step

  def recording_make_train_step(*args, **kwargs):
    step_fn = make_train_step(*args, **kwargs)

    def wrapped(state, batch, head):
      state, metrics = step_fn(state, batch, head)
      events.append(("step", len([e for e in events if e[0] == "step"]) + 1))
      losses[events[-1][1]] = metrics["loss"]
      return state, metrics
    return wrapped
  monkeypatch.setattr(steps, "make_train_step", recording_make_train_step)

  fetch_metrics = train.fetch_metrics

  def recording_fetch_metrics(pending, size, mesh):
    out = fetch_metrics(pending, size, mesh)
    fetched = [n for n, loss in losses.items() if any(loss is m["loss"] for m in pending)]
    events.append(("fetch", tuple(sorted(fetched))))
    # The stacked fetch gives each step's own values, in order.
    assert [float(m["loss"]) for m in out] == [float(np.asarray(m["loss"])) for m in pending]
    return out
  monkeypatch.setattr(train, "fetch_metrics", recording_fetch_metrics)
  assert _phase(workdir).steps == STEPS
  return events, {n: float(np.asarray(v)) for n, v in losses.items()}


def test_log_steps_are_read_after_the_next_step_is_queued(tmp_path, monkeypatch):
  events, losses = _run(tmp_path, monkeypatch)
  fetches = [(i, f) for i, (kind, f) in enumerate(events) if kind == "fetch"]
  # Every step's metrics are read exactly once, in intervals ending at the log steps, the
  # checkpoint step and the last step.
  assert [f[-1] for _, f in fetches] == [5, 10, 15, 20, 23]
  assert sorted(n for _, f in fetches for n in f) == list(range(1, STEPS + 1))
  for i, f in fetches:
    queued = max(n for kind, n in events[:i] if kind == "step")
    if f[-1] % LOG_EVERY == 0 and f[-1] != SAVE_EVERY:
      assert queued == f[-1] + 1, (f, events)  # the next step was queued before the read
    else:
      assert queued == f[-1], (f, events)  # a checkpoint and the end read at their own step

  # What is logged is unchanged: each interval's mean loss at its own step.
  logged = {r["step"]: r["train/loss"] for r in H.read_jsonl(tmp_path / "metrics.jsonl")
            if "train/loss" in r}
  assert sorted(logged) == [5, 10, 15, 20, 23]
  for end, start in ((5, 1), (10, 6), (15, 11), (20, 16), (23, 21)):
    np.testing.assert_allclose(logged[end], np.mean([losses[n] for n in range(start, end + 1)]),
                               rtol=1e-6)


def test_a_preemption_mid_interval_leaves_the_same_log_rows(tmp_path, monkeypatch):
  """Preempted at step 7 (log every 5), then relaunched: the steps 6-7 go into the checkpoint,
  not a row of their own, and are logged with steps 8-10, so the history has the rows (and
  values) of an uninterrupted run."""
  from stilts_jax.checkpoint import Checkpointer
  whole = _phase(tmp_path / "whole")
  assert whole.status == "completed"
  reached = Checkpointer.reached_preemption
  monkeypatch.setattr(Checkpointer, "reached_preemption", lambda self, step: step == 7)
  assert _phase(tmp_path / "cut").status == "preempted"
  monkeypatch.setattr(Checkpointer, "reached_preemption", reached)
  assert _phase(tmp_path / "cut").status == "completed"

  def rows(workdir):
    return [(r["step"], r["train/loss"], r["train/grad_norm"])
            for r in H.read_jsonl(workdir / "metrics.jsonl") if "train/loss" in r]
  cut, uncut = rows(tmp_path / "cut"), rows(tmp_path / "whole")
  assert [r[0] for r in cut] == [r[0] for r in uncut] == [5, 10, 15, 20, 23]
  np.testing.assert_allclose(np.array(cut)[:, 1:], np.array(uncut)[:, 1:], rtol=1e-6)


def test_fetched_metrics_are_each_steps_own_and_one_program_serves_every_flush():
  import jax.numpy as jnp
  mesh = shd.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, devices=jax.devices()[:1])
  pending = [{"loss": jnp.float32(0.5 * i), "grad_norm": jnp.float32(i + 0.25),
              "units": jnp.int32(10 * i), "finite": jnp.bool_(i != 4)} for i in range(7)]
  before = train._stack_metrics._cache_size()
  for n in (7, 3, 1, 2):  # longer than the interval (chunked), equal, shorter (padded)
    out = train.fetch_metrics(pending[:n], 3, mesh)
    assert [{k: v.item() for k, v in m.items()} for m in out] == [
        {"loss": 0.5 * i, "grad_norm": i + 0.25, "units": 10 * i, "finite": i != 4}
        for i in range(n)]
    assert [m["units"].dtype for m in out] == [np.int32] * n
  assert train._stack_metrics._cache_size() - before <= 1

"""One training phase (intermediate or target): sharded steps, periodic English-dev evaluation, best
checkpoint, early stopping, preemption, and a clear stop on a diverged loss.

The loop reads top to bottom: build the batches and the optimizer, resume or start, then for each
step pick the task (multi-task phases sample one per step), feed its step-indexed batch, log,
evaluate and checkpoint. Everything that decides *which* data a step sees is a pure function of
(seed, step), so a resumed run continues bit-identically on the same mesh.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from etils import epath
from flax import nnx

from stilts_jax import evaluate, optim, sampling, steps
from stilts_jax import sharding as shd
from stilts_jax.checkpoint import Checkpointer, abstract_state
from stilts_jax.data import DEFAULT_BUCKETS, TrainBatches, process_slice, to_global_batch
from stilts_jax.data.packing import PACKED_SEQUENCE_KEYS, pack_features
from stilts_jax.kinds import get_kind
from stilts_jax.kinds.mlm import mlm_batches
from stilts_jax.models import TaskModel
from stilts_jax.phase_dir import PhaseDir
from stilts_jax.tasks import TaskSpec
from stilts_jax.tracking import Tracker

class TrainingDiverged(RuntimeError):
  """The loss or gradient became non-finite; the state before that step is the last good one."""


@dataclasses.dataclass
class PhaseTask:
  """One task trained in a phase: its head, training features, and English dev parts."""
  head: str
  head_type: str
  train_features: Mapping[str, np.ndarray]
  dev_spec: TaskSpec | None = None
  dev_parts: Sequence[evaluate.EvalPart] = ()
  # A fixed share of the steps (e.g. MLM mixed into intermediate training at rate 0.2) instead of
  # a share proportional to the task's size; its data then does not count toward the step budget.
  rate: float | None = None
  masking: Mapping[str, Any] | None = None  # mlm only: kinds.mlm.masking_args (+ probability)


@dataclasses.dataclass
class PhaseOutcome:
  status: str                  # "completed" | "early_stopped" | "preempted"
  steps: int                   # steps run in total (this and earlier attempts)
  best_step: int | None
  best_score: float | None
  params: Any                  # best (else last) params, pure dict, sharded


def _train_state(params, tx, seed: int, mesh) -> dict:
  # Committed where they are: jit keys its cache on committedness, so parameters made eagerly
  # (uncommitted) would compile the train step once for the first call and again for the
  # committed state it returns.
  params = jax.device_put(params, jax.tree.map(lambda x: x.sharding, params))
  # Explicit out_shardings: Adam's moments are sharded exactly like the parameters they follow
  # (jit would otherwise return replicated zeros, a full copy of the optimizer state per chip).
  opt_state = jax.jit(tx.init, out_shardings=shd.optimizer_state_shardings(tx, params, mesh))(
      params)
  return {"params": params, "opt_state": opt_state, "step": jnp.int32(0),
          "rng": jax.random.key_data(jax.random.key(seed))}


@jax.jit
def _stack_metrics(metrics: list[dict]) -> dict:
  return jax.tree.map(lambda *v: jnp.stack(v), *metrics)


def fetch_metrics(pending: list[dict], size: int, mesh) -> list[dict]:
  """The host values of some steps' metrics, each step a dict of numpy scalars.

  Stacked on the device first, a log interval in one transfer per metric: fetching the scalars
  one by one (4 per step) cost ~10 µs each on the host, as much as the rest of the loop. The list
  is padded to `size` (the log interval) with its last entry, so one program serves every flush
  of a phase, and chunked should it be longer.
  """
  out = []
  with jax.set_mesh(mesh):  # jit keys its cache on the mesh in context: the same one every time
    for i in range(0, len(pending), size):
      chunk = pending[i:i + size]
      stacked = jax.device_get(_stack_metrics(chunk + chunk[-1:] * (size - len(chunk))))
      out += [{k: v[j] for k, v in stacked.items()} for j in range(len(chunk))]
  return out


def _batches(task: PhaseTask, micro: int, seed: int, index: int, count: int, buckets,
             packing: bool = False):
  kind = get_kind(task.head_type)
  # Only the arrays its loss reads go to the device (QA offsets and the like stay on the host).
  features = {k: task.train_features[k] for k in kind.train_keys}
  if packing and kind.packable:
    # Several short examples per row (segment ids, per-example <s> and loss): `micro` then counts
    # rows, each holding several examples, so an epoch takes fewer, fuller steps.
    packed = pack_features(features, features["input_ids"].shape[-1])
    keys = [k for k in PACKED_SEQUENCE_KEYS if k in packed]
    del packed["example_index"]
    return TrainBatches(packed, micro, seed, index, count, buckets, group_by_length=True,
                        sequence_keys=keys)
  if kind.masked:  # labels come from masking each step
    if task.masking is None:
      raise ValueError(f"task {task.head!r} is MLM but has no masking arguments.")
    return mlm_batches(features, micro, seed, index, count, buckets, group_by_length=True,
                       **task.masking)
  return TrainBatches(features, micro, seed, index, count, buckets, group_by_length=True)


def dev_score(params, predict_step, tasks: Sequence[PhaseTask],
              evaluator: evaluate.Evaluator) -> float | None:
  """Mean over tasks of the main English-dev score (jiant's EqualMetricAggregator)."""
  scores = []
  for task in tasks:
    if not task.dev_parts:
      continue
    step = lambda b, head=task.head: predict_step(params, b, head=head)
    results = evaluator.parts(task.dev_spec, task.dev_parts, step)
    scores.append(np.mean([evaluate.main_score(r.scores) for r in results]))
  return float(np.mean(scores)) if scores else None


def train_phase(name: str, model: TaskModel, tasks: Sequence[PhaseTask], hp, mesh,
                workdir: str | epath.Path, *, seed: int,
                buckets: Sequence[int] = DEFAULT_BUCKETS) -> PhaseOutcome:
  """Trains `model` on `tasks` under hyperparameters `hp` (a ConfigDict, see configs/base.py)."""
  workdir = epath.Path(workdir)
  graphdef, params = nnx.split(model, nnx.Param)
  params = nnx.to_pure_dict(params)
  head_types = {t.head: t.head_type for t in tasks}

  ##### Batches, step budget, optimizer ########################################################
  if hp.batch_size % hp.grad_accum:
    raise ValueError(f"batch_size {hp.batch_size} is not divisible by grad_accum {hp.grad_accum}.")
  micro = hp.batch_size // hp.grad_accum
  index, count = process_slice(mesh, global_batch_size=micro)
  batches = {t.head: _batches(t, micro, seed, index, count, buckets, hp.packing)
             for t in tasks}
  fixed = {t.head: t.rate for t in tasks if t.rate}
  fixed_share = sampling.check_fixed_rates(fixed, len(tasks) - len(fixed))
  steps_per_epoch = {h: b.steps_per_epoch for h, b in batches.items() if h not in fixed}
  # Epochs count the sized tasks' data; fixed-rate steps come on top of them.
  # Step counts in the config (max_steps, eval/log/checkpoint intervals) are optimizer updates,
  # as in jiant; the loop runs micro-steps, `accum` per update.
  accum = hp.grad_accum
  total = hp.max_steps * accum if hp.max_steps else math.ceil(
      sampling.total_steps(steps_per_epoch, hp.epochs) / (1 - fixed_share))
  total = math.ceil(total / accum) * accum  # whole optimizer updates only
  tx = optim.make_optimizer(learning_rate=hp.learning_rate, total_updates=total // hp.grad_accum,
                            warmup_fraction=hp.warmup_fraction, weight_decay=hp.weight_decay,
                            max_grad_norm=hp.max_grad_norm, grad_accum_steps=hp.grad_accum)
  probs = sampling.with_fixed_rates(sampling.task_probabilities(
      {h: b.num_examples for h, b in batches.items() if h not in fixed}, hp.sampler,
      hp.temperature, hp.examples_cap), fixed)
  # One task per optimizer update (jiant), all of its micro-batches from that task.
  names, task_ids, task_updates = sampling.task_schedule(probs, total // accum, seed)

  ##### Resume or start ########################################################################
  with jax.set_mesh(mesh):
    state = _train_state(params, tx, seed, mesh)
  ckpt = Checkpointer(PhaseDir(workdir).train_states,
                      save_interval_steps=hp.checkpoint_every_steps * hp.grad_accum,
                      max_to_keep=hp.keep_checkpoints, best_metric="score", best_mode="max")
  # `unlogged`: the metrics of steps after the last log row when a preemption saved the state
  # mid-interval; the relaunch logs them with the rest of that interval (one history, the same
  # rows as an uninterrupted run).
  history = {"best_step": None, "best_score": None, "evals_since_best": 0, "unlogged": None}
  if ckpt.latest_step() is not None:
    state, meta = ckpt.restore(abstract_state(state))
    history.update({k: meta[k] for k in history if k in (meta or {})})
  start = int(state["step"])
  state_sharding = jax.tree.map(lambda x: x.sharding, state)
  train_step = steps.make_train_step(graphdef, tx, head_types, state_sharding=state_sharding,
                                     batch_sharding=shd.batch_sharding(mesh))
  predict_step = steps.make_predict_step(graphdef, head_types)
  evaluator = evaluate.Evaluator(mesh, hp.eval_batch_size, buckets)
  tracker = Tracker(workdir, name, total, start)
  mix = f" ({', '.join(f'{h}: {p:.2f}' for h, p in sorted(probs.items()))})" if len(probs) > 1 else ""
  tracker.note(f"[{name}] {total} steps{mix}, batch {hp.batch_size} = {micro} x {hp.grad_accum}, "
               f"{mesh.devices.size} devices" + (f", resuming at step {start}" if start else ""))

  pending: list[tuple[int, dict]] = []
  examples_since_log = 0
  carried = history.pop("unlogged") or {"loss": [], "grad_norm": []}
  unlogged = {k: [np.float32(v) for v in carried[k]] for k in ("loss", "grad_norm")}

  def flush(done: int, log: bool = True) -> None:
    """Reads the pending steps' metrics (raising on a non-finite one) and, with `log`, writes
    one row for them and any unlogged ones before them."""
    nonlocal examples_since_log
    if not pending and not (log and unlogged["loss"]):
      return
    fetched = fetch_metrics([m for _, m in pending], hp.log_every_steps * accum, mesh)
    for (step, _), m in zip(pending, fetched):
      if not bool(m["finite"]):
        # Finish the saves still in flight first: the checkpoint named below must be committed
        # before the process exits (else it is left as an *.orbax-checkpoint-tmp directory and
        # Orbax's background thread dies at interpreter shutdown).
        ckpt.wait_until_finished()
        tracker.close()
        last = ckpt.latest_step()
        where = (f"The last good checkpoint is step {last} in {ckpt.directory}." if last is not None
                 else f"No checkpoint was saved before it in {ckpt.directory}.")
        raise TrainingDiverged(
            f"[{name}] loss or gradient became non-finite at step {step} (loss={m['loss']}, "
            f"grad_norm={m['grad_norm']}); that update was not applied. {where} Lower the "
            "learning rate or check the data.")
    for key in unlogged:
      unlogged[key] += [m[key] for m in fetched]
    pending.clear()
    if not log:
      return
    values = {k: float(np.mean(v)) for k, v in unlogged.items()}
    tracker.progress(done, examples_since_log, values)
    for v in unlogged.values():
      v.clear()
    examples_since_log = 0

  ##### The loop ###############################################################################
  # The host runs ahead of the device: a step's call returns once it is queued, so the next batch
  # is assembled and sent while the device computes. Only evaluation, checkpoints and preemption
  # wait for the device. A log step's metrics are fetched after the *next* step is queued, so
  # the device never idles while the host reads them, writes the log and redraws the bar.
  status = "completed"
  done = start
  log_due = None  # a log step whose metrics are read once the next step is queued
  if any(t.dev_parts for t in tasks) and history["evals_since_best"] >= hp.patience:
    # Relaunched after early stopping (e.g. killed during the final evaluation): stay stopped,
    # or the phase would train on and hand over a different model.
    status, total = "early_stopped", start
  # Kernels that run per shard (splash attention) find the mesh.
  with jax.set_mesh(mesh):
    for step in range(start, total):
      update = step // accum
      head = names[task_ids[update]]
      local = batches[head].batch_at(int(task_updates[update]) * accum + step % accum)
      state, metrics = train_step(state, to_global_batch(local, mesh), head)
      if log_due is not None:
        flush(log_due)
        log_due = None
      pending.append((step, metrics))
      examples_since_log += micro
      done = step + 1
      is_eval = done % (hp.eval_every_steps * accum) == 0 or done == total
      # A preemption (a collective under jax.distributed: every process asks once per step)
      # saves below; the periodic save is for the other steps.
      preempting = ckpt.reached_preemption(done)
      save_due = not preempting and ckpt.interval_due(done)
      if is_eval or save_due:
        flush(done)  # these wait for the step anyway
      elif done % (hp.log_every_steps * accum) == 0:
        log_due = done
      if is_eval:
        score = dev_score(state["params"], predict_step, tasks, evaluator)
        if score is not None:
          tracker.scalars(done, {"score": score}, prefix="dev")
          if history["best_score"] is None or score > history["best_score"]:
            history.update(best_step=done, best_score=score, evals_since_best=0)
          else:
            history["evals_since_best"] += 1
        ckpt.save(done, state, metrics=None if score is None else {"score": score},
                  metadata=history, force=True)
        if history["evals_since_best"] >= hp.patience:
          tracker.note(f"[{name}] early stop at step {done}: no dev improvement in {hp.patience} "
                       f"evaluations (best {history['best_score']:.2f} at step "
                       f"{history['best_step']}).")
          status = "early_stopped"
          break
      elif save_due:
        ckpt.save(done, state, metadata=history)  # periodic: no dev score, so never "best"
        tracker.persist()
      if preempting:
        # Mid-interval, the steps since the last row go into the checkpoint, not a row of their own.
        flush(done, log=done % (hp.log_every_steps * accum) == 0)
        ckpt.save(done, state, force=True, metadata=dict(history, unlogged={
            k: [float(x) for x in v] for k, v in unlogged.items()} if unlogged["loss"] else None))
        status = "preempted"
        break
  flush(done, log=status != "preempted")  # preempted: read and carried already
  ckpt.wait_until_finished()
  tracker.close()

  ##### Hand back the best parameters ##########################################################
  params = state["params"]
  # Orbax's ranking decides which step was kept as best (on a tie it keeps the later one).
  best = ckpt.best_step() if history["best_step"] is not None else None
  if status != "preempted" and best is not None and best != done:
    params = ckpt.restore(abstract_state(state), step=best)[0]["params"]
  ckpt.close()
  return PhaseOutcome(status=status, steps=done, best_step=best,
                      best_score=history["best_score"], params=params)

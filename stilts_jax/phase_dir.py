"""One phase's folder (`intermediate/<setting>/`, `target/<setting>__<target>/`): where its train
states, best parameters, results and completion marker are, what state the phase is in, and where
it starts from.

The start-up order of a phase, in one place (`PhaseDir.start_source`): its own checkpoint (a
preempted or killed run resumes instead of starting over) > the previous phase's best encoder (the
STILTs hand-off) > the pretrained weights. A previous phase that is named but has no checkpoint is
an error, never a silent start from pretrained weights (that would quietly skip the intermediate
task).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import jax
from etils import epath

from stilts_jax import paths
from stilts_jax.checkpoint import Checkpointer, MissingCheckpoint, has_checkpoint
from stilts_jax.layout import BEST_PARAMS_DIR, COMPLETED, RESULTS_FILE, TRAIN_STATES_DIR

log = logging.getLogger(__name__)

RESUME, PREVIOUS_PHASE, PRETRAINED = "resume", "previous_phase", "pretrained"


class PhaseDir:
  """A phase's folder; `PhaseDir(path)` touches nothing on disk."""

  def __init__(self, path: str | epath.Path):
    self.path = epath.Path(path)

  def __repr__(self) -> str:
    return f"PhaseDir({str(self.path)!r})"

  def __eq__(self, other: object) -> bool:
    return isinstance(other, PhaseDir) and other.path == self.path

  def __hash__(self) -> int:
    return hash(self.path)

  @property
  def train_states(self) -> epath.Path:
    """Orbax train states (params, optimizer state, step) by step, while the phase trains."""
    return self.path / TRAIN_STATES_DIR

  @property
  def best_params(self) -> epath.Path:
    """The completed phase's best parameters alone (no optimizer state)."""
    return self.path / BEST_PARAMS_DIR

  @property
  def results_file(self) -> epath.Path:
    return self.path / RESULTS_FILE

  @property
  def completed_marker(self) -> epath.Path:
    return self.path / COMPLETED

  def is_completed(self) -> bool:
    """Everything the phase does (training, evaluation, results) is done."""
    return self.completed_marker.exists()

  def is_trained(self) -> bool:
    """Its training finished in an earlier attempt (the best parameters were kept)."""
    return has_checkpoint(self.best_params)

  def checkpoints(self) -> epath.Path:
    """Where its restorable checkpoints are: `best_params/` once training completed and was
    pruned (checkpoint.keep_after_completion="best_params"), else `checkpoints/`."""
    return self.best_params if self.is_trained() else self.train_states

  def start_source(self, previous: PhaseDir | None = None) -> str:
    """Where this phase's weights come from: "resume", "previous_phase" or "pretrained"."""
    if has_checkpoint(self.checkpoints()):
      return RESUME
    if previous is None:
      return PRETRAINED
    if has_checkpoint(previous.checkpoints()):
      return PREVIOUS_PHASE
    raise MissingCheckpoint(f"no checkpoint of the previous phase in {previous.checkpoints()}: "
                            "run that phase first (the intermediate phase runs automatically "
                            "unless mode='eval').")

  def mark_completed(self, **info: Any) -> None:
    mark_completed(self.path, **info)

  def keep_best_params_only(self, params: Any, *, step: int, score: float | None) -> None:
    """After training: its best `params` saved alone in `best_params/` (ranked, so
    `restore_encoder`/`restore_params` with step="best" find them), then `checkpoints/` (train
    states with Adam moments: ~3x the parameters, ~6.7 GB for XLM-R large) deleted.

    Safe to interrupt anywhere: `checkpoints/` goes only once `best_params/` is committed, and a
    relaunch finding `best_params/` knows training is over.
    """
    with Checkpointer(self.best_params, save_interval_steps=1, max_to_keep=1,
                      best_metric="score", async_save=False) as ckpt:
      if step not in ckpt.all_steps():
        ckpt.save(step, {"params": params}, force=True,
                  metrics=None if score is None else {"score": score})
      ckpt.wait_until_finished()
    if jax.process_count() > 1:  # every process finished its shards before anything is deleted
      from jax.experimental import multihost_utils
      multihost_utils.sync_global_devices(f"stilts_jax.keep_best_params_only:{self.path}")
    if jax.process_index() == 0 and self.train_states.exists():
      self.train_states.rmtree()
      log.info("kept the best parameters of %s (step %d) in %s; removed %s", self.path, step,
               BEST_PARAMS_DIR, self.train_states)


def mark_completed(directory: epath.Path, **info: Any) -> None:
  """Writes `directory/COMPLETED` (last, atomically, from process 0): a phase's, or the whole
  run's in the workdir."""
  if jax.process_index() == 0:
    paths.write_atomic(epath.Path(directory) / COMPLETED,
                       json.dumps(dict(info, time=time.time()), indent=1))

"""Train-state checkpoints on Orbax: async, atomic, keep-latest-K-plus-best, reshardable on restore.

The train state is a plain pytree dict (the contract with the training loop):

  {"params": nnx.to_pure_dict(nnx.state(model, nnx.Param)),  # {"encoder": ..., "heads": {...}}
   "opt_state": optax state over params, "step": int32 scalar, "rng": jax.random.key_data(key)}

Batches are a pure function of (seed, step), so `step` alone fixes the data position. Each step
directory holds one Orbax item, `state` (PyTreeCheckpointHandler, so a subtree can be read back
alone), Orbax's `metrics` (only the ranking metric, only when `best_metric` is set) and a small JSON
`custom_metadata` (all metrics of that step plus caller metadata: phase, config hash, ...).

Layout of a workdir: `<dir>/<step>/state/...`, `<dir>/metadata/` (root metadata: which metric
ranks the checkpoints, so the next phase can find "best" without being told). Saves are atomic:
locally Orbax writes `<step>.orbax-checkpoint-tmp-<ts>` and renames it; on GCS it writes
`commit_success.txt` last. Unfinished directories are never listed, so never restored.

Which checkpoint a phase starts from, and a phase folder's layout: `stilts_jax/phase_dir.py`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import threading
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from flax import nnx
from jax.sharding import NamedSharding
from orbax.checkpoint.checkpoint_managers import preservation_policy as pp
from orbax.checkpoint.checkpoint_managers import save_decision_policy as sdp

from stilts_jax import checkpoint_layers
from stilts_jax.errors import UserError

log = logging.getLogger(__name__)


class _NotReadOnlyNotice(logging.Filter):
  """Orbax warns "Given directory is read only" for every read-only manager, i.e. every time a
  phase looks for a checkpoint to hand over or restore: noise between the progress bars."""

  def filter(self, record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("Given directory is read only")


logging.getLogger("absl").addFilter(_NotReadOnlyNotice())

STATE_ITEM = "state"

# Set by `handle_sigterm`'s handler: a single-process run's preemption notice.
_SIGTERM_RECEIVED = threading.Event()


def handle_sigterm() -> None:
  """Turns SIGTERM (the notice a preemptible/spot VM gets before it is taken) into a preemption
  at the end of the current step: `reached_preemption` becomes true, the loop saves and the CLI
  exits 75. A second SIGTERM stops the process at once, as without the handler (outside training,
  e.g. in evaluation, the first one waits for the next step). For single-process runs only: under
  `jax.distributed` JAX's preemption sync service owns SIGTERM and makes every process agree on the
  step, which a local flag cannot."""

  def on_sigterm(signum, frame):
    del frame
    if _SIGTERM_RECEIVED.is_set():
      signal.signal(signum, signal.SIG_DFL)
      os.kill(os.getpid(), signum)
      return
    _SIGTERM_RECEIVED.set()
    # os.write, not logging: a handler may run while the main thread holds the logging lock.
    os.write(2, b"SIGTERM: saving a checkpoint after this training step, then exiting "
                b"(send it again to stop now)\n")

  signal.signal(signal.SIGTERM, on_sigterm)


class MissingCheckpoint(UserError, FileNotFoundError):
  """A phase needs a checkpoint that is not there (e.g. mode="eval" before training)."""


def _as_abstract(x: Any) -> jax.ShapeDtypeStruct:
  if isinstance(x, jax.ShapeDtypeStruct):
    return x
  return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None))


def abstract_state(tree: Any) -> Any:
  """`jax.ShapeDtypeStruct`s (with shardings) of a concrete state, e.g. for `restore` targets."""
  return jax.tree.map(_as_abstract, tree)


def _restore_args(abstract: Any, what: str) -> Any:
  """Orbax restore args placing every leaf on its requested sharding (any mesh)."""
  def check(path, x):
    if getattr(x, "sharding", None) is None:
      raise ValueError(f"{what}: leaf {jax.tree_util.keystr(path)} has no sharding; pass "
                       "jax.ShapeDtypeStruct(shape, dtype, sharding=NamedSharding(mesh, spec)) "
                       "leaves (e.g. from checkpoint.abstract_state or jax.eval_shape of a "
                       "jitted init with out_shardings).")
  jax.tree_util.tree_map_with_path(check, abstract)
  return ocp.checkpoint_utils.construct_restore_args(abstract)


def _metric_fn(metric: str, mode: str) -> Callable[[Mapping[str, Any]], float]:
  """Ranking value of a step's metrics; missing or NaN counts as the worst possible."""
  worst = -math.inf if mode == "max" else math.inf

  def fn(metrics: Mapping[str, Any]) -> float:
    value = (metrics or {}).get(metric)
    value = worst if value is None else float(value)
    return worst if math.isnan(value) else value
  return fn


def _to_json(tree: Any) -> Any:
  """Metrics and metadata as plain JSON (jax/numpy scalars become Python numbers)."""
  if isinstance(tree, Mapping):
    return {str(k): _to_json(v) for k, v in tree.items()}
  if isinstance(tree, (list, tuple)):
    return [_to_json(v) for v in tree]
  if isinstance(tree, (jax.Array, np.ndarray, np.generic)):
    arr = np.asarray(tree)
    return arr.item() if arr.ndim == 0 else arr.tolist()
  return tree


@jax.jit
def _finite_flags(leaves: list[jax.Array]) -> list[jax.Array]:
  return [jnp.all(jnp.isfinite(x)) if jnp.issubdtype(x.dtype, jnp.inexact) else jnp.bool_(True)
          for x in leaves]


def nonfinite_leaves(params: Any) -> list[str]:
  """Paths of float leaves of `params` holding NaN/Inf (one small device sync for all of them).

  The check takes the bare list of arrays: every phase whose arrays have the same shapes (a
  target after each intermediate setting) runs one compiled program, whatever its heads' names.
  It runs under the arrays' own mesh: jit keys its cache on the mesh in context, and a phase
  saves both inside its loop's mesh context and outside it (the best parameters)."""
  leaves = jax.tree.leaves(params)
  mesh = next((x.sharding.mesh for x in leaves if isinstance(x.sharding, NamedSharding)), None)
  with jax.set_mesh(mesh) if mesh is not None else contextlib.nullcontext():
    flags = jax.device_get(_finite_flags(leaves))
  paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
  return [p for p, ok in zip(paths, flags) if not ok]


class Checkpointer:
  """Saves and restores the train state of one phase in `directory` (local path or gs://).

  Keeps the latest `max_to_keep` checkpoints plus the single best one by `metrics[best_metric]`
  (`best_mode` "max" or "min"); steps saved without that metric never count as best. Saves are
  asynchronous by default: `save` returns once arrays are copied off the devices, and
  `wait_until_finished` / `close` block until they are on disk.

  Typical loop:
    ckpt = Checkpointer(workdir, save_interval_steps=1000, best_metric="accuracy")
    for step in ...:
      state = train_step(state, batch)
      ckpt.save(step, state)                     # cheap unless step is due (or preempted)
      if ckpt.reached_preemption(step):
        ckpt.wait_until_finished(); sys.exit()
    ckpt.save(last, state, metrics=eval_metrics, force=True); ckpt.close()
  """

  def __init__(self, directory: str | epath.Path, *, save_interval_steps: int,
               max_to_keep: int = 2, best_metric: str | None = None, best_mode: str = "max",
               async_save: bool = True):
    if save_interval_steps < 1:
      raise ValueError(f"save_interval_steps must be >= 1; got {save_interval_steps}.")
    if max_to_keep < 1:
      raise ValueError(f"max_to_keep must be >= 1; got {max_to_keep}.")
    if best_mode not in ("max", "min"):
      raise ValueError(f"best_mode must be 'max' or 'min'; got {best_mode!r}.")
    self.directory = epath.Path(directory)
    self.save_interval_steps = int(save_interval_steps)
    self.best_metric = best_metric
    self.best_mode = best_mode
    policies: list[pp.PreservationPolicy] = [pp.LatestN(n=max_to_keep)]
    best_fn = None
    if best_metric is not None:
      best_fn = _metric_fn(best_metric, best_mode)
      # BestN ranks ascending and keeps the tail; steps without the metric are not protected.
      policies.append(pp.BestN(get_metric_fn=best_fn, reverse=best_mode == "min", n=1,
                               keep_checkpoints_without_metrics=False))
    options = ocp.CheckpointManagerOptions(
        save_decision_policy=sdp.AnySavePolicy([
            sdp.FixedIntervalPolicy(save_interval_steps),
            sdp.PreemptionCheckpointingPolicy(),  # save at the step all hosts agree to stop at
        ]),
        preservation_policy=pp.AnyPreservationPolicy(policies),
        best_fn=best_fn, best_mode=best_mode,  # for best_step(); retention is the policy above
        enable_async_checkpointing=async_save, create=True)
    root = {"best_metric": best_metric, "best_mode": best_mode}
    _ensure_directory(self.directory / "metadata")
    self.manager = ocp.CheckpointManager(self.directory, options=options, metadata=root,
                                         item_handlers=_handlers())
    # Orbax keeps the first root metadata ever written; a different ranking on restart would
    # make "best" mean two things in one workdir.
    on_disk = self.manager.metadata().custom_metadata or {}
    saved = (on_disk.get("best_metric"), on_disk.get("best_mode", best_mode))
    if best_metric is not None and saved[0] is not None and saved != (best_metric, best_mode):
      raise ValueError(f"{self.directory} ranks checkpoints by {saved[0]!r} ({saved[1]}), not "
                       f"{best_metric!r} ({best_mode}); use the same best_metric/best_mode when "
                       "resuming, or a new workdir.")

  def all_steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def best_step(self) -> int | None:
    """Best step by `best_metric` among kept checkpoints; None if untracked or none has it."""
    if self.best_metric is None:
      return None
    return self.manager.best_step()

  def interval_due(self, step: int) -> bool:
    """An interval step after the last saved one: Orbax's interval policy above, in plain
    arithmetic (the loop asks every step; Orbax's own answer costs ~12 µs)."""
    step = int(step)
    if step % self.save_interval_steps:
      return False
    last = self.manager.latest_step()
    return last is None or step > last

  def should_save(self, step: int) -> bool:
    """Whether `save(step, ...)` would save: an interval step, or the preemption step."""
    return self.interval_due(step) or self.reached_preemption(step)

  def save(self, step: int, state: Mapping[str, Any], *, metrics: Mapping[str, Any] | None = None,
           metadata: Mapping[str, Any] | None = None, force: bool = False) -> bool:
    """Saves `state` at `step` if due (every `save_interval_steps`, on preemption, or `force`).

    `metrics` (e.g. dev-set scores) rank the checkpoint if they contain `best_metric`;
    `metadata` is any small JSON dict (phase name, config hash). Both come back from `restore`.
    A step is saved once: a second call for it (e.g. a final force-save on an interval step)
    returns False, so pass eval metrics in the call that saves. Returns whether a save was
    started. Raises ValueError if params are non-finite, so a diverged state never replaces a
    good checkpoint.
    """
    step = int(step)
    if not force and not self.should_save(step):
      return False
    if step in self.manager.all_steps():  # includes saves still in flight
      # Typically the final force-save landing on an interval step: the state is already there.
      log.warning("step %d is already saved in %s; not saving it again (metrics of this call "
                  "are not attached).", step, self.directory)
      return False
    if "params" not in state:
      raise ValueError(f"state must be a dict with 'params'; got keys {sorted(state)}.")
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
      if jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key):
        raise TypeError(f"state leaf {jax.tree_util.keystr(path)} is a typed PRNG key; store "
                        "jax.random.key_data(key) and rewrap with jax.random.wrap_key_data.")
    bad = nonfinite_leaves(state["params"])
    if bad:
      raise ValueError(f"refusing to save step {step} to {self.directory}: non-finite params in "
                       f"{len(bad)} leaves ({', '.join(bad[:5])}{', ...' if len(bad) > 5 else ''})"
                       "; training diverged, the previous checkpoint is kept.")
    metadata = dict(_to_json(metadata or {}))
    if "metrics" in metadata:
      raise ValueError("metadata may not have a 'metrics' key; pass metrics=... instead.")
    metrics = _to_json(metrics or {})
    custom = dict(metadata, metrics=metrics)
    ranked = metrics if self.best_metric is not None and self.best_metric in metrics else None
    return self.manager.save(
        step, args=ocp.args.Composite(**{STATE_ITEM: ocp.args.PyTreeSave(state)}),
        metrics=ranked, custom_metadata=custom, force=force)

  def restore(self, abstract_state: Any, step: int | None = None) -> tuple[Any, dict[str, Any]]:
    """(state, metadata) of `step` (default: latest), placed on `abstract_state`'s shardings.

    `abstract_state` has the structure of the saved state with ShapeDtypeStruct (or array)
    leaves carrying shardings on any mesh: Orbax reads each device's slice directly, so a
    checkpoint written on one topology restores onto another. `metadata` holds the saved
    metadata, `metrics` and `step`.
    """
    self.wait_until_finished()  # a save still in flight in this process is not listed yet
    step = self.latest_step() if step is None else int(step)
    if step is None:
      raise FileNotFoundError(f"no finalized checkpoint in {self.directory}.")
    if step not in self.manager.all_steps():
      raise FileNotFoundError(f"no checkpoint for step {step} in {self.directory}; available: "
                              f"{self.all_steps()}.")
    target = jax.tree.map(_as_abstract, abstract_state)
    out = _restore(self.manager, self.directory, step, target, partial=False)
    meta = dict(self.manager.metadata(step).custom_metadata or {})
    meta["step"] = step
    return out, meta

  def reached_preemption(self, step: int) -> bool:
    """True once all hosts reached the step at which a preemption notice is honoured.

    Under `jax.distributed` this is JAX's preemption sync point (Orbax asks the coordination
    service; call it every step on every host: it is a collective). A single process has no such
    service: there it is SIGTERM, caught by `handle_sigterm`.
    """
    return _SIGTERM_RECEIVED.is_set() or self.manager.reached_preemption(int(step))

  def wait_until_finished(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.close()

  def __enter__(self) -> Checkpointer:
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def _ensure_directory(directory: epath.Path) -> None:
  """Makes `directory` exist on object stores too. GCS has no directories, gcsfs's mkdir creates
  nothing, and Orbax checks that its root-metadata directory exists before writing into it; an
  empty marker object makes the prefix exist."""
  if jax.process_index() != 0 or directory.exists():
    return
  directory.mkdir(parents=True, exist_ok=True)
  if not directory.exists():
    (directory / ".directory").write_text("")


def _handlers() -> dict[str, ocp.CheckpointHandler]:
  # Registered up front so a fresh manager can read item metadata before any save/restore.
  return {STATE_ITEM: ocp.PyTreeCheckpointHandler()}


def _read_only_options(**kw) -> ocp.CheckpointManagerOptions:
  return ocp.CheckpointManagerOptions(read_only=True, save_interval_steps=0, create=False, **kw)


def _reader(directory: str | epath.Path) -> tuple[ocp.CheckpointManager | None, bool]:
  """(read-only manager of `directory` ranking by its root metadata, whether it ranks).

  (None, False) if the directory does not exist; never creates it.
  """
  directory = epath.Path(directory)
  if not directory.exists():
    return None, False
  plain = ocp.CheckpointManager(directory, options=_read_only_options(), item_handlers=_handlers())
  custom = plain.metadata().custom_metadata or {}
  metric, mode = custom.get("best_metric"), custom.get("best_mode") or "max"
  if metric is None:
    return plain, False
  plain.close()
  options = _read_only_options(best_fn=_metric_fn(metric, mode), best_mode=mode)
  return ocp.CheckpointManager(directory, options=options, item_handlers=_handlers()), True


def has_checkpoint(directory: str | epath.Path) -> bool:
  """Whether `directory` holds at least one finalized (committed) checkpoint."""
  manager, _ = _reader(directory)
  if manager is None:
    return False
  found = manager.latest_step() is not None
  manager.close()
  return found


def _resolve_step(manager: ocp.CheckpointManager, ranked: bool, directory: epath.Path,
                  step: int | str) -> int:
  steps = sorted(manager.all_steps())
  if isinstance(step, (int, np.integer)) and not isinstance(step, bool):
    if int(step) not in steps:
      raise FileNotFoundError(f"no checkpoint for step {step} in {directory}; available: {steps}.")
    return int(step)
  if step == "latest":
    return steps[-1]
  if step == "best":
    best = manager.best_step() if ranked else None
    if best is None:
      log.info("%s has no ranked checkpoint; using the latest step %d.", directory, steps[-1])
    return steps[-1] if best is None else best
  raise ValueError(f"step must be an int, 'best' or 'latest'; got {step!r}.")


def _finalized_reader(directory: epath.Path, how_to_fix: str):
  """A read-only manager over a directory that holds at least one finalized checkpoint."""
  manager, ranked = _reader(directory)
  if manager is None or manager.latest_step() is None:
    if manager is not None:
      manager.close()
    raise MissingCheckpoint(f"no finalized checkpoint in {directory}: {how_to_fix}")
  return manager, ranked


def restore_encoder(directory: str | epath.Path, abstract_encoder_params: Any, *,
                    step: int | str = "best") -> Any:
  """Only `params["encoder"]` of another phase's checkpoint, on the target's shardings.

  The STILTs hand-off: the intermediate-task phase's best (default; latest if nothing was
  ranked) encoder starts the target phase. Heads and optimizer state are never read, so the
  source's heads may differ arbitrarily. `abstract_encoder_params` is the target encoder's
  pure dict (or nnx.State) of ShapeDtypeStructs with shardings on the target mesh. Checkpoint
  encoder leaves the target lacks (e.g. a pooler) are dropped with a log line; leaves the target
  needs but the checkpoint lacks, or differing shapes, are an error.
  """
  directory = epath.Path(directory)
  manager, ranked = _finalized_reader(
      directory, "the phase that writes it (the intermediate-task phase) must run, and finish at "
      "least one save, before this phase can start from its encoder.")
  if isinstance(abstract_encoder_params, nnx.State):
    abstract_encoder_params = nnx.to_pure_dict(abstract_encoder_params)
  target = {"params": {"encoder": abstract_encoder_params}}
  try:
    step = _resolve_step(manager, ranked, directory, step)
    _check_encoder(manager, directory, step, target)
    out = _restore(manager, directory, step, target, partial=True)  # skip heads, opt_state, ...
  finally:
    manager.close()
  log.info("restored the encoder of step %d of %s.", step, directory)
  return out["params"]["encoder"]


def restore_params(directory: str | epath.Path, abstract_params: Any, *,
                   step: int | str = "best") -> Any:
  """All of `params` (encoder and heads) of a checkpoint, without optimizer state: what an
  evaluation-only run needs. `abstract_params` carries the shapes and target shardings."""
  directory = epath.Path(directory)
  manager, ranked = _finalized_reader(directory, "train this phase first (mode='train').")
  if isinstance(abstract_params, nnx.State):
    abstract_params = nnx.to_pure_dict(abstract_params)
  target = {"params": abstract_params}
  try:
    step = _resolve_step(manager, ranked, directory, step)
    out = _restore(manager, directory, step, target, partial=True)  # skip opt_state, step, rng
  finally:
    manager.close()
  log.info("restored the parameters of step %d of %s.", step, directory)
  return out["params"]


def _restore(manager: ocp.CheckpointManager, directory: Any, step: int, target: Any, *,
             partial: bool) -> Any:
  """The train-state item of `step` on `target`'s shapes and shardings (`partial`: only the
  leaves `target` names), a checkpoint of per-layer blocks stacked as `target` wants."""
  per_layer = checkpoint_layers.saved_blocks(manager.item_metadata(step)[STATE_ITEM])
  read = checkpoint_layers.per_layer_target(target) if per_layer else target
  if per_layer:
    checkpoint_layers.check_depth(per_layer, target, directory, step)
    checkpoint_layers.warn(directory, step)
  args = ocp.args.PyTreeRestore(item=read, restore_args=_restore_args(read, "restore"),
                                partial_restore=partial)
  try:
    out = manager.restore(step, args=ocp.args.Composite(**{STATE_ITEM: args}))[STATE_ITEM]
  except (ValueError, KeyError, TypeError) as e:
    raise ValueError(f"cannot restore step {step} of {directory} into the given state "
                     f"structure: {e}") from e
  return checkpoint_layers.stack_restored(out, target) if per_layer else out


def _flat_shapes(tree: Any) -> dict[str, tuple[int, ...]]:
  # Keys as strings: Orbax stores nnx's integer layer indices as "0", "1", ...
  return {"/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path): tuple(x.shape)
          for path, x in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _check_encoder(manager: ocp.CheckpointManager, directory: epath.Path, step: int,
                   target: Any) -> None:
  """Compares the target encoder with the checkpoint's on-disk metadata (no array reads)."""
  tree = manager.item_metadata(step)[STATE_ITEM]
  if checkpoint_layers.saved_blocks(tree):
    checkpoint_layers.check_depth(checkpoint_layers.saved_blocks(tree), target, directory, step)
    target = checkpoint_layers.per_layer_target(target)
  target = target["params"]["encoder"]
  try:
    saved = _flat_shapes(dict(tree["params"]["encoder"]))
  except KeyError as e:
    raise ValueError(f"step {step} of {directory} has no params['encoder']; is it a "
                     "stilts_jax train-state checkpoint?") from e
  wanted = _flat_shapes(target)
  missing = sorted(set(wanted) - set(saved))
  if missing:
    raise ValueError(f"the encoder of step {step} of {directory} lacks {len(missing)} leaves the "
                     f"target needs: {missing[:8]} (e.g. a pooler for a multiple-choice head).")
  wrong = [f"{k}: saved {saved[k]}, target {wanted[k]}" for k in sorted(wanted)
           if saved[k] != wanted[k]]
  if wrong:
    raise ValueError(f"encoder shapes of step {step} of {directory} differ from the target "
                     f"(different XLMRConfig?): {wrong[:8]}.")
  dropped = sorted(set(saved) - set(wanted))
  if dropped:
    log.info("not restoring %d encoder leaves of %s the target lacks: %s", len(dropped),
             directory, dropped)

"""Each distinct train step is compiled once per process: a second phase with the same recipe (the
demo's target after each intermediate setting; a grid's targets) runs the executable the first one
compiled, and a changed recipe gets its own. Before, every phase built a new jit and recompiled the
identical program (the demo's train steps: 7 compiles of ~7 s on this CPU, 4 distinct)."""

import jax
import numpy as np
import pytest
from flax import nnx

import _pipeline_helpers as H
from stilts_jax import checkpoint, optim, steps, train
from stilts_jax import sharding as shd
from stilts_jax.models import XLMREncoder
from stilts_jax.models.hf_io import attach_heads


@pytest.fixture
def built(monkeypatch):
  """Every train step jit built from here on (the process-wide caches start empty)."""
  steps._cached_train_step.cache_clear()
  optim.make_optimizer.cache_clear()
  jits = []
  real = steps.fresh_train_step

  def recording(*args, **kwargs):
    jits.append(real(*args, **kwargs))
    return jits[-1]
  monkeypatch.setattr(steps, "fresh_train_step", recording)
  yield jits
  steps._cached_train_step.cache_clear()


def _phase(workdir):
  mesh = shd.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, devices=jax.devices()[:1])
  model = H.tiny_task_model(mesh, {"cls": ("classification", 3)}, seed=0)
  task = train.PhaseTask(head="cls", head_type="classification",
                         train_features=H.classification_features(48, seed=1))
  hp = H.phase_hp(learning_rate=1e-3, batch_size=16, max_steps=3, eval_every_steps=100,
                  log_every_steps=1, checkpoint_every_steps=100)
  return train.train_phase("compiles", model, [task], hp, mesh, workdir, seed=3, buckets=(16,))


def test_a_second_phase_with_the_same_recipe_compiles_nothing(tmp_path, built):
  first = _phase(tmp_path / "a")
  assert len(built) == 1 and built[0]._cache_size() == 1
  second = _phase(tmp_path / "b")  # a fresh model and optimizer state, the same program
  assert len(built) == 1 and built[0]._cache_size() == 1
  for a, b in zip(jax.tree.leaves(first.params), jax.tree.leaves(second.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

  # The optimizer is part of the key: another schedule is another program.
  same = dict(total_updates=3, warmup_fraction=0.1)
  assert optim.make_optimizer(learning_rate=1e-3, **same) is \
      optim.make_optimizer(learning_rate=1e-3, **same)
  assert optim.make_optimizer(learning_rate=5e-4, **same) is not \
      optim.make_optimizer(learning_rate=1e-3, **same)


def _pipeline_phase(workdir, head: str):
  """A phase as the pipeline builds it: an encoder (here made eagerly, uncommitted), a fresh head
  from `attach_heads`, a checkpoint at the end (the finiteness check runs)."""
  mesh = shd.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, devices=jax.devices()[:1])
  encoder = XLMREncoder(H.tiny_xlmr_config(), rngs=nnx.Rngs(0))
  model = attach_heads(encoder, {head: ("classification", 3)}, mesh=mesh, seed=0)
  task = train.PhaseTask(head=head, head_type="classification",
                         train_features=H.classification_features(48, seed=1))
  hp = H.phase_hp(learning_rate=1e-3, batch_size=16, max_steps=3, eval_every_steps=100,
                  log_every_steps=1, checkpoint_every_steps=100)
  return train.train_phase("compiles", model, [task], hp, mesh, workdir, seed=3, buckets=(16,))


def test_a_phase_with_another_head_name_builds_only_its_named_programs(tmp_path, built):
  """The demo's xnli target after its mnli phase: the same shapes under another head name. Only
  the programs whose trees carry the name are built again (the train step, the optimizer's
  init); the head initializer and the checkpoint's finiteness check are reused, and the train
  step is built once per phase, not again for its committed output state."""
  lowered = []

  def listener(event, seconds, **kw):
    if event == "/jax/core/compile/jaxpr_to_mlir_module_duration":
      lowered.append(kw.get("fun_name"))
  jax.monitoring.register_event_duration_secs_listener(listener)
  try:
    _pipeline_phase(tmp_path / "a", "mnli")
    first = len(lowered)
    outcome = _pipeline_phase(tmp_path / "b", "xnli")
    # The pipeline checks the best parameters again outside the loop's mesh context.
    assert checkpoint.nonfinite_leaves(outcome.params) == []
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)
  assert lowered[:first].count("jit(train_step)") == 1
  assert sorted(lowered[first:]) == ["jit(init_fn)", "jit(train_step)"]

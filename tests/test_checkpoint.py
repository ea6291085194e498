"""Orbax train-state checkpoints: round trips, retention, resharding, partial restore, safety."""

import logging
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from stilts_jax import sharding as shd
from stilts_jax.checkpoint import (Checkpointer, abstract_state, has_checkpoint, restore_encoder,
                                   restore_params)
from stilts_jax.phase_dir import PhaseDir
from stilts_jax.models import TaskModel, XLMRConfig

CFG = XLMRConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=32, max_position_embeddings=40)
SOURCE_HEADS = {"mnli": ("classification", 3)}


def _mesh(n: int):
  return shd.make_mesh(devices=jax.devices()[:n])


def _model(heads=SOURCE_HEADS, mesh=None, seed=0) -> TaskModel:
  return shd.create_sharded(lambda: TaskModel(CFG, heads, rngs=nnx.Rngs(seed)), mesh or _mesh(1))


_TX = optax.adamw(1e-3)


@jax.jit
def _shifted_params_and_opt_state(params, shift):
  params = jax.tree.map(lambda x: x + shift, params)
  # One real update so the moments are not all zeros.
  grads = jax.tree.map(lambda x: jnp.full_like(x, 0.5), params)
  _, opt_state = _TX.update(grads, _TX.init(params), params)
  return params, opt_state


def _state(model: TaskModel, step: int = 0, shift: float = 0.0) -> dict:
  """A train state as the training loop holds it; `shift` makes steps distinguishable.
  (One module-level jit: a fresh one per call would compile the same program again.)"""
  params, opt_state = _shifted_params_and_opt_state(
      nnx.to_pure_dict(nnx.state(model, nnx.Param)), jnp.float32(shift))
  return {"params": params, "opt_state": opt_state, "step": jnp.int32(step),
          "rng": jax.random.key_data(jax.random.key(step))}


@pytest.fixture(scope="module")
def source_model():
  return _model()


def _assert_identical(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    assert x.dtype == y.dtype and x.shape == y.shape
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_round_trip_async(tmp_path, source_model):
  state = _state(source_model, step=6)
  ckpt = Checkpointer(tmp_path / "run", save_interval_steps=3, async_save=True)
  assert ckpt.latest_step() is None and ckpt.best_step() is None
  assert not ckpt.should_save(4) and ckpt.should_save(6)
  assert not ckpt.save(4, state)  # not due: nothing written
  assert ckpt.save(6, state, metrics={"accuracy": jnp.float32(0.5), "loss": 1.25},
                   metadata={"phase": "intermediate", "config_hash": "abc"})
  assert not ckpt.save(6, state, force=True)  # already saved (still in flight): not again
  ckpt.wait_until_finished()
  assert ckpt.latest_step() == 6
  ckpt.close()

  fresh = Checkpointer(tmp_path / "run", save_interval_steps=3)
  restored, meta = fresh.restore(abstract_state(state))
  _assert_identical(restored, state)
  assert int(restored["step"]) == 6 and restored["rng"].dtype == jnp.uint32
  assert isinstance(restored["opt_state"][0], optax.ScaleByAdamState)
  assert meta == {"phase": "intermediate", "config_hash": "abc", "step": 6,
                  "metrics": {"accuracy": 0.5, "loss": 1.25}}
  with pytest.raises(FileNotFoundError, match="step 9"):
    fresh.restore(abstract_state(state), step=9)
  other = _state(_model({"udpos": ("tagging", 17)}))  # resuming with the wrong heads
  with pytest.raises(ValueError, match="cannot restore step 6"):
    fresh.restore(abstract_state(other))
  fresh.close()


def test_keep_latest_k_plus_best_across_restarts(tmp_path, source_model):
  state = _state(source_model)
  ckpt = Checkpointer(tmp_path, save_interval_steps=1, max_to_keep=2, best_metric="acc",
                      async_save=False)
  for step, acc in zip(range(1, 6), [0.1, 0.9, 0.3, 0.2, 0.4]):
    assert ckpt.save(step, state, metrics={"acc": acc})
  ckpt.save(6, state)  # unranked: kept only while among the latest two
  ckpt.save(7, state, metrics={"loss": 3.0})  # lacks the ranking metric: same
  assert ckpt.all_steps() == [2, 6, 7]
  assert ckpt.best_step() == 2
  ckpt.close()

  again = Checkpointer(tmp_path, save_interval_steps=1, max_to_keep=2, best_metric="acc")
  assert again.best_step() == 2 and again.latest_step() == 7
  again.close()
  with pytest.raises(ValueError, match="ranks checkpoints by 'acc'"):
    Checkpointer(tmp_path, save_interval_steps=1, best_metric="loss", best_mode="min")


def test_best_mode_min(tmp_path, source_model):
  state = _state(source_model)
  with Checkpointer(tmp_path, save_interval_steps=1, max_to_keep=1, best_metric="loss",
                    best_mode="min", async_save=False) as ckpt:
    for step, loss in [(1, 2.0), (2, 0.5), (3, float("nan")), (4, 1.0)]:
      ckpt.save(step, state, metrics={"loss": loss})
    assert ckpt.best_step() == 2 and ckpt.all_steps() == [2, 4]


def test_restore_onto_different_mesh(tmp_path, source_model):
  state = _state(source_model, step=3)  # on a 1-device mesh
  with Checkpointer(tmp_path, save_interval_steps=1) as ckpt:
    ckpt.save(3, state, force=True)
  big = _state(_model(mesh=_mesh(8), seed=1))
  target = abstract_state(big)
  with Checkpointer(tmp_path, save_interval_steps=1) as ckpt:
    restored, _ = ckpt.restore(target)
  _assert_identical(restored, state)
  for r, t in zip(jax.tree.leaves(restored), jax.tree.leaves(target)):
    assert r.sharding == t.sharding
  kernel = restored["params"]["encoder"]["layers"]["intermediate"]["kernel"]  # [L, 16, ...]
  assert len(kernel.sharding.device_set) == 8 and kernel.sharding.spec[1] == "fsdp"
  assert kernel.addressable_shards[0].data.shape[1] == 16 // 8  # each device holds its slice


def test_restore_encoder_into_model_with_other_heads(tmp_path, source_model):
  src = tmp_path / "intermediate"
  with Checkpointer(src, save_interval_steps=1, best_metric="acc", async_save=False) as ckpt:
    ckpt.save(1, _state(source_model, shift=1.0), metrics={"acc": 0.9})
    ckpt.save(2, _state(source_model, shift=2.0), metrics={"acc": 0.1})

  target = _model({"udpos": ("tagging", 17), "xnli": ("classification", 3)}, _mesh(8), seed=5)
  heads_before = nnx.to_pure_dict(nnx.state(target.heads, nnx.Param))
  abs_encoder = abstract_state(nnx.to_pure_dict(nnx.state(target.encoder, nnx.Param)))
  encoder = restore_encoder(src, abs_encoder)  # best = step 1
  expected = jax.tree.map(lambda x: x + 1.0,
                          nnx.to_pure_dict(nnx.state(source_model.encoder, nnx.Param)))
  _assert_identical(encoder, expected)
  for r, t in zip(jax.tree.leaves(encoder), jax.tree.leaves(abs_encoder)):
    assert r.sharding == t.sharding
  latest = restore_encoder(src, nnx.state(target.encoder, nnx.Param), step="latest")
  np.testing.assert_array_equal(
      np.asarray(latest["embeddings"]["word_embeddings"]["embedding"]),
      np.asarray(source_model.encoder.embeddings.word_embeddings.embedding[...]) + 2.0)

  # How the trainer installs it: the heads stay as they were.
  params = nnx.state(target.encoder, nnx.Param)
  nnx.replace_by_pure_dict(params, encoder)
  nnx.update(target.encoder, params)
  _assert_identical(nnx.to_pure_dict(nnx.state(target.encoder, nnx.Param)), expected)
  _assert_identical(nnx.to_pure_dict(nnx.state(target.heads, nnx.Param)), heads_before)


def test_restore_encoder_errors(tmp_path, source_model):
  with pytest.raises(FileNotFoundError, match=r"nope.*must run"):
    restore_encoder(tmp_path / "nope", {})
  with Checkpointer(tmp_path / "src", save_interval_steps=1) as ckpt:
    ckpt.save(1, _state(source_model), force=True)
  # A multiple-choice head needs the pooler, which the source encoder never had.
  mc = _model({"copa": ("multiple_choice", 1)})
  with pytest.raises(ValueError, match="lacks .*pooler"):
    restore_encoder(tmp_path / "src", abstract_state(nnx.state(mc.encoder, nnx.Param)))
  with pytest.raises(FileNotFoundError, match="step 5"):
    restore_encoder(tmp_path / "src", {}, step=5)


def test_uncommitted_checkpoint_is_ignored(tmp_path, source_model):
  state = _state(source_model, step=1)
  with Checkpointer(tmp_path / "run", save_interval_steps=1, async_save=False) as ckpt:
    ckpt.save(1, state)
  # A save killed mid-write leaves Orbax's temporary directory behind, half filled.
  partial = tmp_path / "run" / "2.orbax-checkpoint-tmp-1700000000"
  shutil.copytree(tmp_path / "run" / "1", partial)
  shutil.rmtree(partial / "state" / "d", ignore_errors=True)
  (partial / "commit_success.txt").unlink(missing_ok=True)
  with Checkpointer(tmp_path / "run", save_interval_steps=1) as ckpt:
    assert ckpt.latest_step() == 1 and ckpt.all_steps() == [1]
    restored, meta = ckpt.restore(abstract_state(state))
  assert meta["step"] == 1
  _assert_identical(restored, state)
  # A workdir holding only an interrupted save has nothing to resume from.
  only_tmp = tmp_path / "only_tmp"
  only_tmp.mkdir()
  shutil.copytree(partial, only_tmp / "5.orbax-checkpoint-tmp-1700000001")
  assert not has_checkpoint(only_tmp)
  phase = tmp_path / "phase"
  shutil.copytree(only_tmp, phase / "checkpoints")
  assert PhaseDir(phase).start_source() == "pretrained"


def test_uncommitted_checkpoint_is_ignored_with_commit_files(tmp_path, source_model, monkeypatch):
  """GCS semantics: the step directory is written in place and `commit_success.txt` comes last."""
  from orbax.checkpoint._src.path import atomicity, atomicity_defaults
  for name in ("get_default_temporary_path_class", "get_item_default_temporary_path_class"):
    monkeypatch.setattr(atomicity_defaults, name, lambda *a, **k: atomicity.CommitFileTemporaryPath)
  state = _state(source_model, step=1)
  with Checkpointer(tmp_path, save_interval_steps=1, async_save=False) as ckpt:
    ckpt.save(1, state)
  assert (tmp_path / "1" / "commit_success.txt").exists()
  shutil.copytree(tmp_path / "1", tmp_path / "2")  # a copy of step 1 minus the commit marker
  (tmp_path / "2" / "commit_success.txt").unlink()
  with Checkpointer(tmp_path, save_interval_steps=1) as ckpt:
    assert ckpt.all_steps() == [1]
    assert ckpt.restore(abstract_state(state))[1]["step"] == 1


def test_nonfinite_params_are_not_saved(tmp_path, source_model):
  state = _state(source_model)
  bad = dict(state, params=jax.tree.map(lambda x: x, state["params"]))
  bad["params"]["heads"]["mnli"]["out_proj"]["bias"] = jnp.array([0.0, jnp.nan, 1.0])
  with Checkpointer(tmp_path, save_interval_steps=1, async_save=False) as ckpt:
    ckpt.save(5, state)
    with pytest.raises(ValueError, match=r"step 7.*heads.*mnli.*out_proj.*bias"):
      ckpt.save(7, bad, force=True)
    assert ckpt.all_steps() == [5]
    with pytest.raises(TypeError, match="key_data"):
      ckpt.save(8, dict(state, rng=jax.random.key(0)))


def test_preemption_is_false_single_process(tmp_path):
  with Checkpointer(tmp_path, save_interval_steps=10) as ckpt:
    assert ckpt.reached_preemption(3) is False


def test_should_save_decides_as_orbax(tmp_path, monkeypatch):
  """The loop's per-step check is plain arithmetic; it must agree with Orbax's save policies
  (interval steps after the last saved one, the preemption step) before and after saves."""
  from stilts_jax import checkpoint
  state = {"params": {"w": jnp.ones((2,))}, "step": jnp.int32(0)}
  with Checkpointer(tmp_path, save_interval_steps=4, async_save=False) as ckpt:
    def agree(steps):
      assert [s for s in steps if ckpt.should_save(s)] == [
          s for s in steps if ckpt.manager.should_save(s)]
      return [s for s in steps if ckpt.should_save(s)]
    assert agree(range(1, 13)) == [4, 8, 12]
    assert ckpt.save(8, state) is True
    assert agree(range(1, 13)) == [12]  # not again, nor an earlier interval step
    monkeypatch.setattr(checkpoint._SIGTERM_RECEIVED, "is_set", lambda: True)
    assert ckpt.should_save(9) is True  # a preemption notice: save at the next step
    assert ckpt.interval_due(9) is False and ckpt.interval_due(12) is True  # the interval alone


SIGTERM_TWICE = """
import os, signal, sys, time
from stilts_jax import checkpoint
checkpoint.handle_sigterm()
with checkpoint.Checkpointer(sys.argv[1], save_interval_steps=10) as ckpt:
  before = ckpt.reached_preemption(1)
  os.kill(os.getpid(), signal.SIGTERM)
  time.sleep(0.2)  # Python runs the handler between bytecodes of the main thread
  print("after one SIGTERM:", before, ckpt.reached_preemption(2), flush=True)
  os.kill(os.getpid(), signal.SIGTERM)
  time.sleep(5)
  print("still running after two", flush=True)
"""


def test_sigterm_is_a_preemption_notice_and_a_second_one_stops_at_once(tmp_path):
  """A single process (main without --distributed): the first SIGTERM makes the next
  reached_preemption true (the loop saves, the CLI exits 75); a second stops the process now, as
  a user's repeated `kill` expects, even where no training step comes (evaluation)."""
  import subprocess
  import sys
  proc = subprocess.run([sys.executable, "-c", SIGTERM_TWICE, str(tmp_path / "ckpt")],
                        capture_output=True, text=True, timeout=120)
  assert "after one SIGTERM: False True" in proc.stdout, proc.stdout + proc.stderr[-3000:]
  assert "SIGTERM: saving a checkpoint after this training step" in proc.stderr
  assert "still running" not in proc.stdout and proc.returncode == -15, proc.returncode


def test_start_up_order_own_checkpoint_then_previous_phase_then_pretrained(tmp_path, source_model):
  own, prev = PhaseDir(tmp_path / "own"), PhaseDir(tmp_path / "prev")
  assert own.start_source() == "pretrained"
  assert not own.path.exists()  # asking never creates the phase folder
  with pytest.raises(FileNotFoundError, match="prev/checkpoints: run that phase first"):
    own.start_source(prev)
  state = _state(source_model)
  with Checkpointer(prev.train_states, save_interval_steps=1) as ckpt:
    ckpt.save(1, state)
  assert own.start_source(prev) == "previous_phase"
  # A previous phase pruned to its best parameters still hands over.
  prev.keep_best_params_only(state["params"], step=1, score=None)
  assert not prev.train_states.exists() and prev.checkpoints() == prev.best_params
  assert own.start_source(prev) == "previous_phase"
  with Checkpointer(own.train_states, save_interval_steps=1) as ckpt:
    ckpt.save(1, state)
  assert own.start_source(prev) == "resume"
  assert own.start_source() == "resume"
  # A trained phase (pruned to best_params) resumes from those.
  own.keep_best_params_only(state["params"], step=1, score=None)
  assert own.is_trained() and own.start_source(prev) == "resume"


def test_keep_best_params_only_drops_optimizer_states_and_other_steps(tmp_path):
  """After a phase: only its best params stay (no Adam moments, no other steps), readable by the
  hand-off and by mode=eval; a second call (a relaunch) changes nothing."""
  from stilts_jax.checkpoint import restore_params
  import _pipeline_helpers as H
  model = _model()
  phase = tmp_path / "phase"
  phase_dir = PhaseDir(phase)
  with Checkpointer(phase / "checkpoints", save_interval_steps=1, best_metric="score") as ckpt:
    for step, score in ((1, 0.5), (2, 0.9), (3, 0.7)):
      ckpt.save(step, _state(model, step, shift=step), metrics={"score": score}, force=True)
  assert phase_dir.checkpoints() == phase / "checkpoints" and not phase_dir.is_trained()
  best = _state(model, 2, shift=2)["params"]
  for _ in range(2):
    phase_dir.keep_best_params_only(best, step=2, score=0.9)
  assert not (phase / "checkpoints").exists()
  assert phase_dir.checkpoints() == phase / "best_params" and phase_dir.is_trained()
  assert sorted(p.name for p in (phase / "best_params").iterdir() if p.name != "metadata") == ["2"]
  assert set(H.read_state(phase / "best_params" / "2")) == {"params"}
  abstract = abstract_state(nnx.to_pure_dict(nnx.state(_model(seed=1), nnx.Param)))
  restored = restore_params(phase / "best_params", abstract, step="best")
  for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(best)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  encoder = restore_encoder(phase_dir.checkpoints(), abstract["encoder"], step="best")
  np.testing.assert_array_equal(
      np.asarray(jax.tree.leaves(encoder)[0]), np.asarray(jax.tree.leaves(best["encoder"])[0]))


def test_checkpoints_on_gcs_rank_prune_and_restore(gcs):
  """On an object store (GCS emulator): ranking metadata, retention and the best-params pruning.
  GCS has no directories; Orbax's root metadata used to fail there ("Root Metadata directory is
  not initialized") because gcsfs's mkdir creates nothing."""
  from etils import epath

  from stilts_jax.checkpoint import restore_params
  bucket = gcs.create_bucket()
  phase = epath.Path(f"gs://{bucket}/phase")
  phase_dir = PhaseDir(phase)
  model = _model()
  with Checkpointer(phase / "checkpoints", save_interval_steps=1, best_metric="score") as ckpt:
    for step, score in ((1, 0.5), (2, 0.9), (3, 0.1)):
      ckpt.save(step, _state(model, step, shift=step), metrics={"score": score}, force=True)
  with Checkpointer(phase / "checkpoints", save_interval_steps=1, best_metric="score") as ckpt:
    assert ckpt.best_step() == 2 and ckpt.all_steps() == [2, 3]
  best = _state(model, 2, shift=2)["params"]
  phase_dir.keep_best_params_only(best, step=2, score=0.9)
  assert phase_dir.checkpoints() == phase / "best_params"
  assert not [o for o in gcs.objects(bucket) if "/checkpoints/" in o]
  abstract = abstract_state(nnx.to_pure_dict(nnx.state(_model(seed=1), nnx.Param)))
  restored = restore_params(phase_dir.checkpoints(), abstract, step="best")
  for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(best)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# ----------------------------------------------------------------------------------------------
# Checkpoints of per-block parameters (written before the blocks were stacked) restore stacked.

LAYERED_CFG = XLMRConfig(vocab_size=50, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=40)


def _per_layer(tree):
  """`tree` as the old code held it: under every `layers` key, {0: block 0, 1: block 1, ...}."""
  def split(node):
    if not (isinstance(node, dict) and "layers" in node):
      return node
    n = jax.tree.leaves(node["layers"])[0].shape[0]
    return {**node, "layers": {i: jax.tree.map(lambda a, i=i: a[i], node["layers"])
                               for i in range(n)}}
  return jax.tree.map(split, tree, is_leaf=lambda x: isinstance(x, dict) and "layers" in x)


@pytest.fixture(scope="module")
def layered_state():
  model = shd.create_sharded(
      lambda: TaskModel(LAYERED_CFG, SOURCE_HEADS, rngs=nnx.Rngs(0)), _mesh(1))
  params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
  grads = jax.tree.map(lambda x: jnp.full_like(x, 0.5), params)
  _, opt_state = _TX.update(grads, _TX.init(params), params)  # moments that are not all zeros
  return {"params": params, "opt_state": opt_state, "step": jnp.int32(4),
          "rng": jax.random.key_data(jax.random.key(4))}


def _on_mesh(tree, mesh):
  """The abstract of `tree` sharded over `mesh` as the pipeline would shard it (fsdp on embed)."""
  enc_abs = nnx.state(nnx.eval_shape(
      lambda: TaskModel(LAYERED_CFG, SOURCE_HEADS, rngs=nnx.Rngs(0))), nnx.Param)
  specs = nnx.to_pure_dict(shd.state_specs(enc_abs, mesh))
  shardings = jax.tree.map(lambda s: jax.sharding.NamedSharding(mesh, s), specs,
                           is_leaf=lambda x: isinstance(x, jax.sharding.PartitionSpec))
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                      tree, shardings)


def test_a_per_layer_checkpoint_restores_stacked_everywhere(tmp_path, layered_state, caplog):
  """The train state (params and Adam's moments), the hand-over encoder and eval-only params, each
  read from a checkpoint written in the old layout, equal the stacked state, also on a new mesh."""
  with Checkpointer(tmp_path / "old", save_interval_steps=1, async_save=False) as ckpt:
    ckpt.save(4, _per_layer(layered_state), force=True)

  with caplog.at_level(logging.WARNING), Checkpointer(tmp_path / "old",
                                                       save_interval_steps=1) as ckpt:
    restored, meta = ckpt.restore(abstract_state(layered_state))
  _assert_identical(restored, layered_state)
  assert meta["step"] == 4 and "before blocks were stacked" in caplog.text

  mesh = shd.make_mesh({"fsdp": 4}, devices=jax.devices()[:4])
  target = _on_mesh(layered_state["params"], mesh)
  encoder = restore_encoder(tmp_path / "old", target["encoder"], step="latest")
  _assert_identical(encoder, layered_state["params"]["encoder"])
  kernel = encoder["layers"]["intermediate"]["kernel"]  # [3, 16, 32]: embed split over 4 devices
  assert kernel.sharding.spec == jax.sharding.PartitionSpec(None, "fsdp", None)
  assert {s.data.shape for s in kernel.addressable_shards} == {(3, 4, 32)}
  _assert_identical(restore_params(tmp_path / "old", target, step="latest"),
                    layered_state["params"])


def test_a_stacked_checkpoint_restores_without_conversion(tmp_path, layered_state, caplog):
  with Checkpointer(tmp_path / "new", save_interval_steps=1, async_save=False) as ckpt:
    ckpt.save(4, layered_state, force=True)
  with caplog.at_level(logging.WARNING), Checkpointer(tmp_path / "new",
                                                       save_interval_steps=1) as ckpt:
    restored, _ = ckpt.restore(abstract_state(layered_state))
  _assert_identical(restored, layered_state)
  assert "before blocks were stacked" not in caplog.text


def test_a_per_layer_checkpoint_of_another_depth_is_refused(tmp_path, layered_state):
  """3 saved blocks into a 2-block model: an error naming both depths, not the first 2 blocks."""
  with Checkpointer(tmp_path / "old", save_interval_steps=1, async_save=False) as ckpt:
    ckpt.save(4, _per_layer(layered_state), force=True)
  shallow = {**layered_state["params"], "encoder": {
      **layered_state["params"]["encoder"],
      "layers": jax.tree.map(lambda x: x[:2], layered_state["params"]["encoder"]["layers"])}}
  for restore in (restore_params, lambda d, t, step: restore_encoder(d, t["encoder"], step=step)):
    with pytest.raises(ValueError, match="has 3 encoder blocks; the target has 2"):
      restore(tmp_path / "old", abstract_state(shallow), step="latest")

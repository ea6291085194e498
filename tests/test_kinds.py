"""Task kinds (stilts_jax/kinds/): every task type has one registered kind, and a new kind is one
declaration. A toy regression kind, declared only here, trains through the pipeline's own train
step and is predicted through its evaluation stream, with no change to any other module."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import _pipeline_helpers as H
from stilts_jax import evaluate, optim, steps
from stilts_jax import sharding as shd
from stilts_jax.kinds import KINDS, Kind, get_kind, register_kind
from stilts_jax.models import TaskModel, heads
from stilts_jax.models.xlmr import Dense
from stilts_jax.tasks import TaskType


def test_every_task_type_has_a_kind_and_unknown_names_are_refused():
  assert {t.value for t in TaskType} <= set(KINDS)
  for name, kind in KINDS.items():
    assert kind.name == name and set(kind.train_keys) <= {
        "input_ids", "attention_mask", "label", "labels", "start_positions", "end_positions"}
    if kind.head is not None:  # the head TaskModel builds is the kind's own
      assert heads.HEAD_TYPES[name] is kind.head
  with pytest.raises(ValueError, match="unknown task kind 'tagger'; known: classification, mlm"):
    get_kind("tagger")
  with pytest.raises(ValueError, match="'tagging' is already registered"):
    register_kind(Kind(name="tagging", train_keys=()))


class RegressionHead(nnx.Module):
  """One number per example, from the `<s>` token."""
  uses_pooler = False

  def __init__(self, cfg, num_labels, rngs):
    del num_labels
    self.out = Dense(cfg.hidden_size, 1, ("embed", None), cfg, rngs)

  def __call__(self, out, dropout, encoder):
    return self.out(out.last_hidden_state[:, 0])[:, 0]


def _squared_error(outputs, batch, rows):
  return (((outputs - batch["target"]) ** 2) * rows).sum(), rows.sum()


TOY = Kind(name="toy_regression", train_keys=("input_ids", "attention_mask", "target"),
           loss=_squared_error, predict=lambda outputs: {"value": outputs.astype(jnp.float32)},
           head=RegressionHead)


@pytest.fixture
def toy_kind():
  register_kind(TOY)
  yield TOY
  del KINDS[TOY.name], heads.HEAD_TYPES[TOY.name]


def test_a_new_kind_is_one_declaration(toy_kind):
  mesh = shd.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, devices=jax.devices()[:1])
  cfg = H.tiny_xlmr_config().replace(num_hidden_layers=1)
  model = shd.create_sharded(lambda: TaskModel(cfg, {"r": (toy_kind.name, 1)}, rngs=nnx.Rngs(0)),
                             mesh)
  graphdef, params = nnx.split(model, nnx.Param)
  params = nnx.to_pure_dict(params)
  rng = np.random.default_rng(0)
  ids = rng.integers(3, 64, size=(8, 12)).astype(np.int32)
  ids[:, 0] = 0
  batch = {"input_ids": ids, "attention_mask": np.ones_like(ids),
           "target": (ids[:, 1] % 2).astype(np.float32)}  # learnable from the second token

  tx = optim.make_optimizer(learning_rate=1e-2, total_updates=20, warmup_fraction=0.0)
  state = {"params": params, "opt_state": tx.init(params), "step": jnp.int32(0),
           "rng": jax.random.key_data(jax.random.key(0))}
  train_step = steps.fresh_train_step(graphdef, tx, {"r": toy_kind.name})
  losses = []
  for _ in range(20):
    state, metrics = train_step(state, {k: batch[k] for k in toy_kind.train_keys}, "r")
    losses.append(float(metrics["loss"]))
  assert np.isfinite(losses).all() and np.mean(losses[-4:]) < 0.5 * np.mean(losses[:4]), losses

  # Evaluation: the kind's predictions through the bucketed, length-sorted stream come back in row
  # order, equal to the model's own outputs (one bucket, padding rows included).
  predict = steps.fresh_predict_step(graphdef, {"r": toy_kind.name})
  lengths = rng.integers(4, 13, size=8)
  mask = (np.arange(12)[None] < lengths[:, None]).astype(np.int32)
  inputs = {"input_ids": ids * mask + (1 - mask), "attention_mask": mask}
  out = evaluate.Evaluator(mesh, 3, (12,)).stream(
      inputs, lambda b: predict(state["params"], b, head="r"))
  direct = nnx.merge(graphdef, state["params"])("r", jnp.asarray(inputs["input_ids"]),
                                                jnp.asarray(inputs["attention_mask"]))
  np.testing.assert_allclose(out["value"], np.asarray(direct), rtol=1e-5, atol=1e-5)

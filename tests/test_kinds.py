"""Task kinds (stilts_jax/kinds/): every task type has one registered kind, and a new kind is one
declaration. A toy regression kind, declared only here (its head, loss, predictions, scoring and
featurizer), trains through the pipeline's own train step, is predicted through its evaluation
stream, and runs as a target task through the whole pipeline and its report, with no change to any
other module."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import _pipeline_helpers as H
from stilts_jax import evaluate, metrics, optim, steps
from stilts_jax import sharding as shd
from stilts_jax.examples import PairExample
from stilts_jax.features import dispatch
from stilts_jax.features.classification import featurize_pairs
from stilts_jax.kinds import KINDS, Kind, get_kind, register_kind
from stilts_jax.models import TaskModel, heads
from stilts_jax.models.xlmr import Dense
from stilts_jax.tasks import TaskType, get_task, registry


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


class RegressionHead(heads.Head):
  """One number per example, from the `<s>` token (no transformers model: not exportable)."""

  def __init__(self, cfg, num_labels, rngs):
    del num_labels
    self.out = Dense(cfg.hidden_size, 1, ("embed", None), cfg, rngs)

  def __call__(self, out, dropout, encoder):
    return self.out(out.last_hidden_state[:, 0])[:, 0]


def _squared_error(outputs, batch, rows):
  """The label's index is the regression target (NLI: 0 entailment, 1 neutral, 2 contradiction)."""
  return (((outputs - batch["label"].astype(jnp.float32)) ** 2) * rows).sum(), rows.sum()


def _score_rounded(spec, part, outputs):
  """Accuracy of the nearest label index; the predictions are label names."""
  names = part.loaded.label_names or spec.labels
  examples = part.loaded.examples
  value = np.zeros(len(examples), np.float32)
  value[part.features["example_index"]] = outputs["value"]
  pred = np.clip(np.rint(value), 0, len(names) - 1).astype(int)
  return ({"accuracy": metrics.accuracy([e.label for e in examples], pred.tolist())},
          [names[p] for p in pred])


TOY = Kind(name="toy_regression", train_keys=("input_ids", "attention_mask", "label"),
           loss=_squared_error, predict=lambda outputs: {"value": outputs.astype(jnp.float32)},
           score=_score_rounded, output_pad={"value": 0.0}, head=RegressionHead,
           featurizer=dispatch.Featurizer("pairs_for_regression", featurize_pairs, PairExample,
                                          "num_labels"))


@pytest.fixture
def toy_kind():
  register_kind(TOY)
  yield TOY
  del KINDS[TOY.name], heads.HEAD_TYPES[TOY.name], dispatch.FEATURIZERS[TOY.name]


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
           "label": (ids[:, 1] % 2).astype(np.int32)}  # learnable from the second token

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


@pytest.fixture
def toy_task(toy_kind):
  """An NLI task of the toy kind on XNLI's sources and languages (the demo's data serves it)."""
  import dataclasses
  xnli = get_task("xnli")
  spec = registry.register_task(dataclasses.replace(
      xnli, name="toy_nli", task_type=toy_kind.name, benchmark="", title="Toy NLI regression"))
  yield spec
  del registry._TASKS[spec.name]


def test_a_new_kind_runs_through_the_pipeline_and_its_report(toy_task, tmp_path_factory):
  from stilts_jax import pipeline
  from stilts_jax.demo import assets as demo_assets
  assets = H.demo_assets(tmp_path_factory.mktemp("assets"))
  workdir = H.seed_workdir(tmp_path_factory.mktemp("toy") / "run", assets)
  config = H.load_config_module("demo").get_config()
  base = H.load_config_module("base")
  config.intermediates = ("none",)
  config.targets = (toy_task.name,)
  config.data.train_limit, config.data.eval_limit = 256, 48
  config.data.buckets = (64,)
  with config.unlocked():
    config.target_train[toy_task.name] = base.phase(epochs=1, batch_size=16, max_length=64)
    config.eval.languages[toy_task.name] = "en,de"
  config.target_train[toy_task.name].update(learning_rate=1e-3, eval_every_steps=8,
                                            log_every_steps=4, eval_subset=48, eval_batch_size=16)
  demo_assets.prepare(config, workdir)  # as the CLI does for a demo config
  rows = pipeline.run(config, workdir)

  assert {(r["target"], r["language"], r["split"], r["metric"]) for r in rows} == {
      (toy_task.name, lang, split, "accuracy") for lang in ("en", "de")
      for split in ("validation", "test")}
  assert all(0 <= r["value"] <= 100 for r in rows)
  preds = H.read_jsonl(workdir / "predictions" / "none" / toy_task.name / "validation-de.jsonl")
  assert len(preds) == 48 and {p["prediction"] for p in preds} <= set(toy_task.labels)
  # The report: the XTREME table stays empty, the new target gets its own table (validation).
  report = (workdir / "results.md").read_text()
  mean = np.mean([r["value"] for r in rows if r["split"] == "validation"])
  assert "| intermediate | Toy NLI regression |" in report, report
  assert f"| none (XLM-R) | {mean:.1f}* |" in report, report

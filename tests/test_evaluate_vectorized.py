"""The vectorized multilingual evaluation (evaluate.run_stream / evaluate_parts /
evaluate_retrieval_task) against plain references: a per-language loop, other meshes, and the
compile count of the predict step.

Every task of tests/_evaluate_helpers.PARTS (XNLI, PAN-X, UD-POS, XQuAD, MLQA, Tatoeba, BUCC in
both its Hub and original-files forms) is evaluated with a tiny random model; metric values are
meaningless, but they and the per-example predictions must be identical whatever the strategy.
"""

import dataclasses

import jax
import numpy as np
import pytest
from flax import nnx

import _evaluate_helpers as H
from stilts_jax import evaluate, steps
from stilts_jax.data import choose_bucket, real_lengths, resolve_buckets
from stilts_jax.tasks import get_task


@pytest.fixture(scope="module")
def parts(tmp_path_factory, tokenizer):
  return H.cached_parts(tmp_path_factory, tokenizer)


@pytest.fixture(scope="module")
def reference(parts):
  return H.reference_results(parts)


def _examples(part) -> int:
  return len(part.loaded.examples)


def test_fixture_parts_exercise_the_hard_cases(parts):
  """Preconditions of the comparisons below (they would prove little otherwise)."""
  for task, task_parts in parts.items():
    sizes = [H.feature_rows(p) for p in task_parts]
    assert len(set(sizes)) > 1, f"{task}: languages should differ in size, got {sizes}"
    assert sum(sizes) % H.GLOBAL_BATCH, f"{task}: the last batch should hold padding rows"
  for task in ("xquad", "mlqa"):
    windows = [p.rows / _examples(p) for p in parts[task]]
    assert max(windows) >= 5, f"{task}: contexts should take several windows, got {windows}"
  assert {p.loaded.source_kind for p in parts["bucc2018"]} == {"hub_gold_pairs"}
  original = parts["bucc2018@original"]
  assert {p.loaded.source_kind for p in original} == {"bucc_original_files"}
  # The original corpora hold sentences outside the gold pairs (mining must reject them).
  assert any(len(p.loaded.retrieval.target) > len(p.loaded.retrieval.gold) for p in original)
  # XNLI rows fall in both length buckets (QA and tagging use max_length 32 = one bucket).
  lengths = real_lengths(evaluate.concat_parts(parts["xnli"]))
  assert {choose_bucket(int(n), H.BUCKETS) for n in lengths} == set(H.BUCKETS)


def test_reference_covers_every_example_once(parts, reference):
  for task, task_parts in parts.items():
    if task in reference["rows"]:  # predicted through the model: every feature row exactly once
      assert reference["rows"][task] == sum(p.rows for p in task_parts), task
      for p in task_parts:
        preds = reference[task][f"{p.split}/{p.language}"]["predictions"]
        assert len(preds) == _examples(p), (task, p.language)
    else:
      got = {k.rsplit("/", 1)[0] for k in reference[task]}
      assert got == {f"{p.split}/{p.language}" for p in task_parts}, task
  # The model's outputs depend on the input (else mis-joined rows would go unnoticed).
  xnli = [pred for r in reference["xnli"].values() for _, pred in r["predictions"]]
  assert len(set(xnli)) > 1, xnli


@pytest.mark.parametrize("task", list(H.PARTS))
def test_vectorized_equals_per_language_loop(parts, reference, task):
  mesh, model, predict = H.setup_for(None)
  looped = H.run_tasks(model, {task: parts[task]}, mesh, per_language=True, predict=predict)
  assert looped[task] == reference[task]


@pytest.mark.parametrize("shape", [{"data": 2, "fsdp": 4}, {"fsdp": 8}],
                         ids=["data2xfsdp4", "fsdp8"])
def test_eight_devices_equal_one_device(parts, reference, shape):
  mesh, model, predict = H.setup_for(shape)
  assert mesh.devices.size == 8
  assert any(len(v.sharding.device_set) == 8 and not v.sharding.is_fully_replicated
             for v in jax.tree.leaves(H.predict_step_for(model)[1])), "params should be sharded"
  got = H.run_tasks(model, parts, mesh, predict=predict)
  assert got["rows"] == reference["rows"]  # every feature row fed exactly once (padding masked)
  for task in parts:
    assert got[task] == reference[task], task


@pytest.mark.parametrize("shape", [None, {"data": 2, "fsdp": 4}, {"fsdp": 8}],
                         ids=["1dev", "data2xfsdp4", "fsdp8"])
def test_stream_returns_each_row_in_input_order(parts, shape):
  H.check_echo(parts, H.echo_stream(parts, H.mesh_for(shape)))


def _count_traces(monkeypatch, name: str, batch_arg: int) -> list:
  """Shapes seen by steps.`name` while tracing (a jitted step calls it once per compilation)."""
  shapes = []
  original = getattr(steps, name)

  def counting(*args, **kwargs):
    shapes.append(tuple(args[batch_arg]["input_ids"].shape))
    return original(*args, **kwargs)

  monkeypatch.setattr(steps, name, counting)
  return shapes


def _buckets_used(task_parts, global_batch: int, buckets) -> set[int]:
  """The bucket of each global batch of the length-sorted stream (what should be compiled)."""
  inputs = evaluate.concat_parts(task_parts)
  lengths = np.sort(real_lengths(inputs))
  buckets = resolve_buckets(buckets, inputs["input_ids"].shape[-1])
  return {choose_bucket(int(lengths[i:i + global_batch].max()), buckets)
          for i in range(0, len(lengths), global_batch)}


def test_predict_step_compiles_once_per_bucket_not_per_language(parts, monkeypatch):
  traces = _count_traces(monkeypatch, "predictions", 3)
  mesh, model, _ = H.setup_for(None)
  predict, params = H.predict_step_for(model)  # a fresh jit: nothing compiled yet
  # Small batches and fine buckets: the stream's 7 batches span several buckets.
  gbs, buckets = 2, (16, 32, 48, 64)
  xnli = parts["xnli"]
  used = _buckets_used(xnli, gbs, buckets)
  assert 1 < len(used) < len({p.language for p in xnli})
  run = lambda head, ps, step: evaluate.Evaluator(mesh, gbs, buckets).parts(get_task(head), ps, step)
  step = H.CountingStep(predict, params, "xnli")
  run("xnli", xnli, step)
  assert {s[1] for s in step.shapes} == used
  assert predict._cache_size() == len(traces) == len(used)
  assert step.keys == set(evaluate.MODEL_INPUTS)  # row mask and index stay on the host

  # A second evaluation reuses the compiled steps.
  run("xnli", xnli, step)
  assert predict._cache_size() == len(traces) == len(used)

  # Another head is another static argument: its own buckets, nothing per language.
  run("panx", parts["panx"], H.CountingStep(predict, params, "panx"))
  assert predict._cache_size() == len(traces) == len(used) + len(
      _buckets_used(parts["panx"], gbs, buckets))


def test_embed_step_compiles_once_per_bucket_across_retrieval_tasks(parts, monkeypatch):
  traces = _count_traces(monkeypatch, "sentence_embeddings", 1)
  steps.make_embed_step.cache_clear()  # earlier tests compiled this encoder's step already
  mesh, model, _ = H.setup_for(None)
  sides = lambda ps: [dataclasses.replace(p, features=p.features[s])
                      for p in ps for s in ("source", "target")]
  for task in ("tatoeba", "bucc2018", "tatoeba"):  # the second Tatoeba run compiles nothing
    spec = get_task(task)
    evaluate.Evaluator(mesh, H.GLOBAL_BATCH, H.BUCKETS).retrieval(
        spec, parts[task], model.encoder, layer=H.RETRIEVAL_LAYER)
  used = (_buckets_used(sides(parts["tatoeba"]), H.GLOBAL_BATCH, H.BUCKETS)
          | _buckets_used(sides(parts["bucc2018"]), H.GLOBAL_BATCH, H.BUCKETS))
  assert sorted(s[1] for s in traces) == sorted(used)


def _without_gold(part, tagging: bool):
  examples = tuple(dataclasses.replace(e, **({"labels": None} if tagging else {"label": None}))
                   for e in part.loaded.examples)
  return dataclasses.replace(part, loaded=dataclasses.replace(part.loaded, examples=examples))


@pytest.mark.parametrize("task", ["xnli", "panx"])
def test_part_without_gold_labels_raises_clearly(parts, task):
  import jax.numpy as jnp
  spec = get_task(task)
  part = _without_gold(parts[task][1], tagging=task == "panx")
  # Outputs of the right shape: the error must come from the missing gold, not from them.
  step = lambda b: {"pred": jnp.zeros(b["input_ids"].shape[:1 if task == "xnli" else 2],
                                      jnp.int32)}
  with pytest.raises(ValueError, match=f"{task} {part.split}/{part.language} has no gold labels"):
    evaluate.Evaluator(H.mesh_for(None), H.GLOBAL_BATCH, H.BUCKETS).parts(
        spec, [parts[task][0], part], step)


RESULT_METRICS = {"xnli": {"accuracy"}, "panx": {"f1"}, "udpos": {"f1"},
                  "xquad": {"exact_match", "f1"}, "mlqa": {"exact_match", "f1"},
                  "tatoeba": {"accuracy"}, "bucc2018": {"f1", "precision", "recall"},
                  "bucc2018@original": {"f1", "precision", "recall"}}
TIDY = {"intermediate", "target", "language", "split", "metric", "value"}


def _cheap_step(task_type: str):
  """Deterministic outputs of the right shapes without a model (the schema does not need one)."""
  import jax.numpy as jnp

  def step(b):
    ids = b["input_ids"]
    if task_type == "classification":
      return {"pred": ids[:, 1] % 3}
    if task_type == "tagging":
      return {"pred": ids % 3}
    return {"start_logits": ids.astype(jnp.float32), "end_logits": -ids.astype(jnp.float32)}

  return step


def test_result_rows_are_tidy(parts, reference):
  mesh = H.mesh_for(None)
  for task in ("xnli", "panx", "udpos", "xquad", "mlqa"):
    spec = get_task(task)
    results = evaluate.Evaluator(mesh, H.GLOBAL_BATCH, H.BUCKETS).parts(
        spec, parts[task], _cheap_step(spec.task_type))
    rows = evaluate.result_rows(task, results, intermediate="mnli", seed=3)
    assert all(TIDY | {"seed", "data"} == set(r) for r in rows), rows[0]
    # Each row says what its score was computed on: the examples of that language, no skips.
    for part in (r.part for r in results):
      assert {r["data"]["examples"] for r in rows if r["language"] == part.language
              and r["split"] == part.split} == {len(part.loaded.examples)}
    assert {r["metric"] for r in rows} == RESULT_METRICS[task]
    keys = [(r["language"], r["split"], r["metric"]) for r in rows]
    assert len(keys) == len(set(keys)) == len(parts[task]) * len(RESULT_METRICS[task])
    assert all(r["target"] == task and r["intermediate"] == "mnli" for r in rows)
    assert all(isinstance(r["value"], float) and 0 <= r["value"] <= 100 for r in rows)
  for task in ("tatoeba", "bucc2018", "bucc2018@original"):
    rows = list(reference[task].values())
    assert all(TIDY <= set(r) and r["intermediate"] == "mnli" for r in rows)
    assert all(r["data"]["examples"] > 0 and r["data"]["skipped"] == {} for r in rows)
    assert {r["metric"] for r in rows} == RESULT_METRICS[task]
    assert all(r["target"] == H.spec_name(task) for r in rows)


def test_predict_steps_are_shared_by_models_of_one_structure():
  """Phases with the same model structure (the dev evaluations of a phase, its final evaluation,
  the same target after another intermediate setting) reuse one jitted predict step, so each
  bucket compiles once per run, not once per phase."""
  mesh, model, _ = H.setup_for(None)
  graphdef, _ = nnx.split(model, nnx.Param)
  other_model = H.make_model(mesh)  # a second model, same structure
  assert other_model is not model
  other, _ = nnx.split(other_model, nnx.Param)
  types = dict(model.head_types)
  assert steps.make_predict_step(graphdef, types) is steps.make_predict_step(other, dict(types))
  assert steps.make_predict_step(graphdef, {"xnli": "classification"}) is not \
      steps.make_predict_step(graphdef, types)

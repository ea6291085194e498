"""Retrieval evaluation: sentence embeddings (layer, pooling) and BUCC's validation threshold.

`steps.sentence_embeddings` is compared with a numpy computation from the encoder's own
`hidden_states`; `evaluate_retrieval_task` must score BUCC test with the threshold tuned on the
same language's validation split, and refuse a test split without one.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import _evaluate_helpers as H
from stilts_jax import evaluate, metrics, steps
from stilts_jax.examples import SentenceExample
from stilts_jax.features import featurize_sentences
from stilts_jax.tasks import get_task

SENTENCES = ["A man is playing a guitar on the street.", "一个男人在街上弹吉他。",
             "ผู้ชายคนหนึ่งกำลังเล่นกีตาร์อยู่บนถนน", "رجل يعزف على الغيتار في الشارع.", "Hund."]


@pytest.fixture(scope="module")
def batch(tokenizer):
  examples = [SentenceExample(f"s{i}", t) for i, t in enumerate(SENTENCES)]
  f = featurize_sentences(examples, tokenizer, max_length=48)
  lengths = f["attention_mask"].sum(1)
  assert len(set(lengths.tolist())) == len(SENTENCES)  # different amounts of padding
  return {k: jnp.asarray(f[k]) for k in ("input_ids", "attention_mask")}


@pytest.fixture(scope="module")
def encoder():
  _, model, _ = H.setup_for(None)
  return model.encoder


@pytest.fixture(scope="module")
def split_encoder(encoder):
  graphdef, params = nnx.split(encoder, nnx.Param)
  return graphdef, nnx.to_pure_dict(params)


LAYERS = range(H.CFG.num_hidden_layers + 1)


def _embed(split_encoder, batch, layer=None, pooling=None):
  """`steps.sentence_embeddings` under jit (eager dispatch of every op would take seconds): for
  one (layer, pooling), or for all of them plus the hidden states in a single compilation."""
  graphdef, params = split_encoder

  def fn(p, b):
    enc = nnx.merge(graphdef, p)
    if layer is not None:
      return steps.sentence_embeddings(enc, b, layer, pooling)
    out = {f"{l}/{pool}": steps.sentence_embeddings(enc, b, l, pool)
           for l in LAYERS for pool in ("mean", "cls")}
    out["hidden"] = enc(b["input_ids"], b["attention_mask"],
                        output_hidden_states=True).hidden_states
    return out

  return jax.tree.map(lambda x: np.asarray(x, np.float64), jax.jit(fn)(params, batch))


@pytest.fixture(scope="module")
def embedded(split_encoder, batch):
  out = _embed(split_encoder, batch)
  assert len(out["hidden"]) == H.CFG.num_hidden_layers + 1
  return out


def _mean(h, am):
  return (h * am[..., None]).sum(1) / am.sum(1, keepdims=True)


def test_mean_pooling_over_every_real_token_of_the_chosen_layer(batch, embedded):
  am = np.asarray(batch["attention_mask"], np.float64)
  ids = np.asarray(batch["input_ids"])
  inner = am.copy()  # the real tokens without <s> and </s>
  inner[:, 0] = 0
  inner[np.arange(len(am)), am.sum(1).astype(int) - 1] = 0
  assert (ids[:, 0] == 0).all() and (ids[inner != am] != ids[inner == 1][0]).all()
  for layer in LAYERS:
    h, got = embedded["hidden"][layer], embedded[f"{layer}/mean"]
    np.testing.assert_allclose(got, _mean(h, am), rtol=1e-5, atol=1e-6)
    # <s> and </s> are part of the mean: leaving them out (or adding pads) changes the result.
    assert not np.allclose(got, _mean(h, inner), rtol=1e-3)
    assert not np.allclose(got, h.mean(1), rtol=1e-3)
  for a in LAYERS:  # the layer really is selected
    for b in range(a + 1, len(LAYERS)):
      assert not np.allclose(embedded[f"{a}/mean"], embedded[f"{b}/mean"], rtol=1e-3)


def test_cls_pooling_takes_the_first_token(embedded):
  for layer in LAYERS:
    np.testing.assert_allclose(embedded[f"{layer}/cls"], embedded["hidden"][layer][:, 0],
                               rtol=1e-5, atol=1e-6)


def test_embed_step_matches(split_encoder, batch, embedded):
  """What evaluate_retrieval_task runs: `make_embed_step` on the split-off parameters."""
  graphdef, params = split_encoder
  got = steps.make_embed_step(graphdef, 1, "mean")(params, batch)
  am = np.asarray(batch["attention_mask"], np.float64)
  np.testing.assert_allclose(np.asarray(got), _mean(embedded["hidden"][1], am), rtol=1e-5,
                             atol=1e-6)


def test_embedding_does_not_depend_on_padding_length(split_encoder, batch, embedded):
  """run_stream trims batches to a bucket: the same sentence padded less must embed the same."""
  longest = int(np.asarray(batch["attention_mask"]).sum(1).max())
  assert longest < batch["input_ids"].shape[1]
  short = _embed(split_encoder, {k: v[:, :longest] for k, v in batch.items()})
  for key in [f"{l}/{p}" for l in LAYERS for p in ("mean", "cls")]:
    np.testing.assert_allclose(short[key], embedded[key], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layer", [H.CFG.num_hidden_layers + 1, -1])
def test_out_of_range_layer_raises(split_encoder, batch, layer):
  with pytest.raises(ValueError, match=f"retrieval layer {layer} is out of range.*3 hidden states"):
    _embed(split_encoder, batch, layer)


def test_unknown_pooling_raises(split_encoder, batch):
  with pytest.raises(ValueError, match="pooling must be 'mean' or 'cls', got 'max'"):
    _embed(split_encoder, batch, 1, pooling="max")


@pytest.fixture(scope="module")
def parts(tmp_path_factory, tokenizer):
  return H.cached_parts(tmp_path_factory, tokenizer)


def _shifted_test_part(part):
  """A test split whose gold differs from validation's, so its own optimal threshold would too."""
  r = part.loaded.retrieval
  gold = tuple((s, t) for (s, _), (_, t) in zip(r.gold, r.gold[1:] + r.gold[:1]))
  loaded = dataclasses.replace(part.loaded, split="test",
                               retrieval=dataclasses.replace(r, gold=gold))
  return dataclasses.replace(part, split="test", loaded=loaded)


@pytest.mark.parametrize("form", ["bucc2018", "bucc2018@original"])
def test_bucc_test_split_uses_the_validation_threshold(parts, monkeypatch, form):
  calls = {"optimal": [], "f1": []}
  optimal, f1 = metrics.bucc_optimal_threshold, metrics.bucc_f1

  def spy_optimal(candidates, gold):
    value = optimal(candidates, gold)
    calls["optimal"].append((frozenset(gold), value))
    return value

  def spy_f1(candidates, gold, threshold):
    calls["f1"].append((frozenset(gold), threshold))
    return f1(candidates, gold, threshold)

  monkeypatch.setattr(metrics, "bucc_optimal_threshold", spy_optimal)
  monkeypatch.setattr(metrics, "bucc_f1", spy_f1)
  mesh, model, _ = H.setup_for(None)
  validation = [p for p in parts[form] if p.split == "validation"]
  # Test parts listed first, to show the order of `parts` does not matter.
  test = [_shifted_test_part(p) for p in validation]
  results = evaluate.Evaluator(mesh, H.GLOBAL_BATCH, H.BUCKETS).retrieval(
      get_task("bucc2018"), test + validation, model.encoder, layer=H.RETRIEVAL_LAYER)
  rows = evaluate.result_rows("bucc2018", results)
  tuned = {gold: value for gold, value in calls["optimal"]}
  by_gold = {frozenset(p.loaded.retrieval.gold): p for p in validation + test}
  # Thresholds are tuned on validation gold only, once per language.
  assert sorted(by_gold[g].language for g in tuned) == sorted(p.language for p in validation)
  assert all(by_gold[g].split == "validation" for g in tuned)
  for v, t in zip(validation, test):
    val_gold, test_gold = frozenset(v.loaded.retrieval.gold), frozenset(t.loaded.retrieval.gold)
    assert test_gold != val_gold
    assert (test_gold, tuned[val_gold]) in calls["f1"], v.language
  assert {(r["split"], r["language"]) for r in rows} == {
      (p.split, p.language) for p in validation + test}
  assert {r["bucc_source"] for r in rows} == {validation[0].loaded.source_kind}


def test_bucc_test_split_without_validation_raises(parts):
  mesh, model, _ = H.setup_for(None)
  test = [p for p in parts["bucc2018"] if p.split == "test"]
  with pytest.raises(ValueError, match=r"bucc2018 test/\w+: the threshold is tuned on the "
                                       r"validation split; evaluate 'validation' too"):
    evaluate.Evaluator(mesh, H.GLOBAL_BATCH, H.BUCKETS).retrieval(
        get_task("bucc2018"), test, model.encoder, layer=H.RETRIEVAL_LAYER)


def test_retrieval_with_an_out_of_range_layer_raises(parts):
  mesh, model, _ = H.setup_for(None)
  with pytest.raises(ValueError, match="retrieval layer 7 is out of range"):
    evaluate.Evaluator(mesh, H.GLOBAL_BATCH, H.BUCKETS).retrieval(
        get_task("tatoeba"), parts["tatoeba"], model.encoder, layer=7)


@pytest.mark.parametrize("form", ["tatoeba", "bucc2018"])
def test_retrieval_predictions_feed_the_submission_writer(parts, form, tmp_path):
  """Predictions come out in the submission writer's form: Tatoeba, the retrieved index per
  English query (its accuracy is recomputed from them); BUCC, mined pairs at the tuned threshold."""
  import json
  from stilts_jax.report import write_submission
  mesh, model, _ = H.setup_for(None)
  task_parts = parts[form]
  results = evaluate.Evaluator(mesh, H.GLOBAL_BATCH, H.BUCKETS).retrieval(
      get_task(form), task_parts, model.encoder, layer=H.RETRIEVAL_LAYER)
  rows = evaluate.result_rows(form, results)
  predictions = {(r.part.split, r.part.language): r.predictions for r in results}
  assert len(predictions) == len(results) and set(predictions) == {
      (p.split, p.language) for p in task_parts}
  out = tmp_path / "pred" / form
  out.mkdir(parents=True)
  for (split, lang), items in predictions.items():
    (out / f"test-{lang}.jsonl").write_text("".join(
        json.dumps({"guid": g, "prediction": p}) + "\n" for g, p in items))
  written = write_submission(tmp_path / "pred", tmp_path / "sub")
  assert sorted(written[form]) == sorted({p.language for p in task_parts})
  if form == "tatoeba":
    for part in task_parts:
      items = predictions[(part.split, part.language)]
      acc = 100 * np.mean([pred == i for i, (_, pred) in enumerate(items)])
      row = next(r for r in rows if r["language"] == part.language)
      assert acc == pytest.approx(row["value"])
  else:
    for part in task_parts:
      mined = [tuple(pair) for _, pairs in predictions[(part.split, part.language)]
               for pair in pairs]
      gold = set(map(tuple, part.loaded.retrieval.gold))
      row = {r["metric"]: r["value"] for r in rows
             if r["language"] == part.language and r["split"] == part.split}
      if mined:  # precision of the written pairs is the reported precision
        assert 100 * len(set(mined) & gold) / len(set(mined)) == pytest.approx(row["precision"])

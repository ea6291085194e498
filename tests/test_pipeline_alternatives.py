"""The paper's alternatives as configs over the pipeline: data fractions (`mnli@50`), masked LM
mixed into intermediate training (`+mlm` at a fixed rate), language sets, and the settings grammar."""

import json

import numpy as np
import pytest

import _pipeline_helpers as H
from stilts_jax import pipeline, run_config, sampling
from stilts_jax.tasks import get_task, load_examples
from _fixtures import write_fixtures
from test_pipeline_resume import ARGS as BASE_ARGS


def test_setting_grammar():
  setting = run_config.parse_setting("mnli@10+squad_v1+mlm")
  assert [(p.task, p.fraction) for p in setting.parts] == [("mnli", 0.1), ("squad_v1", 1.0),
                                                          ("mlm", 1.0)]
  assert setting.has_mlm and [p.task for p in setting.supervised] == ["mnli", "squad_v1"]
  assert run_config.parse_setting("none").parts == ()
  for bad in ("mnli@0", "mnli@101", "mnli@x"):
    with pytest.raises(run_config.ConfigError, match="TASK@PERCENT"):
      run_config.parse_setting(bad)


def test_subsample_is_a_fixed_subset_in_order(tmp_path):
  overrides = write_fixtures(tmp_path)
  loaded = load_examples("mnli", "train", "en", data_overrides=overrides)
  a = pipeline._subsample(loaded, 0.5, seed=0)
  b = pipeline._subsample(loaded, 0.5, seed=0)
  c = pipeline._subsample(loaded, 0.5, seed=1)
  guids = [e.guid for e in loaded.examples]
  assert [e.guid for e in a.examples] == [e.guid for e in b.examples]
  assert len(a.examples) == round(len(guids) / 2)
  assert [e.guid for e in a.examples] == sorted((e.guid for e in a.examples), key=guids.index)
  assert {e.guid for e in a.examples} != {e.guid for e in c.examples} or len(guids) < 4
  assert pipeline._subsample(loaded, 1.0, seed=0) is loaded


def test_fixed_rate_tasks_get_their_share():
  """MLM at rate 0.2 takes ~20 % of steps whatever the corpus size; the rest follows sizes."""
  probs = sampling.task_probabilities({"mnli": 3000, "squad_v1": 1000})
  mixed = {h: p * 0.8 for h, p in probs.items()} | {"mlm": 0.2}
  names, ids, _ = sampling.task_schedule(mixed, 20000, seed=0)
  freq = np.bincount(ids, minlength=len(names)) / len(ids)
  got = dict(zip(names, freq))
  assert got["mlm"] == pytest.approx(0.2, abs=0.015)
  assert got["mnli"] == pytest.approx(0.6, abs=0.015)


@pytest.mark.slow
def test_mnli_fraction_plus_mlm_end_to_end_with_splash_on_a_4_device_mesh(tmp_path):
  """`mnli@50+mlm` → xnli and tatoeba through the real CLI: both heads train, MLM at its rate,
  results carry the setting name (what stilts-jax-analyze's scaling analysis reads).

  One run checks the attention kernel too (it saves a second CLI run of the same pipeline):
  `model.attention=splash` without attention dropout on a 4-device FSDP mesh trains and evaluates
  (classification and Tatoeba's embedding pass) to finite results: the steps run under the mesh,
  retrieval's single-device arrays stay off it. The per-shard mechanics themselves are checked in
  test_splash_attention.py."""
  assets = H.demo_assets(tmp_path / "assets")
  workdir = H.seed_workdir(tmp_path / "w", assets)
  corpus = tmp_path / "corpus"
  corpus.mkdir()
  overrides = json.loads((workdir / "demo_assets/overrides.json").read_text())
  from stilts_jax.demo.data import demo_texts
  texts = demo_texts(overrides)
  for i, lang in enumerate(("de", "ru")):
    (corpus / f"{lang}.txt").write_text("\n".join(texts[i::7][:200]), encoding="utf-8")
  # Few steps, one evaluation and checkpoint a phase: the kernel runs in interpret mode on CPU, so
  # every step is dear, and one evaluation is all the hand-off of a best step needs. MLM at half
  # the updates so that six of them surely include some.
  args = [a for a in BASE_ARGS if not a.startswith(("--config.intermediates", "--config.targets"))
          and "_steps=" not in a] + [
      f"--config.{phase}.{knob}_steps={n}"
      for phase, steps in (("intermediate_train", 6), ("target_train.xnli", 4))
      for knob, n in (("max", steps), ("eval_every", steps), ("checkpoint_every", steps),
                      ("log_every", 2))] + [
      "--config.intermediates=('mnli@50+mlm',)", f"--config.mlm.source={corpus}",
      "--config.mlm.languages=de,ru", "--config.mlm.hub_config=", "--config.mlm.rate=0.5",
      "--config.mlm.max_length=32", "--config.export_intermediate_hf=True",
      "--config.targets=('xnli','tatoeba')", "--config.eval.languages.tatoeba=de",
      "--config.model.attention=splash", "--config.model.attention_dropout=0.0"]
  dump = tmp_path / "dump"
  proc = H.cli(workdir, *args, env={"XLA_FLAGS": "--xla_force_host_platform_device_count=4",
                                    "STILTS_TEST_DUMP": str(dump)})
  log = proc.stdout + proc.stderr
  assert proc.returncode == 0, log[-3000:]
  assert "mlm: 0.5" in log  # the phase's task mix as reported
  # Both heads trained: the MLM head's parameters (started from the checkpoint's lm_head, or
  # fresh) moved, as the classification head's did.
  with np.load(dump / "intermediate__mnli@50+mlm.init.npz") as a, \
       np.load(dump / "intermediate__mnli@50+mlm.final.npz") as b:
    for head in ("mlm", "mnli"):
      keys = [k for k in a.files if k.startswith(f"['heads']['{head}']")]
      assert keys, (head, a.files)
      assert all(not np.array_equal(a[k], b[k]) for k in keys), head
  assert "4 devices" in log
  inter = workdir / "intermediate" / "mnli@50+mlm"
  assert (inter / "COMPLETED").exists()
  rows = H.read_jsonl(workdir / "results.jsonl")
  assert rows and {r["intermediate"] for r in rows} == {"mnli@50+mlm"}
  assert {r["target"] for r in rows} == {"xnli", "tatoeba"}
  assert all(np.isfinite(r["value"]) for r in rows)
  # The exported best intermediate encoder loads in transformers, which computes what we compute.
  import torch
  import transformers
  hf = transformers.XLMRobertaModel.from_pretrained(inter / "hf_encoder").eval()
  from stilts_jax import load_encoder
  ours = load_encoder(str(inter / "hf_encoder"))
  ids = np.array([[0, 5, 9, 13, 2, 1, 1]], np.int32)
  with torch.no_grad():
    want = hf(torch.tensor(ids, dtype=torch.long),
              attention_mask=torch.tensor((ids != 1).astype(np.int64))).last_hidden_state.numpy()
  got = np.asarray(ours(ids, (ids != 1).astype(np.int32)).last_hidden_state)
  np.testing.assert_allclose(got, want, atol=2e-4)
  assert all(0 <= r["value"] <= 100 for r in rows)


def test_mlm_head_starts_from_the_checkpoints_lm_head(tmp_path):
  """As jiant's from_transformers_with_mlm; a checkpoint without lm_head falls back to fresh."""
  import ml_collections
  from hf_helpers import random_hf_model
  from stilts_jax import sharding as shd
  hf = random_hf_model("mlm", "tiny")
  hf.save_pretrained(tmp_path / "mlm")
  mesh = shd.make_mesh(devices=__import__("jax").devices()[:1])
  cfg = ml_collections.ConfigDict(dict(name=str(tmp_path / "mlm"), dtype="float32",
                                       param_dtype="float32"))
  head = pipeline.pretrained_mlm_head(cfg, mesh)
  np.testing.assert_array_equal(np.asarray(head.dense.kernel.get_value()),
                                hf.lm_head.dense.weight.detach().numpy().T)
  np.testing.assert_array_equal(np.asarray(head.bias.get_value()), hf.lm_head.bias.detach().numpy())
  random_hf_model("encoder", "tiny").save_pretrained(tmp_path / "enc")
  cfg.name = str(tmp_path / "enc")
  assert pipeline.pretrained_mlm_head(cfg, mesh) is None


def test_shared_intermediate_workdir_needs_a_single_setting():
  config = H.load_config_module("stilts").get_config("intermediate=mnli|squad_v1,target=xnli")
  config.intermediate_workdir = "/tmp/shared"
  with pytest.raises(ValueError, match="would be shared by the intermediate settings"):
    run_config.validate(config)


def test_language_set_training_data(tmp_path):
  """intermediate_languages concatenates the translated training data of several languages."""
  overrides = write_fixtures(tmp_path)
  config = H.load_config_module("base").get_config()
  config.data.overrides = overrides
  config.intermediate_languages.mnli_translated = "en,de"
  ctx = pipeline.Context(config, None, None, None)
  seen = {}
  ctx.featurize = lambda spec, loaded, max_length: seen.setdefault("loaded", loaded) and {}
  ctx.part = lambda *a, **k: None
  task = pipeline._phase_task(ctx, get_task("mnli_translated"), config.intermediate_train)
  langs = {e.language for e in seen["loaded"].examples}
  assert langs == {"en", "de"} and task.head == "mnli_translated"

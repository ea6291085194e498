"""Shared setup of tests/test_evaluate_*.py and tests/_evaluate_multiprocess_worker.py.

One tiny random TaskModel with a head per evaluated task, the offline fixtures loaded per
(task, split, language) with deliberately uneven sizes (via `limit`), and `run_tasks`, which
evaluates every task on a mesh and returns plain, JSON-able results so a single-process run, a
per-language loop, other meshes and a 2-process run can be compared for equality.
"""

from __future__ import annotations

import os

import numpy as np
from flax import nnx

from stilts_jax import evaluate, steps
from stilts_jax import sharding as shd
from stilts_jax.features import featurize_split
from stilts_jax.models import TaskModel, XLMRConfig
from stilts_jax.tasks import TaskType, get_task, load_examples
from _fixtures import BUCC_ORIGINAL_DIR, write_fixtures

CFG = XLMRConfig(vocab_size=512, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=32, max_position_embeddings=130, hidden_dropout_prob=0.0,
                 attention_probs_dropout_prob=0.0)
HEADS = {"xnli": ("classification", 3), "panx": ("tagging", 7), "udpos": ("tagging", 17),
         "xquad": ("span_qa", 1), "mlqa": ("span_qa", 1)}
BUCKETS = (32, 64)  # few buckets, few compiles; XNLI and retrieval rows still span both
GLOBAL_BATCH = 8  # divisible by every mesh's batch size used here (1, 2x4, 8, 2x2)

# (split, language, limit) per task: sizes differ per language on purpose, so batches mix
# languages, the last batch has padding rows and a per-language loop batches differently.
PARTS = {
    "xnli": [("validation", "en", None), ("validation", "de", 1), ("validation", "zh", 2),
             ("validation", "th", None), ("validation", "ar", 1), ("validation", "ru", 2),
             ("test", "hi", 2)],
    "panx": [("validation", "en", None), ("validation", "th", None), ("validation", "zh", 1),
             ("validation", "ar", 1)],
    "udpos": [("test", "en", 2), ("test", "hi", 1), ("test", "ru", 1), ("test", "th", 1)],
    # max_length 32 and a short stride: the longer contexts take several windows.
    "xquad": [("validation", "en", None), ("validation", "th", None), ("validation", "zh", 1),
              ("validation", "ar", 1)],
    "mlqa": [("test", "ar", None), ("test", "zh", 1), ("test", "de", None)],
    "tatoeba": [("validation", "th", None), ("validation", "zh", 2), ("validation", "ar", None),
                ("validation", "de", 2)],
    "bucc2018": [("validation", "de", None), ("test", "de", None), ("validation", "zh", None),
                 ("test", "zh", 1), ("validation", "ru", None), ("test", "ru", None)],
    # The original BUCC files: comparable corpora with a non-gold English sentence per language.
    "bucc2018@original": [("validation", "fr", None), ("test", "fr", None),
                          ("validation", "ru", None), ("test", "ru", 2)],
}
MAX_LENGTH = {"xnli": 64, "panx": 32, "udpos": 32, "xquad": 32, "mlqa": 32, "tatoeba": 64,
              "bucc2018": 64}
RETRIEVAL_LAYER = 1
FEATURIZER_KWARGS = {"xquad": dict(doc_stride=6, max_query_length=12),
                     "mlqa": dict(doc_stride=6, max_query_length=12)}


# Encoder kernels are scaled up from the 0.02 init: with it, attention is uniform and the `<s>`
# state hardly depends on the input, so every XNLI row gets the same class and a row that lands
# on the wrong example would go unnoticed. (A scaling by a constant is exact on any sharding.)
KERNEL_SCALE = 30.0


def _scaled_model() -> TaskModel:
  model = TaskModel(CFG, HEADS, rngs=nnx.Rngs(0))
  for path, var in nnx.iter_graph(model):
    if isinstance(var, nnx.Param) and path[0] == "encoder" and path[-1] == "kernel":
      var.set_value(var.get_value() * KERNEL_SCALE)
  return model


def make_model(mesh) -> TaskModel:
  # Scaled inside the sharded init (one jit), not op by op afterwards.
  return shd.create_sharded(_scaled_model, mesh)


def single_device_mesh():
  import jax  # after conftest (or the worker) has set the device count
  return shd.make_mesh(devices=jax.devices()[:1])


def spec_name(task: str) -> str:
  """"bucc2018@original" (the original-files form) is task bucc2018."""
  return task.split("@")[0]


def load_part(task: str, split: str, language: str, limit: int | None, overrides,
              tokenizer) -> evaluate.EvalPart:
  name = spec_name(task)
  loaded = load_examples(name, split, language, data_overrides=overrides, limit=limit)
  features = featurize_split(get_task(name), loaded, tokenizer, max_length=MAX_LENGTH[name],
                             **FEATURIZER_KWARGS.get(name, {}))
  return evaluate.EvalPart(split, language, loaded, features)


def load_parts(fixture_root: str, tokenizer, tasks=None) -> dict[str, list[evaluate.EvalPart]]:
  """Every part of PARTS from fixtures written under `fixture_root` (both BUCC forms)."""
  hub = write_fixtures(fixture_root)
  original = dict(hub, bucc2018=os.path.join(fixture_root, BUCC_ORIGINAL_DIR))
  out = {}
  for task in tasks or PARTS:
    overrides = original if task.endswith("@original") else hub
    out[task] = [load_part(task, s, l, n, overrides, tokenizer) for s, l, n in PARTS[task]]
  return out


_PARTS_CACHE: dict = {}


def cached_parts(tmp_path_factory, tokenizer) -> dict[str, list[evaluate.EvalPart]]:
  """`load_parts` once per pytest process (loading ~40 splits through `datasets` takes seconds)."""
  if "parts" not in _PARTS_CACHE:
    import datasets
    datasets.disable_progress_bars()
    _PARTS_CACHE["parts"] = load_parts(str(tmp_path_factory.mktemp("eval_fixtures")), tokenizer)
  return _PARTS_CACHE["parts"]


def feature_rows(part: evaluate.EvalPart) -> int:
  f = part.features
  return sum(len(v["input_ids"]) for v in f.values()) if "source" in f else part.rows


def plain(value):
  """Predictions/scores as JSON-able Python values (numpy ints/floats become int/float)."""
  if isinstance(value, dict):
    return {str(k): plain(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [plain(v) for v in value]
  if isinstance(value, np.generic):
    return value.item()
  return value


class CountingStep:
  """The jitted predict step of one head, counting rows and shapes it is fed (host side)."""

  def __init__(self, predict, params, head: str):
    self.predict, self.params, self.head = predict, params, head
    self.shapes: list[tuple[int, ...]] = []
    self.keys: set[str] = set()
    self.real_rows = 0

  def __call__(self, batch):
    self.shapes.append(tuple(batch["input_ids"].shape))
    self.keys.update(batch)
    # Padding rows (past the last example) have no tokens: the mask stays on the host.
    self.real_rows += int((np.asarray(shd.host_array(batch["attention_mask"])).sum(1) > 0).sum())
    return self.predict(self.params, batch, head=self.head)


def predict_step_for(model: TaskModel):
  """A freshly jitted predict step (make_predict_step caches them per model structure: a test
  that counts compiles must start from none) and the model's params."""
  graphdef, params = nnx.split(model, nnx.Param)
  return steps.fresh_predict_step(graphdef, model.head_types), nnx.to_pure_dict(params)


def run_tasks(model: TaskModel, parts: dict[str, list[evaluate.EvalPart]], mesh,
              per_language: bool = False, predict=None) -> dict:
  """{task: {"split/lang": {"scores", "predictions"}}} (+ retrieval rows) and row counts.

  `per_language=True` evaluates each language on its own (each BUCC language with both of its
  splits, since test needs the validation threshold), the reference for the vectorized stream.
  """
  if predict is None:
    predict, params = predict_step_for(model)
  else:
    params = predict_step_for(model)[1]
  out: dict = {"rows": {}}
  for task, task_parts in parts.items():
    spec = get_task(spec_name(task))
    if per_language:
      by_language: dict[str, list] = {}
      for p in task_parts:
        by_language.setdefault(p.language, []).append(p)
      groups = list(by_language.values())
    else:
      groups = [task_parts]
    if spec.task_type == TaskType.RETRIEVAL:
      rows = []
      for group in groups:
        results = evaluate.Evaluator(mesh, GLOBAL_BATCH, BUCKETS).retrieval(
            spec, group, model.encoder, layer=RETRIEVAL_LAYER)
        rows += evaluate.result_rows(spec.name, results, intermediate="mnli")
      out[task] = {f"{r['split']}/{r['language']}/{r['metric']}": r for r in rows}
      assert len(out[task]) == len(rows), "duplicate retrieval rows"
      continue
    step = CountingStep(predict, params, task)
    results = []
    for group in groups:
      results += evaluate.Evaluator(mesh, GLOBAL_BATCH, BUCKETS).parts(spec, group, step)
    out[task] = {f"{r.part.split}/{r.part.language}": {"scores": plain(r.scores),
                                                       "predictions": plain(r.predictions)}
                 for r in results}
    out["rows"][task] = step.real_rows
  return out


_SETUPS: dict = {}


def mesh_for(shape: dict | None):
  return single_device_mesh() if shape is None else shd.make_mesh(shape)


def setup_for(shape: dict | None = None):
  """(mesh, model, predict step) per mesh shape, once per process: tests that evaluate on the
  same mesh share the compiled steps instead of compiling every bucket again."""
  key = None if shape is None else tuple(sorted(shape.items()))
  if key not in _SETUPS:
    mesh = mesh_for(shape)
    model = make_model(mesh)
    _SETUPS[key] = (mesh, model, predict_step_for(model)[0])
  return _SETUPS[key]


_REFERENCE: dict = {}


def reference_results(parts) -> dict:
  """`run_tasks` on a 1-device mesh, all languages in one stream; computed once per process."""
  if "ref" not in _REFERENCE:
    mesh, model, predict = setup_for(None)
    _REFERENCE["ref"] = run_tasks(model, parts, mesh, predict=predict)
  return _REFERENCE["ref"]


def echo_inputs(parts) -> dict[str, np.ndarray]:
  """Model inputs of both sides of every Tatoeba part: lengths 9..64, so the length-sorted stream
  uses both buckets and rows of the 32 bucket come back padded to 64."""
  sides = [p.features[side] for p in parts["tatoeba"] for side in ("source", "target")]
  return {k: np.concatenate([f[k] for f in sides]) for k in evaluate.MODEL_INPUTS}


def echo_stream(parts, mesh) -> dict[str, np.ndarray]:
  """`run_stream` with a step that echoes its inputs: shows each output row is its input row."""
  import jax.numpy as jnp
  step = lambda b: {"pred": b["input_ids"],
                    "rowsum": jnp.sum(b["input_ids"] * b["attention_mask"], axis=1)}
  return evaluate.Evaluator(mesh, GLOBAL_BATCH, BUCKETS).stream(echo_inputs(parts), step)


def check_echo(parts, out) -> None:
  inputs = echo_inputs(parts)
  am = inputs["attention_mask"].astype(bool)
  # Per-token outputs come back at the full length T, -1 past the batch's bucket.
  assert out["pred"].shape == inputs["input_ids"].shape
  assert (out["pred"] == -1).any() and not (out["pred"][am] == -1).any()
  np.testing.assert_array_equal(out["pred"][am], inputs["input_ids"][am])
  np.testing.assert_array_equal(out["rowsum"], (inputs["input_ids"] * am).sum(1))

"""Zero-shot evaluation over every language in one stream of fixed-shape batches.

All (split, language) parts of a target task are featurized, concatenated, sorted by length and
run through ONE stream of bucketed batches: one compile per length bucket (not per language), no
host sync inside the loop (device results are only fetched once the stream is dispatched), and
the per-language metrics come out of that single pass by slicing the gathered outputs. Every
process feeds its slice of each global batch; global batch i holds sorted rows [i*B, (i+1)*B),
so the padding rows past the end are dropped by position and each example is scored exactly once
whatever the host and device counts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from flax import nnx

from stilts_jax import metrics, retrieval, steps
from stilts_jax import sharding as shd
from stilts_jax.data import (DEFAULT_BUCKETS, EvalBatches, process_slice, real_lengths,
                             to_global_batch)
from stilts_jax.kinds import KINDS, get_kind
from stilts_jax.tasks import TaskSpec
from stilts_jax.tasks.loading import LoadedSplit

MODEL_INPUTS = ("input_ids", "attention_mask")

# Task metric names (TaskSpec.metrics) → the metric names of results rows.
RESULT_METRIC = {
    "accuracy": "accuracy", "f1": "f1", "token_accuracy": "accuracy", "seqeval_f1": "f1",
    "squad_em": "exact_match", "squad_f1": "f1", "mlqa_em": "exact_match", "mlqa_f1": "f1",
    "squad_v2_best_em": "exact_match", "squad_v2_best_f1": "f1",
    "bucc_f1": "f1", "tatoeba_accuracy": "accuracy",
}


@dataclasses.dataclass
class EvalPart:
  """One (split, language) of a task: its examples and features."""
  split: str
  language: str
  loaded: LoadedSplit
  features: dict[str, np.ndarray]

  @property
  def rows(self) -> int:
    return len(self.features["input_ids"])


@dataclasses.dataclass(frozen=True)
class PartResult:
  """One part scored, the same shape for every task kind (retrieval included)."""
  part: EvalPart
  scores: dict[str, float]  # task metric name (TaskSpec.metrics) -> value on 0-100
  predictions: list[tuple[str, Any]]  # (guid, prediction), as the predictions files hold them
  row_fields: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # e.g. bucc_source


@dataclasses.dataclass(frozen=True)
class Evaluator:
  """How a phase evaluates, fixed once: the mesh, the global batch size and the length buckets.

  `parts` scores classification, multiple-choice, tagging and span-QA tasks from a predict step;
  `retrieval` scores BUCC and Tatoeba from an encoder's sentence embeddings. Both return one
  `PartResult` per part and run every language in one stream (`stream`).
  """
  mesh: Any
  batch_size: int
  buckets: Sequence[int] | None = DEFAULT_BUCKETS

  def stream(self, inputs: Mapping[str, np.ndarray], step: Callable[[dict], dict]
             ) -> dict[str, np.ndarray]:
    return run_stream(inputs, step, self.mesh, self.batch_size, self.buckets)

  def parts(self, spec: TaskSpec, parts: Sequence[EvalPart], step: Callable[[dict], dict]
            ) -> list[PartResult]:
    return evaluate_parts(spec, parts, self.stream, step)

  def retrieval(self, spec: TaskSpec, parts: Sequence[EvalPart], encoder, *, layer: int,
                pooling: str = "mean", k: int = 4) -> list[PartResult]:
    return evaluate_retrieval_task(spec, parts, encoder, self.stream, layer=layer,
                                   pooling=pooling, k=k)


def run_stream(inputs: Mapping[str, np.ndarray], step: Callable[[dict], dict], mesh,
               global_batch_size: int, buckets: Sequence[int] | None = DEFAULT_BUCKETS
               ) -> dict[str, np.ndarray]:
  """Runs `step(global_batch) -> {name: [B, ...]}` over all rows; outputs in row order.

  Rows are sorted by length first, so batches fill buckets tightly and few buckets are used.
  """
  n = len(inputs["input_ids"])
  full_len = inputs["input_ids"].shape[-1]
  order = np.argsort(real_lengths(inputs), kind="stable")
  ordered = {k: np.asarray(v)[order] for k, v in inputs.items()}
  index, count = process_slice(mesh, global_batch_size=global_batch_size)
  batches = EvalBatches(ordered, global_batch_size, index, count, buckets)
  dispatched = []
  for i in range(len(batches)):
    local = batches.batch(i)
    # Only what the step reads travels: global batch i is rows [i*gbs, (i+1)*gbs) of `ordered`,
    # those past n are padding, so the host knows every row's index without sending it.
    batch = to_global_batch({k: local[k] for k in inputs}, mesh)
    with jax.set_mesh(mesh):  # model kernels that run per shard (splash attention) find the mesh
      dispatched.append(step(batch))  # device arrays: no sync yet
  # One fetch for every output in one process; a gather per array across processes.
  fetched = (jax.device_get(dispatched) if jax.process_count() == 1
             else [{k: shd.host_array(v) for k, v in out.items()} for out in dispatched])
  results: dict[str, np.ndarray] = {}
  # How per-token outputs are padded back to the full length T (each kind says for its outputs).
  output_pad = {k: v for kind in KINDS.values() for k, v in kind.output_pad.items()}
  for i, out in enumerate(fetched):
    start = i * global_batch_size
    real = min(global_batch_size, n - start)
    for name, value in out.items():
      value = np.asarray(value)[:real]
      if value.ndim >= 2 and name in output_pad and value.shape[1] < full_len:
        pad = [(0, 0), (0, full_len - value.shape[1])] + [(0, 0)] * (value.ndim - 2)
        value = np.pad(value, pad, constant_values=output_pad[name])
      if name not in results:
        results[name] = np.zeros((n,) + value.shape[1:], value.dtype)
      results[name][order[start:start + real]] = value
  return results


def concat_parts(parts: Sequence[EvalPart], keys: Sequence[str] = MODEL_INPUTS
                 ) -> dict[str, np.ndarray]:
  lengths = {p.features["input_ids"].shape[1:] for p in parts}
  if len(lengths) != 1:
    raise ValueError(f"parts have different feature shapes {sorted(lengths)}; featurize every "
                     "language with the same max_length.")
  return {k: np.concatenate([p.features[k] for p in parts]) for k in keys}


def _has_gold(example) -> bool:
  # Tagging examples carry `labels` (one per word), the others one `label`; span-QA gold is
  # checked by the loader (a SQuAD 1.1-style row without answers is a DataError).
  if hasattr(example, "labels"):
    return example.labels is not None
  return getattr(example, "label", 0) is not None


def score_part(spec: TaskSpec, part: EvalPart, outputs: Mapping[str, np.ndarray]
               ) -> tuple[dict[str, float], list[Any]]:
  """({task metric name: value}, per-example predictions) for one part, by its kind's scorer."""
  examples = part.loaded.examples
  if not all(map(_has_gold, examples)):
    raise ValueError(f"{spec.name} {part.split}/{part.language} has no gold labels to score.")
  kind = get_kind(spec.task_type)
  if kind.score is None:
    raise ValueError(f"{spec.name}: task type {kind.name} is scored by retrieval, not here.")
  return kind.score(spec, part, outputs)


def main_score(scores: Mapping[str, float]) -> float:
  """The model-selection score: the mean of a task's metrics, as jiant ((EM+F1)/2 for QA)."""
  return float(np.mean(list(scores.values())))


def evaluate_parts(spec: TaskSpec, parts: Sequence[EvalPart], stream, step: Callable[[dict], dict]
                   ) -> list[PartResult]:
  """Scores every part of `spec` from one stream (`Evaluator.parts`)."""
  if not parts:
    return []
  outputs = stream(concat_parts(parts), step)
  results, start = [], 0
  for part in parts:
    sl = {k: v[start:start + part.rows] for k, v in outputs.items()}
    start += part.rows
    scores, preds = score_part(spec, part, sl)
    guids = (e.guid for e in part.loaded.examples)
    results.append(PartResult(part, scores, list(zip(guids, preds))))
  return results


def result_rows(task: str, results: Sequence[PartResult], **fields) -> list[dict]:
  """Tidy rows: one per (language, split, metric), values on 0–100, plus `fields` (intermediate…)."""
  rows = []
  for r in results:
    for name, value in r.scores.items():
      rows.append(dict(fields, target=task, language=r.part.language, split=r.part.split,
                       metric=RESULT_METRIC.get(name, name), value=float(value),
                       data=r.part.loaded.data_summary(), **r.row_fields))
  return rows


def evaluate_retrieval_task(spec: TaskSpec, parts: Sequence[EvalPart], encoder, stream, *,
                            layer: int, pooling: str = "mean", k: int = 4) -> list[PartResult]:
  """BUCC / Tatoeba from the encoder's sentence embeddings, every language in one stream.

  Tatoeba: English sentences query the other language's sentences, accuracy@1. That is XTREME's
  orientation (google-research/xtreme third_party/utils_retrieve.py `similarity_search`: the
  index holds the non-English side, each English sentence searches it; evaluate.py compares the
  found line with the gold line) and jiant's; the loader's `source` side is the non-English one.
  BUCC: ratio-margin mining (k=4, "max"), the threshold tuned on the validation ("sample") gold
  of each language and applied to its test split, as XTREME does.
  Predictions, in the submission writer's form: Tatoeba, the retrieved index per English query;
  BUCC, each source sentence's mined [src, trg] pairs at the threshold. Results come validation
  first (BUCC's test threshold is the one tuned on validation).
  """
  graphdef, params = nnx.split(encoder, nnx.Param)
  embed = steps.make_embed_step(graphdef, layer, pooling)
  params = nnx.to_pure_dict(params)
  sides = [(part, side) for part in parts for side in ("source", "target")]
  inputs = {k2: np.concatenate([p.features[side][k2] for p, side in sides]) for k2 in MODEL_INPUTS}
  emb = stream(inputs, lambda b: {"emb": embed(params, b)})["emb"]
  by_side, start = {}, 0
  for part, side in sides:
    feats = part.features[side]
    rows = emb[start:start + len(feats["input_ids"])]
    start += len(feats["input_ids"])
    examples = getattr(part.loaded.retrieval, side)
    ordered = np.zeros((len(examples), rows.shape[1]), rows.dtype)
    ordered[feats["example_index"]] = rows
    by_side[(part.split, part.language, side)] = (examples, ordered)

  out, thresholds = [], {}
  # Validation first: BUCC's test threshold is the one tuned on validation.
  for part in sorted(parts, key=lambda p: p.split != "validation"):
    src, src_emb = by_side[(part.split, part.language, "source")]
    trg, trg_emb = by_side[(part.split, part.language, "target")]
    gold = part.loaded.retrieval.gold
    if spec.name == "tatoeba":
      src_pos = {e.guid: i for i, e in enumerate(src)}
      trg_pos = {e.guid: i for i, e in enumerate(trg)}
      query = trg_emb[[trg_pos[t] for _, t in gold]]
      index = src_emb[[src_pos[s] for s, _ in gold]]
      nearest = metrics.tatoeba_nearest(query, index)  # once: scored and written alike
      out.append(PartResult(part, {"tatoeba_accuracy": metrics.tatoeba_accuracy_of(nearest)},
                            [(t, int(j)) for (_, t), j in zip(gold, nearest)]))
      continue
    candidates = retrieval.mine_bitext(
        src_emb, trg_emb, [e.guid for e in src], [e.guid for e in trg], k=k,
        src_texts=[e.text for e in src], trg_texts=[e.text for e in trg])
    gold_set = set(map(tuple, gold))
    if part.split == "validation":
      thresholds[part.language] = metrics.bucc_optimal_threshold(candidates, gold_set)
    if part.language not in thresholds:
      raise ValueError(f"bucc2018 {part.split}/{part.language}: the threshold is tuned on the "
                       "validation split; evaluate 'validation' too (config.eval.splits).")
    scores = metrics.bucc_f1(candidates, gold_set, thresholds[part.language])
    mined: dict[str, list] = {}
    for (src_id, trg_id), score in sorted(candidates.items()):
      if score >= thresholds[part.language]:
        mined.setdefault(src_id, []).append([src_id, trg_id])
    out.append(PartResult(part, {m: float(scores[m]) for m in ("f1", "precision", "recall")},
                          sorted(mined.items()), {"bucc_source": part.loaded.source_kind}))
  return out

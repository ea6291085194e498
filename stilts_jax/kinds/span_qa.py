"""Extractive QA (SQuAD 1.1/2.0, XQuAD, MLQA, TyDiQA-GoldP): start and end logits per token over
windows of the context; answers come from the n-best spans across an example's windows."""

from __future__ import annotations

import jax.numpy as jnp

from stilts_jax import metrics
from stilts_jax.examples import SpanExample
from stilts_jax.features import postprocess
from stilts_jax.features.dispatch import Featurizer
from stilts_jax.features.qa import featurize_qa
from stilts_jax.kinds.base import FitShape, Kind, cross_entropy, register_kind
from stilts_jax.models.heads import SpanQAHead


def loss(outputs, batch, rows):
  start_logits, end_logits = outputs
  s_total, count = cross_entropy(start_logits, batch["start_positions"], rows)
  e_total, _ = cross_entropy(end_logits, batch["end_positions"], rows)
  return (s_total + e_total) / 2, count  # transformers: mean of the start and end losses


def predict(outputs):
  return {"start_logits": outputs[0].astype(jnp.float32),
          "end_logits": outputs[1].astype(jnp.float32)}


def score(spec, part, outputs):
  examples = part.loaded.examples
  texts = postprocess(examples, part.features, outputs["start_logits"], outputs["end_logits"],
                      version_2_with_negative=spec.squad_v2)
  refs = {e.guid: [a.text for a in e.answers] for e in examples}
  scores = {}
  if spec.squad_v2:
    v2 = metrics.squad_v2(texts, refs)
    scores["squad_v2_best_em"], scores["squad_v2_best_f1"] = v2["exact"], v2["f1"]
  elif "mlqa_em" in spec.metrics:
    r = metrics.mlqa_em_f1(texts, refs, part.language)
    scores["mlqa_em"], scores["mlqa_f1"] = r["exact_match"], r["f1"]
  else:
    r = metrics.squad_em_f1(texts, refs)
    scores["squad_em"], scores["squad_f1"] = r["exact_match"], r["f1"]
  return scores, [texts.get(e.guid, "") for e in examples]


SPAN_QA = register_kind(Kind(
    name="span_qa", train_keys=("input_ids", "attention_mask", "start_positions", "end_positions"),
    loss=loss, predict=predict, score=score,
    output_pad={"start_logits": -1e9, "end_logits": -1e9}, head=SpanQAHead,
    featurizer=Featurizer("qa", featurize_qa, SpanExample),
    # qa_outputs d x 2 on every token
    fit=FitShape(default_labels=2, head_params=lambda d, n: 2 * d + 2, logits=lambda n, t: (t, 2),
                 label_shapes=lambda b, t: {"start_positions": (b,), "end_positions": (b,)})))

"""Task similarity from the pretrained encoder: cosine of mean-pooled embeddings of task inputs.

For analysis 1 (similarity ↔ transfer gain): each task is represented by the mean embedding of
`n` English training inputs (the text the model reads: premise + hypothesis, question + context,
prompt + first choice, the words of a tagged sentence), embedded by the *pretrained* encoder
(layer and pooling as the retrieval tasks: mean over non-pad tokens incl. `<s>`/`</s>`), and two
tasks' similarity is the cosine of their mean embeddings (`similarity.embedding_similarity` is
the same measure for any text-embedding callable).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from stilts_jax.examples import (ChoiceExample, PairExample, SentenceExample, SpanExample,
                                 TagExample)
from stilts_jax.paths import PathLike, write_atomic

TABLE_COLUMNS = ("intermediate", "target", "similarity")


def cosine(a, b) -> float:
  """Cosine similarity of two vectors, in [-1, 1] by construction.

  The dot product of two unit vectors can round past ±1 (two identical mean embeddings gave
  1.0000000000000002), so it is clipped after normalising. Raises ValueError on a zero vector.
  """
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  na, nb = np.linalg.norm(a), np.linalg.norm(b)
  if not na or not nb:
    raise ValueError("cosine similarity of a zero vector is undefined.")
  return float(np.clip((a / na) @ (b / nb), -1.0, 1.0))


def example_text(example) -> str:
  """The text a model reads for one example, as one string."""
  if isinstance(example, PairExample):
    return example.text_a if example.text_b is None else f"{example.text_a} {example.text_b}"
  if isinstance(example, ChoiceExample):
    return f"{example.prompt} {example.choices[0]}"
  if isinstance(example, SpanExample):
    return f"{example.question} {example.context}"
  if isinstance(example, TagExample):
    return " ".join(example.words)
  if isinstance(example, SentenceExample):
    return example.text
  raise TypeError(f"no text for {type(example).__name__}")


def task_texts(task: str, n: int, data_overrides: Mapping[str, str] | None = None) -> list[str]:
  """Up to `n` English training inputs of `task` (retrieval tasks: their English side)."""
  from stilts_jax.tasks import get_task, load_examples
  spec = get_task(task)
  split = "train" if "train" in spec.splits else "validation"
  language = "en" if "en" in spec.languages_for(split) else spec.languages_for(split)[0]
  loaded = load_examples(task, split, language, data_overrides=dict(data_overrides or {}) or None,
                         limit=n)
  examples = loaded.retrieval.target if loaded.retrieval else loaded.examples
  texts = [example_text(e) for e in examples[:n]]
  if not texts:
    raise ValueError(f"{task} {split}/{language} has no examples to embed.")
  return texts


def encoder_embedder(encoder, tokenizer, *, layer: int | None = None, pooling: str = "mean",
                     max_length: int = 128, batch_size: int = 32
                     ) -> Callable[[list[str]], np.ndarray]:
  """`texts -> [len(texts), hidden]` with `encoder` (default layer: the last)."""
  from flax import nnx

  from stilts_jax import steps
  from stilts_jax.features import featurize_sentences
  graphdef, params = nnx.split(encoder, nnx.Param)
  params = nnx.to_pure_dict(params)
  layer = encoder.cfg.num_hidden_layers if layer is None else layer
  embed = steps.make_embed_step(graphdef, layer, pooling)

  def embed_texts(texts: list[str]) -> np.ndarray:
    feats = featurize_sentences([SentenceExample(str(i), t) for i, t in enumerate(texts)],
                                tokenizer, max_length)
    out = []
    for start in range(0, len(texts), batch_size):
      batch = {k: feats[k][start:start + batch_size] for k in ("input_ids", "attention_mask")}
      out.append(np.asarray(embed(params, batch)))
    return np.concatenate(out)

  return embed_texts


def similarity_table(embed: Callable[[list[str]], np.ndarray], intermediates: Sequence[str],
                     targets: Sequence[str], *, n: int = 200,
                     data_overrides: Mapping[str, str] | None = None) -> list[dict]:
  """Rows {intermediate, target, similarity} for every pair (each task embedded once)."""
  means = {}
  for task in sorted({*intermediates, *targets}):
    emb = np.asarray(embed(task_texts(task, n, data_overrides)), np.float64)
    means[task] = emb.mean(axis=0)
    if not np.linalg.norm(means[task]):
      raise ValueError(f"the mean embedding of {task} is zero; cosine similarity is undefined.")
  return [{"intermediate": i, "target": t, "similarity": cosine(means[i], means[t])}
          for i in intermediates for t in targets]


def write_table(rows: Sequence[dict], path: PathLike) -> None:
  """The table as CSV (`similarity.load_similarity_table` reads it), local or gs://."""
  buf = io.StringIO()
  writer = csv.DictWriter(buf, fieldnames=TABLE_COLUMNS, lineterminator="\n")
  writer.writeheader()
  writer.writerows(rows)
  write_atomic(path, buf.getvalue())

"""Rows written as the Hugging Face Hub stores them: each kind of source with its Hub
`datasets.Features` (ClassLabel names, nested `answers` structs, ...), in the source-level override
layout of tasks/loading.py, `{root}/{source}/{config}/{hub_split}.{parquet|jsonl}`.

The demo's data (demo/data.py) and the tests' fixtures are written with `write_split`, so both go
through the same loaders and converters as data from the Hub.
"""

from __future__ import annotations

import os

from stilts_jax.tasks.intermediate import NLI_LABELS, QQP_LABELS
from stilts_jax.tasks.target import NER_LABELS, UPOS_LABELS


def hub_features(kind: str) -> dict:
  """The Hub's columns and types for one kind of source (KeyError for an unknown kind)."""
  import datasets
  V, Seq, CL = datasets.Value, datasets.Sequence, datasets.ClassLabel
  s = V("string")
  answers = Seq({"text": s, "answer_start": V("int32")})
  copa = {"premise": s, "choice1": s, "choice2": s, "question": s, "label": V("int32"),
          "idx": V("int32")}
  return {
      "glue_mnli": {"premise": s, "hypothesis": s, "label": CL(names=list(NLI_LABELS)),
                    "idx": V("int32")},
      "glue_qqp": {"question1": s, "question2": s, "label": CL(names=list(QQP_LABELS)),
                   "idx": V("int32")},
      "snli": {"premise": s, "hypothesis": s, "label": CL(names=list(NLI_LABELS))},
      "anli": {"uid": s, "premise": s, "hypothesis": s, "label": CL(names=list(NLI_LABELS)),
               "reason": s},
      "squad": {"id": s, "title": s, "context": s, "question": s, "answers": answers},
      "xquad": {"id": s, "context": s, "question": s, "answers": answers},
      "hellaswag": {"ind": V("int32"), "activity_label": s, "ctx_a": s, "ctx_b": s, "ctx": s,
                    "endings": Seq(s), "source_id": s, "split": s, "split_type": s, "label": s},
      "cosmosqa": {"id": s, "context": s, "question": s, "answer0": s, "answer1": s,
                   "answer2": s, "answer3": s, "label": V("int32")},
      "commonsenseqa": {"id": s, "question": s, "question_concept": s,
                        "choices": Seq({"label": s, "text": s}), "answerKey": s},
      "xnli": {"language": s, "sentence1": s, "sentence2": s, "gold_label": s},
      "pawsx": {"sentence1": s, "sentence2": s, "label": s},
      "udpos": {"tokens": Seq(s), "pos_tags": Seq(CL(names=list(UPOS_LABELS)))},
      "panx": {"tokens": Seq(s), "ner_tags": Seq(CL(names=list(NER_LABELS))), "langs": Seq(s)},
      "retrieval": {"source_sentence": s, "target_sentence": s, "source_lang": s,
                    "target_lang": s},
      # XTREME-R's sources. facebook/xnli per-language configs:
      "xnli_mt": {"premise": s, "hypothesis": s, "label": CL(names=list(NLI_LABELS))},
      # SuperGLUE COPA's row layout; XCOPA adds `changed` (the item was edited for translation).
      "copa": copa,
      "xcopa": {**copa, "changed": V("bool")},
      "wikiann": {"tokens": Seq(s), "ner_tags": Seq(CL(names=list(NER_LABELS))), "langs": Seq(s),
                  "spans": Seq(s)},
  }[kind]


def write_split(root: str, source: str, config: str | None, split: str, rows: list[dict],
                kind: str, fmt: str = "parquet") -> None:
  """Writes `rows` as `{root}/{source}/{config}/{split}.{fmt}` with the Hub Features of `kind`.
  Parquet keeps the Features (ClassLabel names) in the file's metadata; jsonl does not."""
  import datasets
  directory = os.path.join(root, source, config) if config else os.path.join(root, source)
  os.makedirs(directory, exist_ok=True)
  ds = datasets.Dataset.from_list(rows, features=datasets.Features(hub_features(kind)))
  path = os.path.join(directory, f"{split}.{fmt}")
  if fmt == "parquet":
    ds.to_parquet(path)
  else:
    ds.to_json(path, force_ascii=False)

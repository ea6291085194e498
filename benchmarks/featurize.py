"""Featurization speed on real data: the pipeline's featurizers vs the Hugging Face recipes with the
same fast tokenizer, same process.

  python benchmarks/featurize.py --real-data=../shared/real-data --json=/tmp/featurize.json

Tasks and data (the official files in `--real-data`, see its README):
  pairs    PAWS-X ko dev + test (4,000 pairs), max_length 128; HF `run_glue`'s preprocess:
           `tokenizer(a, b, padding="max_length", max_length=T, truncation=True)`
  qa       XQuAD, every language given (default all 11: 13,090 questions), max_length 384,
           doc_stride 128; HF `run_qa`'s `prepare_validation_features`: one pair call with
           `truncation="only_second"`, overflowing windows and offsets, then per window the
           context-only offsets and the example id
  tagging  the UD r2.5 test treebanks present, max_length 128; HF `run_ner`'s
           `tokenize_and_align_labels`: one call per 1,000 sentences with `is_split_into_words`,
           then the first sub-word of each word labelled through `word_ids`
HF's recipes run as plain calls in chunks of 1,000 examples (what `datasets.map` hands them),
without `datasets`' own overhead. Semantics differ where documented (XTREME's doc_stride is the
step between windows, HF's stride the overlap; we split long sentences into windows, HF
truncates), so the outputs are not compared here; the featurizers' own tests pin them.

Tokenizer: --tokenizer DIR (e.g. a downloaded xlm-roberta-large), else an XLM-R-format
sentencepiece model trained offline on the benchmark's own text. Reported per task: seconds for
each (median of --repeats), examples, and speed relative to the recipe (recipe time / ours).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/featurize.py` from the repo root
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402

HF_CHUNK = 1000  # datasets.map's default batch size
UD_LANGUAGES = ("en", "ar", "zh", "fr", "de", "el", "he", "hi", "tr", "ja")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--real-data", required=True, help="the shared real-data folder")
  p.add_argument("--tasks", default="pairs,qa,tagging")
  p.add_argument("--xquad-languages", default="", help="comma-separated (default: all 11)")
  p.add_argument("--tokenizer", default="", help="XLM-R tokenizer directory (default: trained "
                 "offline on the benchmark's text)")
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--json", default=None, help="also write the result here")
  return p.parse_args(argv)


def _chunks(n: int):
  return [(i, min(i + HF_CHUNK, n)) for i in range(0, n, HF_CHUNK)]


def hf_pairs(examples, tokenizer, max_length: int) -> None:
  for lo, hi in _chunks(len(examples)):
    tokenizer([e.text_a for e in examples[lo:hi]], [e.text_b for e in examples[lo:hi]],
              padding="max_length", max_length=max_length, truncation=True)


def hf_qa(examples, tokenizer, max_length: int, doc_stride: int) -> None:
  for lo, hi in _chunks(len(examples)):
    chunk = examples[lo:hi]
    enc = tokenizer([e.question.lstrip() for e in chunk], [e.context for e in chunk],
                    truncation="only_second", max_length=max_length, stride=doc_stride,
                    return_overflowing_tokens=True, return_offsets_mapping=True,
                    padding="max_length")
    sample_mapping = enc.pop("overflow_to_sample_mapping")
    enc["example_id"] = []
    for i in range(len(enc["input_ids"])):
      sequence_ids = enc.sequence_ids(i)
      enc["example_id"].append(chunk[sample_mapping[i]].guid)
      enc["offset_mapping"][i] = [o if sequence_ids[k] == 1 else None
                                  for k, o in enumerate(enc["offset_mapping"][i])]


def hf_tagging(examples, tokenizer, max_length: int) -> None:
  for lo, hi in _chunks(len(examples)):
    chunk = examples[lo:hi]
    enc = tokenizer([list(e.words) for e in chunk], padding="max_length", truncation=True,
                    max_length=max_length, is_split_into_words=True)
    labels = []
    for i, e in enumerate(chunk):
      previous, row = None, []
      for word in enc.word_ids(batch_index=i):
        row.append(-100 if word is None or word == previous else e.labels[word])
        previous = word
      labels.append(row)
    enc["labels"] = labels


def load(args) -> dict[str, tuple]:
  """task -> (task name, [LoadedSplit], max_length, our extra featurizer options)."""
  from stilts_jax.tasks import load_examples
  from stilts_jax.tasks.target import XQUAD_LANGS
  root = Path(args.real_data)
  out = {}
  tasks = args.tasks.split(",")
  if "pairs" in tasks:
    out["pairs"] = ("pawsx", [load_examples("pawsx", split, "ko", data_overrides={
        f"pawsx/{split}/ko": str(root / "paws-x" / "ko")}) for split in ("validation", "test")],
                    128, {})
  if "qa" in tasks:
    langs = args.xquad_languages.split(",") if args.xquad_languages else list(XQUAD_LANGS)
    out["qa"] = ("xquad", [load_examples("xquad", "validation", lang, data_overrides={
        "xquad": str(root / "xquad")}) for lang in langs], 384, {"doc_stride": 128})
  if "tagging" in tasks:
    parts = []
    for lang in UD_LANGUAGES:
      try:
        parts.append(load_examples("udpos", "test", lang,
                                   data_overrides={"udpos": str(root / "ud" / "r2.5")}))
      except Exception:  # a treebank not in this copy of the data  # noqa: BLE001
        continue
    out["tagging"] = ("udpos", parts, 128, {})
  return out


def _texts(parts) -> list[str]:
  texts = []
  for loaded in parts:
    for e in loaded.examples:
      texts.extend(getattr(e, name) for name in ("text_a", "text_b", "context", "question")
                   if getattr(e, name, None))
      if getattr(e, "words", None):
        texts.append(" ".join(e.words))
  return list(dict.fromkeys(texts))


def main(argv: list[str] | None = None) -> dict:
  args = parse_args(argv)
  from transformers import XLMRobertaTokenizerFast

  from stilts_jax.features import featurize_split
  from stilts_jax.demo.tokenizer import build_tokenizer
  from stilts_jax.tasks import get_task
  data = load(args)
  tokenizer_dir = args.tokenizer or build_tokenizer(
      tempfile.mkdtemp(prefix="featurize_tok_"),
      [t for _, parts, _, _ in data.values() for t in _texts(parts)], vocab_size=8000)
  tokenizer = XLMRobertaTokenizerFast.from_pretrained(tokenizer_dir)
  recipes = {"pairs": lambda ex, t: hf_pairs(ex, tokenizer, t),
             "qa": lambda ex, t: hf_qa(ex, tokenizer, t, 128),
             "tagging": lambda ex, t: hf_tagging(ex, tokenizer, t)}

  def timed(fn):
    times = []
    for _ in range(args.repeats):
      start = time.perf_counter()
      fn()
      times.append(time.perf_counter() - start)
    return statistics.median(times)

  result = {**common.record("benchmarks/featurize.py", argv),
            "tokenizer": args.tokenizer or "offline sentencepiece (8000) trained on the data",
            "tasks": {}}
  for kind, (task, parts, max_length, options) in data.items():
    spec = get_task(task)
    ours = timed(lambda: [featurize_split(spec, p, tokenizer, max_length=max_length, **options)
                          for p in parts])
    theirs = timed(lambda: [recipes[kind](list(p.examples), max_length) for p in parts])
    result["tasks"][kind] = {
        "task": task, "files": len(parts), "examples": sum(len(p.examples) for p in parts),
        "max_length": max_length, "ours_s": ours, "hf_recipe_s": theirs,
        "speed_vs_hf_recipe": theirs / ours}
  common.write_json(args.json, result)
  return result


if __name__ == "__main__":
  main()

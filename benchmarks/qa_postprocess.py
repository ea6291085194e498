"""Span-QA post-processing speed on real XQuAD: `features.postprocess` vs the Hugging Face recipe
(`postprocess_qa_predictions` of transformers' question-answering example), same features (each in
the form its code reads) and logits, same process.

  python benchmarks/qa_postprocess.py --xquad-dir=../shared/real-data/xquad --json=/tmp/qa.json

Data: the official XQuAD files of every language given (default all 11: 13,090 questions),
featurized by the pipeline's featurizer (max_length 384, doc_stride 128). Tokenizer: --tokenizer
DIR (e.g. a downloaded xlm-roberta-large), else an XLM-R-format sentencepiece model trained on the
XQuAD text itself (offline, ~15 s). Logits: a model-like mix, seeded: Gaussian noise plus a margin
at the gold start/end of windows holding the answer, so most questions have one clear answer and
many competing candidates.

The peer is the HF recipe as its example script runs it, written out here (the script is not part
of the transformers package): per window the top-n_best start and end positions by raw logit
(`np.argsort`), a Python double loop dropping spans outside the context, not max-context, reversed
or too long, then all candidates sorted by score and the best text taken. Ours masks invalid
positions before the top-k (documented in `postprocess_details`), so the two may differ where a
window's top-20 holds question or padding positions; the agreement is reported.

Reported: µs per question for each (median of --repeats), our speed relative to the recipe
(recipe time / ours; ≥ 1 means faster), and the fraction of questions with identical answers.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import tempfile
import time

import numpy as np

if __package__ in (None, ""):  # `python benchmarks/qa_postprocess.py` from the repo root
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--xquad-dir", required=True, help="folder of the official xquad.LANG.json files")
  p.add_argument("--languages", default="", help="comma-separated (default: all 11)")
  p.add_argument("--tokenizer", default="", help="XLM-R tokenizer directory (default: trained "
                 "offline on the XQuAD text)")
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--json", default=None, help="also write the result here")
  return p.parse_args(argv)


def as_hf_features(features) -> list[dict]:
  """Our feature arrays in the form the HF example indexes them: per window a dict with
  `offset_mapping` (a list, None outside the context), `token_is_max_context` and the example."""
  offsets = features["offsets"].tolist()
  is_max = features["token_is_max_context"].tolist()
  return [{"example_index": int(i), "token_is_max_context": m,
           "offset_mapping": [tuple(o) if o[0] >= 0 else None for o in offs]}
          for i, offs, m in zip(features["example_index"], offsets, is_max)]


def hf_recipe(examples, hf_features, start_logits, end_logits, n_best_size=20,
              max_answer_length=30) -> dict[str, str]:
  """The HF example's post-processing (its candidate loop, sort and n-best texts)."""
  per_example = collections.defaultdict(list)
  for f, feature in enumerate(hf_features):
    per_example[feature["example_index"]].append(f)
  answers = {}
  for i, e in enumerate(examples):
    candidates = []
    for f in per_example[i]:
      sl, el = start_logits[f], end_logits[f]
      offsets = hf_features[f]["offset_mapping"]
      is_max = hf_features[f]["token_is_max_context"]
      starts = np.argsort(sl)[-1:-n_best_size - 1:-1].tolist()
      ends = np.argsort(el)[-1:-n_best_size - 1:-1].tolist()
      for s in starts:
        for t in ends:
          if s >= len(offsets) or t >= len(offsets) or offsets[s] is None or offsets[t] is None:
            continue
          if t < s or t - s + 1 > max_answer_length:
            continue
          if not is_max[s]:
            continue
          candidates.append({"offsets": (offsets[s][0], offsets[t][1]),
                             "score": sl[s] + el[t], "start_logit": sl[s], "end_logit": el[t]})
    candidates = sorted(candidates, key=lambda c: c["score"], reverse=True)[:n_best_size]
    for c in candidates:
      c["text"] = e.context[c["offsets"][0]:c["offsets"][1]]
    answers[e.guid] = candidates[0]["text"] if candidates else ""
  return answers


def model_like_logits(features, rng) -> tuple[np.ndarray, np.ndarray]:
  shape = features["input_ids"].shape
  start = rng.normal(size=shape).astype(np.float32)
  end = rng.normal(size=shape).astype(np.float32)
  rows = np.nonzero(features["start_positions"] > 0)[0]
  start[rows, features["start_positions"][rows]] += 4.0
  end[rows, features["end_positions"][rows]] += 4.0
  return start, end


def main(argv: list[str] | None = None) -> dict:
  args = parse_args(argv)
  from transformers import XLMRobertaTokenizerFast

  from stilts_jax.features import featurize_split, postprocess
  from stilts_jax.demo.tokenizer import build_tokenizer
  from stilts_jax.tasks import get_task, load_examples
  from stilts_jax.tasks.target import XQUAD_LANGS
  languages = args.languages.split(",") if args.languages else list(XQUAD_LANGS)
  loaded = {lang: load_examples("xquad", "validation", lang,
                                data_overrides={"xquad": args.xquad_dir}) for lang in languages}
  tokenizer_dir = args.tokenizer
  if not tokenizer_dir:
    texts = dict.fromkeys(t for part in loaded.values() for e in part.examples
                          for t in (e.context, e.question))
    tokenizer_dir = build_tokenizer(tempfile.mkdtemp(prefix="qa_tok_"), texts, vocab_size=8000)
  tokenizer = XLMRobertaTokenizerFast.from_pretrained(tokenizer_dir)
  rng = np.random.default_rng(args.seed)
  parts = []
  for lang, part in loaded.items():
    features = featurize_split(get_task("xquad"), part, tokenizer, max_length=384)
    parts.append((list(part.examples), features, as_hf_features(features),
                  *model_like_logits(features, rng)))
  questions = sum(len(p[0]) for p in parts)

  def timed(fn, hf_form):
    times, out = [], {}
    for _ in range(args.repeats):
      t = time.perf_counter()
      out = {}
      for examples, features, hf_features, start, end in parts:
        out.update(fn(examples, hf_features if hf_form else features, start, end))
      times.append(time.perf_counter() - t)
    return statistics.median(times), out

  ours_s, ours = timed(postprocess, hf_form=False)
  hf_s, theirs = timed(hf_recipe, hf_form=True)
  same = sum(ours[g] == theirs[g] for g in ours) / len(ours)
  result = {
      **common.record("benchmarks/qa_postprocess.py", argv),
      "languages": languages, "questions": questions,
      "windows": int(sum(p[1]["input_ids"].shape[0] for p in parts)),
      "tokenizer": args.tokenizer or "offline sentencepiece (8000) trained on XQuAD",
      "ours_us_per_question": 1e6 * ours_s / questions,
      "hf_recipe_us_per_question": 1e6 * hf_s / questions,
      "speed_vs_hf_recipe": hf_s / ours_s,
      "identical_answers": same,
  }
  common.write_json(args.json, result)
  return result


if __name__ == "__main__":
  main()

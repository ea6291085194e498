"""Span-QA post-processing through the evaluator: logits that point at the gold answer recover it.

Hand-made Chinese, Thai and Arabic examples (seven sentences per context, the answers in the
middle one) are featurized with a short max_length and stride, so each context takes several
windows. A fake step looks each batch row up by its tokens and puts high start/end logits on the
gold span in the one window where the answer's first token has its maximum context; everything
else is 0. Through run_stream (bucketing, sorting, padding rows, 8 devices) and postprocess, every
answer must come back exactly: EM = F1 = 100 per language.
"""

import jax.numpy as jnp
import numpy as np
import pytest

import _evaluate_helpers as H
from stilts_jax import evaluate
from stilts_jax.examples import Answer, SpanExample
from stilts_jax.features import featurize_split
from stilts_jax.tasks import LoadedSplit, get_task
import _fixture_text as T

MAX_LENGTH, DOC_STRIDE, MAX_QUERY = 48, 6, 8
LANGUAGES = ("zh", "th", "ar")


@pytest.fixture(scope="module")
def qa_tokenizer(tmp_path_factory):
  """A tokenizer that has seen these contexts: the session one maps unseen CJK characters to one
  `<unk>` spanning several characters ("柏林是德国"), and no token boundary then separates the
  answer from its neighbours, for a perfect model or any other."""
  from transformers import AutoTokenizer

  from conftest import MULTILINGUAL_TEXT
  from stilts_jax.demo.tokenizer import build_tokenizer
  texts = list(MULTILINGUAL_TEXT)
  for lang in LANGUAGES:
    b = T.BANK[lang]
    texts += [b[k] for k in ("premise", "entail", "neutral", "contra", "context")]
    texts += [q for q, _ in b["qa"]]
  path = build_tokenizer(tmp_path_factory.mktemp("qa_tokenizer"), texts * 4, vocab_size=600)
  tok = AutoTokenizer.from_pretrained(path)
  for lang in LANGUAGES:
    ids = tok(T.BANK[lang]["context"], add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids, lang
  return tok


def _examples(language: str) -> tuple[SpanExample, ...]:
  b = T.BANK[language]
  # The answers are in the middle sentence, several windows away from the context's start.
  context = " ".join([b["premise"], b["entail"], b["neutral"], b["context"], b["contra"],
                      b["premise"], b["entail"]])
  out = []
  for k, (question, answer) in enumerate(b["qa"]):
    start = context.index(answer)
    out.append(SpanExample(guid=f"{language}-{k}", question=question, context=context,
                           answers=(Answer(answer, start),), language=language))
  return tuple(out)


def _part(task: str, language: str, tokenizer) -> evaluate.EvalPart:
  spec = get_task(task)
  loaded = LoadedSplit(task, "validation" if task == "xquad" else "test", language,
                       _examples(language), None, {}, ("test",), "hub_rows")
  features = featurize_split(spec, loaded, tokenizer, max_length=MAX_LENGTH,
                             doc_stride=DOC_STRIDE, max_query_length=MAX_QUERY)
  return evaluate.EvalPart(loaded.split, language, loaded, features)


def _gold_logits(parts) -> dict[bytes, tuple[int, int]]:
  """Row tokens → (start, end) of the gold span, for the window where it has max context."""
  table: dict[bytes, tuple[int, int]] = {}
  for part in parts:
    f = part.features
    for i in range(len(part.loaded.examples)):
      rows = np.flatnonzero(f["example_index"] == i)
      assert len(rows) >= 3, f"{part.language}: the context should take several windows"
      starts, ends = f["start_positions"][rows], f["end_positions"][rows]
      best = [r for r, s in zip(rows, starts) if s > 0 and f["token_is_max_context"][r, s]]
      assert len(best) == 1, f"{part.language} example {i}: one max-context window expected"
      r = best[0]
      # Not the first window: the answer sits past the start of the context.
      assert r != rows[0]
      key = f["input_ids"][r][f["attention_mask"][r] == 1].tobytes()
      assert key not in table
      table[key] = (int(f["start_positions"][r]), int(f["end_positions"][r]))
  return table


def _perfect_step(table):
  def step(batch):
    ids = np.asarray(batch["input_ids"])
    am = np.asarray(batch["attention_mask"])
    start = np.zeros(ids.shape, np.float32)
    end = np.zeros(ids.shape, np.float32)
    for row in range(ids.shape[0]):
      hit = table.get(ids[row][am[row] == 1].tobytes())
      if hit is not None:
        start[row, hit[0]] = end[row, hit[1]] = 10.0
    return {"start_logits": jnp.asarray(start), "end_logits": jnp.asarray(end)}
  return step


@pytest.mark.parametrize("task,languages", [("xquad", LANGUAGES), ("mlqa", ("zh", "ar"))])
def test_perfect_logits_recover_gold_answers(qa_tokenizer, task, languages):
  parts = [_part(task, lang, qa_tokenizer) for lang in languages]
  table = _gold_logits(parts)
  mesh = H.mesh_for({"data": 2, "fsdp": 4})
  results = evaluate.Evaluator(mesh, H.GLOBAL_BATCH, (32, 48)).parts(
      get_task(task), parts, _perfect_step(table))
  assert [r.part.language for r in results] == list(languages)
  for part, scores, preds in ((r.part, r.scores, r.predictions) for r in results):
    assert preds == [(e.guid, e.answers[0].text) for e in part.loaded.examples], part.language
    assert set(scores.values()) == {100.0}, (part.language, scores)
    assert len(scores) == 2


def test_answer_outside_max_context_window_is_not_taken(qa_tokenizer):
  """Control: the same logits put in a window where the start token is NOT max-context must be
  ignored, so the test above really depends on the max-context restriction being honoured."""
  part = _part("xquad", "th", qa_tokenizer)
  f = part.features
  table = {}
  for i in range(len(part.loaded.examples)):
    rows = np.flatnonzero(f["example_index"] == i)
    other = [r for r in rows if f["start_positions"][r] > 0
             and not f["token_is_max_context"][r, f["start_positions"][r]]]
    assert other, "some window should contain the answer without max context for its start"
    r = other[0]
    table[f["input_ids"][r][f["attention_mask"][r] == 1].tobytes()] = (
        int(f["start_positions"][r]), int(f["end_positions"][r]))
  (result,) = evaluate.Evaluator(H.mesh_for(None), H.GLOBAL_BATCH, (32, 48)).parts(
      get_task("xquad"), [part], _perfect_step(table))
  scores, preds = result.scores, [p for _, p in result.predictions]
  assert preds != [e.answers[0].text for e in part.loaded.examples]
  assert scores["squad_em"] < 100.0


# ---------------------------------------------------------------------------------------------
# MLQA partial credit through the evaluator, against the official scorer's semantics.

def _official_mlqa(prediction: str, gold: str, lang: str) -> tuple[float, float]:
  """MLQA's evaluate_mlqa.py, written out independently of stilts_jax.metrics: lowercase, drop
  Unicode-P and ASCII punctuation, drop the language's articles, then whitespace tokens (zh: every
  CJK character is its own token); (exact match, token F1)."""
  import re
  import string
  import sys
  import unicodedata
  from collections import Counter
  punct = {chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")}
  punct |= set(string.punctuation)
  articles = {"en": r"\b(a|an|the)\b", "es": r"\b(un|una|unos|unas|el|la|los|las)\b",
              "de": r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b",
              "vi": r"\b(của|là|cái|chiếc|những)\b", "ar": r"\sال^|ال"}

  def tokens(s):
    s = "".join(ch for ch in s.lower() if ch not in punct)
    if lang in articles:
      s = re.sub(articles[lang], " ", s)
    if lang != "zh":
      return s.split()
    out, pending = [], ""
    for ch in s:
      if re.search(r"[\u4e00-\u9fa5]", ch) or ch in punct:
        out += pending.split() + [ch]
        pending = ""
      else:
        pending += ch
    return [t for t in out + pending.split() if t.strip()]

  p, g = tokens(prediction), tokens(gold)
  same = sum((Counter(p) & Counter(g)).values())
  if not same:
    return float(p == g), 0.0
  precision, recall = same / len(p), same / len(g)
  return float(p == g), 2 * precision * recall / (precision + recall)


MLQA_LANGUAGES = ("zh", "ar", "hi", "de")


@pytest.fixture(scope="module")
def mlqa_tokenizer(tmp_path_factory):
  from transformers import AutoTokenizer

  from conftest import MULTILINGUAL_TEXT
  from stilts_jax.demo.tokenizer import build_tokenizer
  texts = list(MULTILINGUAL_TEXT)
  for lang in MLQA_LANGUAGES:
    b = T.BANK[lang]
    texts += [b[k] for k in ("premise", "entail", "neutral", "contra", "context")]
    texts += [q for q, _ in b["qa"]]
  return AutoTokenizer.from_pretrained(
      build_tokenizer(tmp_path_factory.mktemp("mlqa_tokenizer"), texts * 4, vocab_size=700))


@pytest.mark.parametrize("language", MLQA_LANGUAGES)
def test_mlqa_partial_credit_through_the_evaluator(mlqa_tokenizer, language):
  """Logits put each answer's end two context tokens past the gold end: the evaluator's F1 is
  the official MLQA F1 of the predicted texts, with the language's own normalisation."""
  part = _part("mlqa", language, mlqa_tokenizer)
  f = part.features
  start = np.zeros(f["input_ids"].shape, np.float32)
  end = np.zeros_like(start)
  for i in range(len(part.loaded.examples)):
    rows = np.flatnonzero(f["example_index"] == i)
    (r,) = [r for r in rows if f["start_positions"][r] > 0
            and f["token_is_max_context"][r, f["start_positions"][r]]]
    context = np.flatnonzero(f["offsets"][r, :, 0] >= 0)
    start[r, f["start_positions"][r]] = 10.0
    end[r, min(f["end_positions"][r] + 2, context.max())] = 10.0
  scores, predictions = evaluate.score_part(get_task("mlqa"), part,
                                            {"start_logits": start, "end_logits": end})
  golds = [e.answers[0].text for e in part.loaded.examples]
  em, f1 = np.array([_official_mlqa(p, g, language) for p, g in zip(predictions, golds)]).T
  assert scores["mlqa_f1"] == pytest.approx(100 * f1.mean(), abs=1e-9)
  assert scores["mlqa_em"] == pytest.approx(100 * em.mean(), abs=1e-9)
  assert 0 < scores["mlqa_f1"] < 100  # partial credit, not all or nothing
  assert all(p != g and g in p for p, g in zip(predictions, golds))

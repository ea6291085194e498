"""Extractive QA (SQuAD 1.1/2.0, XQuAD, MLQA, TyDiQA-GoldP): windows and post-processing.

Featurization follows jiant / XTREME's `squad_convert_example_to_features` semantics with the fast
tokenizer's char offsets instead of whitespace `doc_tokens`:
  * the question is tokenized alone and cut to `max_query_length` sub-words;
  * the context is tokenized alone (with char offsets, batched) and cut into windows of
    `max_length - len(q) - 4` sub-words, `<s> q </s></s> ctx_window </s>`, consecutive windows
    starting `doc_stride` sub-words apart (XTREME's meaning of doc_stride: the step, not the
    overlap);
  * `token_is_max_context` marks, for each context token, the one window where it has the most
    context (BERT's `min(left, right) + 0.01 * window_len`, first window on ties);
  * the (first) answer's char span maps to the first and last context tokens it overlaps; a window
    that does not contain the whole answer, and every window of an unanswerable or unlabeled
    example, points at `<s>` (index 0).
Because answers are read back from the ORIGINAL context through the offsets, no `get_final_text`
step is needed (which is what broke Chinese in HF/XTREME, xtreme#38).

Per-window metadata lives in the feature arrays: `offsets [N,T,2]` (char span in the context, -1 for
question/special/pad tokens), `token_is_max_context [N,T]` (bool) and `example_index [N]`. They are
not model inputs (see `QA_METADATA_KEYS`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from stilts_jax.examples import SpanExample
from stilts_jax.features.common import SpecialIds, padded_length, pad_rows, tokenize

QA_SPECIALS = 4  # <s> q </s></s> ctx </s>
QA_METADATA_KEYS = ("example_index", "offsets", "token_is_max_context")


def _check_answers(e: SpanExample) -> None:
  for a in e.answers:
    end = a.start + len(a.text)
    if a.start < 0 or end > len(e.context) or e.context[a.start:end] != a.text:
      raise ValueError(
          f"Example {e.guid!r}: answer {a.text!r} at char {a.start} is not in the context "
          f"(expected context[{a.start}:{end}] == answer text; the context has "
          f"{len(e.context)} chars).")
    if not a.text.strip():
      raise ValueError(f"Example {e.guid!r}: answer at char {a.start} is empty or whitespace.")
  if e.is_impossible and e.answers:
    raise ValueError(f"Example {e.guid!r}: is_impossible but has {len(e.answers)} answer(s).")


def answer_token_span(offsets: np.ndarray, start_char: int, end_char: int, guid: str
                      ) -> tuple[int, int]:
  """First and last context tokens overlapping chars [start_char, end_char)."""
  hit = np.nonzero((offsets[:, 0] < end_char) & (offsets[:, 1] > start_char))[0]
  if hit.size == 0:
    raise ValueError(f"Example {guid!r}: no context token covers answer chars "
                     f"[{start_char}, {end_char}).")
  return int(hit[0]), int(hit[-1])


def window_starts(num_tokens: int, window: int, doc_stride: int) -> list[int]:
  """Start offsets of the context windows (BERT/XTREME loop: step doc_stride, stop at the end)."""
  starts, s = [], 0
  while True:
    starts.append(s)
    if s + window >= num_tokens:
      return starts
    s += min(window, doc_stride)


def max_context_mask(starts: Sequence[int], num_tokens: int, window: int) -> np.ndarray:
  """`[num_windows, num_tokens]` bool: window w is where token j has the most context."""
  j = np.arange(num_tokens)[None, :]
  s = np.asarray(starts)[:, None]
  length = np.minimum(window, num_tokens - s)
  inside = (j >= s) & (j < s + length)
  score = np.where(inside, np.minimum(j - s, s + length - 1 - j) + 0.01 * length, -np.inf)
  best = score.argmax(0)  # first window on ties, like BERT's strict `>`
  return (best[None, :] == np.arange(len(starts))[:, None]) & inside


def featurize_qa(examples: Sequence[SpanExample], tokenizer, max_length: int = 384,
                 doc_stride: int = 128, max_query_length: int = 64, *,
                 pad_to_max_length: bool = True) -> dict[str, np.ndarray]:
  """Span-QA features, one row per context window.

  Returns int32 `input_ids [N,T]`, `attention_mask [N,T]`, `start_positions [N]`,
  `end_positions [N]` (0 = `<s>` when the window lacks the answer), `example_index [N]`,
  `offsets [N,T,2]` (context char offsets, -1 elsewhere) and bool `token_is_max_context [N,T]`.
  """
  if doc_stride < 1:
    raise ValueError(f"doc_stride must be >= 1, got {doc_stride}.")
  special = SpecialIds.of(tokenizer)
  for e in examples:
    _check_answers(e)
  # Leading spaces of some SQuAD questions would only waste query budget (as in HF run_qa).
  q_ids, _ = tokenize(tokenizer, [e.question.lstrip() for e in examples])
  c_ids, c_offs = tokenize(tokenizer, [e.context for e in examples], offsets=True)
  rows, offs_rows, max_ctx_rows, starts_out, ends_out, ex_out = [], [], [], [], [], []
  for i, e in enumerate(examples):
    q = q_ids[i][:max_query_length]
    window = max_length - len(q) - QA_SPECIALS
    if window < 1:
      raise ValueError(
          f"Example {e.guid!r}: max_length={max_length} cannot fit the {len(q)}-token question "
          f"plus {QA_SPECIALS} special tokens and at least one context token (expected "
          f"max_length >= {len(q) + QA_SPECIALS + 1}, or a smaller max_query_length).")
    ctx = np.asarray(c_ids[i], dtype=np.int32)
    offs = np.asarray(c_offs[i], dtype=np.int32).reshape(-1, 2)
    span = None
    if e.answers:
      a = e.answers[0]
      span = answer_token_span(offs, a.start, a.start + len(a.text), e.guid)
    starts = window_starts(len(ctx), window, doc_stride)
    max_ctx = max_context_mask(starts, len(ctx), window)
    head = [special.cls, *q, special.sep, special.sep]
    for w, s in enumerate(starts):
      end = min(s + window, len(ctx))
      rows.append(head + ctx[s:end].tolist() + [special.sep])
      row_offs = np.full((len(rows[-1]), 2), -1, dtype=np.int32)
      row_offs[len(head):len(head) + end - s] = offs[s:end]
      offs_rows.append(row_offs)
      row_max = np.zeros(len(rows[-1]), dtype=bool)
      row_max[len(head):len(head) + end - s] = max_ctx[w, s:end]
      max_ctx_rows.append(row_max)
      if span is not None and s <= span[0] and span[1] < end:
        starts_out.append(len(head) + span[0] - s)
        ends_out.append(len(head) + span[1] - s)
      else:
        starts_out.append(0)
        ends_out.append(0)
      ex_out.append(i)
  length = padded_length([len(r) for r in rows], max_length, pad_to_max_length)
  offsets = np.full((len(rows), length, 2), -1, dtype=np.int32)
  token_is_max_context = np.zeros((len(rows), length), dtype=bool)
  for r, (o, m) in enumerate(zip(offs_rows, max_ctx_rows)):
    offsets[r, :len(o)] = o
    token_is_max_context[r, :len(m)] = m
  return {
      "input_ids": pad_rows(rows, length, special.pad),
      "attention_mask": pad_rows([[1] * len(r) for r in rows], length, 0),
      "start_positions": np.asarray(starts_out, dtype=np.int32),
      "end_positions": np.asarray(ends_out, dtype=np.int32),
      "example_index": np.asarray(ex_out, dtype=np.int32),
      "offsets": offsets,
      "token_is_max_context": token_is_max_context,
  }


@dataclasses.dataclass
class QAPredictions:
  """Post-processed QA predictions, keyed by example guid."""
  texts: dict[str, str]
  null_odds: dict[str, float]  # score_null - best non-null score; empty unless SQuAD 2.0
  nbest: dict[str, list[dict]]  # [{"text", "score", "start_logit", "end_logit"}], best first


def postprocess_details(examples: Sequence[SpanExample], features: dict[str, np.ndarray],
                        start_logits: np.ndarray, end_logits: np.ndarray, *,
                        n_best_size: int = 20, max_answer_length: int = 30,
                        version_2_with_negative: bool = False,
                        null_score_diff_threshold: float = 0.0) -> QAPredictions:
  """Best answer text per example from per-window start/end logits `[N,T]`.

  Candidates: the top `n_best_size` starts and ends of each window, among context tokens (starts
  also restricted to the window's max-context tokens), with start <= end and at most
  `max_answer_length` tokens, scored start_logit + end_logit. Unlike HF, invalid positions are
  masked *before* the top-k, so a confident padding position never crowds out real candidates.
  SQuAD 2.0: score_null = min over the example's windows of start[0] + end[0]; the prediction is ""
  when score_null - best non-null score > `null_score_diff_threshold` (or when nothing is valid).
  """
  start_logits = np.asarray(start_logits, dtype=np.float32)
  end_logits = np.asarray(end_logits, dtype=np.float32)
  offsets = np.asarray(features["offsets"])
  is_max = np.asarray(features["token_is_max_context"])
  example_index = np.asarray(features["example_index"])
  if start_logits.shape != offsets.shape[:2] or end_logits.shape != offsets.shape[:2]:
    raise ValueError(f"Logits {start_logits.shape}/{end_logits.shape} do not match features "
                     f"{offsets.shape[:2]} (expected [N,T]).")
  if example_index.size and example_index.max() >= len(examples):
    raise ValueError(f"Features refer to example {example_index.max()} but only {len(examples)} "
                     f"examples were given (expected the list that was featurized).")
  in_ctx = offsets[..., 0] >= 0
  order = np.argsort(example_index, kind="stable")
  bounds = np.searchsorted(example_index[order], np.arange(len(examples) + 1))
  texts, null_odds, nbest = {}, {}, {}
  for i, e in enumerate(examples):
    cands, score_null = [], np.inf
    for f in order[bounds[i]:bounds[i + 1]]:
      sl, el = start_logits[f], end_logits[f]
      score_null = min(score_null, float(sl[0] + el[0]))
      s_valid, e_valid = in_ctx[f] & is_max[f], in_ctx[f]
      k = n_best_size
      s_idx = np.nonzero(s_valid)[0]
      s_idx = s_idx[np.argsort(-sl[s_idx], kind="stable")[:k]]
      e_idx = np.nonzero(e_valid)[0]
      e_idx = e_idx[np.argsort(-el[e_idx], kind="stable")[:k]]
      ss, ee = np.meshgrid(s_idx, e_idx, indexing="ij")
      ok = (ee >= ss) & (ee - ss + 1 <= max_answer_length)
      for s, t in zip(ss[ok], ee[ok]):
        cands.append((float(sl[s] + el[t]), float(sl[s]), float(el[t]),
                      int(offsets[f, s, 0]), int(offsets[f, t, 1])))
    cands.sort(key=lambda c: -c[0])
    best, seen = [], set()
    for score, sl_, el_, c0, c1 in cands:
      text = e.context[c0:c1]
      if text in seen:  # several windows/spans often yield the same text (jiant dedups too)
        continue
      seen.add(text)
      best.append({"text": text, "score": score, "start_logit": sl_, "end_logit": el_})
      if len(best) == n_best_size:
        break
    text = best[0]["text"] if best else ""
    if version_2_with_negative:
      diff = score_null - best[0]["score"] if best else np.inf
      null_odds[e.guid] = float(diff)
      if diff > null_score_diff_threshold:
        text = ""
    texts[e.guid] = text
    nbest[e.guid] = best
  return QAPredictions(texts=texts, null_odds=null_odds, nbest=nbest)


def postprocess(examples: Sequence[SpanExample], features: dict[str, np.ndarray],
                start_logits: np.ndarray, end_logits: np.ndarray, **kwargs) -> dict[str, str]:
  """`{guid: answer text}`; see `postprocess_details` for options, null odds and n-best lists."""
  return postprocess_details(examples, features, start_logits, end_logits, **kwargs).texts

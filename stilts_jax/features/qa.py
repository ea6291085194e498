"""Extractive QA (SQuAD 1.1/2.0, XQuAD, MLQA, TyDiQA-GoldP): windows and post-processing.

Featurization follows jiant / XTREME's `squad_convert_example_to_features` semantics with the fast
tokenizer's char offsets instead of whitespace `doc_tokens`:
  * the question is tokenized alone and cut to `max_query_length` sub-words;
  * the context is tokenized alone (with char offsets, batched, each distinct context once) and
    cut into windows of `max_length - len(q) - 4` sub-words, `<s> q </s></s> ctx_window </s>`,
    consecutive windows starting `doc_stride` sub-words apart (XTREME's meaning of doc_stride:
    the step, not the overlap);
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
    offs = c_offs[i]
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


# Examples are post-processed in groups whose windows' [windows, k, k] candidate arrays stay small
# (~1,000 windows x 400 candidates).
_EXAMPLES_PER_CHUNK = 1024


def _top_k(logits: np.ndarray, valid: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
  """Per row, the `k` highest valid positions (ties to the lower index) and whether each is valid
  (a row with fewer than `k` valid positions is padded with invalid ones)."""
  idx = np.argsort(np.where(valid, -logits, np.inf), axis=1, kind="stable")[:, :k]
  return idx, np.take_along_axis(valid, idx, axis=1)


class _Candidates:
  """Every candidate span of some windows, as arrays: window `w` (a row of the features), start
  and end token, score; in the order the spec ranks them (see `postprocess_details`)."""

  def __init__(self, windows, start_logits, end_logits, offsets, is_max, k, max_answer_length):
    sl, el, offs = start_logits[windows], end_logits[windows], offsets[windows]
    in_ctx = offs[..., 0] >= 0
    s_idx, s_ok = _top_k(sl, in_ctx & is_max[windows], k)
    e_idx, e_ok = _top_k(el, in_ctx, k)
    ss, ee = s_idx[:, :, None], e_idx[:, None, :]
    score = (np.take_along_axis(sl, s_idx, 1)[:, :, None]
             + np.take_along_axis(el, e_idx, 1)[:, None, :])  # float32, as the logits
    ok = (s_ok[:, :, None] & e_ok[:, None, :] & (ee >= ss) & (ee - ss + 1 <= max_answer_length)
          & np.isfinite(score))
    # C order of [window, start rank, end rank]: the enumeration order ties are resolved in.
    w, si, ei = np.nonzero(ok)
    self.window = windows[w]
    self.start, self.end = s_idx[w, si], e_idx[w, ei]
    self.score = score[w, si, ei]
    self.start_logit, self.end_logit = sl[w, self.start], el[w, self.end]
    self.char_start, self.char_end = offs[w, self.start, 0], offs[w, self.end, 1]


def postprocess_details(examples: Sequence[SpanExample], features: dict[str, np.ndarray],
                        start_logits: np.ndarray, end_logits: np.ndarray, *,
                        n_best_size: int = 20, max_answer_length: int = 30,
                        version_2_with_negative: bool = False,
                        null_score_diff_threshold: float = 0.0,
                        with_nbest: bool = True) -> QAPredictions:
  """Best answer text per example from per-window start/end logits `[N,T]`.

  Candidates: the top `n_best_size` starts and ends of each window, among context tokens (starts
  also restricted to the window's max-context tokens), with start <= end and at most
  `max_answer_length` tokens, scored start_logit + end_logit (non-finite scores are no
  candidates). Unlike HF, invalid positions are masked *before* the top-k, so a confident padding
  position never crowds out real candidates. Ranking: score, then window (feature order), start
  rank, end rank. SQuAD 2.0: score_null = min over the example's windows of start[0] + end[0];
  the prediction is "" when score_null - best non-null score > `null_score_diff_threshold` (or
  when nothing is valid). `with_nbest=False` skips the n-best lists (the text is the top
  candidate either way): everything else is whole-array numpy.
  """
  start_logits = np.asarray(start_logits, dtype=np.float32)
  end_logits = np.asarray(end_logits, dtype=np.float32)
  offsets = np.asarray(features["offsets"])
  is_max = np.asarray(features["token_is_max_context"]).astype(bool)
  example_index = np.asarray(features["example_index"])
  if start_logits.shape != offsets.shape[:2] or end_logits.shape != offsets.shape[:2]:
    raise ValueError(f"Logits {start_logits.shape}/{end_logits.shape} do not match features "
                     f"{offsets.shape[:2]} (expected [N,T]).")
  if example_index.size and example_index.max() >= len(examples):
    raise ValueError(f"Features refer to example {example_index.max()} but only {len(examples)} "
                     f"examples were given (expected the list that was featurized).")
  k = min(n_best_size, start_logits.shape[1])
  # Windows grouped by example, in feature order within each (a stable sort).
  order = np.argsort(example_index, kind="stable")
  bounds = np.searchsorted(example_index[order], np.arange(len(examples) + 1))
  score_null = np.full(len(examples), np.inf)
  np.minimum.at(score_null, example_index, start_logits[:, 0] + end_logits[:, 0])
  texts, null_odds, nbest = {}, {}, {}
  for lo in range(0, len(examples), _EXAMPLES_PER_CHUNK):
    hi = min(lo + _EXAMPLES_PER_CHUNK, len(examples))
    c = _Candidates(order[bounds[lo]:bounds[hi]], start_logits, end_logits, offsets, is_max, k,
                    max_answer_length)
    # Stable: by example, then score (descending); ties keep the enumeration order.
    example_of = example_index[c.window]
    ranked = np.lexsort((-c.score, example_of))
    first = np.searchsorted(example_of[ranked], np.arange(lo, hi + 1))
    for i in range(lo, hi):
      e = examples[i]
      mine = ranked[first[i - lo]:first[i - lo + 1]]
      best = _nbest(e.context, c, mine, n_best_size) if with_nbest else [
          {"text": e.context[c.char_start[j]:c.char_end[j]], "score": float(c.score[j])}
          for j in mine[:1]]
      text = best[0]["text"] if best else ""
      if version_2_with_negative:
        diff = float(score_null[i]) - best[0]["score"] if best else np.inf
        null_odds[e.guid] = float(diff)
        if diff > null_score_diff_threshold:
          text = ""
      texts[e.guid] = text
      if with_nbest:
        nbest[e.guid] = best
  return QAPredictions(texts=texts, null_odds=null_odds, nbest=nbest)


def _nbest(context: str, c: _Candidates, ranked: np.ndarray, n_best_size: int) -> list[dict]:
  """The first `n_best_size` distinct answer texts of one example's ranked candidates (several
  windows/spans often yield the same text; jiant dedups too)."""
  best, seen = [], set()
  for j in ranked:
    text = context[c.char_start[j]:c.char_end[j]]
    if text in seen:
      continue
    seen.add(text)
    best.append({"text": text, "score": float(c.score[j]), "start_logit": float(c.start_logit[j]),
                 "end_logit": float(c.end_logit[j])})
    if len(best) == n_best_size:
      break
  return best


def postprocess(examples: Sequence[SpanExample], features: dict[str, np.ndarray],
                start_logits: np.ndarray, end_logits: np.ndarray, **kwargs) -> dict[str, str]:
  """`{guid: answer text}`; see `postprocess_details` for options, null odds and n-best lists."""
  return postprocess_details(examples, features, start_logits, end_logits, with_nbest=False,
                             **kwargs).texts

"""Golden tests: QA windows (answer spans through offsets) and post-processing, across scripts."""

import numpy as np
import pytest

from stilts_jax.examples import Answer, SpanExample
from stilts_jax.features import featurize_qa, postprocess, postprocess_details
from stilts_jax.features.qa import max_context_mask, window_starts

CLS, PAD, SEP = 0, 1, 2

# (language, question, context, answer): the answer sits late, so it is only in later windows.
CASES = [
    ("zh", "他在弹什么？",
     "敏捷的棕色狐狸跳过了懒狗。一个男人在街上弹吉他。敏捷的棕色狐狸跳过了懒狗。", "吉他"),
    ("th", "เขาเล่นอะไร",
     "สุนัขจิ้งจอกสีน้ำตาลกระโดดข้ามสุนัขขี้เกียจผู้ชายคนหนึ่งกำลังเล่นกีตาร์อยู่บนถนน", "กีตาร์"),
    ("ar", "على ماذا يعزف؟",
     "الثعلب البني السريع يقفز فوق الكلب الكسول. رجل يعزف على الغيتار في الشارع.", "الغيتار"),
    ("hi", "वह क्या बजा रहा है?",
     "तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है। एक आदमी सड़क पर गिटार बजा रहा है।", "गिटार"),
    ("en", "  What does he play?",
     "The quick brown fox jumps over the lazy dog. A man is playing a guitar on the street while "
     "people walk by.", "guitar"),
]
SMALL = dict(max_length=32, doc_stride=8, max_query_length=10)


def span_examples():
  out = []
  for lang, q, ctx, ans in CASES:
    start = ctx.index(ans)
    out.append(SpanExample(f"q-{lang}", q, ctx, (Answer(ans, start),), language=lang))
  return out


def perfect_logits(f, high=10.0):
  n, t = f["input_ids"].shape
  start, end = np.full((n, t), -high), np.full((n, t), -high)
  rows = np.arange(n)
  start[rows, f["start_positions"]] = high
  end[rows, f["end_positions"]] = high
  return start, end


def test_answer_spans_recovered_from_features(tokenizer):
  examples = span_examples()
  f = featurize_qa(examples, tokenizer, **SMALL)
  n, t = f["input_ids"].shape
  assert t == 32 and f["offsets"].shape == (n, t, 2) and f["token_is_max_context"].dtype == bool
  for i, e in enumerate(examples):
    rows = np.nonzero(f["example_index"] == i)[0]
    assert len(rows) >= 3, e.language  # several windows per context
    with_answer = 0
    for r in rows:
      s, t_ = int(f["start_positions"][r]), int(f["end_positions"][r])
      if s == 0:
        assert t_ == 0
        continue
      with_answer += 1
      o = f["offsets"][r]
      assert e.context[o[s, 0]:o[t_, 1]] == e.answers[0].text
    assert with_answer >= 1 and with_answer < len(rows)  # early windows point at <s>


def test_window_layout_and_max_context(tokenizer):
  examples = span_examples()
  f = featurize_qa(examples, tokenizer, **SMALL)
  for i, e in enumerate(examples):
    q = tokenizer(e.question.lstrip(), add_special_tokens=False)["input_ids"][:10]
    ctx = tokenizer(e.context, add_special_tokens=False)["input_ids"]
    rows = np.nonzero(f["example_index"] == i)[0]
    window = 32 - len(q) - 4
    starts = window_starts(len(ctx), window, 8)
    assert len(starts) == len(rows) and np.all(np.diff(starts) == 8)
    covered = np.zeros(len(ctx), int)
    for r, s in zip(rows, starts):
      m = int(f["attention_mask"][r].sum())
      row = f["input_ids"][r, :m].tolist()
      assert row == [CLS] + q + [SEP, SEP] + ctx[s:s + window] + [SEP]
      in_ctx = f["offsets"][r, :, 0] >= 0
      assert in_ctx.sum() == len(ctx[s:s + window])
      assert not (f["token_is_max_context"][r] & ~in_ctx).any()
      covered[s:s + window] += f["token_is_max_context"][r][in_ctx]
    assert (covered == 1).all()  # every context token is max-context in exactly one window


def test_perfect_logits_recover_gold_texts(tokenizer):
  examples = span_examples()
  f = featurize_qa(examples, tokenizer, **SMALL)
  preds = postprocess(examples, f, *perfect_logits(f))
  assert preds == {e.guid: e.answers[0].text for e in examples}


def test_default_sizes_single_window(tokenizer):
  examples = span_examples()
  f = featurize_qa(examples, tokenizer)
  assert f["input_ids"].shape == (len(examples), 384)  # everything fits one 384 window
  assert postprocess(examples, f, *perfect_logits(f)) == {e.guid: e.answers[0].text
                                                          for e in examples}
  # Separately tokenized question + context == the fast tokenizer's own pair encoding.
  for r, e in enumerate(examples):
    m = int(f["attention_mask"][r].sum())
    assert f["input_ids"][r, :m].tolist() == tokenizer(e.question.lstrip(), e.context)["input_ids"]


def test_max_context_matches_bert_loop():
  rng = np.random.default_rng(0)
  for _ in range(200):
    n, window, stride = int(rng.integers(1, 40)), int(rng.integers(1, 12)), int(rng.integers(1, 12))
    starts = window_starts(n, window, stride)
    assert starts[0] == 0 and starts[-1] + window >= n  # windows reach the end
    got = max_context_mask(starts, n, window)
    for j in range(n):
      best, best_score = None, None
      for w, s in enumerate(starts):  # BERT's _check_is_max_context
        length = min(window, n - s)
        if not s <= j < s + length:
          continue
        score = min(j - s, s + length - 1 - j) + 0.01 * length
        if best_score is None or score > best_score:
          best, best_score = w, score
      assert got[:, j].tolist() == [w == best for w in range(len(starts))]


def test_squad_v2_null(tokenizer):
  ctx = CASES[0][2]
  examples = span_examples()[:1] + [SpanExample("imp", "谁?", ctx, (), is_impossible=True)]
  f = featurize_qa(examples, tokenizer, **SMALL)
  imp_rows = f["example_index"] == 1
  assert (f["start_positions"][imp_rows] == 0).all() and (f["end_positions"][imp_rows] == 0).all()
  start, end = perfect_logits(f)
  start[imp_rows, 5] = 3.0  # a non-null candidate weaker than the null score (20 > 3 + -10)
  out = postprocess_details(examples, f, start, end, version_2_with_negative=True)
  assert out.texts == {"q-zh": "吉他", "imp": ""}
  assert out.null_odds["imp"] > 0 > out.null_odds["q-zh"]
  assert out.nbest["q-zh"][0]["text"] == "吉他" and len(out.nbest["q-zh"]) <= 20
  # A threshold above the null margin makes the impossible question answer anyway.
  out = postprocess_details(examples, f, start, end, version_2_with_negative=True,
                            null_score_diff_threshold=out.null_odds["imp"] + 1)
  assert out.texts["imp"] != ""


def test_postprocess_respects_limits(tokenizer):
  e = span_examples()[4]
  f = featurize_qa([e], tokenizer)
  s, t = int(f["start_positions"][0]), int(f["end_positions"][0])
  start, end = np.full((1, 384), -100.0), np.full((1, 384), -100.0)
  start[0, s], end[0, t] = 10.0, 10.0
  start[0, 0], start[0, 1] = 50.0, 40.0  # <s> and question tokens are never answers in v1
  end[0, 0], end[0, 2] = 50.0, 40.0
  end[0, s - 3] = 30.0  # ends before the start: invalid
  assert postprocess([e], f, start, end)[e.guid] == "guitar"
  last = int(np.nonzero(f["offsets"][0, :, 0] >= 0)[0].max())
  assert last - s + 1 > 20
  end[0, last] = 30.0  # longer than max_answer_length=20
  assert postprocess([e], f, start, end, max_answer_length=20)[e.guid] == "guitar"
  long = postprocess([e], f, start, end, max_answer_length=60)[e.guid]
  assert long == e.context[e.context.index("guitar"):]


def test_bad_inputs_raise_with_guid(tokenizer):
  ctx = "A man is playing a guitar."
  with pytest.raises(ValueError, match="'bad-span'.*not in the context"):
    featurize_qa([SpanExample("bad-span", "q", ctx, (Answer("violin", 9),))], tokenizer)
  with pytest.raises(ValueError, match="'oob'.*not in the context"):
    featurize_qa([SpanExample("oob", "q", ctx, (Answer("guitar.", 25),))], tokenizer)
  long_q = "What is the man on the street playing while people walk by?"
  with pytest.raises(ValueError, match="'short'.*max_length=12.*question"):
    featurize_qa([SpanExample("short", long_q, ctx, ())], tokenizer, max_length=12)


def reference_postprocess(examples, f, start, end, n_best_size=20, max_answer_length=30):
  """The post-processing spec as a plain loop (what the vectorized version must equal): per
  window the top-k valid starts (max-context context tokens) and ends (context tokens), ties to
  the lower index; pairs with start <= end and length <= max; ranked by score, then window, start
  rank, end rank; n-best distinct texts; SQuAD 2.0 null score = min over windows of s[0] + e[0]."""
  texts, nbest, null = {}, {}, {}
  for i, e in enumerate(examples):
    cands, score_null = [], np.inf
    for w in np.nonzero(f["example_index"] == i)[0]:
      sl, el = np.float32(start[w]), np.float32(end[w])
      score_null = min(score_null, float(sl[0] + el[0]))
      ctx = f["offsets"][w, :, 0] >= 0
      starts = sorted((j for j in range(len(sl)) if ctx[j] and f["token_is_max_context"][w, j]),
                      key=lambda j: (-sl[j], j))[:n_best_size]
      ends = sorted((j for j in range(len(el)) if ctx[j]), key=lambda j: (-el[j], j))[:n_best_size]
      for s in starts:
        for t in ends:
          if s <= t and t - s + 1 <= max_answer_length:
            cands.append((float(sl[s] + el[t]), e.context[f["offsets"][w, s, 0]:
                                                          f["offsets"][w, t, 1]]))
    cands.sort(key=lambda c: -c[0])  # stable: enumeration order on ties
    best = []
    for score, text in cands:
      if text not in [b[1] for b in best]:
        best.append((score, text))
    nbest[e.guid] = best[:n_best_size]
    texts[e.guid] = best[0][1] if best else ""
    null[e.guid] = score_null - best[0][0] if best else np.inf
  return texts, nbest, null


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vectorized_postprocess_equals_the_plain_loop(tokenizer, seed):
  """Random logits (every window full of competing candidates, ties included) over several
  windows per example: same texts, n-best lists and null odds as the spec's plain loop."""
  examples = span_examples() + [SpanExample("imp", "谁?", CASES[0][2], (), is_impossible=True)]
  f = featurize_qa(examples, tokenizer, **SMALL)
  rng = np.random.default_rng(seed)
  start = rng.normal(size=f["input_ids"].shape).round(1)  # rounding makes ties
  end = rng.normal(size=f["input_ids"].shape).round(1)
  for n_best, max_len in ((20, 30), (3, 4), (5, 1)):
    want_texts, want_nbest, want_null = reference_postprocess(examples, f, start, end, n_best,
                                                              max_len)
    got = postprocess_details(examples, f, start, end, n_best_size=n_best,
                              max_answer_length=max_len, version_2_with_negative=True,
                              null_score_diff_threshold=np.inf)
    assert got.texts == want_texts
    assert {g: [(b["score"], b["text"]) for b in v] for g, v in got.nbest.items()} == want_nbest
    assert got.null_odds == pytest.approx(want_null)
    assert postprocess(examples, f, start, end, n_best_size=n_best,
                       max_answer_length=max_len) == want_texts

"""Every task, split and fixture language: fixtures -> load_examples -> featurize_split -> batches.

Small max lengths force QA windows and tagging window splits on the fixture texts, so the
invariants below exercise the multi-row paths, not just one-row-per-example.
"""

import dataclasses
import functools

import numpy as np
import pytest

import _pipeline_helpers as H
from stilts_jax import tasks
from stilts_jax.data import TrainBatches, EvalBatches, real_lengths
from stilts_jax.examples import SentenceExample
from stilts_jax.features import (
    IGNORE_INDEX, NO_LABEL, RETRIEVAL_SIDES, dispatch, featurize_split,
    tagging_predictions_to_words)
from stilts_jax.tasks import TaskType, sources
from _fixtures import fixture_languages, write_fixtures

CLS, PAD, SEP = 0, 1, 2
BUCKETS = (8, 16, 32, 64)
# Small enough to split tagging sentences and QA contexts into several rows.
MAX_LENGTH = {TaskType.CLASSIFICATION: 64, TaskType.MULTIPLE_CHOICE: 48, TaskType.SPAN_QA: 48,
              TaskType.TAGGING: 12, TaskType.RETRIEVAL: 32}
QA_KWARGS = dict(doc_stride=8, max_query_length=16)

CASES = [(name, split, lang) for name in tasks.list_tasks()
         for split in tasks.get_task(name).splits for lang in fixture_languages(name, split)]


@pytest.fixture(scope="module")
def overrides(tmp_path_factory):
  return write_fixtures(tmp_path_factory.mktemp("fixtures"))


@pytest.fixture(autouse=True)
def no_hub(monkeypatch):
  """Overrides must win: any Hub access here is a bug."""
  def fail(*args, **kwargs):
    raise AssertionError(f"Hub load attempted: {args}")
  monkeypatch.setattr(sources, "_load_hub", fail)


def featurize(spec, loaded, tokenizer, **kwargs):
  extra = QA_KWARGS if spec.task_type == TaskType.SPAN_QA else {}
  kwargs = {"max_length": MAX_LENGTH[spec.task_type], **extra, **kwargs}
  return featurize_split(spec, loaded, tokenizer, **kwargs)


# ------------------------------------------------------------------------------ feature invariants


def check_layout(f, num_examples, max_length):
  """Shapes, dtypes, prefix masks, <s> ... </s> rows, and every example owning >= 1 row."""
  ids, mask, ex = f["input_ids"], f["attention_mask"], f["example_index"]
  assert ids.dtype == mask.dtype == ex.dtype == np.int32
  assert ids.shape == mask.shape and ids.shape[-1] == max_length and ex.shape == ids.shape[:1]
  for k, v in f.items():
    assert v.shape[0] == ids.shape[0], k
  flat_ids, flat_mask = ids.reshape(-1, max_length), mask.reshape(-1, max_length)
  lengths = flat_mask.sum(1)
  assert set(np.unique(flat_mask)) <= {0, 1}
  assert (flat_mask == (np.arange(max_length) < lengths[:, None])).all()  # prefix masks
  assert (flat_ids[flat_mask == 0] == PAD).all()
  assert (lengths >= 2).all() and (flat_ids[:, 0] == CLS).all()
  assert (flat_ids[np.arange(len(flat_ids)), lengths - 1] == SEP).all()
  assert (np.diff(ex) >= 0).all()
  assert set(ex.tolist()) == set(range(num_examples))  # every example appears


def check_pairs(f, loaded, num_labels):
  gold = [NO_LABEL if e.label is None else e.label for e in loaded.examples]
  assert f["label"].dtype == np.int32 and f["label"].tolist() == gold
  assert ((f["label"] == NO_LABEL) | ((f["label"] >= 0) & (f["label"] < num_labels))).all()


def check_choices(f, loaded, spec):
  assert f["input_ids"].ndim == 3 and f["input_ids"].shape[1] == spec.num_labels
  check_pairs(f, loaded, spec.num_labels)


def check_qa(f, loaded, tokenizer):
  start, end, offsets = f["start_positions"], f["end_positions"], f["offsets"]
  is_max = f["token_is_max_context"]
  assert start.dtype == end.dtype == offsets.dtype == np.int32 and is_max.dtype == bool
  assert offsets.shape == f["input_ids"].shape + (2,)
  assert ((0 <= start) & (start <= end) & (end < f["input_ids"].shape[1])).all()
  assert not (is_max & (offsets[..., 0] < 0)).any()
  if loaded.language == "en":  # the English fixture context really is windowed at this length
    assert (f["example_index"] == 0).sum() > 1
  for i, e in enumerate(loaded.examples):
    rows = np.nonzero(f["example_index"] == i)[0]
    # Each context token is max-context in exactly one window, in order.
    ctx_offsets = tokenizer(e.context, add_special_tokens=False,
                            return_offsets_mapping=True)["offset_mapping"]
    max_offsets = np.concatenate([offsets[r][is_max[r]] for r in rows])
    assert max_offsets.tolist() == [list(o) for o in ctx_offsets], e.guid
    answered = [r for r in rows if start[r] > 0]
    if not e.answers:
      assert not answered, e.guid  # unanswerable / unlabeled: every window points at <s>
      continue
    assert answered, f"{e.guid}: no window holds the answer"
    for r in answered:
      # The answer is recoverable from the original context through the offsets: exactly for
      # the (English) train features; elsewhere the span covers it (the tiny test tokenizer may
      # keep an unspaced zh/th clause as one token, so token bounds need not be answer bounds).
      s, t = offsets[r, start[r], 0], offsets[r, end[r], 1]
      if loaded.split == "train":
        assert e.context[s:t] == e.answers[0].text, e.guid
      else:
        a = e.answers[0]
        assert s <= a.start and a.start + len(a.text) <= t, e.guid


def check_tagging(f, loaded, num_labels):
  labels, word_index = f["labels"], f["word_index"]
  assert labels.dtype == word_index.dtype == f["num_words"].dtype == np.int32
  assert ((labels == IGNORE_INDEX) | ((labels >= 0) & (labels < num_labels))).all()
  assert ((labels != IGNORE_INDEX) <= (word_index >= 0)).all()  # labels only on owned words
  assert f["num_words"].tolist() == [len(loaded.examples[i].words) for i in f["example_index"]]
  n = len(loaded.examples)
  gold = [list(e.labels) for e in loaded.examples]
  assert tagging_predictions_to_words(f, labels, n) == gold  # words round-trip
  one_hot = np.eye(num_labels)[np.where(labels < 0, 0, labels)]
  assert tagging_predictions_to_words(f, one_hot, n) == gold
  # Dropping the last row loses trailing words: noticed through num_words.
  cut = {k: v[:-1] for k, v in f.items()}
  with pytest.raises(ValueError, match="one per word|no feature rows"):
    tagging_predictions_to_words(cut, labels[:-1], n)


def check_sentences(f, examples):
  assert set(f) == {"input_ids", "attention_mask", "example_index"}
  assert f["example_index"].tolist() == list(range(len(examples)))


# ------------------------------------------------------------------------------ batch invariants


def check_train_batches(f):
  n = len(f["input_ids"])
  gbs = next(b for b in (4, 2, 1) if n % b == 0)
  lengths = real_lengths(f)
  for group in (False, True):
    train = TrainBatches(f, gbs, seed=3, buckets=BUCKETS, group_by_length=group)
    seen = []
    for step in range(train.steps_per_epoch):
      rows = train.indices_at(step)
      batch = train.batch_at(step)
      bucket = train.bucket_at(step)
      assert bucket in train.buckets and bucket >= lengths[rows].max()
      assert batch["input_ids"].shape[0] == gbs and batch["input_ids"].shape[-1] == bucket
      # Trimming to the bucket never cuts a real token.
      assert batch["attention_mask"].sum() == f["attention_mask"][rows].sum()
      for k in train.sequence_keys:
        assert batch[k].shape[train._b.nb] == bucket, k
      seen.extend(rows.tolist())
    assert sorted(seen) == list(range(n))  # gbs divides n: every example once per epoch


def check_eval_batches(f):
  n = len(f["input_ids"])
  batches = EvalBatches(f, 4, buckets=BUCKETS)
  lengths = real_lengths(f)
  seen = []
  for batch in batches:
    mask, index = batch["mask"], batch["index"]
    real = index[mask]
    bucket = batch["input_ids"].shape[-1]
    assert bucket in BUCKETS + (f["input_ids"].shape[-1],)
    assert bucket >= lengths[real].max()
    assert batch["attention_mask"][mask].sum() == f["attention_mask"][real].sum()
    assert (batch["attention_mask"][~mask] == 0).all() and (batch["input_ids"][~mask] == PAD).all()
    assert (index[~mask] == -1).all()
    for k in ("label", "start_positions", "example_index", "num_words"):
      if k in f:
        assert (batch[k][mask] == f[k][real]).all(), k
    seen.extend(real.tolist())
  assert seen == list(range(n))


# ------------------------------------------------------------------------------ the pipeline


@pytest.mark.parametrize("task,split,language", CASES, ids=["/".join(c) for c in CASES])
def test_pipeline(overrides, tokenizer, task, split, language):
  spec = tasks.get_task(task)
  loaded = tasks.load_examples(task, split, language, data_overrides=overrides)
  assert len(loaded) > 0
  num_labels = len(loaded.label_names) if loaded.label_names is not None else None
  features = featurize(spec, loaded, tokenizer)
  max_length = MAX_LENGTH[spec.task_type]
  kind = spec.task_type
  if kind == TaskType.RETRIEVAL:
    assert set(features) == set(RETRIEVAL_SIDES)
    sides = {"source": loaded.retrieval.source, "target": loaded.retrieval.target}
    for side, examples in sides.items():
      check_layout(features[side], len(examples), max_length)
      check_sentences(features[side], examples)
      check_eval_batches(features[side])
    src, trg = ({e.guid for e in sides[s]} for s in RETRIEVAL_SIDES)
    assert loaded.retrieval.gold and all(s in src and t in trg for s, t in loaded.retrieval.gold)
    return
  check_layout(features, len(loaded), max_length)
  if kind == TaskType.CLASSIFICATION:
    check_pairs(features, loaded, num_labels)
  elif kind == TaskType.MULTIPLE_CHOICE:
    check_choices(features, loaded, spec)
  elif kind == TaskType.SPAN_QA:
    check_qa(features, loaded, tokenizer)
  else:
    check_tagging(features, loaded, num_labels)
  if split == "train":
    check_train_batches(features)
  else:
    check_eval_batches(features)


# ------------------------------------------------------------------------------ caching

# One task per type (and both QA flavours' options): cache hits, misses on any key change.
CACHE_CASES = [("xnli", "validation", "de"), ("hellaswag", "train", "en"),
               ("squad_v2", "validation", "en"), ("panx", "test", "en"), ("ccg", "train", "en"),
               ("bucc2018", "test", "zh"), ("tatoeba", "validation", "ru")]


@pytest.fixture
def counter(monkeypatch):
  """Counts real featurizer calls by wrapping every registered featurizer (signature kept)."""
  calls = []
  for task_type, entry in list(dispatch.FEATURIZERS.items()):
    @functools.wraps(entry.fn)
    def counted(*args, _fn=entry.fn, **kwargs):
      calls.append(_fn.__name__)
      return _fn(*args, **kwargs)
    monkeypatch.setitem(dispatch.FEATURIZERS, task_type, dataclasses.replace(entry, fn=counted))
  return calls


def assert_same(a, b):
  if isinstance(next(iter(a.values())), dict):  # retrieval sides
    assert a.keys() == b.keys()
    for side in a:
      assert_same(a[side], b[side])
    return
  assert a.keys() == b.keys()
  for k in a:
    assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k


@pytest.mark.parametrize("task,split,language", CACHE_CASES)
def test_cache_hit_and_misses(overrides, tokenizer, tmp_path, counter, task, split, language):
  spec = tasks.get_task(task)
  loaded = tasks.load_examples(task, split, language, data_overrides=overrides)
  per_call = 2 if spec.task_type == TaskType.RETRIEVAL else 1  # one entry per retrieval side
  uncached = featurize(spec, loaded, tokenizer)
  first = featurize(spec, loaded, tokenizer, cache_dir=tmp_path)
  assert len(counter) == 2 * per_call
  assert_same(first, uncached)
  second = featurize(spec, loaded, tokenizer, cache_dir=tmp_path)
  assert len(counter) == 2 * per_call  # hit: the featurizer did not run again
  assert_same(second, first)
  featurize(spec, loaded, tokenizer, cache_dir=tmp_path,
            max_length=MAX_LENGTH[spec.task_type] + 8)
  assert len(counter) == 3 * per_call  # max_length changed: miss
  # Fewer examples from the same files (same origins) must not hit the full split's entry.
  fewer = tasks.load_examples(task, split, language, data_overrides=overrides, limit=1)
  assert fewer.origins == loaded.origins
  featurize(spec, fewer, tokenizer, cache_dir=tmp_path)
  assert len(counter) == (4 if len(fewer) < len(loaded) else 3) * per_call


def test_pipeline_featurizes_through_the_user_cache_by_default(overrides, tokenizer, tmp_path,
                                                               monkeypatch, counter):
  """The base config's `data.cache_dir=""` caches under the user cache (a second phase of the
  run, or a later run, reads the features back); "none" featurizes every time."""
  from stilts_jax import pipeline
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user"))
  config = H.load_config_module("base").get_config()
  config.data.overrides.update(overrides)
  assert config.data.cache_dir == ""
  ctx = pipeline.Context(config, None, None, tokenizer)
  spec = tasks.get_task("xnli")
  first = ctx.part(spec, "validation", "de", None, 64)
  again = ctx.part(spec, "validation", "de", None, 64)
  assert len(counter) == 1  # the second read came from the cache
  assert_same(again.features, first.features)
  assert list((tmp_path / "user" / "stilts_jax" / "features").glob("*.npz"))
  with config.unlocked():
    config.data.cache_dir = "none"
  ctx.part(spec, "validation", "de", None, 64)
  assert len(counter) == 2
  assert not (tmp_path / "none").exists()


def test_cache_keys_resolve_defaults_and_track_options(overrides, tokenizer, tmp_path, counter):
  spec = tasks.get_task("xquad")
  loaded = tasks.load_examples("xquad", "validation", "zh", data_overrides=overrides)
  base = dict(max_length=48, max_query_length=16)
  featurize_split(spec, loaded, tokenizer, cache_dir=tmp_path, **base)
  featurize_split(spec, loaded, tokenizer, cache_dir=tmp_path, doc_stride=128, **base)
  assert len(counter) == 1  # an explicit default is the same entry as an implicit one
  featurize_split(spec, loaded, tokenizer, cache_dir=tmp_path, doc_stride=8, **base)
  assert len(counter) == 2
  other = tasks.load_examples("xquad", "validation", "th", data_overrides=overrides)
  featurize_split(spec, other, tokenizer, cache_dir=tmp_path, **base)
  assert len(counter) == 3  # another language: miss


def test_spec_defaults_are_used(overrides, tokenizer):
  for task, split, language in [("squad_v1", "validation", "en"), ("udpos", "test", "zh"),
                                ("tatoeba", "validation", "th")]:
    spec = tasks.get_task(task)
    f = featurize_split(spec, tasks.load_examples(task, split, language, data_overrides=overrides),
                        tokenizer)
    f = f[RETRIEVAL_SIDES[0]] if spec.task_type == TaskType.RETRIEVAL else f
    assert f["input_ids"].shape[-1] == spec.max_length


def test_retrieval_without_sides_featurizes_examples_flat(overrides, tokenizer):
  spec = tasks.get_task("bucc2018")
  loaded = tasks.load_examples("bucc2018", "validation", "de", data_overrides=overrides)
  flat = featurize(spec, dataclasses.replace(loaded, retrieval=None), tokenizer)
  assert all(isinstance(e, SentenceExample) for e in loaded.examples)
  check_sentences(flat, loaded.examples)


def test_bucc_original_files_both_sides(overrides, tokenizer, tmp_path):
  """The original BUCC layout has non-gold sentences; each side is featurized and batched whole."""
  original = dict(overrides, bucc2018=overrides["ccg"].replace("ccg", "bucc2018_original"))
  spec = tasks.get_task("bucc2018")
  raw = tasks.load_examples("bucc2018", "test", "fr", data_overrides=original)
  hub = tasks.load_examples("bucc2018", "test", "fr", data_overrides=overrides)
  assert raw.source_kind == "bucc_original_files" and len(raw.retrieval.target) > len(
      raw.retrieval.gold)
  features = featurize(spec, raw, tokenizer, cache_dir=tmp_path)
  for side in RETRIEVAL_SIDES:
    examples = getattr(raw.retrieval, side)
    check_layout(features[side], len(examples), MAX_LENGTH[TaskType.RETRIEVAL])
    check_sentences(features[side], examples)
    check_eval_batches(features[side])
  # Same task/split/language from the Hub layout is a different cache entry.
  from_hub = featurize(spec, hub, tokenizer, cache_dir=tmp_path)
  assert len(from_hub["target"]["input_ids"]) < len(features["target"]["input_ids"])


@pytest.fixture
def empty_split(overrides, tmp_path):
  """A split with no examples. The loader refuses to return one (a language must never drop out
  silently), but a caller's own filtering can still leave nothing."""
  import dataclasses
  empty = tmp_path / "empty.jsonl"
  empty.write_text("")
  with pytest.raises(tasks.DataError, match="pawsx/validation/de: no examples"):
    tasks.load_examples("pawsx", "validation", "de",
                        data_overrides=dict(overrides, **{"pawsx/validation/de": empty}))
  loaded = tasks.load_examples("pawsx", "validation", "de", data_overrides=overrides)
  return dataclasses.replace(loaded, examples=())


def test_empty_split_featurizes_to_empty_arrays(empty_split, tokenizer):
  f = featurize(tasks.get_task("pawsx"), empty_split, tokenizer)
  assert f["input_ids"].shape == (0, MAX_LENGTH[TaskType.CLASSIFICATION])
  assert all(v.shape[0] == 0 for v in f.values())


def test_empty_split_gives_no_eval_batches(empty_split, tokenizer):
  f = featurize(tasks.get_task("pawsx"), empty_split, tokenizer)
  assert len(EvalBatches(f, 4, buckets=BUCKETS)) == 0

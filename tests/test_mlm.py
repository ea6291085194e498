"""MLM on multilingual text: masking statistics and determinism, the loss against transformers'
XLMRobertaForMaskedLM, step-indexed masked batches, corpus loading and featurization."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import stilts_jax
from stilts_jax import sampling, steps
from stilts_jax.features.mlm import featurize_mlm
from stilts_jax.kinds import mlm
from stilts_jax.tasks.mlm_corpus import load_mlm_corpus
from stilts_jax.features import IGNORE_INDEX
from tests.conftest import MULTILINGUAL_TEXT
from tests.hf_helpers import padded_batch, random_hf_model

pytestmark = pytest.mark.usefixtures("fp32_matmuls")  # conftest: full-precision matmuls

SPECIALS = (0, 1, 2, 3)
VOCAB = 1000
MASK_ID = VOCAB - 1
MASKING = dict(mask_token_id=MASK_ID, vocab_size=VOCAB, special_ids=SPECIALS + (MASK_ID,))


def _big_batch(rows: int = 512, length: int = 128, seed: int = 0):
  rng = np.random.default_rng(seed)
  lengths = rng.integers(3, length + 1, rows)
  ids, mask = padded_batch(VOCAB - 1, lengths.tolist(), total=length, seed=seed)
  ids[:, 5] = np.where(mask[:, 5] == 1, 3, ids[:, 5])  # some <unk>s: special, never selected
  return ids, mask


def _check_statistics(ids, mask, masked, labels):
  ids, masked, labels = map(np.asarray, (ids, masked, labels))
  eligible = (mask == 1) & ~np.isin(ids, MASKING["special_ids"])
  selected = labels != IGNORE_INDEX
  assert not (selected & ~eligible).any()  # specials, <unk> and pads are never selected
  np.testing.assert_array_equal(labels[selected], ids[selected])  # labels: the original ids
  np.testing.assert_array_equal(masked[~selected], ids[~selected])  # the rest untouched
  n = int(eligible.sum())  # ~ 27k tokens: 1 sd of the 15 % rate is ~ 0.2 %
  assert abs(selected.sum() / n - 0.15) < 0.01
  to_mask = selected & (masked == MASK_ID)
  to_random = selected & (masked != MASK_ID) & (masked != ids)
  kept = selected & (masked == ids)
  k = int(selected.sum())
  assert abs(to_mask.sum() / k - 0.8) < 0.03
  # A random draw equal to the original (p = 1/995) counts as "kept": within the tolerance.
  assert abs(to_random.sum() / k - 0.1) < 0.02
  assert abs(kept.sum() / k - 0.1) < 0.02
  random_ids = masked[to_random]
  assert not np.isin(random_ids, MASKING["special_ids"]).any()  # fairseq: no special replacements
  assert random_ids.min() >= 0 and random_ids.max() < VOCAB
  assert masked.dtype == np.int32 and labels.dtype == np.int32


def test_numpy_masking_statistics_and_determinism():
  ids, mask = _big_batch()
  before = ids.copy()
  masked, labels = mlm.mask_tokens(ids, mask, rng=np.random.default_rng([7, 0]), **MASKING)
  np.testing.assert_array_equal(ids, before)  # the features are not modified in place
  _check_statistics(ids, mask, masked, labels)
  again = mlm.mask_tokens(ids, mask, rng=np.random.default_rng([7, 0]), **MASKING)
  np.testing.assert_array_equal(again[0], masked)
  np.testing.assert_array_equal(again[1], labels)
  other = mlm.mask_tokens(ids, mask, rng=np.random.default_rng([8, 0]), **MASKING)
  assert (other[1] != labels).mean() > 0.1


def test_jax_masking_statistics_determinism_and_jit():
  ids, mask = _big_batch(seed=1)
  fn = jax.jit(lambda i, m, k: mlm.mask_tokens(i, m, rng=k, **MASKING))
  masked, labels = fn(ids, mask, jax.random.key(3))
  _check_statistics(ids, mask, masked, labels)
  np.testing.assert_array_equal(fn(ids, mask, jax.random.key(3))[1], labels)
  assert (np.asarray(fn(ids, mask, jax.random.key(4))[1]) != np.asarray(labels)).mean() > 0.1


def test_masking_rejects_bad_probabilities():
  ids, mask = _big_batch(rows=2, length=8)
  with pytest.raises(ValueError, match="mlm_probability"):
    mlm.mask_tokens(ids, mask, rng=np.random.default_rng(0), mlm_probability=1.5, **MASKING)
  with pytest.raises(ValueError, match="sum <= 1"):
    mlm.mask_tokens(ids, mask, rng=np.random.default_rng(0), mask_replace_prob=0.95, **MASKING)


@pytest.mark.parametrize("seed", [0, 1])
def test_mlm_loss_matches_transformers(seed, tmp_path):
  """Our `task_loss` on a masked batch = XLMRobertaForMaskedLM's loss (mean CE over labels)."""
  hf = random_hf_model("mlm", "tiny", seed=seed)
  hf.save_pretrained(tmp_path)
  model = stilts_jax.load_task_model(str(tmp_path))
  vocab = hf.config.vocab_size
  ids, mask = padded_batch(vocab, [17, 9, 30, 4, 25, 12], total=32, seed=seed)
  masking = dict(mask_token_id=vocab - 1, vocab_size=vocab, special_ids=(0, 1, 2, 3, vocab - 1))
  masked, labels = mlm.mask_tokens(ids, mask, rng=np.random.default_rng(seed),
                                   mlm_probability=0.3, **masking)
  assert (labels != IGNORE_INDEX).sum() >= 10
  batch = {"input_ids": jnp.asarray(masked), "attention_mask": jnp.asarray(mask),
           "labels": jnp.asarray(labels)}
  ours, count = jax.jit(lambda b: steps.task_loss(model, "task", "mlm", b))(batch)
  with torch.no_grad():
    ref = hf(input_ids=torch.tensor(masked, dtype=torch.long), attention_mask=torch.tensor(mask),
             labels=torch.tensor(labels, dtype=torch.long)).loss.item()
  print(f"seed {seed}: ours {float(ours):.9f}  transformers {ref:.9f}  "
        f"rel {abs(float(ours) - ref) / abs(ref):.2e}  labelled {int(count)}")
  assert int(count) == int((labels != IGNORE_INDEX).sum())
  assert abs(float(ours) - ref) <= 1e-5 * abs(ref)


def _mlm_features(rows: int = 40, length: int = 24):
  lengths = np.random.default_rng(0).integers(3, length + 1, rows).tolist()
  ids, mask = padded_batch(VOCAB - 1, lengths, total=length, seed=5)
  return {"input_ids": ids, "attention_mask": mask,
          "example_index": np.arange(rows, dtype=np.int32)}


def test_mlm_batches_resume_and_process_split():
  features = _mlm_features()
  kw = dict(buckets=(8, 16, 24), group_by_length=True, **MASKING)
  full = mlm.mlm_batches(features, 8, seed=3, **kw)
  assert full.steps_per_epoch == 5 and full.num_examples == 40
  a, b = full.batch_at(7), mlm.mlm_batches(features, 8, seed=3, **kw).batch_at(7)  # "resumed"
  assert sorted(a) == ["attention_mask", "example_index", "input_ids", "labels"]
  for key in a:
    np.testing.assert_array_equal(a[key], b[key])
  rows = a["example_index"]
  t = a["input_ids"].shape[1]
  assert t == full.bucket_at(7) and a["labels"].shape == (8, t)
  assert (a["labels"][a["attention_mask"] == 0] == IGNORE_INDEX).all()
  sel = a["labels"] != IGNORE_INDEX
  np.testing.assert_array_equal(a["labels"][sel], features["input_ids"][rows, :t][sel])
  # Two processes together see exactly the single-process global batch (masks included).
  halves = [mlm.mlm_batches(features, 8, 3, p, 2, **kw).batch_at(7) for p in (0, 1)]
  for key in a:
    np.testing.assert_array_equal(np.concatenate([h[key] for h in halves]), a[key])
  # A revisited row (epoch 1 vs 0) gets a fresh mask; other seeds differ.
  def epoch_labels(seed: int, epoch: int) -> np.ndarray:  # [N, T] labels, by example
    out = np.full(features["input_ids"].shape, IGNORE_INDEX)
    batches = mlm.mlm_batches(features, 8, seed, **kw)
    for step in range(epoch * 5, epoch * 5 + 5):
      b = batches.batch_at(step)
      out[b["example_index"], :b["labels"].shape[1]] = b["labels"]
    return out

  first = epoch_labels(3, 0)
  assert (first != IGNORE_INDEX).sum() > 40
  assert (first != epoch_labels(3, 1)).mean() > 0.05
  assert (first != epoch_labels(4, 0)).mean() > 0.05
  with pytest.raises(ValueError, match="labels"):
    mlm.mlm_batches(dict(features, labels=features["input_ids"]), 8, 3, **kw)


def test_mlm_at_a_fixed_rate_scales_the_sized_tasks():
  # What train_phase samples from: MLM at its rate, the supervised tasks share the rest.
  probs = sampling.with_fixed_rates({"mnli": 0.75, "squad": 0.25}, {"mlm": 0.2})
  assert probs == pytest.approx({"mnli": 0.6, "squad": 0.2, "mlm": 0.2})
  assert sampling.with_fixed_rates({"mnli": 1.0}, {}) == {"mnli": 1.0}
  for fixed, sized in (({"mlm": 1.0}, {"mnli": 1.0}), ({"mlm": 0.2}, {}),
                       ({"mlm": 0.5, "x": 0.5}, {"mnli": 1.0}), ({"mlm": -0.1}, {"mnli": 1.0})):
    with pytest.raises(ValueError, match="fixed task rates"):
      sampling.with_fixed_rates(sized, fixed)


def _corpus_dir(tmp_path):
  by_lang = {"en": MULTILINGUAL_TEXT[0:2], "de": MULTILINGUAL_TEXT[2:4],
             "ru": MULTILINGUAL_TEXT[4:6], "zh": MULTILINGUAL_TEXT[6:8],
             "th": MULTILINGUAL_TEXT[8:10], "ar": MULTILINGUAL_TEXT[10:12]}
  for lang, lines in by_lang.items():
    # Blank and space-only lines are skipped; repeats make the limit bite.
    (tmp_path / f"{lang}.txt").write_text("\n  \n".join(lines * 3) + "\n", encoding="utf-8")
  return by_lang


def test_load_corpus_from_local_text_files(tmp_path):
  by_lang = _corpus_dir(tmp_path)
  corpus = load_mlm_corpus(tmp_path, languages=["ru", "zh", "th"], limit_per_language=4)
  assert list(corpus) == ["ru", "zh", "th"]
  for lang, texts in corpus.items():
    assert texts == (by_lang[lang] * 2)[:4]
  assert load_mlm_corpus(tmp_path, languages=["ar"])["ar"] == by_lang["ar"] * 3
  with pytest.raises(FileNotFoundError, match="hi"):
    load_mlm_corpus(tmp_path, languages=["hi"])
  with pytest.raises(FileNotFoundError):
    load_mlm_corpus(tmp_path / "missing", languages=["en"])


def test_hub_path_reads_through_load_dataset(tmp_path, monkeypatch):
  """The Hub branch calls `load_dataset(id, config, split=, revision=, streaming=True)` (no remote
  code) and shares the text handling with local files: a local jsonl in the Hub schema (Wikipedia:
  `text` is a whole article with paragraphs) stands in for the Hub."""
  import datasets
  articles = {"hi": "\n\n".join(MULTILINGUAL_TEXT[12:14]), "es": MULTILINGUAL_TEXT[14]}
  for lang, text in articles.items():
    (tmp_path / f"{lang}.jsonl").write_text(
        json.dumps({"id": "1", "title": "t", "text": text}, ensure_ascii=False) + "\n" +
        json.dumps({"id": "2", "title": "u", "text": text}, ensure_ascii=False) + "\n",
        encoding="utf-8")
  real, calls = datasets.load_dataset, []

  def fake_load_dataset(path, name=None, **kwargs):
    calls.append((path, name, kwargs))
    lang = name.split(".")[-1]
    return real("json", data_files={"rows": str(tmp_path / f"{lang}.jsonl")}, split="rows",
                streaming=kwargs["streaming"])

  monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
  hub = load_mlm_corpus("wikimedia/wikipedia", languages=["hi", "es"],
                            config="20231101.{lang}", revision="abc", limit_per_language=3)
  assert calls == [("wikimedia/wikipedia", f"20231101.{lang}",
                    {"split": "train", "revision": "abc", "streaming": True})
                   for lang in ("hi", "es")]
  assert hub == {"hi": [MULTILINGUAL_TEXT[12], MULTILINGUAL_TEXT[13], MULTILINGUAL_TEXT[12]],
                 "es": [MULTILINGUAL_TEXT[14]] * 2}
  monkeypatch.setattr(datasets, "load_dataset", real)
  # The same files as a local directory give the same texts.
  assert load_mlm_corpus(tmp_path, languages=["hi", "es"], limit_per_language=3) == hub
  with pytest.raises(KeyError, match="body"):
    load_mlm_corpus(tmp_path, languages=["es"], text_column="body")


def test_featurize_mlm_shapes_specials_and_chunking(tokenizer):
  texts = {"en": MULTILINGUAL_TEXT[0:2], "th": MULTILINGUAL_TEXT[8:10], "hi": ["", "  "]}
  max_length = 12
  f = featurize_mlm(texts, tokenizer, max_length)
  n = f["input_ids"].shape[0]
  assert f["input_ids"].shape == f["attention_mask"].shape == (n, max_length)
  assert all(f[k].dtype == np.int32 for k in f)
  flat = [t for group in texts.values() for t in group]
  pieces = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in flat]
  assert n == sum(-(-len(p) // (max_length - 2)) for p in pieces)  # ceil: every token kept
  assert set(f["language_index"]) == {0, 1}  # texts without tokens give no row
  for i in range(n):
    real = f["input_ids"][i][f["attention_mask"][i] == 1]
    assert real[0] == tokenizer.cls_token_id and real[-1] == tokenizer.sep_token_id
    assert (f["input_ids"][i][f["attention_mask"][i] == 0] == tokenizer.pad_token_id).all()
    assert not np.isin(real[1:-1], tokenizer.all_special_ids).any()
  for j, p in enumerate(pieces):  # the pieces of a text, in order, are the text's tokens
    rows = np.flatnonzero(f["example_index"] == j)
    got = [t for r in rows for t in f["input_ids"][r][f["attention_mask"][r] == 1][1:-1]]
    assert got == p
  # Masking the featurized rows with the tokenizer's own ids.
  args = mlm.masking_args(tokenizer)
  assert args["mask_token_id"] == len(tokenizer) - 1 and args["vocab_size"] == len(tokenizer)
  batch = mlm.mlm_batches({k: f[k] for k in ("input_ids", "attention_mask")}, 2, seed=0,
                         buckets=(max_length,), mlm_probability=0.5, **args).batch_at(0)
  assert batch["input_ids"].shape == batch["labels"].shape == (2, max_length)
  plain = featurize_mlm(MULTILINGUAL_TEXT[:2], tokenizer, max_length)
  assert "language_index" not in plain

"""Masked-LM on multilingual text, the paper's alternative to a purely English intermediate phase:
multi-task the intermediate task(s) with XLM-R's own MLM objective (an `mlm` head, see
`models/heads.py`; the loss is `steps.task_loss(..., "mlm", batch)`).

    texts    = load_mlm_corpus(source, languages=[...], limit_per_language=n)  # {lang: [line]}
    features = featurize_mlm(texts, tokenizer, max_length)                    # <s> piece </s>
    batches  = MLMBatches(features, global_batch_size, seed, **masking_args(tokenizer), ...)
    batch    = batches.batch_at(step)  # input_ids (masked), attention_mask, labels

Masking follows transformers' `DataCollatorForLanguageModeling` (itself RoBERTa/XLM-R's
fairseq recipe): each real token that is not a special token is selected independently with
probability 0.15; a selected token becomes `<mask>` with probability 0.8, a random token with 0.1,
and stays itself with 0.1; labels hold the original id at selected positions and -100 elsewhere.
One deliberate difference from transformers: random replacements are drawn uniformly from the
vocabulary *without* the special ids (`<s>`, `<pad>`, `</s>`, `<unk>`, `<mask>`), as fairseq does,
so the model is never fed a stray `<pad>` or `<s>` mid-sentence.

Masking is dynamic (a fresh mask each time a row is revisited, as RoBERTa) yet a pure function of
(seed, step): `MLMBatches` masks the *global* batch of step `s` with its own random stream, so a
resumed run, or one with a different number of processes, sees exactly the same masked batches.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from stilts_jax.data.batching import DEFAULT_BUCKETS, TrainBatches
from stilts_jax.features.common import (IGNORE_INDEX, SpecialIds, check_max_length, pad_rows,
                                        tokenize)
from stilts_jax.tasks.sources import FILE_BUILDERS

MLM_PROBABILITY = 0.15
MASK_REPLACE_PROB = 0.8    # of the selected tokens, share replaced by <mask>
RANDOM_REPLACE_PROB = 0.1  # share replaced by a random token; the rest stay unchanged
# Third word of the masking seed, so the mask stream never coincides with TrainBatches' epoch
# permutations (`[seed, epoch]`, `[seed, epoch, 1]`) or the task schedule (`[seed, 0x5A17]`).
_MASK_STREAM = 0x4D4C4D


# --------------------------------------------------------------------------- masking


def masking_args(tokenizer) -> dict[str, Any]:
  """`mask_token_id`, `vocab_size` and `special_ids` of an XLM-R tokenizer, for `mask_tokens`."""
  if tokenizer.mask_token_id is None:
    raise ValueError(f"tokenizer {tokenizer.name_or_path!r} has no <mask> token.")
  # len(tokenizer), not tokenizer.vocab_size: <mask> sits after the sentencepiece pieces (as in
  # transformers' collator); for xlm-roberta-* it equals the model's vocab_size, 250002.
  return {"mask_token_id": int(tokenizer.mask_token_id), "vocab_size": len(tokenizer),
          "special_ids": tuple(sorted(int(i) for i in tokenizer.all_special_ids))}


@functools.lru_cache(maxsize=8)
def _replacement_ids(vocab_size: int, special_ids: tuple[int, ...]) -> np.ndarray:
  ids = np.setdiff1d(np.arange(vocab_size, dtype=np.int32), np.asarray(special_ids, np.int32))
  if ids.size == 0:
    raise ValueError(f"vocab_size={vocab_size} leaves no non-special token to sample.")
  return ids


def mask_tokens(input_ids, attention_mask, *, mask_token_id: int, vocab_size: int,
                special_ids: Collection[int], rng: np.random.Generator | jax.Array,
                mlm_probability: float = MLM_PROBABILITY,
                mask_replace_prob: float = MASK_REPLACE_PROB,
                random_replace_prob: float = RANDOM_REPLACE_PROB):
  """(masked input_ids, labels) of a batch [..., T]; see the module docstring for the recipe.

  A numpy `Generator` gives numpy int32 arrays (the host pipeline); a JAX PRNG key gives jnp
  arrays and works under jit (the scalars are static). Either way the result is a pure function
  of the inputs and the generator state / key. Pads (`attention_mask == 0`) and `special_ids` are
  never selected.
  """
  if not 0.0 <= mlm_probability <= 1.0:
    raise ValueError(f"mlm_probability must be in [0, 1]; got {mlm_probability}.")
  if min(mask_replace_prob, random_replace_prob) < 0 or \
      mask_replace_prob + random_replace_prob > 1:
    raise ValueError(f"need mask_replace_prob, random_replace_prob >= 0 with sum <= 1; got "
                     f"{mask_replace_prob}, {random_replace_prob}.")
  specials = tuple(sorted({int(i) for i in special_ids}))
  candidates = _replacement_ids(int(vocab_size), specials)
  if isinstance(rng, np.random.Generator):
    xp, ids = np, np.asarray(input_ids, np.int32)
    select_u, action_u = rng.random(ids.shape), rng.random(ids.shape)
    random_ids = candidates[rng.integers(0, candidates.size, ids.shape)]
  else:
    xp, ids = jnp, jnp.asarray(input_ids, jnp.int32)
    k_select, k_action, k_random = jax.random.split(rng, 3)
    select_u = jax.random.uniform(k_select, ids.shape)
    action_u = jax.random.uniform(k_action, ids.shape)
    random_ids = jnp.asarray(candidates)[
        jax.random.randint(k_random, ids.shape, 0, candidates.size)]
  eligible = (xp.asarray(attention_mask) != 0) & ~xp.isin(ids, xp.asarray(specials, np.int32))
  selected = eligible & (select_u < mlm_probability)
  # One uniform per token splits the selected ones 80/10/10 (transformers draws two Bernoullis,
  # 0.8 then 0.5 of the rest; same distribution).
  to_mask = selected & (action_u < mask_replace_prob)
  to_random = selected & ~to_mask & (action_u < mask_replace_prob + random_replace_prob)
  masked = xp.where(to_mask, xp.int32(mask_token_id), xp.where(to_random, random_ids, ids))
  labels = xp.where(selected, ids, xp.int32(IGNORE_INDEX))
  return masked.astype(xp.int32), labels.astype(xp.int32)


class MLMBatches:
  """`TrainBatches` over unmasked MLM features, masked per step: the same interface (`batch_at`,
  `from_step`, `steps_per_epoch`, `num_examples`, ...) plus `labels` in every batch.

  The mask of global step `s` is drawn from `np.random.default_rng([seed, s, _MASK_STREAM])` over
  the whole global batch, and this process keeps its rows: the batch is a pure function of
  (seed, step), independent of how many processes share it.
  """

  def __init__(self, features: Mapping[str, np.ndarray], global_batch_size: int, seed: int,
               process_index: int = 0, process_count: int = 1,
               buckets: Sequence[int] | None = DEFAULT_BUCKETS, *, mask_token_id: int,
               vocab_size: int, special_ids: Collection[int],
               mlm_probability: float = MLM_PROBABILITY, group_by_length: bool = False,
               group_chunk_batches: int = 50):
    if "labels" in features:
      raise ValueError("MLM features must not contain 'labels': MLMBatches draws them per step.")
    self._inner = TrainBatches(features, global_batch_size, seed, process_index, process_count,
                               buckets, group_by_length=group_by_length,
                               group_chunk_batches=group_chunk_batches)
    self._ids = np.asarray(features["input_ids"])
    self._mask = np.asarray(features["attention_mask"])
    self.seed = int(seed)
    self._local = slice(int(process_index) * self._inner.local_batch_size,
                        (int(process_index) + 1) * self._inner.local_batch_size)
    self.masking = dict(mask_token_id=int(mask_token_id), vocab_size=int(vocab_size),
                        special_ids=tuple(special_ids), mlm_probability=float(mlm_probability))
    mask_tokens(self._ids[:1, :1], self._mask[:1, :1], rng=np.random.default_rng(0),
                **self.masking)  # fail now, not at step 1, on a bad masking spec

  num_examples = property(lambda self: self._inner.num_examples)
  global_batch_size = property(lambda self: self._inner.global_batch_size)
  local_batch_size = property(lambda self: self._inner.local_batch_size)
  steps_per_epoch = property(lambda self: self._inner.steps_per_epoch)
  buckets = property(lambda self: self._inner.buckets)

  def global_indices_at(self, step: int) -> np.ndarray:
    return self._inner.global_indices_at(step)

  def bucket_at(self, step: int) -> int:
    return self._inner.bucket_at(step)

  def batch_at(self, step: int) -> dict[str, np.ndarray]:
    rows, length = self._inner.global_indices_at(step), self._inner.bucket_at(step)
    rng = np.random.default_rng([self.seed, int(step), _MASK_STREAM])
    masked, labels = mask_tokens(self._ids[rows, :length], self._mask[rows, :length], rng=rng,
                                 **self.masking)
    batch = self._inner.batch_at(step)  # the other feature arrays, trimmed the same way
    batch["input_ids"], batch["labels"] = masked[self._local], labels[self._local]
    return batch

  def from_step(self, step: int = 0) -> Iterator[dict[str, np.ndarray]]:
    while True:
      yield self.batch_at(step)
      step += 1

  def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
    return self.from_step(0)


# --------------------------------------------------------------------------- corpus


def load_mlm_corpus(source: str | os.PathLike, *, languages: Sequence[str], split: str = "train",
                    limit_per_language: int | None = None, text_column: str = "text",
                    config: str | None = "{lang}", revision: str | None = None,
                    split_lines: bool = True) -> dict[str, list[str]]:
  """`{language: [text]}`: the first `limit_per_language` non-empty texts per language.

  `source` is a local directory holding `<lang>.txt` (one text per line) or `<lang>.<ext>` for
  ext in jsonl/json/parquet/csv/tsv (column `text_column`), or a Hub dataset id read as
  `load_dataset(source, config.format(lang=lang), split=split, revision=revision,
  streaming=True)` (never with remote code; streaming, so a limit reads only what it keeps), e.g.
  `"wikimedia/wikipedia"` with `config="20231101.{lang}"`. With `split_lines`, each text is split
  at newlines (Wikipedia articles into paragraphs) and the limit counts the resulting lines.
  """
  if limit_per_language is not None and limit_per_language < 0:
    raise ValueError(f"limit_per_language must be >= 0; got {limit_per_language}.")
  source = os.fspath(source)
  local = os.path.isdir(source)
  if not local and (os.path.exists(source) or source.startswith((".", os.sep, "~"))):
    raise FileNotFoundError(f"MLM corpus {source!r} must be a directory of <lang>.txt files "
                            "(or a Hub dataset id).")
  corpus = {}
  for lang in languages:
    raw = _local_texts(source, lang, text_column) if local else \
        _hub_texts(source, lang, split, config, revision, text_column)
    corpus[lang] = _clean(raw, limit_per_language, split_lines)
  return corpus


def _local_texts(directory: str, lang: str, text_column: str) -> Iterator[str]:
  path = os.path.join(directory, f"{lang}.txt")
  if os.path.isfile(path):
    with open(path, encoding="utf-8") as f:
      yield from f
    return
  for ext, builder in FILE_BUILDERS.items():
    path = os.path.join(directory, f"{lang}{ext}")
    if os.path.isfile(path):
      import datasets
      kwargs = {"sep": "\t"} if ext == ".tsv" else {}
      ds = datasets.load_dataset(builder, data_files={"rows": path}, split="rows",
                                 streaming=True, **kwargs)
      yield from _column(ds, text_column, f"local:{path}")
      return
  raise FileNotFoundError(f"no MLM text for language {lang!r} in {directory}: expected {lang}.txt "
                          f"or {lang}{{{','.join(FILE_BUILDERS)}}}.")


def _hub_texts(dataset_id: str, lang: str, split: str, config: str | None,
               revision: str | None, text_column: str) -> Iterator[str]:
  import datasets
  name = config.format(lang=lang) if config else None
  ds = datasets.load_dataset(dataset_id, name, split=split, revision=revision, streaming=True)
  yield from _column(ds, text_column, f"hub:{dataset_id}/{name or 'default'}:{split}")


def _column(rows: Iterable[Mapping[str, Any]], column: str, origin: str) -> Iterator[str]:
  for row in rows:
    if column not in row:
      raise KeyError(f"{origin}: no text column {column!r} (columns: {', '.join(row)}); pass "
                     "text_column=.")
    yield "" if row[column] is None else str(row[column])


def _clean(texts: Iterable[str], limit: int | None, split_lines: bool) -> list[str]:
  """Stripped, non-empty texts (lines, with `split_lines`), at most `limit` of them. Shared by
  every source, so a local copy of a Hub dataset yields exactly the Hub's texts."""
  out: list[str] = []
  if limit == 0:
    return out
  for text in texts:
    for piece in (text.splitlines() if split_lines else [text]):
      piece = piece.strip()
      if piece:
        out.append(piece)
        if limit is not None and len(out) >= limit:
          return out
  return out


def featurize_mlm(texts: Sequence[str] | Mapping[str, Sequence[str]], tokenizer,
                  max_length: int) -> dict[str, np.ndarray]:
  """Unmasked MLM rows `<s> piece </s>`, int32 and padded with `<pad>` to T = `max_length`.

  Each text is tokenized on its own and cut into consecutive pieces of at most `max_length - 2`
  sub-words (per-line chunking: no text is dropped and no row mixes two texts or languages); texts
  without any sub-word give no row. Returns `input_ids`, `attention_mask` [N, T] and
  `example_index` [N] (index of the text); given `{language: texts}`, the texts are taken in the
  mapping's order and `language_index` [N] (position of the language in the mapping) is added.
  """
  check_max_length(max_length, 3, "an MLM row (<s> token </s>)")
  by_lang = texts if isinstance(texts, Mapping) else {None: texts}
  flat = [t for group in by_lang.values() for t in group]
  lang_of = np.repeat(np.arange(len(by_lang), dtype=np.int32),
                      [len(group) for group in by_lang.values()])
  special = SpecialIds.of(tokenizer)
  ids, _ = tokenize(tokenizer, flat)
  piece = max_length - 2
  rows, index = [], []
  for i, toks in enumerate(ids):
    for start in range(0, len(toks), piece):
      rows.append([special.cls, *toks[start:start + piece], special.sep])
      index.append(i)
  input_ids = pad_rows(rows, max_length, special.pad)
  features = {"input_ids": input_ids,
              "attention_mask": (np.arange(max_length) < np.array(
                  [len(r) for r in rows], np.int32)[:, None]).astype(np.int32),
              "example_index": np.asarray(index, np.int32)}
  if isinstance(texts, Mapping):
    features["language_index"] = lang_of[features["example_index"]]
  return features

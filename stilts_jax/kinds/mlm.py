"""Masked language modelling on multilingual text, mixed into intermediate training (the paper's
alternative to a purely English intermediate phase): a token loss over the masked positions of an
`mlm` head (`models/heads.MaskedLMHead`). Its corpus is read by `tasks/mlm_corpus.py` and
featurized by `features/mlm.py`; its batches are the common `TrainBatches` with the masking below
as their transform (`mlm_batches`).

    texts    = load_mlm_corpus(source, languages=[...], limit_per_language=n)  # {lang: [line]}
    features = featurize_mlm(texts, tokenizer, max_length)                    # <s> piece </s>
    batches  = mlm_batches(features, global_batch_size, seed, **masking_args(tokenizer), ...)
    batch    = batches.batch_at(step)  # input_ids (masked), attention_mask, labels

Masking follows transformers' `DataCollatorForLanguageModeling` (itself RoBERTa/XLM-R's
fairseq recipe): each real token that is not a special token is selected independently with
probability 0.15; a selected token becomes `<mask>` with probability 0.8, a random token with 0.1,
and stays itself with 0.1; labels hold the original id at selected positions and -100 elsewhere.
One deliberate difference from transformers: random replacements are drawn uniformly from the
vocabulary *without* the special ids (`<s>`, `<pad>`, `</s>`, `<unk>`, `<mask>`), as fairseq does,
so the model is never fed a stray `<pad>` or `<s>` mid-sentence.

Masking is dynamic (a fresh mask each time a row is revisited, as RoBERTa) yet a pure function of
(seed, step): `MaskingTransform` masks the *global* batch of step `s` with its own random stream,
so a resumed run, or one with a different number of processes, sees exactly the same masked
batches.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from stilts_jax.data.batching import DEFAULT_BUCKETS, TrainBatches
from stilts_jax.features.common import IGNORE_INDEX
from stilts_jax.kinds.base import Kind, register_kind
from stilts_jax.kinds.tagging import token_loss
from stilts_jax.models.heads import MaskedLMHead

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


class MaskingTransform:
  """The masking of one MLM batch as a `TrainBatches` transform: `(step, global batch)` ->
  the batch with `input_ids` masked and `labels` added.

  The mask of global step `s` is drawn from `np.random.default_rng([seed, s, _MASK_STREAM])` over
  the whole global batch (the batcher hands the transform every process's rows and keeps this
  process's afterwards), so it is a pure function of (seed, step), independent of how many
  processes share the batch.
  """

  def __init__(self, seed: int, *, mask_token_id: int, vocab_size: int,
               special_ids: Collection[int], mlm_probability: float = MLM_PROBABILITY):
    self.seed = int(seed)
    self.masking = dict(mask_token_id=int(mask_token_id), vocab_size=int(vocab_size),
                        special_ids=tuple(special_ids), mlm_probability=float(mlm_probability))
    one = np.ones((1, 1), np.int32)
    mask_tokens(one, one, rng=np.random.default_rng(0), **self.masking)  # a bad spec fails now

  def __call__(self, step: int, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([self.seed, int(step), _MASK_STREAM])
    masked, labels = mask_tokens(batch["input_ids"], batch["attention_mask"], rng=rng,
                                 **self.masking)
    return dict(batch, input_ids=masked, labels=labels)


def mlm_batches(features: Mapping[str, np.ndarray], global_batch_size: int, seed: int,
                process_index: int = 0, process_count: int = 1,
                buckets: Sequence[int] | None = DEFAULT_BUCKETS, *, mask_token_id: int,
                vocab_size: int, special_ids: Collection[int],
                mlm_probability: float = MLM_PROBABILITY, group_by_length: bool = False,
                group_chunk_batches: int = 50) -> TrainBatches:
  """The common `TrainBatches` over unmasked MLM features, masked afresh every step
  (`MaskingTransform`): every batch has `labels`."""
  if "labels" in features:
    raise ValueError("MLM features must not contain 'labels': the masking draws them per step.")
  return TrainBatches(features, global_batch_size, seed, process_index, process_count, buckets,
                      group_by_length=group_by_length, group_chunk_batches=group_chunk_batches,
                      transform=MaskingTransform(seed, mask_token_id=mask_token_id,
                                                 vocab_size=vocab_size, special_ids=special_ids,
                                                 mlm_probability=mlm_probability))


MLM = register_kind(Kind(name="mlm", train_keys=("input_ids", "attention_mask"),
                         loss=token_loss, masked=True, head=MaskedLMHead))

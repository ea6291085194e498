"""Featurization of canonical examples (`stilts_jax.examples`) into fixed-shape XLM-R features.

Every featurizer returns a dict of numpy arrays sharing a leading dimension N (one row per
feature/window), int32 and padded with `<pad>` (id 1) to T = max_length unless told otherwise:

  featurize_pairs      input_ids, attention_mask [N,T]; label, example_index [N]
  featurize_choices    input_ids, attention_mask [N,C,T]; label, example_index [N]
  featurize_sentences  input_ids, attention_mask [N,T]; example_index [N]
  featurize_tagging    input_ids, attention_mask, labels, word_index [N,T]; example_index,
                       num_words [N]
  featurize_qa         input_ids, attention_mask [N,T]; start_positions, end_positions,
                       example_index [N]; offsets [N,T,2]; token_is_max_context [N,T] (bool)

`example_index` indexes the example list given to the featurizer. `cached_featurize` stores any of
them on disk keyed by tokenizer/task/params. `featurize_split(spec, loaded, tokenizer, cache_dir=...)`
picks the featurizer for a task type and caches (see `dispatch.py`).
"""

from stilts_jax.features.cache import (
    CODE_VERSION, cache_key, cached_featurize, load_cached, tokenizer_fingerprint)
from stilts_jax.features.classification import (
    featurize_choices, featurize_pairs, featurize_sentences)
from stilts_jax.features.common import IGNORE_INDEX, NO_LABEL, truncate_longest_first
from stilts_jax.features.dispatch import (
    FEATURIZERS, RETRIEVAL_SIDES, Featurizer, examples_fingerprint, featurize_split,
    featurizer_for, register_featurizer)
from stilts_jax.features.qa import (
    QA_METADATA_KEYS, QAPredictions, featurize_qa, postprocess, postprocess_details)
from stilts_jax.features.tagging import featurize_tagging, tagging_predictions_to_words

__all__ = [
    "CODE_VERSION", "FEATURIZERS", "Featurizer", "IGNORE_INDEX", "NO_LABEL", "QA_METADATA_KEYS",
    "QAPredictions", "RETRIEVAL_SIDES", "cache_key", "cached_featurize", "examples_fingerprint",
    "featurize_choices", "featurize_pairs", "featurize_qa", "featurize_sentences",
    "featurize_split", "featurize_tagging", "featurizer_for", "load_cached",
    "postprocess", "postprocess_details", "register_featurizer", "tagging_predictions_to_words",
    "tokenizer_fingerprint", "truncate_longest_first",
]

"""One call from a loaded split to (cached) features: `featurize_split`.

    spec = tasks.get_task("xnli")
    loaded = tasks.load_examples("xnli", "validation", "de", data_overrides=overrides)
    features = featurize_split(spec, loaded, tokenizer, cache_dir="/cache/features")

The featurizer is the task kind's: each kind (`kinds/`) declares its `Featurizer`, and
`kinds.register_kind` enters it in `FEATURIZERS`, keyed by kind name; no branch here. Its keyword
parameters are resolved against the function's signature (defaults filled in, unknown names
rejected), so a cache key always holds every parameter value and an explicit default hits the same
entry as an implicit one.

Return shape: the featurizer's `dict[str, np.ndarray]` (see `stilts_jax.features`), except for a
retrieval split with both sides loaded (`loaded.retrieval`), which returns
`{"source": features, "target": features}` (`RETRIEVAL_SIDES`): one sentence-feature dict per side,
whose `example_index` indexes `loaded.retrieval.source` / `.target` respectively, so gold pairs
`(source guid, target guid)` join through each side's own example list.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from stilts_jax.features.cache import CODE_VERSION, cached_featurize, tokenizer_fingerprint
from stilts_jax.tasks.loading import LoadedSplit
from stilts_jax.tasks.registry import TaskSpec

Features = dict[str, np.ndarray]
SplitFeatures = Features | dict[str, Features]  # the second form for retrieval: see module doc
RETRIEVAL_SIDES = ("source", "target")
# Parameters that do not change the output (and are not JSON), so they stay out of cache keys.
# NB: `stats` of featurize_tagging is only filled on a cache miss.
_UNKEYED_KWARGS = frozenset({"stats"})
_POSITIONAL = ("examples", "tokenizer", "max_length")


@dataclasses.dataclass(frozen=True)
class Featurizer:
  """How one task type becomes features.

  `fn(examples, tokenizer, max_length, **kwargs)` must return arrays sharing a leading dim N.
  `label_count_kwarg` names the keyword that receives the split's label count (`num_labels`,
  `num_choices`), or None when the featurizer takes none.
  """
  name: str
  fn: Callable[..., Features]
  example_type: type
  label_count_kwarg: str | None = None

  def parameters(self) -> dict[str, Any]:
    """Keyword parameters of `fn` (beyond examples/tokenizer/max_length) and their defaults
    (`inspect.Parameter.empty` for a required one)."""
    params = inspect.signature(self.fn).parameters
    return {k: p.default for k, p in params.items()
            if k not in _POSITIONAL and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


# Kind name -> its featurizer; filled by `kinds.register_kind` from each kind's declaration.
FEATURIZERS: dict[str, Featurizer] = {}


def register_featurizer(kind: str, featurizer: Featurizer) -> Featurizer:
  """Enters `kind`'s featurizer (called by `kinds.register_kind`; tests swap one in)."""
  FEATURIZERS[kind] = featurizer  # a TaskType member hashes and compares as its name
  return featurizer


def featurizer_for(task_type: str) -> Featurizer:
  import stilts_jax.kinds  # noqa: F401  (declares the built-in kinds, and so their featurizers)
  if task_type not in FEATURIZERS:
    raise ValueError(f"No featurizer registered for task type {task_type!r} (registered: "
                     f"{', '.join(sorted(FEATURIZERS))}).")
  return FEATURIZERS[task_type]


def examples_fingerprint(examples: Iterable[Any]) -> dict[str, Any]:
  """Count and sha256 of the examples' content.

  `origins` name files and Hub revisions, not content: a local file rewritten in place, a moving Hub
  branch or a different `limit` would otherwise hit a stale cache entry. Hashing the examples is
  cheap next to tokenizing them.
  """
  digest, count = hashlib.sha256(), 0
  for e in examples:
    digest.update(repr(e).encode("utf-8"))  # frozen dataclasses of str/int/tuple: a stable repr
    digest.update(b"\0")
    count += 1
  return {"count": count, "sha256": digest.hexdigest()}


def _resolve_kwargs(featurizer: Featurizer, label_count: int | None,
                    kwargs: Mapping[str, Any]) -> dict[str, Any]:
  params = featurizer.parameters()
  unknown = sorted(set(kwargs) - set(params))
  if unknown:
    raise ValueError(f"Unknown featurizer argument(s) {', '.join(unknown)} for the "
                     f"{featurizer.name!r} featurizer (expected some of: "
                     f"{', '.join(sorted(params))}).")
  resolved = {**params, **kwargs}
  if featurizer.label_count_kwarg is not None and kwargs.get(featurizer.label_count_kwarg) is None:
    resolved[featurizer.label_count_kwarg] = label_count
  missing = sorted(k for k, v in resolved.items() if v is inspect.Parameter.empty)
  if missing:
    raise ValueError(f"The {featurizer.name!r} featurizer needs argument(s) {', '.join(missing)} "
                     f"(pass them as keyword arguments of featurize_split).")
  return resolved


def _check_examples(examples: Sequence[Any], featurizer: Featurizer, where: str) -> None:
  for e in examples:
    if not isinstance(e, featurizer.example_type):
      expected = featurizer.example_type.__name__
      raise ValueError(f"{where}: example {getattr(e, 'guid', e)!r} is a {type(e).__name__}; the "
                       f"{featurizer.name!r} featurizer expects {expected}.")


def featurize_split(spec: TaskSpec, loaded: LoadedSplit, tokenizer, *,
                    max_length: int | None = None, cache_dir: str | os.PathLike | None = None,
                    **featurizer_kwargs) -> SplitFeatures:
  """Features of one loaded (task, split, language), cached on disk when `cache_dir` is given.

  `max_length` defaults to `spec.max_length`. The label count (`len(loaded.label_names)`, else
  `spec.num_labels`; CCG's comes with its files) goes to the featurizer's `label_count_kwarg` unless
  given explicitly. `featurizer_kwargs` are the featurizer's own options (e.g. `doc_stride`,
  `context_subwords`, `pad_to_max_length`). Cache keys cover the tokenizer fingerprint, task, split,
  language, `source_kind`, `origins`, an examples fingerprint, label names, the featurizer, max
  length, every resolved option and `CODE_VERSION` (not `stats`, which only a miss fills).
  Returns per the module docstring.
  """
  if loaded.task != spec.name:
    raise ValueError(f"Loaded split is for task {loaded.task!r} but spec is {spec.name!r} "
                     f"(expected the TaskSpec the split was loaded with).")
  featurizer = featurizer_for(spec.task_type)
  max_length = spec.max_length if max_length is None else max_length
  is_int = isinstance(max_length, (int, np.integer)) and not isinstance(max_length, bool)
  if not is_int or max_length < 1:
    raise ValueError(f"max_length must be a positive int (or None for the task's "
                     f"{spec.max_length}); got {max_length!r}.")
  max_length = int(max_length)
  label_names = loaded.label_names if loaded.label_names is not None else spec.labels
  label_count = None if label_names is None else len(label_names)
  kwargs = _resolve_kwargs(featurizer, label_count, featurizer_kwargs)
  where = f"{spec.name}/{loaded.split}/{loaded.language}"
  base_key: dict[str, Any] | None = None
  if cache_dir is not None:
    base_key = {
        "tokenizer": tokenizer_fingerprint(tokenizer), "task": spec.name,
        "task_type": spec.task_type, "split": loaded.split, "language": loaded.language,
        "source_kind": loaded.source_kind, "origins": list(loaded.origins),
        "label_names": None if label_names is None else list(label_names),
        "featurizer": featurizer.name, "max_length": max_length,
        "kwargs": {k: v for k, v in kwargs.items() if k not in _UNKEYED_KWARGS},
        "code_version": CODE_VERSION,
    }

  def run(examples: Sequence[Any], side: str | None) -> Features:
    _check_examples(examples, featurizer, where if side is None else f"{where} ({side} side)")
    compute = lambda: featurizer.fn(list(examples), tokenizer, max_length, **kwargs)
    if base_key is None:
      return compute()
    key = {**base_key, "side": side, "examples": examples_fingerprint(examples)}
    return cached_featurize(cache_dir, key, compute)

  if loaded.retrieval is not None:  # a retrieval split with both sides
    sides = (loaded.retrieval.source, loaded.retrieval.target)
    return {side: run(examples, side) for side, examples in zip(RETRIEVAL_SIDES, sides)}
  return run(loaded.examples, None)

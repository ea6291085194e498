"""On-disk cache of featurized splits, so a second run does not re-tokenize.

A cache entry is `<cache_dir>/<key>.npz` (the arrays) plus `<key>.json` (the key parts, array shapes
and dtypes, for humans and for debugging stale caches). The key is a sha256 over the JSON of the
caller's key parts plus `CODE_VERSION`; callers should include everything that changes the output:
`tokenizer_fingerprint(tokenizer)`, task name, split, source revision/fingerprint, max length and
the other featurization params. Both files are written to a temp name then renamed (atomic on
POSIX; an object-store upload is atomic by itself), and the `.npz` goes last, so a present
`.npz` is always complete. The cache directory may be local or gs://.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
from etils import epath

from stilts_jax import paths

log = logging.getLogger(__name__)

# Bump whenever featurization output changes for the same inputs (layout, truncation, windows...).
CODE_VERSION = "features-v2"  # v2: tagging `num_words`


def resolve_dir(setting: str) -> str | None:
  """`data.cache_dir` as a directory: "" = `<user cache>/features` (on by default: every target
  phase of a grid re-featurizes the same splits, MNLI ~48 s a core each time), "none" = no cache
  (None), else the setting itself (a directory or gs:// path)."""
  if paths.is_off(setting):
    return None
  return setting.strip() or os.path.join(paths.user_cache_dir(), "features")


def tokenizer_fingerprint(tokenizer) -> dict[str, str]:
  """Identity of a tokenizer: its name/path and a hash of its full serialized pipeline.

  The fast tokenizer's JSON covers vocab, normalizer, pre-tokenizer and special tokens, so two
  tokenizers with the same name but different files (e.g. a retrained offline one) differ.
  """
  backend = getattr(tokenizer, "backend_tokenizer", None)
  if backend is not None:
    blob = backend.to_str()
  else:  # slow tokenizers: the vocab is the best identity we have
    blob = json.dumps(sorted(tokenizer.get_vocab().items()))
  return {"name_or_path": str(tokenizer.name_or_path),
          "vocab_sha256": hashlib.sha256(blob.encode("utf-8")).hexdigest()}


def cache_key(key_parts: dict[str, Any]) -> str:
  """Stable hex key for `key_parts` (JSON-serializable; dict order does not matter)."""
  payload = json.dumps({"code_version": CODE_VERSION, "parts": key_parts}, sort_keys=True,
                       default=str, ensure_ascii=False)
  return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def load_cached(cache_dir: str | os.PathLike, key_parts: dict[str, Any]
                ) -> dict[str, np.ndarray] | None:
  """The cached features for `key_parts`, or None when absent or unreadable."""
  path = epath.Path(cache_dir) / (cache_key(key_parts) + ".npz")
  if not path.exists():
    return None
  try:
    with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as data:
      return {k: data[k] for k in data.files}
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
    # A corrupt entry (disk trouble, a foreign file) must not break the run: recompute it.
    log.warning("Ignoring unreadable feature cache %s: %s", path, err)
    return None


def cached_featurize(cache_dir: str | os.PathLike, key_parts: dict[str, Any],
                     fn: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
  """The cached features for `key_parts`; on a miss, computes them with `fn()` and stores them."""
  cached = load_cached(cache_dir, key_parts)
  if cached is not None:
    return cached
  features = {k: np.asarray(v) for k, v in fn().items()}
  cache_dir = epath.Path(cache_dir)
  cache_dir.mkdir(parents=True, exist_ok=True)
  key = cache_key(key_parts)
  meta = {
      "code_version": CODE_VERSION,
      "key_parts": key_parts,
      "arrays": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in features.items()},
  }
  paths.write_atomic(cache_dir / (key + ".json"),
                     json.dumps(meta, indent=2, sort_keys=True, default=str, ensure_ascii=False))
  buffer = io.BytesIO()
  np.savez(buffer, **features)
  paths.write_atomic(cache_dir / (key + ".npz"), buffer.getvalue())
  return features

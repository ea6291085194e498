"""Static-shape batches from padded numpy features: length buckets, step-indexed training order,
masked evaluation padding.

Features are a dict of numpy arrays sharing a leading dimension N, padded to a max length T with
pad id 1 (the featurizer's contract). `input_ids` and `attention_mask` are always present, shaped
[N, T] or, for multiple choice, [N, C, T]; the leading one (or two) axes are the *batch dims*.

Sequence arrays: an array is trimmed together with `input_ids` when its axis right after the batch
dims has size T (and its batch dims match those of `input_ids`): `labels [N,T]`, `word_index [N,T]`,
`offsets [N,T,2]`, MC `input_ids [N,C,T]`. Anything else (`label [N]`, `start_positions [N]`,
`example_index [N]`) is left untouched. Callers can pin the set with `sequence_keys` where a
non-sequence array happens to have size T on that axis.

Everything here is a pure function of its arguments (no iterator state, no communication): every
process of a pod holds the (possibly memory-mapped) features, computes the same global batch indices
and bucket on its own, and gathers only its own rows, so a resumed or re-sharded run sees exactly
the batches it would have seen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence

import numpy as np

DEFAULT_BUCKETS: tuple[int, ...] = (64, 128, 256, 384, 512)
# Pad values for padded (masked) eval rows; keys not listed here pad with 0.
DEFAULT_PAD_VALUES: dict[str, int] = {
    "input_ids": 1,  # XLM-R <pad>
    "attention_mask": 0,
    "labels": -100,  # ignored by token-level losses
    "word_index": -1,
    "offsets": -1,
}
# Keys EvalBatches adds to every batch.
MASK_KEY = "mask"
INDEX_KEY = "index"


# ----------------------------------------------------------------------------------------------
# Feature inspection.


def batch_ndim(features: Mapping[str, np.ndarray]) -> int:
  """Number of batch dims: 1 for [N, T] features, 2 for multiple-choice [N, C, T]."""
  return np.asarray(features["input_ids"]).ndim - 1


def validate_features(features: Mapping[str, np.ndarray]) -> int:
  """Checks the featurizer contract and returns N. Raises ValueError naming the offending array."""
  for key in ("input_ids", "attention_mask"):
    if key not in features:
      raise ValueError(f"features must contain {key!r}; got keys {sorted(features)}.")
  ids, am = np.asarray(features["input_ids"]), np.asarray(features["attention_mask"])
  if ids.ndim not in (2, 3):
    raise ValueError(
        f"input_ids must be [N, T] or [N, C, T] (multiple choice); got shape {ids.shape}.")
  if am.shape != ids.shape:
    raise ValueError(
        f"attention_mask shape {am.shape} must equal input_ids shape {ids.shape}.")
  n = ids.shape[0]
  for key, arr in features.items():
    arr = np.asarray(arr)
    if arr.ndim == 0 or arr.shape[0] != n:
      raise ValueError(
          f"features[{key!r}] has shape {arr.shape}; expected leading dim N={n} "
          "(the leading dim of input_ids).")
  return n


def sequence_keys_of(
    features: Mapping[str, np.ndarray], sequence_keys: Collection[str] | None = None,
) -> frozenset[str]:
  """The keys trimmed with input_ids (see module docstring); `sequence_keys` overrides the rule."""
  ids = np.asarray(features["input_ids"])
  nb, t = ids.ndim - 1, ids.shape[-1]
  if sequence_keys is not None:
    keys = frozenset(sequence_keys) | {"input_ids", "attention_mask"}
    for key in keys:
      if key not in features:
        raise ValueError(f"sequence_keys names {key!r}, which is not in features {sorted(features)}.")
      shape = np.shape(features[key])
      if len(shape) <= nb or shape[nb] != t:
        raise ValueError(
            f"sequence_keys names {key!r} with shape {shape}; a sequence array needs size T={t} "
            f"on axis {nb} (the axis after the batch dims).")
    return keys
  return frozenset(
      k for k, v in features.items()
      if np.ndim(v) > nb and np.shape(v)[:nb] == ids.shape[:nb] and np.shape(v)[nb] == t)


def real_lengths(features: Mapping[str, np.ndarray]) -> np.ndarray:
  """Per-example real length [N]: 1 + the last attended position (max over choices for MC).

  Uses the last nonzero mask position rather than the mask sum so that a mask with holes never
  makes us cut off real tokens.
  """
  am = np.asarray(features["attention_mask"]) != 0
  if am.shape[0] == 0:  # an empty split (a language with no rows) has no batches, not an error
    return np.zeros((0,), np.int64)
  t = am.shape[-1]
  # Index of the last True along the last axis, +1; 0 for an all-False row.
  last = np.where(am.any(-1), t - np.argmax(am[..., ::-1], axis=-1), 0)
  return last.reshape(last.shape[0], -1).max(axis=1).astype(np.int64)


def resolve_buckets(buckets: Sequence[int] | None, max_len: int) -> tuple[int, ...]:
  """Sorted unique buckets, each capped at T = `max_len` (so T itself is the largest possible)."""
  buckets = DEFAULT_BUCKETS if buckets is None else tuple(buckets)
  if not buckets or any(int(b) <= 0 for b in buckets):
    raise ValueError(f"buckets must be a non-empty sequence of positive lengths; got {buckets}.")
  return tuple(sorted({min(int(b), max_len) for b in buckets}))


def choose_bucket(length: int, buckets: Sequence[int]) -> int:
  """Smallest bucket >= `length`. Raises ValueError when the sequence does not fit any bucket."""
  for b in buckets:
    if b >= length:
      return b
  raise ValueError(
      f"a sequence of real length {length} is longer than the largest bucket {max(buckets)} "
      f"(buckets {tuple(buckets)}); raise the largest bucket or truncate in featurization.")


def trim(batch: Mapping[str, np.ndarray], length: int, seq_keys: Collection[str],
         nb: int) -> dict[str, np.ndarray]:
  """Slices every sequence array to `length` on its sequence axis (`nb`); others unchanged."""
  out = {}
  for k, v in batch.items():
    if k in seq_keys:
      v = v[(slice(None),) * nb + (slice(0, length),)]
    out[k] = v
  return out


def _check_split(global_batch_size: int, process_index: int, process_count: int) -> int:
  if global_batch_size <= 0:
    raise ValueError(f"global_batch_size must be positive; got {global_batch_size}.")
  if process_count <= 0 or not 0 <= process_index < process_count:
    raise ValueError(
        f"need 0 <= process_index < process_count; got process_index={process_index}, "
        f"process_count={process_count}.")
  if global_batch_size % process_count:
    raise ValueError(
        f"global_batch_size={global_batch_size} is not divisible by process_count="
        f"{process_count}; every process must load the same number of rows.")
  return global_batch_size // process_count


class _Batcher:
  """Shared state: validated features, sequence keys, lengths, buckets, this process's row slice."""

  def __init__(self, features: Mapping[str, np.ndarray], global_batch_size: int,
               process_index: int, process_count: int, buckets: Sequence[int] | None,
               sequence_keys: Collection[str] | None):
    self.n = validate_features(features)
    self.features = {k: np.asarray(v) for k, v in features.items()}
    self.nb = batch_ndim(self.features)
    self.max_len = self.features["input_ids"].shape[-1]
    self.seq_keys = sequence_keys_of(self.features, sequence_keys)
    self.lengths = real_lengths(self.features)
    self.buckets = resolve_buckets(buckets, self.max_len)
    # Fail at construction, not hours into a run, when some example fits no bucket.
    if self.n:
      choose_bucket(int(self.lengths.max()), self.buckets)
    self.global_batch_size = int(global_batch_size)
    self.process_index, self.process_count = int(process_index), int(process_count)
    self.local_batch_size = _check_split(self.global_batch_size, self.process_index,
                                         self.process_count)
    self._local = slice(self.process_index * self.local_batch_size,
                        (self.process_index + 1) * self.local_batch_size)

  def bucket_for(self, global_rows: np.ndarray) -> int:
    """Bucket of a global batch (real rows only); the same on every process by construction."""
    longest = int(self.lengths[global_rows].max()) if global_rows.size else 0
    return choose_bucket(longest, self.buckets)

  def gather(self, rows: np.ndarray, length: int) -> dict[str, np.ndarray]:
    # Trim, then index: one copy of only the bucket's columns, contiguous for the transfer.
    return {k: v[rows] for k, v in trim(self.features, length, self.seq_keys, self.nb).items()}


# ----------------------------------------------------------------------------------------------
# Training.


class TrainBatches:
  """Deterministic, step-indexed training batches for one process.

  The global batch at global step `s` is a pure function of (seed, epoch, s): epoch `e = s //
  steps_per_epoch` uses the permutation drawn from `np.random.default_rng([seed, e])`, and step `s`
  takes its `s % steps_per_epoch`-th block of `global_batch_size` indices. This process gets rows
  `[p * local : (p + 1) * local]` of that block, where `local = global_batch_size / process_count`.

  drop_remainder: each epoch has `steps_per_epoch = N // global_batch_size` full batches; the last
  `N % global_batch_size` examples of that epoch's permutation are skipped (a different set each
  epoch). So every example appears at most once per epoch, and exactly once when
  `global_batch_size` divides N.

  group_by_length: the kept part of the permutation is cut into mega-chunks of `group_chunk_batches`
  global batches; each chunk is sorted by real length (longest first), cut into batches, and the
  batch order of the epoch is shuffled with `rng([seed, e, 1])`. Still a pure function of
  (seed, epoch, step), with much less padding per bucket.

  transform: `transform(step, global_batch) -> batch`, applied to the whole global batch of a step
  (trimmed to its bucket) before this process keeps its rows, so a random transform drawn from
  (seed, step) gives the same batch however many processes share it (MLM's masking, kinds/mlm.py).
  """

  def __init__(
      self,
      features: Mapping[str, np.ndarray],
      global_batch_size: int,
      seed: int,
      process_index: int = 0,
      process_count: int = 1,
      buckets: Sequence[int] | None = DEFAULT_BUCKETS,
      *,
      group_by_length: bool = False,
      group_chunk_batches: int = 50,
      sequence_keys: Collection[str] | None = None,
      transform: Callable[[int, dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
  ):
    self._b = _Batcher(features, global_batch_size, process_index, process_count, buckets,
                       sequence_keys)
    if self._b.n < self._b.global_batch_size:
      raise ValueError(
          f"dataset has N={self._b.n} examples, fewer than global_batch_size="
          f"{self._b.global_batch_size}; with drop_remainder an epoch would have no step.")
    if group_chunk_batches <= 0:
      raise ValueError(f"group_chunk_batches must be positive; got {group_chunk_batches}.")
    self.seed = int(seed)
    self.group_by_length = bool(group_by_length)
    self.group_chunk_batches = int(group_chunk_batches)
    self.transform = transform
    self._epoch_cache: tuple[int, np.ndarray] | None = None

  # Read-only views of the shared state.
  num_examples = property(lambda self: self._b.n)
  global_batch_size = property(lambda self: self._b.global_batch_size)
  local_batch_size = property(lambda self: self._b.local_batch_size)
  buckets = property(lambda self: self._b.buckets)
  sequence_keys = property(lambda self: self._b.seq_keys)

  @property
  def steps_per_epoch(self) -> int:
    return self._b.n // self._b.global_batch_size

  def epoch_order(self, epoch: int) -> np.ndarray:
    """[steps_per_epoch, global_batch_size] example indices of `epoch` (pure in seed, epoch)."""
    if self._epoch_cache is not None and self._epoch_cache[0] == epoch:
      return self._epoch_cache[1]
    gbs, steps = self._b.global_batch_size, self.steps_per_epoch
    perm = np.random.default_rng([self.seed, epoch]).permutation(self._b.n)[: steps * gbs]
    if self.group_by_length:
      chunk = self.group_chunk_batches * gbs
      parts = []
      for start in range(0, perm.size, chunk):
        part = perm[start:start + chunk]
        # Stable sort on -length: ties keep their (random) permutation order.
        parts.append(part[np.argsort(-self._b.lengths[part], kind="stable")])
      order = np.concatenate(parts).reshape(steps, gbs)
      order = order[np.random.default_rng([self.seed, epoch, 1]).permutation(steps)]
    else:
      order = perm.reshape(steps, gbs)
    self._epoch_cache = (epoch, order)
    return order

  def global_indices_at(self, step: int) -> np.ndarray:
    """Example indices [global_batch_size] of the global batch at global step `step`."""
    if step < 0:
      raise ValueError(f"step must be >= 0; got {step}.")
    epoch, within = divmod(int(step), self.steps_per_epoch)
    return self.epoch_order(epoch)[within]

  def indices_at(self, step: int) -> np.ndarray:
    """This process's example indices [local_batch_size] at global step `step`."""
    return self.global_indices_at(step)[self._b._local]

  def bucket_at(self, step: int) -> int:
    return self._b.bucket_for(self.global_indices_at(step))

  def batch_at(self, step: int) -> dict[str, np.ndarray]:
    """This process's slice of the global batch at `step`, sequence arrays trimmed to its bucket."""
    rows = self.global_indices_at(step)
    if self.transform is None:
      return self._b.gather(rows[self._b._local], self._b.bucket_for(rows))
    batch = self.transform(int(step), self._b.gather(rows, self._b.bucket_for(rows)))
    return {k: v[self._b._local] for k, v in batch.items()}

  def from_step(self, step: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """Endless iterator of `batch_at(step), batch_at(step + 1), ...` (epochs roll over)."""
    while True:
      yield self.batch_at(step)
      step += 1

  def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
    return self.from_step(0)


# ----------------------------------------------------------------------------------------------
# Evaluation.


class EvalBatches:
  """Evaluation batches for this process: every example exactly once, whatever the host count.

  Global batch `i` covers dataset rows `[i*gbs, (i+1)*gbs)`; this process gets its
  `[p*local, (p+1)*local)` part. Rows past N are padding built from `pad_values` (defaults:
  input_ids 1, attention_mask 0, labels -100, word_index -1, offsets -1, others 0), so models must
  tolerate all-masked rows (use a finite mask bias, not -inf). Each batch adds `mask` (bool,
  True for real rows) and `index` (int32 global row index, -1 for padding) for weighting metrics
  and joining predictions back to examples. All processes see `ceil(N / gbs)` batches and the same
  bucket per batch. The result is re-iterable and has `len()`.
  """

  def __init__(
      self,
      features: Mapping[str, np.ndarray],
      global_batch_size: int,
      process_index: int = 0,
      process_count: int = 1,
      buckets: Sequence[int] | None = DEFAULT_BUCKETS,
      *,
      pad_values: Mapping[str, int | float] | None = None,
      sequence_keys: Collection[str] | None = None,
  ):
    for key in (MASK_KEY, INDEX_KEY):
      if key in features:
        raise ValueError(f"features must not contain {key!r}: EvalBatches adds that key.")
    self._b = _Batcher(features, global_batch_size, process_index, process_count, buckets,
                       sequence_keys)
    self.pad_values = {**DEFAULT_PAD_VALUES, **(pad_values or {})}

  num_examples = property(lambda self: self._b.n)
  global_batch_size = property(lambda self: self._b.global_batch_size)
  local_batch_size = property(lambda self: self._b.local_batch_size)

  def __len__(self) -> int:
    # Global batches tile the dataset in order, so every process has the same count.
    return math.ceil(self._b.n / self._b.global_batch_size)

  def batch(self, i: int) -> dict[str, np.ndarray]:
    """Batch `i`: global rows [i*gbs, (i+1)*gbs); rows >= N are padding with mask False."""
    b, gbs = self._b, self._b.global_batch_size
    if not 0 <= i < len(self):
      raise IndexError(f"eval batch {i} out of range [0, {len(self)}).")
    global_rows = np.arange(i * gbs, min((i + 1) * gbs, b.n))
    bucket = b.bucket_for(global_rows)
    rows = np.arange(i * gbs, (i + 1) * gbs)[b._local]
    mask = rows < b.n
    real = b.gather(rows[mask], bucket)
    if mask.all():  # every batch but the last: no padding rows to add
      return {**real, MASK_KEY: mask, INDEX_KEY: rows.astype(np.int32)}
    out = {}
    for k, v in real.items():
      # A process can run out entirely (N=37, 3 processes, gbs 9) and get an all-padding batch.
      full = np.full((rows.size,) + v.shape[1:], self.pad_values.get(k, 0), dtype=v.dtype)
      full[mask] = v
      out[k] = full
    out[MASK_KEY] = mask
    out[INDEX_KEY] = np.where(mask, rows, -1).astype(np.int32)
    return out

  def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
    for i in range(len(self)):
      yield self.batch(i)

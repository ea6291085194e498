"""Similarity search on the accelerator, BUCC bitext mining and Tatoeba nearest neighbours.

`knn` replaces faiss' exact `IndexFlatIP` search: the index lives on one device, queries go through
in fixed-size blocks (the last one shifted to overlap its predecessor rather than padded) to a
jitted matmul + `jax.lax.top_k`, so memory is ~ block x N and the function compiles once per
(block, index shape, k), not per block or per query count.

`mine_bitext` follows XTREME's `third_party/utils_retrieve.py::mine_bitext` (LASER), as copied by
jiant (`tasks/lib/bucc2018.py` + `Bucc2018EvaluationScheme`): cosine similarity, k neighbours in
both directions, ratio margin, "max" retrieval, de-duplication of identical sentences by sha1 of
the stripped text with every mined pair expanded back to all ids sharing that text. Score the
result with `stilts_jax.metrics.bucc_optimal_threshold` / `bucc_f1`.

Conventions (jiant/XTREME): BUCC source = the non-English side, target = English; Tatoeba queries
with English and indexes the other language.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import itertools
from collections.abc import Hashable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

MARGINS = ("ratio", "distance", "absolute")
RETRIEVALS = ("max", "fwd", "bwd", "intersect")


def _device_matrix(x: Any, name: str, device: jax.Device | None,
                   require_nonzero: bool) -> jax.Array:
  """`x` as a float32 [rows, dim] array on `device`, with finite (and optionally non-zero) rows."""
  if not isinstance(x, jax.Array):
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
      raise ValueError(f"{name} must be a real numeric array, got dtype {x.dtype}.")
  if x.ndim != 2:
    raise ValueError(f"{name} must be a 2-D [num_sentences, dim] array, got shape {x.shape}.")
  if x.shape[0] == 0 or x.shape[1] == 0:
    raise ValueError(f"{name} is empty (shape {x.shape}); expected at least one row and column.")
  # float32 even for bf16 embeddings: near-tied cosines would otherwise reorder neighbours.
  x = jax.device_put(jnp.asarray(x, dtype=jnp.float32), device or jax.local_devices()[0])
  finite, norms = _row_stats(x)
  finite, norms = np.asarray(finite), np.asarray(norms)
  if not finite.all():
    bad = np.flatnonzero(~finite)
    raise ValueError(f"{name} has non-finite values (after casting to float32) in {bad.size} "
                     f"row(s), e.g. rows {bad[:5].tolist()}.")
  if require_nonzero and np.any(norms == 0):
    bad = np.flatnonzero(norms == 0)
    raise ValueError(f"{name} has all-zero row(s) {bad[:5].tolist()}; cosine similarity is "
                     f"undefined for them (pass normalize=False for raw inner products).")
  return x


@jax.jit
def _row_stats(x: jax.Array) -> tuple[jax.Array, jax.Array]:
  return jnp.all(jnp.isfinite(x), axis=1), jnp.linalg.norm(x, axis=1)


def _unit_rows(x: jax.Array) -> jax.Array:
  norms = jnp.linalg.norm(x, axis=1, keepdims=True)
  # Zero rows stay 0 rather than NaN (callers reject them before normalising anyway).
  return x / jnp.where(norms > 0, norms, 1.0)


_unit_rows_jit = jax.jit(_unit_rows)


@functools.partial(jax.jit, static_argnames=("k", "normalize", "precision"))
def _block_topk(q: jax.Array, index: jax.Array, *, k: int, normalize: bool,
                precision: jax.lax.Precision) -> tuple[jax.Array, jax.Array]:
  """Top-k inner products of a [block, dim] query block against every (pre-normalised) index row."""
  if normalize:
    q = _unit_rows(q)
  # HIGHEST: TPUs otherwise multiply f32 in one bf16 pass, enough to swap close neighbours.
  sims = jnp.einsum("qd,nd->qn", q, index, precision=precision,
                    preferred_element_type=jnp.float32)
  return jax.lax.top_k(sims, k)  # equal values: the lower index comes first


def _knn(queries: jax.Array, index: jax.Array, k: int, block_size: int, normalize: bool,
         precision: jax.lax.Precision) -> tuple[np.ndarray, np.ndarray]:
  """`knn` on validated device arrays."""
  n_q = queries.shape[0]
  block = min(block_size, n_q)  # small query sets are not padded up to a huge block
  if normalize:
    index = _unit_rows_jit(index)
  # Every block has exactly `block` rows, so `_block_topk` compiles once per (block, index, k),
  # whatever n_q is: the last block is not zero-padded but shifted back to end at row n_q, and only
  # its new rows are kept. The slice start is an operand of dynamic_slice (no compile per block).
  starts = [min(s, n_q - block) for s in range(0, n_q, block)]
  # Dispatch every block before fetching any result, so host transfer overlaps device work.
  outs = [_block_topk(jax.lax.dynamic_slice_in_dim(queries, start, block, axis=0), index, k=k,
                      normalize=normalize, precision=precision) for start in starts]
  outs = jax.device_get(outs)
  skip = [b * block - start for b, start in enumerate(starts)]  # rows already in the last block
  scores = np.concatenate([s[o:] for (s, _), o in zip(outs, skip)]).astype(np.float32)
  ids = np.concatenate([i[o:] for (_, i), o in zip(outs, skip)]).astype(np.int64)
  return scores, ids


def _check_k(k: int, upper: int | None = None) -> None:
  if not isinstance(k, (int, np.integer)) or k < 1 or (upper is not None and k > upper):
    bound = f"[1, {upper}] (the number of index rows)" if upper is not None else ">= 1"
    raise ValueError(f"k must be an integer in {bound}, got {k!r}.")


def _check_block_size(block_size: int) -> None:
  if not isinstance(block_size, (int, np.integer)) or block_size < 1:
    raise ValueError(f"block_size must be a positive integer, got {block_size!r}.")


def knn(queries: Any, index: Any, k: int, *, block_size: int = 4096, normalize: bool = True,
        device: jax.Device | None = None,
        precision: jax.lax.Precision = jax.lax.Precision.HIGHEST) -> tuple[np.ndarray, np.ndarray]:
  """Exact top-k search of each query row among the index rows, on the accelerator.

  Similarity is cosine (rows L2-normalised) or, with `normalize=False`, the raw inner product.
  Returns (scores [Q, k] float32, ids [Q, k] int64), best first; equal scores list the lower index
  first. Queries are processed `block_size` rows at a time, so memory is ~ block_size x N; the
  index must fit on `device` (default: the first local device). Numpy or jax inputs, any float
  dtype (computed in float32). Raises ValueError on bad shapes, non-finite or (when normalising)
  all-zero rows, or k outside [1, N].
  """
  q = _device_matrix(queries, "queries", device, require_nonzero=normalize)
  x = _device_matrix(index, "index", device, require_nonzero=normalize)
  if q.shape[1] != x.shape[1]:
    raise ValueError(f"queries and index must have the same dimension, got {q.shape[1]} and "
                     f"{x.shape[1]}.")
  _check_k(k, x.shape[0])
  _check_block_size(block_size)
  return _knn(q, x, int(k), int(block_size), normalize, precision)


class MarginScores(NamedTuple):
  """Candidates and margin scores of both search directions (rows of the given embeddings)."""
  fwd_ids: np.ndarray      # [S, k_fwd] target rows nearest to each source row, by cosine
  fwd_scores: np.ndarray   # [S, k_fwd] margin score of each (source, fwd_ids) candidate
  bwd_ids: np.ndarray      # [T, k_bwd] source rows nearest to each target row
  bwd_scores: np.ndarray   # [T, k_bwd]


def _margin_fn(margin: str):
  if margin not in MARGINS:
    raise ValueError(f"margin must be one of {MARGINS}, got {margin!r}.")
  return {"ratio": np.divide, "distance": np.subtract, "absolute": lambda a, b: a}[margin]


def _margin_scores(x: jax.Array, y: jax.Array, k: int, margin: str, block_size: int,
                   precision: jax.lax.Precision) -> MarginScores:
  fn = _margin_fn(margin)
  # As the reference: k is capped by the other side's size (min(y.shape[0], neighborhood)).
  fwd_sim, fwd_ids = _knn(x, y, min(k, y.shape[0]), block_size, True, precision)
  bwd_sim, bwd_ids = _knn(y, x, min(k, x.shape[0]), block_size, True, precision)
  fwd_sim, bwd_sim = fwd_sim.astype(np.float64), bwd_sim.astype(np.float64)
  fwd_mean, bwd_mean = fwd_sim.mean(axis=1), bwd_sim.mean(axis=1)
  # score(x, y) = margin(cos(x, y), (mean_knn(x) + mean_knn(y)) / 2); the cosines are the knn
  # similarities themselves (the reference recomputes the same dot products).
  fwd = fn(fwd_sim, (fwd_mean[:, None] + bwd_mean[fwd_ids]) / 2)
  bwd = fn(bwd_sim, (bwd_mean[:, None] + fwd_mean[bwd_ids]) / 2)
  return MarginScores(fwd_ids, fwd, bwd_ids, bwd)


def _src_trg(src_emb: Any, trg_emb: Any,
             device: jax.Device | None) -> tuple[jax.Array, jax.Array]:
  x = _device_matrix(src_emb, "src_emb", device, require_nonzero=True)
  y = _device_matrix(trg_emb, "trg_emb", device, require_nonzero=True)
  if x.shape[1] != y.shape[1]:
    raise ValueError(f"src_emb and trg_emb must have the same dimension, got {x.shape[1]} and "
                     f"{y.shape[1]}.")
  return x, y


def _text_groups(n: int, texts: Sequence[str] | None, name: str) -> list[list[int]]:
  """Row groups of identical texts (jiant: sha1 of the stripped text), in first-seen order."""
  if texts is None:
    return [[i] for i in range(n)]
  if len(texts) != n:
    raise ValueError(f"{name} has {len(texts)} entries but the embeddings have {n} rows.")
  groups: dict[str, list[int]] = {}
  for i, text in enumerate(texts):
    if not isinstance(text, str):
      raise ValueError(f"{name} must hold strings, found {type(text).__name__} at row {i}.")
    groups.setdefault(hashlib.sha1(text.strip().encode("utf-8")).hexdigest(), []).append(i)
  return list(groups.values())


def _check_ids(ids: Sequence[Hashable], n: int, name: str) -> list[Hashable]:
  ids = list(ids)
  if len(ids) != n:
    raise ValueError(f"{name} has {len(ids)} ids but the embeddings have {n} rows.")
  if len(set(ids)) != n:
    dup = next(i for i, c in collections.Counter(ids).items() if c > 1)
    raise ValueError(f"{name} must be unique; {dup!r} occurs more than once.")
  return ids


def _select(ms: MarginScores, retrieval: str, threshold: float) -> list[tuple[float, int, int]]:
  """(score, src row, trg row) pairs kept by the reference's retrieval mode, best first."""
  n_src, n_trg = ms.fwd_ids.shape[0], ms.bwd_ids.shape[0]
  # Best candidate by margin (not by cosine) among the k neighbours; ties -> nearest neighbour.
  fwd_best = ms.fwd_ids[np.arange(n_src), ms.fwd_scores.argmax(axis=1)]
  bwd_best = ms.bwd_ids[np.arange(n_trg), ms.bwd_scores.argmax(axis=1)]
  fwd_max, bwd_max = ms.fwd_scores.max(axis=1), ms.bwd_scores.max(axis=1)
  if retrieval == "fwd":
    pairs = [(fwd_max[i], i, int(j)) for i, j in enumerate(fwd_best)]
  elif retrieval == "bwd":
    pairs = [(bwd_max[j], int(i), j) for j, i in enumerate(bwd_best)]
  elif retrieval == "intersect":
    pairs = [(fwd_max[i], i, int(j)) for i, j in enumerate(fwd_best) if bwd_best[j] == i]
  else:  # "max": union of both directions, greedily by score, each row of each side used once
    src = np.concatenate([np.arange(n_src), bwd_best])
    trg = np.concatenate([fwd_best, np.arange(n_trg)])
    scores = np.concatenate([fwd_max, bwd_max])
    seen_src, seen_trg, pairs = set(), set(), []
    # Stable sort (the reference's default quicksort is not): ties keep forward-first order.
    for i in np.argsort(-scores, kind="stable"):
      s, t = int(src[i]), int(trg[i])
      if s not in seen_src and t not in seen_trg:
        seen_src.add(s)
        seen_trg.add(t)  # a pair below the threshold still uses up its rows, as the reference
        pairs.append((scores[i], s, t))
  return [(float(sc), s, t) for sc, s, t in pairs if sc > threshold]


def mine_bitext(src_emb: Any, trg_emb: Any, src_ids: Sequence[Hashable],
                trg_ids: Sequence[Hashable], *, k: int = 4, margin: str = "ratio",
                retrieval: str = "max", threshold: float = 0.0,
                src_texts: Sequence[str] | None = None, trg_texts: Sequence[str] | None = None,
                block_size: int = 4096, device: jax.Device | None = None,
                precision: jax.lax.Precision = jax.lax.Precision.HIGHEST,
                ) -> dict[tuple[Hashable, Hashable], float]:
  """Mine translation pairs: {(src_id, trg_id): margin score} for pairs scoring > `threshold`.

  Reference semantics (XTREME/LASER `mine_bitext`, mode "mine"): cosine k-NN both ways (`k`
  capped at each side's size), `margin` in MARGINS, `retrieval` in RETRIEVALS ("max": forward
  and backward best candidates pooled, taken in descending score, each source and target used
  once). With `src_texts`/`trg_texts`, rows whose stripped texts are identical are mined once
  (from the last such row's embedding, as the reference's `unique_embeddings`) and each mined pair
  is expanded to every (src_id, trg_id) sharing those texts, all with the pair's score. jiant
  mines with threshold 0; `metrics.bucc_optimal_threshold` then tunes the real cut.
  """
  if retrieval not in RETRIEVALS:
    raise ValueError(f"retrieval must be one of {RETRIEVALS}, got {retrieval!r}.")
  _margin_fn(margin)
  if not isinstance(threshold, (int, float, np.floating)) or np.isnan(threshold):
    raise ValueError(f"threshold must be a number, got {threshold!r}.")
  _check_k(k)
  _check_block_size(block_size)
  x, y = _src_trg(src_emb, trg_emb, device)
  src_ids = _check_ids(src_ids, x.shape[0], "src_ids")
  trg_ids = _check_ids(trg_ids, y.shape[0], "trg_ids")
  src_groups = _text_groups(x.shape[0], src_texts, "src_texts")
  trg_groups = _text_groups(y.shape[0], trg_texts, "trg_texts")
  if len(src_groups) < x.shape[0]:
    x = x[jnp.asarray([g[-1] for g in src_groups])]
  if len(trg_groups) < y.shape[0]:
    y = y[jnp.asarray([g[-1] for g in trg_groups])]
  ms = _margin_scores(x, y, int(k), margin, int(block_size), precision)
  candidates: dict[tuple[Hashable, Hashable], float] = {}
  for score, s, t in _select(ms, retrieval, float(threshold)):
    for i, j in itertools.product(src_groups[s], trg_groups[t]):
      # Non-"max" modes can mine a row twice; keep the best score, as `read_candidate2score`.
      key = (src_ids[i], trg_ids[j])
      candidates[key] = max(score, candidates.get(key, score))
  return candidates

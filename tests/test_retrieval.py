"""Blocked accelerator k-NN, margin-based BUCC mining (XTREME `mine_bitext` semantics), Tatoeba."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stilts_jax import metrics, retrieval


def _brute_knn(q, x, k, normalize=True):
  q, x = np.asarray(q, np.float64), np.asarray(x, np.float64)
  if normalize:
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
  sims = q @ x.T
  ids = np.argsort(-sims, axis=1, kind="stable")[:, :k]
  return np.take_along_axis(sims, ids, axis=1), ids, sims


def _assert_knn_matches(q, x, k, normalize, block_size):
  scores, ids = retrieval.knn(q, x, k, block_size=block_size, normalize=normalize)
  ref_scores, ref_ids, sims = _brute_knn(q, x, k, normalize)
  assert scores.shape == ids.shape == (q.shape[0], k)
  assert scores.dtype == np.float32 and ids.dtype == np.int64
  np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-5)
  # The returned ids' true similarities are the top-k values (robust to float32 near-ties).
  np.testing.assert_allclose(np.take_along_axis(sims, ids, axis=1), ref_scores, atol=1e-5)
  return ids, ref_ids


@pytest.mark.parametrize("block_size", [1, 7, 16, 64, 4096])
@pytest.mark.parametrize("normalize", [True, False])
def test_knn_matches_brute_force(block_size, normalize):
  rng = np.random.default_rng(0)
  q, x = rng.normal(size=(37, 16)), rng.normal(size=(29, 16))
  ids, ref_ids = _assert_knn_matches(q, x, 5, normalize, block_size)
  np.testing.assert_array_equal(ids, ref_ids)  # random data: no near-ties


def test_knn_accepts_jax_and_bf16_inputs():
  rng = np.random.default_rng(1)
  q, x = rng.normal(size=(10, 8)).astype(np.float32), rng.normal(size=(12, 8)).astype(np.float32)
  np.testing.assert_array_equal(retrieval.knn(jnp.asarray(q), jnp.asarray(x), 3)[1],
                                retrieval.knn(q, x, 3)[1])
  scores, _ = retrieval.knn(jnp.asarray(q, jnp.bfloat16), x, 3)
  assert scores.dtype == np.float32


def test_knn_ties_lowest_index_first():
  # Small integers: every inner product is exact in float32, so the ties are real ties.
  x = np.array([[1, 0], [0, 1], [1, 0], [1, 1], [0, 1], [1, 0]], np.float32)
  q = np.array([[1, 0], [0, 2], [1, 1]], np.float32)
  scores, ids = retrieval.knn(q, x, 4, block_size=2, normalize=False)
  np.testing.assert_array_equal(ids, [[0, 2, 3, 5], [1, 3, 4, 0], [3, 0, 1, 2]])
  np.testing.assert_array_equal(scores, [[1, 1, 1, 1], [2, 2, 2, 0], [2, 1, 1, 1]])
  # Cosine: duplicate index rows tie; the lower one is listed first.
  _, ids = retrieval.knn(q, x, 3, block_size=2)
  np.testing.assert_array_equal(ids[0], [0, 2, 5])
  np.testing.assert_array_equal(ids[1], [1, 4, 3])


def test_knn_compiles_once_across_blocks():
  rng = np.random.default_rng(2)
  x = rng.normal(size=(50, 11))
  before = retrieval._block_topk._cache_size()
  # 11 blocks, the last one partial (shifted back to overlap the 10th).
  _assert_knn_matches(rng.normal(size=(103, 11)), x, 3, True, 10)
  assert retrieval._block_topk._cache_size() - before == 1
  # Another query count with the same block shape: no new compile.
  _assert_knn_matches(rng.normal(size=(95, 11)), x, 3, True, 10)
  assert retrieval._block_topk._cache_size() - before == 1


def test_tatoeba_predictions_are_what_the_metric_scores():
  rng = np.random.default_rng(3)
  other = rng.normal(size=(40, 16))
  eng = other + 0.8 * rng.normal(size=other.shape)  # noisy: some queries miss
  pred = metrics.tatoeba_nearest(eng, other, chunk_size=16)  # several chunks
  assert pred.shape == (40,)
  _, ref_ids, _ = _brute_knn(eng, other, 1)
  np.testing.assert_array_equal(pred, ref_ids[:, 0])
  acc = 100.0 * np.mean(pred == np.arange(40))
  assert 0 < acc < 100
  assert acc == pytest.approx(metrics.tatoeba_accuracy(eng, other))


# --- margin scores and mining ----------------------------------------------------------------


def _ref_margins(x, y, k):
  """Independent ratio-margin arithmetic on the full cosine matrix."""
  x = x / np.linalg.norm(x, axis=1, keepdims=True)
  y = y / np.linalg.norm(y, axis=1, keepdims=True)
  cos = x @ y.T
  fwd_mean = np.sort(cos, axis=1)[:, ::-1][:, :k].mean(axis=1)
  bwd_mean = np.sort(cos, axis=0)[::-1][:k].mean(axis=0)
  return cos / ((fwd_mean[:, None] + bwd_mean[None, :]) / 2), cos


def margin_scores(src, trg, *, k: int = 4, margin: str = "ratio"):
  """The margin scores `mine_bitext` ranks (its private core, without the mining around it)."""
  x, y = retrieval._src_trg(src, trg, None)
  return retrieval._margin_scores(x, y, k, margin, 4096, jax.lax.Precision.HIGHEST)


def test_ratio_margin_by_hand_3x3():
  x = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
  y = np.array([[0.8, 0.6], [1.0, 0.0], [-0.6, 0.8]])
  # cos = [[.8, 1, -.6], [.96, .6, .28], [.6, 0, .8]]; top-2 means:
  # fwd (rows) .9, .78, .7; bwd (columns) .88, .8, .54.
  ms = margin_scores(x, y, k=2)
  np.testing.assert_array_equal(ms.fwd_ids, [[1, 0], [0, 1], [2, 0]])
  np.testing.assert_array_equal(ms.bwd_ids, [[1, 0], [0, 1], [2, 1]])
  np.testing.assert_allclose(ms.fwd_scores, [[1 / .85, .8 / .89], [.96 / .83, .6 / .79],
                                             [.8 / .62, .6 / .79]], rtol=1e-6)
  np.testing.assert_allclose(ms.bwd_scores, [[.96 / .83, .8 / .89], [1 / .85, .6 / .79],
                                             [.8 / .62, .28 / .66]], rtol=1e-6)
  margins, _ = _ref_margins(x, y, 2)
  np.testing.assert_allclose(ms.fwd_scores, np.take_along_axis(margins, ms.fwd_ids, 1), rtol=1e-6)
  # "max": pooled bests 1.2903 (2,2) twice, 1.1765 (0,1) twice, 1.1566 (1,0) twice.
  cands = retrieval.mine_bitext(x, y, ["a", "b", "c"], ["A", "B", "C"], k=2)
  assert cands.keys() == {("c", "C"), ("a", "B"), ("b", "A")}
  assert cands[("c", "C")] == pytest.approx(.8 / .62, rel=1e-6)
  assert cands[("b", "A")] == pytest.approx(.96 / .83, rel=1e-6)
  # k larger than a side is capped (reference: min(n, neighborhood)).
  ms3 = margin_scores(x, y, k=4)
  full, _ = _ref_margins(x, y, 3)
  np.testing.assert_allclose(ms3.fwd_scores, np.take_along_axis(full, ms3.fwd_ids, 1), rtol=1e-6)
  # distance / absolute margins.
  msd = margin_scores(x, y, k=2, margin="distance")
  assert msd.fwd_scores[0, 0] == pytest.approx(1 - .85, abs=1e-6)
  assert margin_scores(x, y, k=2, margin="absolute").fwd_scores[0, 0] == \
      pytest.approx(1.0, abs=1e-6)


def test_max_retrieval_uses_each_side_once_and_keeps_best():
  # Two sources both closest to target T0; the greedy pass keeps only the higher-scoring one.
  x = np.array([[1.0, 0.0], [0.99, 0.14]])
  y = np.array([[1.0, 0.02], [0.0, 1.0]])
  cands = retrieval.mine_bitext(x, y, ["s0", "s1"], ["t0", "t1"], k=1)
  assert ("s0", "t0") in cands and all(s != "s1" or t != "t0" for s, t in cands)
  srcs, trgs = [s for s, _ in cands], [t for _, t in cands]
  assert len(set(srcs)) == len(srcs) and len(set(trgs)) == len(trgs)
  # threshold drops low pairs but they still consume their rows.
  high = retrieval.mine_bitext(x, y, ["s0", "s1"], ["t0", "t1"], k=1, threshold=0.5)
  assert set(high) <= set(cands) and ("s0", "t0") in high


def _planted(seed=0, n_src=60, n_pairs=40, n_distract=25, dim=32, noise=0.3):
  rng = np.random.default_rng(seed)
  src = rng.normal(size=(n_src, dim))
  chosen = rng.permutation(n_src)[:n_pairs]
  trg = np.concatenate([src[chosen] + noise * rng.normal(size=(n_pairs, dim)),
                        rng.normal(size=(n_distract, dim))])
  order = rng.permutation(len(trg))
  trg = trg[order]
  src_ids = [f"de-{i:06d}" for i in range(n_src)]
  trg_ids = [f"en-{i:06d}" for i in range(len(trg))]
  pos = {int(o): p for p, o in enumerate(order)}
  gold = {(src_ids[c], trg_ids[pos[p]]) for p, c in enumerate(chosen)}
  return src, trg, src_ids, trg_ids, gold


def test_planted_bitext_mined_with_top_scores_and_f1_100():
  src, trg, src_ids, trg_ids, gold = _planted()
  cands = retrieval.mine_bitext(src, trg, src_ids, trg_ids, block_size=16)
  assert gold <= cands.keys()
  ranked = sorted(cands, key=cands.get, reverse=True)
  assert set(ranked[:len(gold)]) == gold
  srcs, trgs = [s for s, _ in cands], [t for _, t in cands]
  assert len(set(srcs)) == len(srcs) and len(set(trgs)) == len(trgs)
  assert all(v > 0 for v in cands.values())
  t = metrics.bucc_optimal_threshold(cands, gold)
  assert metrics.bucc_f1(cands, gold, t) == pytest.approx(
      {"precision": 100.0, "recall": 100.0, "f1": 100.0})


@pytest.mark.parametrize("mode", ["fwd", "bwd", "intersect"])
def test_other_retrieval_modes_find_planted_pairs(mode):
  src, trg, src_ids, trg_ids, gold = _planted(seed=1)
  cands = retrieval.mine_bitext(src, trg, src_ids, trg_ids, retrieval=mode)
  assert gold <= cands.keys()
  if mode == "intersect":  # mutual best matches: each id at most once
    srcs, trgs = [s for s, _ in cands], [t for _, t in cands]
    assert len(set(srcs)) == len(srcs) and len(set(trgs)) == len(trgs)
  else:
    assert len(cands) == (len(src) if mode == "fwd" else len(trg))


def test_duplicate_texts_mined_once_and_expanded_to_all_ids():
  src, trg, _, _, _ = _planted(seed=2, n_src=30, n_pairs=20, n_distract=10)
  src_texts = [f"src sentence {i}" for i in range(len(src))]
  trg_texts = [f"trg sentence {i}" for i in range(len(trg))]
  # Append duplicates: source row 30 repeats row 0 (also after whitespace stripping), target
  # rows repeat rows 3 and 3 again. Same text => same embedding, as the encoder would give.
  src_d = np.concatenate([src, src[[0]]])
  trg_d = np.concatenate([trg, trg[[3, 3]]])
  src_texts_d = src_texts + [" src sentence 0 "]
  trg_texts_d = trg_texts + ["trg sentence 3", "trg sentence 3"]
  src_ids = [f"s{i}" for i in range(len(src_d))]
  trg_ids = [f"t{i}" for i in range(len(trg_d))]
  cands = retrieval.mine_bitext(src_d, trg_d, src_ids, trg_ids, src_texts=src_texts_d,
                                trg_texts=trg_texts_d)
  # Mining the unique rows gives the same pairs, each expanded to the ids sharing its texts.
  base = retrieval.mine_bitext(src, trg, src_ids[:len(src)], trg_ids[:len(trg)])
  groups_s = {"s0": ["s0", f"s{len(src)}"]}
  groups_t = {"t3": ["t3", f"t{len(trg)}", f"t{len(trg) + 1}"]}
  expected = {}
  for (s, t), v in base.items():
    for pair in itertools.product(groups_s.get(s, [s]), groups_t.get(t, [t])):
      expected[pair] = v
  assert cands.keys() == expected.keys()
  for key, v in expected.items():
    assert cands[key] == pytest.approx(v, rel=1e-5)
  # Without texts, identical rows compete: each can be used once, so the expansion is lost.
  plain = retrieval.mine_bitext(src_d, trg_d, src_ids, trg_ids)
  assert len(plain) < len(cands)


def test_duplicate_text_uses_last_rows_embedding():
  x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1]])
  y = np.array([[1.0, 0.0], [0.0, 1.0]])
  # Rows 0 and 2 share a text; the reference mines the group with the last row's embedding.
  cands = retrieval.mine_bitext(x, y, ["a", "b", "c"], ["A", "B"], k=1, margin="absolute",
                                src_texts=["same", "other", "same"])
  cos = x[2] @ y[0] / np.linalg.norm(x[2])  # absolute margin = cosine
  assert cos < 0.999
  assert cands == pytest.approx({("a", "A"): cos, ("c", "A"): cos, ("b", "B"): 1.0}, rel=1e-6)


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("q, x, k, match", [
    (np.ones((3, 4)), np.ones((5, 3)), 1, "same dimension"),
    (np.ones((0, 4)), np.ones((5, 4)), 1, "empty"),
    (np.ones((3, 4)), np.ones((5, 0)), 1, "empty"),
    (np.ones(4), np.ones((5, 4)), 1, "2-D"),
    (np.array([[1.0, np.nan]]), np.ones((5, 2)), 1, "non-finite"),
    (np.ones((3, 2)), np.array([[1.0, 1.0], [np.inf, 0.0]]), 1, "non-finite"),
    (np.ones((3, 2)), np.array([[1.0, 1.0], [0.0, 0.0]]), 1, "all-zero"),
    (np.ones((3, 2)), np.ones((5, 2)), 6, "k must be"),
    (np.ones((3, 2)), np.ones((5, 2)), 0, "k must be"),
    (np.array([["a", "b"]]), np.ones((5, 2)), 1, "numeric"),
])
def test_knn_bad_input(q, x, k, match):
  with pytest.raises(ValueError, match=match):
    retrieval.knn(q, x, k)


def test_knn_zero_rows_allowed_without_normalisation():
  _, ids = retrieval.knn(np.ones((2, 2)), np.array([[0.0, 0.0], [1.0, 1.0]]), 1, normalize=False)
  np.testing.assert_array_equal(ids[:, 0], [1, 1])
  with pytest.raises(ValueError, match="block_size"):
    retrieval.knn(np.ones((2, 2)), np.ones((2, 2)), 1, block_size=0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(src_emb=np.ones((2, 3)), trg_emb=np.ones((3, 4))), "same dimension"),
    (dict(src_emb=np.ones((0, 3))), "empty"),
    (dict(src_ids=["a"]), "src_ids has 1 ids"),
    (dict(trg_ids=["A", "B", "C", "D"]), "trg_ids has 4 ids"),
    (dict(src_ids=["a", "a"]), "unique"),
    (dict(src_emb=np.array([[1.0, np.nan, 0.0], [1.0, 2.0, 3.0]])), "non-finite"),
    (dict(trg_texts=["x"]), "trg_texts has 1"),
    (dict(src_texts=[1, 2]), "strings"),
    (dict(margin="cosine"), "margin"),
    (dict(retrieval="all"), "retrieval"),
    (dict(k=0), "k must be"),
    (dict(threshold=float("nan")), "threshold"),
])
def test_mine_bitext_bad_input(kwargs, match):
  rng = np.random.default_rng(4)
  args = dict(src_emb=rng.normal(size=(2, 3)), trg_emb=rng.normal(size=(3, 3)),
              src_ids=["a", "b"], trg_ids=["A", "B", "C"])
  args.update(kwargs)
  with pytest.raises(ValueError, match=match):
    retrieval.mine_bitext(**args)


def test_knn_on_explicit_device():
  dev = jax.devices()[-1]
  scores, ids = retrieval.knn(np.eye(3), np.eye(3), 1, device=dev)
  np.testing.assert_array_equal(ids[:, 0], [0, 1, 2])

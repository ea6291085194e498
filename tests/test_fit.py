"""stilts-jax-fit: the closed-form estimate, AOT compiles of the real train step, and the CLI.

Runs offline on the 8 fake CPU devices of conftest.py. The TPU AOT path needs libtpu; without it
the tests check the documented fallback instead.
"""

import dataclasses
import importlib.util

import jax
import jax.numpy as jnp
import pytest

from stilts_jax import fit
from stilts_jax.models import XLMRConfig

LARGE = XLMRConfig.large(dtype=jnp.bfloat16)
TINY = XLMRConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                  intermediate_size=64, max_position_embeddings=40, dtype=jnp.bfloat16)
V5E_8 = fit.ACCELERATORS["v5e-8"]
ONE_DEVICE = dataclasses.replace(V5E_8, name="one", devices=1)
HAS_LIBTPU = importlib.util.find_spec("libtpu") is not None


@pytest.fixture(scope="module")
def large_params():
  return fit.abstract_params(fit.Query(LARGE, "span_qa"))[1]


@pytest.mark.parametrize("head,labels", [("classification", 3), ("span_qa", 2), ("tagging", 17)])
def test_param_count_matches_abstract_model(head, labels):
  params = fit.abstract_params(fit.Query(LARGE, head, labels))[1]
  exact = sum(x.size for x in jax.tree.leaves(params))
  assert fit.param_count(LARGE, head, labels) == exact
  # perf.md's 559,890,432 includes the 1,049,600-parameter pooler, which these heads do not use.
  assert abs(exact - (559_890_432 - 1_049_600)) < 1_100_000


def test_state_bytes_are_exact_fp32_params_grads_and_adam(large_params):
  p = sum(x.size for x in jax.tree.leaves(large_params))
  r = fit.estimate(fit.Query(LARGE, "span_qa"), ONE_DEVICE, params=large_params)
  assert r.categories["params"] == r.categories["grads"] == 4 * p
  assert r.categories["opt_state"] == 2 * 4 * p  # Adam mu and nu, fp32
  assert sum(r.categories[k] for k in ("params", "grads", "opt_state")) == 4 * p * (1 + 1 + 2)
  accum = fit.estimate(fit.Query(LARGE, "span_qa", grad_accum=2), ONE_DEVICE, params=large_params)
  assert accum.categories["opt_state"] == 3 * 4 * p  # + MultiSteps' gradient accumulator


def test_scaling(large_params):
  q = fit.Query(LARGE, "span_qa", batch_size=32, seq_len=384)
  r1 = fit.estimate(q, V5E_8, params=large_params)
  r2 = fit.estimate(dataclasses.replace(q, batch_size=64), V5E_8, params=large_params)
  assert r2.categories["activations"] == pytest.approx(2 * r1.categories["activations"], rel=1e-6)
  assert r2.per_device_batch == 2 * r1.per_device_batch
  # More devices: the FSDP-sharded state shrinks (the embedding's d=1024 divides 8 and 32).
  v5p64 = fit.ACCELERATORS["v5p-64"]
  r3 = fit.estimate(dataclasses.replace(q, batch_size=128), v5p64, params=large_params)
  assert r3.per_device_batch == r1.per_device_batch
  assert r3.categories["params"] < r1.categories["params"] / 3
  sharded = [fit.estimate(q, a, params=large_params) for a in (ONE_DEVICE, V5E_8)]
  assert sharded[1].categories["opt_state"] < sharded[0].categories["opt_state"] / 7
  # A replicated optimizer state (the pre-fix layout) costs the same on every device.
  replicated = dataclasses.replace(q, opt_sharded=False)
  assert fit.estimate(replicated, V5E_8, params=large_params).categories["opt_state"] == \
      fit.estimate(replicated, ONE_DEVICE, params=large_params).categories["opt_state"]


def test_max_batch_is_exact_and_monotone_in_seq_len(large_params):
  found = []
  for t in (128, 256, 384, 512):
    q = fit.Query(LARGE, "span_qa", seq_len=t)
    b = fit.max_batch(q, V5E_8)
    state = fit.sharded_param_bytes(large_params, {"fsdp": 8}), \
        fit.sharded_param_bytes(large_params, {})
    fits = lambda n: fit.estimate(dataclasses.replace(q, batch_size=n * 8), V5E_8,
                                  state_bytes=state).fits
    assert b > 0 and fits(b) and not fits(b + 1)
    found.append(b)
  assert found == sorted(found, reverse=True) and found[0] > found[-1]
  # 8 GiB on one device cannot even hold Large's fp32 params, grads and Adam moments (8.9 GB).
  small = dataclasses.replace(ONE_DEVICE, hbm=8 * fit.GiB)
  assert fit.max_batch(fit.Query(LARGE, "span_qa", seq_len=128), small) == 0


def test_local_aot_compiles_the_real_train_step_without_allocating():
  before = len(jax.live_arrays())
  q = fit.Query(TINY, "tagging", batch_size=16, seq_len=16, opt_sharded=True)
  r = fit.aot_local(q, V5E_8)
  assert len(jax.live_arrays()) == before  # abstract state only: nothing was materialised
  assert r.method == "aot-local" and r.devices == 8 and r.per_device_batch == 2
  assert r.categories["arguments"] > 0 and r.categories["temp"] > 0
  # The donated state is aliased onto the new state, so it is not counted twice.
  assert r.categories["aliased"] < 0 and r.total > 0 and r.fits


def test_opt_state_shardings_follow_params():
  from stilts_jax import optim, sharding as shd
  from flax import nnx
  mesh = shd.make_mesh()
  params = fit.abstract_params(fit.Query(TINY, "tagging"))[1]
  shardings = nnx.to_pure_dict(shd.state_shardings(params, mesh))
  abs_params = jax.tree.map(lambda v, s: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=s),
                            nnx.to_pure_dict(params), shardings)
  tx = optim.make_optimizer(learning_rate=1e-5, total_updates=10, grad_accum_steps=2)
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  opt = shd.optimizer_state_shardings(tx, abs_params, mesh)
  word = ("encoder", "embeddings", "word_embeddings", "embedding")
  pick = lambda tree: tree[word[0]][word[1]][word[2]][word[3]]
  assert pick(opt.inner_opt_state[1][0].mu).spec == pick(shardings).spec
  assert pick(opt.acc_grads).spec == pick(shardings).spec != replicated.spec
  assert opt.mini_step.spec == replicated.spec


def test_tpu_aot_works_or_falls_back_with_the_documented_message():
  q = fit.Query(TINY, "classification", batch_size=8, seq_len=16)
  try:
    r = fit.aot_tpu(q, fit.ACCELERATORS["v5e-4"])
  except RuntimeError as e:
    assert not HAS_LIBTPU
    assert str(e).startswith(fit.TPU_AOT_UNAVAILABLE)
  else:
    assert r.method == "aot-tpu" and r.devices == 4 and r.categories["arguments"] > 0


@pytest.mark.skipif(HAS_LIBTPU, reason="with libtpu this compiles XLM-R Large for TPU (minutes)")
def test_cli_aot_falls_back_to_estimate(capsys):
  rc = fit.main(["--model=large", "--accelerator=v5e-8", "--batch-size=32", "--seq-len=384",
                 "--head=span_qa", "--aot=tpu"])
  out = capsys.readouterr().out
  assert fit.TPU_AOT_UNAVAILABLE in out and "falling back" in out
  assert rc == 0 and "estimate" in out and "fits" in out


def test_cli_table_and_exit_codes(capsys):
  rc = fit.main(["--model=large", "--accelerator=v5e-8", "--batch-size=32", "--seq-len=384",
                 "--head=span_qa", "--dtype=bfloat16", "--mesh=data=1,fsdp=-1", "--grad-accum=1"])
  out = capsys.readouterr().out
  assert rc == 0
  for word in ("estimate", "params", "opt_state", "activations", "HBM", "fits", "headroom",
               "yes", "4 rows/device"):
    assert word in out
  assert fit.main(["--model=large", "--accelerator=v5e-1", "--batch-size=256",
                   "--seq-len=512"]) == 1
  assert "NO" in capsys.readouterr().out
  assert fit.main(["--mesh=data=3,fsdp=-1", "--accelerator=v5e-8"]) == 2
  assert fit.main(["--batch-size=30", "--grad-accum=4"]) == 2


def test_cli_max_batch(capsys):
  sizes = []
  for t in (128, 384):
    assert fit.main(["--model=large", "--accelerator=v4-8", f"--seq-len={t}", "--max-batch"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("[estimate] largest per-device micro-batch")
    sizes.append(int(line.split(":")[-1].split()[0]))
  assert sizes[0] > sizes[1] > 0


def test_remat_shrinks_activations(large_params):
  q = fit.Query(LARGE, "span_qa", batch_size=64, seq_len=384)
  act = {r: fit.estimate(dataclasses.replace(q, cfg=LARGE.replace(remat=r)), V5E_8,
                         params=large_params).categories["activations"]
         for r in (False, True, "dots")}
  assert act[True] < act[False] / 5
  assert act[True] < act["dots"] < act[False] / 2  # keeps the matmuls, not the T^2 softmax


def test_remat_policies_change_what_backward_keeps():
  """The residuals jax saves for backward (the closure of the VJP) shrink as the estimate says:
  none > dots > block. (A CPU compile's temp bytes do not show it: CPU buffer assignment is not
  a proxy for TPU liveness.)"""
  import numpy as np
  from flax import nnx
  from stilts_jax.models import XLMREncoder
  cfg = TINY.replace(num_hidden_layers=3, dtype=jnp.float32)
  ids = jnp.ones((2, 32), jnp.int32).at[:, :20].set(5)
  kept = {}
  for remat in ("none", "dots", "block"):
    graphdef, params = nnx.split(XLMREncoder(cfg.replace(remat=remat), rngs=nnx.Rngs(0)),
                                 nnx.Param)
    _, vjp = jax.vjp(lambda p: nnx.merge(graphdef, p)(
        ids, ids != 1, dropout_rng=jax.random.key(0)).last_hidden_state.sum(), params)
    kept[remat] = sum(x.nbytes for x in jax.tree.leaves(vjp) if isinstance(x, (jax.Array,
                                                                                 np.ndarray)))
  assert kept["none"] > 2 * kept["dots"] > 2 * kept["block"], kept


def test_remat_policy_is_validated():
  assert [TINY.replace(remat=r).remat_policy for r in (False, True, "none", "block", "dots")] == [
      "none", "block", "none", "block", "dots"]
  with pytest.raises(ValueError, match="expected True/False or one of"):
    TINY.replace(remat="full")


@pytest.mark.parametrize("true_max", [0, 1, 3, 10, 37, 200])
def test_aot_max_batch_search_starts_from_the_estimate(monkeypatch, true_max):
  # The search around the estimate's answer must find the AOT method's own limit, above or below.
  probes = []

  def fake_check(q, acc, method, margin):
    b = q.micro_batch // 8
    probes.append(b)
    return fit.Report(method, acc.name, 8, b, {}, b, true_max)

  monkeypatch.setattr(fit, "check", fake_check)
  q = fit.Query(LARGE, "span_qa", seq_len=384)
  assert fit.max_batch(q, V5E_8, "aot-tpu") == true_max
  assert len(probes) <= 2 * max(true_max, 2).bit_length() + 4  # a handful of compiles

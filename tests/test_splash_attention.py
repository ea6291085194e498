"""Pallas splash attention (the TPU kernel) equals the reference attention and transformers.

On CPU the kernel runs in the Pallas interpreter: the same kernel program (blocks, online softmax,
segment masking, fused backward), so these tests check its semantics; tests/test_tpu_kernels.py
runs the compiled Mosaic kernel where a TPU is present.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import stilts_jax
from stilts_jax import sharding as shd
from stilts_jax.models import XLMRConfig, XLMREncoder, splash
from stilts_jax.models.xlmr import AttentionMasks, _reference_attention
from hf_helpers import padded_batch, random_hf_model, rel_err, torch_outputs

FP32_TOL = 1e-5


def _qkv(b, t, n, d, seed=0, dtype=jnp.float32):
  rng = np.random.default_rng(seed)
  return [jnp.asarray(rng.normal(size=(b, t, n, d)), dtype) for _ in range(3)]


def _plain_mask(lengths, t):
  return jnp.asarray(np.arange(t)[None] < np.asarray(lengths)[:, None])


def _reference(q, k, v, mask):
  return _reference_attention(q, k, v, mask, lambda p: p)


@pytest.mark.parametrize("t", [64, 128, 200])  # below, at and off the 128-lane block
def test_plain_rows_forward_and_gradients_equal_reference(t):
  lengths = [t, t // 2, 3, 1]
  q, k, v = _qkv(4, t, 2, 16)
  keys = _plain_mask(lengths, t)
  masks = AttentionMasks.build(keys, None, "splash")
  # Jitted: op by op (the Pallas interpreter's grid loop included) every op compiles on its own.
  ref = jax.jit(lambda q, k, v: _reference(q, k, v, masks.mask))
  ours = jax.jit(lambda q, k, v: splash.splash_attention(q, k, v, masks.segments))
  # Every position, pads included: a pad query attends to the real keys, as in transformers.
  np.testing.assert_allclose(ours(q, k, v), ref(q, k, v), atol=2e-6, rtol=1e-5)
  weights = jnp.asarray(np.random.default_rng(1).normal(size=q.shape), jnp.float32)
  loss = lambda f: lambda *a: (f(*a) * weights).sum()
  got = jax.jit(jax.grad(loss(ours), argnums=(0, 1, 2)))(q, k, v)
  want = jax.jit(jax.grad(loss(ref), argnums=(0, 1, 2)))(q, k, v)
  for name, g, w in zip("qkv", got, want):
    np.testing.assert_allclose(g, w, atol=2e-5, rtol=1e-4, err_msg=f"d{name}")


def test_packed_rows_are_block_diagonal():
  t = 96
  # Row 0: examples of 30, 40 and 10 tokens then 16 pads; row 1: one example of 96.
  seg = np.zeros((2, t), np.int32)
  seg[0, :30], seg[0, 30:70], seg[0, 70:80], seg[1] = 1, 2, 3, 1
  keys = jnp.asarray(seg > 0)
  q, k, v = _qkv(2, t, 4, 8, seed=2)
  masks = AttentionMasks.build(keys, jnp.asarray(seg), "splash")
  got = np.asarray(splash.splash_attention(q, k, v, masks.segments))
  want = np.asarray(_reference(q, k, v, masks.mask))
  real = seg > 0
  np.testing.assert_allclose(got[real], want[real], atol=2e-6, rtol=1e-5)
  # Each packed example alone gives the same output: nothing leaks across segments.
  for lo, hi in ((0, 30), (30, 70), (70, 80)):
    alone = splash.splash_attention(q[:1, lo:hi], k[:1, lo:hi], v[:1, lo:hi],
                                    splash.segment_ids_for(jnp.ones((1, hi - lo), bool)))
    np.testing.assert_allclose(got[0, lo:hi], np.asarray(alone)[0], atol=2e-6, rtol=1e-5)
  assert np.isfinite(got).all()  # pad queries attend to nothing and stay finite


def test_encoder_with_splash_matches_transformers(tmp_path):
  hf = random_hf_model("encoder", "wide_heads")
  hf.save_pretrained(tmp_path)
  enc = stilts_jax.load_encoder(str(tmp_path), attention="splash")
  ids, mask = padded_batch(hf.config.vocab_size, [20, 7, 3, 20, 2])
  ref = torch_outputs(hf, ids, mask, output_hidden_states=True)
  out = enc(jnp.asarray(ids), jnp.asarray(mask), output_hidden_states=True)
  for i, (ours, theirs) in enumerate(zip(out.hidden_states, ref.hidden_states)):
    assert rel_err(ours, theirs.numpy()) <= FP32_TOL, f"hidden state {i}"
  assert rel_err(out.pooler_output, ref.pooler_output.numpy()) <= FP32_TOL


def test_encoder_gradients_with_splash_equal_reference():
  """A dropout-free training gradient through the whole encoder is the reference one."""
  cfg = XLMRConfig(vocab_size=80, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                   intermediate_size=48, max_position_embeddings=70,
                   attention_probs_dropout_prob=0.0)
  ids, mask = padded_batch(cfg.vocab_size, [40, 9, 25, 2], total=40)
  ids, mask = jnp.asarray(ids), jnp.asarray(mask)
  grads = {}
  for impl in ("splash", "reference"):
    enc = XLMREncoder(cfg.replace(attention=impl), rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(enc, nnx.Param)

    def loss(p):
      out = nnx.merge(graphdef, p)(ids, mask).last_hidden_state
      return (jnp.sin(out) * mask[..., None]).sum()
    grads[impl] = jax.jit(jax.grad(loss))(params)
  flat = lambda g: np.concatenate([np.ravel(x) for x in jax.tree.leaves(g)])
  assert rel_err(flat(grads["splash"]), flat(grads["reference"])) <= 1e-5


def test_attention_dropout_in_training_takes_the_reference_path():
  """The kernel has no dropout: with attention dropout on, splash and reference are one path."""
  cfg = XLMRConfig(vocab_size=80, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                   intermediate_size=48, max_position_embeddings=70)
  ids, mask = padded_batch(cfg.vocab_size, [30, 9], total=30)
  key = jax.random.key(3)
  outs = [XLMREncoder(cfg.replace(attention=a), rngs=nnx.Rngs(0))(
      jnp.asarray(ids), jnp.asarray(mask), dropout_rng=key).last_hidden_state
          for a in ("splash", "reference")]
  np.testing.assert_array_equal(outs[0], outs[1])


@pytest.fixture
def kernel_calls(monkeypatch):
  """Records each kernel build's (local heads, padded length) and each call's local batch rows."""
  calls = {"kernels": [], "rows": []}
  build, attend = splash._kernel, splash._attend

  def recording_build(num_heads, length, interpret):
    calls["kernels"].append((num_heads, length))
    return build(num_heads, length, interpret)

  def recording_attend(q, k, v, segments, interpret):
    calls["rows"].append(q.shape[0])
    return attend(q, k, v, segments, interpret)
  monkeypatch.setattr(splash, "_kernel", recording_build)
  monkeypatch.setattr(splash, "_attend", recording_attend)
  return calls


def _tiny(**kw):
  return XLMRConfig(vocab_size=80, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                    intermediate_size=48, max_position_embeddings=70, attention="splash",
                    attention_dropout=0.0, **kw)


def _on_mesh(enc, mesh, ids, mask):
  graphdef, state = nnx.split(enc)
  state = jax.device_put(state, shd.state_shardings(state, mesh))
  batch = shd.batch_sharding(mesh)
  return graphdef, state, jax.device_put(jnp.asarray(ids), batch), jax.device_put(
      jnp.asarray(mask), batch)


@pytest.mark.parametrize("remat", [False, True, "dots"])
def test_sharded_splash_equals_single_device_and_runs_per_shard(kernel_calls, remat):
  """On a data×fsdp×tensor mesh the kernel runs on each device's batch rows and heads; forward
  and gradients (through remat too) are the single-device ones."""
  if len(jax.devices()) < 8:
    pytest.skip("needs 8 devices")
  enc = XLMREncoder(_tiny(remat=remat), rngs=nnx.Rngs(0))
  ids, mask = padded_batch(80, [30, 9, 1, 30, 17, 4, 22, 12], total=30)
  weights = jnp.asarray(np.random.default_rng(2).normal(size=(8, 30, 32)), jnp.float32)

  def loss(graphdef, state, i, m):
    out = nnx.merge(graphdef, state)(i, m)
    return (out.last_hidden_state * weights).sum() + out.pooler_output.sum()
  grad = jax.jit(jax.value_and_grad(loss, argnums=1), static_argnums=0)

  graphdef, state = nnx.split(enc)
  want_loss, want_grads = grad(graphdef, state, jnp.asarray(ids), jnp.asarray(mask))
  assert kernel_calls["rows"] and set(kernel_calls["rows"]) == {8}  # no mesh: the whole batch
  kernel_calls["kernels"].clear(), kernel_calls["rows"].clear()

  mesh = shd.make_mesh({"data": 2, "fsdp": 2, "tensor": 2})
  graphdef, state, i, m = _on_mesh(enc, mesh, ids, mask)
  with jax.set_mesh(mesh):
    got_loss, got_grads = grad(graphdef, state, i, m)
  # 8 rows over data×fsdp = 4 → 2 rows per shard; 4 heads over tensor = 2 → 2 local heads.
  assert set(kernel_calls["rows"]) == {2} and set(kernel_calls["kernels"]) == {(2, 128)}
  np.testing.assert_allclose(float(got_loss), float(want_loss), rtol=1e-5)
  flat = lambda g: np.concatenate([np.ravel(x) for x in jax.tree.leaves(g)])
  assert rel_err(flat(got_grads), flat(want_grads)) <= 1e-5


@pytest.mark.slow
def test_one_process_many_meshes_and_eager_calls():
  """Kernels are per trace: other meshes, eager calls and later jits in one process all work."""
  if len(jax.devices()) < 8:
    pytest.skip("needs 8 devices")
  enc = XLMREncoder(_tiny(), rngs=nnx.Rngs(1))
  ids, mask = padded_batch(80, [30, 9, 1, 30, 17, 4, 22, 12], total=30)
  want = np.asarray(enc(jnp.asarray(ids), jnp.asarray(mask)).last_hidden_state)
  for shape in ({"data": 2, "fsdp": 1, "tensor": 2}, {"data": 1, "fsdp": 8, "tensor": 1}):
    mesh = shd.make_mesh(shape, devices=jax.devices()[:int(np.prod(list(shape.values())))])
    graphdef, state, i, m = _on_mesh(enc, mesh, ids, mask)
    with jax.set_mesh(mesh):
      eager = nnx.merge(graphdef, state)(i, m).last_hidden_state
      jitted = jax.jit(lambda s, i, m: nnx.merge(graphdef, s)(i, m).last_hidden_state)(
          state, i, m)
    for got in (eager, jitted):
      np.testing.assert_allclose(np.asarray(got), want, atol=2e-5, rtol=1e-5, err_msg=str(shape))
  again = enc(jnp.asarray(ids), jnp.asarray(mask)).last_hidden_state  # back to no mesh
  np.testing.assert_allclose(np.asarray(again), want, atol=1e-6)


def test_kernels_that_refuse_head_dim_64_get_a_padded_head_dim(monkeypatch):
  """2025 jaxlibs raise NotImplementedError for head_dim 64; the zero-padded head dim is exact."""
  attend = splash._attend
  seen = []

  def old_kernel(q, k, v, segments, interpret):
    seen.append(q.shape[-1])
    if q.shape[-1] % 128:
      raise NotImplementedError("head_dim_v=64 should be a multiple of 128")
    return attend(q, k, v, segments, interpret)
  monkeypatch.setattr(splash, "_attend", old_kernel)
  q, k, v = _qkv(3, 96, 2, 64, seed=7)
  masks = AttentionMasks.build(_plain_mask([96, 40, 2], 96), None, "splash")
  got = splash.splash_attention(q, k, v, masks.segments)
  assert seen == [64, 128]
  np.testing.assert_allclose(got, _reference(q, k, v, masks.mask), atol=2e-6, rtol=1e-5)


def test_auto_attention_picks_the_platform_kernel():
  cfg = XLMRConfig(attention="auto")
  assert cfg.attention_kernel("tpu") == "splash"
  assert cfg.attention_kernel("gpu") == "cudnn"
  assert cfg.attention_kernel("cpu") == "xla"
  assert XLMRConfig(attention="splash").attention_kernel("gpu") == "splash"  # explicit wins
  with pytest.raises(ValueError, match="expected one of"):
    XLMRConfig(attention="flash")


def test_splash_on_gpu_is_refused_with_the_fix(tmp_path, monkeypatch):
  with pytest.raises(ValueError, match="attention='cudnn'"):
    splash.interpret_mode("gpu")
  # At model load, before any weights are read or training starts (not at the first eval).
  random_hf_model("encoder", "tiny").save_pretrained(tmp_path)
  monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
  with pytest.raises(ValueError, match="attention='cudnn'"):
    stilts_jax.load_encoder(str(tmp_path), attention="splash")
  assert stilts_jax.load_encoder(str(tmp_path), attention="auto").cfg.attention_kernel() == "cudnn"
  assert splash.interpret_mode("tpu") is False and splash.interpret_mode("cpu") is True


def test_block_size_divides_the_padded_length():
  assert [splash.block_size(t) for t in (128, 256, 384, 512, 1024)] == [128, 256, 128, 512, 512]
  with pytest.raises(ValueError, match="multiple of 128"):
    splash.block_size(200)


def test_pipeline_model_options_reach_the_encoder(tmp_path):
  """configs/base.py's model.attention / attention_dropout / remat are what the encoder runs."""
  import _pipeline_helpers as H
  from stilts_jax import pipeline
  base = H.load_config_module("base")
  hf = random_hf_model("encoder", "tiny")
  hf.save_pretrained(tmp_path)
  config = base.get_config()
  assert config.model.attention_dropout is None and config.model.remat == "none"  # the paper's
  config.model.update(name=str(tmp_path), dtype="float32", attention="splash",
                      attention_dropout=0.0, remat="dots")
  ctx = pipeline.Context(config, tmp_path, shd.make_mesh(devices=jax.devices()[:1]), None)
  cfg = pipeline._pretrained_encoder(ctx).cfg
  assert (cfg.attention, cfg.attention_dropout, cfg.remat_policy) == ("splash", 0.0, "dots")
  assert cfg.attention_dropout_rate == 0.0 and cfg.attention_probs_dropout_prob == 0.1
  assert "attention_dropout" not in cfg.to_hf_dict()  # a runtime option, never exported
  with pytest.raises(ValueError, match=r"expected a rate in \[0, 1\)"):
    cfg.replace(attention_dropout=1.0)


def test_without_attention_dropout_training_runs_the_kernel(kernel_calls):
  """attention_dropout=0: a training forward (hidden dropout on) takes splash, same result."""
  cfg = XLMRConfig(vocab_size=80, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                   intermediate_size=48, max_position_embeddings=70, attention_dropout=0.0)
  ids, mask = padded_batch(cfg.vocab_size, [30, 9], total=30)
  key = jax.random.key(5)
  outs = {a: XLMREncoder(cfg.replace(attention=a), rngs=nnx.Rngs(0))(
      jnp.asarray(ids), jnp.asarray(mask), dropout_rng=key).last_hidden_state
          for a in ("splash", "reference")}
  # The kernel ran in the training forward; traced once, as the scan runs one block program.
  assert kernel_calls["kernels"] == [(4, 128)]
  np.testing.assert_allclose(outs["splash"], outs["reference"], atol=2e-5, rtol=1e-5)
  clean = XLMREncoder(cfg, rngs=nnx.Rngs(0))(jnp.asarray(ids), jnp.asarray(mask))
  assert not np.allclose(outs["splash"], clean.last_hidden_state)  # hidden dropout still on

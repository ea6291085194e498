"""GPU smoke tests: run on a CUDA machine (`pytest -m gpu`), skip cleanly elsewhere.

The GPU is where the fused cuDNN attention and bf16 tensor-core matmuls run, so parity is checked
there against transformers' fp32 PyTorch model and against our reference attention.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import stilts_jax
from hf_helpers import padded_batch, random_hf_model, rel_err, torch_outputs

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
  # cuDNN's fused attention wants head_dim a multiple of 8: the "wide_heads" geometry has 8.
  hf = random_hf_model("encoder", "wide_heads")
  path = tmp_path_factory.mktemp("gpu_ckpt")
  hf.save_pretrained(path)
  return str(path), hf


def test_cudnn_attention_matches_reference_in_bf16(checkpoint):
  path, hf = checkpoint
  ids, mask = padded_batch(hf.config.vocab_size, [16, 9, 4, 16])
  outs = {impl: stilts_jax.load_encoder(path, dtype=jnp.bfloat16, attention=impl)(
      jnp.asarray(ids), jnp.asarray(mask)).last_hidden_state.astype(jnp.float32)
      for impl in ("cudnn", "reference")}
  ref = torch_outputs(hf, ids, mask).last_hidden_state.numpy()
  keep = mask.astype(bool)  # padded query rows differ by design (cuDNN zeroes them)
  assert rel_err(np.asarray(outs["cudnn"])[keep], ref[keep]) <= 4e-2
  assert rel_err(np.asarray(outs["cudnn"])[keep], np.asarray(outs["reference"])[keep]) <= 4e-2


def test_bf16_parity_and_a_training_step_on_gpu(checkpoint):
  from flax import nnx
  from stilts_jax import optim, steps
  path, hf = checkpoint
  enc = stilts_jax.load_encoder(path, dtype=jnp.bfloat16)
  assert enc.layers.intermediate.kernel.get_value().devices().pop().platform == "gpu"
  ids, mask = padded_batch(hf.config.vocab_size, [16, 9, 4, 16])
  ref = torch_outputs(hf, ids, mask).last_hidden_state.numpy()
  out = enc(jnp.asarray(ids), jnp.asarray(mask)).last_hidden_state.astype(jnp.float32)
  assert rel_err(out, ref) <= 4e-2
  model = stilts_jax.attach_heads(enc, {"t": ("classification", 3)})
  graphdef, params = nnx.split(model, nnx.Param)
  params = nnx.to_pure_dict(params)
  tx = optim.make_optimizer(learning_rate=1e-3, total_updates=10)
  state = {"params": params, "opt_state": tx.init(params), "step": jnp.int32(0),
           "rng": jax.random.key_data(jax.random.key(0))}
  step = steps.make_train_step(graphdef, tx, {"t": "classification"})
  batch = {"input_ids": jnp.asarray(ids), "attention_mask": jnp.asarray(mask),
           "label": jnp.asarray([0, 1, 2, 0])}
  losses = []
  for _ in range(10):
    state, m = step(state, batch, "t")
    losses.append(float(m["loss"]))
  assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_fused_attention_in_training_without_attention_dropout(checkpoint):
  """attention="auto" is cuDNN on GPU; with attention_dropout=0 the training step runs it, and the
  loss and gradients (hidden dropout on, same masks) are the reference path's within bf16."""
  from flax import nnx
  from stilts_jax import steps
  path, hf = checkpoint
  ids, mask = padded_batch(hf.config.vocab_size, [16, 9, 4, 16])
  batch = {"input_ids": jnp.asarray(ids), "attention_mask": jnp.asarray(mask),
           "label": jnp.asarray([0, 1, 2, 0])}
  results = {}
  for impl in ("auto", "reference"):
    enc = stilts_jax.load_encoder(path, dtype=jnp.bfloat16, attention=impl, attention_dropout=0.0)
    assert enc.cfg.attention_kernel() == ("cudnn" if impl == "auto" else "reference")
    model = stilts_jax.attach_heads(enc, {"t": ("classification", 3)}, seed=0)
    graphdef, params = nnx.split(model, nnx.Param)

    def loss(p):
      return steps.task_loss(nnx.merge(graphdef, p), "t", "classification", batch,
                             jax.random.key(3))[0]
    value, grads = jax.jit(jax.value_and_grad(loss))(params)
    results[impl] = (float(value), np.concatenate([np.ravel(np.asarray(g, np.float32))
                                                   for g in jax.tree.leaves(grads)]))
  assert abs(results["auto"][0] - results["reference"][0]) <= 4e-2 * abs(results["reference"][0])
  assert rel_err(results["auto"][1], results["reference"][1]) <= 1e-1

"""The encoder's blocks as one stacked Layer: few state arrays whatever the depth, and the scan
draws the dropout masks the old per-block loop drew."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from stilts_jax.models import TaskModel, XLMRConfig
from stilts_jax.models.xlmr import AttentionMasks, Dropout, XLMREncoder

CFG = XLMRConfig(vocab_size=60, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                 intermediate_size=24, max_position_embeddings=40, attention="reference")


def _state_arrays(layers: int) -> int:
  """Arrays a train step takes: parameters plus AdamW's two moments (and counters)."""
  cfg = CFG.replace(num_hidden_layers=layers)
  model = nnx.eval_shape(lambda: TaskModel(cfg, {"t": ("classification", 3)}, rngs=nnx.Rngs(0)))
  params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
  return len(jax.tree.leaves((params, jax.eval_shape(optax.adamw(1e-3).init, params))))


def test_train_state_arrays_do_not_grow_with_depth():
  """What a step's dispatch cost scales with (docs/performance.md §9): 1,183 arrays for XLM-R
  Large when every block had its own."""
  assert _state_arrays(2) == _state_arrays(24) < 100


def _old_loop(enc: XLMREncoder, ids, key):
  """The encoder as it ran before stacking: one Dropout object drawn by each block in turn."""
  dropout = Dropout(key)
  x = enc.embeddings(ids, jnp.zeros_like(ids), dropout)
  masks = AttentionMasks.build(ids != CFG.pad_token_id, None, "reference")
  graphdef, stacked = nnx.split(enc.layers)
  for i in range(enc.cfg.num_hidden_layers):
    x = nnx.merge(graphdef, jax.tree.map(lambda a, i=i: a[i], stacked))(x, masks, dropout)
  return x


@pytest.mark.parametrize("scan, remat", [(True, False), (True, "dots"), (False, False)])
def test_blocks_draw_the_old_loops_dropout_masks(scan, remat):
  """Block i of the scan (or of the unrolled loop, with or without remat) draws exactly the masks
  block i drew when blocks shared one counter; a wrong offset changes whole masks (O(1))."""
  cfg = CFG.replace(scan_layers=scan, remat=remat, attention_dropout=0.2, hidden_dropout_prob=0.3)
  enc = XLMREncoder(cfg, rngs=nnx.Rngs(0))
  ids = jnp.asarray(np.random.default_rng(0).integers(3, cfg.vocab_size, (2, 9)))
  key = jax.random.key(7)
  ours = jax.jit(lambda ids: enc(ids, dropout_rng=key).last_hidden_state)(ids)
  old = jax.jit(lambda ids: _old_loop(enc, ids, key))(ids)
  np.testing.assert_allclose(ours, old, atol=2e-6)
  clean = jax.jit(lambda ids: enc(ids).last_hidden_state)(ids)
  assert np.abs(np.asarray(ours) - np.asarray(clean)).max() > 0.1  # dropout really is on


def test_hidden_states_of_the_scan_are_the_loops():
  enc = XLMREncoder(CFG, rngs=nnx.Rngs(1))
  unrolled = XLMREncoder(CFG.replace(scan_layers=False), rngs=nnx.Rngs(1))
  ids = jnp.asarray(np.random.default_rng(1).integers(3, CFG.vocab_size, (2, 7)))
  a = enc(ids, output_hidden_states=True).hidden_states
  b = unrolled(ids, output_hidden_states=True).hidden_states
  assert len(a) == len(b) == CFG.num_hidden_layers + 1
  for x, y in zip(a, b):
    np.testing.assert_allclose(x, y, atol=2e-6)


def test_stacked_blocks_start_from_the_values_separate_blocks_drew():
  """Initialisation is unchanged: block i holds what the i-th of N separate Layers drew."""
  from stilts_jax.models.xlmr import Embeddings, Layer
  enc = XLMREncoder(CFG, rngs=nnx.Rngs(3))
  rngs = nnx.Rngs(3)
  Embeddings(CFG, rngs)
  for i in range(CFG.num_hidden_layers):
    block = Layer(CFG, rngs)
    np.testing.assert_array_equal(enc.layers.intermediate.kernel[...][i],
                                  block.intermediate.kernel[...])

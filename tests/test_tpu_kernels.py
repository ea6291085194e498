"""The compiled TPU kernels (Mosaic), where a TPU is present; they skip cleanly elsewhere.

No torch here, so a TPU VM needs only `pip install pytest` on top of the `tpu` extra:
`python -m pytest -q -m tpu tests/test_tpu_kernels.py`. Their semantics are tested everywhere in
the Pallas interpreter (tests/test_splash_attention.py).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from stilts_jax.models import splash
from stilts_jax.models.xlmr import AttentionMasks, _reference_attention


def _rel_err(ours, ref) -> float:
  ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
  return float(np.abs(ours - ref).max() / np.abs(ref).max())


def _inputs(lengths, t, heads, head_dim, seed):
  rng = np.random.default_rng(seed)
  q, k, v = (jnp.asarray(rng.normal(size=(len(lengths), t, heads, head_dim)), jnp.bfloat16)
             for _ in range(3))
  keys = jnp.asarray(np.arange(t)[None] < np.asarray(lengths)[:, None])
  return q, k, v, AttentionMasks.build(keys, None, "splash")


def _reference(q, k, v, masks):
  f32 = lambda x: x.astype(jnp.float32)
  return _reference_attention(f32(q), f32(k), f32(v), masks.mask, lambda p: p)


@pytest.mark.tpu
@pytest.mark.parametrize("t", [128, 512, 200])  # 200: padded to 256 inside
def test_compiled_splash_matches_reference_in_bf16(t):
  lengths = [t, t * 3 // 5, 77, 5, 128 if t > 128 else 100, t - 1, 64, 1]
  q, k, v, masks = _inputs(lengths, t, 16, 64, seed=4)  # XLM-R Large: 16 heads of 64
  got = jax.jit(lambda q, k, v: splash.splash_attention(q, k, v, masks.segments,
                                                        interpret=False))(q, k, v)
  assert _rel_err(np.asarray(got, np.float32), _reference(q, k, v, masks)) <= 2e-2


@pytest.mark.tpu
def test_compiled_splash_gradients_match_reference():
  q, k, v, masks = _inputs([256, 130, 9, 256], 256, 4, 64, seed=5)
  w = jnp.asarray(np.random.default_rng(6).normal(size=q.shape), jnp.float32)
  ours = jax.jit(jax.grad(lambda q, k, v: (splash.splash_attention(
      q, k, v, masks.segments, interpret=False).astype(jnp.float32) * w).sum(), argnums=(0, 1, 2)))
  ref = jax.grad(lambda q, k, v: (_reference(q, k, v, masks) * w).sum(), argnums=(0, 1, 2))
  for name, g, r in zip("qkv", ours(q, k, v), ref(q, k, v)):
    assert _rel_err(np.asarray(g, np.float32), np.asarray(r)) <= 3e-2, f"d{name}"

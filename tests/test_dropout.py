"""Dropout masks: two 16-bit uniforms per 32-bit threefry draw (models/xlmr.keep_mask).

The mask must drop at the configured rate, keep the activations' expectation, draw the two halves
of each word independently, and not depend on how the array is sharded (a mesh run must equal a
single-device run).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from stilts_jax.models.xlmr import DROP_LEVELS, Dropout, keep_mask

SHAPE = (64, 128, 96)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_the_mask_keeps_one_minus_rate_and_dropout_keeps_the_mean(rate):
  mask, keep_prob = keep_mask(jax.random.key(0), rate, SHAPE)
  assert abs(keep_prob - (1 - rate)) <= 0.5 / DROP_LEVELS
  n = np.prod(SHAPE)
  frac = float(np.asarray(mask).mean())
  assert abs(frac - keep_prob) < 5 * np.sqrt(keep_prob * (1 - keep_prob) / n)
  x = jnp.ones(SHAPE, jnp.float32)
  y = np.asarray(Dropout(jax.random.key(1))(x, rate))
  values = np.unique(y)
  assert len(values) == 2 and values[0] == 0.0 and np.isclose(values[1], 1 / keep_prob, rtol=1e-6)
  assert abs(y.mean() - 1.0) < 5 * np.sqrt((1 - keep_prob) / keep_prob / n)


def test_the_two_halves_of_a_draw_are_independent():
  """The low 16 bits fill the first half of the last axis, the high 16 bits the second."""
  mask = np.asarray(keep_mask(jax.random.key(2), 0.5, SHAPE)[0], np.float64)
  first, second = mask[..., :48].ravel(), mask[..., 48:].ravel()
  assert not np.array_equal(first, second)
  assert abs(np.corrcoef(first, second)[0, 1]) < 5 / np.sqrt(first.size)
  # Neighbouring rows are independent draws too.
  assert abs(np.corrcoef(mask[:-1].ravel(), mask[1:].ravel())[0, 1]) < 0.01


def test_odd_lengths_tiny_rates_and_distinct_keys():
  mask, keep_prob = keep_mask(jax.random.key(3), 0.5, (5, 7))
  assert mask.shape == (5, 7) and keep_prob == 0.5
  mask, keep_prob = keep_mask(jax.random.key(3), 1e-7, (4, 9))
  assert keep_prob == 1.0 and bool(mask.all())
  a = keep_mask(jax.random.key(4), 0.5, SHAPE)[0]
  b = keep_mask(jax.random.key(5), 0.5, SHAPE)[0]
  assert float(jnp.mean(a == b)) < 0.55


@pytest.mark.parametrize("spec", [P("d"), P(None, None, "d"), P(("d",), None, None)])
def test_the_mask_does_not_depend_on_sharding(spec):
  """Drawn inside a jit whose output is sharded over 8 devices (rows, or the axis the two halves
  are laid along), the mask equals the single-device one."""
  devices = np.array(jax.devices()[:8])  # conftest.py gives every test process 8 CPU devices
  assert devices.size == 8
  mesh = jax.sharding.Mesh(devices, ("d",))
  shape = (64, 16, 96)
  key = jax.random.key(6)
  draw = lambda k: keep_mask(k, 0.1, shape)[0]
  single = np.asarray(jax.jit(draw)(key))
  sharded = jax.jit(draw, out_shardings=NamedSharding(mesh, spec))(key)
  assert len(sharded.sharding.device_set) == 8
  np.testing.assert_array_equal(np.asarray(sharded), single)

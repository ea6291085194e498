"""Global batch assembly on the 8 fake CPU devices that tests/conftest.py sets up."""

import jax
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from stilts_jax.data import (
    TrainBatches,
    batch_sharding,
    EvalBatches,
    mesh_batch_axes,
    process_slice,
    to_global_batch,
)
from _data_helpers import make_features


@pytest.fixture(scope="module")
def mesh():
  if jax.device_count() < 8:
    pytest.skip("needs 8 devices (XLA_FLAGS=--xla_force_host_platform_device_count=8)")
  return jax.make_mesh((2, 4), ("data", "fsdp"))


def test_to_global_batch_shape_sharding_values(mesh):
  f = make_features(64)
  tb = TrainBatches(f, 16, seed=0, buckets=(8, 16, 32, 64))
  index, count = process_slice(mesh, global_batch_size=16)
  assert (index, count) == (0, 1)
  local = tb.batch_at(3)
  g = to_global_batch(local, mesh)
  want_sharding = NamedSharding(mesh, P(("data", "fsdp")))
  for k, v in local.items():
    assert g[k].shape == v.shape, k
    assert g[k].dtype == v.dtype, k
    assert g[k].sharding.is_equivalent_to(want_sharding, v.ndim), k
    np.testing.assert_array_equal(np.asarray(g[k]), v, err_msg=k)
  # Each of the 8 devices holds 2 consecutive rows, in data-major, fsdp-minor order.
  ids = g["input_ids"]
  for shard in ids.addressable_shards:
    d = shard.device
    pos = np.argwhere(mesh.devices == d)[0]
    row0 = (pos[0] * 4 + pos[1]) * 2
    np.testing.assert_array_equal(np.asarray(shard.data), local["input_ids"][row0:row0 + 2])


def test_to_global_batch_eval_and_jit(mesh):
  f = make_features(21)
  batches = list(EvalBatches(f, 8, buckets=(16, 40)))
  total = 0
  # A jitted masked sum over the sharded global batch counts every example exactly once.
  count_real = jax.jit(lambda b: (b["mask"] * (b["index"] + 1)).sum())
  for b in batches:
    g = to_global_batch(b, mesh)
    assert g["mask"].dtype == np.bool_
    total += int(count_real(g))
  assert total == sum(range(1, 22))


def test_single_batch_axis_and_missing_axes(mesh):
  assert mesh_batch_axes(mesh, ("data", "fsdp", "tensor")) == ("data", "fsdp")
  assert batch_sharding(mesh, ("fsdp",)).spec == P(("fsdp",))
  # Sharding only over "data" (size 2): rows are replicated across "fsdp".
  local = {"x": np.arange(6).reshape(6, 1)}
  g = to_global_batch(local, mesh, batch_axes=("data",))
  assert g["x"].shape == (6, 1)
  np.testing.assert_array_equal(np.asarray(g["x"]), local["x"])
  pure = jax.make_mesh((8,), ("fsdp",))
  assert to_global_batch(local | {"x": np.arange(8)}, pure)["x"].sharding.spec == P(("fsdp",))


def test_errors(mesh):
  with pytest.raises(ValueError, match=r"global_batch_size=12 is not divisible by the mesh's "
                     r"batch-axis size 8"):
    process_slice(mesh, global_batch_size=12)
  with pytest.raises(ValueError, match="must be divisible by the mesh's batch-axis size 8"):
    to_global_batch({"x": np.zeros((12, 3))}, mesh)
  with pytest.raises(ValueError, match="share a leading"):
    to_global_batch({"x": np.zeros((8, 3)), "y": np.zeros(16)}, mesh)
  with pytest.raises(ValueError, match="none of batch_axes"):
    to_global_batch({"x": np.zeros(8)}, mesh, batch_axes=("batch",))

"""train_phase on 1 device and on an 8-device {data: 2, fsdp: 2, tensor: 2} mesh: same per-update
losses and gradient norms, same params.

Batches are assembled per process and sharded over (data, fsdp); parameters are FSDP-sharded, and
the MLP and attention heads split over `tensor`;
dropout keys are threefry-partitionable, so every device draws the same masks as one device would.
What may differ is only the order of floating-point reductions across shards, hence tolerances
(measured: losses ~1e-7, params ~3e-5 after 80 Adam steps at lr 1e-3).
"""

import jax
import numpy as np
import pytest
from flax import nnx

import _pipeline_helpers as H
from stilts_jax import sharding as shd
from stilts_jax.train import PhaseTask, train_phase

STEPS = 12
LOSS_ATOL = 1e-5
PARAM_ATOL = 2e-5


def _run(mesh, workdir, grad_accum=1):
  model = H.tiny_task_model(mesh, {"cls": ("classification", 3)}, seed=0)
  # A host copy now: the train step donates (invalidates) the model's device buffers.
  init = jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(model, nnx.Param)))
  task = PhaseTask(head="cls", head_type="classification",
                   train_features=H.classification_features(96, seed=1))
  # Step counts in the config are optimizer updates: STEPS micro-steps are STEPS / grad_accum
  # updates. Log every update so metrics.jsonl holds each update's loss; eval only at the end.
  hp = H.phase_hp(learning_rate=1e-3, batch_size=16, grad_accum=grad_accum,
                  max_steps=STEPS // grad_accum, log_every_steps=1, eval_every_steps=1000,
                  checkpoint_every_steps=1000, warmup_fraction=0.2)
  # One length bucket: one compile per mesh.
  out = train_phase("mesh", model, [task], hp, mesh, workdir, seed=3, buckets=(16,))
  logged = [r for r in H.read_jsonl(workdir / "metrics.jsonl") if "train/loss" in r]
  # Per update: the loss, and the gradient norm, which a mis-scaled gradient changes although
  # AdamW's update barely moves (clipping and the moment ratio hide a constant factor).
  losses = [(r["train/loss"], r["train/grad_norm"]) for r in logged]
  params = jax.tree.map(np.asarray, out.params)
  return out, losses, params, init


@pytest.mark.slow
def test_one_device_and_8_device_mesh_train_the_same(tmp_path):
  # Gradient accumulation (optax.MultiSteps) on: it is the path with the most state to shard.
  grad_accum = 2
  # The host's devices, named: conftest provides 8 fake ones (and keeps the CPU the default
  # backend on accelerator machines, whose single GPU could not hold this mesh).
  cpus = jax.devices("cpu")
  assert len(cpus) == 8, "conftest provides 8 fake CPU devices"
  assert jax.config.jax_threefry_partitionable  # else sharded dropout masks differ from 1 device
  one = shd.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, devices=cpus[:1])
  eight = shd.make_mesh({"data": 2, "fsdp": 2, "tensor": 2}, devices=cpus)

  out1, losses1, params1, init = _run(one, tmp_path / "one", grad_accum)
  out8, losses8, params8, init8 = _run(eight, tmp_path / "eight", grad_accum)

  assert out1.status == out8.status == "completed"
  assert out1.steps == out8.steps == STEPS
  assert len(losses1) == len(losses8) == STEPS // grad_accum
  np.testing.assert_allclose([l for l, _ in losses8], [l for l, _ in losses1], rtol=0,
                             atol=LOSS_ATOL)
  np.testing.assert_allclose([g for _, g in losses8], [g for _, g in losses1], rtol=1e-5)
  # Same start on both meshes, and training really moved the parameters (else equal final
  # params would prove nothing).
  jax.tree.map(np.testing.assert_array_equal, init8, init)
  moved = max(float(np.abs(a - b).max()) for a, b in
              zip(jax.tree.leaves(params1), jax.tree.leaves(init)))
  assert moved > 100 * PARAM_ATOL
  flat1 = jax.tree_util.tree_flatten_with_path(params1)[0]
  flat8 = dict((jax.tree_util.keystr(p), v) for p, v in
               jax.tree_util.tree_flatten_with_path(params8)[0])
  assert len(flat1) == len(flat8)
  for path, v1 in flat1:
    np.testing.assert_allclose(flat8[jax.tree_util.keystr(path)], v1, rtol=0, atol=PARAM_ATOL,
                               err_msg=jax.tree_util.keystr(path))
  # The 8-device run really was sharded: the big matrices are split over fsdp, the MLP over
  # fsdp and tensor.
  enc = jax.tree_util.tree_leaves(out8.params["encoder"])
  assert any(len(x.sharding.device_set) == 8 and not x.sharding.is_fully_replicated for x in enc)
  mlp = out8.params["encoder"]["layers"]["intermediate"]["kernel"]
  assert set(mlp.sharding.spec) >= {"fsdp", "tensor"}, mlp.sharding.spec

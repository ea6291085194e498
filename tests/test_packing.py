"""Sequence packing is exact: packed rows give the per-example logits and losses of unpacked ones."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from stilts_jax import steps
from stilts_jax.data.packing import pack_features
from stilts_jax.models import TaskModel, XLMRConfig
from stilts_jax.models.xlmr import roberta_position_ids
from hf_helpers import padded_batch

CFG = XLMRConfig(vocab_size=90, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=48, max_position_embeddings=70)
LENGTHS = [5, 17, 3, 9, 12, 2, 7, 30, 4, 11, 6, 8]


def packing_efficiency(features) -> float:
  """Fraction of positions that are real tokens (1.0 = no padding)."""
  mask = np.asarray(features["attention_mask"])
  return float(mask.sum() / max(mask.size, 1))


def _features(seed=0):
  ids, mask = padded_batch(CFG.vocab_size, LENGTHS, total=32, seed=seed)
  rng = np.random.RandomState(seed)
  labels = np.where(mask == 1, rng.randint(0, 5, ids.shape), -100).astype(np.int32)
  return {"input_ids": ids, "attention_mask": mask, "label": rng.randint(0, 3, len(ids)),
          "labels": labels, "example_index": np.arange(len(ids), dtype=np.int32)}


def test_packing_keeps_every_token_once():
  f = _features()
  packed = pack_features({k: f[k] for k in ("input_ids", "attention_mask", "label",
                                            "example_index")}, 48)
  seen = packed["example_index"][packed["example_index"] >= 0]
  assert sorted(seen.tolist()) == list(range(len(LENGTHS)))
  for row in range(len(packed["input_ids"])):
    for slot, ex in enumerate(packed["example_index"][row]):
      if ex < 0:
        continue
      tokens = packed["input_ids"][row][packed["segment_ids"][row] == slot + 1]
      np.testing.assert_array_equal(tokens, f["input_ids"][ex, :LENGTHS[ex]])
      assert packed["input_ids"][row, packed["cls_positions"][row, slot]] == 0  # its <s>
      assert packed["label"][row, slot] == f["label"][ex]
  assert packing_efficiency(packed) > 2 * packing_efficiency(f)
  assert len(packed["input_ids"]) < len(LENGTHS) / 2


def test_positions_restart_per_segment():
  ids = jnp.array([[0, 7, 2, 0, 8, 9, 2, 1, 1]])
  seg = jnp.array([[1, 1, 1, 2, 2, 2, 2, 0, 0]])
  pos = roberta_position_ids(ids, 1, seg)
  np.testing.assert_array_equal(pos, [[2, 3, 4, 2, 3, 4, 5, 1, 1]])


@pytest.fixture(scope="module")
def model():
  return TaskModel(CFG, {"cls": ("classification", 3), "tag": ("tagging", 5)},
                   rngs=nnx.Rngs(0))


def _call(model, fn, *args):
  """`fn(model, *args)` jitted: op by op, every op of the model would compile on its own."""
  graphdef, state = nnx.split(model)
  return jax.jit(lambda s, a: fn(nnx.merge(graphdef, s), *a))(state, args)


def test_packed_classification_logits_and_losses_equal_unpacked(model):
  f = _features(1)
  packed = pack_features({k: f[k] for k in ("input_ids", "attention_mask", "label",
                                            "example_index")}, 48)
  want = np.asarray(_call(model, lambda m, i, a: m("cls", i, a), f["input_ids"],
                          f["attention_mask"]))
  got = np.asarray(_call(model, lambda m, i, a, s, c: m("cls", i, a, segment_ids=s,
                                                          cls_positions=c),
                         packed["input_ids"], packed["attention_mask"], packed["segment_ids"],
                         packed["cls_positions"]))
  slots = packed["example_index"] >= 0
  np.testing.assert_allclose(got[slots], want[packed["example_index"][slots]], atol=2e-5)
  # The mean loss over the same examples is the same loss.
  loss = lambda m, batch: steps.task_loss(m, "cls", "classification", batch)
  loss_unpacked, n1 = _call(model, loss, {k: f[k] for k in ("input_ids", "attention_mask",
                                                             "label")})
  loss_packed, n2 = _call(model, loss, dict(packed))
  assert int(n1) == int(n2) == len(LENGTHS)
  np.testing.assert_allclose(float(loss_packed), float(loss_unpacked), rtol=1e-5)


def test_packed_tagging_logits_and_loss_equal_unpacked(model):
  f = _features(2)
  packed = pack_features({k: f[k] for k in ("input_ids", "attention_mask", "labels",
                                            "example_index")}, 64)
  want = np.asarray(_call(model, lambda m, i, a: m("tag", i, a), f["input_ids"],
                          f["attention_mask"]))
  got = np.asarray(_call(model, lambda m, i, a, s: m("tag", i, a, segment_ids=s),
                         packed["input_ids"], packed["attention_mask"], packed["segment_ids"]))
  for row in range(len(got)):
    for slot, ex in enumerate(packed["example_index"][row]):
      if ex >= 0:
        np.testing.assert_allclose(got[row][packed["segment_ids"][row] == slot + 1],
                                   want[ex, :LENGTHS[ex]], atol=2e-5)
  loss = lambda m, batch: steps.task_loss(m, "tag", "tagging", batch)
  loss_unpacked, n1 = _call(model, loss, {k: f[k] for k in ("input_ids", "attention_mask",
                                                             "labels")})
  loss_packed, n2 = _call(model, loss, {k: packed[k] for k in ("input_ids", "attention_mask",
                                                                "labels", "segment_ids")})
  assert int(n1) == int(n2) == sum(LENGTHS)
  np.testing.assert_allclose(float(loss_packed), float(loss_unpacked), rtol=1e-5)


def test_packed_train_step_runs(model):
  from stilts_jax import optim
  f = _features(3)
  packed = pack_features({k: f[k] for k in ("input_ids", "attention_mask", "label")}, 48)
  graphdef, params = nnx.split(model, nnx.Param)
  params = nnx.to_pure_dict(params)
  tx = optim.make_optimizer(learning_rate=1e-3, total_updates=4)
  state = {"params": params, "opt_state": tx.init(params), "step": jnp.int32(0),
           "rng": jax.random.key_data(jax.random.key(0))}
  step = steps.make_train_step(graphdef, tx, {"cls": "classification", "tag": "tagging"})
  batch = {k: jnp.asarray(v) for k, v in packed.items()}
  for _ in range(3):
    state, m = step(state, batch, "cls")
    assert bool(m["finite"]) and int(m["units"]) == len(LENGTHS)


def test_bad_packing_inputs():
  f = _features()
  with pytest.raises(ValueError, match="more than the packed row length"):
    pack_features({k: f[k] for k in ("input_ids", "attention_mask", "label")}, 16)
  with pytest.raises(ValueError, match="classification .* and tagging"):
    pack_features({k: f[k] for k in ("input_ids", "attention_mask")}, 48)
  with pytest.raises(ValueError, match="multiple-choice and QA windows are not packed"):
    pack_features({"input_ids": f["input_ids"][:, None], "attention_mask":
                   f["attention_mask"][:, None], "label": f["label"]}, 48)


def test_remat_gives_the_same_loss_and_gradients():
  """Rematerialisation trades compute for memory; it must not change the numbers (dropout on)."""
  f = _features(4)
  batch = {k: jnp.asarray(f[k]) for k in ("input_ids", "attention_mask", "label")}
  grads = []
  for remat in (False, True, "dots"):
    m = TaskModel(CFG.replace(remat=remat), {"cls": ("classification", 3)}, rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(m, nnx.Param)

    def loss(p):
      return steps.task_loss(nnx.merge(graphdef, p), "cls", "classification", batch,
                             jax.random.key(7))[0]
    grads.append(jax.jit(jax.value_and_grad(loss))(nnx.to_pure_dict(params)))
  for other in grads[1:]:
    np.testing.assert_allclose(float(grads[0][0]), float(other[0]), rtol=1e-6)
    for a, b in zip(jax.tree.leaves(grads[0][1]), jax.tree.leaves(other[1])):
      np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_train_phase_with_packing_learns_and_takes_fewer_fuller_steps(tmp_path):
  import _pipeline_helpers as H
  from stilts_jax import sharding as shd
  from stilts_jax.train import PhaseTask, train_phase
  mesh = shd.make_mesh(devices=jax.devices()[:1])
  features = H.classification_features(256, length=16, num_labels=3)
  outcomes = {}
  for packing in (False, True):
    model = H.tiny_task_model(mesh, {"t": ("classification", 3)})
    hp = H.phase_hp(packing=packing, epochs=3.0, batch_size=8, learning_rate=3e-3,
                    eval_every_steps=10_000, log_every_steps=1, checkpoint_every_steps=10_000)
    outcomes[packing] = train_phase(f"p{packing}", model, [PhaseTask("t", "classification",
                                                                     features)],
                                    hp, mesh, tmp_path / str(packing), seed=0, buckets=(16,))
  # Examples of 4-16 tokens (10 on average) in rows of 16: ~1.5 per row, so ~2/3 of the steps.
  assert outcomes[True].steps < 0.8 * outcomes[False].steps
  rows = [json.loads(l) for l in (tmp_path / "True" / "metrics.jsonl").read_text().splitlines()]
  losses = [r["train/loss"] for r in rows if "train/loss" in r]
  assert np.isfinite(losses).all() and np.mean(losses[-5:]) < np.mean(losses[:5])

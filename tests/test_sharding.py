"""Mesh, logical-axis rules, and sharded loading on 8 fake CPU devices (see conftest.py)."""

import json
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec as P

import stilts_jax
from stilts_jax import sharding as shd
from stilts_jax.models import checkpoint_files
from hf_helpers import padded_batch, random_hf_model, rel_err

GOLDEN = pathlib.Path(__file__).parent / "golden"
MESHES = {
    "fsdp8": {"data": 1, "fsdp": -1, "tensor": 1},
    "data2_fsdp2_tensor2": {"data": 2, "fsdp": 2, "tensor": 2},
}
HEADS = {"cls": ("classification", 3), "mc": ("multiple_choice", 1), "tag": ("tagging", 7),
         "qa": ("span_qa", 2), "mlm": ("mlm", 0)}


def test_eight_fake_devices():
  assert jax.device_count() == 8


def test_make_mesh_fills_and_validates():
  assert dict(shd.make_mesh().shape) == {"data": 1, "fsdp": 8, "tensor": 1}
  assert dict(shd.make_mesh({"data": 2, "fsdp": -1}).shape) == {"data": 2, "fsdp": 4, "tensor": 1}
  with pytest.raises(ValueError, match="needs 12 devices"):
    shd.make_mesh({"data": 3, "fsdp": 4})
  with pytest.raises(ValueError, match="at most one mesh axis may be -1"):
    shd.make_mesh({"data": -1, "fsdp": -1})
  with pytest.raises(ValueError, match="not divisible"):
    shd.make_mesh({"data": 3, "fsdp": -1})
  with pytest.raises(ValueError, match="unknown mesh axes"):
    shd.make_mesh({"model": 8})


def test_rules_respect_divisibility_and_use_each_axis_once():
  mesh = shd.make_mesh(MESHES["data2_fsdp2_tensor2"])
  assert shd.logical_to_spec(("embed", "mlp"), (64, 96), mesh) == P("fsdp", "tensor")
  # 250002 rows are not divisible by anything: replicated along vocab, sharded along embed.
  assert shd.logical_to_spec(("vocab", "embed"), (250002, 1024), mesh) == P(None, "fsdp")
  # The MLM bias falls back to fsdp on vocab when it divides...
  assert shd.logical_to_spec(("vocab",), (250000,), mesh) == P("fsdp")
  # ...and `embed` cannot take fsdp twice in one array.
  assert shd.logical_to_spec(("embed", "embed"), (8, 8), mesh) == P("fsdp", None)
  assert shd.logical_to_spec(("embed", "mlp"), (63, 95), mesh) == P(None, None)
  assert shd.batch_sharding(mesh).spec == P(("data", "fsdp"))
  with pytest.raises(ValueError, match="do not match array rank"):
    shd.logical_to_spec(("embed",), (4, 4), mesh)


def _load_sharded(path, mesh):
  enc = stilts_jax.load_encoder(path, mesh=mesh)
  return stilts_jax.attach_heads(enc, HEADS, mesh=mesh)


@pytest.fixture(scope="module")
def wide_checkpoint(tmp_path_factory):
  hf = random_hf_model("encoder", "wide_heads")
  path = tmp_path_factory.mktemp("wide")
  hf.save_pretrained(path)
  return str(path), hf


@pytest.mark.parametrize("mesh_name", sorted(MESHES))
def test_partition_specs_match_golden(mesh_name, wide_checkpoint):
  mesh = shd.make_mesh(MESHES[mesh_name])
  model = _load_sharded(wide_checkpoint[0], mesh)
  specs = shd.describe(nnx.state(model))
  golden = GOLDEN / f"partition_specs_{mesh_name}.json"
  if os.environ.get("STILTS_REGEN_GOLDEN"):
    golden.parent.mkdir(exist_ok=True)
    golden.write_text(json.dumps(specs, indent=1, sort_keys=True) + "\n")
  assert specs == json.loads(golden.read_text())
  # Every array really lives on the mesh with that spec.
  for path, var in nnx.to_flat_state(nnx.state(model)):
    sharding = var.get_value().sharding
    assert isinstance(sharding, NamedSharding) and sharding.mesh.shape == mesh.shape, path


def test_loading_reads_only_each_devices_shard(wide_checkpoint, monkeypatch):
  """No full copy of a sharded tensor is ever read: each callback asks for its slice."""
  reads = []
  original = checkpoint_files.WeightReader.read

  def spy(self, name, index=None):
    out = original(self, name, index)
    reads.append((name, out.shape))
    return out
  monkeypatch.setattr(checkpoint_files.WeightReader, "read", spy)
  mesh = shd.make_mesh(MESHES["fsdp8"])
  enc = stilts_jax.load_encoder(wide_checkpoint[0], mesh=mesh)
  kernel = enc.layers.intermediate.kernel.get_value()  # [L, 64, 96], embed over fsdp=8
  layers = kernel.shape[0]
  assert kernel.sharding.spec == P(None, "fsdp", None)
  assert {s.data.shape for s in kernel.addressable_shards} == {(layers, 8, 96)}
  name = "encoder.layer.0.intermediate.dense.weight"  # torch layout [96, 64]
  assert {shape for n, shape in reads if n == name} == {(96, 8)}
  assert {shape for n, shape in reads if n == "embeddings.word_embeddings.weight"} == {(257, 8)}


def test_fresh_heads_are_created_sharded():
  mesh = shd.make_mesh(MESHES["data2_fsdp2_tensor2"])
  cfg = stilts_jax.XLMRConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1,
                              num_attention_heads=4, intermediate_size=64,
                              max_position_embeddings=40)
  model = shd.create_sharded(lambda: stilts_jax.TaskModel(cfg, HEADS, rngs=nnx.Rngs(0)), mesh)
  dense = model.heads["cls"].dense.kernel.get_value()
  assert dense.sharding.spec == P("fsdp", None)
  assert {s.data.shape for s in dense.addressable_shards} == {(16, 32)}
  bias = model.heads["mlm"].bias.get_value()
  assert bias.sharding.spec == P("fsdp")


def _forward(model, head, ids, mask):
  graphdef, state = nnx.split(model)

  @jax.jit
  def run(state, ids, mask):
    return nnx.merge(graphdef, state)(head, ids, mask)
  return run(state, ids, mask)


def _forward_encoder(encoder, ids, mask):
  # Jitted: op by op on 8 devices, every op would compile on its own.
  graphdef, state = nnx.split(encoder)
  return jax.jit(lambda state, i, m: nnx.merge(graphdef, state)(i, m, output_hidden_states=True))(
      state, ids, mask)


def _cases(vocab_size):
  ids, mask = padded_batch(vocab_size, [12, 7, 3, 12, 5, 9, 2, 11] * 2)
  return {head: (ids, mask) for head in ("cls", "tag", "mlm")} | {
      "mc": (ids.reshape(8, 2, -1), mask.reshape(8, 2, -1)), "encoder": (ids, mask)}


@pytest.fixture(scope="module")
def single_device_outputs(wide_checkpoint):
  """Every head's output and the encoder's hidden states on one device, the meshes' reference."""
  path, hf = wide_checkpoint
  single = _load_sharded(path, None)  # the same fresh heads as on a mesh: attach_heads is seeded
  return {head: _forward_encoder(single.encoder, jnp.asarray(i), jnp.asarray(m)) if
          head == "encoder" else _forward(single, head, jnp.asarray(i), jnp.asarray(m))
          for head, (i, m) in _cases(hf.config.vocab_size).items()}


@pytest.mark.parametrize("mesh_name", sorted(MESHES))
def test_sharded_forward_equals_single_device(mesh_name, wide_checkpoint, single_device_outputs):
  path, hf = wide_checkpoint
  mesh = shd.make_mesh(MESHES[mesh_name])
  sharded = _load_sharded(path, mesh)
  batch = shd.batch_sharding(mesh)
  for head, (i, m) in _cases(hf.config.vocab_size).items():
    i, m = jax.device_put(i, batch), jax.device_put(m, batch)
    with jax.set_mesh(mesh):
      got = _forward_encoder(sharded.encoder, i, m) if head == "encoder" else \
          _forward(sharded, head, i, m)
    want = single_device_outputs[head]
    if head == "encoder":  # every hidden state, not only the last
      for a, b in zip(got.hidden_states, want.hidden_states, strict=True):
        assert rel_err(a, b) <= 1e-5
      assert np.asarray(got.pooler_output).shape == (16, 64)
      continue
    assert got.sharding.mesh.shape == mesh.shape
    assert rel_err(got, want) <= 1e-5, head


def test_optimizer_state_is_sharded_like_the_parameters():
  """FSDP must shard Adam's moments (and the accumulator) too, not replicate them per chip."""
  from stilts_jax import optim
  mesh = shd.make_mesh(MESHES["fsdp8"])
  cfg = stilts_jax.XLMRConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1,
                              num_attention_heads=4, intermediate_size=64,
                              max_position_embeddings=40)
  model = shd.create_sharded(lambda: stilts_jax.TaskModel(cfg, HEADS, rngs=nnx.Rngs(0)), mesh)
  params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
  tx = optim.make_optimizer(learning_rate=1e-3, total_updates=10, grad_accum_steps=2)
  shardings = shd.optimizer_state_shardings(tx, params, mesh)
  state = jax.jit(tx.init, out_shardings=shardings)(params)
  word = params["encoder"]["embeddings"]["word_embeddings"]["embedding"]
  mirrors = [leaf for path, leaf in jax.tree_util.tree_leaves_with_path(state)
             if jax.tree_util.keystr(path).endswith(
                 "['encoder']['embeddings']['word_embeddings']['embedding']")]
  assert len(mirrors) == 3  # accumulator, Adam mu, Adam nu
  for leaf in mirrors:
    assert leaf.sharding.spec == word.sharding.spec == P(None, "fsdp")
    assert {s.data.shape for s in leaf.addressable_shards} == {(64, 4)}
  counters = [leaf for leaf in jax.tree.leaves(state) if leaf.ndim == 0]
  assert counters and all(c.sharding.spec == P() for c in counters)

"""Loading every Hub checkpoint format, exporting back to transformers, and clear errors."""

import json
import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers
from flax import serialization

import stilts_jax
from stilts_jax.models.checkpoint_files import open_weights, write_safetensors
from hf_helpers import padded_batch, random_hf_model, rel_err, torch_outputs

pytestmark = pytest.mark.usefixtures("fp32_matmuls")  # conftest: full-precision matmuls

LENGTHS = [10, 6, 2]


def _reference(hf):
  ids, mask = padded_batch(hf.config.vocab_size, LENGTHS)
  return ids, mask, torch_outputs(hf, ids, mask, output_hidden_states=True)


def _assert_same_encoder(enc, hf):
  ids, mask, ref = _reference(hf)
  out = enc(jnp.asarray(ids), jnp.asarray(mask), output_hidden_states=True)
  for ours, theirs in zip(out.hidden_states, ref.hidden_states):
    assert rel_err(ours, theirs.numpy()) <= 1e-5
  assert rel_err(out.pooler_output, ref.pooler_output.numpy()) <= 1e-5


def _state_dict_np(hf):
  return {k: v.detach().numpy() for k, v in hf.state_dict().items()}


def _write_config(hf, path):
  os.makedirs(path, exist_ok=True)
  hf.config.to_json_file(os.path.join(path, "config.json"))


# --------------------------------------------------------------------------------------------
# Formats


def test_single_safetensors(tmp_path):
  hf = random_hf_model("encoder", "deeper")
  hf.save_pretrained(tmp_path)
  assert os.path.exists(tmp_path / "model.safetensors")
  _assert_same_encoder(stilts_jax.load_encoder(str(tmp_path)), hf)


def test_sharded_safetensors(tmp_path):
  hf = random_hf_model("encoder", "deeper")
  hf.save_pretrained(tmp_path, max_shard_size="20KB")
  index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
  assert len(set(index["weight_map"].values())) > 1  # really sharded
  assert not (tmp_path / "model.safetensors").exists()
  _assert_same_encoder(stilts_jax.load_encoder(str(tmp_path)), hf)


def test_pytorch_bin_through_weights_only_torch_load(tmp_path):
  hf = random_hf_model("encoder", "deeper")
  _write_config(hf, tmp_path)
  torch.save(hf.state_dict(), tmp_path / "pytorch_model.bin")
  _assert_same_encoder(stilts_jax.load_encoder(str(tmp_path)), hf)


def test_pytorch_bin_refuses_pickled_code(tmp_path):
  hf = random_hf_model("encoder", "tiny")
  _write_config(hf, tmp_path)
  torch.save({"x": object()}, tmp_path / "pytorch_model.bin")  # not plain tensors
  with pytest.raises(Exception, match="(?i)weights_only|unpickl|unsupported"):
    stilts_jax.load_encoder(str(tmp_path))


def _to_old_flax_layout(state_dict: dict) -> dict:
  """The layout transformers' (removed) FlaxXLMRobertaModel wrote: nested dicts, kernels [in, out],
  LayerNorm scale/bias, embeddings `embedding`."""
  tree: dict = {}
  for name, value in state_dict.items():
    *mods, leaf = name.split(".")
    if leaf == "weight":
      if "LayerNorm" in mods[-1]:
        leaf = "scale"
      elif mods[-1].endswith("embeddings"):
        leaf = "embedding"
      else:
        leaf, value = "kernel", value.T
    node = tree
    for m in mods:
      node = node.setdefault(m, {})
    node[leaf] = np.ascontiguousarray(value)
  return tree


def test_flax_msgpack(tmp_path):
  hf = random_hf_model("encoder", "deeper")
  _write_config(hf, tmp_path)
  blob = serialization.msgpack_serialize(_to_old_flax_layout(_state_dict_np(hf)))
  (tmp_path / "flax_model.msgpack").write_bytes(blob)
  _assert_same_encoder(stilts_jax.load_encoder(str(tmp_path)), hf)


def test_task_checkpoint_prefix_stripped_heads_dropped_or_refused(tmp_path):
  hf = random_hf_model("mlm", "deeper")  # keys are roberta.* + lm_head.*
  hf.save_pretrained(tmp_path)
  enc = stilts_jax.load_encoder(str(tmp_path), add_pooler=False)
  base = transformers.XLMRobertaModel(hf.config, add_pooling_layer=False).eval()
  base.load_state_dict(hf.roberta.state_dict())
  ids, mask, _ = _reference(hf)
  ref = torch_outputs(base, ids, mask).last_hidden_state.numpy()
  assert rel_err(enc(jnp.asarray(ids), jnp.asarray(mask)).last_hidden_state, ref) <= 1e-5
  with pytest.raises(stilts_jax.CheckpointError, match="lm_head.dense.weight"):
    stilts_jax.load_encoder(str(tmp_path), add_pooler=False, keep_heads=True)


def test_legacy_layernorm_gamma_beta_names(tmp_path):
  hf = random_hf_model("encoder", "tiny")
  _write_config(hf, tmp_path)
  sd = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
        for k, v in _state_dict_np(hf).items()}
  write_safetensors(str(tmp_path / "model.safetensors"), sorted(sd.items()))
  _assert_same_encoder(stilts_jax.load_encoder(str(tmp_path)), hf)


def test_bfloat16_checkpoint(tmp_path):
  hf = random_hf_model("encoder", "tiny").to(torch.bfloat16)
  hf.save_pretrained(tmp_path)
  enc = stilts_jax.load_encoder(str(tmp_path))
  want = hf.embeddings.word_embeddings.weight.detach().float().numpy()
  np.testing.assert_array_equal(np.asarray(enc.embeddings.word_embeddings.embedding[...]), want)


# --------------------------------------------------------------------------------------------
# Export


def test_export_encoder_round_trip_through_transformers(tmp_path):
  hf = random_hf_model("encoder", "wide_heads")
  hf.save_pretrained(tmp_path / "in")
  enc = stilts_jax.load_encoder(str(tmp_path / "in"))
  stilts_jax.export_encoder(enc, tmp_path / "out")
  assert sorted(os.listdir(tmp_path / "out")) == ["config.json", "model.safetensors"]
  back = transformers.XLMRobertaModel.from_pretrained(tmp_path / "out", attn_implementation="eager").eval()
  ids, mask, ref = _reference(hf)
  again = torch_outputs(back, ids, mask)
  # Bit-identical weights, so transformers reproduces its own outputs exactly.
  np.testing.assert_array_equal(again.last_hidden_state.numpy(), ref.last_hidden_state.numpy())
  np.testing.assert_array_equal(again.pooler_output.numpy(), ref.pooler_output.numpy())
  # And back into JAX once more: the same numbers.
  _assert_same_encoder(stilts_jax.load_encoder(str(tmp_path / "out")), hf)


@pytest.mark.parametrize("kind", ["classification", "multiple_choice", "tagging", "span_qa", "mlm"])
def test_export_task_model_round_trip(kind, tmp_path):
  hf = random_hf_model(kind, "tiny", seed=5)
  hf.save_pretrained(tmp_path / "in")
  model = stilts_jax.load_task_model(str(tmp_path / "in"))
  stilts_jax.export_task_model(model, tmp_path / "out")
  back = type(hf).from_pretrained(tmp_path / "out").eval()
  assert type(back).__name__ == json.loads((tmp_path / "out/config.json").read_text())[
      "architectures"][0]
  for (name, a), (name_b, b) in zip(sorted(hf.state_dict().items()),
                                    sorted(back.state_dict().items())):
    assert name == name_b
    np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


def test_attach_fresh_heads_to_loaded_encoder(tmp_path):
  hf = random_hf_model("encoder", "tiny")
  hf.save_pretrained(tmp_path)
  enc = stilts_jax.load_encoder(str(tmp_path))
  model = stilts_jax.attach_heads(enc, {"xnli": ("classification", 3), "mc": ("multiple_choice", 1)})
  assert model.encoder is enc
  ids, mask = padded_batch(hf.config.vocab_size, [5, 3])
  assert model("xnli", jnp.asarray(ids), jnp.asarray(mask)).shape == (2, 3)
  assert model("mc", jnp.asarray(ids)[None], jnp.asarray(mask)[None]).shape == (1, 2)


# --------------------------------------------------------------------------------------------
# Bad input


def test_unknown_hub_id_offline_is_a_clear_error(monkeypatch):
  monkeypatch.setenv("HF_HUB_OFFLINE", "1")
  with pytest.raises(stilts_jax.CheckpointError, match="not in the Hugging Face cache.*hf download"):
    stilts_jax.load_encoder("nobody-here/xlm-roberta-that-does-not-exist")


@pytest.mark.slow
def test_unknown_hub_id_with_no_network_is_a_clear_error(tmp_path):
  """The real failure mode on a TPU VM without egress: the Hub cannot be reached at all."""
  # huggingface_hub retries an unreachable Hub 5 times, sleeping 1+2+4+8+8 s; that wait is the
  # library's, not under test, so the subprocess skips the sleeps.
  code = ("import time\ntime.sleep = lambda seconds: None\nimport stilts_jax\n"
          "try:\n"
          "  stilts_jax.load_encoder('nobody-here/xlm-roberta-that-does-not-exist')\n"
          "except stilts_jax.CheckpointError as e:\n"
          "  print('CLEAR:', e)\n")
  env = dict(os.environ, HF_HUB_OFFLINE="0", HF_ENDPOINT="http://127.0.0.1:9",
             HF_HOME=str(tmp_path), HF_HUB_ETAG_TIMEOUT="2", HF_HUB_DOWNLOAD_TIMEOUT="2")
  proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                        timeout=120)
  assert "CLEAR:" in proc.stdout, proc.stdout + proc.stderr
  assert "unreachable or offline" in proc.stdout


def test_missing_local_directory_and_missing_files(tmp_path):
  with pytest.raises(stilts_jax.CheckpointError, match="does not exist"):
    stilts_jax.load_encoder(str(tmp_path / "nope"))
  with pytest.raises(stilts_jax.CheckpointError, match="no config.json"):
    stilts_jax.load_encoder(str(tmp_path))
  (tmp_path / "config.json").write_text("{}")
  with pytest.raises(stilts_jax.CheckpointError, match="has no weights"):
    stilts_jax.load_encoder(str(tmp_path))


def _rewrite_weights(path, edit):
  reader = open_weights(str(path))
  tensors = {k: reader.read(k) for k in reader.keys()}
  edit(tensors)
  write_safetensors(str(path / "model.safetensors"), sorted(tensors.items()))


def test_missing_tensors_are_listed(tmp_path):
  hf = random_hf_model("encoder", "deeper")
  hf.save_pretrained(tmp_path)

  def drop(t):
    del t["encoder.layer.1.intermediate.dense.weight"]
    del t["embeddings.LayerNorm.bias"]
  _rewrite_weights(tmp_path, drop)
  with pytest.raises(stilts_jax.CheckpointError) as e:
    stilts_jax.load_encoder(str(tmp_path))
  assert "missing tensors (2)" in str(e.value)
  assert "encoder.layer.1.intermediate.dense.weight" in str(e.value)
  assert "embeddings.LayerNorm.bias" in str(e.value)


def test_unexpected_tensor_is_listed(tmp_path):
  hf = random_hf_model("encoder", "tiny")
  hf.save_pretrained(tmp_path)
  _rewrite_weights(tmp_path, lambda t: t.update({"encoder.layer.7.mystery.weight": np.ones(3, np.float32)}))
  with pytest.raises(stilts_jax.CheckpointError, match="does not use: encoder.layer.7.mystery.weight"):
    stilts_jax.load_encoder(str(tmp_path))


def test_shape_mismatch_is_listed(tmp_path):
  hf = random_hf_model("encoder", "tiny")
  hf.save_pretrained(tmp_path)
  _rewrite_weights(tmp_path, lambda t: t.update(
      {"encoder.layer.0.output.dense.weight": np.zeros((16, 23), np.float32)}))
  with pytest.raises(stilts_jax.CheckpointError, match=r"output.dense.weight: checkpoint \(16, 23\), "
                     r"model expects \(16, 24\)"):
    stilts_jax.load_encoder(str(tmp_path))


def test_config_vocab_mismatch(tmp_path):
  hf = random_hf_model("encoder", "tiny")
  hf.save_pretrained(tmp_path)
  cfg = json.loads((tmp_path / "config.json").read_text())
  cfg["vocab_size"] = 250002
  (tmp_path / "config.json").write_text(json.dumps(cfg))
  with pytest.raises(stilts_jax.CheckpointError, match=r"word_embeddings.weight: checkpoint \(61, 16\), "
                     r"model expects \(250002, 16\)[\s\S]*config.json"):
    stilts_jax.load_encoder(str(tmp_path))


def test_tokenizer_vocab_mismatch(tmp_path, tokenizer):
  hf = random_hf_model("encoder", "tiny")  # 61 ids: fewer than the test tokenizer has
  hf.save_pretrained(tmp_path)
  assert len(tokenizer) > 61
  with pytest.raises(stilts_jax.CheckpointError, match=f"tokenizer has {len(tokenizer)} tokens"):
    stilts_jax.load_encoder(str(tmp_path), tokenizer=tokenizer)
  hf2 = random_hf_model("encoder", "tiny", vocab_size=len(tokenizer))
  hf2.save_pretrained(tmp_path / "ok")
  stilts_jax.load_encoder(str(tmp_path / "ok"), tokenizer=tokenizer)  # fits: no error


def test_wrong_model_type(tmp_path):
  hf = random_hf_model("encoder", "tiny")
  hf.save_pretrained(tmp_path)
  cfg = json.loads((tmp_path / "config.json").read_text())
  cfg["model_type"] = "bert"
  (tmp_path / "config.json").write_text(json.dumps(cfg))
  with pytest.raises(ValueError, match="model_type='bert'"):
    stilts_jax.load_encoder(str(tmp_path))


def test_truncated_safetensors(tmp_path):
  hf = random_hf_model("encoder", "tiny")
  hf.save_pretrained(tmp_path)
  data = (tmp_path / "model.safetensors").read_bytes()
  (tmp_path / "model.safetensors").write_bytes(data[:-100])
  with pytest.raises(Exception, match="(?i)truncated|corrupt|mmap length|cannot"):
    stilts_jax.load_encoder(str(tmp_path))

"""Our XLM-R equals transformers' PyTorch XLM-R: encoder and every head, fp32 and bf16."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import stilts_jax
from hf_helpers import CONFIGS, padded_batch, random_hf_model, rel_err, torch_outputs

pytestmark = pytest.mark.usefixtures("fp32_matmuls")  # conftest: full-precision matmuls

FP32_TOL = 1e-5
# bf16 compute, fp32 params, against the fp32 torch model: bf16 has an 8-bit mantissa (~4e-3
# relative per rounding) and errors grow through the layers; measured ≈1e-2 on these models.
BF16_TOL = 4e-2

LENGTHS = [12, 7, 3, 12, 1 + 1]  # varied right padding, incl. a full row and a 2-token row


def _save(model, tmp_path):
  model.save_pretrained(tmp_path)
  return str(tmp_path)


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
def test_encoder_every_hidden_state_and_pooler(config_name, tmp_path):
  hf = random_hf_model("encoder", config_name)
  enc = stilts_jax.load_encoder(_save(hf, tmp_path))
  ids, mask = padded_batch(hf.config.vocab_size, LENGTHS)
  ref = torch_outputs(hf, ids, mask, output_hidden_states=True)
  out = enc(jnp.asarray(ids), jnp.asarray(mask), output_hidden_states=True)
  assert len(out.hidden_states) == hf.config.num_hidden_layers + 1
  for i, (ours, theirs) in enumerate(zip(out.hidden_states, ref.hidden_states)):
    assert rel_err(ours, theirs.numpy()) <= FP32_TOL, f"hidden state {i}"
  assert rel_err(out.last_hidden_state, ref.last_hidden_state.numpy()) <= FP32_TOL
  assert rel_err(out.pooler_output, ref.pooler_output.numpy()) <= FP32_TOL


def test_deterministic_by_default_and_no_hidden_states_unless_asked(tmp_path):
  hf = random_hf_model("encoder", "tiny")
  enc = stilts_jax.load_encoder(_save(hf, tmp_path))
  ids, mask = padded_batch(hf.config.vocab_size, LENGTHS)
  a = enc(jnp.asarray(ids), jnp.asarray(mask))
  b = enc(jnp.asarray(ids), jnp.asarray(mask))
  assert a.hidden_states is None
  np.testing.assert_array_equal(a.last_hidden_state, b.last_hidden_state)


@pytest.mark.parametrize("kind", ["classification", "tagging", "span_qa", "mlm"])
@pytest.mark.parametrize("config_name", ["tiny", "wide_heads"])
def test_task_heads_match_transformers(kind, config_name, tmp_path):
  hf = random_hf_model(kind, config_name, seed=1)
  model = stilts_jax.load_task_model(_save(hf, tmp_path))
  assert model.head_types == {"task": kind}
  ids, mask = padded_batch(hf.config.vocab_size, LENGTHS, seed=2)
  ref = torch_outputs(hf, ids, mask)
  ours = model("task", jnp.asarray(ids), jnp.asarray(mask))
  if kind == "span_qa":
    assert rel_err(ours[0], ref.start_logits.numpy()) <= FP32_TOL
    assert rel_err(ours[1], ref.end_logits.numpy()) <= FP32_TOL
  else:
    assert rel_err(ours, ref.logits.numpy()) <= FP32_TOL


@pytest.mark.parametrize("config_name", ["tiny", "deeper"])
def test_multiple_choice_head_matches_transformers(config_name, tmp_path):
  hf = random_hf_model("multiple_choice", config_name, seed=3)
  model = stilts_jax.load_task_model(_save(hf, tmp_path))
  ids, mask = padded_batch(hf.config.vocab_size, [9, 4, 9, 6, 2, 5, 9, 3], seed=4)
  ids, mask = ids.reshape(2, 4, -1), mask.reshape(2, 4, -1)  # [batch, choices, length]
  ref = torch_outputs(hf, ids, mask).logits.numpy()
  ours = model("task", jnp.asarray(ids), jnp.asarray(mask))
  assert ours.shape == (2, 4)
  assert rel_err(ours, ref) <= FP32_TOL


def test_bf16_compute_with_fp32_params_within_stated_tolerance(tmp_path):
  hf = random_hf_model("encoder", "deeper")
  path = _save(hf, tmp_path)
  enc = stilts_jax.load_encoder(path, dtype=jnp.bfloat16)
  assert enc.embeddings.word_embeddings.embedding[...].dtype == jnp.float32  # master weights
  ids, mask = padded_batch(hf.config.vocab_size, LENGTHS)
  ref = torch_outputs(hf, ids, mask, output_hidden_states=True)
  out = enc(jnp.asarray(ids), jnp.asarray(mask), output_hidden_states=True)
  assert out.last_hidden_state.dtype == jnp.bfloat16
  errors = [rel_err(o.astype(jnp.float32), r.numpy())
            for o, r in zip(out.hidden_states, ref.hidden_states)]
  assert max(errors) <= BF16_TOL, errors
  assert max(errors) > 1e-4  # it really ran in bf16
  assert rel_err(out.pooler_output.astype(jnp.float32), ref.pooler_output.numpy()) <= BF16_TOL


def test_bf16_params_load_and_run(tmp_path):
  hf = random_hf_model("encoder", "tiny")
  enc = stilts_jax.load_encoder(_save(hf, tmp_path), dtype=jnp.bfloat16, param_dtype=jnp.bfloat16)
  assert enc.layers.intermediate.kernel[...].dtype == jnp.bfloat16
  ids, mask = padded_batch(hf.config.vocab_size, LENGTHS)
  ref = torch_outputs(hf, ids, mask).last_hidden_state.numpy()
  out = enc(jnp.asarray(ids), jnp.asarray(mask)).last_hidden_state.astype(jnp.float32)
  assert rel_err(out, ref) <= BF16_TOL


def test_attention_implementations_agree(tmp_path):
  hf = random_hf_model("encoder", "deeper")
  path = _save(hf, tmp_path)
  ids, mask = padded_batch(hf.config.vocab_size, LENGTHS)
  outs = {impl: stilts_jax.load_encoder(path, attention=impl)(jnp.asarray(ids), jnp.asarray(mask))
          for impl in ("xla", "reference")}
  assert rel_err(outs["xla"].last_hidden_state, outs["reference"].last_hidden_state) <= FP32_TOL


def test_fully_masked_padding_rows_stay_finite(tmp_path):
  """Eval batches pad with rows whose mask is all zero; they must not turn into NaN."""
  hf = random_hf_model("encoder", "tiny")
  path = _save(hf, tmp_path)
  ids, mask = padded_batch(hf.config.vocab_size, [5, 3])
  ids[1], mask[1] = 1, 0
  for impl in ("xla", "reference"):
    out = stilts_jax.load_encoder(path, attention=impl)(jnp.asarray(ids), jnp.asarray(mask))
    assert np.isfinite(np.asarray(out.last_hidden_state)).all(), impl
    assert np.isfinite(np.asarray(out.pooler_output)).all(), impl


def test_dropout_is_driven_by_the_key(tmp_path):
  hf = random_hf_model("classification", "tiny")
  model = stilts_jax.load_task_model(_save(hf, tmp_path))
  ids, mask = padded_batch(hf.config.vocab_size, LENGTHS)
  ids, mask = jnp.asarray(ids), jnp.asarray(mask)
  clean = model("task", ids, mask)
  k1, k2 = jax.random.key(1), jax.random.key(2)
  a, a2, b = (model("task", ids, mask, dropout_rng=k) for k in (k1, k1, k2))
  np.testing.assert_array_equal(a, a2)
  assert not np.allclose(a, clean) and not np.allclose(a, b)


def test_too_long_input_is_a_clear_error(tmp_path):
  hf = random_hf_model("encoder", "tiny")
  enc = stilts_jax.load_encoder(_save(hf, tmp_path))
  ids = jnp.full((1, hf.config.max_position_embeddings), 5)
  with pytest.raises(ValueError, match="exceeds the model's maximum"):
    enc(ids)


def test_large_geometry_abstractly():
  """xlm-roberta-large's shapes and parameter count, without allocating it."""
  from flax import nnx
  cfg = stilts_jax.XLMRConfig.large()
  _, state = nnx.split(nnx.eval_shape(lambda: stilts_jax.XLMREncoder(cfg, rngs=nnx.Rngs(0))))
  n = sum(int(np.prod(v.shape)) for _, v in nnx.to_flat_state(state))
  h, m, layers = 1024, 4096, 24
  expected = (250002 * h + 514 * h + h + 2 * h                       # embeddings + LN
              + layers * (4 * (h * h + h) + (h * m + m) + (m * h + h) + 2 * 2 * h)
              + h * h + h)                                          # pooler
  assert n == expected
  assert 559e6 < n < 561e6


def test_config_from_a_real_config_json_is_hashable(tmp_path):
  """config.json carries lists/dicts (architectures, id2label); the model's GraphDef must still hash
  (jit and cached step factories key on it)."""
  from flax import nnx
  hf = random_hf_model("classification", "tiny")
  hf.save_pretrained(tmp_path)
  enc = stilts_jax.load_encoder(str(tmp_path))
  hash(enc.cfg)
  hash(nnx.graphdef(enc))
  assert enc.cfg.to_hf_dict()["id2label"] == {str(i): f"LABEL_{i}" for i in range(5)}

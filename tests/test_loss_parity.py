"""Every head's training loss and gradients equal transformers' own (`XLMRobertaFor*` with
`labels=` / `start_positions=`), fp32, on batches shaped like our features: right padding, ignored
tokens (-100: later sub-tokens, special tokens, padding), QA answers outside the window (position 0,
as the features write them) and an evaluation batch's padding row (`mask` 0), which transformers
never sees. `steps.task_loss` is the function under test; the model itself is checked against the
same oracle in test_model_parity.py.
"""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

import stilts_jax
from hf_helpers import padded_batch, random_hf_model, rel_err
from stilts_jax import steps
from stilts_jax.features import IGNORE_INDEX
from stilts_jax.models.hf_io import LAYER, encoder_name_map, head_name_map, torch_names

pytestmark = pytest.mark.usefixtures("fp32_matmuls")  # conftest: full-precision matmuls

TOL = 1e-5
LENGTHS = [12, 7, 3, 12, 5]


def _hf_loss_and_grads(hf, ids, mask, **labels):
  hf.zero_grad()
  out = hf(torch.tensor(ids, dtype=torch.long), attention_mask=torch.tensor(mask),
           **{k: torch.tensor(v, dtype=torch.long) for k, v in labels.items()})
  out.loss.backward()
  grads = {n: p.grad.numpy() for n, p in hf.named_parameters() if p.grad is not None}
  return float(out.loss.detach()), grads


def _ours(model, kind, batch):
  def loss_fn(m):
    return steps.task_loss(m, "task", kind, {k: jnp.asarray(v) for k, v in batch.items()})[0]
  # Jitted: op by op, every forward and backward op would compile on its own (~10 s a test).
  return nnx.jit(nnx.value_and_grad(loss_fn))(model)


def _assert_grads_equal(model, kind, grads, hf_grads):
  """Every one of our parameter gradients against transformers' for the same weight."""
  names = {("encoder",) + p: ("roberta." + n, t)
           for p, (n, t) in encoder_name_map(nnx.state(model.encoder, nnx.Param)).items()}
  names.update({("heads", "task") + p: v for p, v in
                head_name_map(nnx.state(model.heads["task"], nnx.Param), kind).items()})
  # A gradient that is zero in exact arithmetic is float noise on both sides; it must stay at
  # noise level relative to the largest gradient, not match digit for digit. Those are the
  # parameters that add one constant to every logit a softmax compares: the attention key bias,
  # the multiple-choice classifier bias, the QA output bias and the LayerNorm bias before it.
  noise = 1e-6 * max(np.abs(g).max() for g in hf_grads.values())
  at_noise = set()
  for path, g in nnx.to_flat_state(grads):
    stacked, transpose = names[path]
    g = np.asarray(g.get_value())
    for name, ours in zip(torch_names(stacked, g.shape), g if LAYER in stacked else [g]):
      theirs = hf_grads.pop(name)
      theirs = theirs.T if transpose else theirs
      if np.abs(theirs).max() <= noise:
        assert np.abs(ours).max() <= noise, name
        at_noise.add(name.split(".")[-2] + "." + name.split(".")[-1])
        continue
      assert rel_err(ours, theirs) <= TOL, name
  assert not hf_grads, f"transformers has gradients we lack: {sorted(hf_grads)}"
  assert at_noise <= {"key.bias", "classifier.bias", "qa_outputs.bias", "LayerNorm.bias"}


def _with_padding_row(batch, ids_key="input_ids"):
  """An evaluation batch's padding row (all pad, mask 0), appended to every array."""
  out = {}
  for k, v in batch.items():
    pad = np.ones_like(v[:1]) if k == ids_key else np.zeros_like(v[:1])
    out[k] = np.concatenate([v, pad])
  out["mask"] = np.array([1] * len(batch[ids_key]) + [0], np.int32)
  return out


def _models(kind, config_name, seed, tmp_path):
  hf = random_hf_model(kind, config_name, seed=seed)
  hf.save_pretrained(tmp_path)
  return hf, stilts_jax.load_task_model(str(tmp_path))


# transformers' keyword -> our feature name
OUR_LABEL_KEYS = {"labels": {"classification": "label", "multiple_choice": "label",
                             "tagging": "labels"}}


def _compare(hf, model, kind, ids, mask, **labels):
  """Loss and every gradient: transformers on the real rows, ours with a padding row added."""
  hf_loss, hf_grads = _hf_loss_and_grads(hf, ids, mask, **labels)
  batch = {"input_ids": ids, "attention_mask": mask}
  batch.update({OUR_LABEL_KEYS.get(k, {}).get(kind, k): v for k, v in labels.items()})
  loss, grads = _ours(model, kind, _with_padding_row(batch))
  assert abs(float(loss) - hf_loss) <= TOL * abs(hf_loss)
  _assert_grads_equal(model, kind, grads, hf_grads)


@pytest.mark.parametrize("config_name", ["tiny", "deeper"])
def test_classification_loss_and_grads(config_name, tmp_path):
  hf, model = _models("classification", config_name, 5, tmp_path)
  ids, mask = padded_batch(hf.config.vocab_size, LENGTHS, seed=6)
  _compare(hf, model, "classification", ids, mask, labels=np.array([0, 4, 2, 1, 3], np.int32))


def test_multiple_choice_loss_and_grads(tmp_path):
  hf, model = _models("multiple_choice", "deeper", 7, tmp_path)
  ids, mask = padded_batch(hf.config.vocab_size, [9, 4, 9, 6, 2, 5, 9, 3, 7, 7, 8, 2], seed=8)
  _compare(hf, model, "multiple_choice", ids.reshape(3, 4, -1), mask.reshape(3, 4, -1),
           labels=np.array([3, 0, 2], np.int32))


def test_tagging_loss_and_grads_ignore_what_features_ignore(tmp_path):
  hf, model = _models("tagging", "deeper", 9, tmp_path)
  ids, mask = padded_batch(hf.config.vocab_size, LENGTHS, seed=10)
  rng = np.random.RandomState(11)
  labels = rng.randint(0, hf.config.num_labels, ids.shape).astype(np.int32)
  labels[mask == 0] = IGNORE_INDEX  # padding
  labels[:, 0] = IGNORE_INDEX  # <s>
  labels[rng.rand(*ids.shape) < 0.3] = IGNORE_INDEX  # later sub-tokens of a word
  _compare(hf, model, "tagging", ids, mask, labels=labels)


def test_span_qa_loss_and_grads_with_answers_outside_the_window(tmp_path):
  hf, model = _models("span_qa", "deeper", 12, tmp_path)
  ids, mask = padded_batch(hf.config.vocab_size, LENGTHS, seed=13)
  # Rows 1 and 3: the answer is not in this window; the features point both ends at <s> (0).
  _compare(hf, model, "span_qa", ids, mask, start_positions=np.array([4, 0, 1, 0, 2], np.int32),
           end_positions=np.array([6, 0, 1, 0, 3], np.int32))

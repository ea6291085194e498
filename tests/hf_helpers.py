"""Random-weight transformers XLM-R models written in the Hub layout: the oracle for parity tests."""

from __future__ import annotations

import numpy as np
import torch
import transformers

# Geometries that differ in every dimension the converter and the attention reshapes touch.
CONFIGS = {
    "tiny": dict(vocab_size=61, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=24, max_position_embeddings=34),
    "deeper": dict(vocab_size=123, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                   intermediate_size=48, max_position_embeddings=40, type_vocab_size=2),
    "wide_heads": dict(vocab_size=257, hidden_size=64, num_hidden_layers=2, num_attention_heads=8,
                       intermediate_size=96, max_position_embeddings=66, layer_norm_eps=1e-6),
}

HF_CLASSES = {
    "encoder": transformers.XLMRobertaModel,
    "classification": transformers.XLMRobertaForSequenceClassification,
    "multiple_choice": transformers.XLMRobertaForMultipleChoice,
    "tagging": transformers.XLMRobertaForTokenClassification,
    "span_qa": transformers.XLMRobertaForQuestionAnswering,
    "mlm": transformers.XLMRobertaForMaskedLM,
}


def hf_config(name: str, **kw) -> transformers.XLMRobertaConfig:
  args = dict(type_vocab_size=1, num_labels=5, attn_implementation="eager")
  args.update(CONFIGS[name])
  args.update(kw)
  return transformers.XLMRobertaConfig(**args)


def random_hf_model(kind: str, config_name: str = "deeper", seed: int = 0, **kw):
  """A transformers model with non-trivial random weights (LayerNorms too), in eval mode."""
  torch.manual_seed(seed)
  if kind == "span_qa":
    kw.setdefault("num_labels", 2)  # transformers' qa_outputs is Linear(h, num_labels): start, end
  model = HF_CLASSES[kind](hf_config(config_name, **kw)).eval()
  gen = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for name, p in model.named_parameters():
      noise = torch.randn(p.shape, generator=gen)
      if "LayerNorm" in name or "layer_norm" in name:
        p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.2 * noise)
      else:
        p.copy_(0.15 * noise)
  return model


def padded_batch(vocab_size: int, lengths, total: int | None = None, seed: int = 0):
  """Right-padded ids (pad id 1, no pad inside) and mask, numpy int32."""
  rng = np.random.RandomState(seed)
  total = total or max(lengths)
  ids = rng.randint(3, vocab_size, (len(lengths), total)).astype(np.int32)
  mask = np.zeros_like(ids)
  for i, n in enumerate(lengths):
    ids[i, 0], ids[i, n - 1] = 0, 2  # <s> ... </s>
    ids[i, n:] = 1
    mask[i, :n] = 1
  return ids, mask


def torch_outputs(model, ids, mask, **kw):
  with torch.no_grad():
    return model(torch.tensor(ids, dtype=torch.long), attention_mask=torch.tensor(mask), **kw)


def rel_err(ours, ref) -> float:
  """max |ours - ref| / max |ref|: an error relative to the tensor's scale."""
  ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
  assert ours.shape == ref.shape, (ours.shape, ref.shape)
  return float(np.abs(ours - ref).max() / np.abs(ref).max())

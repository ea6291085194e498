"""XLM-R geometry and options, read from and written to Hugging Face `config.json`."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import jax.numpy as jnp

# HF config keys that define the encoder; everything else in config.json is carried through
# untouched (`extra`) so an exported checkpoint keeps the user's metadata.
_HF_KEYS = (
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
    "max_position_embeddings", "type_vocab_size", "layer_norm_eps", "pad_token_id",
    "hidden_dropout_prob", "attention_probs_dropout_prob", "hidden_act",
)
# Activations that mean exact (erf) GELU in transformers.
_EXACT_GELU = ("gelu",)
ATTENTION_IMPLEMENTATIONS = ("xla", "cudnn", "reference")


@dataclasses.dataclass(frozen=True)
class XLMRConfig:
  """The encoder's geometry (from HF) plus our runtime options (dtypes, attention kernel)."""
  vocab_size: int = 250002
  hidden_size: int = 768
  num_hidden_layers: int = 12
  num_attention_heads: int = 12
  intermediate_size: int = 3072
  max_position_embeddings: int = 514
  type_vocab_size: int = 1
  layer_norm_eps: float = 1e-5
  pad_token_id: int = 1
  hidden_dropout_prob: float = 0.1
  attention_probs_dropout_prob: float = 0.1
  hidden_act: str = "gelu"
  # Runtime options, not part of the HF config.
  dtype: Any = jnp.float32        # compute dtype (activations, matmul inputs)
  param_dtype: Any = jnp.float32  # storage dtype of the parameters (the fp32 master weights)
  attention: str = "xla"          # see ATTENTION_IMPLEMENTATIONS
  remat: bool = False             # recompute each block's activations in backward (saves memory)
  # Other config.json keys, kept for export, as (key, JSON text) so the config stays hashable (it
  # is part of the model's GraphDef, which jit caches and lru_caches key on).
  extra: tuple[tuple[str, str], ...] = ()

  def __post_init__(self):
    if self.hidden_size % self.num_attention_heads:
      raise ValueError(
          f"hidden_size={self.hidden_size} is not divisible by num_attention_heads="
          f"{self.num_attention_heads}; XLM-R needs head_dim = hidden_size / heads to be whole.")
    if self.hidden_act not in _EXACT_GELU:
      raise ValueError(f"hidden_act={self.hidden_act!r} is not supported: XLM-R uses 'gelu' "
                       "(exact erf GELU).")
    if self.attention not in ATTENTION_IMPLEMENTATIONS:
      raise ValueError(f"attention={self.attention!r}; expected one of {ATTENTION_IMPLEMENTATIONS}.")
    if self.max_position_embeddings <= self.pad_token_id + 1:
      raise ValueError("max_position_embeddings must exceed pad_token_id + 1 (RoBERTa positions "
                       "start after the padding index).")

  @property
  def head_dim(self) -> int:
    return self.hidden_size // self.num_attention_heads

  @property
  def max_length(self) -> int:
    """Longest input: RoBERTa position ids start at pad_token_id + 1."""
    return self.max_position_embeddings - self.pad_token_id - 1

  def replace(self, **kw) -> XLMRConfig:
    return dataclasses.replace(self, **kw)

  @classmethod
  def from_hf_dict(cls, d: dict[str, Any], **options) -> XLMRConfig:
    """Builds a config from a parsed HF `config.json`; `options` sets dtype/param_dtype/attention."""
    model_type = d.get("model_type")
    if model_type not in (None, "xlm-roberta", "roberta"):
      raise ValueError(f"config.json has model_type={model_type!r}; expected 'xlm-roberta' "
                       "(or 'roberta', same architecture).")
    missing = [k for k in ("vocab_size", "hidden_size", "num_hidden_layers",
                           "num_attention_heads", "intermediate_size") if k not in d]
    if missing:
      raise ValueError(f"config.json lacks required keys {missing}.")
    known = {k: d[k] for k in _HF_KEYS if k in d}
    extra = tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in d.items()
                         if k not in _HF_KEYS and _jsonable(v)))
    return cls(**known, extra=extra, **options)

  def to_hf_dict(self) -> dict[str, Any]:
    """The `config.json` transformers' XLMRobertaModel loads."""
    d = {k: json.loads(v) for k, v in self.extra}
    d.update({k: getattr(self, k) for k in _HF_KEYS})
    d["model_type"] = "xlm-roberta"
    d["architectures"] = ["XLMRobertaModel"]
    d.setdefault("bos_token_id", 0)
    d.setdefault("eos_token_id", 2)
    d["dtype"] = jnp.dtype(self.param_dtype).name
    d.pop("torch_dtype", None)
    return d

  @classmethod
  def base(cls, **kw) -> XLMRConfig:
    """xlm-roberta-base geometry (for abstract shapes, fit checks and benchmarks)."""
    return cls(**kw)

  @classmethod
  def large(cls, **kw) -> XLMRConfig:
    """xlm-roberta-large geometry."""
    return cls(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
               intermediate_size=4096, **kw)


def _jsonable(v) -> bool:
  return isinstance(v, (str, int, float, bool, type(None), list, dict))

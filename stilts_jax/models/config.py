"""XLM-R geometry and options, read from and written to Hugging Face `config.json`."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import jax
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
# auto: the platform's fused kernel (splash on TPU, cuDNN on GPU, XLA on CPU); xla: XLA's fused
# softmax(QKᵀ)V; cudnn: cuDNN flash attention (GPU); splash: Pallas splash attention (TPU);
# reference: the plain einsum/softmax path (the one attention-probability dropout always takes).
ATTENTION_IMPLEMENTATIONS = ("auto", "xla", "cudnn", "splash", "reference")
_AUTO_ATTENTION = {"tpu": "splash", "gpu": "cudnn"}
# Recomputation in backward, for long sequences on small-HBM chips (`remat`; False/True mean
# "none"/"block"): "block" keeps only each block's input and rebuilds the block (least memory,
# about one extra forward); "dots" keeps the weight matmuls' outputs (Q, K, V, projections, FFN)
# and rebuilds the rest (LayerNorm, GELU, softmax, dropout): jax's
# dots_with_no_batch_dims_saveable, "a useful heuristic for transformers".
REMAT_POLICIES = ("none", "block", "dots")


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
  remat: bool | str = False       # activation recomputation in backward; see REMAT_POLICIES
  # Training-time override of attention_probs_dropout_prob (None: the checkpoint's, 0.1 for XLM-R).
  # 0 lets training use the fused kernels (cuDNN / splash have no dropout); it changes the recipe,
  # so it is a runtime option and never written to an exported config.json.
  attention_dropout: float | None = None
  # How the stacked blocks run: True = `lax.scan`, one compiled block applied num_hidden_layers
  # times (compile time flat in depth); False = a Python loop over the same stacked parameters
  # (the block unrolled in the program; for A/B timing). Same parameters; results within ~1e-6.
  scan_layers: bool = True
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
    if self.remat_policy not in REMAT_POLICIES:
      raise ValueError(f"remat={self.remat!r}; expected True/False or one of {REMAT_POLICIES}.")
    if self.attention_dropout is not None and not 0.0 <= self.attention_dropout < 1.0:
      raise ValueError(f"attention_dropout={self.attention_dropout}; expected a rate in [0, 1) "
                       "or None (the checkpoint's attention_probs_dropout_prob).")
    if self.max_position_embeddings <= self.pad_token_id + 1:
      raise ValueError("max_position_embeddings must exceed pad_token_id + 1 (RoBERTa positions "
                       "start after the padding index).")

  def attention_kernel(self, backend: str | None = None) -> str:
    """The kernel `attention` means on `backend` (default: JAX's default backend)."""
    if self.attention != "auto":
      return self.attention
    return _AUTO_ATTENTION.get(backend or jax.default_backend(), "xla")

  @property
  def remat_policy(self) -> str:
    """`remat` as one of REMAT_POLICIES."""
    if isinstance(self.remat, bool):
      return "block" if self.remat else "none"
    return self.remat

  @property
  def attention_dropout_rate(self) -> float:
    """The attention-probability dropout training applies."""
    return (self.attention_probs_dropout_prob if self.attention_dropout is None
            else self.attention_dropout)

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

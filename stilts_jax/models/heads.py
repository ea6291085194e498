"""Task heads over the XLM-R encoder, each numerically the head of a transformers model.

| head type         | transformers model                         | head on                 | logits       |
|-------------------|--------------------------------------------|-------------------------|--------------|
| classification    | XLMRobertaForSequenceClassification        | `<s>` hidden state      | [B, L]       |
| multiple_choice   | XLMRobertaForMultipleChoice                | pooler output per choice | [B, C]      |
| tagging           | XLMRobertaForTokenClassification           | every token             | [B, T, L]    |
| span_qa           | XLMRobertaForQuestionAnswering             | every token             | 2 × [B, T]   |
| mlm               | XLMRobertaForMaskedLM (decoder tied)       | every token             | [B, T, V]    |

`TaskModel` holds one shared encoder and any number of named heads (multi-task intermediate
training uses several; a target phase one fresh head).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from flax.core import FrozenDict

from stilts_jax.models.config import XLMRConfig
from stilts_jax.models.xlmr import Dense, Dropout, EncoderOutput, LayerNorm, XLMREncoder


class Head(nnx.Module):
  """What every head declares about itself, so `TaskModel` and `hf_io` never branch on a head's
  name. A new head (a new task kind, `kinds/`) subclasses this and sets what differs."""
  uses_pooler = False  # reads the encoder's pooler output (the encoder is built with one)
  folds_choices = False  # inputs [B, C, T]: choices folded into the batch, logits [B, C]
  packable = False  # takes `cls_positions`: several packed examples per row, logits [B, S, L]
  # Its transformers model: the `architectures` name in config.json, our module path inside the
  # head -> the transformers module path, and the weight whose rows are the labels (None: the
  # label count is `fixed_labels`, and export writes no id2label map).
  hf_architecture: str | None = None
  hf_modules: dict[tuple[str, ...], str] = {}
  hf_label_weight: str | None = None

  @classmethod
  def fixed_labels(cls, cfg: XLMRConfig) -> int:
    """The `num_labels` of a head whose checkpoint does not say it (`hf_label_weight` None)."""
    del cfg
    return 1


class ClassificationHead(Head):
  """dropout → dense → tanh → dropout → out_proj, on the `<s>` token (not the pooler)."""
  packable = True
  hf_architecture = "XLMRobertaForSequenceClassification"
  hf_modules = {("dense",): "classifier.dense", ("out_proj",): "classifier.out_proj"}
  hf_label_weight = "classifier.out_proj.weight"

  def __init__(self, cfg: XLMRConfig, num_labels: int, rngs: nnx.Rngs):
    self.rate = cfg.hidden_dropout_prob
    self.dense = Dense(cfg.hidden_size, cfg.hidden_size, ("embed", "mlp_pooler"), cfg, rngs)
    self.out_proj = Dense(cfg.hidden_size, num_labels, ("mlp_pooler", None), cfg, rngs)

  def __call__(self, out: EncoderOutput, dropout: Dropout, encoder: XLMREncoder) -> jax.Array:
    x = dropout(out.last_hidden_state[:, 0], self.rate)
    x = dropout(jnp.tanh(self.dense(x)), self.rate)
    return self.out_proj(x)


class MultipleChoiceHead(Head):
  """pooler output → dropout → Linear(h, 1); `TaskModel` folds the choices into the batch."""
  uses_pooler = True
  folds_choices = True
  hf_architecture = "XLMRobertaForMultipleChoice"
  hf_modules = {("classifier",): "classifier"}

  def __init__(self, cfg: XLMRConfig, num_labels: int, rngs: nnx.Rngs):
    del num_labels  # one score per choice
    self.rate = cfg.hidden_dropout_prob
    self.classifier = Dense(cfg.hidden_size, 1, ("embed", None), cfg, rngs)

  def __call__(self, out: EncoderOutput, dropout: Dropout, encoder: XLMREncoder) -> jax.Array:
    return self.classifier(dropout(out.pooler_output, self.rate))[:, 0]


class TaggingHead(Head):
  hf_architecture = "XLMRobertaForTokenClassification"
  hf_modules = {("classifier",): "classifier"}
  hf_label_weight = "classifier.weight"

  def __init__(self, cfg: XLMRConfig, num_labels: int, rngs: nnx.Rngs):
    self.rate = cfg.hidden_dropout_prob
    self.classifier = Dense(cfg.hidden_size, num_labels, ("embed", None), cfg, rngs)

  def __call__(self, out: EncoderOutput, dropout: Dropout, encoder: XLMREncoder) -> jax.Array:
    return self.classifier(dropout(out.last_hidden_state, self.rate))


class SpanQAHead(Head):
  """Linear(h, 2) → (start_logits, end_logits); transformers applies no dropout here."""
  hf_architecture = "XLMRobertaForQuestionAnswering"
  hf_modules = {("qa_outputs",): "qa_outputs"}

  def __init__(self, cfg: XLMRConfig, num_labels: int, rngs: nnx.Rngs):
    del num_labels
    self.qa_outputs = Dense(cfg.hidden_size, 2, ("embed", None), cfg, rngs)

  def __call__(self, out: EncoderOutput, dropout: Dropout, encoder: XLMREncoder) -> tuple[jax.Array, jax.Array]:
    del dropout
    logits = self.qa_outputs(out.last_hidden_state)
    return logits[..., 0], logits[..., 1]


class MaskedLMHead(Head):
  """dense → exact GELU → LayerNorm → decoder tied to the word embeddings, + bias."""
  hf_architecture = "XLMRobertaForMaskedLM"
  hf_modules = {("dense",): "lm_head.dense", ("layer_norm",): "lm_head.layer_norm",
                (): "lm_head"}

  @classmethod
  def fixed_labels(cls, cfg: XLMRConfig) -> int:
    return cfg.vocab_size  # its "labels" are the vocabulary

  def __init__(self, cfg: XLMRConfig, num_labels: int, rngs: nnx.Rngs):
    del num_labels  # the vocabulary
    self.dense = Dense(cfg.hidden_size, cfg.hidden_size, ("embed", "mlp_pooler"), cfg, rngs)
    self.layer_norm = LayerNorm(cfg.hidden_size, cfg)
    self.bias = nnx.Param(jnp.zeros((cfg.vocab_size,), cfg.param_dtype), logical_axes=("vocab",))

  def __call__(self, out: EncoderOutput, dropout: Dropout, encoder: XLMREncoder) -> jax.Array:
    del dropout
    x = self.layer_norm(jax.nn.gelu(self.dense(out.last_hidden_state), approximate=False))
    # The decoder *is* the word embedding matrix (tied), so it is read from the encoder.
    return encoder.embeddings.word_embeddings.attend(x) + self.bias[...].astype(x.dtype)


# The built-in heads by kind name; `kinds.register_kind` adds a new kind's head here.
HEAD_TYPES: dict[str, type[Head]] = {
    "classification": ClassificationHead,
    "multiple_choice": MultipleChoiceHead,
    "tagging": TaggingHead,
    "span_qa": SpanQAHead,
    "mlm": MaskedLMHead,
}


def make_head(head_type: str, cfg: XLMRConfig, num_labels: int, rngs: nnx.Rngs) -> nnx.Module:
  if head_type not in HEAD_TYPES:
    raise ValueError(f"unknown head type {head_type!r}; expected one of {sorted(HEAD_TYPES)}.")
  return HEAD_TYPES[head_type](cfg, num_labels, rngs)


class TaskModel(nnx.Module):
  """A shared XLM-R encoder plus named heads: `model(head_name, input_ids, attention_mask)`.

  `heads` maps a head name (usually the task name) to `(head_type, num_labels)`; use
  `hf_io.attach_heads` to create them sharded next to a loaded encoder. Multiple-choice
  inputs are `[B, C, T]`; the choices are folded into the batch for the encoder and unfolded in
  the logits, as transformers does.
  """

  def __init__(self, cfg: XLMRConfig, heads: dict[str, tuple[str, int]], *, rngs: nnx.Rngs,
               encoder: XLMREncoder | None = None,
               head_modules: dict[str, nnx.Module] | None = None):
    if not heads:
      raise ValueError("TaskModel needs at least one head.")
    needs_pooler = any(HEAD_TYPES[t].uses_pooler for t, _ in heads.values() if t in HEAD_TYPES)
    self.cfg = cfg
    self.encoder = encoder if encoder is not None else XLMREncoder(
        cfg, rngs=rngs, add_pooler=needs_pooler)
    if needs_pooler and self.encoder.pooler is None:
      users = sorted(t for t, _ in heads.values() if HEAD_TYPES[t].uses_pooler)
      raise ValueError(f"a {'/'.join(users)} head needs the encoder's pooler, but the encoder "
                       f"has none (its checkpoint had no pooler weights).")
    # Frozen (hashable), so the graphdef is too: jitted steps are cached per model structure.
    self.head_types = FrozenDict({name: t for name, (t, _) in heads.items()})
    # Prebuilt `head_modules` (loaded or created sharded) are used as they are.
    head_modules = head_modules or {}
    self.heads = nnx.Dict({name: head_modules.get(name) or make_head(t, cfg, n, rngs)
                           for name, (t, n) in heads.items()})

  def __call__(self, head: str, input_ids: jax.Array, attention_mask: jax.Array | None = None,
               *, dropout_rng: jax.Array | None = None, segment_ids: jax.Array | None = None,
               cls_positions: jax.Array | None = None):
    """Logits of `head`. Packed rows (several examples per row) pass `segment_ids` [B, T]; packed
    classification also passes `cls_positions` [B, S], each example's `<s>` index, and gets
    logits [B, S, L]."""
    if head not in self.heads:
      raise KeyError(f"no head named {head!r}; this model has {sorted(self.heads)}.")
    head_cls = HEAD_TYPES[self.head_types[head]]
    choice_shape = None
    if head_cls.folds_choices:
      if input_ids.ndim != 3:
        raise ValueError(f"{self.head_types[head]} inputs must be [batch, choices, length]; got "
                         f"{input_ids.shape}.")
      choice_shape = input_ids.shape[:2]
      input_ids = input_ids.reshape(-1, input_ids.shape[-1])
      if attention_mask is not None:
        attention_mask = attention_mask.reshape(-1, attention_mask.shape[-1])
    out = self.encoder(input_ids, attention_mask, dropout_rng=dropout_rng,
                       segment_ids=segment_ids)
    dropout = Dropout(None if dropout_rng is None else jax.random.fold_in(dropout_rng, 1 << 20))
    if cls_positions is not None:
      if not head_cls.packable:
        packable = sorted(t for t, c in HEAD_TYPES.items() if c.packable)
        raise ValueError(f"cls_positions (packed examples) apply to {'/'.join(packable)} heads; "
                         f"{head!r} is {self.head_types[head]}.")
      b, s = cls_positions.shape
      firsts = jnp.take_along_axis(out.last_hidden_state, cls_positions[..., None], axis=1)
      out = EncoderOutput(last_hidden_state=firsts.reshape(b * s, 1, -1), pooler_output=None,
                          hidden_states=None)
      return self.heads[head](out, dropout, self.encoder).reshape(b, s, -1)
    logits = self.heads[head](out, dropout, self.encoder)
    if choice_shape is not None:
      logits = logits.reshape(choice_shape)
    return logits

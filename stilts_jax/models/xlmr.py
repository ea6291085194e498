"""The XLM-R encoder in flax.nnx, numerically the model of transformers' `XLMRobertaModel`.

Post-LN RoBERTa: embeddings (word + RoBERTa positions + token type, LayerNorm), N blocks of
self-attention and an exact-GELU MLP, each followed by residual + LayerNorm, and a tanh pooler on
`<s>`. Every parameter carries `logical_axes` metadata (vocab, embed, mlp, heads) that
`stilts_jax.sharding` maps to mesh axes, so the same module runs on one device or a pod.

Parameter names mirror the Hugging Face checkpoint (`hf_io.py` maps one to the other): a
`kernel` is the transposed torch `weight` (in, out), `scale` is a LayerNorm `weight`, `embedding`
an embedding `weight`.
"""

from __future__ import annotations

import math

import flax.struct
import jax
import jax.numpy as jnp
from flax import nnx

from stilts_jax.models import splash
from stilts_jax.models.config import XLMRConfig

# What each remat policy keeps for backward (config.REMAT_POLICIES); None = nothing but the
# block's input.
_SAVEABLE = {"block": None, "dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable}
_INIT_STD = 0.02  # BERT/RoBERTa initializer_range; fresh heads and random models use it


class Dense(nnx.Module):
  """y = x @ kernel + bias, computed in `cfg.dtype` from `cfg.param_dtype` storage."""

  def __init__(self, in_features: int, out_features: int, axes: tuple[str | None, str | None],
               cfg: XLMRConfig, rngs: nnx.Rngs):
    init = jax.nn.initializers.normal(_INIT_STD)
    self.kernel = nnx.Param(init(rngs.params(), (in_features, out_features), cfg.param_dtype),
                            logical_axes=axes)
    self.bias = nnx.Param(jnp.zeros((out_features,), cfg.param_dtype), logical_axes=(axes[1],))
    self.dtype = cfg.dtype

  def __call__(self, x: jax.Array) -> jax.Array:
    x = x.astype(self.dtype)
    return jnp.dot(x, self.kernel[...].astype(self.dtype)) + self.bias[...].astype(self.dtype)


class Embed(nnx.Module):

  def __init__(self, num: int, features: int, axes: tuple[str | None, str | None],
               cfg: XLMRConfig, rngs: nnx.Rngs, padding_idx: int | None = None):
    init = jax.nn.initializers.normal(_INIT_STD)
    self.embedding = nnx.Param(init(rngs.params(), (num, features), cfg.param_dtype),
                               logical_axes=axes)
    self.dtype = cfg.dtype
    self.padding_idx = padding_idx

  def __call__(self, ids: jax.Array) -> jax.Array:
    out = jnp.take(self.embedding[...], ids, axis=0)
    if self.padding_idx is not None:
      # transformers' nn.Embedding(padding_idx=...): the padding row is read but never trained.
      # It matters for span QA, whose softmax spans padded positions (tests/test_loss_parity.py).
      out = jnp.where((ids == self.padding_idx)[..., None], jax.lax.stop_gradient(out), out)
    return out.astype(self.dtype)

  def attend(self, x: jax.Array) -> jax.Array:
    """x @ embedding.T: the tied MLM decoder."""
    return jnp.dot(x.astype(self.dtype), self.embedding[...].astype(self.dtype).T)


class LayerNorm(nnx.Module):
  """LayerNorm with statistics in float32 whatever the compute dtype (bf16 variance is too coarse)."""

  def __init__(self, features: int, cfg: XLMRConfig):
    self.scale = nnx.Param(jnp.ones((features,), cfg.param_dtype), logical_axes=("norm",))
    self.bias = nnx.Param(jnp.zeros((features,), cfg.param_dtype), logical_axes=("norm",))
    self.eps = cfg.layer_norm_eps
    self.dtype = cfg.dtype

  def __call__(self, x: jax.Array) -> jax.Array:
    x32 = x.astype(jnp.float32)
    mean = x32.mean(-1, keepdims=True)
    var = jnp.square(x32 - mean).mean(-1, keepdims=True)
    y = (x32 - mean) * jax.lax.rsqrt(var + self.eps)
    y = y * self.scale[...].astype(jnp.float32) + self.bias[...].astype(jnp.float32)
    return y.astype(self.dtype)


class Dropout:
  """Dropout driven by one explicit key per forward pass; `key=None` means deterministic.

  Each call site draws `fold_in(key, n)` with a trace-order counter, so one key per step (folded
  per device by the caller if wanted) gives independent masks everywhere without threading nnx
  RNG state through jit. `start` offsets the counter: block i of a scan starts where block i of
  an unrolled loop would (it may be traced), so both draw the same masks.
  """

  def __init__(self, key: jax.Array | None, start: int | jax.Array = 0):
    self.key = key
    self.count = start
    self.calls = 0  # masks drawn by this object

  @property
  def active(self) -> bool:
    return self.key is not None

  def skip(self, n: int) -> None:
    """Advances the counter past `n` masks drawn elsewhere (the scanned blocks)."""
    self.count += n

  def __call__(self, x: jax.Array, rate: float) -> jax.Array:
    if self.key is None or rate == 0.0:
      return x
    self.count += 1
    self.calls += 1
    keep, keep_prob = keep_mask(jax.random.fold_in(self.key, self.count), rate, x.shape)
    return jnp.where(keep, x / keep_prob, 0).astype(x.dtype)


DROP_LEVELS = 1 << 16  # a mask element is one 16-bit uniform: rate is met to within 2^-17


def keep_mask(key: jax.Array, rate: float, shape: tuple[int, ...]) -> tuple[jax.Array, float]:
  """(mask of `shape`, True with probability `keep_prob`) and keep_prob = 1 - rate, rounded.

  Two 16-bit uniforms per 32-bit draw, where `jax.random.bernoulli` spends one whole threefry
  evaluation on each element: half the random-number work, which was over a quarter of a small
  model's training step on the CPU (threefry is pure integer arithmetic on every backend).
  Element i of the draw is a function of its index only (`jax_threefry_partitionable`), and the
  two halves are laid side by side along the last axis, so the mask does not depend on how the
  array is sharded.
  """
  dropped = round(rate * DROP_LEVELS)
  half = (shape[-1] + 1) // 2
  bits = jax.random.bits(key, (*shape[:-1], half), jnp.uint32)
  uniform16 = jnp.concatenate([bits & 0xFFFF, bits >> 16], axis=-1)[..., :shape[-1]]
  return uniform16 >= dropped, 1.0 - dropped / DROP_LEVELS


def roberta_position_ids(input_ids: jax.Array, pad_token_id: int,
                         segment_ids: jax.Array | None = None) -> jax.Array:
  """RoBERTa positions: count real tokens from pad_token_id + 1; padding keeps pad_token_id.

  With `segment_ids` (packed rows: 1, 2, ... per example, 0 = padding) the count restarts at every
  segment, so each packed example sees exactly the positions it would see alone.
  """
  not_pad = (input_ids != pad_token_id).astype(jnp.int32)
  count = jnp.cumsum(not_pad, axis=-1)
  if segment_ids is not None:
    t = jnp.arange(input_ids.shape[-1])
    starts = jnp.concatenate([jnp.ones_like(segment_ids[:, :1], bool),
                              segment_ids[:, 1:] != segment_ids[:, :-1]], axis=-1)
    start_index = jax.lax.cummax(jnp.where(starts, t, 0), axis=1)
    before = jnp.take_along_axis(count - not_pad, start_index, axis=-1)  # real tokens before it
    count = count - before
    not_pad = not_pad * (segment_ids > 0)
  return count * not_pad + pad_token_id


class Embeddings(nnx.Module):

  def __init__(self, cfg: XLMRConfig, rngs: nnx.Rngs):
    self.cfg = cfg
    h = cfg.hidden_size
    pad = cfg.pad_token_id  # RoBERTa pads both ids and positions with it
    self.word_embeddings = Embed(cfg.vocab_size, h, ("vocab", "embed"), cfg, rngs, pad)
    self.position_embeddings = Embed(cfg.max_position_embeddings, h, (None, "embed"), cfg, rngs,
                                     pad)
    self.token_type_embeddings = Embed(cfg.type_vocab_size, h, (None, "embed"), cfg, rngs)
    self.layer_norm = LayerNorm(h, cfg)

  def __call__(self, input_ids, token_type_ids, dropout: Dropout,
               segment_ids: jax.Array | None = None) -> jax.Array:
    positions = roberta_position_ids(input_ids, self.cfg.pad_token_id, segment_ids)
    x = (self.word_embeddings(input_ids) + self.position_embeddings(positions)
         + self.token_type_embeddings(token_type_ids))
    return dropout(self.layer_norm(x), self.cfg.hidden_dropout_prob)


@flax.struct.dataclass
class AttentionMasks:
  """Who may attend to whom, in the form each kernel takes; built once per forward pass."""
  mask: jax.Array                      # [B, 1, 1 or T, T] bool, True = may attend (xla, reference)
  lengths: jax.Array | None = None     # [B] real lengths of plain right-padded rows (cuDNN)
  segments: splash.sk.SegmentIds | None = None  # query/key segment ids (splash)

  @classmethod
  def build(cls, attention_mask: jax.Array, segment_ids: jax.Array | None, kernel: str
            ) -> AttentionMasks:
    keys = attention_mask.astype(bool)
    if segment_ids is None:
      mask, lengths = keys[:, None, None, :], keys.sum(-1).astype(jnp.int32)
    else:  # packed: block-diagonal, and no lengths (they would let examples see each other)
      same = segment_ids[:, :, None] == segment_ids[:, None, :]
      mask, lengths = (same & keys[:, None, :])[:, None], None
    segments = splash.segment_ids_for(keys, segment_ids) if kernel == "splash" else None
    return cls(mask, lengths, segments)


class SelfAttention(nnx.Module):

  def __init__(self, cfg: XLMRConfig, rngs: nnx.Rngs):
    self.cfg = cfg
    h = cfg.hidden_size
    # The heads axis is the flattened (heads, head_dim) output: sharding it over `tensor` splits
    # whole heads as long as the mesh axis divides num_attention_heads.
    self.query = Dense(h, h, ("embed", "heads"), cfg, rngs)
    self.key = Dense(h, h, ("embed", "heads"), cfg, rngs)
    self.value = Dense(h, h, ("embed", "heads"), cfg, rngs)
    self.output = Dense(h, h, ("heads", "embed"), cfg, rngs)

  def __call__(self, x: jax.Array, masks: AttentionMasks, dropout: Dropout) -> jax.Array:
    cfg = self.cfg
    b, t, _ = x.shape
    split = lambda y: y.reshape(b, t, cfg.num_attention_heads, cfg.head_dim)
    q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
    rate = cfg.attention_dropout_rate
    kernel = cfg.attention_kernel()
    if kernel == "reference" or (dropout.active and rate > 0):
      # The fused kernels have no attention-probability dropout; training with it uses this path.
      out = _reference_attention(q, k, v, masks.mask, lambda p: dropout(p, rate))
    elif kernel == "splash":
      out = splash.splash_attention(q, k, v, masks.segments)
    elif kernel == "cudnn" and masks.lengths is not None:
      # cuDNN's fast path takes lengths, which assumes right padding (what our batches use).
      out = jax.nn.dot_product_attention(q, k, v, query_seq_lengths=masks.lengths,
                                         key_value_seq_lengths=masks.lengths,
                                         implementation="cudnn")
    else:  # xla everywhere; cuDNN with a packed (block-diagonal) mask
      out = jax.nn.dot_product_attention(q, k, v, mask=masks.mask, implementation=kernel)
    return self.output(out.reshape(b, t, cfg.hidden_size))


def _reference_attention(q, k, v, mask, drop_probs):
  """softmax(q k^T / sqrt(d) + mask) v with the softmax in float32."""
  scores = jnp.einsum("btnd,bsnd->bnts", q, k).astype(jnp.float32) / math.sqrt(q.shape[-1])
  scores = jnp.where(mask, scores, jnp.finfo(jnp.float32).min)
  probs = drop_probs(jax.nn.softmax(scores, axis=-1)).astype(v.dtype)
  return jnp.einsum("bnts,bsnd->btnd", probs, v)


class Layer(nnx.Module):
  """Post-LN transformer block: LN(x + Attn(x)), then LN(x + W2 gelu(W1 x))."""

  def __init__(self, cfg: XLMRConfig, rngs: nnx.Rngs):
    self.cfg = cfg
    self.attention = SelfAttention(cfg, rngs)
    self.attention_norm = LayerNorm(cfg.hidden_size, cfg)
    self.intermediate = Dense(cfg.hidden_size, cfg.intermediate_size, ("embed", "mlp"), cfg, rngs)
    self.output = Dense(cfg.intermediate_size, cfg.hidden_size, ("mlp", "embed"), cfg, rngs)
    self.output_norm = LayerNorm(cfg.hidden_size, cfg)

  @staticmethod
  def dropout_calls(cfg: XLMRConfig, active: bool) -> int:
    """Masks one block draws: attention probabilities (if that rate is on) and two hidden ones.
    The scan needs it to give block i the counter an unrolled loop would; it checks it too."""
    if not active:
      return 0
    return int(cfg.attention_dropout_rate > 0) + 2 * int(cfg.hidden_dropout_prob > 0)

  def __call__(self, x: jax.Array, masks: AttentionMasks, dropout: Dropout) -> jax.Array:
    rate = self.cfg.hidden_dropout_prob
    x = self.attention_norm(x + dropout(self.attention(x, masks, dropout), rate))
    h = jax.nn.gelu(self.intermediate(x), approximate=False)
    return self.output_norm(x + dropout(self.output(h), rate))


def stack_layers(cfg: XLMRConfig, rngs: nnx.Rngs) -> Layer:
  """`cfg.num_hidden_layers` blocks as one `Layer` whose parameters carry a leading `layers` axis.

  Why stacked: a jitted step's host cost grows with the number of arrays it takes and returns
  (~9 µs each on an H200's host, docs/performance.md §9). One array per block parameter made XLM-R
  Large's train state 1,183 arrays (10.6 ms per step); stacked, the count no longer grows with
  depth. Block i draws its initial values exactly as the i-th of N separate blocks would.
  """
  blocks = [nnx.split(Layer(cfg, rngs)) for _ in range(cfg.num_hidden_layers)]
  graphdef = blocks[0][0]

  def stack(first: nnx.Variable, *rest: nnx.Variable) -> nnx.Variable:
    axes = ("layers",) + tuple(first.get_metadata()["logical_axes"])
    value = jnp.stack([v.get_value() for v in (first, *rest)])
    return first.replace(value, logical_axes=axes)

  stacked = jax.tree.map(stack, *(state for _, state in blocks),
                         is_leaf=lambda x: isinstance(x, nnx.Variable))
  return nnx.merge(graphdef, stacked)


class Pooler(nnx.Module):

  def __init__(self, cfg: XLMRConfig, rngs: nnx.Rngs):
    self.dense = Dense(cfg.hidden_size, cfg.hidden_size, ("embed", "mlp_pooler"), cfg, rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return jnp.tanh(self.dense(x[:, 0]))


@flax.struct.dataclass
class EncoderOutput:
  last_hidden_state: jax.Array                   # [B, T, H]
  pooler_output: jax.Array | None                # [B, H], None for an encoder without pooler
  hidden_states: tuple[jax.Array, ...] | None    # num_layers + 1; index 0 = embeddings output


class XLMREncoder(nnx.Module):
  """`enc(input_ids, attention_mask)` → EncoderOutput; deterministic unless `dropout_rng` is given."""

  def __init__(self, cfg: XLMRConfig, *, rngs: nnx.Rngs, add_pooler: bool = True):
    self.cfg = cfg
    self.embeddings = Embeddings(cfg, rngs)
    self.layers = stack_layers(cfg, rngs)
    self.pooler = Pooler(cfg, rngs) if add_pooler else None

  def __call__(self, input_ids: jax.Array, attention_mask: jax.Array | None = None,
               token_type_ids: jax.Array | None = None, *, output_hidden_states: bool = False,
               dropout_rng: jax.Array | None = None,
               segment_ids: jax.Array | None = None) -> EncoderOutput:
    """Encodes `input_ids` [B, T]; `segment_ids` [B, T] (1, 2, ... per packed example, 0 = pad)
    makes attention block-diagonal and restarts positions, so packed examples never interact."""
    cfg = self.cfg
    if input_ids.ndim != 2:
      raise ValueError(f"input_ids must be [batch, length]; got shape {input_ids.shape}.")
    if input_ids.shape[1] > cfg.max_length:
      raise ValueError(f"sequence length {input_ids.shape[1]} exceeds the model's maximum "
                       f"{cfg.max_length} (max_position_embeddings - pad_token_id - 1).")
    if attention_mask is None:
      attention_mask = input_ids != cfg.pad_token_id
    if token_type_ids is None:
      token_type_ids = jnp.zeros_like(input_ids)
    masks = AttentionMasks.build(attention_mask, segment_ids, cfg.attention_kernel())
    dropout = Dropout(dropout_rng)
    x = self.embeddings(input_ids, token_type_ids, dropout, segment_ids)
    x, hidden = self._blocks(x, masks, dropout, output_hidden_states)
    pooled = self.pooler(x) if self.pooler is not None else None
    return EncoderOutput(last_hidden_state=x, pooler_output=pooled,
                         hidden_states=hidden)

  def _blocks(self, x: jax.Array, masks: AttentionMasks, dropout: Dropout, keep_hidden: bool
              ) -> tuple[jax.Array, tuple[jax.Array, ...] | None]:
    """Runs the stacked blocks over `x`: a scan over the layer axis, or the unrolled loop."""
    cfg = self.cfg
    n = cfg.num_hidden_layers
    graphdef, stacked = nnx.split(self.layers)
    per_block = Layer.dropout_calls(cfg, dropout.active)
    first = dropout.count

    def block(h, i, params):
      block_dropout = Dropout(dropout.key, start=first + i * per_block)
      out = nnx.merge(graphdef, params)(h, masks, block_dropout)
      if block_dropout.calls != per_block:  # trace time: Layer.dropout_calls is out of date
        raise AssertionError(f"a block drew {block_dropout.calls} dropout masks, "
                             f"Layer.dropout_calls says {per_block}.")
      return out

    if cfg.remat_policy != "none":
      # Recompute in backward what the policy does not keep (long sequences on small-HBM
      # chips). Dropout masks come from the same keys, so gradients are unchanged.
      block = jax.checkpoint(block, policy=_SAVEABLE[cfg.remat_policy],
                             prevent_cse=not cfg.scan_layers)
    hidden = [x]
    # With hidden states wanted (retrieval reads one layer), the unrolled loop lets XLA drop the
    # blocks after the one read; a scan would run them all and keep every output.
    if cfg.scan_layers and not keep_hidden:
      x, _ = jax.lax.scan(lambda h, xs: (block(h, *xs), None), x, (jnp.arange(n), stacked))
    else:
      for i in range(n):
        x = block(x, i, jax.tree.map(lambda a, i=i: a[i], stacked))
        hidden.append(x)
    dropout.skip(n * per_block)
    return x, (tuple(hidden) if keep_hidden else None)

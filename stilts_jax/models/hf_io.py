"""Hugging Face checkpoints in and out: `load_encoder`, `load_task_model`, `export_encoder`.

Loading builds the model *abstractly* (shapes and logical axes only), computes every parameter's
sharding on the mesh, and fills each shard straight from the (memory-mapped) checkpoint with
`jax.make_array_from_callback`: no device and no host ever holds a full unsharded copy made by us.

Every tensor is accounted for. A model parameter with no tensor, a tensor of the wrong shape, or a
checkpoint tensor that is neither used, nor a known head we were told to drop, nor a known buffer,
is an error listing all of them.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding

from stilts_jax import sharding as shd
from stilts_jax.models.checkpoint_files import (CheckpointError, WeightReader, open_weights,
                                                resolve_checkpoint, write_safetensors)
from stilts_jax.models.config import XLMRConfig
from stilts_jax.models import splash
from stilts_jax.models.heads import HEAD_TYPES, TaskModel, make_head
from stilts_jax.models.xlmr import XLMREncoder

log = logging.getLogger(__name__)

# Our module path inside a block → the transformers module path inside `encoder.layer.{i}`.
_LAYER_MODULES = {
    ("attention", "query"): "attention.self.query",
    ("attention", "key"): "attention.self.key",
    ("attention", "value"): "attention.self.value",
    ("attention", "output"): "attention.output.dense",
    ("attention_norm",): "attention.output.LayerNorm",
    ("intermediate",): "intermediate.dense",
    ("output",): "output.dense",
    ("output_norm",): "output.LayerNorm",
}
# Our leaf → (torch leaf, whether the torch tensor is the transpose of ours).
_LEAVES = {"kernel": ("weight", True), "bias": ("bias", False), "scale": ("weight", False),
           "embedding": ("weight", False)}
# A stacked block parameter (leading `layers` axis) is one torch tensor per block: its name holds
# this placeholder for the block index.
LAYER = "{layer}"
_HEAD_PREFIXES = ("classifier.", "qa_outputs.", "lm_head.")
# Non-parameters some checkpoints carry: a position-id buffer and the tied MLM decoder.
_IGNORED = ("embeddings.position_ids", "lm_head.decoder.weight")


def _encoder_module(path: tuple) -> str:
  if path[0] == "embeddings":
    return "embeddings." + {"layer_norm": "LayerNorm"}.get(path[1], path[1])
  if path[0] == "pooler":
    return "pooler.dense"
  if path[0] == "layers" and tuple(path[1:]) in _LAYER_MODULES:
    return f"encoder.layer.{LAYER}.{_LAYER_MODULES[tuple(path[1:])]}"
  raise KeyError(f"no Hugging Face name for encoder module {path}")


def _torch_name(module: str, leaf: str) -> tuple[str, bool]:
  torch_leaf, transpose = _LEAVES[leaf]
  return (f"{module}.{torch_leaf}" if module else torch_leaf), transpose


def encoder_name_map(state: nnx.State) -> dict[tuple, tuple[str, bool]]:
  """{our param path: (transformers XLMRobertaModel name, transpose)} for an encoder state; the
  name of a stacked block parameter holds `LAYER` (see `torch_names`)."""
  return {path: _torch_name(_encoder_module(path[:-1]), path[-1])
          for path, _ in nnx.to_flat_state(state)}


def torch_names(name: str, shape: tuple[int, ...]) -> list[str]:
  """The torch tensors behind one of our parameters: one, or one per block of a stacked one."""
  if LAYER not in name:
    return [name]
  return [name.format(layer=i) for i in range(shape[0])]


def architectures() -> dict[str, str]:
  """{transformers `architectures` name: our head type}, from the heads' own declarations."""
  return {cls.hf_architecture: t for t, cls in HEAD_TYPES.items() if cls.hf_architecture}


def head_name_map(state: nnx.State, head_type: str) -> dict[tuple, tuple[str, bool]]:
  modules = HEAD_TYPES[head_type].hf_modules
  return {path: _torch_name(modules[tuple(path[:-1])], path[-1])
          for path, _ in nnx.to_flat_state(state)}


def _canonical_names(reader: WeightReader) -> dict[str, str]:
  """{canonical name: name in the file}: strips the task models' `roberta.` prefix, maps legacy
  LayerNorm gamma/beta to weight/bias, and `lm_head.decoder.bias` to its alias `lm_head.bias`."""
  out: dict[str, str] = {}
  for name in reader.keys():
    canon = name.removeprefix("roberta.")
    if canon.endswith(".gamma") or canon.endswith(".beta"):
      canon = canon.rsplit(".", 1)[0] + (".weight" if canon.endswith(".gamma") else ".bias")
    if canon == "lm_head.decoder.bias":
      if "lm_head.bias" in reader.keys():
        continue
      canon = "lm_head.bias"
    if canon in out:
      raise CheckpointError(f"{reader.source} holds both {out[canon]} and {name}, which are the "
                            "same tensor; remove one.")
    out[canon] = name
  return out


def _single_device_mesh() -> Mesh:
  return shd.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, devices=jax.devices()[:1])


def _materialize(abs_state: nnx.State, name_map: dict, reader: WeightReader,
                 canon: dict[str, str], mesh: Mesh, rules: shd.Rules, param_dtype: Any,
                 what: str) -> nnx.State:
  """Fills every parameter of `abs_state` from the checkpoint, directly into its shards."""
  flat = list(nnx.to_flat_state(abs_state))
  missing, mismatched = [], []
  for path, var in flat:
    name, transpose = name_map[path]
    names = torch_names(name, var.shape)
    shape = var.shape[1:] if LAYER in name else var.shape
    expected = tuple(shape[::-1] if transpose else shape)
    for n in names:
      if n not in canon:
        missing.append(n)
      elif reader.shape(canon[n]) != expected:
        mismatched.append(f"{canon[n]}: checkpoint {reader.shape(canon[n])}, model expects "
                          f"{expected}")
  if missing or mismatched:
    lines = [f"{reader.source} does not fit the {what}:"]
    if missing:
      lines.append(f"  missing tensors ({len(missing)}): {', '.join(missing)}")
    if mismatched:
      lines.append(f"  wrongly shaped tensors ({len(mismatched)}): {'; '.join(mismatched)}")
      lines.append("  (is config.json — vocab_size, hidden_size, ... — the one saved with these "
                   "weights?)")
    raise CheckpointError("\n".join(lines))

  specs = dict(nnx.to_flat_state(shd.state_specs(abs_state, mesh, rules)))
  values = []
  for path, var in flat:
    name, transpose = name_map[path]

    def read(source: str, index: tuple, transpose=transpose) -> np.ndarray:
      a = reader.read(source, tuple(index[::-1]) if transpose else tuple(index))
      return np.asarray(a.T if transpose else a).astype(param_dtype)

    def read_shard(index, name=name, shape=var.shape):
      if LAYER not in name:
        return read(canon[name], index)
      # A stacked parameter's shard: its blocks' tensors, each read at the shard's window.
      blocks = range(shape[0])[index[0]]
      return np.stack([read(canon[name.format(layer=i)], index[1:]) for i in blocks])

    sharding = NamedSharding(mesh, specs[path].get_value())
    values.append((path, var.replace(
        jax.make_array_from_callback(var.shape, sharding, read_shard))))
  return nnx.from_flat_state(values)


def _used(name_map: dict, abs_state: nnx.State) -> set[str]:
  return {n for path, var in nnx.to_flat_state(abs_state)
          for n in torch_names(name_map[path][0], var.shape)}


def _unexpected(canon: dict[str, str], used: set[str], keep_heads: bool) -> tuple[list, list]:
  leftover = sorted(set(canon) - used - set(_IGNORED))
  heads = [n for n in leftover if n.startswith(_HEAD_PREFIXES)]
  other = [n for n in leftover if not n.startswith(_HEAD_PREFIXES)]
  return (heads if keep_heads else []) + other, ([] if keep_heads else heads)


def _read_config(directory: str, **options) -> XLMRConfig:
  with open(os.path.join(directory, "config.json")) as f:
    return XLMRConfig.from_hf_dict(json.load(f), **options)


def load_tokenizer(name_or_path: str):
  """XLM-R's tokenizer from a local directory or the Hub (the same classes AutoTokenizer picks).

  Named, not `AutoTokenizer`: AutoTokenizer imports transformers' config machinery, which imports
  torch whenever it is installed (3 s a launch, for nothing: the model is ours)."""
  from transformers import XLMRobertaTokenizer
  try:
    return XLMRobertaTokenizer.from_pretrained(name_or_path)
  except (OSError, ValueError) as e:
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise CheckpointError(f"cannot load the tokenizer {name_or_path!r}: {first} Give a local "
                          "tokenizer directory with --config.model.tokenizer=DIR.") from None


def check_tokenizer(tokenizer, cfg: XLMRConfig) -> None:
  """Raises unless every id `tokenizer` can produce indexes the model's embedding table."""
  if len(tokenizer) > cfg.vocab_size:
    raise CheckpointError(f"tokenizer has {len(tokenizer)} tokens but the model's vocab_size is "
                          f"{cfg.vocab_size}: ids >= {cfg.vocab_size} would index past the "
                          "embedding table. Use the tokenizer saved with this checkpoint.")
  if tokenizer.pad_token_id != cfg.pad_token_id:
    raise CheckpointError(f"tokenizer pad id {tokenizer.pad_token_id} != model pad_token_id "
                          f"{cfg.pad_token_id}; position ids would be wrong.")


def _open(name_or_path, revision, cache_dir, options) -> tuple[XLMRConfig, WeightReader, dict]:
  directory = resolve_checkpoint(name_or_path, revision=revision, cache_dir=cache_dir)
  cfg = _read_config(directory, **options)
  splash.check_backend(cfg.attention_kernel())  # before any weights are read
  reader = open_weights(directory)
  return cfg, reader, _canonical_names(reader)


def _load_encoder(cfg, reader, canon, mesh, rules, add_pooler) -> tuple[XLMREncoder, set[str]]:
  has_pooler = "pooler.dense.weight" in canon
  if add_pooler is None:
    add_pooler = has_pooler
    if not has_pooler:
      log.info("%s has no pooler (e.g. a sequence-classification checkpoint): the encoder is "
               "built without one.", reader.source)
  graphdef, abs_state = shd.abstract_model(
      lambda: XLMREncoder(cfg, rngs=nnx.Rngs(0), add_pooler=add_pooler))
  names = encoder_name_map(abs_state)
  state = _materialize(abs_state, names, reader, canon, mesh, rules, cfg.param_dtype,
                       "XLM-R encoder")
  return nnx.merge(graphdef, state), _used(names, abs_state)


def load_encoder(name_or_path: str | os.PathLike, *, dtype: Any = jnp.float32,
                 param_dtype: Any = jnp.float32, attention: str = "xla", remat: bool | str = False,
                 attention_dropout: float | None = None,
                 mesh: Mesh | None = None, rules: shd.Rules = shd.FSDP_RULES,
                 add_pooler: bool | None = None, keep_heads: bool = False,
                 tokenizer=None, revision: str | None = None,
                 cache_dir: str | None = None) -> XLMREncoder:
  """The XLM-R encoder of a Hub id or local HF checkpoint directory, sharded over `mesh`.

  Args:
    name_or_path: e.g. "xlm-roberta-large", "FacebookAI/xlm-roberta-base", or a directory with
      config.json + model.safetensors (sharded, flax_model.msgpack and pytorch_model.bin too).
    dtype: compute dtype (bf16 for speed); param_dtype: storage (fp32 master weights).
    attention: "xla" (jax.nn.dot_product_attention, everywhere), "cudnn" (fused, GPU),
      "splash" (Pallas, TPU), "auto" (the platform's fused kernel) or "reference" (explicit
      softmax). Training with attention dropout > 0 always runs the reference path.
    remat: recomputation in backward for long sequences on small-memory chips: True/"block"
      (least memory) or "dots" (keeps the matmul outputs); see config.REMAT_POLICIES.
    attention_dropout: training-time attention-probability dropout (None: the checkpoint's);
      0 lets training use the fused kernels, at the price of a recipe change.
    mesh: device mesh (default: the first device alone); rules: logical-axis rules.
    add_pooler: None = load the pooler iff the checkpoint has one.
    keep_heads: a task-model checkpoint's head tensors are dropped (and logged) by default;
      True makes them an error, for callers that must not lose a head silently.
    tokenizer: if given, checked against the model's vocabulary and padding id.
  """
  cfg, reader, canon = _open(name_or_path, revision, cache_dir, dict(
      dtype=dtype, param_dtype=param_dtype, attention=attention, remat=remat,
      attention_dropout=attention_dropout))
  encoder, used = _load_encoder(cfg, reader, canon, mesh or _single_device_mesh(), rules,
                                add_pooler)
  unexpected, dropped = _unexpected(canon, used, keep_heads)
  if unexpected:
    raise CheckpointError(f"{reader.source} has tensors the encoder does not use: "
                          f"{', '.join(unexpected)}.")
  if dropped:
    log.info("dropped %d head tensors of %s: %s", len(dropped), reader.source, dropped)
  if tokenizer is not None:
    check_tokenizer(tokenizer, cfg)
  return encoder


def attach_heads(encoder: XLMREncoder, heads: dict[str, tuple[str, int]], *,
                 mesh: Mesh | None = None, rules: shd.Rules = shd.FSDP_RULES,
                 seed: int = 0) -> TaskModel:
  """A TaskModel of `encoder` plus freshly initialised heads, created directly sharded."""
  mesh = mesh or _single_device_mesh()
  hashable = tuple((n, tuple(a) if isinstance(a, list) else a) for n, a in rules)  # cache key
  modules = {}
  for i, (name, (head_type, num_labels)) in enumerate(sorted(heads.items())):
    modules[name] = _head_initializer(head_type, encoder.cfg, num_labels, mesh, hashable)(
        jax.random.key(seed + i))
  return TaskModel(encoder.cfg, heads, rngs=nnx.Rngs(seed), encoder=encoder, head_modules=modules)


@functools.lru_cache(maxsize=64)
def _head_initializer(head_type: str, cfg: XLMRConfig, num_labels: int, mesh: Mesh,
                      rules: shd.Rules) -> Callable[[jax.Array], nnx.Module]:
  """One jitted initializer per (head shape, mesh): every later phase's fresh head of that shape
  runs the same program (`sharding.create_sharded` would compile a new one per call)."""
  return shd.sharded_initializer(
      lambda key: make_head(head_type, cfg, num_labels, nnx.Rngs(key)), mesh, rules)


def load_task_model(name_or_path: str | os.PathLike, head_name: str = "task", *,
                    head_type: str | None = None, mesh: Mesh | None = None,
                    rules: shd.Rules = shd.FSDP_RULES, dtype: Any = jnp.float32,
                    param_dtype: Any = jnp.float32, attention: str = "xla",
                    revision: str | None = None, cache_dir: str | None = None) -> TaskModel:
  """Encoder *and* head of a transformers `XLMRobertaFor…` checkpoint (head type from
  config.json's `architectures` unless given)."""
  cfg, reader, canon = _open(name_or_path, revision, cache_dir,
                             dict(dtype=dtype, param_dtype=param_dtype, attention=attention))
  if head_type is None:
    with open(os.path.join(os.path.dirname(reader.source), "config.json")) as f:
      archs = json.load(f).get("architectures") or []
    known = architectures()
    found = [known[a] for a in archs if a in known]
    if not found:
      raise CheckpointError(f"config.json architectures={archs} name no XLM-R task model; pass "
                            f"head_type= one of {sorted(known.values())}.")
    head_type = found[0]
  if head_type not in HEAD_TYPES or not HEAD_TYPES[head_type].hf_architecture:
    raise ValueError(f"unknown head type {head_type!r}; expected one of "
                     f"{sorted(architectures().values())}.")
  mesh = mesh or _single_device_mesh()
  encoder, used = _load_encoder(cfg, reader, canon, mesh, rules,
                                add_pooler=True if HEAD_TYPES[head_type].uses_pooler else None)
  num_labels = _num_labels(head_type, reader, canon, cfg)
  graphdef, abs_state = shd.abstract_model(lambda: make_head(head_type, cfg, num_labels,
                                                             nnx.Rngs(0)))
  names = head_name_map(abs_state, head_type)
  head = nnx.merge(graphdef, _materialize(abs_state, names, reader, canon, mesh, rules,
                                          cfg.param_dtype, f"{head_type} head"))
  unexpected, _ = _unexpected(canon, used | _used(names, abs_state), keep_heads=True)
  if unexpected:
    raise CheckpointError(f"{reader.source} has tensors the {head_type} model does not use: "
                          f"{', '.join(unexpected)}.")
  return TaskModel(cfg, {head_name: (head_type, num_labels)}, rngs=nnx.Rngs(0), encoder=encoder,
                   head_modules={head_name: head})


def _num_labels(head_type: str, reader: WeightReader, canon: dict[str, str], cfg) -> int:
  weight = HEAD_TYPES[head_type].hf_label_weight
  if weight is None:
    return HEAD_TYPES[head_type].fixed_labels(cfg)
  if weight not in canon:
    raise CheckpointError(f"{reader.source} has no {weight}; it is not a {head_type} checkpoint.")
  return reader.shape(canon[weight])[0]


# ----------------------------------------------------------------------------------------------
# Export


def _export_tensors(state: nnx.State, name_map: dict, dtype: Any, prefix: str = ""):
  for path, var in nnx.to_flat_state(state):
    name, transpose = name_map[path]
    a = shd.host_array(var.get_value())  # collective on multi-host: every process calls it
    names = torch_names(name, a.shape)
    for n, block in zip(names, a if LAYER in name else [a]):
      yield prefix + n, (block.T if transpose else block).astype(dtype or block.dtype)


def _write(out_dir: str, config: dict, tensors) -> None:
  tensors = list(tensors)
  if jax.process_index() != 0:
    return
  if "://" in out_dir:  # gs:// and friends: write locally, then copy through etils.epath
    import tempfile
    from etils import epath
    with tempfile.TemporaryDirectory() as tmp:
      _write(tmp, config, tensors)
      dest = epath.Path(out_dir)
      dest.mkdir(parents=True, exist_ok=True)
      for name in ("model.safetensors", "config.json"):
        epath.Path(tmp, name).copy(dest / name, overwrite=True)
    return
  os.makedirs(out_dir, exist_ok=True)
  write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors)
  with open(os.path.join(out_dir, "config.json"), "w") as f:
    json.dump(config, f, indent=2, sort_keys=True)


def export_encoder(encoder: XLMREncoder, out_dir: str | os.PathLike, *,
                   dtype: Any = None) -> None:
  """Writes `save_pretrained`'s layout; `transformers.XLMRobertaModel.from_pretrained(out_dir)`
  loads it unchanged. `dtype` casts the weights (default: the parameters' own dtype)."""
  state = nnx.state(encoder)
  config = encoder.cfg.replace(param_dtype=dtype or encoder.cfg.param_dtype).to_hf_dict()
  _write(os.fspath(out_dir), config, _export_tensors(state, encoder_name_map(state), dtype))


def export_task_model(model: TaskModel, out_dir: str | os.PathLike, head: str | None = None, *,
                      dtype: Any = None) -> None:
  """Encoder + one head as the matching transformers `XLMRobertaFor…` checkpoint."""
  if head is None:
    if len(model.heads) != 1:
      raise ValueError(f"model has heads {sorted(model.heads)}; name the one to export.")
    head = next(iter(model.heads))
  head_type = model.head_types[head]
  arch = HEAD_TYPES[head_type].hf_architecture
  if not arch:
    raise ValueError(f"a {head_type} head has no transformers model to export to.")
  enc_state, head_state = nnx.state(model.encoder), nnx.state(model.heads[head])
  config = model.cfg.replace(param_dtype=dtype or model.cfg.param_dtype).to_hf_dict()
  config["architectures"] = [arch]
  if HEAD_TYPES[head_type].hf_label_weight:  # transformers' label maps, as save_pretrained
    n = _num_labels(head_type, *_reader_for(head_state, head_type), model.cfg)
    config["id2label"] = {str(i): f"LABEL_{i}" for i in range(n)}
    config["label2id"] = {f"LABEL_{i}": i for i in range(n)}
  tensors = list(_export_tensors(enc_state, encoder_name_map(enc_state), dtype, "roberta."))
  tensors += list(_export_tensors(head_state, head_name_map(head_state, head_type), dtype))
  _write(os.fspath(out_dir), config, tensors)


def _reader_for(head_state: nnx.State, head_type: str) -> tuple[WeightReader, dict[str, str]]:
  """A shape-only view of a head's state under its torch names (to read num_labels)."""
  names = head_name_map(head_state, head_type)
  arrays = {names[p][0]: np.empty(v.shape[::-1] if names[p][1] else v.shape, np.int8)
            for p, v in nnx.to_flat_state(head_state)}
  return WeightReader(arrays, "model"), {k: k for k in arrays}

"""The offline demo's assets: data, tokenizer and a tiny "pretrained" XLM-R, built once per workdir.

Nothing is downloaded. `prepare` writes learnable multilingual data in the Hub schemas
(`demo.data`), trains a sentencepiece tokenizer on it (`demo.tokenizer.build_tokenizer`),
creates a tiny randomly initialised XLM-R and saves it as a Hugging Face checkpoint with
`export_encoder`; the pipeline then loads all of it through the same code paths as a real run
(`load_encoder`, `load_tokenizer`, `load_examples`). The model is random, not pretrained: the demo shows the pipeline
learning and transferring through shared sub-vocabulary, not XTREME-level numbers.
"""

from __future__ import annotations

import hashlib
import json
import os

import jax
from etils import epath
from flax import nnx

from stilts_jax import paths
from stilts_jax.demo.data import demo_texts, write_demo_data
from stilts_jax.models import XLMRConfig, XLMREncoder, export_encoder, load_tokenizer
from stilts_jax.demo.tokenizer import build_tokenizer


def assets_dir(workdir: str | epath.Path) -> epath.Path:
  """WORKDIR/demo_assets for a local workdir. For a gs:// workdir a local directory keyed by it:
  transformers reads tokenizers and the data loaders read files only from local disk (a real run
  gets them from the Hub cache, also local)."""
  workdir = paths.resolve(workdir)
  if not paths.is_url(workdir):
    return workdir / "demo_assets"
  key = hashlib.sha256(os.fspath(workdir).encode()).hexdigest()[:16]
  return epath.Path(paths.user_cache_dir()) / "demo_assets" / key


def prepare(config, workdir: str | epath.Path) -> None:
  """Builds (or reuses) the demo assets (`assets_dir`) and points `config` at them."""
  assets = assets_dir(workdir)
  model_dir, overrides_file = assets / "model", assets / "overrides.json"
  if jax.process_index() == 0 and not overrides_file.exists():
    overrides = write_demo_data(str(assets / "data"), seed=config.seed)
    build_tokenizer(str(model_dir), demo_texts(overrides), vocab_size=config.demo_model.vocab_size)
    vocab = len(load_tokenizer(str(model_dir)))
    m = config.demo_model
    cfg = XLMRConfig(vocab_size=vocab, hidden_size=m.hidden_size,
                     num_hidden_layers=m.num_hidden_layers,
                     num_attention_heads=m.num_attention_heads,
                     intermediate_size=m.intermediate_size,
                     max_position_embeddings=m.max_position_embeddings)
    export_encoder(XLMREncoder(cfg, rngs=nnx.Rngs(config.seed)), str(model_dir))
    overrides_file.write_text(json.dumps(overrides, indent=1))  # written last: marks completion
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    multihost_utils.sync_global_devices("stilts_jax.demo.prepare")
  config.model.name = str(model_dir)
  # The demo's files fill the sources the user left empty; one set explicitly (or by
  # data.xtreme_dir, already resolved) is kept.
  with config.data.overrides.unlocked():
    for source, path in json.loads(overrides_file.read_text()).items():
      if not config.data.overrides.get(source):
        config.data.overrides[source] = path

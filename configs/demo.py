"""The offline demo: the whole X-STILTs grid in miniature, on a 2-core CPU, in a few minutes.

  stilts-jax --config=configs/demo.py --workdir=runs/demo

Two intermediate settings (none = the baseline, mnli) × four target tasks of every type (xnli pair
classification, panx tagging, xquad span QA, tatoeba retrieval), each evaluated zero-shot on
several languages. Data, tokenizer and a tiny random "pretrained" XLM-R are generated into
WORKDIR/demo_assets (see stilts_jax/demo.py) and loaded through the real loaders.
"""

import ml_collections

from configs import base

TARGETS = ("xnli", "panx", "xquad", "tatoeba")


def get_config(arg: str = ""):
  del arg
  c = base.get_config()
  c.demo = True
  c.model.dtype = "float32"
  c.demo_model = ml_collections.ConfigDict(dict(
      vocab_size=800, hidden_size=96, num_hidden_layers=2, num_attention_heads=4,
      intermediate_size=192, max_position_embeddings=130))
  c.mesh = ml_collections.ConfigDict(dict(data=1, fsdp=-1, tensor=1))
  c.intermediates = ("none", "mnli")
  c.targets = TARGETS
  c.data.buckets = (32, 64, 128)
  c.retrieval.layer = 2  # the tiny model's last layer (it has 2)
  c.eval.splits = ("validation", "test")
  from stilts_jax.demo.data import DEMO_LANGUAGES
  # Only the demo targets' languages are narrowed: the other targets keep their keys, so
  # --config.targets may add one whose data comes from elsewhere (data.xtreme_dir).
  c.eval.languages.update({t: ",".join(DEMO_LANGUAGES[t]) for t in TARGETS})
  # A random-init model needs a far larger learning rate than fine-tuning XLM-R (1e-5).
  c.intermediate_train = base.phase(epochs=3, batch_size=32, max_length=64)
  c.intermediate_train.update(learning_rate=1e-3, eval_every_steps=50, log_every_steps=10,
                              eval_subset=200, patience=5, checkpoint_every_steps=50,
                              eval_batch_size=64)
  epochs = {"xnli": 4.0, "panx": 2.0, "xquad": 4.0, "tatoeba": 0.0}
  for target in TARGETS:
    hp = c.target_train[target]
    hp.update(learning_rate=1e-3, epochs=epochs[target], batch_size=32,
              max_length=128 if target == "xquad" else 64, eval_every_steps=40, log_every_steps=10, eval_subset=200, patience=5,
              checkpoint_every_steps=40, eval_batch_size=64)
  return c

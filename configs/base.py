"""Defaults for every stilts-jax run: the paper's hyperparameters (jiant's X-STILTs setup).

Phase hyperparameters follow `shared/reference/paper.md` §1: lr 1e-5, warmup 10 %, linear decay,
AdamW (wd 0.01), clip 1.0; per target: XNLI 2 epochs / batch 32, PAWS-X 5 / 32, UD-POS 10 / 32,
PAN-X 10 / 32, XQuAD / MLQA / TyDiQA 2 / 16; evaluate every 1000 steps on 500 English dev examples,
early stop after 30 evaluations without improvement; retrieval from layer 14, mean pooled.
The paper's intermediate-phase epochs are not published; 2 epochs at batch 32 is our default.

`batch_size` is the effective (global) batch; `grad_accum` splits it into micro-batches when a
device cannot hold it (jiant used 4 × 8 on one GPU; a TPU slice runs 32 × 1).
"""

import ml_collections
from ml_collections import config_dict

from stilts_jax.tasks import benchmark_tasks, get_task, list_override_keys

# The task lists come from the task registry (TaskSpec.benchmark), as in the report.
TARGETS = benchmark_tasks("xtreme")
INTERMEDIATES = benchmark_tasks("x-stilts")
# The paper's alternatives: machine-translated intermediate data (MNLI via XNLI translate-train;
# user-provided translated SQuAD), usable with a language set (intermediate_languages).
TRANSLATED_INTERMEDIATES = benchmark_tasks("x-stilts-translated")
XTREME_R_TARGETS = benchmark_tasks("xtreme_r")
# target: (epochs, effective batch size, max length); the max length is the task's own
# (TaskSpec.max_length, also what featurizing defaults to).
TARGET_SCHEDULE = {t: (epochs, batch, get_task(t).max_length) for t, (epochs, batch) in {
    "xnli": (2, 32), "pawsx": (5, 32), "udpos": (10, 32), "panx": (10, 32),
    "xquad": (2, 16), "mlqa": (2, 16), "tydiqa": (2, 16), "bucc2018": (0, 32), "tatoeba": (0, 32),
    # XTREME-R (not in the paper): COPA is tiny (400 train pairs), so more epochs [U].
    "xcopa": (10, 16), "panx_r": (10, 32),
}.items()}


def phase(epochs: float, batch_size: int, max_length=None) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      learning_rate=1e-5, warmup_fraction=0.1, weight_decay=0.01, max_grad_norm=1.0,
      epochs=float(epochs), batch_size=batch_size, grad_accum=1,
      max_steps=config_dict.placeholder(int),   # overrides epochs (smoke tests)
      # max_steps and the *_every_steps intervals count optimizer updates (jiant's steps).
      max_length=config_dict.placeholder(int) if max_length is None else max_length,
      sampler="proportional", temperature=1.0, examples_cap=config_dict.placeholder(int),
      eval_every_steps=1000, eval_subset=500, patience=30, eval_batch_size=64,
      log_every_steps=50, checkpoint_every_steps=1000, keep_checkpoints=2,
      # Sequence packing for classification/tagging training (exact per example, several per
      # row). Off by default: batch_size then counts rows of several examples, so the effective
      # batch and the number of updates per epoch change; retune the learning rate if you use it.
      packing=False,
  ))


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.mode = "train"                      # "train" | "eval" (re-evaluate finished runs)
  c.seed = 1
  c.model = ml_collections.ConfigDict(dict(
      name="xlm-roberta-large",          # Hub id or local HF checkpoint directory
      tokenizer="",                      # default: the model's own
      dtype="bfloat16", param_dtype="float32",
      # "auto" = splash (Pallas) on TPU, cuDNN on GPU, XLA on CPU; see docs/performance.md.
      attention="xla",
      # Training-time attention-probability dropout; None = the checkpoint's (0.1, the paper's
      # recipe). The fused kernels have no dropout, so only 0.0 lets training use them.
      attention_dropout=config_dict.placeholder(float),
      # Recompute activations in backward, for long T on small HBM: "none", "block" (least memory)
      # or "dots" (keeps the matmul outputs: cheaper). A string, so --config.model.remat=dots works.
      remat="none"))
  c.mesh = ml_collections.ConfigDict(dict(data=1, fsdp=-1, tensor=1))
  c.intermediates = ("none",)            # "none" = XLM-R baseline; "mnli+squad_v1" = multi-task
  c.targets = ("xnli",)
  c.intermediate_workdir = ""            # share phase 1 across runs (tpu_scripts/sweep.sh sets it)
  c.export_intermediate_hf = False       # also write the best intermediate encoder as an HF dir
  c.data = ml_collections.ConfigDict(dict(
      # {source: local path} ("" = from the Hub); every source has a key so that
      # --config.data.overrides.xnli=/data/xnli works on the locked config. A config file may
      # also add source/split[/lang] keys (loading.py).
      overrides=ml_collections.ConfigDict({s: "" for s in list_override_keys()}),
      # A folder `stilts-jax-data prepare --out DIR` wrote: every source it holds is read from
      # there (XTREME's own files) unless data.overrides names that source explicitly.
      xtreme_dir="",
      # Feature cache: "" = the user cache ($XDG_CACHE_HOME/stilts_jax/features, else
      # ~/.cache/...), "none" = off, else a directory or gs:// path (one shared by a pod's hosts).
      cache_dir="",
      buckets=(64, 128, 256, 384, 512),
      train_limit=config_dict.placeholder(int),
      eval_limit=config_dict.placeholder(int),
      # A training split may lose this fraction of its rows to bad rows (counted and logged);
      # more stops the run. Evaluation splits never stop: their skips go with the results.
      max_bad_row_fraction=0.01,
      subsample_seed=0))                 # which subset `task@pct` settings train on
  c.intermediate_train = phase(2, 32)
  # Training languages per intermediate task (default English), e.g. mnli_translated="en,de,hi,zh"
  # for multilingual intermediate training over a typologically diverse set.
  c.intermediate_languages = ml_collections.ConfigDict(
      {t: "" for t in INTERMEDIATES + TRANSLATED_INTERMEDIATES})
  # Masked LM mixed into intermediate training: intermediate setting "mnli+mlm".
  c.mlm = ml_collections.ConfigDict(dict(
      source="",                 # Hub id (e.g. wikimedia/wikipedia) or a directory of <lang>.txt
      hub_config="{lang}",       # e.g. 20231101.{lang}
      revision="", text_column="text", languages="",  # "de,hi,zh,sw,..."
      limit_per_language=config_dict.placeholder(int),
      max_length=128, mlm_probability=0.15,
      rate=0.2))                 # fraction of intermediate steps spent on MLM
  c.target_train = ml_collections.ConfigDict(
      {t: phase(e, b, L) for t, (e, b, L) in TARGET_SCHEDULE.items()})
  c.eval = ml_collections.ConfigDict(dict(
      splits=("validation", "test"),
      # {target: "de,fr"}; "" = every language. Every target has a key so that
      # --config.eval.languages.xnli=de,fr works on the locked config.
      languages=ml_collections.ConfigDict({t: "" for t in TARGETS})))
  c.retrieval = ml_collections.ConfigDict(dict(layer=14, pooling="mean"))
  # After a phase completes: "best_params" keeps only its best parameters (what the next phase
  # and mode="eval" read; no optimizer state, no other steps), "all" keeps every checkpoint.
  c.checkpoint = ml_collections.ConfigDict(dict(keep_after_completion="best_params"))
  # A rerun whose recipe differs from the one a phase was trained with stops with the diff;
  # True continues anyway and records the change in the phase's run.json.
  c.allow_changed_config = False
  # Persistent XLA compilation cache: "" = ~/.cache/stilts_jax/xla (or $XDG_CACHE_HOME), "none" =
  # off, a directory (or gs://) = there. Later runs of the same shapes skip compiling.
  c.compilation_cache_dir = ""
  c.demo = False
  return c

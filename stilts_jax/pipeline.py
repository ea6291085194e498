"""The X-STILTs pipeline: pretrained XLM-R → English intermediate task(s) → each XTREME target task →
zero-shot evaluation over every language → tidy results.

Workdir layout (every phase resumes itself from its own checkpoints, so a killed or preempted run
is simply started again with the same command):

  WORKDIR/intermediate/<setting>/            phase 1: checkpoints/, tensorboard/, metrics.jsonl, COMPLETED
  WORKDIR/target/<setting>__<target>/        phase 2: the same, plus results.jsonl
  WORKDIR/predictions/<setting>/<target>/<split>-<lang>.jsonl
  WORKDIR/results.jsonl, WORKDIR/results.md, WORKDIR/COMPLETED

`<setting>` is an intermediate setting: "none" (the XLM-R baseline), a task ("mnli") or several
trained together ("mnli+squad_v1"). `config.intermediate_workdir` points phase 1 elsewhere, so a
grid of runs can share one intermediate model per setting.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from etils import epath
from flax import nnx

from stilts_jax import evaluate, paths, provenance, run_config, steps
from stilts_jax import sharding as shd
from stilts_jax.checkpoint import abstract_state, restore_encoder, restore_params
from stilts_jax.features import cache as feature_cache
from stilts_jax.features import featurize_split
from stilts_jax.layout import RESULTS_FILE
from stilts_jax.models import (CheckpointError, XLMREncoder, attach_heads, export_encoder,
                               load_encoder, load_tokenizer)
from stilts_jax.tasks import TaskType, get_task, list_tasks, load_examples, load_examples_multi
from stilts_jax.run_config import parse_setting
from stilts_jax.phase_dir import PREVIOUS_PHASE, PhaseDir, mark_completed
from stilts_jax.setting import MLM
from stilts_jax.train import PhaseTask, train_phase

log = logging.getLogger(__name__)


class Preempted(RuntimeError):
  """The run saved a checkpoint at a preemption notice; relaunch the same command to resume."""


@dataclasses.dataclass
class Context:
  config: Any
  workdir: epath.Path
  mesh: Any
  tokenizer: Any

  @property
  def buckets(self) -> tuple[int, ...]:
    return tuple(self.config.data.buckets)

  def load(self, task: str, split: str, language: str, limit: int | None = None):
    overrides = dict(self.config.data.overrides) or None
    return load_examples(task, split, language, data_overrides=overrides, limit=limit,
                         max_bad_fraction=self.config.data.max_bad_row_fraction)

  def featurize(self, spec, loaded, max_length: int | None):
    return featurize_split(spec, loaded, self.tokenizer, max_length=max_length,
                           cache_dir=feature_cache.resolve_dir(self.config.data.cache_dir))

  def part(self, spec, split: str, language: str, limit: int | None, max_length: int | None):
    loaded = self.load(spec.name, split, language, limit)
    return evaluate.EvalPart(split, language, loaded, self.featurize(spec, loaded, max_length))

  def is_main(self) -> bool:
    return jax.process_index() == 0


def _subsample(loaded, fraction: float, seed: int):
  """A fixed random `fraction` of the examples, in their original order; the same subset for
  every training seed (it depends on data.subsample_seed only), so seeds measure training noise."""
  if fraction >= 1:
    return loaded
  n = len(loaded.examples)
  keep = np.sort(np.random.default_rng([seed, 0x5AB5]).permutation(n)[:max(1, round(fraction * n))])
  return dataclasses.replace(loaded, examples=tuple(loaded.examples[i] for i in keep))


def _pretrained_encoder(ctx: Context) -> XLMREncoder:
  m = ctx.config.model
  return load_encoder(m.name, dtype=jnp.dtype(m.dtype), param_dtype=jnp.dtype(m.param_dtype),
                      attention=m.attention, remat=m.remat,
                      attention_dropout=m.attention_dropout, mesh=ctx.mesh,
                      tokenizer=ctx.tokenizer)


def _phase_task(ctx: Context, spec, hp, fraction: float = 1.0) -> PhaseTask:
  """Training data of `spec` (English unless `intermediate_languages` names a language set) and its
  English dev subset for model selection.

  The registry maps a target's train split to its English source (xnli → MNLI, xquad → SQuAD 1.1).
  """
  chosen = ctx.config.intermediate_languages.get(spec.name) if spec.intermediate \
      else None
  languages = chosen.split(",") if chosen else ["en"]
  limit = ctx.config.data.train_limit
  overrides = dict(ctx.config.data.overrides) or None
  loaded = ctx.load(spec.name, "train", languages[0], limit) if len(languages) == 1 else \
      load_examples_multi(spec.name, "train", languages, data_overrides=overrides, limit=limit,
                          max_bad_fraction=ctx.config.data.max_bad_row_fraction)
  loaded = _subsample(loaded, fraction, ctx.config.data.subsample_seed)
  features = ctx.featurize(spec, loaded, hp.max_length)
  # Model selection on the English dev set of the task actually trained on, as the paper (jiant):
  # MNLI dev for XNLI, SQuAD dev for XQuAD/MLQA; never the evaluated target data itself.
  dev_spec = spec
  train_source = spec.sources.get("train", (spec.name,))[0]
  if train_source != spec.name and train_source in list_tasks():
    # Its data, read and scored as this head predicts (a target of another kind on MNLI's data).
    dev_spec = dataclasses.replace(get_task(train_source), task_type=spec.task_type)
  dev = []
  if "validation" in dev_spec.splits and "en" in dev_spec.languages_for("validation"):
    dev = [ctx.part(dev_spec, "validation", "en", hp.eval_subset, hp.max_length)]
  else:  # e.g. XCOPA: its dev sets are the zero-shot languages, never used for selection
    log.warning("%s has no English dev set: no model selection, the last step is used.",
                spec.name)
  return PhaseTask(head=spec.name, head_type=spec.task_type, train_features=features,
                   dev_spec=dev_spec, dev_parts=dev)


def _finish_training(ctx: Context, phase: PhaseDir, params, step: int,
                     score: float | None) -> None:
  """A phase's training is over: keep what later phases and mode="eval" need
  (checkpoint.keep_after_completion). A best_params/ checkpoint also marks "trained" for a
  relaunch that was killed before the phase was marked completed."""
  if ctx.config.checkpoint.keep_after_completion == "best_params":
    phase.keep_best_params_only(params, step=step, score=score)


def _check_recipe(ctx: Context, phase: PhaseDir, name: str, setting: str,
                  target: str | None = None) -> str:
  recipe = run_config.phase_recipe(ctx.config, setting, target)
  return provenance.check_phase(phase.path, name, recipe, mode=ctx.config.mode,
                                allow_changed=ctx.config.allow_changed_config)


def _initial_encoder(ctx: Context, phase: PhaseDir, previous: PhaseDir | None) -> XLMREncoder:
  """The encoder a phase starts from, in the start-up order of `PhaseDir.start_source`: the
  previous phase's best encoder when the hand-off applies, else the pretrained weights. When the
  phase resumes, the pretrained encoder only gives the structure: its own checkpoint (restored by
  `train_phase`, or below for a trained phase) replaces every weight."""
  source = phase.start_source(previous)
  log.info("%s starts from %s", phase.path, source)
  encoder = _pretrained_encoder(ctx)
  if source == PREVIOUS_PHASE:
    abstract = abstract_state(nnx.to_pure_dict(nnx.state(encoder, nnx.Param)))
    nnx.update(encoder, restore_encoder(previous.checkpoints(), abstract, step="best"))
  return encoder


def run_intermediate(ctx: Context, setting: str, phase: PhaseDir) -> None:
  """Phase 1: one shared encoder with a head per intermediate task, sampled per step."""
  _check_recipe(ctx, phase, f"intermediate/{setting}", setting)
  if phase.is_completed():
    log.info("intermediate %s already completed in %s", setting, phase.path)
    return
  hp = ctx.config.intermediate_train
  parsed = parse_setting(setting)
  supervised = [(get_task(p.task), p.fraction) for p in parsed.supervised]
  encoder = _initial_encoder(ctx, phase, previous=None)
  heads = {s.name: (s.task_type, s.num_labels or 1) for s, _ in supervised}
  if parsed.has_mlm:
    heads[MLM] = ("mlm", 0)  # decoder tied to the (pretrained) word embeddings
  model = attach_heads(encoder, heads, mesh=ctx.mesh, seed=ctx.config.seed)
  if phase.is_trained():  # killed after training, before the phase was marked completed
    abstract = abstract_state(nnx.to_pure_dict(nnx.state(model, nnx.Param)))
    nnx.update(model, restore_params(phase.best_params, abstract, step="best"))
    info = {"status": "completed"}
  else:
    if MLM in heads:
      pretrained = pretrained_mlm_head(ctx.config.model, ctx.mesh)
      if pretrained is not None:
        nnx.update(model.heads[MLM], nnx.state(pretrained, nnx.Param))
    tasks = [_phase_task(ctx, s, hp, fraction) for s, fraction in supervised]
    if MLM in heads:
      tasks.append(_mlm_task(ctx))
    outcome = train_phase(f"intermediate/{setting}", model, tasks, hp, ctx.mesh, phase.path,
                          seed=ctx.config.seed, buckets=ctx.buckets)
    if outcome.status == "preempted":
      raise Preempted(f"preempted during intermediate {setting} at step {outcome.steps}")
    nnx.update(model, outcome.params)
    _finish_training(ctx, phase, outcome.params, outcome.best_step or outcome.steps,
                     outcome.best_score)
    info = dict(status=outcome.status, steps=outcome.steps, best_step=outcome.best_step,
                best_score=outcome.best_score)
  if ctx.config.export_intermediate_hf:
    # The intermediate-trained encoder for the PyTorch world: XLMRobertaModel.from_pretrained(dir).
    export_encoder(model.encoder, str(phase.path / "hf_encoder"))
  phase.mark_completed(**info)


def pretrained_mlm_head(model_cfg, mesh):
  """The checkpoint's own `lm_head` (XLM-R checkpoints are XLMRobertaForMaskedLM), so MLM mixing
  starts from the pretrained head as jiant's `from_transformers_with_mlm`; None if it has none."""
  from stilts_jax.models import load_task_model
  try:
    model = load_task_model(model_cfg.name, head_name=MLM, head_type="mlm", mesh=mesh,
                            dtype=jnp.dtype(model_cfg.dtype),
                            param_dtype=jnp.dtype(model_cfg.param_dtype))
  except CheckpointError as e:
    log.warning("no pretrained MLM head in %s (%s): the MLM head starts fresh.", model_cfg.name,
                str(e).splitlines()[0])
    return None
  return model.heads[MLM]


def _mlm_task(ctx: Context) -> PhaseTask:
  """Masked LM on multilingual text, mixed into intermediate training at `config.mlm.rate`."""
  from stilts_jax.features.mlm import featurize_mlm
  from stilts_jax.kinds.mlm import masking_args
  from stilts_jax.tasks.mlm_corpus import load_mlm_corpus
  m = ctx.config.mlm  # run_config.validate checked source and languages
  corpus = load_mlm_corpus(m.source, languages=m.languages.split(","),
                           limit_per_language=m.limit_per_language, text_column=m.text_column,
                           config=m.hub_config or None, revision=m.revision or None)
  features = featurize_mlm(corpus, ctx.tokenizer, m.max_length)
  masking = dict(masking_args(ctx.tokenizer), mlm_probability=m.mlm_probability)
  return PhaseTask(head=MLM, head_type="mlm", train_features=features, rate=m.rate,
                   masking=masking)


def _eval_parts(ctx: Context, spec, max_length: int | None) -> list[evaluate.EvalPart]:
  cfg = ctx.config.eval
  parts = []
  for split in [s for s in cfg.splits if s in spec.splits]:
    chosen = cfg.languages.get(spec.name)
    available = spec.languages_for(split)
    languages = [l for l in chosen.split(",") if l in available] if chosen else available
    for language in languages:
      # A language with no example is a DataError in the loader: never silently missing here.
      parts.append(ctx.part(spec, split, language, ctx.config.data.eval_limit, max_length))
  return parts


def _write_predictions(ctx: Context, setting: str, target: str,
                       results: list[evaluate.PartResult]) -> None:
  """predictions/<setting>/<target>/<split>-<lang>.jsonl: {"guid", "prediction"} per line."""
  if not ctx.is_main():
    return
  out = ctx.workdir / "predictions" / setting / target
  out.mkdir(parents=True, exist_ok=True)
  for r in results:
    with (out / f"{r.part.split}-{r.part.language}.jsonl").open("w") as f:
      for guid, pred in r.predictions:
        f.write(json.dumps({"guid": guid, "prediction": pred}, ensure_ascii=False) + "\n")


def run_target(ctx: Context, setting: str, intermediate: PhaseDir | None,
               target: str) -> list[dict]:
  """Phase 2 (or retrieval): fresh head on the handed-over encoder, English training, zero-shot eval.

  With `mode="eval"` nothing trains: the phase's best checkpoint is restored and re-evaluated
  (e.g. on more languages or splits than the first run used).
  """
  phase = PhaseDir(ctx.workdir / "target" / f"{setting}__{target}")
  evaluate_only = ctx.config.mode == "eval"
  fingerprint = _check_recipe(ctx, phase, f"target/{setting}__{target}", setting, target)
  if not evaluate_only and phase.is_completed() and phase.results_file.exists():
    return [json.loads(line) for line in phase.results_file.read_text().splitlines() if line]
  spec = get_task(target)
  hp = ctx.config.target_train[target]
  fields = dict(intermediate=None if setting == "none" else setting, seed=ctx.config.seed,
                model=str(ctx.config.model.name), config=fingerprint)
  encoder = _initial_encoder(ctx, phase, intermediate)
  evaluator = evaluate.Evaluator(ctx.mesh, hp.eval_batch_size, ctx.buckets)
  if spec.task_type == TaskType.RETRIEVAL:
    results = evaluator.retrieval(spec, _eval_parts(ctx, spec, hp.max_length), encoder,
                                  layer=ctx.config.retrieval.layer,
                                  pooling=ctx.config.retrieval.pooling)
  else:
    model = attach_heads(encoder, {target: (spec.task_type, spec.num_labels or 1)},
                         mesh=ctx.mesh, seed=ctx.config.seed)
    if evaluate_only or phase.is_trained():
      abstract = abstract_state(nnx.to_pure_dict(nnx.state(model, nnx.Param)))
      params = restore_params(phase.checkpoints(), abstract, step="best")
    else:
      task = _phase_task(ctx, spec, hp)
      outcome = train_phase(f"target/{setting}__{target}", model, [task], hp, ctx.mesh,
                            phase.path, seed=ctx.config.seed, buckets=ctx.buckets)
      if outcome.status == "preempted":
        raise Preempted(f"preempted during {setting}__{target} at step {outcome.steps}")
      params = outcome.params
      _finish_training(ctx, phase, params, outcome.best_step or outcome.steps,
                       outcome.best_score)
    graphdef = nnx.graphdef(model)
    predict = steps.make_predict_step(graphdef, {target: spec.task_type})
    step = lambda b: predict(params, b, head=target)
    results = evaluator.parts(spec, _eval_parts(ctx, spec, hp.max_length), step)
  _write_predictions(ctx, setting, target, results)
  rows = evaluate.result_rows(target, results, **fields)
  if ctx.is_main():
    paths.write_atomic(phase.results_file, "".join(json.dumps(r) + "\n" for r in rows))
  phase.mark_completed(rows=len(rows))
  return rows


def _load_tokenizer(config):
  """The tokenizer, after the checkpoint (whose errors say best what is missing) resolved."""
  return load_tokenizer(config.model.tokenizer or config.model.name)


def _check_model(config, targets) -> None:
  """Checks against the checkpoint's config.json (already resolved: no weights are read)."""
  from stilts_jax.models.checkpoint_files import resolve_checkpoint
  directory = resolve_checkpoint(config.model.name)
  layers = json.loads(epath.Path(directory, "config.json").read_text()).get("num_hidden_layers")
  retrieval = [t for t in targets if get_task(t).task_type == TaskType.RETRIEVAL]
  if retrieval and layers is not None and config.retrieval.layer > layers:
    raise run_config.ConfigError(
        f"retrieval.layer={config.retrieval.layer} but {config.model.name} has {layers} layers "
        f"(hidden states 0..{layers}); the paper uses 14 of XLM-R large's 24, e.g. "
        f"{layers * 14 // 24} for a {layers}-layer model.")


def run(config, workdir: str | epath.Path) -> list[dict]:
  """Runs every (intermediate setting × target) of `config` in `workdir`; returns the result rows.

  Relative paths (workdir and those in `config`) are taken against the working directory.
  """
  run_config.resolve_paths(config)
  run_config.validate(config)
  workdir = paths.resolve(workdir)
  _check_model(config, config.targets)  # fails before anything is written when it is missing
  tokenizer = _load_tokenizer(config)
  mesh = shd.make_mesh(dict(config.mesh))
  record = provenance.write_run_record(workdir, config, mesh)
  if jax.process_index() == 0:
    print("\n".join(provenance.startup_lines(record)), flush=True)
  ctx = Context(config, workdir, mesh, tokenizer)
  rows: list[dict] = []
  for setting in config.intermediates:
    intermediate = None
    if setting != "none":
      intermediate = PhaseDir(config.intermediate_workdir or workdir / "intermediate" / setting)
      if config.mode == "train":
        run_intermediate(ctx, setting, intermediate)
    for target in config.targets:
      rows += run_target(ctx, setting, intermediate, target)
  if ctx.is_main():
    write_results(workdir, rows)
  mark_completed(workdir, rows=len(rows))
  return rows


def write_results(workdir: epath.Path, rows: list[dict]) -> str:
  """results.jsonl (tidy rows), and from the same rows in memory results.md / results.csv (the
  XTREME summary) and plots/*.png. Returns the markdown."""
  from stilts_jax import report
  paths.write_atomic(workdir / RESULTS_FILE, "".join(json.dumps(r) + "\n" for r in rows))
  return report.write_run_report(workdir, rows)


def results_markdown(workdir: str | epath.Path) -> str:
  path = epath.Path(workdir) / "results.md"
  return path.read_text() if path.exists() else ""

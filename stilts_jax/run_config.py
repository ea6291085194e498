"""The run config (configs/*.py → a locked ConfigDict): checked before anything runs, its paths
resolved once, and the part of it each phase's results depend on (its *recipe*).

`validate` fails in well under a second, before any download or training, on every value a run
would otherwise trip over minutes or hours later (a typo'd kernel name after the checkpoint
download, a target without hyperparameters after the intermediate phase). Valid values come from
the modules that use them (one place for each fact); docs/config.md lists them for people and a
test keeps it in sync.

A phase's recipe is what its checkpoints and results are a function of: the model, the data, the
seed and its own hyperparameters (a target phase also inherits its intermediate phase's recipe).
Run-time knobs that do not change the numbers (logging and checkpoint cadence, eval batch size,
the attention kernel, remat, the mesh) are left out, so a resumed run may change them.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from stilts_jax import paths
from stilts_jax.errors import UserError
from stilts_jax.setting import MLM, Setting, SettingError

MODES = ("train", "eval")
EVAL_SPLITS = ("validation", "test")
DTYPES = ("float32", "bfloat16", "float16")
PARAM_DTYPES = ("float32", "bfloat16")
# What to keep of a phase once it has completed (checkpoint.keep_after_completion).
KEEP_AFTER_COMPLETION = ("best_params", "all")
MESH_AXES = ("data", "fsdp", "tensor")
# Phase hyperparameters that change how a run goes, not what it computes.
RUN_TIME_HP = ("log_every_steps", "checkpoint_every_steps", "keep_checkpoints", "eval_batch_size")


class ConfigError(UserError, ValueError):
  """A config value that cannot work; the message names the key and the valid values."""


CONFIG_PACKAGE = "configs"


def use_config_package(config_file: str) -> str | None:
  """Makes the folder of `config_file`, when it is a `configs/` package (has `__init__.py`), the
  `configs` package its config files import each other through (`from configs import base`).

  ml-collections loads `--config=configs/stilts.py` by path, outside any package, and a console
  script has no checkout on sys.path. So the folder is imported from its own path: the files a run
  names are the ones it uses, whatever copy of the project is installed (an edited checkout's
  base.py always takes effect), and nothing is added to sys.path. A later call for another
  checkout's configs/ in the same process replaces it. Only that one name is ever registered, so a
  folder can never shadow another package (`datasets/`, `json/`). Returns the package name, or
  None for a config file elsewhere (it then imports as Python would).
  """
  import importlib.util
  import sys
  folder = os.path.realpath(os.path.dirname(os.path.abspath(config_file)))
  init = os.path.join(folder, "__init__.py")
  if os.path.basename(folder) != CONFIG_PACKAGE or not os.path.isfile(init):
    return None
  current = sys.modules.get(CONFIG_PACKAGE)
  if current is not None:
    if [os.path.realpath(p) for p in getattr(current, "__path__", ())] == [folder]:
      return CONFIG_PACKAGE
    if not getattr(current, "_stilts_config_package", False):
      raise ConfigError(f"{config_file}: another module named {CONFIG_PACKAGE!r} is already "
                        f"imported ({getattr(current, '__file__', None) or current}); the config "
                        "files' own package cannot take its place.")
    for key in [k for k in sys.modules if k.split(".")[0] == CONFIG_PACKAGE]:
      del sys.modules[key]
  spec = importlib.util.spec_from_file_location(CONFIG_PACKAGE, init,
                                                submodule_search_locations=[folder])
  package = importlib.util.module_from_spec(spec)
  package._stilts_config_package = True
  sys.modules[CONFIG_PACKAGE] = package
  try:
    spec.loader.exec_module(package)
  except BaseException:
    del sys.modules[CONFIG_PACKAGE]
    raise
  return CONFIG_PACKAGE


def parse_setting(text: str) -> Setting:
  """`Setting.parse`, its error a ConfigError like every other bad value of the config."""
  try:
    return Setting.parse(text)
  except SettingError as e:
    raise ConfigError(str(e)) from None


def _choice(key: str, value: Any, valid, hint: str = "") -> None:
  if value not in valid:
    shown = ", ".join(repr(v) if not isinstance(v, str) else v for v in valid)
    raise ConfigError(f"{key}={value!r} is not valid; expected one of: {shown}{hint}.")


def _positive(key: str, value: Any, allow_none: bool = False, minimum: float = 1) -> None:
  if value is None and allow_none:
    return
  if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
    raise ConfigError(f"{key}={value!r}; expected a number >= {minimum}"
                      + (" (or None)" if allow_none else "") + ".")


def _validate_phase(key: str, hp) -> None:
  from stilts_jax.sampling import SAMPLERS
  if not hp.learning_rate > 0:
    raise ConfigError(f"{key}.learning_rate={hp.learning_rate}; expected > 0.")
  if not 0 <= hp.warmup_fraction <= 1:
    raise ConfigError(f"{key}.warmup_fraction={hp.warmup_fraction}; expected in [0, 1].")
  if hp.epochs < 0:
    raise ConfigError(f"{key}.epochs={hp.epochs}; expected >= 0.")
  for name in ("batch_size", "grad_accum", "eval_every_steps", "log_every_steps",
               "checkpoint_every_steps", "keep_checkpoints", "eval_batch_size", "patience",
               "eval_subset"):
    _positive(f"{key}.{name}", hp[name])
  _positive(f"{key}.max_steps", hp.max_steps, allow_none=True)
  _positive(f"{key}.max_length", hp.max_length, allow_none=True, minimum=8)
  if hp.batch_size % hp.grad_accum:
    raise ConfigError(f"{key}.batch_size={hp.batch_size} is not divisible by "
                      f"{key}.grad_accum={hp.grad_accum}.")
  _choice(f"{key}.sampler", hp.sampler, SAMPLERS)
  if not hp.temperature > 0:
    raise ConfigError(f"{key}.temperature={hp.temperature}; expected > 0.")


def validate(config) -> None:
  """Raises ConfigError (or RegistryError for task names) on the first value that cannot work."""
  from stilts_jax.models.config import ATTENTION_IMPLEMENTATIONS, REMAT_POLICIES
  from stilts_jax.steps import POOLINGS
  from stilts_jax.tasks import TaskType, get_task, list_tasks
  _choice("mode", config.mode, MODES)
  m = config.model
  if not m.name:
    raise ConfigError("model.name is empty; give a Hub id (xlm-roberta-large) or a local "
                      "checkpoint directory.")
  _choice("model.dtype", m.dtype, DTYPES)
  _choice("model.param_dtype", m.param_dtype, PARAM_DTYPES)
  _choice("model.attention", m.attention, ATTENTION_IMPLEMENTATIONS,
          " (see docs/performance.md)")
  _choice("model.remat", m.remat, REMAT_POLICIES)
  if m.attention_dropout is not None and not 0.0 <= m.attention_dropout < 1.0:
    raise ConfigError(f"model.attention_dropout={m.attention_dropout}; expected a rate in [0, 1) "
                      "or None (the checkpoint's).")
  mesh = dict(config.mesh)
  if set(mesh) != set(MESH_AXES) or any(not isinstance(v, int) or v == 0 or v < -1
                                         for v in mesh.values()) \
      or list(mesh.values()).count(-1) > 1:
    raise ConfigError(f"mesh={mesh}; expected sizes for {', '.join(MESH_AXES)}, each >= 1 or "
                      "one of them -1 (the remaining devices).")
  _choice("checkpoint.keep_after_completion", config.checkpoint.keep_after_completion,
          KEEP_AFTER_COMPLETION)

  if not config.intermediates:
    raise ConfigError("intermediates is empty; use ('none',) for the XLM-R baseline.")
  trained = [s for s in config.intermediates if s != "none"]
  if config.intermediate_workdir and len(trained) > 1:
    raise ConfigError(f"intermediate_workdir={config.intermediate_workdir} would be shared by the "
                      f"intermediate settings {trained}; give each run one setting (as "
                      "tpu_scripts/sweep.sh does) or leave intermediate_workdir empty.")
  uses_mlm = False
  for text in config.intermediates:
    setting = parse_setting(text)
    uses_mlm |= setting.has_mlm
    for part in setting.supervised:
      get_task(part.task)  # RegistryError lists the valid task names
  if trained:
    _validate_phase("intermediate_train", config.intermediate_train)
  if uses_mlm:
    mlm = config.mlm
    if not mlm.source or not mlm.languages:
      raise ConfigError(
          "an intermediate setting includes 'mlm' but mlm.source/mlm.languages are empty: set "
          "e.g. --config.mlm.source=wikimedia/wikipedia --config.mlm.hub_config=20231101.{lang} "
          "--config.mlm.languages=de,hi,zh (or a local directory of <lang>.txt files).")
    if not 0 < mlm.rate < 1 or not 0 < mlm.mlm_probability < 1:
      raise ConfigError(f"mlm.rate={mlm.rate} and mlm.mlm_probability={mlm.mlm_probability} "
                        "must both lie in (0, 1).")
  for task, languages in dict(config.intermediate_languages).items():
    if languages:
      _check_languages(f"intermediate_languages.{task}", task, languages)

  if not config.targets:
    raise ConfigError("targets is empty; name at least one target task (e.g. xnli).")
  for target in config.targets:
    spec = get_task(target)
    if target not in config.target_train:
      raise ConfigError(f"target {target!r} has no hyperparameters in target_train (it has: "
                        f"{', '.join(config.target_train)}); is it an intermediate task? "
                        f"Targets: {', '.join(list_tasks(intermediate=False))}.")
    if spec.task_type != TaskType.RETRIEVAL:
      _validate_phase(f"target_train.{target}", config.target_train[target])
  if not config.eval.splits or any(s not in EVAL_SPLITS for s in config.eval.splits):
    raise ConfigError(f"eval.splits={tuple(config.eval.splits)}; expected a non-empty subset of "
                      f"{EVAL_SPLITS}.")
  for target, languages in dict(config.eval.languages).items():
    if languages:
      _check_languages(f"eval.languages.{target}", target, languages)
  data = config.data
  buckets = tuple(data.buckets)
  if not buckets or any(not isinstance(b, int) or b < 8 for b in buckets) \
      or list(buckets) != sorted(set(buckets)):
    raise ConfigError(f"data.buckets={buckets}; expected increasing sequence lengths >= 8.")
  _positive("data.train_limit", data.train_limit, allow_none=True)
  _positive("data.eval_limit", data.eval_limit, allow_none=True)
  if isinstance(data.max_bad_row_fraction, bool) or \
      not isinstance(data.max_bad_row_fraction, (int, float)) or \
      not 0 <= data.max_bad_row_fraction < 1:
    raise ConfigError(f"data.max_bad_row_fraction={data.max_bad_row_fraction!r}; expected a "
                      "fraction in [0, 1) of a training split's rows, e.g. 0.01.")
  _positive("retrieval.layer", config.retrieval.layer, minimum=0)
  _choice("retrieval.pooling", config.retrieval.pooling, POOLINGS)


def _check_languages(key: str, task: str, languages: str) -> None:
  from stilts_jax.tasks import get_task, list_tasks
  if task not in list_tasks():
    raise ConfigError(f"{key} names unknown task {task!r}; valid: "
                      f"{', '.join(list_tasks(intermediate=False))}.")
  valid = get_task(task).languages
  unknown = [l for l in languages.split(",") if l not in valid]
  if unknown:
    raise ConfigError(f"{key}: unknown language(s) {', '.join(unknown)}; {task} has: "
                      f"{', '.join(valid)}.")


def _local(value: str) -> str:
  return value if not value or paths.is_url(value) else os.fspath(paths.resolve(value))


def _use_xtreme_dir(config) -> None:
  """Fills the empty data.overrides entries from DIR/overrides.json (stilts-jax-data prepare);
  an entry the user set explicitly wins."""
  from stilts_jax.xtreme_data.origin import read_overrides
  directory = config.data.xtreme_dir
  if paths.is_url(directory):
    raise ConfigError(f"data.xtreme_dir={directory}: must be a local folder (the loader reads "
                      f"files); copy it to local disk first, e.g. gcloud storage cp -r.")
  config.data.xtreme_dir = directory = _local(directory)
  for source, folder in read_overrides(directory).items():
    if source not in config.data.overrides:
      raise ConfigError(f"data.xtreme_dir={directory}: overrides.json names unknown source "
                        f"{source!r}; was it written by another version of stilts-jax-data?")
    if not config.data.overrides[source]:
      config.data.overrides[source] = folder


def resolve_paths(config) -> None:
  """Makes every local path in `config` absolute (against the working directory); URLs and Hub
  ids stay. Idempotent. A relative path would break Orbax, and would point elsewhere for a
  process started in another directory."""
  if config.model.name and os.path.exists(os.path.expanduser(config.model.name)):
    config.model.name = _local(config.model.name)
  if config.model.tokenizer and os.path.exists(os.path.expanduser(config.model.tokenizer)):
    config.model.tokenizer = _local(config.model.tokenizer)
  if config.intermediate_workdir:
    config.intermediate_workdir = _local(config.intermediate_workdir)
  # The caches' "none" (paths.OFF) is a setting, not a directory named none.
  if config.compilation_cache_dir and not paths.is_off(config.compilation_cache_dir):
    config.compilation_cache_dir = _local(config.compilation_cache_dir)
  if config.data.cache_dir and not paths.is_off(config.data.cache_dir):
    config.data.cache_dir = _local(config.data.cache_dir)
  if config.data.xtreme_dir:
    _use_xtreme_dir(config)
  for source, path in config.data.overrides.items():
    config.data.overrides[source] = _local(path)
    if path and not paths.is_url(path) and not os.path.exists(config.data.overrides[source]):
      raise ConfigError(f"data.overrides.{source}={path}: no such file or directory "
                        f"({config.data.overrides[source]}).")
  if config.mlm.source and os.path.exists(os.path.expanduser(config.mlm.source)):
    config.mlm.source = _local(config.mlm.source)
  for value in (config.intermediate_workdir, config.data.cache_dir,
                *config.data.overrides.values()):
    if value and not paths.is_off(value):
      paths.check_backend(value)


def _plain(value: Any) -> Any:
  if hasattr(value, "to_dict"):
    value = value.to_dict()
  if isinstance(value, dict):
    return {str(k): _plain(v) for k, v in sorted(value.items())}
  if isinstance(value, (list, tuple)):
    return [_plain(v) for v in value]
  return value


def _hp(hp) -> dict:
  return {k: v for k, v in _plain(hp).items() if k not in RUN_TIME_HP}


def phase_recipe(config, setting: str, target: str | None = None) -> dict:
  """What the results of phase (`setting`, `target`) depend on; `target=None` is the intermediate
  phase. `"train"` decides the checkpoint; `"eval"` how the target's results are computed from
  it (an evaluation-only rerun may change that part)."""
  from stilts_jax.tasks import TaskType, get_task
  m = config.model
  train: dict[str, Any] = {
      "seed": config.seed,
      "model": {k: _plain(m[k]) for k in ("name", "tokenizer", "dtype", "param_dtype",
                                          "attention_dropout")},
      "data": {k: _plain(config.data[k]) for k in ("buckets", "train_limit", "subsample_seed")},
  }
  train["data"]["overrides"] = {k: v for k, v in config.data.overrides.items() if v}
  if "demo_model" in config:  # only configs/demo.py adds it
    train["demo_model"] = _plain(config.demo_model)
  if setting != "none":
    tasks = parse_setting(setting).tasks
    train["intermediate"] = {
        "setting": setting, "hp": _hp(config.intermediate_train),
        "languages": {t: config.intermediate_languages.get(t, "") for t in tasks if t != MLM}}
    if MLM in tasks:
      train["intermediate"]["mlm"] = _plain(config.mlm)
  if target is None:
    return {"train": train}
  recipe = {"train": train, "eval": {"eval_limit": config.data.eval_limit}}
  spec = get_task(target)
  if spec.task_type == TaskType.RETRIEVAL:
    recipe["eval"]["retrieval"] = _plain(config.retrieval)
    recipe["eval"]["max_length"] = config.target_train[target].max_length
  else:
    train["target"] = {"name": target, "hp": _hp(config.target_train[target])}
  return recipe


def fingerprint(recipe: dict) -> str:
  """A short stable hash of `recipe` without its seed: runs of one recipe over several seeds share
  it, so the report can refuse to average different recipes silently."""
  unseeded = json.loads(json.dumps(recipe, sort_keys=True, default=str))
  unseeded.get("train", {}).pop("seed", None)
  blob = json.dumps(unseeded, sort_keys=True, separators=(",", ":"))
  return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


def recipe_diff(old: Any, new: Any, prefix: str = "") -> list[str]:
  """Human-readable differences between two recipes: `key: old -> new`, one per line."""
  if isinstance(old, dict) and isinstance(new, dict):
    out = []
    for key in sorted(set(old) | set(new)):
      where = f"{prefix}.{key}" if prefix else key
      if key not in old:
        out.append(f"{where}: (absent) -> {json.dumps(new[key], default=str)}")
      elif key not in new:
        out.append(f"{where}: {json.dumps(old[key], default=str)} -> (absent)")
      else:
        out += recipe_diff(old[key], new[key], where)
    return out
  if old != new:
    return [f"{prefix}: {json.dumps(old, default=str)} -> {json.dumps(new, default=str)}"]
  return []

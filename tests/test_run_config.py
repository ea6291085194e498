"""The run config: every enum-like or structural value checked up front (before any download or
training), paths resolved once, and each phase's recipe and fingerprint."""

import os

import pytest

import _pipeline_helpers as H
from stilts_jax import run_config
from stilts_jax.errors import UserError
from stilts_jax.tasks import RegistryError


def _config(arg="intermediate=mnli,target=xnli|tatoeba"):
  return H.load_config_module("stilts").get_config(arg)


def _set(config, key, value):
  """`config` with dotted `key` set to `value` (any type, as a config file could)."""
  node, _, leaf = key.rpartition(".")
  target = config
  for part in filter(None, node.split(".")):
    target = target[part]
  with target.unlocked():
    target[leaf] = value
  return config


@pytest.mark.parametrize("key,value,message", [
    ("mode", "evaluate", r"mode='evaluate' is not valid; expected one of: train, eval"),
    ("model.attention", "flash", r"model.attention='flash' is not valid; expected one of: auto, "
                                 r"xla, cudnn, splash, reference"),
    ("model.remat", "everything", r"model.remat='everything' is not valid; expected one of: "
                                  r"none, block, dots"),
    ("model.dtype", "bf16", r"model.dtype='bf16' is not valid; expected one of: float32, "
                            r"bfloat16, float16"),
    ("model.param_dtype", "float16", r"model.param_dtype='float16' is not valid"),
    ("model.attention_dropout", 1.0, r"model.attention_dropout=1.0; expected a rate in \[0, 1\)"),
    ("model.name", "", r"model.name is empty"),
    ("intermediate_train.sampler", "random", r"intermediate_train.sampler='random' is not "
                                             r"valid; expected one of: proportional, temperature"),
    ("intermediate_train.grad_accum", 3, r"intermediate_train.batch_size=32 is not divisible by "
                                         r"intermediate_train.grad_accum=3"),
    ("intermediate_train.learning_rate", 0.0, r"intermediate_train.learning_rate=0.0; "
                                              r"expected > 0"),
    ("target_train.xnli.warmup_fraction", 1.5, r"target_train.xnli.warmup_fraction=1.5"),
    ("target_train.xnli.batch_size", 0, r"target_train.xnli.batch_size=0; expected a number "
                                        r">= 1"),
    ("retrieval.pooling", "max", r"retrieval.pooling='max' is not valid; expected one of: mean, "
                                 r"cls"),
    ("retrieval.layer", -1, r"retrieval.layer=-1; expected a number >= 0"),
    ("eval.splits", ("validation", "dev"), r"eval.splits=\('validation', 'dev'\); expected a "
                                           r"non-empty subset of \('validation', 'test'\)"),
    ("eval.splits", (), r"eval.splits=\(\)"),
    ("targets", ("mnli",), r"target 'mnli' has no hyperparameters in target_train .* is it an "
                           r"intermediate task\?"),
    ("targets", (), r"targets is empty"),
    ("intermediates", (), r"intermediates is empty"),
    ("checkpoint.keep_after_completion", "latest", r"checkpoint.keep_after_completion='latest' "
                                                   r"is not valid; expected one of: best_params, "
                                                   r"all"),
    ("data.buckets", (128, 64), r"data.buckets=\(128, 64\); expected increasing"),
    ("data.train_limit", 0, r"data.train_limit=0; expected a number >= 1 \(or None\)"),
    ("eval.languages.xnli", "de,klingon", r"eval.languages.xnli: unknown language\(s\) klingon"),
    ("intermediate_languages.mnli_translated", "xx", r"intermediate_languages.mnli_translated: "
                                                     r"unknown language\(s\) xx"),
    ("intermediates", ("mnli@0",), r"'mnli@0' should be TASK@PERCENT"),
    ("intermediates", ("mnli+mlm",), r"includes 'mlm' but mlm.source/mlm.languages are empty"),
])
def test_bad_values_are_caught_before_anything_runs(key, value, message):
  config = _set(_config(), key, value)
  with pytest.raises(run_config.ConfigError, match=message) as info:
    run_config.validate(config)
  assert isinstance(info.value, UserError)


def test_defaults_and_every_grid_cell_are_valid():
  run_config.validate(H.load_config_module("base").get_config())
  run_config.validate(H.load_config_module("demo").get_config())
  from stilts_jax import grid
  stilts = H.load_config_module("stilts")
  for arg in grid.cells():
    run_config.validate(stilts.get_config(arg))


def test_unknown_task_names_list_the_valid_ones():
  config = _config()
  config.intermediates = ("mnli+squad",)
  with pytest.raises(RegistryError, match="Unknown task 'squad'"):
    run_config.validate(config)


def test_mesh_shape_is_checked():
  config = _config()
  config.mesh.fsdp = 0
  with pytest.raises(run_config.ConfigError, match=r"mesh=.*each >= 1 or one of them -1"):
    run_config.validate(config)
  config.mesh.fsdp, config.mesh.data = -1, -1
  with pytest.raises(run_config.ConfigError, match=r"mesh="):
    run_config.validate(config)


def test_local_paths_are_resolved_against_the_working_directory(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  (tmp_path / "ckpt").mkdir()
  config = _config()
  config.model.name = "ckpt"
  config.data.cache_dir = "cache"
  config.intermediate_workdir = "shared/mnli"
  (tmp_path / "data" / "xnli").mkdir(parents=True)
  config.data.overrides.xnli = "data/xnli"  # settable from the CLI: every source has a key
  run_config.resolve_paths(config)
  assert config.model.name == str(tmp_path / "ckpt")
  assert config.data.cache_dir == str(tmp_path / "cache")
  assert config.intermediate_workdir == str(tmp_path / "shared" / "mnli")
  assert config.data.overrides.xnli == str(tmp_path / "data" / "xnli")
  # Hub ids and URLs stay; resolving again changes nothing.
  config.model.name, config.data.cache_dir = "xlm-roberta-base", "gs://b/cache"
  run_config.resolve_paths(config)
  assert (config.model.name, config.data.cache_dir) == ("xlm-roberta-base", "gs://b/cache")
  assert os.path.isabs(config.data.overrides.xnli)
  assert config.data.overrides.pawsx == ""  # no override: from the Hub
  config.data.overrides.pawsx = "missing/pawsx"
  with pytest.raises(run_config.ConfigError, match=r"data.overrides.pawsx=missing/pawsx: no such "
                                                   r"file or directory"):
    run_config.resolve_paths(config)


def test_xtreme_dir_fills_the_sources_it_holds_and_explicit_overrides_win(tmp_path,
                                                                           monkeypatch):
  from stilts_jax.xtreme_data.origin import write_overrides
  monkeypatch.chdir(tmp_path)
  for folder in ("xtreme/udpos", "xtreme/pawsx", "mine/pawsx"):
    (tmp_path / folder).mkdir(parents=True)
  write_overrides(str(tmp_path / "xtreme"), {"udpos": "udpos", "pawsx": "pawsx"})
  config = _config()
  config.data.xtreme_dir = "xtreme"  # relative, as typed
  config.data.overrides.pawsx = "mine/pawsx"
  run_config.resolve_paths(config)
  assert config.data.xtreme_dir == str(tmp_path / "xtreme")
  assert config.data.overrides.udpos == str(tmp_path / "xtreme" / "udpos")
  assert config.data.overrides.pawsx == str(tmp_path / "mine" / "pawsx")
  assert config.data.overrides.xnli == ""
  # The filled-in folders are part of the recipe, so results on other data get another config.
  assert run_config.phase_recipe(config, "none", "xnli")["train"]["data"]["overrides"]["udpos"] \
      == str(tmp_path / "xtreme" / "udpos")

  config = _config()
  config.data.xtreme_dir = "nowhere"
  with pytest.raises(UserError, match=r"data.xtreme_dir=\S+/nowhere: no overrides.json there. "
                                      r"Prepare it first: stilts-jax-data prepare --out "):
    run_config.resolve_paths(config)
  config.data.xtreme_dir = "gs://bucket/xtreme"
  with pytest.raises(run_config.ConfigError, match="must be a local folder"):
    run_config.resolve_paths(config)
  write_overrides(str(tmp_path / "xtreme"), {"udpos_r": "udpos"})
  config.data.xtreme_dir = "xtreme"
  with pytest.raises(run_config.ConfigError, match="names unknown source 'udpos_r'"):
    run_config.resolve_paths(config)


def test_recipe_holds_what_changes_results_and_nothing_else():
  config = _config()
  base = run_config.phase_recipe(config, "mnli", "xnli")
  fp = run_config.fingerprint(base)
  assert len(fp) == 12 and int(fp, 16) >= 0
  # Run-time knobs do not change the recipe.
  for key, value in (("target_train.xnli.log_every_steps", 7),
                     ("target_train.xnli.eval_batch_size", 8), ("model.attention", "cudnn"),
                     ("model.remat", "dots"), ("mesh.data", 2), ("data.cache_dir", "/c"),
                     ("eval.languages.xnli", "de"), ("targets", ("xnli", "panx"))):
    assert run_config.phase_recipe(_set(_config(), key, value), "mnli", "xnli") == base, key
  # What does change results changes it (and the intermediate phase's recipe feeds the target's).
  for key, value in (("target_train.xnli.learning_rate", 2e-5), ("seed", 2),
                     ("intermediate_train.epochs", 3.0), ("model.name", "xlm-roberta-base"),
                     ("data.train_limit", 10)):
    assert run_config.phase_recipe(_set(_config(), key, value), "mnli", "xnli") != base, key
  # The seed is in the recipe but not in the fingerprint: seeds of one recipe average together.
  seeded = _config()
  seeded.seed = 7
  assert run_config.fingerprint(run_config.phase_recipe(seeded, "mnli", "xnli")) == fp
  # A baseline target does not depend on intermediate hyperparameters; retrieval not on target hp.
  other = _config()
  other.intermediate_train.learning_rate = 3e-5
  assert run_config.phase_recipe(other, "none", "xnli") == \
      run_config.phase_recipe(config, "none", "xnli")
  assert "target" not in run_config.phase_recipe(config, "mnli", "tatoeba")["train"]


def test_recipe_diff_names_each_changed_key():
  old = {"train": {"hp": {"lr": 1, "epochs": 2}, "seed": 1}, "eval": {"limit": None}}
  new = {"train": {"hp": {"lr": 2, "epochs": 2}, "seed": 1, "x": "a"}, "eval": {}}
  assert run_config.recipe_diff(old, new) == [
      "eval.limit: null -> (absent)", "train.hp.lr: 1 -> 2", 'train.x: (absent) -> "a"']


def test_configs_is_a_package_imported_from_the_folder_a_run_names(tmp_path):
  """stilts.py and demo.py build on one `configs.base`; the package is the folder of the file a
  run names, so an edited copy of the folder uses its own base.py, and naming the checkout's files
  again switches back. No other name is registered, and another `configs` module is refused."""
  import importlib
  import sys
  stilts, demo = H.load_config_module("stilts"), H.load_config_module("demo")
  assert stilts.base is demo.base is H.load_config_module("base") is sys.modules["configs.base"]
  assert sys.modules["configs"].__path__ == [str(H.CONFIGS)]
  copy = tmp_path / "configs"
  copy.mkdir()
  (copy / "__init__.py").write_text("")
  (copy / "base.py").write_text("MARK = 'edited copy'\n")
  (copy / "child.py").write_text("from configs import base\n")
  assert run_config.use_config_package(str(copy / "child.py")) == "configs"
  child = importlib.import_module("configs.child")
  assert child.base.MARK == "edited copy"
  assert H.load_config_module("stilts").base.TARGETS == stilts.base.TARGETS
  assert not hasattr(sys.modules["configs.base"], "MARK")
  assert run_config.use_config_package(str(tmp_path / "lonely.py")) is None  # not a package
  other = tmp_path / "json"  # only configs/ is ever registered: no folder shadows a package
  other.mkdir()
  (other / "__init__.py").write_text("")
  assert run_config.use_config_package(str(other / "x.py")) is None
  assert sys.modules["json"].__file__ != str(other / "__init__.py")
  # A `configs` module that is not a config folder of ours is never replaced.
  import types
  real = sys.modules["configs"]
  sys.modules["configs"] = types.ModuleType("configs")
  try:
    with pytest.raises(run_config.ConfigError, match=r"another module named 'configs' is already "
                       r"imported"):
      run_config.use_config_package(str(copy / "child.py"))
  finally:
    sys.modules["configs"] = real

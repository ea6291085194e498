"""The `stilts-jax` CLI as installed: --help that explains the tool, one-line errors (exit 2) for
every user mistake, caught before anything is downloaded or written; a diverged loss."""

import re
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import _pipeline_helpers as H


def _stilts_jax(*args, workdir=None, cwd=H.REPO):
  """The installed console script (what a user types), on one CPU device, offline."""
  exe = Path(sys.executable).parent / "stilts-jax"
  assert exe.exists(), "the stilts-jax console script is not installed: pip install -e ."
  extra = [f"--workdir={workdir}"] if workdir is not None else []
  return subprocess.run([str(exe), *extra, *args], cwd=cwd, env=H.cli_env(), capture_output=True,
                        text=True, timeout=120)


# One case per way an error reaches the console script (flag parsing, the config file's own
# arguments, a missing file, validation, the task registry, data paths, the checkpoint); every
# value validation checks is covered in-process by test_run_config.py.
@pytest.mark.parametrize("args,expected", [
    # A typo'd key of the locked config names the flag and ml_collections' suggestion.
    (["--config=configs/stilts.py", "--config.intermediate_train.lerning_rate=1e-5"],
     r"--config\.intermediate_train\.lerning_rate: no such config key\. Did you mean "
     r"'learning_rate'\? docs/config\.md lists every key"),
    (["--config=configs/stilts.py:intermediate=mnlx"],
     r"unknown intermediate task 'mnlx'; valid: anli_plus, mnli, .*, none"),
    # absl's other spellings of the flag load the same package.
    (["-config", "configs/stilts.py:intermediate=mnlx"], r"unknown intermediate task 'mnlx'"),
    (["--config=configs/stilts.py:target=xnli,modle=x"],
     r"config argument 'modle=x': expected key=value with key in \['intermediate', 'model'"),
    (["--config=configs/nope.py"],
     r"cannot load the config file configs/nope\.py: No such file or directory\. Run from the "
     r"repository root or give the file's path \(configs/: base\.py, demo\.py, stilts\.py\)"),
    # Caught by validation, before the tokenizer or checkpoint download.
    (["--config=configs/stilts.py", "--config.targets=('xnli', 'panxx')"],
     r"Unknown task 'panxx'. Valid tasks: .*panx"),
    (["--config=configs/stilts.py", "--config.model.attention=flash"],
     r"model.attention='flash' is not valid; expected one of: auto, xla, cudnn, splash"),
    (["--config=configs/stilts.py", "--config.data.overrides.xnli=no/such/dir"],
     r"data.overrides.xnli=no/such/dir: no such file or directory \(/\S+/no/such/dir\)"),
    (["--config=configs/stilts.py:target=tatoeba", "--config.model.name=xlm-roberta-base"],
     r"cannot load 'xlm-roberta-base': it is not a local directory, not in the Hugging Face cache"),
])
def test_user_errors_are_one_line_and_exit_2_before_anything_starts(tmp_path, args, expected):
  proc = _stilts_jax(*args, workdir=tmp_path / "w")
  _assert_one_line_error(proc, expected)
  assert not (tmp_path / "w").exists()  # nothing was started


def test_the_console_script_builds_on_the_base_py_beside_the_config_file(tmp_path):
  """`--config=configs/stilts.py` from another checkout (an edited copy, relative path): the run
  uses that folder's base.py, not the installed project's."""
  import shutil
  shutil.copytree(H.CONFIGS, tmp_path / "configs", ignore=shutil.ignore_patterns("__pycache__"))
  base = tmp_path / "configs" / "base.py"
  text = base.read_text()
  assert 'c.mode = "train"' in text
  base.write_text(text.replace('c.mode = "train"', 'c.mode = "edited-copy"', 1))
  proc = _stilts_jax("--config=configs/stilts.py:target=xnli", workdir=tmp_path / "w",
                     cwd=tmp_path)
  _assert_one_line_error(proc, r"mode='edited-copy' is not valid; expected one of: train, eval")


def test_a_config_file_of_ones_own_builds_on_the_checkouts_configs(tmp_path):
  """A config file outside configs/ (`from configs import base`) run from the checkout gets the
  checkout's package; an import that fails is one line naming the module, not a traceback."""
  own = tmp_path / "exps"
  own.mkdir()
  (own / "mine.py").write_text("from configs import base\n\n\ndef get_config():\n"
                               "  c = base.get_config()\n  c.mode = 'my-own'\n  return c\n")
  proc = _stilts_jax(f"--config={own / 'mine.py'}", workdir=tmp_path / "w")
  _assert_one_line_error(proc, r"mode='my-own' is not valid; expected one of: train, eval")
  (own / "broken.py").write_text("import no_such_module_xyz\n")
  proc = _stilts_jax(f"--config={own / 'broken.py'}", workdir=tmp_path / "w")
  _assert_one_line_error(proc, r"the config file cannot import 'no_such_module_xyz' .*lives in a "
                         r"checkout's configs/ folder, or is run from the checkout's root")


def _assert_one_line_error(proc, expected):
  lines = [l for l in proc.stderr.splitlines() if l.strip()]
  assert proc.returncode == 2, proc.stderr[-3000:]
  assert len(lines) == 1 and lines[0].startswith("stilts-jax: error: "), proc.stderr[-3000:]
  assert re.search(expected, lines[0]), lines[0]


def test_missing_flags_and_stray_arguments():
  _assert_one_line_error(_stilts_jax("--config=configs/stilts.py"),
                         r"flag --workdir=None: Flag --workdir must have a value")
  _assert_one_line_error(_stilts_jax("--config=configs/stilts.py", "--workdir=w", "mnli"),
                         r"unexpected argument\(s\) mnli; flags take the form --name=value")


def test_verbosity_shows_the_traceback(tmp_path):
  proc = _stilts_jax("--config=configs/stilts.py", "--config.model.attention=flash", "-v", "1",
                     workdir=tmp_path / "w")
  assert proc.returncode == 1 and "Traceback (most recent call last)" in proc.stderr
  assert "ConfigError: model.attention='flash' is not valid" in proc.stderr


def test_help_explains_the_tool_its_flags_and_config_files(tmp_path):
  proc = _stilts_jax("--help", cwd=tmp_path)  # outside the checkout: the package's configs/
  assert proc.returncode == 0, proc.stderr
  out = proc.stdout
  assert out.startswith("stilts-jax: X-STILTs in JAX.")
  assert "usage: stilts-jax --config=CONFIG.py[:ARGS] --workdir=DIR" in out
  for flag in ("--config", "--workdir", "--distributed", "--coordinator_address"):
    assert re.search(rf"^  {flag} ", out, re.M), flag
  for config in ("base.py", "demo.py", "stilts.py"):
    assert re.search(rf"^  {config} +\S", out, re.M), config
  assert "docs/config.md" in out and "75 preempted" in out
  assert "Try --helpfull" not in out and "absl.flags" not in out
  assert _stilts_jax("-h", cwd=tmp_path).stdout == out


def test_stilts_config_arguments():
  stilts = H.load_config_module("stilts")
  c = stilts.get_config("intermediate=mnli+squad_v1|none,target=xnli|panx,model=/m,seed=3")
  assert c.intermediates == ("mnli+squad_v1", "none")
  assert c.targets == ("xnli", "panx")
  assert (c.model.name, c.seed) == ("/m", 3)
  d = stilts.get_config("")
  assert (d.intermediates, d.targets, d.model.name, d.seed) == (
      ("none",), ("xnli",), "xlm-roberta-large", 1)
  assert stilts.get_config("target=all").targets == tuple(H.load_config_module("base").TARGETS)
  with pytest.raises(ValueError, match="unknown intermediate task 'mnli_x'"):
    stilts.get_config("intermediate=mnli+mnli_x")
  with pytest.raises(ValueError, match="expected key=value"):
    stilts.get_config("intermediate")
  # Every grid cell parses.
  from stilts_jax import grid
  for arg in grid.cells(seeds=(1, 2)):
    stilts.get_config(arg)


def test_every_target_language_list_is_settable_from_the_cli():
  # The config is locked: only existing keys can be overridden, so each target needs one.
  base = H.load_config_module("base").get_config()
  assert set(base.eval.languages) == set(H.load_config_module("base").TARGETS)
  assert all(v == "" for v in base.eval.languages.values())


@pytest.mark.slow
def test_diverged_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path_factory):
  assets = H.demo_assets(tmp_path_factory.mktemp("assets"))
  workdir = H.seed_workdir(tmp_path_factory.mktemp("nan") / "w", assets)
  # lr 1e30 with warmup: update 0 has lr 0, update 1 blows the weights up to ~1e29 (still
  # finite), and the forward pass of step 2 overflows to NaN.
  proc = H.cli(workdir, "--config=configs/demo.py", "--config.intermediates=('none',)",
               "--config.targets=('xnli',)", "--config.data.train_limit=256",
               "--config.data.buckets=(64,)", "--config.target_train.xnli.max_steps=12",
               "--config.target_train.xnli.learning_rate=1e30",
               "--config.target_train.xnli.warmup_fraction=0.5",
               "--config.target_train.xnli.checkpoint_every_steps=1",
               "--config.target_train.xnli.log_every_steps=4")
  out = proc.stdout + proc.stderr
  assert proc.returncode == 1, out[-3000:]
  match = re.search(r"error: \[target/none__xnli\] loss or gradient became non-finite at step "
                    r"(\d+) \(loss=nan.*The last good checkpoint is step (\d+) in (\S+)\.", out)
  assert match, out[-3000:]
  bad, last = int(match[1]), int(match[2])
  ckpt_dir = workdir / "target" / "none__xnli" / "checkpoints"
  assert match[3] == str(ckpt_dir)
  assert bad == 2 and last == 2  # state after steps 0, 1; step 2 is the non-finite one
  # Every save finished (no *.orbax-checkpoint-tmp left behind), none after the bad step.
  names = sorted(p.name for p in ckpt_dir.iterdir() if p.name != "metadata")
  assert names == ["1", "2"]
  assert "Traceback" not in out  # also no Orbax background-thread crash at exit
  state = H.read_state(ckpt_dir / "2")
  assert int(state["step"]) == 2
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(state["params"]))
  assert not (workdir / "target" / "none__xnli" / "COMPLETED").exists()
  assert not (workdir / "COMPLETED").exists()

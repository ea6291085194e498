"""The `stilts-jax` CLI's failure modes: config typos, unknown names, a diverged loss."""

import re
import subprocess
import sys

import jax
import numpy as np
import pytest

import _pipeline_helpers as H


def _stilts_jax(*args, workdir):
  # The CLI module's entry point (what the stilts-jax console script calls).
  return subprocess.run([sys.executable, "-m", "stilts_jax.main", f"--workdir={workdir}", *args],
                        cwd=H.REPO, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args,expected", [
    # A typo'd key of the locked config names the key (and ml_collections suggests the real one).
    (["--config=configs/stilts.py", "--config.intermediate_train.learning_rat=1e-4"],
     [r"learning_rat\b", r"Did you mean .learning_rate."]),
    (["--config=configs/stilts.py:intermediate=mnlx"],
     [r"unknown intermediate task 'mnlx'; valid: anli_plus, mnli, .*, none"]),
    (["--config=configs/stilts.py:target=xnli|udpo"],
     [r"unknown target task 'udpo'; valid: xnli, pawsx, udpos"]),
    (["--config=configs/stilts.py:target=xnli,modle=x"],
     [r"config argument 'modle=x': expected key=value with key in \['intermediate', 'model'"]),
    # Caught before any training: a typo'd target, or a language the task does not have.
    (["--config=configs/stilts.py", "--config.targets=('xnli', 'panxx')"],
     [r"Unknown task 'panxx'. Valid tasks: .*panx"]),
    (["--config=configs/stilts.py", "--config.eval.languages.xnli=de,xx"],
     [r"eval.languages.xnli: unknown language\(s\) xx; xnli has: ar, bg, de"]),
])
def test_config_errors_fail_fast_naming_the_problem(tmp_path, args, expected):
  proc = _stilts_jax(*args, workdir=tmp_path / "w")
  assert proc.returncode != 0
  for pattern in expected:
    assert re.search(pattern, proc.stderr), proc.stderr[-2000:]
  assert not (tmp_path / "w").exists()  # nothing was started


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
  for arg in stilts.grid(seeds=(1, 2)):
    stilts.get_config(arg)


def test_every_target_language_list_is_settable_from_the_cli():
  # The config is locked: only existing keys can be overridden, so each target needs one.
  base = H.load_config_module("base").get_config()
  assert set(base.eval.languages) == set(H.load_config_module("base").TARGETS)
  assert all(v == "" for v in base.eval.languages.values())


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

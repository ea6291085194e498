"""Default XLA flags: added before the backend starts, the user's flags win, opt-out works."""

import os
import subprocess
import sys

from stilts_jax import xla_flags

LHS = "xla_gpu_enable_latency_hiding_scheduler"


def test_defaults_are_added_once_and_user_values_win():
  assert xla_flags.with_defaults("") == f"--{LHS}=true"
  user = f"--xla_force_host_platform_device_count=8 --{LHS}=false"
  assert xla_flags.with_defaults(user) == user  # the user's explicit value is kept
  once = xla_flags.with_defaults("--foo=1")
  assert xla_flags.with_defaults(once) == once == f"--foo=1 --{LHS}=true"


def test_apply_defaults_and_opt_out():
  env = {"XLA_FLAGS": "--foo=1"}
  assert xla_flags.apply_defaults(env) == env["XLA_FLAGS"] == f"--foo=1 --{LHS}=true"
  off = {"XLA_FLAGS": "--foo=1", xla_flags.OPT_OUT: "0"}
  assert xla_flags.apply_defaults(off) == "--foo=1" and off["XLA_FLAGS"] == "--foo=1"
  empty = {}
  xla_flags.apply_defaults(empty)
  assert empty["XLA_FLAGS"] == f"--{LHS}=true"


def test_gpu_defaults_are_accepted_by_the_cpu_backend():
  """XLA aborts on flags it does not know; the GPU defaults must be harmless everywhere."""
  code = ("from stilts_jax import xla_flags; xla_flags.apply_defaults(); import jax, os; "
          "print(float(jax.numpy.ones(3).sum()), os.environ['XLA_FLAGS'])")
  env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", xla_flags.OPT_OUT)}
  out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  assert out.stdout.split() == ["3.0", f"--{LHS}=true"]


def test_the_cli_applies_them_before_the_backend_starts(monkeypatch, tmp_path):
  """main() sets the flags first thing; a run that reaches pipeline.run has them in XLA_FLAGS."""
  import jax

  import _pipeline_helpers as H
  from stilts_jax import main as cli
  seen = {}
  monkeypatch.setenv("XLA_FLAGS", "--foo=1")
  monkeypatch.setattr(xla_flags, "apply_defaults",
                      lambda: seen.setdefault("flags", xla_flags.with_defaults("--foo=1")))

  class Stop(Exception):
    pass

  def fake_init(**_):
    seen["first_backend_call_after"] = "flags" in seen
    raise Stop

  monkeypatch.setattr(jax.distributed, "initialize", fake_init)
  monkeypatch.setattr(cli, "FLAGS", type("F", (), {
      "__getitem__": lambda self, k: type("V", (), {"present": True})(), "distributed": True,
      "coordinator_address": None, "num_processes": None, "process_id": None, "verbosity": 0,
      "config": H.load_config_module("base").get_config(), "workdir": str(tmp_path)})())
  try:
    cli.main([])
  except Stop:
    pass
  assert seen == {"flags": f"--foo=1 --{LHS}=true", "first_backend_call_after": True}

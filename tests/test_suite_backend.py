"""What runs where (tests/conftest.py): the README's test command keeps JAX on the CPU backend with
8 host devices on any machine, and the accelerator tests skip there, saying how to run them.

On a GPU machine JAX would otherwise pick the GPU: `jax.devices()` would be that one GPU, the mesh
tests would not find their 8 devices, and fp32 parity would meet TF32 matmuls.
"""

import os
import subprocess
import sys

import jax

import _pipeline_helpers as H


def test_readme_command_runs_on_the_cpu_backend_with_8_host_devices():
  # Set by conftest, not by CI: were it missing, a GPU machine's run would land on the GPU.
  assert os.environ.get("JAX_PLATFORMS") == "cpu"
  assert jax.default_backend() == "cpu"
  assert len(jax.devices()) == 8


def test_gpu_tests_skip_in_the_readme_run_saying_how_to_run_them():
  env = {k: v for k, v in os.environ.items() if k not in ("JAX_PLATFORMS", "PYTEST_XDIST_WORKER")}
  proc = subprocess.run(
      [sys.executable, "-m", "pytest", "-q", "-rs", "-n", "0", "-p", "no:cacheprovider",
       "tests/test_gpu_smoke.py"], cwd=H.REPO, env=env, capture_output=True, text=True, timeout=300)
  out = proc.stdout + proc.stderr
  assert proc.returncode == 0, out[-3000:]
  assert " passed" not in out and " skipped" in out, out[-3000:]
  assert "a GPU test: run `pytest -m gpu` on a machine with one" in out, out[-3000:]

"""Launching 2 real JAX processes on CPU (jax.distributed over gloo) for multi-host tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _launch(worker: str, args: list[str], port: int, timeout: float):
  """Runs both workers to completion (or kills both at the timeout): (procs, logs, timed_out)."""
  env = dict(os.environ)
  env.update(
      JAX_PLATFORMS="cpu",
      # Replace the session's 8 fake devices: 2 per process, 4 in the cluster.
      XLA_FLAGS="--xla_force_host_platform_device_count=2",
      PYTHONPATH=os.pathsep.join([str(REPO), str(TESTS_DIR), env.get("PYTHONPATH", "")]),
  )
  procs = [
      subprocess.Popen([sys.executable, str(TESTS_DIR / worker), str(i), str(port), *args],
                       env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
      for i in range(2)
  ]
  logs, timed_out = [], False
  for p in procs:
    try:
      logs.append(p.communicate(timeout=timeout))
    except subprocess.TimeoutExpired:
      timed_out = True
      for q in procs:  # a hung process blocks the other in the coordinator: stop both
        q.kill()
      logs.append(p.communicate())
  return procs, logs, timed_out


def run_two_workers(worker: str, args: list[str], timeout: float) -> None:
  """`python tests/<worker> <process id> <port> *args` in 2 processes; fails with both logs."""
  for _ in range(2):
    procs, logs, timed_out = _launch(worker, args, free_port(), timeout)
    ok = not timed_out and not any(p.returncode for p in procs)
    # The free port can be taken between probing and binding: retry once with a new one.
    if ok or not any("address already in use" in e.lower() for _, e in logs):
      break
  if not ok:
    report = "\n".join(
        f"--- process {i} (rc={p.returncode}) stdout:\n{o[-3000:]}\n--- stderr:\n{e[-6000:]}"
        for i, (p, (o, e)) in enumerate(zip(procs, logs)))
    pytest.fail(f"multi-process workers failed{' (timeout)' if timed_out else ''}:\n{report}")

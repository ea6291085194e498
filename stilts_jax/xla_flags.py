"""Default XLA flags for GPU runs, applied before JAX starts its backend.

The only default is the latency-hiding scheduler: it lets XLA overlap collectives (the FSDP
all-gathers and gradient reduce-scatters of a multi-GPU run) with compute. NVIDIA's JAX-Toolbox
images turn it on; stock jaxlib does not. XLA parses `--xla_gpu_*` flags on every platform
(checked on CPU by the tests) and only the GPU compiler reads them, so they are set everywhere. A flag the user already put in XLA_FLAGS wins, and
STILTS_JAX_DEFAULT_XLA_FLAGS=0 turns the defaults off (for A/B measurements: see
benchmarks/train_throughput.py --xla-defaults and docs/performance.md).

XLA reads XLA_FLAGS once, when the backend starts (the first jax.devices(), array or
jax.distributed.initialize), so `apply_defaults` must run before that; importing jax is fine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping

GPU_DEFAULTS: Mapping[str, str] = {
    "xla_gpu_enable_latency_hiding_scheduler": "true",
}
OPT_OUT = "STILTS_JAX_DEFAULT_XLA_FLAGS"


def _names(flags: str) -> set[str]:
  return {f.lstrip("-").split("=", 1)[0] for f in flags.split() if f.startswith("--")}


def with_defaults(flags: str, defaults: Mapping[str, str] = GPU_DEFAULTS) -> str:
  """`flags` plus every default it does not already set (the user's value wins)."""
  present = _names(flags)
  extra = [f"--{name}={value}" for name, value in defaults.items() if name not in present]
  return " ".join([flags.strip(), *extra]).strip()


def apply_defaults(environ: MutableMapping[str, str] = os.environ) -> str:
  """Adds the defaults to environ["XLA_FLAGS"] unless opted out; returns the resulting flags."""
  flags = environ.get("XLA_FLAGS", "")
  if environ.get(OPT_OUT, "1").strip().lower() in ("0", "false", "no", "off"):
    return flags
  environ["XLA_FLAGS"] = with_defaults(flags)
  return environ["XLA_FLAGS"]

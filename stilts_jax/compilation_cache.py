"""A persistent XLA compilation cache, on by default: the 90 runs of a grid compile the same shapes
(XLM-R large × each bucket length × train/eval steps, tens of seconds each on an accelerator), and a
preempted run relaunches into the same compiles; with the cache each is compiled once per machine
type and read back afterwards.

On CPU too: the demo's first run is no slower with it (2:36 with, 2:49 without, on the 2-core
machine) and a second run takes 2:04 (docs/performance.md §7).

`config.compilation_cache_dir`: "" = the default, `$XDG_CACHE_HOME/stilts_jax/xla` (else
`~/.cache/stilts_jax/xla`); "none" = off; anything else = that directory (gs:// works, e.g. one
cache shared by all workers of a pod). Must be set before the first compile.
"""

from __future__ import annotations

import os

from stilts_jax import paths

# JAX's default skips compiles under 1 s; small eval steps add up at start-up too.
MIN_COMPILE_SECONDS = 0.1


def default_dir() -> str:
  return os.path.join(paths.user_cache_dir(), "xla")


def enable(setting: str) -> str | None:
  """Turns the cache on as `setting` says; returns the directory, or None when off."""
  setting = setting.strip()
  if paths.is_off(setting):
    return None
  import jax  # here, not at the top: run_config reads is_off while checking a config, before jax
  directory = os.fspath(paths.resolve(setting or default_dir()))
  jax.config.update("jax_compilation_cache_dir", directory)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  return directory

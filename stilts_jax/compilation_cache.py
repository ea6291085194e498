"""A persistent XLA compilation cache, on by default on TPUs and GPUs: the 90 runs of a grid compile
the same shapes (XLM-R large × each bucket length × train/eval steps, tens of seconds each on an
accelerator), and a preempted run relaunches into the same compiles; with the cache each is
compiled once per machine type and read back afterwards.

Off by default on CPU: there JAX compiles a cacheable (serializable) executable far more slowly
than its default one (the demo's train step: 3.0 s instead of 0.3 s), and reading it back saves
less than that (docs/performance.md §7 has the measurements).

`config.compilation_cache_dir`: "" = the default above, in `$XDG_CACHE_HOME/stilts_jax/xla` (else
`~/.cache/stilts_jax/xla`); "none" = off; anything else = that directory, on any backend (gs://
works, e.g. one cache shared by all workers of a pod). Must be set before the first compile.
"""

from __future__ import annotations

import os

import jax

from stilts_jax import paths

OFF = "none"
# JAX's default skips compiles under 1 s; small eval steps add up at start-up too.
MIN_COMPILE_SECONDS = 0.1


def default_dir() -> str:
  return os.path.join(paths.user_cache_dir(), "xla")


def enable(setting: str) -> str | None:
  """Turns the cache on as `setting` says; returns the directory, or None when off."""
  setting = setting.strip()
  if setting.lower() == OFF or (not setting and jax.default_backend() == "cpu"):
    return None
  directory = os.fspath(paths.resolve(setting or default_dir()))
  jax.config.update("jax_compilation_cache_dir", directory)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  return directory

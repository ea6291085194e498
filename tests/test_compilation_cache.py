"""The persistent compilation cache: on by default in the user cache, off with "none", anywhere with a
directory; a second process compiling the same program reads it back instead of compiling.

Each case runs in a fresh process: JAX sets its cache up once, at the first compile."""

import json
import subprocess
import sys

import _pipeline_helpers as H

PROGRAM = """
import json, sys
import jax, jax.numpy as jnp
import numpy as np
from stilts_jax import compilation_cache
events = []
jax.monitoring.register_event_listener(lambda name, **kw: events.append(name))
directory = compilation_cache.enable(sys.argv[1])

@jax.jit
def f(x):  # unrolled, so it takes long enough to compile to be worth caching
  for i in range(400):
    x = jnp.sin(x) * 1.01 + i
  return x

# A numpy input: jnp.ones would be a second compiled program, too fast to pass the cache's
# minimum compile time in one run and maybe not in the next, so the counts below would flake.
f(np.ones(8, np.float32)).block_until_ready()
print(json.dumps({"directory": directory, "config": jax.config.jax_compilation_cache_dir,
                  "hits": events.count("/jax/compilation_cache/cache_hits"),
                  "misses": events.count("/jax/compilation_cache/cache_misses")}))
"""


def _run(setting: str, **env) -> dict:
  proc = subprocess.run([sys.executable, "-c", PROGRAM, setting], env=H.cli_env(env),
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


def test_default_is_the_user_cache_and_none_is_off(tmp_path):
  for setting in ("none", " NONE "):
    assert _run(setting) == {"directory": None, "config": None, "hits": 0, "misses": 0}
  default = _run("", XDG_CACHE_HOME=str(tmp_path))  # on CPU too (docs/performance.md §7)
  assert default["directory"] == default["config"] == str(tmp_path / "stilts_jax" / "xla")
  assert default["misses"] >= 1
  assert any(p.name.startswith("jit_f-") for p in (tmp_path / "stilts_jax" / "xla").iterdir())


def test_a_second_process_reads_the_cache_back(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  first = _run("xla-cache")  # relative: taken against the working directory
  assert first["directory"] == first["config"] == str(tmp_path / "xla-cache")
  assert first["misses"] >= 1 and first["hits"] == 0
  entries = sorted(p.name for p in (tmp_path / "xla-cache").iterdir())
  assert any(name.startswith("jit_f-") for name in entries), entries
  second = _run(str(tmp_path / "xla-cache"))
  assert second["hits"] >= 1 and second["misses"] == 0
  assert sorted(p.name for p in (tmp_path / "xla-cache").iterdir()) == entries


def test_none_survives_the_clis_path_resolution(tmp_path, monkeypatch):
  """`--config.compilation_cache_dir=none` (and `data.cache_dir=none`) reach the caches as "none",
  not as ./none (a cache in a directory named none, which resolve_paths made of it before)."""
  from stilts_jax import paths, run_config
  from stilts_jax.features import cache as feature_cache
  monkeypatch.chdir(tmp_path)
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user"))
  config = H.load_config_module("base").get_config()
  for setting, want in (("none", None), (" None ", None), ("xla", str(tmp_path / "xla"))):
    config.compilation_cache_dir = setting
    run_config.resolve_paths(config)
    assert (None if paths.is_off(config.compilation_cache_dir)
            else config.compilation_cache_dir) == want
  # The feature cache: on by default, under the user cache.
  for setting, want in (("", str(tmp_path / "user" / "stilts_jax" / "features")),
                        ("none", None), ("NONE", None), ("feats", str(tmp_path / "feats"))):
    config.data.cache_dir = setting
    run_config.resolve_paths(config)
    assert feature_cache.resolve_dir(config.data.cache_dir) == want, setting
  assert not (tmp_path / "none").exists() and not (tmp_path / "NONE").exists()

"""Shared pieces of the training-pipeline tests: tiny models, synthetic features, configs.

Kept free of pytest so the subprocess script (`_pipeline_run.py`) can import it too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


def load_config_module(name: str):
  """configs/<name>.py as a module of the configs package, imported as the CLI imports it."""
  import importlib
  from stilts_jax.run_config import use_config_package
  return importlib.import_module(f"{use_config_package(str(CONFIGS / f'{name}.py'))}.{name}")


def phase_hp(**overrides):
  """A phase ConfigDict (configs/base.phase) with test-sized overrides."""
  hp = load_config_module("base").phase(1, 8)
  hp.update(overrides)
  return hp


def tiny_xlmr_config(vocab_size: int = 64, **kw):
  from stilts_jax.models import XLMRConfig
  return XLMRConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2,
                    num_attention_heads=4, intermediate_size=64, max_position_embeddings=40, **kw)


def tiny_task_model(mesh, heads, seed: int = 0, **cfg_kw):
  """A TaskModel created directly sharded on `mesh` (FSDP rules), same values on any mesh."""
  from flax import nnx

  from stilts_jax import sharding as shd
  from stilts_jax.models import TaskModel
  cfg = tiny_xlmr_config(**cfg_kw)
  return shd.create_sharded(lambda: TaskModel(cfg, heads, rngs=nnx.Rngs(seed)), mesh)


def classification_features(n: int, length: int = 16, vocab: int = 64, num_labels: int = 3,
                            seed: int = 0) -> dict[str, np.ndarray]:
  """Learnable pair-classification-like features: the label is a function of token 1."""
  rng = np.random.default_rng(seed)
  lengths = rng.integers(4, length + 1, size=n)
  ids = np.full((n, length), 1, np.int32)  # pad id 1
  mask = np.zeros((n, length), np.int32)
  for i, l in enumerate(lengths):
    ids[i, :l] = rng.integers(3, vocab, size=l)
    ids[i, 0] = 0  # <s>
    mask[i, :l] = 1
  return {"input_ids": ids, "attention_mask": mask,
          "label": (ids[:, 1] % num_labels).astype(np.int32)}


def read_jsonl(path) -> list[dict]:
  return [json.loads(line) for line in Path(path).read_text().splitlines() if line]


_ASSETS: dict[str, Path] = {}


def demo_assets(root) -> Path:
  """The demo's data, tokenizer and tiny model, built once per test session under `root`.

  Built by the real `demo.assets.prepare`; returns the workdir holding `demo_assets/`.
  """
  if "dir" not in _ASSETS:
    from stilts_jax.demo import assets
    config = load_config_module("demo").get_config()
    assets.prepare(config, root)
    _ASSETS["dir"] = Path(root)
  return _ASSETS["dir"]


def seed_workdir(workdir, assets_root) -> Path | str:
  """A fresh CLI workdir that reuses the prepared demo assets (demo.assets.prepare skips building when
  `overrides.json` exists in its assets directory; its data paths point at the shared copy).
  For a gs:// workdir the assets directory is local (demo.assets.assets_dir); the URL is returned."""
  import shutil

  from stilts_jax.demo import assets
  target = Path(assets.assets_dir(workdir))
  target.mkdir(parents=True)
  shutil.copy(Path(assets_root) / "demo_assets" / "overrides.json", target / "overrides.json")
  (target / "model").symlink_to(Path(assets_root) / "demo_assets" / "model")
  return workdir if "://" in str(workdir) else Path(workdir)


def cli_env(extra=None) -> dict:
  """The environment of a CLI subprocess: one host device, as the real CLI on a CPU machine
  (conftest's 8 fake devices are for the pytest process)."""
  import os
  env = dict(os.environ)
  env["XLA_FLAGS"] = " ".join(f for f in env.get("XLA_FLAGS", "").split()
                              if "device_count" not in f)
  env.update(extra or {})  # the caller's own XLA_FLAGS (e.g. a device count) win
  env["JAX_PLATFORMS"] = "cpu"
  return env


def cli(workdir, *args, env=None, timeout=300, script="_pipeline_run.py"):
  """Runs the CLI (through the hook script) on one CPU device; returns the CompletedProcess."""
  import subprocess
  full_env = cli_env(env)
  cmd = [sys.executable, str(REPO / "tests" / script), f"--workdir={workdir}", *args]
  return subprocess.run(cmd, cwd=REPO, env=full_env, capture_output=True, text=True,
                        timeout=timeout)


def read_state(step_dir) -> dict:
  """A saved train state (`<checkpoints>/<step>`) as numpy arrays, without knowing its structure."""
  import jax
  import orbax.checkpoint as ocp
  path = Path(step_dir) / "state"
  with ocp.PyTreeCheckpointer() as c:
    tree = c.metadata(path).item_metadata.tree
    args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree,
                        is_leaf=lambda x: not isinstance(x, (dict, list, tuple)))
    return c.restore(path, restore_args=args)

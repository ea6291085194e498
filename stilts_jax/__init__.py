"""stilts-jax: X-STILTs (intermediate-task training for zero-shot cross-lingual transfer) in JAX."""

import importlib

__version__ = "0.1.0"

__all__ = [
    "CheckpointError", "TaskModel", "XLMRConfig", "XLMREncoder", "attach_heads", "export_encoder",
    "export_task_model", "load_encoder", "load_task_model",
]


def __getattr__(name: str):
  # Loaded on first use, not at import: `import stilts_jax.main` must not import jax (1-2 s), so a
  # mistyped command fails in a fraction of a second and the CLI can set XLA flags first.
  if name in __all__:
    return getattr(importlib.import_module("stilts_jax.models"), name)
  raise AttributeError(f"module 'stilts_jax' has no attribute {name!r}")

"""stilts-jax: X-STILTs (intermediate-task training for zero-shot cross-lingual transfer) in JAX."""

from stilts_jax.models import (CheckpointError, TaskModel, XLMRConfig, XLMREncoder, attach_heads,
                               export_encoder, export_task_model, load_encoder, load_task_model)

__version__ = "0.1.0"

__all__ = [
    "CheckpointError", "TaskModel", "XLMRConfig", "XLMREncoder", "attach_heads", "export_encoder",
    "export_task_model", "load_encoder", "load_task_model",
]

"""XLM-R in flax.nnx: encoder, task heads, and Hugging Face checkpoint import/export."""

from stilts_jax.models.checkpoint_files import CheckpointError
from stilts_jax.models.config import XLMRConfig
from stilts_jax.models.heads import HEAD_TYPES, TaskModel, make_head
from stilts_jax.models.hf_io import (attach_heads, check_tokenizer, export_encoder,
                                     export_task_model, load_encoder, load_task_model,
                                     load_tokenizer)
from stilts_jax.models.xlmr import EncoderOutput, XLMREncoder

__all__ = [
    "CheckpointError", "EncoderOutput", "HEAD_TYPES", "TaskModel", "XLMRConfig", "XLMREncoder",
    "attach_heads", "check_tokenizer", "export_encoder", "export_task_model", "load_encoder",
    "load_task_model", "load_tokenizer", "make_head",
]

"""Masked language modelling on multilingual text, mixed into intermediate training: a token loss
over the masked positions; its batches are masked afresh every step (`mlm.MLMBatches`)."""

from __future__ import annotations

from stilts_jax.kinds.base import Kind, register_kind
from stilts_jax.kinds.tagging import token_loss
from stilts_jax.models.heads import MaskedLMHead

MLM = register_kind(Kind(name="mlm", train_keys=("input_ids", "attention_mask"),
                         loss=token_loss, masked=True, head=MaskedLMHead))

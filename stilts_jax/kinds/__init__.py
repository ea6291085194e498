"""Task kinds, one module each: classification, multiple_choice, tagging, span_qa, mlm, retrieval.

Each module registers one `Kind` (kinds/base.py): its train keys and packability, loss,
predictions, scoring and output padding. `get_kind(name)` is how steps, train and evaluate reach
them; nothing outside this package branches on a kind's name for those.
"""

from stilts_jax.kinds.base import KINDS, FitShape, Kind, cross_entropy, get_kind, register_kind
from stilts_jax.kinds import (classification, mlm, multiple_choice, retrieval,  # noqa: F401
                              span_qa, tagging)

__all__ = ["KINDS", "FitShape", "Kind", "cross_entropy", "get_kind", "register_kind"]

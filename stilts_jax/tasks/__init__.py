"""Task registry, Hub/local loaders and offline fixtures.

    from stilts_jax import tasks
    spec = tasks.get_task("xnli")                      # TaskSpec: type, labels, metrics, languages
    data = tasks.load_examples("xnli", "validation", language="de",
                               data_overrides={"xnli": "/data/xtreme"})
    data.examples                                      # tuple of stilts_jax.examples types

Declarations live in `intermediate.py` (9 English intermediate tasks), `target.py` (9 XTREME
tasks) and `xtreme_r.py` (translated intermediate data: mnli_translated, squad_translated; XTREME-R
targets: xcopa, panx_r); importing this package registers them. `load_examples_multi` concatenates
a language set (translated intermediate training). See `loading.py` for overrides and `convert.py`
for the bad-input policy.
"""

from stilts_jax.tasks import intermediate as _intermediate  # noqa: F401  (registers tasks)
from stilts_jax.tasks import target as _target  # noqa: F401  (registers tasks)
from stilts_jax.tasks import xtreme_r as _xtreme_r  # noqa: F401  (registers tasks)
from stilts_jax.tasks.convert import DataError
from stilts_jax.tasks.loading import (LoadedSplit, RetrievalData, load_examples,
                                      load_examples_multi)
from stilts_jax.tasks.sources import HubSourceError, LocalDataMissingError
from stilts_jax.tasks.raw_formats import CCGDataMissingError
from stilts_jax.tasks.registry import (RegistryError, SourceSpec, TaskSpec, TaskType, benchmark_tasks,
                                       get_source,
                                       get_task, list_override_keys, list_sources, list_tasks,
                                       register_source,
                                       register_task, resolve_language)

__all__ = [
    "CCGDataMissingError", "DataError", "HubSourceError", "LoadedSplit", "LocalDataMissingError",
    "RegistryError",
    "RetrievalData", "SourceSpec", "TaskSpec", "TaskType", "benchmark_tasks", "get_source", "get_task",
    "list_override_keys", "list_sources", "list_tasks", "load_examples", "load_examples_multi",
    "register_source", "register_task", "resolve_language",
]

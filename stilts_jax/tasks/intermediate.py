"""The nine English intermediate tasks of X-STILTs (final version) and their Hub sources.

Hub ids, configs and schemas follow reference/paper.md §5. Label lists equal the Hub ClassLabel
order, so integer labels pass through unchanged; XNLI (target.py) reuses `NLI_LABELS` so an
MNLI-trained head transfers without a permutation.
"""

from __future__ import annotations

from stilts_jax.tasks.registry import (CONVERSION_PARQUET, MAIN_PARQUET, PARQUET_CONVERSION,
                                       SourceSpec, TaskSpec, TaskType, register_source,
                                       register_task)

NLI_LABELS = ("entailment", "neutral", "contradiction")  # glue/mnli, snli, anli ClassLabel order
QQP_LABELS = ("not_duplicate", "duplicate")
CHOICE4 = ("0", "1", "2", "3")
CSQA_KEYS = ("A", "B", "C", "D", "E")

_NLI_COLUMNS = {"text_a": "premise", "text_b": "hypothesis", "label": "label"}

MNLI = register_source(SourceSpec(
    name="mnli", hub_id="nyu-mll/glue", config="mnli", schema="pair",
    columns={**_NLI_COLUMNS, "id": "idx"},
    # "validation" is the matched dev set, as in jiant and the XTREME XNLI recipe.
    splits={"train": ("train",), "validation": ("validation_matched",),
            "validation_mismatched": ("validation_mismatched",), "test": ("test_matched",)},
    unlabeled_splits=frozenset({"test_matched", "test_mismatched"}), hub_files=MAIN_PARQUET))

SNLI = register_source(SourceSpec(
    name="snli", hub_id="stanfordnlp/snli", config="plain_text", schema="pair",
    columns=_NLI_COLUMNS,
    splits={"train": ("train",), "validation": ("validation",), "test": ("test",)},
    drop_no_gold=True, hub_files=MAIN_PARQUET))

ANLI = register_source(SourceSpec(
    name="anli", hub_id="facebook/anli", config="plain_text", schema="pair",
    columns={**_NLI_COLUMNS, "id": "uid"},
    splits={"train": ("train_r1", "train_r2", "train_r3"),
            "validation": ("dev_r1", "dev_r2", "dev_r3"),
            "test": ("test_r1", "test_r2", "test_r3")}, hub_files=MAIN_PARQUET))

QQP = register_source(SourceSpec(
    name="qqp", hub_id="nyu-mll/glue", config="qqp", schema="pair",
    columns={"text_a": "question1", "text_b": "question2", "label": "label", "id": "idx"},
    splits={"train": ("train",), "validation": ("validation",), "test": ("test",)},
    unlabeled_splits=frozenset({"test"}), hub_files=MAIN_PARQUET))

SQUAD_V1 = register_source(SourceSpec(
    name="squad_v1", hub_id="rajpurkar/squad", config="plain_text", schema="squad",
    splits={"train": ("train",), "validation": ("validation",)}, hub_files=MAIN_PARQUET))

SQUAD_V2 = register_source(SourceSpec(
    name="squad_v2", hub_id="rajpurkar/squad_v2", config="squad_v2", schema="squad",
    splits={"train": ("train",), "validation": ("validation",)}, hub_files=MAIN_PARQUET))

HELLASWAG = register_source(SourceSpec(
    # The repo's main branch was a loading script (hellaswag.py) for years; the Hub's parquet
    # conversion branch has held the same rows all along, so pin that (datasets>=4 cannot run
    # scripts and we never pass trust_remote_code).
    name="hellaswag", hub_id="Rowan/hellaswag", revision=PARQUET_CONVERSION, schema="hellaswag",
    splits={"train": ("train",), "validation": ("validation",), "test": ("test",)},
    unlabeled_splits=frozenset({"test"}), hub_files=CONVERSION_PARQUET))

COSMOSQA = register_source(SourceSpec(
    # Main is still the loading script (cosmos_qa.py): read the parquet conversion branch, or
    # the official release (github.com/wilburOne/cosmosqa data/: train.csv, valid.csv,
    # test.jsonl, the same columns) through data.overrides.cosmosqa=DIR.
    name="cosmosqa", hub_id="allenai/cosmos_qa", revision=PARQUET_CONVERSION, schema="cosmosqa",
    splits={"train": ("train",), "validation": ("validation",), "test": ("test",)},
    # The public test split ships without answers (label -1).
    unlabeled_splits=frozenset({"test"}), hub_files=CONVERSION_PARQUET,
    official_files={"train": ("train.csv",), "validation": ("valid.csv",),
                    "test": ("test.jsonl",)}))

COMMONSENSEQA = register_source(SourceSpec(
    name="commonsenseqa", hub_id="tau/commonsense_qa", schema="commonsenseqa",
    splits={"train": ("train",), "validation": ("validation",), "test": ("test",)},
    unlabeled_splits=frozenset({"test"}), hub_files="data/{split}-*.parquet"))

_ALL = ("train", "validation", "test")


def _splits(sources: tuple[str, ...], splits=_ALL) -> dict[str, tuple[str, ...]]:
  return {s: sources for s in splits}


register_task(TaskSpec(
    name="anli_plus", task_type=TaskType.CLASSIFICATION, labels=NLI_LABELS, intermediate=True,
    # MNLI's test split is unlabeled, so the combined test split is ANLI + SNLI only.
    sources={"train": ("anli", "mnli", "snli"), "validation": ("anli", "mnli", "snli"),
             "test": ("anli", "snli")},
    metrics=("accuracy",), max_length=256,
    description="ANLI r1-r3 + MNLI + SNLI (SNLI rows without gold dropped and counted).",
    benchmark="x-stilts"))

register_task(TaskSpec(
    name="mnli", task_type=TaskType.CLASSIFICATION, labels=NLI_LABELS, intermediate=True,
    sources=_splits(("mnli",), ("train", "validation", "validation_mismatched", "test")),
    metrics=("accuracy",), max_length=256,
    benchmark="x-stilts"))

register_task(TaskSpec(
    name="qqp", task_type=TaskType.CLASSIFICATION, labels=QQP_LABELS, intermediate=True,
    sources=_splits(("qqp",)), metrics=("accuracy", "f1"), max_length=256,
    benchmark="x-stilts"))

register_task(TaskSpec(
    name="squad_v1", task_type=TaskType.SPAN_QA, intermediate=True,
    sources=_splits(("squad_v1",), ("train", "validation")),
    metrics=("squad_em", "squad_f1"), max_length=384,
    benchmark="x-stilts"))

register_task(TaskSpec(
    name="squad_v2", task_type=TaskType.SPAN_QA, intermediate=True, squad_v2=True,
    sources=_splits(("squad_v2",), ("train", "validation")),
    metrics=("squad_v2_best_em", "squad_v2_best_f1"), max_length=384,
    benchmark="x-stilts"))

register_task(TaskSpec(
    name="hellaswag", task_type=TaskType.MULTIPLE_CHOICE, labels=CHOICE4, intermediate=True,
    sources=_splits(("hellaswag",)), metrics=("accuracy",), max_length=256,
    benchmark="x-stilts"))

register_task(TaskSpec(
    name="cosmosqa", task_type=TaskType.MULTIPLE_CHOICE, labels=CHOICE4, intermediate=True,
    sources=_splits(("cosmosqa",)), metrics=("accuracy",), max_length=256,
    benchmark="x-stilts"))

register_task(TaskSpec(
    name="commonsenseqa", task_type=TaskType.MULTIPLE_CHOICE, labels=CSQA_KEYS, intermediate=True,
    sources=_splits(("commonsenseqa",)), metrics=("accuracy",), max_length=256,
    benchmark="x-stilts"))

register_task(TaskSpec(
    name="ccg", task_type=TaskType.TAGGING, labels=None, intermediate=True,
    # CCGbank is LDC-licensed: no Hub source. Labels come from the user's tags_to_id.json
    # (1,363 supertags in jiant's conversion); see raw_formats.py for the file format.
    sources=_splits(("ccg",)), metrics=("token_accuracy",), max_length=256,
    description="CCGbank supertagging from user-provided files (LDC2005T13).",
    benchmark="x-stilts"))

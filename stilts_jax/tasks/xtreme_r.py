"""The paper's translated intermediate data and the XTREME-R targets that the Hub has.

Intermediate alternatives (X-STILTs final version, reference/paper.md §1 "Alternatives"):

* `mnli_translated`: MNLI machine-translated into the 15 XNLI languages, one language per
  `load_examples` call; `loading.load_examples_multi` concatenates a language set for training.
  Source `xnli_mt` = `facebook/xnli`, per-language configs (`ar` ... `zh`) with `premise`,
  `hypothesis`, `label` ClassLabel[entailment, neutral, contradiction] (MNLI's order, so the head
  transfers to XNLI unpermuted). Its train split is the XNLI paper's machine translation of MNLI
  train (392,702 rows/language; the `en` config is MNLI itself). It is *not* XTREME's released
  translate-train data, which the paper probably used [U]; pass those through
  `data_overrides["xnli_mt/train/<lang>"]` in the same schema to use them instead. Validation is
  XNLI's human-translated dev set (2,490 rows/language): the XNLI target's own dev data, so
  selecting the intermediate checkpoint on it is not strictly zero-shot for XNLI.
* `squad_translated`: translated SQuAD v1.1 has no Hub copy. Source `squad_translated`
  (`hub_id=None`) reads user files in the Hub SQuAD schema (`convert.SCHEMAS["squad"]`), per
  language: `data_overrides["squad_translated/train/de"] = "squad.de.jsonl"` or a directory
  `data_overrides["squad_translated"] = dir` holding `dir/<lang>/train.<ext>` (and optionally
  `validation.<ext>`). A nested SQuAD v1.1 JSON file (`{"data": [{"paragraphs": ...}]}`, the
  layout of XTREME's translate-train release) is flattened by the loader. Languages: XQuAD's 11.

XTREME-R targets (reference/paper.md §4):

* `xcopa`: `cambridgeltl/xcopa` (validation 100 / test 500 per language; configs et ht id it qu
  sw ta th tr vi zh; premise, choice1, choice2, question, label, idx, changed). Prompt and
  choices follow jiant's CopaTask: prompt = premise + " What was the cause of this?" (question
  "cause") or + " What happened as a result?" ("effect"), in English for every language; choices
  = (choice1, choice2); label 0/1. Train = English COPA (source `copa`, `hub_id=None`): the
  reference names no loadable Hub copy, so it must come from `data_overrides["copa"]` (a
  directory with train.<ext> [and validation.<ext>]) in the same schema. XTREME-R trains on SIQA
  and then COPA; SIQA (itself an intermediate task) is not declared (no reference Hub id).
* `panx_r`: WikiANN NER for XTREME's 40 PAN-X languages plus XTREME-R's qu pl uk az lt pa gu ro,
  all from `unimelb-nlp/wikiann` [M] (per-language configs; tokens, ner_tags ClassLabel[O, B-PER,
  I-PER, B-ORG, I-ORG, B-LOC, I-LOC], langs, spans; the Rahimi et al. splits that XTREME's PAN-X
  uses), so every language, old and new, comes from one source.

Not declared: UD-POS-R's extra languages (lt pl uk wo ro) and Tatoeba-R's (az lt pl uk ro). The
reference names no Hub source for them and `google/xtreme` has no such configs (its `udpos.*` and
`tatoeba.*` lists are XTREME's), so they are not on the Hub in a loadable form here; inventing ids
would be worse than leaving them out. Mewsli-X and LAReQA are likewise absent (not on the Hub).

Hub ids: `facebook/xnli` and `cambridgeltl/xcopa` were seen on the Hub (dataset cards listing
these configs and features) but are not in the reference [M: checked against Hub pages, not a
primary source]; `unimelb-nlp/wikiann` is [M] as given in the brief.
"""

from __future__ import annotations

from stilts_jax.tasks.intermediate import NLI_LABELS
from stilts_jax.tasks.registry import (ENGLISH, MAIN_PARQUET, SourceSpec, TaskSpec, TaskType,
                                       register_source, register_task)
from stilts_jax.tasks.target import NER_LABELS, PANX_LANGS, XNLI_LANGS, XQUAD_LANGS

XCOPA_LANGS = tuple("et ht id it qu sw ta th tr vi zh".split())
PANX_R_ADDED = tuple("qu pl uk az lt pa gu ro".split())  # XTREME-R's additions to PAN-X
PANX_R_LANGS = PANX_LANGS + PANX_R_ADDED
COPA_LABELS = ("0", "1")  # choice1, choice2

SQUAD_TRANSLATED_HELP = (
    "Translated SQuAD v1.1 is not on the Hugging Face Hub. Provide one file per language (e.g. "
    "XTREME's translate-train data, gs://xtreme_translations) either in the Hub SQuAD schema, one "
    "question per row, as .jsonl/.json/.parquet/.csv, or as a nested SQuAD v1.1 .json file; pass "
    "data_overrides={'squad_translated/<split>/<lang>': '/path/file'} or "
    "data_overrides={'squad_translated': '/dir'} with /dir/<lang>/<split>.<ext>.")
COPA_HELP = (
    "English COPA (Roemmele et al. 2011: 400 train / 100 validation) has no loadable Hub copy "
    "declared here. Export it (e.g. SuperGLUE's COPA jsonl files, whose rows have this schema) "
    "and pass data_overrides={'copa': '/dir'} with /dir/train.<ext> [/dir/validation.<ext>], or "
    "data_overrides={'copa/train': '/path/train.jsonl'}.")

register_source(SourceSpec(
    name="xnli_mt", hub_id="facebook/xnli", config="{lang}", schema="pair",
    columns={"text_a": "premise", "text_b": "hypothesis", "label": "label"},
    splits={"train": ("train",), "validation": ("validation",), "test": ("test",)},
    notes="XNLI paper's MT of MNLI train; validation/test are XNLI's human translations.",
    hub_files=MAIN_PARQUET))
register_source(SourceSpec(
    # Per-language config "{lang}" so a source-level override directory is dir/<lang>/<split>.
    name="squad_translated", hub_id=None, config="{lang}", schema="squad",
    splits={"train": ("train",), "validation": ("validation",)}, notes=SQUAD_TRANSLATED_HELP))
register_source(SourceSpec(
    name="copa", hub_id=None, schema="copa",
    splits={"train": ("train",), "validation": ("validation",), "test": ("test",)},
    # SuperGLUE's COPA test rows carry label -1.
    unlabeled_splits=frozenset({"test"}), notes=COPA_HELP))
register_source(SourceSpec(
    # XCOPA's test split is labeled (it is the evaluation set), unlike COPA's.
    name="xcopa", hub_id="cambridgeltl/xcopa", config="{lang}", schema="copa",
    splits={"validation": ("validation",), "test": ("test",)}, hub_files=MAIN_PARQUET))
register_source(SourceSpec(
    name="wikiann", hub_id="unimelb-nlp/wikiann", config="{lang}", schema="tagging",
    columns={"tokens": "tokens", "tags": "ner_tags"},
    splits={"train": ("train",), "validation": ("validation",), "test": ("test",)},
    hub_files=MAIN_PARQUET))

_QA_METRICS = ("squad_em", "squad_f1")

register_task(TaskSpec(
    name="mnli_translated", task_type=TaskType.CLASSIFICATION, labels=NLI_LABELS,
    intermediate=True, languages=XNLI_LANGS,
    # No test split: facebook/xnli's test split is the XNLI target's test set.
    sources={"train": ("xnli_mt",), "validation": ("xnli_mt",)},
    metrics=("accuracy",), max_length=256,
    description="MNLI machine-translated into the 15 XNLI languages (facebook/xnli).",
    benchmark="x-stilts-translated"))
register_task(TaskSpec(
    name="squad_translated", task_type=TaskType.SPAN_QA, intermediate=True, languages=XQUAD_LANGS,
    sources={"train": ("squad_translated",), "validation": ("squad_translated",)},
    metrics=_QA_METRICS, max_length=384,
    description="Translated SQuAD v1.1 from user files (no Hub copy).",
    benchmark="x-stilts-translated"))
register_task(TaskSpec(
    name="xcopa", task_type=TaskType.MULTIPLE_CHOICE, labels=COPA_LABELS,
    # "en" is a language only so English COPA can be the (zero-shot) train split.
    languages=ENGLISH + XCOPA_LANGS,
    sources={"train": ("copa",), "validation": ("xcopa",), "test": ("xcopa",)},
    split_languages={"train": ENGLISH, "validation": XCOPA_LANGS, "test": XCOPA_LANGS},
    # Premise + question phrase + choice is under ~60 subwords even in the longest languages.
    metrics=("accuracy",), max_length=128,
    benchmark="xtreme_r", title="XCOPA", main_metric="accuracy"))
register_task(TaskSpec(
    name="panx_r", task_type=TaskType.TAGGING, labels=NER_LABELS, languages=PANX_R_LANGS,
    sources={s: ("wikiann",) for s in ("train", "validation", "test")},
    split_languages={"train": ENGLISH}, metrics=("seqeval_f1",), max_length=256,
    benchmark="xtreme_r", title="PAN-X (XTREME-R)", main_metric="f1"))

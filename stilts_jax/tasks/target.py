"""The nine XTREME target tasks, their `google/xtreme` sources and full language lists.

Language lists are XTREME's `XTREME_TASK2LANGS` (reference/paper.md §3). Target tasks train on
English only (zero-shot), so every `train` split is restricted to `en` and, for XNLI/XQuAD/MLQA,
points at the English intermediate source (MNLI, SQuAD 1.1). BUCC and Tatoeba have no train split.
"""

from __future__ import annotations

from stilts_jax.tasks.intermediate import NLI_LABELS
from stilts_jax.tasks.registry import (ENGLISH, MAIN_PARQUET, SourceSpec, TaskSpec, TaskType,
                                       register_source, register_task)

XTREME_HUB = "google/xtreme"

XNLI_LANGS = tuple("ar bg de el en es fr hi ru sw th tr ur vi zh".split())
PAWSX_LANGS = tuple("de en es fr ja ko zh".split())
UDPOS_LANGS = tuple(("af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta te "
                     "th tl tr ur vi yo zh").split())
UDPOS_TEST_ONLY = ("kk", "th", "tl", "yo")  # no validation split in UD v2.5 for these
PANX_LANGS = tuple(("af ar bg bn de el en es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr ms "
                    "my nl pt ru sw ta te th tl tr ur vi yo zh").split())
XQUAD_LANGS = tuple("en es de el ru tr ar vi th zh hi".split())
MLQA_LANGS = tuple("en es de ar hi vi zh".split())
TYDIQA_LANGS = tuple("en ar bn fi id ko ru sw te".split())
BUCC_LANGS = tuple("de fr ru zh".split())
TATOEBA_LANGS = tuple(("ar he vi id jv tl eu ml ta te af nl de el bn hi mr ur fa fr it pt es bg ru "
                       "ja ka ko th sw zh kk tr et fi hu").split())

UPOS_LABELS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON",
               "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X")
NER_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")

# Config-name spellings used by google/xtreme.
UDPOS_CONFIG_NAMES = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian",
    "fi": "Finnish", "fr": "French", "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian",
    "id": "Indonesian", "it": "Italian", "ja": "Japanese", "kk": "Kazakh", "ko": "Korean",
    "mr": "Marathi", "nl": "Dutch", "pt": "Portuguese", "ru": "Russian", "ta": "Tamil",
    "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "ur": "Urdu",
    "vi": "Vietnamese", "yo": "Yoruba", "zh": "Chinese"}
TATOEBA_CONFIG_NAMES = {
    "af": "afr", "ar": "ara", "bn": "ben", "bg": "bul", "de": "deu", "zh": "cmn", "el": "ell",
    "et": "est", "eu": "eus", "fi": "fin", "fr": "fra", "he": "heb", "hi": "hin", "hu": "hun",
    "id": "ind", "it": "ita", "jv": "jav", "ja": "jpn", "ka": "kat", "kk": "kaz", "ko": "kor",
    "ml": "mal", "mr": "mar", "nl": "nld", "fa": "pes", "pt": "por", "ru": "rus", "es": "spa",
    "sw": "swh", "ta": "tam", "te": "tel", "tl": "tgl", "th": "tha", "tr": "tur", "ur": "urd",
    "vi": "vie"}
# TyDiQA keeps all languages in one config; ids start with the language's English name.
TYDIQA_ID_PREFIXES = {
    "en": "english", "ar": "arabic", "bn": "bengali", "fi": "finnish", "id": "indonesian",
    "ko": "korean", "ru": "russian", "sw": "swahili", "te": "telugu"}

_EVAL = {"validation": ("validation",), "test": ("test",)}
_WITH_TRAIN = {"train": ("train",), **_EVAL}
_RETRIEVAL_COLUMNS = {"source": "source_sentence", "target": "target_sentence",
                      "source_id": "source_lang", "target_id": "target_lang"}

register_source(SourceSpec(
    # One config with all 15 languages and a `language` column; no train split (train = MNLI).
    name="xnli", hub_id=XTREME_HUB, config="XNLI", schema="pair", lang_filter="column:language",
    columns={"text_a": "sentence1", "text_b": "sentence2", "label": "gold_label"}, splits=_EVAL,
    hub_files=MAIN_PARQUET))
register_source(SourceSpec(
    # The Hub rows lost every line that CSV quoting could not parse (en train 49,175 of the
    # official 49,401); the official x-final/ TSVs load directly (read with a plain tab split).
    name="pawsx", hub_id=XTREME_HUB, config="PAWS-X.{lang}", schema="pair",
    columns={"text_a": "sentence1", "text_b": "sentence2", "label": "label"}, splits=_WITH_TRAIN,
    official_files={"train": ("{lang}/train.tsv",), "validation": ("{lang}/dev_2k.tsv",),
                    "test": ("{lang}/test_2k.tsv",)}, hub_files=MAIN_PARQUET,
    hub_differs="the Hub rows lost the lines CSV quoting could not parse (en train 49,175 of "
                "49,401; ko test 1,999 of 2,000)"))
register_source(SourceSpec(
    name="udpos", hub_id=XTREME_HUB, config="udpos.{lang}", schema="tagging",
    columns={"tokens": "tokens", "tags": "pos_tags"}, lang_names=UDPOS_CONFIG_NAMES,
    splits=_WITH_TRAIN, hub_files=MAIN_PARQUET,
    hub_differs="the Hub groups treebanks by language name (Greek test includes 2,353 Ancient "
                "Greek sentences) and splits multiword tokens, where XTREME tags fused tokens"))
register_source(SourceSpec(
    name="panx", hub_id=XTREME_HUB, config="PAN-X.{lang}", schema="tagging",
    columns={"tokens": "tokens", "tags": "ner_tags"}, splits=_WITH_TRAIN, hub_files=MAIN_PARQUET))
register_source(SourceSpec(
    # Validation only on the Hub (1,190 rows/language); XTREME reports it as the test set.
    name="xquad", hub_id=XTREME_HUB, config="XQuAD.{lang}", schema="squad",
    splits={"validation": ("validation",)},
    official_files={"validation": ("xquad.{lang}.json",)}, hub_files=MAIN_PARQUET))
register_source(SourceSpec(
    # XTREME evaluates context language == question language only.
    name="mlqa", hub_id=XTREME_HUB, config="MLQA.{lang}.{lang}", schema="squad", splits=_EVAL,
    official_files={"validation": ("dev/dev-context-{lang}-question-{lang}.json",),
                    "test": ("test/test-context-{lang}-question-{lang}.json",)},
    hub_files=MAIN_PARQUET))
register_source(SourceSpec(
    name="tydiqa", hub_id=XTREME_HUB, config="tydiqa", schema="squad", lang_filter="id_prefix",
    lang_names=TYDIQA_ID_PREFIXES, splits={"train": ("train",), "validation": ("validation",)},
    # The GoldP release (all languages in one train file; dev per language or combined) and
    # XTREME's renamed per-language copies. Ids start with the language name in all of them.
    official_files={"train": ("tydiqa-goldp-v1.1-train.json", "tydiqa.goldp.{lang}.train.json"),
                    "validation": ("tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-{name}.json",
                                   "tydiqa-goldp-v1.1-dev.json", "tydiqa.goldp.{lang}.dev.json")},
    hub_files=MAIN_PARQUET))
register_source(SourceSpec(
    # Gold pairs only (not the comparable corpora); `source_lang`/`target_lang` hold sentence ids.
    # A local directory of the original BUCC files takes over via data_overrides (raw_formats.py).
    name="bucc2018", hub_id=XTREME_HUB, config="bucc18.{lang}", schema="retrieval_pairs",
    columns=_RETRIEVAL_COLUMNS, splits=_EVAL, hub_files=MAIN_PARQUET,
    hub_differs="the Hub holds the gold pairs only: mining without the distractor sentences is "
                "far easier than BUCC 2018"))
register_source(SourceSpec(
    name="tatoeba", hub_id=XTREME_HUB, config="tatoeba.{lang}", schema="retrieval_pairs",
    # source_lang/target_lang hold language codes here (not ids), so guids come from row order.
    columns={"source": "source_sentence", "target": "target_sentence"},
    lang_names=TATOEBA_CONFIG_NAMES,
    splits={"validation": ("validation",)}, hub_files=MAIN_PARQUET))

_QA_METRICS = ("squad_em", "squad_f1")
_TAG_METRICS = ("seqeval_f1",)

register_task(TaskSpec(
    name="xnli", task_type=TaskType.CLASSIFICATION, labels=NLI_LABELS, languages=XNLI_LANGS,
    sources={"train": ("mnli",), "validation": ("xnli",), "test": ("xnli",)},
    split_languages={"train": ENGLISH}, metrics=("accuracy",), max_length=256,
    benchmark="xtreme", title="XNLI", main_metric="accuracy"))
register_task(TaskSpec(
    name="pawsx", task_type=TaskType.CLASSIFICATION, labels=("0", "1"), languages=PAWSX_LANGS,
    sources={s: ("pawsx",) for s in _WITH_TRAIN}, split_languages={"train": ENGLISH},
    metrics=("accuracy",), max_length=256,
    benchmark="xtreme", title="PAWS-X", main_metric="accuracy"))
register_task(TaskSpec(
    name="udpos", task_type=TaskType.TAGGING, labels=UPOS_LABELS, languages=UDPOS_LANGS,
    sources={s: ("udpos",) for s in _WITH_TRAIN},
    split_languages={"train": ENGLISH,
                     "validation": tuple(l for l in UDPOS_LANGS if l not in UDPOS_TEST_ONLY)},
    metrics=_TAG_METRICS, max_length=256,
    benchmark="xtreme", title="UD-POS", main_metric="f1"))
register_task(TaskSpec(
    name="panx", task_type=TaskType.TAGGING, labels=NER_LABELS, languages=PANX_LANGS,
    sources={s: ("panx",) for s in _WITH_TRAIN}, split_languages={"train": ENGLISH},
    metrics=_TAG_METRICS, max_length=256,
    benchmark="xtreme", title="PAN-X", main_metric="f1"))
register_task(TaskSpec(
    name="xquad", task_type=TaskType.SPAN_QA, languages=XQUAD_LANGS,
    sources={"train": ("squad_v1",), "validation": ("xquad",)},
    split_languages={"train": ENGLISH}, metrics=_QA_METRICS, max_length=384,
    benchmark="xtreme", title="XQuAD", main_metric="score"))
register_task(TaskSpec(
    name="mlqa", task_type=TaskType.SPAN_QA, languages=MLQA_LANGS,
    sources={"train": ("squad_v1",), "validation": ("mlqa",), "test": ("mlqa",)},
    split_languages={"train": ENGLISH}, metrics=("mlqa_em", "mlqa_f1"), max_length=384,
    benchmark="xtreme", title="MLQA", main_metric="score"))
register_task(TaskSpec(
    name="tydiqa", task_type=TaskType.SPAN_QA, languages=TYDIQA_LANGS,
    sources={"train": ("tydiqa",), "validation": ("tydiqa",)},
    split_languages={"train": ENGLISH}, metrics=_QA_METRICS, max_length=384,
    benchmark="xtreme", title="TyDiQA", main_metric="score"))
register_task(TaskSpec(
    name="bucc2018", task_type=TaskType.RETRIEVAL, languages=BUCC_LANGS,
    sources={"validation": ("bucc2018",), "test": ("bucc2018",)},
    metrics=("bucc_f1",), max_length=512,
    benchmark="xtreme", title="BUCC", main_metric="f1"))
register_task(TaskSpec(
    name="tatoeba", task_type=TaskType.RETRIEVAL, languages=TATOEBA_LANGS,
    sources={"validation": ("tatoeba",)}, metrics=("tatoeba_accuracy",), max_length=512,
    benchmark="xtreme", title="Tatoeba", main_metric="accuracy"))

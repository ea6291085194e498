"""Tiny offline datasets in the exact Hub schemas, for the tests.

    overrides = write_fixtures("/tmp/fx")          # -> data_overrides for load_examples
    load_examples("panx", "validation", "th", data_overrides=overrides)

Every registered source (the 18 X-STILTs/XTREME ones here, xtreme_r.py's in
_fixtures_xtreme_r.py) is written with its Hub `datasets.Features` (ClassLabel names, nested
`answers` structs, ...; stilts_jax/demo/hub_files.py) as
`{root}/{source}/{config}/{hub_split}.{parquet|jsonl}`, i.e. the source-level override layout of
loading.py, so fixtures go through the same loader code as real data; sources without a Hub copy (squad_translated, copa) get the schema their files must have.
Also written: the original BUCC 2018 file layout (`{root}/bucc2018_original`, selected with
`bucc="original"`) and the CCG file layout (`{root}/ccg`). Non-English splits cover the languages
of `_fixture_text.LANGUAGES` that the task has (`fixture_languages(task, split)`), plus
XTREME-R's new PAN-X languages for panx_r.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

import _fixture_text as T
import _fixtures_xtreme_r as fixtures_xtreme_r
from _fixture_text import _nli_rows, _qa_rows, fixture_languages  # noqa: F401 (tests import it)
from stilts_jax.demo.hub_files import write_split as _write  # short: called ~40 times
from stilts_jax.tasks.intermediate import CSQA_KEYS, NLI_LABELS
from stilts_jax.tasks.registry import get_source, list_sources
from stilts_jax.tasks.target import NER_LABELS, TATOEBA_CONFIG_NAMES, UPOS_LABELS

BUCC_ORIGINAL_DIR = "bucc2018_original"


def _mnli(root, fmt):
  rows = [(p, h, l) for p, h, l in _nli_rows("en") + T.EN_NLI_EXTRA]
  conv = lambda rs: [{"premise": p, "hypothesis": h, "label": NLI_LABELS.index(l), "idx": i}
                     for i, (p, h, l) in enumerate(rs)]
  for split in ("train", "validation_matched", "validation_mismatched"):
    _write(root, "mnli", "mnli", split, conv(rows), "glue_mnli", fmt)
  test = [dict(r, label=-1) for r in conv(rows[:2])]  # GLUE test rows carry no gold
  _write(root, "mnli", "mnli", "test_matched", test, "glue_mnli", fmt)


def _snli(root, fmt):
  rows = [{"premise": p, "hypothesis": h, "label": NLI_LABELS.index(l)}
          for p, h, l in T.EN_NLI_EXTRA]
  # Two pairs without annotator majority (label -1), as in the real train/validation splits.
  no_gold = [{"premise": T.BANK["en"]["premise"], "hypothesis": "The street is loud.", "label": -1},
             {"premise": "A dog runs.", "hypothesis": "An animal is outside.", "label": -1}]
  for split in ("train", "validation", "test"):
    _write(root, "snli", "plain_text", split, rows[:1] + no_gold + rows[1:], "snli", fmt)


def _anli(root, fmt):
  for kind in ("train", "dev", "test"):
    for r in (1, 2, 3):
      rows = [{"uid": f"{kind}-r{r}-{i}", "premise": p, "hypothesis": h,
               "label": NLI_LABELS.index(l), "reason": "" if kind != "train" else "annotator note"}
              for i, (p, h, l) in enumerate(_nli_rows("en")[: r])]
      _write(root, "anli", "plain_text", f"{kind}_r{r}", rows, "anli", fmt)


def _qqp(root, fmt):
  rows = [{"question1": a, "question2": b, "label": l, "idx": i}
          for i, (a, b, l) in enumerate(T.EN_QUESTION_PAIRS)]
  _write(root, "qqp", "qqp", "train", rows, "glue_qqp", fmt)
  _write(root, "qqp", "qqp", "validation", rows, "glue_qqp", fmt)
  _write(root, "qqp", "qqp", "test", [dict(r, label=-1) for r in rows], "glue_qqp", fmt)


def _squad(root, fmt):
  for split in ("train", "validation"):
    _write(root, "squad_v1", "plain_text", split, _qa_rows("en", f"{split}-"), "squad", fmt)
    unanswerable = {"id": f"{split}-en-impossible", "title": "Berlin",
                    "context": T.BANK["en"]["context"], "question": "What is the capital of France?",
                    "answers": {"text": [], "answer_start": []}}
    _write(root, "squad_v2", "squad_v2", split, _qa_rows("en", f"{split}-") + [unanswerable],
           "squad", fmt)


def _multiple_choice(root, fmt):
  hs = [{"ind": 4, "activity_label": "Playing guitar", "ctx_a": "A man sits on a chair.",
         "ctx_b": "he", "ctx": "A man sits on a chair. he",
         "endings": ["tunes his guitar and starts to play.", "eats the chair.",
                     "flies to the moon.", "turns into a guitar."],
         "source_id": "activitynet~v_x", "split": "train", "split_type": "indomain", "label": "0"},
        {"ind": 9, "activity_label": "Cooking", "ctx_a": "How to boil an egg.", "ctx_b": "",
         "ctx": "How to boil an egg.",
         "endings": ["Paint the egg blue.", "Put the egg in boiling water for eight minutes.",
                     "Throw the egg away.", "Sing to the egg."],
         "source_id": "wikihow~1", "split": "train", "split_type": "indomain", "label": "1"}]
  for split in ("train", "validation"):
    _write(root, "hellaswag", None, split, hs, "hellaswag", fmt)
  _write(root, "hellaswag", None, "test", [dict(r, label="") for r in hs], "hellaswag", fmt)
  cq = [{"id": "c1", "context": "I missed the bus this morning, so I walked to work.",
         "question": "Why did I walk to work?", "answer0": "I enjoy long walks.",
         "answer1": "I missed the bus.", "answer2": "My car is red.", "answer3": "None of the above.",
         "label": 1},
        {"id": "c2", "context": "It rained all day and the picnic was cancelled.",
         "question": "What happened to the picnic?", "answer0": "It was cancelled.",
         "answer1": "It was moved indoors.", "answer2": "It was a success.",
         "answer3": "None of the above.", "label": 0}]
  for split in ("train", "validation"):
    _write(root, "cosmosqa", None, split, cq, "cosmosqa", fmt)
  _write(root, "cosmosqa", None, "test", [dict(r, label=-1) for r in cq], "cosmosqa", fmt)
  cs = [{"id": "q1", "question": "Where would you keep milk cold?", "question_concept": "milk",
         "choices": {"label": list(CSQA_KEYS),
                     "text": ["oven", "refrigerator", "garden", "library", "car roof"]},
         "answerKey": "B"},
        {"id": "q2", "question": "What do people use to write on paper?",
         "question_concept": "paper",
         "choices": {"label": list(CSQA_KEYS), "text": ["spoon", "shoe", "pen", "pillow", "lamp"]},
         "answerKey": "C"}]
  for split in ("train", "validation"):
    _write(root, "commonsenseqa", None, split, cs, "commonsenseqa", fmt)
  _write(root, "commonsenseqa", None, "test", [dict(r, answerKey="") for r in cs],
         "commonsenseqa", fmt)


def _xnli_pawsx(root, fmt):
  langs = fixture_languages("xnli", "validation")
  rows = [{"language": l, "sentence1": p, "sentence2": h, "gold_label": g}
          for l in langs for p, h, g in _nli_rows(l)]
  for split in ("validation", "test"):
    _write(root, "xnli", "XNLI", split, rows, "xnli", fmt)
  for lang in fixture_languages("pawsx", "validation"):
    b = T.BANK[lang]
    rows = [{"sentence1": b["premise"], "sentence2": b["entail"], "label": "1"},
            {"sentence1": b["premise"], "sentence2": b["contra"], "label": "0"}]
    for split in ("train", "validation", "test") if lang == "en" else ("validation", "test"):
      _write(root, "pawsx", f"PAWS-X.{lang}", split, rows, "pawsx", fmt)


def _tagging(root, fmt):
  src = get_source("udpos")
  for lang in fixture_languages("udpos", "test"):
    sents = [T.BANK[lang]["pos"]] + (T.EN_POS_EXTRA if lang == "en" else [])
    rows = [{"tokens": [w for w, _ in s], "pos_tags": [UPOS_LABELS.index(t) for _, t in s]}
            for s in sents]
    splits = ["test"] + (["validation"] if lang in fixture_languages("udpos", "validation") else [])
    for split in splits + (["train"] if lang == "en" else []):
      _write(root, "udpos", src.hub_config(lang), split, rows, "udpos", fmt)
  for lang in fixture_languages("panx", "test"):
    sents = [T.BANK[lang]["ner"]] + (T.EN_NER_EXTRA if lang == "en" else [])
    rows = [{"tokens": [w for w, _ in s], "ner_tags": [NER_LABELS.index(t) for _, t in s],
             "langs": [lang] * len(s)} for s in sents]
    for split in ("train", "validation", "test"):
      _write(root, "panx", f"PAN-X.{lang}", split, rows, "panx", fmt)


def _qa_targets(root, fmt):
  for lang in fixture_languages("xquad", "validation"):
    rows = [{k: v for k, v in r.items() if k != "title"} for r in _qa_rows(lang)]
    _write(root, "xquad", f"XQuAD.{lang}", "validation", rows, "xquad", fmt)
  for lang in fixture_languages("mlqa", "test"):
    for split in ("validation", "test"):
      _write(root, "mlqa", f"MLQA.{lang}.{lang}", split, _qa_rows(lang, f"{split}-"), "squad", fmt)
  # A cross-lingual config (German context, English question) that XTREME does not evaluate.
  _write(root, "mlqa", "MLQA.de.en", "test", _qa_rows("de", "test-", "en"), "squad", fmt)
  prefixes = get_source("tydiqa").lang_names
  tydi = lambda lang, split: [dict(r, id=f"{prefixes[lang]}-{split}-{k}")
                              for k, r in enumerate(_qa_rows(lang))]
  train = tydi("en", "train") + tydi("ar", "train")  # non-English rows must be filtered out
  _write(root, "tydiqa", "tydiqa", "train", train, "squad", fmt)
  valid = [r for l in fixture_languages("tydiqa", "validation") for r in tydi(l, "validation")]
  _write(root, "tydiqa", "tydiqa", "validation", valid, "squad", fmt)


def _bitext(lang: str) -> list[tuple[str, str]]:
  b, e = T.BANK[lang], T.BANK["en"]
  return [(b[k], e[k]) for k in ("premise", "context", "contra")]


def _retrieval(root, fmt):
  for lang in fixture_languages("bucc2018", "test"):
    rows = [{"source_sentence": s, "target_sentence": t, "source_lang": f"{lang}-{i:06d}",
             "target_lang": f"en-{i:06d}"} for i, (s, t) in enumerate(_bitext(lang)[:2])]
    for split in ("validation", "test"):
      _write(root, "bucc2018", f"bucc18.{lang}", split, rows, "retrieval", fmt)
  for lang in fixture_languages("tatoeba", "validation"):
    iso = TATOEBA_CONFIG_NAMES[lang]
    # The old Hub script kept each line's trailing newline; mimic it.
    rows = [{"source_sentence": s + "\n", "target_sentence": t + "\n", "source_lang": iso,
             "target_lang": "eng"} for s, t in _bitext(lang)]
    _write(root, "tatoeba", f"tatoeba.{iso}", "validation", rows, "retrieval", fmt)


def _write_lines(path: str, lines: Iterable[str]) -> None:
  with open(path, "w", encoding="utf-8") as f:
    f.writelines(f"{line}\n" for line in lines)


def write_bucc_original(directory: str) -> str:
  """Original BUCC 2018 layout: full comparable corpora (with non-gold sentences) + gold."""
  os.makedirs(directory, exist_ok=True)
  for lang in fixture_languages("bucc2018", "test"):
    pairs = _bitext(lang)
    for name in ("sample", "training"):
      prefix = os.path.join(directory, f"{lang}-en.{name}")
      # Source ids interleave with unrelated sentences so gold ids differ from line numbers.
      _write_lines(f"{prefix}.{lang}", [f"{lang}-{i:06d}\t{s}" for i, (s, _) in enumerate(pairs)])
      _write_lines(f"{prefix}.en", [f"en-{i:06d}\t{t}" for i, (_, t) in enumerate(pairs)]
                   + [f"en-{len(pairs):06d}\t{T.EN_UNRELATED}"])
      _write_lines(f"{prefix}.gold", [f"{lang}-{i:06d}\ten-{i:06d}" for i in range(2)])
  return directory


CCG_SENTENCES = [
    ("The man plays the guitar .", "NP[nb]/N N (S[dcl]\\NP)/NP NP[nb]/N N ."),
    ("Kids read books .", "N (S[dcl]\\NP)/NP N ."),
    ("She cooks dinner .", "NP (S[dcl]\\NP)/NP N ."),
]


def write_ccg(directory: str) -> str:
  """The CCG file layout of raw_formats.py (jiant's): {train,dev,test}.tsv + tags_to_id.json."""
  os.makedirs(directory, exist_ok=True)
  tags = sorted({t for _, ts in CCG_SENTENCES for t in ts.split()})
  with open(os.path.join(directory, "tags_to_id.json"), "w", encoding="utf-8") as f:
    json.dump({t: i for i, t in enumerate(tags)}, f, indent=1)
  for name in ("train.tsv", "dev.tsv", "test.tsv"):
    _write_lines(os.path.join(directory, name), [f"{w}\t{t}" for w, t in CCG_SENTENCES])
  return directory


def write_fixtures(root: str | os.PathLike, fmt: str = "parquet",
                   bucc: str = "hub") -> dict[str, str]:
  """Writes every fixture under `root`; returns `data_overrides` for every source + ccg.

  `fmt` is "parquet" (keeps ClassLabel features) or "jsonl"; `bucc` picks which BUCC layout the
  returned overrides point at ("hub" gold-pair configs or "original" files); both are written.
  """
  if fmt not in ("parquet", "jsonl"):
    raise ValueError(f"fmt must be 'parquet' or 'jsonl', got {fmt!r}")
  if bucc not in ("hub", "original"):
    raise ValueError(f"bucc must be 'hub' or 'original', got {bucc!r}")
  root = os.fspath(root)
  for writer in (_mnli, _snli, _anli, _qqp, _squad, _multiple_choice, _xnli_pawsx, _tagging,
                 _qa_targets, _retrieval, fixtures_xtreme_r.write_xtreme_r):
    writer(root, fmt)
  write_bucc_original(os.path.join(root, BUCC_ORIGINAL_DIR))
  write_ccg(os.path.join(root, "ccg"))
  overrides = {name: os.path.join(root, name) for name in list_sources()}
  if bucc == "original":
    overrides["bucc2018"] = os.path.join(root, BUCC_ORIGINAL_DIR)
  overrides["ccg"] = os.path.join(root, "ccg")
  return overrides


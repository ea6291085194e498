"""Synthetic multilingual data for the offline demo, in the exact Hub schemas.

    overrides = write_demo_data("runs/demo/data")         # -> data_overrides for load_examples
    load_examples("xnli", "validation", "de", data_overrides=overrides)
    build_tokenizer(tok_dir, demo_texts(overrides), vocab_size=...)

What it is. Six sources written as `{root}/{source}/{config}/{hub_split}.parquet` (the
source-level override layout of tasks/loading.py, with the Hub `datasets.Features` of
hub_files.py), so the demo goes through the real loaders and converters:

* `mnli` (train, validation_matched, validation_mismatched) and `xnli` (validation, test; en de es
  fr ru): "Anna buys 3 books in Oslo." paired with a hypothesis whose label follows one token-level
  rule: every hypothesis word also in the premise -> entailment ("Anna buys 3 books."); same person
  but another number or city -> contradiction ("Anna buys 7 books.", "Anna buys 0 books.");
  another person -> neutral.
* `panx` (train en; validation, test en de es fr ru): template sentences whose PER/ORG/LOC words
  come from small name, company and city lists.
* `squad_v1` (train, validation) and `xquad` (validation; en de es ru): contexts of 3-4 facts
  about different people ("Anna lives in Oslo. Hugo is 42 years old."); the question names one
  person and one fact kind, the answer is the city, company or number of that fact. Every 10th
  Russian XQuAD answer is one character off its `answer_start`, as real Hub rows are.
* `tatoeba` (validation; de es fr ru <-> en): parallel renderings of the same sentences.

Non-English text is a hand translation of a small vocabulary (lexicon.py), but names,
cities, companies and digits are identical in every language (Latin script even inside Cyrillic
Russian) and they carry every label signal. Rows are deterministic given `seed`.

What it can show: that the pipeline runs end to end (intermediate training, target fine-tuning,
zero-shot evaluation, retrieval, the results table), that a tiny model learns each task type in a
few hundred steps, and that zero-shot transfer through shared sub-vocabulary happens. What it
cannot show: anything about real XTREME numbers, whether an intermediate task helps on real data,
or transfer between languages that share no tokens.
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Mapping
from pathlib import Path

from stilts_jax.demo import lexicon as L
from stilts_jax.demo.hub_files import write_split
from stilts_jax.tasks.intermediate import NLI_LABELS
from stilts_jax.tasks.registry import get_task
from stilts_jax.tasks.target import NER_LABELS, TATOEBA_CONFIG_NAMES

SOURCES = ("mnli", "xnli", "panx", "squad_v1", "xquad", "tatoeba")
# Languages with evaluation data, per target task (all in the task's XTREME language list).
DEMO_LANGUAGES: dict[str, tuple[str, ...]] = {
    "xnli": ("en", "de", "es", "fr", "ru"),
    "panx": ("en", "de", "es", "fr", "ru"),
    "xquad": ("en", "de", "es", "ru"),  # XQuAD has no French
    "tatoeba": ("de", "es", "fr", "ru"),
}
# Columns holding running text (or word lists), for the tokenizer corpus.
TEXT_COLUMNS = ("premise", "hypothesis", "sentence1", "sentence2", "context", "question",
                "tokens", "source_sentence", "target_sentence")
FMT = "parquet"  # keeps ClassLabel names in the file metadata


@dataclasses.dataclass(frozen=True)
class DemoSizes:
  """Rows per file. `eval` is per language and split; the defaults fit the 3-minute CPU demo."""
  mnli_train: int = 3000
  squad_train: int = 1500
  panx_train: int = 1500
  eval: int = 150
  tatoeba: int = 150


def _rng(seed: int, *parts: str) -> random.Random:
  # String seeds hash with SHA-512, so streams are stable across runs and PYTHONHASHSEED.
  return random.Random(":".join((str(seed),) + parts))


def _balanced(rng: random.Random, n: int, k: int) -> list[int]:
  labels = [i % k for i in range(n)]
  rng.shuffle(labels)
  return labels


# --------------------------------------------------------------------------- NLI / Tatoeba


def _action(lang: str, name: str, action: int, number: int | None, city: str | None) -> str:
  """'Anna buys 3 books in Oslo.' with the number and/or the city left out when None."""
  verb, obj = L.ACTIONS[lang][action]
  words = [name, verb] + ([str(number)] if number is not None else []) + [obj]
  if city is not None:
    words += [L.IN[lang], city]
  return " ".join(words) + "."


def _nli_pair(rng: random.Random, lang: str, label: str) -> tuple[str, str]:
  name, city = rng.choice(L.FIRST_NAMES), rng.choice(L.CITIES)
  action, number = rng.randrange(len(L.ACTIONS[lang])), rng.randint(2, 9)
  premise = _action(lang, name, action, number, city)
  other = lambda pool, x: rng.choice([p for p in pool if p != x])
  drop_number = rng.random() < 0.5  # two surface variants per label, so no single template wins
  if label == "entailment":  # hypothesis words are a subset of the premise's
    hyp = (_action(lang, name, action, None, city) if drop_number
           else _action(lang, name, action, number, None))
  elif label == "contradiction":  # same person, a different number or city
    # Half the number changes are to "0" ("Anna buys 0 books."): a cue a tiny model picks up
    # quickly and, being a digit, one that every language shares.
    wrong = 0 if rng.random() < 0.5 else other(range(2, 10), number)
    hyp = (_action(lang, name, action, number, other(L.CITIES, city)) if drop_number
           else _action(lang, name, action, wrong, None))
  else:  # neutral: the premise says nothing about another person
    hyp = _action(lang, other(L.FIRST_NAMES, name), rng.randrange(len(L.ACTIONS[lang])),
                  rng.randint(2, 9), rng.choice(L.CITIES) if drop_number else None)
  return premise, hyp


def _nli_pairs(seed: int, lang: str, split: str, n: int) -> list[tuple[str, str, int]]:
  rng = _rng(seed, "nli", split, lang)
  return [(*_nli_pair(rng, lang, NLI_LABELS[y]), y) for y in _balanced(rng, n, len(NLI_LABELS))]


def _bitext(seed: int, lang: str, n: int) -> list[tuple[str, str]]:
  """n distinct (lang sentence, English sentence) pairs: action and QA-fact sentences."""
  rng, pairs, seen = _rng(seed, "tatoeba", lang), [], set()
  while len(pairs) < n:
    name = rng.choice(L.FIRST_NAMES)
    if rng.random() < 0.5:
      action, number = rng.randrange(len(L.ACTIONS["en"])), rng.randint(2, 9)
      city = rng.choice(L.CITIES)
      pair = tuple(_action(l, name, action, number, city) for l in (lang, "en"))
    else:
      kind, value = _fact_value(rng)
      pair = tuple(L.QA_FACTS[l][kind][0].format(P=name, X=value) for l in (lang, "en"))
    if pair[1] not in seen:  # one English sentence per pair, so gold is unambiguous
      seen.add(pair[1])
      pairs.append(pair)
  return pairs


# --------------------------------------------------------------------------- NER


def _person(rng: random.Random) -> str:
  first = rng.choice(L.FIRST_NAMES)
  return f"{first} {rng.choice(L.LAST_NAMES)}" if rng.random() < 0.5 else first


_ENTITY = {"PER": _person, "ORG": lambda rng: rng.choice(L.COMPANIES),
           "LOC": lambda rng: rng.choice(L.CITIES)}


def _ner_sentence(rng: random.Random, lang: str) -> tuple[list[str], list[int]]:
  words, tags = [], []
  for word in rng.choice(L.NER_TEMPLATES[lang]).split():
    kind = word[1:-1] if word.startswith("{") else None
    if kind is None:
      words.append(word)
      tags.append(NER_LABELS.index("O"))
      continue
    for k, part in enumerate(_ENTITY[kind](rng).split()):
      words.append(part)
      tags.append(NER_LABELS.index(f"{'I' if k else 'B'}-{kind}"))
  return words, tags


# --------------------------------------------------------------------------- QA


def _fact_value(rng: random.Random, kind: str | None = None) -> tuple[str, str]:
  kind = kind or rng.choice(("city", "company", "age"))
  value = {"city": lambda: rng.choice(L.CITIES), "company": lambda: rng.choice(L.COMPANIES),
           "age": lambda: str(rng.randint(18, 79))}[kind]()
  return kind, value


def _qa_row(rng: random.Random, lang: str, row_id: str) -> dict:
  people = rng.sample(L.FIRST_NAMES, rng.choice((3, 4)))
  facts, used = [], set()
  for person in people:
    kind, value = _fact_value(rng)
    while value in used:  # distinct answers, so the span is unambiguous
      kind, value = _fact_value(rng, kind)
    used.add(value)
    facts.append((person, kind, value))
  asked = rng.randrange(len(facts))
  context, start = "", 0
  for k, (person, kind, value) in enumerate(facts):
    template = L.QA_FACTS[lang][kind][0].format(P=person, X="{X}")
    context += "" if k == 0 else " "
    if k == asked:  # offset of the slot itself, never an earlier occurrence of the same text
      start = len(context) + template.index("{X}")
    context += template.format(X=value)
  person, kind, value = facts[asked]
  return {"id": row_id, "title": "Demo", "context": context,
          "question": L.QA_FACTS[lang][kind][1].format(P=person),
          "answers": {"text": [value], "answer_start": [start]}}


def _shift_like_the_hub(rows: list[dict], every: int = 10) -> None:
  """The Hub's XQuAD rows keep `answer_start` from before their context was `.strip()`ed (zh has
  100 such answers): every `every`-th row gets a start one past its answer, as if one leading
  space had been stripped, so a demo run shows the loader's re-alignment in results.md."""
  for row in rows[::every]:
    row["answers"] = dict(row["answers"], answer_start=[s + 1 for s in
                                                        row["answers"]["answer_start"]])


def _qa_rows(seed: int, lang: str, split: str, n: int) -> list[dict]:
  rng = _rng(seed, "qa", split, lang)
  return [_qa_row(rng, lang, f"{split}-{lang}-{i}") for i in range(n)]


# --------------------------------------------------------------------------- writing


def write_demo_data(root: str | os.PathLike, *, seed: int = 0,
                    sizes: DemoSizes | Mapping[str, int] = DemoSizes()) -> dict[str, str]:
  """Writes the six demo sources under `root`; returns `data_overrides` ({source: directory})."""
  if not isinstance(sizes, DemoSizes):
    sizes = DemoSizes(**sizes)
  for task, langs in DEMO_LANGUAGES.items():  # fail here, not mid-demo, if a list drifts
    assert set(langs) <= set(get_task(task).languages), (task, langs)
  root = os.fspath(root)
  n = sizes.eval

  mnli = lambda rows: [{"premise": p, "hypothesis": h, "label": y, "idx": i}
                       for i, (p, h, y) in enumerate(rows)]
  write_split(root, "mnli", "mnli", "train",
              mnli(_nli_pairs(seed, "en", "mnli-train", sizes.mnli_train)), "glue_mnli", FMT)
  for hub_split in ("validation_matched", "validation_mismatched"):
    write_split(root, "mnli", "mnli", hub_split,
                mnli(_nli_pairs(seed, "en", f"mnli-{hub_split}", n)), "glue_mnli", FMT)
  for split in ("validation", "test"):
    rows = [{"language": l, "sentence1": p, "sentence2": h, "gold_label": NLI_LABELS[y]}
            for l in DEMO_LANGUAGES["xnli"] for p, h, y in _nli_pairs(seed, l, f"xnli-{split}", n)]
    write_split(root, "xnli", "XNLI", split, rows, "xnli", FMT)

  for lang in DEMO_LANGUAGES["panx"]:
    for split in ("train", "validation", "test") if lang == "en" else ("validation", "test"):
      rng = _rng(seed, "panx", split, lang)
      rows = []
      for _ in range(sizes.panx_train if split == "train" else n):
        words, tags = _ner_sentence(rng, lang)
        rows.append({"tokens": words, "ner_tags": tags, "langs": [lang] * len(words)})
      write_split(root, "panx", f"PAN-X.{lang}", split, rows, "panx", FMT)

  write_split(root, "squad_v1", "plain_text", "train",
              _qa_rows(seed, "en", "train", sizes.squad_train), "squad", FMT)
  write_split(root, "squad_v1", "plain_text", "validation",
              _qa_rows(seed, "en", "validation", n), "squad", FMT)
  for lang in DEMO_LANGUAGES["xquad"]:
    rows = [{k: v for k, v in r.items() if k != "title"}  # XQuAD rows have no title
            for r in _qa_rows(seed, lang, "xquad", n)]
    if lang == "ru":
      _shift_like_the_hub(rows)
    write_split(root, "xquad", f"XQuAD.{lang}", "validation", rows, "xquad", FMT)

  for lang in DEMO_LANGUAGES["tatoeba"]:
    iso = TATOEBA_CONFIG_NAMES[lang]
    rows = [{"source_sentence": s, "target_sentence": t, "source_lang": iso, "target_lang": "eng"}
            for s, t in _bitext(seed, lang, sizes.tatoeba)]
    write_split(root, "tatoeba", f"tatoeba.{iso}", "validation", rows, "retrieval", FMT)
  return {source: os.path.join(root, source) for source in SOURCES}


def demo_texts(data: str | os.PathLike | Mapping[str, str | os.PathLike]) -> list[str]:
  """Every text in the demo files (a root or the overrides), deduplicated, in a stable order."""
  import pyarrow.parquet as pq
  dirs = list(data.values()) if isinstance(data, Mapping) else [data]
  files = sorted({str(f) for d in dirs for f in Path(d).rglob(f"*.{FMT}")})
  if not files:
    raise FileNotFoundError(f"No demo data (*.{FMT}) under {', '.join(map(str, dirs))}.")
  texts: dict[str, None] = {}  # ordered set
  for path in files:
    table = pq.read_table(path)
    for column in TEXT_COLUMNS:
      if column in table.column_names:
        for value in table.column(column).to_pylist():
          texts[" ".join(value) if isinstance(value, list) else value] = None
  return list(texts)

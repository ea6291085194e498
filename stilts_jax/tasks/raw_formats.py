"""Readers for data that has no (complete) Hub copy: original BUCC 2018 files and CCGbank.

BUCC 2018 original files (https://comparable.limsi.fr/bucc2018/), one directory per download:

  {src}-en.{split}.{src}   `id\\tsentence` per line, the full non-English comparable corpus
  {src}-en.{split}.en      `id\\tsentence` per line, the full English comparable corpus
  {src}-en.{split}.gold    `src_id\\ttrg_id` per line (optional: the official test set has none)

`split` is the original name (`sample` = our validation, `training` = our test, following XTREME's
download script) or XTREME's renamed `dev` / `test`. Real bitext mining needs these files; the Hub
`bucc18.*` configs hold gold pairs only.

CCG supertagging (CCGbank, LDC2005T13, licensed, not downloadable by us), jiant's layout:

  {dir}/train.tsv, {dir}/dev.tsv, {dir}/test.tsv   `w1 w2 ... wn\\tt1 t2 ... tn` per sentence
  {dir}/tags_to_id.json                            {"supertag": id, ...}, ids 0..K-1

Blank lines are ignored. Unknown supertags and word/tag count mismatches raise `DataError`.

Nested SQuAD JSON (the original SQuAD v1.1 layout, used by XTREME's translate-train files for the
`squad_translated` task) is flattened to Hub SQuAD rows by `read_nested_squad`.
"""

from __future__ import annotations

import json
import os
from collections import Counter

from stilts_jax.errors import UserError
from stilts_jax.examples import SentenceExample, TagExample
from stilts_jax.tasks.convert import DataError

BUCC_SPLIT_NAMES = {"validation": ("sample", "dev"), "test": ("training", "test")}
CCG_SPLIT_FILES = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}
CCG_TAGS_FILE = "tags_to_id.json"
CCG_HELP = (
    "CCGbank is licensed by the LDC (LDC2005T13, https://catalog.ldc.upenn.edu/LDC2005T13) and "
    "cannot be downloaded automatically. Convert it to jiant's format (one sentence per line: "
    "space-separated words, a tab, space-separated supertags; plus tags_to_id.json mapping each "
    "supertag to an id) as train.tsv / dev.tsv / test.tsv in one directory, and pass "
    "data_overrides={'ccg': '/path/to/dir'}.")


class CCGDataMissingError(UserError, FileNotFoundError):
  """The user-provided CCGbank files are not there; the message says how to get them."""


def find_bucc_original(directory: str, language: str, split: str) -> str | None:
  """Path prefix `{dir}/{lang}-en.{name}` of the original files for (language, split), or None."""
  for name in BUCC_SPLIT_NAMES.get(split, ()):
    prefix = os.path.join(directory, f"{language}-en.{name}")
    if os.path.isfile(f"{prefix}.{language}") and os.path.isfile(f"{prefix}.en"):
      return prefix
  return None


def _read_id_sentences(path: str, language: str, skipped: Counter) -> list[SentenceExample]:
  out, seen = [], set()
  with open(path, encoding="utf-8") as f:
    for line_no, line in enumerate(f, 1):
      line = line.rstrip("\r\n")
      if not line:
        continue
      parts = line.split("\t")
      if len(parts) != 2 or not parts[0]:
        raise DataError(f"bucc2018 original file {path}, line {line_no}: expected "
                        f"'id<TAB>sentence', got {line!r:.80}")
      sent_id, text = parts
      if sent_id in seen:
        raise DataError(f"bucc2018 original file {path}, line {line_no}: duplicate id {sent_id!r}")
      seen.add(sent_id)
      if not text.strip():
        skipped["empty_text"] += 1  # nothing to embed; it cannot be a gold pair either
        continue
      out.append(SentenceExample(guid=f"{language}/{sent_id}", text=text, language=language))
  return out


def read_bucc_original(prefix: str, language: str):
  """Reads one original BUCC split. Returns (source, target, gold guid pairs, skipped)."""
  skipped: Counter = Counter()
  source = _read_id_sentences(f"{prefix}.{language}", language, skipped)
  target = _read_id_sentences(f"{prefix}.en", "en", skipped)
  gold = []
  gold_path = f"{prefix}.gold"
  if os.path.isfile(gold_path):
    src_ids = {s.guid for s in source}
    trg_ids = {t.guid for t in target}
    with open(gold_path, encoding="utf-8") as f:
      for line_no, line in enumerate(f, 1):
        line = line.rstrip("\r\n")
        if not line:
          continue
        parts = line.split("\t")
        if len(parts) != 2:
          raise DataError(f"bucc2018 gold file {gold_path}, line {line_no}: expected "
                          f"'src_id<TAB>trg_id', got {line!r:.80}")
        pair = (f"{language}/{parts[0]}", f"en/{parts[1]}")
        if pair[0] not in src_ids or pair[1] not in trg_ids:
          raise DataError(f"bucc2018 gold file {gold_path}, line {line_no}: id pair {parts} is "
                          f"not in {prefix}.{language} / {prefix}.en")
        gold.append(pair)
  return source, target, tuple(gold), skipped


def read_ccg_labels(directory: str | None) -> tuple[str, ...]:
  """The supertag list (index = id) from `tags_to_id.json`."""
  _check_ccg_dir(directory)
  path = os.path.join(directory, CCG_TAGS_FILE)
  if not os.path.isfile(path):
    raise CCGDataMissingError(f"CCG tag map {path} not found. {CCG_HELP}")
  with open(path, encoding="utf-8") as f:
    tags_to_id = json.load(f)
  if not isinstance(tags_to_id, dict) or sorted(tags_to_id.values()) != list(range(len(tags_to_id))):
    raise DataError(f"{path}: expected a JSON object mapping each supertag to a distinct id "
                    f"0..K-1.")
  return tuple(sorted(tags_to_id, key=tags_to_id.__getitem__))


def _check_ccg_dir(directory: str | None) -> None:
  if directory is None:
    raise CCGDataMissingError(f"No CCG data path given. {CCG_HELP}")
  if not os.path.isdir(directory):
    raise CCGDataMissingError(f"CCG data directory {directory} does not exist. {CCG_HELP}")


def read_ccg(directory: str | None, split: str, labels: tuple[str, ...]) -> tuple[list, str]:
  """Reads one CCG split into TagExamples. Returns (examples, file path)."""
  _check_ccg_dir(directory)
  path = os.path.join(directory, CCG_SPLIT_FILES[split])
  if not os.path.isfile(path):
    raise CCGDataMissingError(f"CCG {split} file {path} not found. {CCG_HELP}")
  index = {tag: i for i, tag in enumerate(labels)}
  examples = []
  with open(path, encoding="utf-8") as f:
    for line_no, line in enumerate(f, 1):
      line = line.rstrip("\r\n")
      if not line.strip():
        continue
      parts = line.split("\t")
      where = f"ccg/{split} ({path}, line {line_no})"
      if len(parts) != 2:
        raise DataError(f"{where}: expected 'words<TAB>supertags', got {line!r:.80}")
      words, tags = parts[0].split(), parts[1].split()
      if len(words) != len(tags):
        raise DataError(f"{where}: {len(words)} words but {len(tags)} supertags")
      unknown = [t for t in tags if t not in index]
      if unknown:
        raise DataError(f"{where}: supertag(s) {unknown[:5]} not in {CCG_TAGS_FILE} "
                        f"({len(labels)} tags)")
      examples.append(TagExample(guid=f"en/ccg/{split}/{line_no}", words=tuple(words),
                                 labels=tuple(index[t] for t in tags), language="en"))
  return examples, path


def read_nested_squad(path: str) -> list[dict] | None:
  """Rows in the Hub SQuAD schema from a nested SQuAD v1.1/2.0 JSON file, or None if it is not one.

  The original layout (`{"data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question",
  "answers": [{"text", "answer_start"}]}]}]}]}`) is what XTREME's translate-train files use;
  `datasets`' json builder would read it as a single row. JSON-lines files are left to `datasets`.
  """
  with open(path, encoding="utf-8") as f:
    head = f.read(4096).lstrip()
  if not head.startswith("{") or ('"data"' not in head and '"version"' not in head):
    return None
  with open(path, encoding="utf-8") as f:
    try:
      doc = json.load(f)
    except json.JSONDecodeError:
      return None  # JSON lines (one object per line), or broken: let the json builder report it
  if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
    return None
  rows = []
  for article in doc["data"]:
    for paragraph in article.get("paragraphs", ()):
      for qa in paragraph.get("qas", ()):
        answers = qa.get("answers", ())
        rows.append({"id": qa.get("id"), "title": article.get("title", ""),
                     "context": paragraph.get("context"), "question": qa.get("question"),
                     "answers": {"text": [a.get("text") for a in answers],
                                 "answer_start": [a.get("answer_start") for a in answers]}})
  return rows

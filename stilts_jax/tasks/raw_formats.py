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

Blank lines are ignored. A line with an unknown supertag or a word/tag count mismatch is skipped
and counted (convert.py's policy: `bad_label`, `wrong_shape`), as are BUCC lines without a tab,
repeated ids and gold pairs naming an id the corpus lacks.

Tatoeba as LASER distributes it (`data/tatoeba/v1/`, the files XTREME downloads), one directory:

  tatoeba.{xxx}-eng.{xxx}   one non-English sentence per line (xxx: the ISO 639-3 code, e.g. deu)
  tatoeba.{xxx}-eng.eng     its English translation on the same line number

Line i of one file is the gold partner of line i of the other (XTREME sorts the English side
when it preprocesses and keeps the permutation as labels; reading the originals needs neither).

PAWS-X's official TSVs (`x-final/{lang}/{train,translated_train,dev_2k,test_2k}.tsv`, header
`id sentence1 sentence2 label`) are read by `read_tsv` with a plain tab split, as XTREME's
`utils_preprocess.py` does: CSV quoting would merge lines around a bare '"'.

Nested SQuAD JSON (the original SQuAD v1.1 layout, used by XTREME's translate-train files for the
`squad_translated` task) is flattened to Hub SQuAD rows by `read_nested_squad`.
"""

from __future__ import annotations

import json
import os

from stilts_jax.errors import UserError
from stilts_jax.examples import SentenceExample, TagExample
from stilts_jax.tasks.convert import DataError, RowTally

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


def read_tsv(path: str) -> tuple[list[dict[str, str]], list[tuple[int, str]]]:
  """Rows of a headed TSV file split on tabs only (no quoting), and the lines whose field count
  differs from the header's as (line number, message)."""
  rows, bad = [], []
  with open(path, encoding="utf-8") as f:
    header = f.readline().rstrip("\r\n").split("\t")
    for line_no, line in enumerate(f, 2):
      line = line.rstrip("\r\n")
      if not line:
        continue
      fields = line.split("\t")
      if len(fields) != len(header):
        bad.append((line_no, f"expected {len(header)} tab-separated fields "
                             f"({', '.join(header)}), got {len(fields)}: {line!r:.80}"))
        continue
      rows.append(dict(zip(header, fields)))
  return rows, bad


def _read_id_sentences(path: str, language: str, tally: RowTally) -> list[SentenceExample]:
  out, seen = [], set()
  with open(path, encoding="utf-8") as f:
    for line_no, line in enumerate(f, 1):
      line = line.rstrip("\r\n")
      if not line:
        continue
      tally.rows += 1
      parts = line.split("\t")
      where = f"bucc2018 original file {path}, line {line_no}"
      if len(parts) != 2 or not parts[0]:
        tally.skip("wrong_shape", f"{where}: expected 'id<TAB>sentence', got {line!r:.80}")
        continue
      sent_id, text = parts
      if sent_id in seen:
        tally.skip("duplicate_id", f"{where}: duplicate id {sent_id!r} (the first is kept)")
        continue
      seen.add(sent_id)
      if not text.strip():
        tally.skip("empty_text")  # nothing to embed; it cannot be a gold pair either
        continue
      out.append(SentenceExample(guid=f"{language}/{sent_id}", text=text, language=language))
  return out


def read_bucc_original(prefix: str, language: str, tally: RowTally):
  """Reads one original BUCC split. Returns (source, target, gold guid pairs)."""
  source = _read_id_sentences(f"{prefix}.{language}", language, tally)
  target = _read_id_sentences(f"{prefix}.en", "en", tally)
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
        where = f"bucc2018 gold file {gold_path}, line {line_no}"
        parts = line.split("\t")
        if len(parts) != 2:
          tally.skip("wrong_shape", f"{where}: expected 'src_id<TAB>trg_id', got {line!r:.80}")
          continue
        pair = (f"{language}/{parts[0]}", f"en/{parts[1]}")
        if pair[0] not in src_ids or pair[1] not in trg_ids:
          tally.skip("gold_not_in_corpus", f"{where}: id pair {parts} is not in "
                                           f"{prefix}.{language} / {prefix}.en")
          continue
        gold.append(pair)
  return source, target, tuple(gold)


def find_tatoeba_files(directory: str, code: str, split: str) -> str | None:
  """Path prefix `{dir}/tatoeba.{code}-eng` of LASER's files for a language, or None."""
  prefix = os.path.join(directory, f"tatoeba.{code}-eng")
  if os.path.isfile(f"{prefix}.{code}") and os.path.isfile(f"{prefix}.eng"):
    return prefix
  return None


def read_tatoeba_files(prefix: str, language: str, tally: RowTally):
  """LASER's two aligned files -> (non-English side, English side, gold guid pairs by line)."""
  code = prefix.rsplit(".", 1)[1].split("-")[0]
  with open(f"{prefix}.{code}", encoding="utf-8") as f:
    other = f.read().split("\n")
  with open(f"{prefix}.eng", encoding="utf-8") as f:
    english = f.read().split("\n")
  for lines in (other, english):
    if lines and lines[-1] == "":
      lines.pop()  # the final newline ends the last line; it does not start another
  if len(other) != len(english):
    raise DataError(f"tatoeba files {prefix}.{code} and {prefix}.eng have {len(other)} and "
                    f"{len(english)} lines; line i of one must translate line i of the other.")
  source, target, gold = [], [], []
  for i, (text, eng) in enumerate(zip(other, english)):
    tally.rows += 1
    text, eng = text.rstrip("\r"), eng.rstrip("\r")
    if not text.strip() or not eng.strip():
      tally.skip("empty_text", f"{prefix}.*, line {i + 1}: an empty side")
      continue
    source.append(SentenceExample(guid=f"{language}/{i}", text=text, language=language))
    target.append(SentenceExample(guid=f"en/{i}", text=eng, language="en"))
    gold.append((source[-1].guid, target[-1].guid))
  return source, target, tuple(gold)


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


def read_ccg(directory: str | None, split: str, labels: tuple[str, ...],
             tally: RowTally) -> tuple[list, str]:
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
      tally.rows += 1
      parts = line.split("\t")
      where = f"ccg/{split} ({path}, line {line_no})"
      if len(parts) != 2:
        tally.skip("wrong_shape", f"{where}: expected 'words<TAB>supertags', got {line!r:.80}")
        continue
      words, tags = parts[0].split(), parts[1].split()
      if len(words) != len(tags):
        tally.skip("wrong_shape", f"{where}: {len(words)} words but {len(tags)} supertags")
        continue
      unknown = [t for t in tags if t not in index]
      if unknown:
        tally.skip("bad_label", f"{where}: supertag(s) {unknown[:5]} not in {CCG_TAGS_FILE} "
                                f"({len(labels)} tags)")
        continue
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

"""UD-POS from an official Universal Dependencies release, converted the way XTREME converts it.

    data.overrides.udpos = DIR   # an extracted release: DIR/UD_*/<iso>_<treebank>-ud-<split>.conllu

XTREME's numbers were computed on UD v2.5 (`ud-treebanks-v2.5.tgz`) prepared by its
`scripts/download_data.sh` + `utils_preprocess.py` (udpos) and the conversion in
`third_party/ud-conversion-tools` (`conllu_to_conll.py --replace_subtokens_with_fused_forms`).
The Hub's `google/xtreme` `udpos.<Language>` configs are not that data: they group treebanks by a
substring of the language *name* (Modern + Ancient Greek) and split multiword tokens. The rules
below were learnt from those scripts (and jiant's copy of them); this is our own code:

* Language = the file name's prefix before the first "_" (`el_gdt` is el, `grc_proiel` is not);
  split = "train" / "dev" / "test" in the file name. All treebanks of a language are concatenated
  per split in sorted file-name order (XTREME's first release used directory-listing order, which
  no one can reproduce; its later code and jiant sort).
* A multiword token (`3-4 du`) becomes one word, its fused surface form, tagged with the UPOS of
  the span's head: the sub-token with the fewest ancestors in the sentence graph (basic heads plus
  the enhanced-dependency heads that are plain ids, ROOT included). Ties go to the UPOS that comes
  first in a precedence list (a default list; special ones for es, fr, it), then to the leftmost.
  Every span's head is chosen on the graph as read (XTREME picks all span heads before it fuses
  any); the other sub-tokens are dropped. Where XTREME would crash on a tie whose UPOS
  is missing from the list (and so silently lose the whole treebank file), we rank it last and
  count it (`repaired["mwt_tie_unranked"]`).
* Empty nodes (`24.1`) and comment lines are skipped.
* A sentence whose words are all "_" (treebanks distributed without their text) is dropped and
  counted (`no_text`): XTREME's v2.5-era rule. Words lose surrounding whitespace, every U+200C and
  every inner ASCII space ("công ty" -> "côngty"); nothing else is normalised.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator

from stilts_jax.examples import TagExample
from stilts_jax.tasks.convert import RowTally

_SPLIT_NAMES = {"train": "train", "validation": "dev", "test": "test"}
# XTREME's conllu_to_conll.py precedence lists (SYM is in none; fr says CONJ, the UD v1 name).
PRECEDENCE = {
    "default": ("VERB", "NOUN", "PROPN", "PRON", "ADJ", "NUM", "ADV", "INTJ", "AUX", "ADP", "DET",
                "PART", "CCONJ", "SCONJ", "X", "PUNCT"),
    "es": ("VERB", "AUX", "PRON", "ADP", "DET"),
    "fr": ("VERB", "AUX", "PRON", "NOUN", "ADJ", "ADV", "ADP", "DET", "PART", "SCONJ", "CONJ"),
    "it": ("VERB", "AUX", "ADV", "PRON", "ADP", "DET", "INTJ"),
}


def find_release(directory: str) -> str | None:
  """The folder holding the `UD_*` treebank folders (DIR itself or DIR/ud-treebanks-v*), or None."""
  for root in [directory] + sorted(glob.glob(os.path.join(directory, "ud-treebanks-v*"))):
    if glob.glob(os.path.join(root, "UD_*", "*.conllu")):
      return root
  return None


def file_pattern(root: str, language: str, split: str) -> str:
  """Where the release keeps (language, split), for messages."""
  return os.path.join(root, "UD_*", f"{language}_*-ud-{_SPLIT_NAMES[split]}.conllu")


def treebank_files(root: str, language: str, split: str) -> list[str]:
  """The release's files of `language` for our `split`, in sorted file-name order."""
  name = _SPLIT_NAMES[split]
  files = [f for f in glob.glob(os.path.join(root, "UD_*", f"{language}_*.conllu"))
           if os.path.basename(f).split("_", 1)[0] == language and name in os.path.basename(f)]
  return sorted(files, key=os.path.basename)


def _sentences(path: str) -> Iterator[tuple[int, list[list[str]]]]:
  """(first line number, token lines split on tabs) per sentence; comments dropped."""
  block: list[list[str]] = []
  start = 0
  with open(path, encoding="utf-8") as f:
    for line_no, line in enumerate(f, 1):
      line = line.rstrip("\r\n")
      if not line.strip():
        if block:
          yield start, block
        block = []
        continue
      if line.startswith("#"):
        continue
      if not block:
        start = line_no
      block.append(line.split("\t"))
  if block:
    yield start, block


def _ancestor_count(node: int, heads: dict[int, set[int]]) -> int:
  seen: set[int] = set()
  todo = list(heads.get(node, ()))
  while todo:
    n = todo.pop()
    if n not in seen:
      seen.add(n)
      todo.extend(heads.get(n, ()))
  seen.discard(node)
  return len(seen)


def convert_sentence(rows: list[list[str]], language: str, counts) -> list[tuple[str, str]]:
  """(word, UPOS) per word of one CoNLL-U sentence, multiword tokens fused (module docstring).

  `counts` (a Counter) receives `mwt_tie_unranked` for ties the precedence list cannot break.
  Raises ValueError on a malformed line."""
  form: dict[int, str] = {}
  upos: dict[int, str] = {}
  heads: dict[int, set[int]] = {}
  spans: list[tuple[int, int, str]] = []
  for cols in rows:
    if len(cols) != 10:
      raise ValueError(f"expected 10 tab-separated columns, got {len(cols)}")
    ident = cols[0]
    if "." in ident:
      continue  # an empty node of enhanced UD
    if "-" in ident:
      a, b = ident.split("-")
      spans.append((int(a), int(b), cols[1]))
      continue
    i = int(ident)
    form[i], upos[i] = cols[1], cols[3]
    heads[i] = {int(cols[6])} if cols[6].isdigit() else set()
    if cols[8] != "_":  # enhanced heads that are plain ids count too (XTREME's graph has them)
      heads[i] |= {int(h) for h, _, _ in (d.partition(":") for d in cols[8].split("|"))
                   if h.isdigit()}
  ranks = PRECEDENCE.get(language, PRECEDENCE["default"])
  removed: set[int] = set()
  chosen = []
  for a, b, fused in spans:  # every head is chosen on the graph as read, as XTREME does
    members = [i for i in range(a, b + 1) if i in form]
    if not members:
      continue
    depth = {i: _ancestor_count(i, heads) for i in members}
    tied = [i for i in members if depth[i] == min(depth.values())]
    if len(tied) > 1 and any(upos[i] not in ranks for i in tied):
      counts["mwt_tie_unranked"] += 1
    head = min(tied, key=lambda i: ranks.index(upos[i]) if upos[i] in ranks else len(ranks))
    chosen.append((head, members, fused))
  for head, members, fused in chosen:
    form[head] = fused
    removed.update(i for i in members if i != head)
  return [(form[i], upos[i]) for i in sorted(form) if i not in removed]


def clean_word(word: str) -> str:
  return "".join(word.strip().replace("\u200c", "").split(" "))


def read_udpos(root: str, language: str, split: str, labels: tuple[str, ...],
               tally: RowTally) -> tuple[list[TagExample], list[str]]:
  """TagExamples of (language, split) from a UD release, and the files read."""
  files = treebank_files(root, language, split)
  index = {tag: i for i, tag in enumerate(labels)}
  examples = []
  for path in files:
    treebank = os.path.basename(path).rsplit("-ud-", 1)[0]
    for line_no, rows in _sentences(path):
      tally.rows += 1
      where = f"{path}, line {line_no}"
      try:
        words = convert_sentence(rows, language, tally.repaired)
      except ValueError as e:
        tally.skip("wrong_shape", f"{where}: {e}")
        continue
      if all(w == "_" for w, _ in words):
        tally.skip("no_text")  # a treebank distributed without its text
        continue
      unknown = sorted({t for _, t in words if t not in index})
      if unknown:
        tally.skip("bad_label", f"{where}: UPOS {unknown} not in {', '.join(labels)}")
        continue
      examples.append(TagExample(
          guid=f"{language}/udpos/{split}/{treebank}:{line_no}",
          words=tuple(clean_word(w) for w, _ in words),
          labels=tuple(index[t] for _, t in words), language=language))
  return examples, files

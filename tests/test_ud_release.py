"""UD-POS read from an extracted Universal Dependencies release, converted the XTREME way.

`load_examples("udpos", split, lang, data_overrides={"udpos": DIR})` reads `DIR/UD_*/*.conllu`
through stilts_jax/tasks/ud_release.py (source_kind "ud_release"). The rules come from XTREME's
`scripts/download_data.sh`, `utils_preprocess.py` and `third_party/ud-conversion-tools` (conll.py
`_keep_fused_form` / `_choose_spanhead_from_heuristics`): one word per multiword token (its fused
surface form) tagged with the UPOS of the span's head, the sub-token with the fewest ancestors in
basic tree + enhanced-dependency graph, ties broken by a precedence list (default / es / fr / it).

Real-data tests use the UD treebanks under `shared/real-data/ud/{r2.5,latest}` (see its
README.md section 3; override with STILTS_JAX_REAL_DATA) and skip when absent. Every expected
number there is computed here from the CoNLL-U files with plain Python, and the README's per-file
counts are asserted too. The synthetic tests write tiny fake releases in tmp_path and always run.
"""

from __future__ import annotations

import functools
import gc
import os
import re
from collections import defaultdict
from pathlib import Path

import pytest

from stilts_jax.tasks import DataError, load_examples
from stilts_jax.tasks.target import UDPOS_LANGS, UPOS_LABELS

REAL_DATA = Path(os.environ.get("STILTS_JAX_REAL_DATA")
                 or Path(__file__).resolve().parents[2] / "shared" / "real-data")
UD_DIR = REAL_DATA / "ud"
needs_real_data = pytest.mark.skipif(
    not (UD_DIR / "r2.5").is_dir() or not (UD_DIR / "latest").is_dir(),
    reason=f"real UD treebanks {UD_DIR}/r2.5 and {UD_DIR}/latest not found (set "
    f"STILTS_JAX_REAL_DATA to a copy of shared/real-data)")

# shared/real-data/README.md section 3, per file:
# (sentences, syntactic words, multiword-token lines `N-M`, empty nodes `N.M`).
README_COUNTS = {
    ("latest", "UD_Ancient_Greek-PROIEL/grc_proiel-ud-test.conllu"): (1047, 13314, 0, 0),
    ("latest", "UD_Arabic-PUD/ar_pud-ud-test.conllu"): (1000, 20747, 0, 0),
    ("latest", "UD_Chinese-GSD/zh_gsd-ud-test.conllu"): (500, 12010, 0, 0),
    ("latest", "UD_English-EWT/en_ewt-ud-dev.conllu"): (2001, 25147, 359, 4),
    ("latest", "UD_English-EWT/en_ewt-ud-test.conllu"): (2077, 25094, 354, 2),
    ("latest", "UD_French-GSD/fr_gsd-ud-test.conllu"): (416, 10018, 280, 0),
    ("latest", "UD_German-GSD/de_gsd-ud-test.conllu"): (977, 16499, 274, 0),
    ("latest", "UD_Greek-GDT/el_gdt-ud-test.conllu"): (456, 10672, 250, 0),
    ("latest", "UD_Hebrew-HTB/he_htb-ud-test.conllu"): (491, 12282, 2853, 0),
    ("latest", "UD_Hindi-PUD/hi_pud-ud-test.conllu"): (1000, 23829, 0, 0),
    ("latest", "UD_Japanese-GSD/ja_gsd-ud-test.conllu"): (543, 13034, 0, 0),
    ("latest", "UD_Turkish-IMST/tr_imst-ud-test.conllu"): (1100, 10032, 278, 0),
    ("r2.5", "UD_Ancient_Greek-PROIEL/grc_proiel-ud-test.conllu"): (1047, 13314, 0, 0),
    ("r2.5", "UD_Arabic-PUD/ar_pud-ud-test.conllu"): (1000, 20751, 0, 0),
    ("r2.5", "UD_Chinese-GSD/zh_gsd-ud-test.conllu"): (500, 12012, 0, 0),
    ("r2.5", "UD_English-EWT/en_ewt-ud-dev.conllu"): (2002, 25148, 0, 2),
    ("r2.5", "UD_English-EWT/en_ewt-ud-test.conllu"): (2077, 25096, 0, 1),
    ("r2.5", "UD_French-GSD/fr_gsd-ud-test.conllu"): (416, 10019, 279, 0),
    ("r2.5", "UD_German-GSD/de_gsd-ud-test.conllu"): (977, 16498, 274, 0),
    ("r2.5", "UD_Greek-GDT/el_gdt-ud-test.conllu"): (456, 10672, 250, 0),
    ("r2.5", "UD_Hebrew-HTB/he_htb-ud-test.conllu"): (491, 12284, 2853, 0),
    ("r2.5", "UD_Hindi-PUD/hi_pud-ud-test.conllu"): (1000, 23829, 0, 0),
    ("r2.5", "UD_Japanese-GSD/ja_gsd-ud-test.conllu"): (550, 12391, 0, 0),
    ("r2.5", "UD_Turkish-IMST/tr_imst-ud-test.conllu"): (983, 10029, 225, 0),
}
_SPLIT_FILE_NAME = {"train": "train", "validation": "dev", "test": "test"}


def _file_groups() -> dict[tuple[str, str, str], list[str]]:
  """(release, language, split) -> the README files of it, in sorted file-name order.
  Language = file-name prefix before the first "_" (so `grc_proiel` is grc, not el)."""
  groups = defaultdict(list)
  for release, rel_path in README_COUNTS:
    name = rel_path.split("/")[1]
    language = name.split("_", 1)[0]
    split = {v: k for k, v in _SPLIT_FILE_NAME.items()}[name.rsplit("-", 1)[1][:-len(".conllu")]]
    groups[release, language, split].append(rel_path)
  return {k: sorted(v, key=lambda p: p.split("/")[1]) for k, v in sorted(groups.items())}


FILE_GROUPS = _file_groups()
UDPOS_GROUPS = [k for k in FILE_GROUPS if k[1] in UDPOS_LANGS]


@functools.lru_cache(maxsize=None)
def _parse(path: Path) -> tuple[dict, ...]:
  """Sentences of a CoNLL-U file, by plain string handling (independent of ud_release.py):
  syntactic words (integer ids) as (form, UPOS), MWT spans (a, b, form), empty-node count,
  sent_id, and the surface tokens in order as (form, possible UPOS): a plain word's own UPOS, or
  for an MWT its fused form and the UPOS of its sub-tokens a..b."""
  # Hundreds of thousands of small lists: with jax imported, every garbage collection they
  # trigger runs its callbacks, which makes this 5x slower; none of them forms a cycle.
  enabled = gc.isenabled()
  gc.disable()
  try:
    return _parse_text(path.read_text(encoding="utf-8"), path)
  finally:
    if enabled:
      gc.enable()


def _parse_text(text: str, path: Path) -> tuple[dict, ...]:
  sentences = []
  for block in text.split("\n\n"):
    lines = [line for line in block.split("\n") if line.strip()]
    rows = [line.split("\t") for line in lines if not line.startswith("#")]
    if not rows:
      continue
    sent_id = next((line.split("=", 1)[1].strip() for line in lines
                    if line.startswith("# sent_id")), None)
    words, spans, empties, surface = [], [], 0, []
    covered_until = 0
    for cols in rows:
      assert len(cols) == 10, (path, cols)
      if "." in cols[0]:
        empties += 1
      elif "-" in cols[0]:
        a, b = (int(x) for x in cols[0].split("-"))
        spans.append((a, b, cols[1]))
        surface.append((cols[1], [r[3] for r in rows if r[0].isdigit() and a <= int(r[0]) <= b]))
        covered_until = b
      else:
        words.append((cols[1], cols[3]))
        if int(cols[0]) > covered_until:
          surface.append((cols[1], [cols[3]]))
    sentences.append({"sent_id": sent_id, "words": words, "spans": spans, "empties": empties,
                      "surface": surface})
  return tuple(sentences)


def _clean(word: str) -> str:
  """XTREME's word cleaning: strip, drop U+200C, drop inner ASCII spaces."""
  return "".join(word.strip().replace("\u200c", "").split(" "))


@functools.lru_cache(maxsize=None)
def _load_real(release: str, language: str, split: str):
  return load_examples("udpos", split, language, data_overrides={"udpos": str(UD_DIR / release)})


def _tags(example) -> list[str]:
  return [UPOS_LABELS[i] for i in example.labels]


def _tagged(example) -> list[tuple[str, str]]:
  return list(zip(example.words, _tags(example)))


# ------------------------------------------------------------------ 1. real treebanks, all of them


@needs_real_data
@pytest.mark.parametrize("release,rel_path", sorted(README_COUNTS))
def test_readme_counts_match_the_files(release, rel_path):
  """The test's own CoNLL-U parser reproduces README section 3 (so the expectations below rest on
  the published counts, not just on this parser)."""
  sentences = _parse(UD_DIR / release / rel_path)
  got = (len(sentences), sum(len(s["words"]) for s in sentences),
         sum(len(s["spans"]) for s in sentences), sum(s["empties"] for s in sentences))
  assert got == README_COUNTS[release, rel_path]


@needs_real_data
@pytest.mark.parametrize("release,language,split", UDPOS_GROUPS,
                         ids=["/".join(k) for k in UDPOS_GROUPS])
def test_real_release_sentence_and_word_counts(release, language, split):
  """Per language and split: one example per sentence (none is all "_" here), in sorted
  file-name order; per sentence, words = syntactic words - sum(b - a) over its MWT spans; the
  words are the surface tokens (an MWT's fused form), cleaned; a plain word keeps its UPOS and a
  fused word gets the UPOS of one of its sub-tokens."""
  loaded = _load_real(release, language, split)
  files = FILE_GROUPS[release, language, split]
  assert loaded.source_kind == "ud_release"
  assert [o.split("/real-data/ud/", 1)[-1] for o in loaded.origins] == \
      [f"{release}/{p}" for p in files]
  sentences = [s for p in files for s in _parse(UD_DIR / release / p)]
  no_text = [s for s in sentences if all(form == "_" for form, _ in s["surface"])]
  assert not no_text  # none of these treebanks is distributed without its text
  assert len(loaded.examples) == sum(README_COUNTS[release, p][0] for p in files) - len(no_text)
  assert loaded.skipped == {} and loaded.rows_read == len(sentences)
  for example, sentence in zip(loaded.examples, sentences, strict=True):
    expected_len = len(sentence["words"]) - sum(b - a for a, b, _ in sentence["spans"])
    assert len(example.words) == len(example.labels) == expected_len, sentence["sent_id"]
    assert example.words == tuple(_clean(form) for form, _ in sentence["surface"]), \
        sentence["sent_id"]
    for tag, (_, candidates) in zip(_tags(example), sentence["surface"], strict=True):
      assert tag in candidates, sentence["sent_id"]  # a plain word has one candidate
  assert all(e.language == language for e in loaded.examples)
  assert len({e.guid for e in loaded.examples}) == len(loaded.examples)


@needs_real_data
@pytest.mark.parametrize("release", ["r2.5", "latest"])
def test_real_release_greek_excludes_ancient_greek(release):
  """`UD_Ancient_Greek-PROIEL/grc_proiel-*` sits in the same release: it is grc, never el (the
  Hub's `udpos.Greek` mixes them), and no grc file is read for any language."""
  assert (UD_DIR / release / "UD_Ancient_Greek-PROIEL" / "grc_proiel-ud-test.conllu").is_file()
  greek = _load_real(release, "el", "test")
  assert len(greek.examples) == 456
  for release_, language, split in UDPOS_GROUPS:
    if release_ == release:
      origins = _load_real(release, language, split).origins
      assert not [o for o in origins if "grc_" in o or "Ancient_Greek" in o], (language, split)


# ------------------------------------------------------------------ 2. hand-checked fused forms
# Columns shown: ID FORM LEMMA UPOS HEAD DEPREL (XPOS, FEATS, MISC left out; DEPS is "_" in the
# he, fr, de, tr and el files, and shown for en). depth(x) = number of ancestors of x (ROOT 0
# included). Default precedence: VERB NOUN PROPN PRON ADJ NUM ADV INTJ AUX ADP DET PART CCONJ SCONJ
# X PUNCT;
# fr: VERB AUX PRON NOUN ADJ ADV ADP DET PART SCONJ CONJ.

HAND_CHECKED = [
    # he_htb r2.5, sent_id 5739 "חבל שהליגה יוצאת לפגרה."
    #   1    חבל     חבל   ADV   0 root
    #   2-4  שהליגה
    #   2    ש       ש     SCONJ 5 mark
    #   3    ה       ה     DET   4 det:def
    #   4    ליגה    ליגה  NOUN  5 nsubj
    #   5    יוצאת   יצא   VERB  1 ccomp
    #   6-7  לפגרה
    #   6    ל       ל     ADP   7 case
    #   7    פגרה    פגרה  NOUN  5 obl
    #   8    .       .     PUNCT 1 punct
    # 2-4: depth(2) = |{5,1,0}| = 3, depth(3) = |{4,5,1,0}| = 4, depth(4) = |{5,1,0}| = 3 -> tie
    #      SCONJ vs NOUN; default list: NOUN (1) before SCONJ (13) -> NOUN.
    # 6-7: depth(6) = 4, depth(7) = |{5,1,0}| = 3 -> 7, NOUN.
    ("r2.5", "he", "5739", {0: ("חבל", "ADV"), 1: ("שהליגה", "NOUN"), 2: ("יוצאת", "VERB"),
                            3: ("לפגרה", "NOUN"), 4: (".", "PUNCT")}),
    # he_htb r2.5, sent_id 5726 (first sentence), words 0-8:
    #   1 הולקומב PROPN 3 | 2 לא ADV 3 | 3 הזכיר VERB 0 | 4 את ADP 5
    #   5-7  יכולתו
    #   5    יכולת_  NOUN  3 obj
    #   6    _של_    ADP   7 case:gen
    #   7    _הוא    PRON  5 nmod:poss
    #   8 , PUNCT 3 | 9 קרטר PROPN 19 | 10-11 וסמית (10 ו CCONJ 11, 11 סמית PROPN 9)
    #   12-13 שהיו
    #   12   ש       SCONJ 14 mark
    #   13   היו     AUX   14 cop
    # 5-7: depth(5) = |{3,0}| = 2 < depth(7) = 3 < depth(6) = 4 -> NOUN (word 4).
    # 10-11: 11 (PROPN, head 9) is above 10 (head 11) -> PROPN (word 7).
    # 12-13: both hang from 14 -> tie SCONJ vs AUX; default: AUX (8) before SCONJ (13) -> AUX
    #        (word 8).
    ("r2.5", "he", "5726", {4: ("יכולתו", "NOUN"), 7: ("וסמית", "PROPN"), 8: ("שהיו", "AUX")}),
    # fr_gsd r2.5, fr-ud-test_00002 'On pourra toujours parler à propos d'Averroès de
    # "décentrement du Sujet".'
    #   11     décentrement  NOUN 4 obl:arg
    #   12-13  du
    #   12     de   de   ADP  14 case
    #   13     le   le   DET  14 det
    #   14     Sujet     NOUN 11 nmod
    # 12 and 13 are siblings under 14 -> tie ADP vs DET; fr list: ADP (6) before DET (7) -> ADP.
    ("r2.5", "fr", "fr-ud-test_00002", {
        0: ("On", "PRON"), 1: ("pourra", "VERB"), 2: ("toujours", "ADV"), 3: ("parler", "VERB"),
        4: ("à", "ADP"), 5: ("propos", "NOUN"), 6: ("d'", "ADP"), 7: ("Averroès", "PROPN"),
        8: ("de", "ADP"), 9: ('"', "PUNCT"), 10: ("décentrement", "NOUN"), 11: ("du", "ADP"),
        12: ("Sujet", "NOUN"), 13: ('"', "PUNCT"), 14: (".", "PUNCT")}),
    # fr_gsd r2.5, fr-ud-test_00003: 11-12 du (11 de ADP 13, 12 le DET 13), 16-17 du (16 de ADP
    # 18, 17 le DET 18), 26-27 aux (26 à ADP 28, 27 les DET 28): each an ADP/DET tie of siblings
    # -> ADP (fr list). Surface positions 10, 14, 23 (one word per earlier span).
    ("r2.5", "fr", "fr-ud-test_00003", {10: ("du", "ADP"), 14: ("du", "ADP"),
                                        23: ("aux", "ADP"), 24: ("droits", "NOUN")}),
    # de_gsd r2.5, test-s4 '"Bitte Termin im Internet machen."'
    #   4-5  im
    #   4    in    in   ADP  6 case
    #   5    dem   der  DET  6 det
    #   6    Internet   NOUN 7 obl
    # tie ADP vs DET under 6; default list: ADP (9) before DET (10) -> ADP.
    ("r2.5", "de", "test-s4", {0: ('"', "PUNCT"), 1: ("Bitte", "ADV"), 2: ("Termin", "NOUN"),
                               3: ("im", "ADP"), 4: ("Internet", "NOUN"), 5: ("machen", "VERB"),
                               6: (".", "PUNCT"), 7: ('"', "PUNCT")}),
    # de_gsd r2.5, test-s92 '... bei schönem Wetter zum verweilen ein'
    #   13-14 zum
    #   13    zu   zu   ADP  15 case
    #   14    dem  der  DET  15 det
    #   15    verweilen NOUN 9 obl
    # tie ADP vs DET -> ADP (default list); surface position 12.
    ("r2.5", "de", "test-s92", {11: ("Wetter", "NOUN"), 12: ("zum", "ADP"),
                                13: ("verweilen", "NOUN"), 14: ("ein", "ADV")}),
    # tr_imst r2.5, mst-0551 "Bunlar çok dikkat çekiciydi."
    #   3    dikkat  dikkat NOUN 0 root
    #   4-5  çekiciydi
    #   4    çekici  çekiç  NOUN 3 compound
    #   5    ydi     i      AUX  3 cop
    # both under 3 -> tie NOUN vs AUX; default: NOUN (1) before AUX (8) -> NOUN.
    ("r2.5", "tr", "mst-0551", {0: ("Bunlar", "PRON"), 1: ("çok", "ADV"), 2: ("dikkat", "NOUN"),
                                3: ("çekiciydi", "NOUN"), 4: (".", "PUNCT")}),
    # tr_imst r2.5, mst-4571 "Sesi şiir okurkenki gibi titriyordu."
    #   3-5  okurkenki
    #   3    okur  okur NOUN 4 nmod
    #   4    ken   i    AUX  7 nmod
    #   5    ki    ki   ADP  4 case
    #   7    titriyordu VERB 0 root
    # depth(4) = |{7,0}| = 2, depth(3) = depth(5) = |{4,7,0}| = 3 -> the middle sub-token, AUX.
    ("r2.5", "tr", "mst-4571", {0: ("Sesi", "NOUN"), 1: ("şiir", "NOUN"), 2: ("okurkenki", "AUX"),
                                3: ("gibi", "ADP"), 4: ("titriyordu", "VERB"), 5: (".", "PUNCT")}),
    # tr_imst r2.5, mst-0025 "Kot pantolonla gelen hiçbir çocuk yoktu."
    #   6-7  yoktu
    #   6    yok  yok  ADV  0 root
    #   7    tu   i    AUX  6 cop
    # depth(6) = 1 < depth(7) = 2 -> ADV (rank order does not matter without a tie).
    ("r2.5", "tr", "mst-0025", {4: ("çocuk", "NOUN"), 5: ("yoktu", "ADV"), 6: (".", "PUNCT")}),
    # el_gdt r2.5, gdt-20120322-elwikinews-5258-1 "Στρατιωτικό πραξικόπημα στο Μάλι"
    #   1    Στρατιωτικό  ADJ  2 amod
    #   2    πραξικόπημα  NOUN 0 root
    #   3-4  στο
    #   3    σ    σε  ADP 5 case
    #   4    το   ο   DET 5 det
    #   5    Μάλι     X   2 nmod
    # tie ADP vs DET under 5; default: ADP before DET -> ADP.
    ("r2.5", "el", "gdt-20120322-elwikinews-5258-1", {
        0: ("Στρατιωτικό", "ADJ"), 1: ("πραξικόπημα", "NOUN"), 2: ("στο", "ADP"),
        3: ("Μάλι", "X")}),
    # el_gdt r2.5, gdt-20020206-ep-sessions_031-4 "... να παραδοθεί στην Ιρλανδία."
    #   17-18 στην
    #   17    σ    σε  ADP  19 case
    #   18    την  ο   DET  19 det
    #   19    Ιρλανδία PROPN 16 obl
    # tie ADP vs DET -> ADP; surface position 16.
    ("r2.5", "el", "gdt-20020206-ep-sessions_031-4", {
        15: ("παραδοθεί", "VERB"), 16: ("στην", "ADP"), 17: ("Ιρλανδία", "PROPN")}),
    # en_ewt latest, weblog-blogspot.com_marketview_20050511222700_ENG_20050511_222700-0002
    # "This BuzzMachine post argues that Google's rush ... which we've all heard before, but it's
    # particularly well-put in this post." (DEPS shown; note the enhanced cycle 12 <-> 18)
    #   6-7  Google's
    #   6    Google  PROPN 8  nmod:poss  8:nmod:poss
    #   7    's      PART  6  case       6:case
    #   12   backfire VERB 4  ccomp      4:ccomp|18:ccomp
    #   15-16 we've
    #   15   we      PRON  18 nsubj      18:nsubj
    #   16   've     AUX   18 aux        18:aux
    #   18   heard   VERB  12 advcl:relcl 12:advcl:relcl
    #   22-23 it's
    #   22   it      PRON  27 nsubj:pass 27:nsubj:pass
    #   23   's      AUX   27 aux:pass   27:aux:pass
    # 6-7: 7 hangs from 6 -> 6 has fewer ancestors -> PROPN (word 5).
    # 15-16: siblings under 18 -> tie PRON vs AUX; default: PRON (3) before AUX (8) -> PRON
    #        (word 13: 14 words before, one fewer for 6-7).
    # 22-23: siblings under 27 -> PRON (word 19).
    ("latest", "en", "weblog-blogspot.com_marketview_20050511222700_ENG_20050511_222700-0002", {
        4: ("that", "SCONJ"), 5: ("Google's", "PROPN"), 6: ("rush", "NOUN"),
        13: ("we've", "PRON"), 14: ("all", "ADV"), 19: ("it's", "PRON"), 27: (".", "PUNCT")}),
    # The same sentence at r2.5: no MWT lines, so "Google" "'s" stay two words.
    ("r2.5", "en", "weblog-blogspot.com_marketview_20050511222700_ENG_20050511_222700-0002", {
        5: ("Google", "PROPN"), 6: ("'s", "PART"), 14: ("we", "PRON"), 15: ("'ve", "AUX"),
        30: (".", "PUNCT")}),
]
# Words per sentence (syntactic words minus one per extra sub-token of each span), by hand.
_EWT = "weblog-blogspot.com_marketview_20050511222700_ENG_20050511_222700-0002"
_LENGTHS = {
    ("r2.5", "5739"): 8 - 3,  # spans 2-4, 6-7
    ("r2.5", "5726"): 55 - 18,  # 14 two-word spans, 5-7 and 35-37
    ("r2.5", "fr-ud-test_00002"): 16 - 1, ("r2.5", "fr-ud-test_00003"): 60 - 3,
    ("r2.5", "test-s4"): 9 - 1, ("r2.5", "test-s92"): 16 - 1,
    ("r2.5", "mst-0551"): 6 - 1, ("r2.5", "mst-4571"): 8 - 2, ("r2.5", "mst-0025"): 8 - 1,
    ("r2.5", "gdt-20120322-elwikinews-5258-1"): 5 - 1,
    ("r2.5", "gdt-20020206-ep-sessions_031-4"): 20 - 1,
    ("latest", _EWT): 31 - 3, ("r2.5", _EWT): 31}


@needs_real_data
@pytest.mark.parametrize("release,language,sent_id,expected", HAND_CHECKED,
                         ids=[f"{c[0]}-{c[1]}-{c[2][:24]}" for c in HAND_CHECKED])
def test_hand_checked_fused_forms(release, language, sent_id, expected):
  (rel_path,) = FILE_GROUPS[release, language, "test"]
  sentences = _parse(UD_DIR / release / rel_path)
  (index,) = [i for i, s in enumerate(sentences) if s["sent_id"] == sent_id]
  # No sentence is dropped in these files (test above), so example i is sentence i.
  example = _load_real(release, language, "test").examples[index]
  tagged = _tagged(example)
  for position, word_and_tag in expected.items():
    assert tagged[position] == word_and_tag, (position, tagged)
  assert len(tagged) == _LENGTHS[release, sent_id]


# ------------------------------------------------------------------ 3. synthetic releases


def _tok(i, form, upos, head, deps="_") -> str:
  return "\t".join([str(i), form, "_", upos, "_", "_", str(head), "dep", deps, "_"])


def _mwt(span: str, form: str) -> str:
  return "\t".join([span, form] + ["_"] * 8)


def _empty(ident: str, form: str, deps: str) -> str:
  return "\t".join([ident, form, "_", "VERB", "_", "_", "_", "_", deps, "_"])


def _write(path: Path, *sentences: list[str]) -> Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text("".join("\n".join(s) + "\n\n" for s in sentences), encoding="utf-8")
  return path


def _load(root: Path, language: str, split: str = "test"):
  return load_examples("udpos", split, language, data_overrides={"udpos": str(root)})


# Three two-word spans whose sub-tokens are siblings under the root verb (equal depth):
# PRON/AUX, NOUN/DET, ADV/PRON.
TIES = [
    "# sent_id = ties",
    _tok(1, "v", "VERB", 0),
    _mwt("2-3", "ab"), _tok(2, "a", "PRON", 1), _tok(3, "b", "AUX", 1),
    _mwt("4-5", "cd"), _tok(4, "c", "NOUN", 1), _tok(5, "d", "DET", 1),
    _mwt("6-7", "ef"), _tok(6, "e", "ADV", 1), _tok(7, "f", "PRON", 1),
    _tok(8, ".", "PUNCT", 1),
]


@pytest.mark.parametrize("language,tags,unranked", [
    # es: VERB AUX PRON ADP DET. AUX beats PRON; NOUN and ADV are not ranked -> last.
    ("es", ("AUX", "DET", "PRON"), 2),
    # fr: VERB AUX PRON NOUN ADJ ADV ADP DET ...: AUX, NOUN, PRON (before ADV).
    ("fr", ("AUX", "NOUN", "PRON"), 0),
    # it: VERB AUX ADV PRON ADP DET INTJ: AUX, NOUN unranked -> DET, ADV (before PRON).
    ("it", ("AUX", "DET", "ADV"), 1),
    # default (de's own list is commented out in XTREME): PRON before AUX, NOUN, PRON before ADV.
    ("de", ("PRON", "NOUN", "PRON"), 0),
    ("en", ("PRON", "NOUN", "PRON"), 0),
])
def test_ties_use_the_language_precedence_list(tmp_path, language, tags, unranked):
  """(a) The same sentence tags the tied spans differently under es/fr/it and the default list."""
  _write(tmp_path / "UD_Test-A" / f"{language}_a-ud-test.conllu", TIES)
  loaded = _load(tmp_path, language)
  assert loaded.source_kind == "ud_release"
  (example,) = loaded.examples
  assert _tagged(example) == [("v", "VERB"), ("ab", tags[0]), ("cd", tags[1]), ("ef", tags[2]),
                              (".", "PUNCT")]
  assert loaded.repaired == ({"mwt_tie_unranked": unranked} if unranked else {})


def test_tie_on_an_unranked_upos_is_counted(tmp_path):
  """(b) A tie involving a UPOS missing from the list (XTREME's `list.index` would raise and lose
  the whole file) ranks it last and is counted; a unique head with such a UPOS is no tie."""
  _write(tmp_path / "UD_Test-A" / "de_a-ud-test.conllu", [
      _tok(1, "v", "VERB", 0),
      _mwt("2-3", "sn"), _tok(2, "s", "SYM", 1), _tok(3, "n", "NOUN", 1),  # tie: NOUN wins
      _mwt("4-5", "tm"), _tok(4, "t", "SYM", 1), _tok(5, "m", "NOUN", 4),  # SYM is the head
  ], [
      _tok(1, "x", "SYM", 0),
      _mwt("2-3", "yz"), _tok(2, "y", "SYM", 1), _tok(3, "z", "SYM", 1),  # both unranked
  ])
  _write(tmp_path / "UD_Test-B" / "es_b-ud-test.conllu", [
      _tok(1, "v", "VERB", 0),
      _mwt("2-3", "del"), _tok(2, "de", "ADP", 4), _tok(3, "el", "DET", 4),  # ranked: no count
      _tok(4, "n", "NOUN", 1),
      _mwt("5-6", "nd"), _tok(5, "n", "NOUN", 1), _tok(6, "d", "DET", 1),  # NOUN unranked in es
  ])
  de = _load(tmp_path, "de")
  assert [_tagged(e) for e in de.examples] == [
      [("v", "VERB"), ("sn", "NOUN"), ("tm", "SYM")], [("x", "SYM"), ("yz", "SYM")]]
  assert de.repaired == {"mwt_tie_unranked": 2}
  assert de.skipped == {}
  es = _load(tmp_path, "es")
  assert _tagged(es.examples[0]) == [("v", "VERB"), ("del", "ADP"), ("n", "NOUN"), ("nd", "DET")]
  assert es.repaired == {"mwt_tie_unranked": 1}


def test_empty_nodes_and_comments_are_skipped(tmp_path):
  """(c) `N.M` lines and comment lines (even one that looks like a token line) are not words."""
  _write(tmp_path / "UD_Test-A" / "en_a-ud-test.conllu", [
      "# newdoc id = d1",
      "# sent_id = c1",
      "# text = a b c",
      "# 1\tfake\t_\tNOUN\t_\t_\t0\troot\t_\t_",
      _tok(1, "a", "PRON", 2, "2:nsubj|2.1:nsubj"),
      _tok(2, "b", "VERB", 0, "0:root"),
      _empty("2.1", "ghost", "0:root"),
      _mwt("3-4", "cd"), _tok(3, "c", "NOUN", 2, "2:obj"), _tok(4, "d", "PART", 3, "3:case"),
  ], [
      "# sent_id = c2",
      _tok(1, "x", "INTJ", 0),
      _empty("1.1", "ghost2", "1:dep"),
      _empty("1.2", "ghost3", "1.1:dep"),
  ])
  loaded = _load(tmp_path, "en")
  assert [_tagged(e) for e in loaded.examples] == [
      [("a", "PRON"), ("b", "VERB"), ("cd", "NOUN")], [("x", "INTJ")]]
  assert loaded.skipped == {} and loaded.rows_read == 2


def test_sentences_of_only_underscores_are_dropped(tmp_path):
  """(d) XTREME's v2.5-era filter: drop a sentence only when every word (after fusion) is "_"."""
  _write(tmp_path / "UD_Test-A" / "ar_a-ud-test.conllu",
         [_tok(1, "_", "NOUN", 0), _tok(2, "_", "PUNCT", 1)],  # no text: dropped
         [_tok(1, "_", "NOUN", 0), _tok(2, "x", "PUNCT", 1)],  # kept (the later rule drops it)
         [_mwt("1-2", "wa"), _tok(1, "_", "CCONJ", 3), _tok(2, "_", "ADP", 3),
          _tok(3, "_", "NOUN", 0)],  # fused form is text: kept
         [_mwt("1-2", "_"), _tok(1, "w", "CCONJ", 3), _tok(2, "b", "ADP", 3),
          _tok(3, "_", "NOUN", 0)],  # all "_" after fusion: dropped
         [_tok(1, "y", "NOUN", 0)])
  loaded = _load(tmp_path, "ar")
  assert [_tagged(e) for e in loaded.examples] == [
      [("_", "NOUN"), ("x", "PUNCT")], [("wa", "ADP"), ("_", "NOUN")], [("y", "NOUN")]]
  assert loaded.skipped == {"no_text": 2}
  assert loaded.rows_read == 5


def test_word_cleaning(tmp_path):
  """(e) U+200C and inner ASCII spaces go, Unicode whitespace at the ends is stripped; NBSP inside
  a word stays."""
  _write(tmp_path / "UD_Test-A" / "vi_a-ud-test.conllu", [
      _tok(1, "công ty", "NOUN", 0),
      _tok(2, "a\u200cb", "NOUN", 1),
      _tok(3, "\u00a0pad\u2003", "NOUN", 1),  # Unicode whitespace at the ends
      _tok(4, "x\u00a0y", "NOUN", 1),
      _mwt("5-6", "m\u200c n o"), _tok(5, "m", "VERB", 1), _tok(6, "n", "PRON", 5),
  ])
  (example,) = _load(tmp_path, "vi").examples
  assert example.words == ("côngty", "ab", "pad", "x\u00a0y", "mno")
  assert _tags(example) == ["NOUN", "NOUN", "NOUN", "NOUN", "VERB"]


def test_treebanks_concatenated_in_sorted_file_name_order(tmp_path):
  """(f) All files of a language, in file-name order (not folder order); only the split asked
  for; `grc_*` is not el even inside a Greek folder, and `deu_*` is not de."""
  one = lambda word: [_tok(1, word, "NOUN", 0)]  # noqa: E731
  _write(tmp_path / "UD_Alpha" / "de_c-ud-test.conllu", one("c1"))
  _write(tmp_path / "UD_Alpha" / "de_c-ud-train.conllu", one("train"))
  _write(tmp_path / "UD_Mid" / "de_b-ud-test.conllu", one("b1"), one("b2"))
  _write(tmp_path / "UD_Zeta" / "de_a-ud-test.conllu", one("a1"))
  _write(tmp_path / "UD_Zeta" / "deu_x-ud-test.conllu", one("deu"))
  _write(tmp_path / "UD_Greek-Y" / "el_y-ud-test.conllu", one("el1"))
  _write(tmp_path / "UD_Greek-Y" / "grc_z-ud-test.conllu", one("grc1"))
  _write(tmp_path / "UD_Ancient_Greek-X" / "grc_x-ud-test.conllu", one("grc2"))
  de = _load(tmp_path, "de")
  assert [e.words for e in de.examples] == [("a1",), ("b1",), ("b2",), ("c1",)]
  assert [re.search(r"de_[abc]", e.guid).group(0) for e in de.examples] == \
      ["de_a", "de_b", "de_b", "de_c"]
  assert len({e.guid for e in de.examples}) == 4
  assert de.origins == tuple(f"local:{tmp_path / p}" for p in (
      "UD_Zeta/de_a-ud-test.conllu", "UD_Mid/de_b-ud-test.conllu", "UD_Alpha/de_c-ud-test.conllu"))
  el = _load(tmp_path, "el")
  assert [e.words for e in el.examples] == [("el1",)]
  assert el.origins == (f"local:{tmp_path / 'UD_Greek-Y' / 'el_y-ud-test.conllu'}",)


def test_enhanced_dependency_heads_count_as_ancestors(tmp_path):
  """(g) The graph is basic tree + enhanced heads with plain ids (not `N.M`); a node on a cycle
  does not count itself (networkx `ancestors`)."""
  _write(tmp_path / "UD_Test-A" / "en_a-ud-test.conllu", [
      # basic: 2 and 3 tie under 1 (PRON would win); the enhanced head 4 of 2 makes it deeper.
      _tok(1, "v", "VERB", 0, "0:root"),
      _mwt("2-3", "ab"),
      _tok(2, "a", "PRON", 1, "1:nsubj|4:nsubj:xsubj"),
      _tok(3, "b", "AUX", 1, "1:aux"),
      _tok(4, "w", "VERB", 1, "1:xcomp"),
  ], [
      # the same tie, the extra enhanced head being an empty node: ignored -> tie -> PRON.
      _tok(1, "v", "VERB", 0, "0:root"),
      _empty("1.1", "e", "0:root"),
      _mwt("2-3", "ab"),
      _tok(2, "a", "PRON", 1, "1:nsubj|1.1:nsubj"),
      _tok(3, "b", "AUX", 1, "1:aux"),
  ], [
      # enhanced cycle 1 <-> 2: ancestors(2) = {1, 0} (2 itself not counted) = 2,
      # ancestors(3) = {1, 0, 2} = 3 -> AUX; counting 2 itself would tie and give PRON.
      _tok(1, "v", "VERB", 0, "0:root|2:dep"),
      _mwt("2-3", "ab"),
      _tok(2, "a", "AUX", 1, "1:aux"),
      _tok(3, "b", "PRON", 1, "1:nsubj"),
  ])
  loaded = _load(tmp_path, "en")
  assert [_tags(e)[1] for e in loaded.examples] == ["AUX", "PRON", "AUX"]
  assert [e.words for e in loaded.examples] == [("v", "ab", "w"), ("v", "ab"), ("v", "ab")]


def test_span_heads_are_chosen_on_the_unchanged_graph(tmp_path):
  """(h) XTREME (conll.py `_keep_fused_form`) picks every span's head first, on the graph as
  read, and only then deletes the other sub-tokens and hangs their dependents from the span head
  ("we avoid modifying the tree as we read it"). So reattaching a removed sub-token's dependents
  must not change the head of a later span.

    1    r  VERB 0
    2-3  xy          depth(2) = |{1,0}| = 2 < depth(3) = |{6,7,1,0}| = 4 -> head 2 (NOUN)
    2    x  NOUN 1
    3    g  ADP  6   removed; its dependent 4 would hang from 2 afterwards
    4-5  pq          as read: depth(4) = |{3,6,7,1,0}| = 5 > depth(5) = |{7,1,0}| = 3 -> AUX
    4    p  PRON 3   (after reattaching 4 to 2: depth(4) = |{2,1,0}| = 3, a tie that the
    5    q  AUX  7    default list gives to PRON -- not what XTREME outputs)
    6    s  NOUN 7
    7    t  VERB 1
  """
  _write(tmp_path / "UD_Test-A" / "de_a-ud-test.conllu", [
      _tok(1, "r", "VERB", 0),
      _mwt("2-3", "xy"), _tok(2, "x", "NOUN", 1), _tok(3, "g", "ADP", 6),
      _mwt("4-5", "pq"), _tok(4, "p", "PRON", 3), _tok(5, "q", "AUX", 7),
      _tok(6, "s", "NOUN", 7),
      _tok(7, "t", "VERB", 1),
  ])
  (example,) = _load(tmp_path, "de").examples
  assert _tagged(example) == [("r", "VERB"), ("xy", "NOUN"), ("pq", "AUX"), ("s", "NOUN"),
                              ("t", "VERB")]


def test_release_given_as_its_parent_folder(tmp_path):
  """(i) DIR/ud-treebanks-v2.5/UD_* (the tarball extracted in DIR) is found too."""
  path = _write(tmp_path / "ud-treebanks-v2.5" / "UD_Test-A" / "tr_a-ud-dev.conllu",
                [_tok(1, "ev", "NOUN", 0)])
  loaded = _load(tmp_path, "tr", "validation")
  assert loaded.source_kind == "ud_release"
  assert loaded.origins == (f"local:{path}",)
  assert _tagged(loaded.examples[0]) == [("ev", "NOUN")]
  per_language = load_examples("udpos", "validation", "tr",
                               data_overrides={"udpos/validation/tr": str(tmp_path)})
  assert per_language.examples == loaded.examples


def test_missing_language_or_split_names_the_pattern(tmp_path):
  """(j) No file for (language, split) is an error that says which file name was looked for."""
  _write(tmp_path / "UD_Test-A" / "de_a-ud-test.conllu", [_tok(1, "Haus", "NOUN", 0)])
  with pytest.raises(DataError, match=re.escape("UD_*/fr_*-ud-test.conllu")):
    _load(tmp_path, "fr")
  with pytest.raises(DataError, match=re.escape("UD_*/de_*-ud-dev.conllu")):
    _load(tmp_path, "de", "validation")
  assert len(_load(tmp_path, "de")) == 1


@needs_real_data
def test_each_distinct_word_tokenized_once_gives_every_words_own_pieces(tokenizer):
  """The tagging featurizer tokenizes each distinct word once, through the Rust tokenizer directly;
  on real treebanks of four scripts every word's pieces equal tokenizing that word alone through
  transformers' tokenizer call (the jiant/XTREME definition), `<unk>` for words without pieces."""
  from stilts_jax.features.tagging import _word_pieces
  for lang in ("en", "ar", "zh", "hi"):
    examples = load_examples("udpos", "test", lang,
                             data_overrides={"udpos": str(UD_DIR / "r2.5")}).examples
    words = [w for e in examples for w in e.words]
    alone = tokenizer(words, add_special_tokens=False)["input_ids"]
    want = [p if p and len(p) <= 100 else [tokenizer.unk_token_id] for p in alone]
    pieces, num_unk = _word_pieces(examples, tokenizer, tokenizer.unk_token_id, 100)
    assert [p for sentence in pieces for p in sentence] == want, lang
    assert num_unk == sum(not p or len(p) > 100 for p in alone), lang
    assert len(set(words)) < len(words) / 2, lang  # repeats: what tokenizing once saves

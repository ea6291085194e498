"""squad_em_f1 (SQuAD v1.1) and mlqa_em_f1 (MLQA) against the official scripts' semantics."""

import collections
import random
import string

import pytest

from stilts_jax import metrics
from stilts_jax.metrics.qa import normalize_mlqa, normalize_squad


def _one(pred, golds, lang=None):
  if lang is None:
    return metrics.squad_em_f1({"q": pred}, {"q": golds})
  return metrics.mlqa_em_f1({"q": pred}, {"q": golds}, lang)


def test_squad_normalisation():
  assert normalize_squad("  The  Eiffel-Tower!! ") == "eiffeltower"
  assert normalize_squad("An apple, a day") == "apple day"
  assert normalize_squad("theatre") == "theatre"  # articles only as whole words
  assert normalize_squad("¿Qué?") == "¿qué"  # v1.1 strips ASCII punctuation only


def test_squad_hand_computed():
  assert _one("The Eiffel Tower!", ["eiffel tower"]) == {"exact_match": 100.0, "f1": 100.0}
  # "big red dog" vs "red dog barks": 2 common, P = R = 2/3.
  r = _one("the big red dog", ["red dog barks"])
  assert r["exact_match"] == 0.0 and r["f1"] == pytest.approx(200 / 3)
  # Max over golds, taken separately for EM and F1.
  r = _one("red dog", ["a red dog", "dog"])
  assert r == {"exact_match": 100.0, "f1": 100.0}
  r = _one("red dog", ["red", "red dog cat"])
  assert r["exact_match"] == 0.0 and r["f1"] == pytest.approx(80.0)
  # Repeated tokens count as a multiset: "dog dog" vs "dog": 1 common, P 1/2, R 1.
  assert _one("dog dog", ["dog"])["f1"] == pytest.approx(200 / 3)
  # v1.1 quirk: both sides normalise to "" -> EM 1 but F1 0 (no common token).
  assert _one("The", ["an"]) == {"exact_match": 100.0, "f1": 0.0}


def test_unanswered_questions_count_as_zero():
  refs = {"q1": ["Paris"], "q2": ["London"], "q3": ["Rome"], "q4": ["Oslo"]}
  r = metrics.squad_em_f1({"q1": "paris", "q3": "rome."}, refs)
  assert r == {"exact_match": 50.0, "f1": 50.0}
  r = metrics.mlqa_em_f1({"q2": "London"}, refs, "en")
  assert r == {"exact_match": 25.0, "f1": 25.0}
  assert metrics.squad_em_f1({}, refs) == {"exact_match": 0.0, "f1": 0.0}


def test_mlqa_unicode_punctuation():
  # Ps/Pe/Pd/Po/Pi/Pf all removed; SQuAD v1.1 keeps them.
  assert normalize_mlqa("«París» — ¡sí!", "es") == "parís sí"
  assert normalize_mlqa("“quoted”…", "en") == "quoted"
  assert normalize_mlqa("एक आदमी।", "hi") == "एक आदमी"  # danda is Po
  assert _one("¿Qué?", ["qué"], "es") == {"exact_match": 100.0, "f1": 100.0}
  assert _one("¿Qué?", ["qué"]) == {"exact_match": 0.0, "f1": 0.0}


def test_mlqa_german_articles():
  articles = "der die das den dem des ein eine einen einem eines einer"
  assert normalize_mlqa(f"{articles.upper()} {articles} Hund", "de") == "hund"
  assert normalize_mlqa("Dasein, Derby", "de") == "dasein derby"  # whole words only
  assert _one("die Katze", ["Katze"], "de") == {"exact_match": 100.0, "f1": 100.0}
  # Under SQuAD/English rules "die" is a word: P 1/2, R 1.
  r = _one("die Katze", ["Katze"])
  assert r["exact_match"] == 0.0 and r["f1"] == pytest.approx(200 / 3)


def test_mlqa_other_language_articles():
  assert normalize_mlqa("Los gatos y el perro", "es") == "gatos y perro"
  assert normalize_mlqa("cái bàn của tôi", "vi") == "bàn tôi"
  assert normalize_mlqa("The cat", "hi") == "the cat"  # Hindi: no article removal
  assert normalize_mlqa("The cat", "zh") == "the cat"


def test_mlqa_arabic_article_anywhere():
  # Every "ال" becomes a space, also word-internally (official regex `\sال^|ال`).
  assert normalize_mlqa("الكتاب", "ar") == "كتاب"
  assert normalize_mlqa("بالقلم", "ar") == "ب قلم"
  assert _one("الكتاب", ["كتاب"], "ar") == {"exact_match": 100.0, "f1": 100.0}
  # "ب قلم" vs "قلم": 1 common, P 1/2, R 1.
  r = _one("بالقلم", ["قلم"], "ar")
  assert r["exact_match"] == 0.0 and r["f1"] == pytest.approx(200 / 3)


def test_mlqa_chinese_mixed_segmentation():
  assert normalize_mlqa("北京大学", "zh") == "北 京 大 学"
  assert normalize_mlqa("iPhone手机 pro", "zh") == "iphone 手 机 pro"
  # U+9FA6 lies outside the official range [\u4e00-\u9fa5]: not split per character.
  assert normalize_mlqa("\u9fa6\u9fa6", "zh") == "\u9fa6\u9fa6"
  # Punctuation is removed before segmentation: "北京大学很好" has 6 tokens, gold 4, all common.
  r = _one("北京大学，很好", ["北京 大学"], "zh")
  assert r["exact_match"] == 0.0 and r["f1"] == pytest.approx(80.0)
  assert _one("北京大学", ["北京 大学。"], "zh") == {"exact_match": 100.0, "f1": 100.0}
  r = _one("iPhone手机", ["iPhone"], "zh")  # 3 tokens vs 1
  assert r["f1"] == pytest.approx(50.0)
  # English whitespace rules would see one token each: no partial credit.
  assert _one("北京大学", ["北京"], "en")["f1"] == 0.0
  assert _one("北京大学", ["北京"], "zh")["f1"] == pytest.approx(200 / 3)


# --- random strings vs a simple, independent transcription of the v1.1 formula -----------------

_WORDS = ["a", "an", "the", "The", "A", "cat", "Dog", "dog", "blue", "42", "x_y", "it's", "AN"]
_SEPS = [" ", "  ", "\t", ", ", "! ", "-", "."]


def _ref_norm_tokens(s):
  # On this ASCII alphabet, after deleting punctuation only word chars and whitespace remain, so
  # removing \b(a|an|the)\b is the same as dropping whole whitespace tokens a/an/the.
  s = s.lower().translate(str.maketrans("", "", string.punctuation))
  return [t for t in s.split() if t not in ("a", "an", "the")]


def _ref_scores(preds, refs):
  em = f1 = 0.0
  for qid, golds in refs.items():
    if qid not in preds:
      continue
    p = _ref_norm_tokens(preds[qid])
    best_em = best_f1 = 0.0
    for g in golds:
      g = _ref_norm_tokens(g)
      best_em = max(best_em, float(p == g))
      same = sum((collections.Counter(p) & collections.Counter(g)).values())
      if same:
        prec, rec = same / len(p), same / len(g)
        best_f1 = max(best_f1, 2 * prec * rec / (prec + rec))
    em, f1 = em + best_em, f1 + best_f1
  return 100 * em / len(refs), 100 * f1 / len(refs)


def _rand_text(rng):
  n = rng.randint(0, 5)
  return "".join(rng.choice(_WORDS) + rng.choice(_SEPS) for _ in range(n))


def test_squad_random_vs_independent_formula():
  rng = random.Random(0)
  for _ in range(30):
    refs = {f"q{i}": [_rand_text(rng) for _ in range(rng.randint(1, 3))] for i in range(8)}
    preds = {q: _rand_text(rng) for q in refs if rng.random() < 0.8}
    em, f1 = _ref_scores(preds, refs)
    r = metrics.squad_em_f1(preds, refs)
    assert r["exact_match"] == pytest.approx(em) and r["f1"] == pytest.approx(f1)
    # On ASCII-only text MLQA-en normalisation coincides with SQuAD's.
    assert metrics.mlqa_em_f1(preds, refs, "en") == pytest.approx(r)


# --- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("preds,refs,match", [
    ({"zz": "x"}, {"q": ["x"]}, "not in references"),
    ({}, {}, "references is empty"),
    ({"q": "x"}, {"q": "x"}, "list of gold answer"),
    ({"q": "x"}, {"q": []}, "no gold answer"),
    ({"q": 3}, {"q": ["x"]}, "must be a str"),
    ({"q": "x"}, {"q": [None]}, "must be str"),
    ([("q", "x")], {"q": ["x"]}, "mapping"),
])
def test_qa_bad_input(preds, refs, match):
  with pytest.raises(ValueError, match=match):
    metrics.squad_em_f1(preds, refs)
  with pytest.raises(ValueError, match=match):
    metrics.mlqa_em_f1(preds, refs, "de")


def test_mlqa_unknown_language():
  with pytest.raises(ValueError, match="unknown MLQA language 'fr'"):
    metrics.mlqa_em_f1({"q": "x"}, {"q": ["x"]}, "fr")

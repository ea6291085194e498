"""Extractive-QA EM/F1: SQuAD v1.1 (XQuAD, TyDiQA-GoldP) and MLQA (language-specific).

Semantics follow the official scripts XTREME ships (`third_party/evaluate_squad.py`,
`third_party/evaluate_mlqa.py`): normalise both strings, EM = normalised equality, F1 = multiset
token overlap (0 when nothing overlaps), max over the gold answers, mean x100. A question without a
prediction scores 0 and still counts in the denominator (the official scripts print and skip it
while dividing by all questions).
"""

from __future__ import annotations

import collections
import re
import string
import unicodedata
from collections.abc import Callable, Mapping, Sequence

from stilts_jax.metrics._checks import check_qa_inputs

_ASCII_PUNCT = frozenset(string.punctuation)
_EN_ARTICLES = re.compile(r"\b(a|an|the)\b")

# Article patterns of the official MLQA script, per language (None: the language has none).
_MLQA_ARTICLES: dict[str, re.Pattern | None] = {
    "en": _EN_ARTICLES,
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "hi": None,
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    # The official pattern is `\sال^|ال`; its first branch can never match (`^` after characters),
    # so the effect is: every "ال" substring, word-initial or not, becomes a space.
    "ar": re.compile(r"\sال^|ال"),
    "zh": None,
}
_WHITESPACE_LANGS = frozenset({"en", "es", "hi", "vi", "de", "ar"})
_MIXED_SEGMENTATION_LANGS = frozenset({"zh"})
MLQA_LANGUAGES = tuple(sorted(_MLQA_ARTICLES))
_CJK = re.compile(r"[\u4e00-\u9fa5]")  # the official script's (narrow) CJK range


def _is_mlqa_punct(ch: str) -> bool:
  # Official set = every code point of Unicode category P* plus ASCII string.punctuation.
  return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


def normalize_squad(text: str) -> str:
  """SQuAD v1.1 normalisation: lower, drop ASCII punctuation, drop a/an/the, collapse whitespace."""
  text = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCT)
  return " ".join(_EN_ARTICLES.sub(" ", text).split())


def _mixed_segmentation(text: str) -> list[str]:
  """Each CJK character (and punctuation mark) is a token; other runs are whitespace-split."""
  tokens: list[str] = []
  run = ""
  for ch in text:
    if _CJK.search(ch) or _is_mlqa_punct(ch):
      tokens.extend(run.split())
      run = ""
      tokens.append(ch)
    else:
      run += ch
  tokens.extend(run.split())
  return tokens


def normalize_mlqa(text: str, lang: str) -> str:
  """Official MLQA normalisation: lower → drop Unicode punctuation → drop `lang`'s articles →
  tokenise (whitespace; per-character mixed segmentation for zh) → join tokens with one space."""
  _check_lang(lang)
  text = "".join(ch for ch in text.lower() if not _is_mlqa_punct(ch))
  articles = _MLQA_ARTICLES[lang]
  if articles is not None:
    text = articles.sub(" ", text)
  tokens = _mixed_segmentation(text) if lang in _MIXED_SEGMENTATION_LANGS else text.split()
  return " ".join(t for t in tokens if t.strip())


def _check_lang(lang: str) -> None:
  if lang not in _MLQA_ARTICLES:
    raise ValueError(f"unknown MLQA language {lang!r}; the official script supports "
                     f"{', '.join(MLQA_LANGUAGES)}.")


def token_f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
  """v1.1/MLQA F1: multiset overlap; 0 when nothing overlaps (so two empty strings give F1 0)."""
  common = collections.Counter(pred_tokens) & collections.Counter(gold_tokens)
  num_same = sum(common.values())
  if num_same == 0:
    return 0.0
  precision = num_same / len(pred_tokens)
  recall = num_same / len(gold_tokens)
  return 2 * precision * recall / (precision + recall)


def _em_f1(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]],
           normalize: Callable[[str], str]) -> dict[str, float]:
  check_qa_inputs(predictions, references, allow_unanswerable=False)
  em_sum = f1_sum = 0.0
  for qid, golds in references.items():
    if qid not in predictions:
      continue  # unanswered: scores 0, still counted in the denominator
    pred = normalize(predictions[qid])
    gold_norms = [normalize(g) for g in golds]
    em_sum += max(float(pred == g) for g in gold_norms)
    f1_sum += max(token_f1(pred.split(), g.split()) for g in gold_norms)
  n = len(references)
  return {"exact_match": 100.0 * em_sum / n, "f1": 100.0 * f1_sum / n}


def squad_em_f1(predictions: Mapping[str, str],
                references: Mapping[str, Sequence[str]]) -> dict[str, float]:
  """SQuAD v1.1 EM/F1 (x100) of `predictions` (id -> text) against `references` (id -> golds).

  Every reference needs at least one gold answer. Prediction ids must be reference ids; missing
  predictions score 0. Returns {"exact_match", "f1"}.
  """
  return _em_f1(predictions, references, normalize_squad)


def mlqa_em_f1(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]],
               lang: str) -> dict[str, float]:
  """MLQA EM/F1 (x100) with the official normalisation for `lang` (en es de ar hi vi zh).

  Same contract as `squad_em_f1`; raises ValueError for any other language, as the official script
  does.
  """
  _check_lang(lang)
  return _em_f1(predictions, references, lambda s: normalize_mlqa(s, lang))

"""Offline fixtures for the xtreme_r.py sources, in their exact Hub (or documented local) schemas.

Called by `_fixtures.write_fixtures`; same layout (`{root}/{source}/{config}/{hub_split}.{fmt}`,
with the Hub Features of stilts_jax/demo/hub_files.py) and the same real multilingual text
(_fixture_text.py). Sources without a Hub copy
(squad_translated, copa) are written in the schema their override files must have.
"""

from __future__ import annotations

import _fixture_text as T
from _fixture_text import _nli_rows, _qa_rows, fixture_languages
from stilts_jax.demo.hub_files import write_split as _write
from stilts_jax.tasks.intermediate import NLI_LABELS
from stilts_jax.tasks.target import NER_LABELS


def _spans(sentence: list[tuple[str, str]]) -> list[str]:
  """WikiANN's `spans` column: "TYPE: words" per entity, from BIO tags."""
  spans: list[list] = []
  for word, tag in sentence:
    if tag.startswith("B-"):
      spans.append([tag[2:], word])
    elif tag.startswith("I-") and spans:
      spans[-1][1] += f" {word}"
  return [f"{kind}: {words}" for kind, words in spans]


def _copa_rows(lang: str, changed: bool | None) -> list[dict]:
  rows = [{"premise": p, "question": q, "choice1": c1, "choice2": c2, "label": label, "idx": i}
          for i, (p, q, c1, c2, label) in enumerate(T.COPA[lang])]
  return rows if changed is None else [dict(r, changed=changed) for r in rows]


def _zh_squad_rows(split: str) -> list[dict]:
  passage = T.SQUAD_TRANSLATED_ZH
  return [{"id": f"{split}-zh-{k}", "title": "柏林", "context": passage["context"],
           "question": question, "answers": {"text": [answer],
                                             "answer_start": [passage["context"].index(answer)]}}
          for k, (question, answer) in enumerate(passage["qa"])]


def write_xtreme_r(root: str, fmt: str) -> None:
  for lang in fixture_languages("mnli_translated", "train"):
    rows = [{"premise": p, "hypothesis": h, "label": NLI_LABELS.index(g)}
            for p, h, g in _nli_rows(lang)]
    for split in ("train", "validation", "test"):
      _write(root, "xnli_mt", lang, split, rows, "xnli_mt", fmt)

  for lang in fixture_languages("squad_translated", "train"):
    for split in ("train", "validation"):
      rows = _zh_squad_rows(split) if lang == "zh" else _qa_rows(lang, f"{split}-")
      _write(root, "squad_translated", lang, split, rows, "squad", fmt)

  english = _copa_rows("en", None)
  for split in ("train", "validation"):
    _write(root, "copa", None, split, english, "copa", fmt)
  _write(root, "copa", None, "test", [dict(r, label=-1) for r in english], "copa", fmt)
  for lang in fixture_languages("xcopa", "test"):
    for split in ("validation", "test"):
      _write(root, "xcopa", lang, split, _copa_rows(lang, False), "xcopa", fmt)

  for lang in fixture_languages("panx_r", "test"):
    sents = ([T.NER_ONLY[lang]] if lang in T.NER_ONLY else [T.BANK[lang]["ner"]]) + (
        T.EN_NER_EXTRA if lang == "en" else [])
    rows = [{"tokens": [w for w, _ in s], "ner_tags": [NER_LABELS.index(t) for _, t in s],
             "langs": [lang] * len(s), "spans": _spans(s)} for s in sents]
    for split in ("train", "validation", "test"):
      _write(root, "wikiann", lang, split, rows, "wikiann", fmt)

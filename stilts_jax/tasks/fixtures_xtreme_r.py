"""Offline fixtures for the xtreme_r.py sources, in their exact Hub (or documented local) schemas.

Called by `fixtures.write_fixtures`; same layout (`{root}/{source}/{config}/{hub_split}.{fmt}`)
and the same real multilingual text (fixture_text.py). Sources without a Hub copy
(squad_translated, copa) are written in the schema their override files must have.
"""

from __future__ import annotations

from stilts_jax.tasks import fixture_text as T
from stilts_jax.tasks.intermediate import NLI_LABELS
from stilts_jax.tasks.target import NER_LABELS

# Extra fixture languages per task beyond fixture_text.BANK (XTREME-R's new PAN-X languages).
EXTRA_LANGUAGES: dict[str, tuple[str, ...]] = {"panx_r": tuple(T.NER_ONLY)}


def features(kind: str):
  import datasets
  V, Seq, CL = datasets.Value, datasets.Sequence, datasets.ClassLabel
  s = V("string")
  copa = {"premise": s, "choice1": s, "choice2": s, "question": s, "label": V("int32"),
          "idx": V("int32")}
  return {
      # facebook/xnli per-language configs.
      "xnli_mt": {"premise": s, "hypothesis": s, "label": CL(names=list(NLI_LABELS))},
      # SuperGLUE COPA's row layout; XCOPA adds `changed` (the item was edited for translation).
      "copa": copa,
      "xcopa": {**copa, "changed": V("bool")},
      "wikiann": {"tokens": Seq(s), "ner_tags": Seq(CL(names=list(NER_LABELS))), "langs": Seq(s),
                  "spans": Seq(s)},
  }[kind]


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
  from stilts_jax.tasks import fixtures as F  # fixtures imports this module at load time

  for lang in F.fixture_languages("mnli_translated", "train"):
    rows = [{"premise": p, "hypothesis": h, "label": NLI_LABELS.index(g)}
            for p, h, g in F._nli_rows(lang)]
    for split in ("train", "validation", "test"):
      F._write(root, "xnli_mt", lang, split, rows, "xnli_mt", fmt)

  for lang in F.fixture_languages("squad_translated", "train"):
    for split in ("train", "validation"):
      rows = _zh_squad_rows(split) if lang == "zh" else F._qa_rows(lang, f"{split}-")
      F._write(root, "squad_translated", lang, split, rows, "squad", fmt)

  english = _copa_rows("en", None)
  for split in ("train", "validation"):
    F._write(root, "copa", None, split, english, "copa", fmt)
  F._write(root, "copa", None, "test", [dict(r, label=-1) for r in english], "copa", fmt)
  for lang in F.fixture_languages("xcopa", "test"):
    for split in ("validation", "test"):
      F._write(root, "xcopa", lang, split, _copa_rows(lang, False), "xcopa", fmt)

  for lang in F.fixture_languages("panx_r", "test"):
    sents = ([T.NER_ONLY[lang]] if lang in T.NER_ONLY else [T.BANK[lang]["ner"]]) + (
        T.EN_NER_EXTRA if lang == "en" else [])
    rows = [{"tokens": [w for w, _ in s], "ner_tags": [NER_LABELS.index(t) for _, t in s],
             "langs": [lang] * len(s), "spans": _spans(s)} for s in sents]
    for split in ("train", "validation", "test"):
      F._write(root, "wikiann", lang, split, rows, "wikiann", fmt)

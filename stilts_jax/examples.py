"""Canonical examples: the seam between task loading and featurization.

Every source (Hub dataset rows, local files, BUCC/CCG raw files) becomes one of these five types,
whatever its original schema; every featurizer consumes exactly one of them. Labels are integer
indices into the task's declared label list (`None` when a split has no gold labels, e.g. a test
split). `guid` is unique within a (task, split) and stable across runs, so predictions can be joined
back to examples and written in the XTREME submission layout.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class PairExample:
  """Sentence or sentence-pair classification (NLI, paraphrase). `text_b` is None for single."""
  guid: str
  text_a: str
  text_b: str | None
  label: int | None
  language: str = "en"


@dataclasses.dataclass(frozen=True)
class ChoiceExample:
  """Multiple choice: one `<s> prompt </s></s> choice </s>` pair per choice."""
  guid: str
  prompt: str
  choices: tuple[str, ...]
  label: int | None
  language: str = "en"


@dataclasses.dataclass(frozen=True)
class Answer:
  text: str
  start: int  # character offset into the context; context[start:start+len(text)] == text


@dataclasses.dataclass(frozen=True)
class SpanExample:
  """Extractive QA (SQuAD 1.1/2.0 style). `answers` is empty iff `is_impossible` (SQuAD 2.0)."""
  guid: str
  question: str
  context: str
  answers: tuple[Answer, ...]
  is_impossible: bool = False
  language: str = "en"


@dataclasses.dataclass(frozen=True)
class TagExample:
  """Token tagging over pre-split words (POS, NER, CCG): one label per word."""
  guid: str
  words: tuple[str, ...]
  labels: tuple[int, ...] | None
  language: str = "en"


@dataclasses.dataclass(frozen=True)
class SentenceExample:
  """One side of a retrieval task (BUCC, Tatoeba): a sentence to embed."""
  guid: str
  text: str
  language: str = "en"


Example = PairExample | ChoiceExample | SpanExample | TagExample | SentenceExample

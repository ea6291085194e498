"""Row -> canonical example converters, one per Hub row schema, with validation.

Each converter takes one row (a dict, as `datasets` yields it) and a `RowContext`, and returns a
canonical example from `stilts_jax.examples` (retrieval rows return a (source, target) pair).

Bad-input policy (the same for every schema, so behaviour does not depend on which task you run).
Real public data has a few bad rows in most large files; one of them must never cost a language:

* Fatal `DataError` (names task, split, source, file and the expected schema) only for what is
  wrong with a whole file: a missing column.
* Every per-row problem is a `BadRow` (a `DataError` with a short `reason`): the loader skips the
  row, counts it per reason in `LoadedSplit.skipped` and keeps the first messages. Reasons:
  `wrong_type` (a value of the wrong type), `bad_label` (a label outside the label list, an
  unknown label name, the no-gold marker where gold is expected), `wrong_shape` (answer text/start
  lists of different lengths, tokens and tags of different lengths, the wrong number of choices),
  `no_answer` (a SQuAD-1.1-style row without answers), `answer_not_in_context` (every answer was
  dropped, see below). On a training split the loader stops when the skips (but for declared
  ones, `EXPECTED_SKIPS`) exceed `max_bad_fraction` of the rows read (default 1%), naming
  reasons and rows; on evaluation splits they are counted and reported with the results.
* Skips that are not errors (`SkipRow`): `no_gold_label` (gold marker -1 / "" in a source declared
  `drop_no_gold`: SNLI pairs without annotator majority), `empty_text` (a required text field or
  token list is empty or whitespace-only: nothing to model).
* SQuAD answers are repaired, answer by answer, and counted in `LoadedSplit.repaired`: an answer
  whose text is not at `answer_start` is moved to the occurrence of its text nearest to
  `answer_start` (`answer_realigned`: the Hub's XQuAD/MLQA/TyDiQA rows were built with
  `context.strip()` and the answer `text.strip()` but `answer_start` unchanged); an answer whose
  text is empty or nowhere in the context is dropped (`answer_dropped`). A question left with no
  answer is skipped (`answer_not_in_context`); SQuAD 2.0's impossible questions never had one.
* Unlabeled splits (declared in `SourceSpec.unlabeled_splits`, e.g. GLUE test) yield label None
  without looking at the label value.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from stilts_jax.errors import UserError
from stilts_jax.examples import (Answer, ChoiceExample, Example, PairExample, SentenceExample,
                                 SpanExample, TagExample)

SCHEMAS: dict[str, str] = {
    "pair": "text_a: string, text_b: string (if the task is a pair task), label: ClassLabel int "
            "or label-name string, optional id column; column names per SourceSpec.columns",
    "squad": "id: string, question: string, context: string, "
             "answers: {text: list[string], answer_start: list[int]}",
    "hellaswag": "ind: int, ctx_a: string, ctx_b: string, endings: list[string] (4), "
                 "label: string '0'-'3' ('' when unlabeled)",
    "cosmosqa": "id: string, context: string, question: string, answer0..answer3: string, "
                "label: int 0-3",
    "commonsenseqa": "id: string, question: string, choices: {label: list[string] (A-E), "
                     "text: list[string]}, answerKey: string",
    "tagging": "tokens: list[string], <tags column>: list[ClassLabel int or tag string] "
               "(same length as tokens)",
    "retrieval_pairs": "source_sentence: string, target_sentence: string, source_lang: string, "
                       "target_lang: string (bucc18: the last two hold sentence ids)",
    "copa": "premise: string, choice1: string, choice2: string, question: string ('cause' or "
            "'effect'), label: int 0-1 (-1 when unlabeled), idx: int; XCOPA adds changed: bool",
}
# COPA's question column holds only the relation; jiant's CopaTask (and the COPA authors) phrase it
# as these English questions for every language, XCOPA included (its rows keep 'cause'/'effect').
COPA_QUESTIONS = {"cause": "What was the cause of this?", "effect": "What happened as a result?"}
_NO_GOLD = (-1, "")
# A training split may lose at most this fraction of its rows to skips (config
# data.max_bad_row_fraction); more means the file is not what we think it is.
DEFAULT_MAX_BAD_FRACTION = 0.01
_DETAILS_KEPT = 3  # messages kept per skip reason, for the logs and errors
# Skips a source declares as expected (SNLI's no-gold pairs): counted, but not bad rows.
EXPECTED_SKIPS = frozenset({"no_gold_label"})


class DataError(UserError, ValueError):
  """Malformed input data; the message says where (task/split/source/row) and what was expected."""


class BadRow(DataError):
  """One malformed row: skipped and counted under `reason` (see the module docstring)."""

  def __init__(self, message: str, reason: str, short: str | None = None):
    super().__init__(message)
    self.reason = reason
    self.short = short or message  # without the schema, for per-reason summaries


class SkipRow(Exception):
  """Raised by a converter for a row that is dropped and counted under `reason`."""

  def __init__(self, reason: str):
    super().__init__(reason)
    self.reason = reason


@dataclasses.dataclass
class RowTally:
  """What loading one (task, split, language) read, skipped (per reason, with the first few
  messages) and repaired. Shared by the Hub-row loader and the raw-file readers."""
  rows: int = 0
  skipped: Counter = dataclasses.field(default_factory=Counter)
  repaired: Counter = dataclasses.field(default_factory=Counter)
  details: dict[str, list[str]] = dataclasses.field(default_factory=dict)
  schema: str | None = None  # quoted in errors, when the rows have one


  def skip(self, reason: str, detail: str | None = None) -> None:
    self.skipped[reason] += 1
    kept = self.details.setdefault(reason, [])
    if detail and len(kept) < _DETAILS_KEPT:
      kept.append(detail)

  def describe(self) -> str:
    """'bad_label: 2 (first: ...); empty_text: 1' for logs and errors."""
    parts = []
    for reason, count in sorted(self.skipped.items()):
      first = self.details.get(reason)
      parts.append(f"{reason}: {count}" + (f" (first: {' | '.join(first)})" if first else ""))
    return "; ".join(parts)

  def check_fraction(self, what: str, max_fraction: float | None) -> None:
    """Stops a training split that lost more than `max_fraction` of its rows."""
    lost = sum(n for reason, n in self.skipped.items() if reason not in EXPECTED_SKIPS)
    if max_fraction is None or not lost or lost <= max_fraction * self.rows:
      return
    raise DataError(
        f"{what}: {lost} of {self.rows} rows ({100 * lost / self.rows:.1f}%) are bad, more "
        f"than data.max_bad_row_fraction={max_fraction:g} allows for a training split. "
        f"{self.describe()}. Fix the data, or raise --config.data.max_bad_row_fraction."
        f"{self.schema_hint()}")

  def schema_hint(self) -> str:
    return f" Expected schema ({self.schema}): {SCHEMAS[self.schema]}." if self.schema else ""


@dataclasses.dataclass
class RowContext:
  """Where a row comes from; used for error messages, guids and label decoding."""
  task: str
  split: str
  source: str
  origin: str  # human-readable file or Hub location
  hub_split: str
  language: str
  schema: str
  columns: Mapping[str, str]
  labels: tuple[str, ...] | None
  labeled: bool
  drop_no_gold: bool
  squad_v2: bool = False
  pair: bool = True
  # ClassLabel names from the dataset features, per column (None: the column holds plain values).
  classlabel_names: Mapping[str, tuple[str, ...] | None] = dataclasses.field(default_factory=dict)
  row_index: int = 0
  # Per-answer repairs (answer_realigned / answer_dropped), summed over the rows converted.
  repaired: Counter = dataclasses.field(default_factory=Counter)

  def where(self) -> str:
    return f"{self.task}/{self.split} (source {self.source!r}, {self.origin}, row {self.row_index})"

  def error(self, message: str, reason: str = "wrong_type") -> BadRow:
    """A per-row problem: the loader skips and counts the row."""
    return BadRow(f"{self.where()}: {message}. Expected schema ({self.schema}): "
                  f"{SCHEMAS[self.schema]}.", reason, short=f"{self.where()}: {message}")

  def fatal(self, message: str) -> DataError:
    """A problem of the whole file (a missing column): loading stops."""
    return DataError(f"{self.where()}: {message}. Expected schema ({self.schema}): "
                     f"{SCHEMAS[self.schema]}.")

  def guid(self, row_id: Any) -> str:
    # language/source/hub_split/id: unique across the sources a split concatenates.
    return f"{self.language}/{self.source}/{self.hub_split}/{row_id}"

  def col(self, field: str) -> str:
    return self.columns.get(field, field)

  def value(self, row: Mapping[str, Any], field: str) -> Any:
    name = self.col(field)
    if name not in row:
      raise self.fatal(f"missing column {name!r} (row has: {', '.join(sorted(row))})")
    return row[name]

  def text(self, row: Mapping[str, Any], field: str) -> str:
    return self.check_text(self.value(row, field), self.col(field))

  def check_text(self, value: Any, what: str) -> str:
    if not isinstance(value, str):
      raise self.error(f"{what} must be a string, got {type(value).__name__} {value!r:.60}")
    if not value.strip():
      raise SkipRow("empty_text")
    return value

  def str_list(self, value: Any, what: str) -> list[str]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
      raise self.error(f"{what} must be a list of strings, got {value!r:.80}")
    return list(value)

  def row_id(self, row: Mapping[str, Any]) -> Any:
    return self.value(row, "id") if "id" in self.columns or self.schema in (
        "squad", "cosmosqa", "commonsenseqa") else self.row_index

  def label(self, value: Any, column: str, names: Sequence[str] | None = None,
            allow_no_gold: bool = True) -> int | None:
    """Decodes a gold label (ClassLabel int or label-name string) to an index into `names`."""
    names = tuple(self.labels if names is None else names)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
      raise self.error(f"label column {column!r} must be an int or a label-name string, got "
                       f"{type(value).__name__} {value!r:.40}")
    if allow_no_gold and value in _NO_GOLD:
      if self.drop_no_gold:
        raise SkipRow("no_gold_label")
      raise self.error(f"label column {column!r} has the no-gold marker {value!r} in a labeled "
                       f"split", "bad_label")
    if isinstance(value, str):
      if value not in names:
        raise self.error(f"unknown label {value!r} in column {column!r}; valid labels: "
                         f"{', '.join(names)}", "bad_label")
      return names.index(value)
    stored = self.classlabel_names.get(column)
    if stored is not None and tuple(stored) != names:
      # A file whose ClassLabel order differs from ours: translate by name, never by position.
      if not 0 <= value < len(stored) or stored[value] not in names:
        raise self.error(f"label {value} in column {column!r} is not one of ClassLabel "
                         f"{list(stored)} mapped onto {list(names)}", "bad_label")
      return names.index(stored[value])
    if not 0 <= value < len(names):
      raise self.error(f"label {value} in column {column!r} is out of range [0, {len(names)}) "
                       f"for labels {', '.join(names)}", "bad_label")
    return value


def pair(row: Mapping[str, Any], ctx: RowContext) -> PairExample:
  text_a = ctx.text(row, "text_a")
  text_b = ctx.text(row, "text_b") if "text_b" in ctx.columns else None
  label = ctx.label(ctx.value(row, "label"), ctx.col("label")) if ctx.labeled else None
  return PairExample(guid=ctx.guid(ctx.row_id(row)), text_a=text_a, text_b=text_b, label=label,
                     language=ctx.language)


def squad(row: Mapping[str, Any], ctx: RowContext) -> SpanExample:
  row_id = ctx.value(row, "id")
  question = ctx.text(row, "question")
  context = ctx.text(row, "context")
  answers = ctx.value(row, "answers")
  if not isinstance(answers, Mapping) or "text" not in answers or "answer_start" not in answers:
    raise ctx.error(f"answers must be a struct {{text: [...], answer_start: [...]}}, got "
                    f"{answers!r:.80}")
  texts = ctx.str_list(answers["text"], "answers.text")
  starts = answers["answer_start"]
  if not isinstance(starts, (list, tuple)) or not all(
      isinstance(s, int) and not isinstance(s, bool) for s in starts):
    raise ctx.error(f"answers.answer_start must be a list of ints, got {starts!r:.80}")
  if len(texts) != len(starts):
    raise ctx.error(f"answers.text has {len(texts)} entries but answers.answer_start has "
                    f"{len(starts)}", "wrong_shape")
  if not texts and not ctx.squad_v2:
    raise ctx.error("no answers, but this is a SQuAD 1.1-style task (every question answerable)",
                    "no_answer")
  parsed = []
  for text, start in zip(texts, starts):
    aligned = align_answer(context, text, start)
    if aligned is None:
      ctx.repaired["answer_dropped"] += 1
      continue
    if aligned != start:
      ctx.repaired["answer_realigned"] += 1
    parsed.append(Answer(text=text, start=aligned))
  if texts and not parsed:
    raise ctx.error(f"no answer text {texts!r:.80} occurs in the context", "answer_not_in_context")
  return SpanExample(guid=ctx.guid(row_id), question=question, context=context,
                     answers=tuple(parsed), is_impossible=not parsed, language=ctx.language)


def align_answer(context: str, text: str, start: int) -> int | None:
  """`start` if `text` is there, else the occurrence of `text` nearest to `start` (the earlier one
  on a tie), or None when `text` is empty or not in `context`."""
  if not text:
    return None
  if start >= 0 and context.startswith(text, start):
    return start
  best, pos = None, context.find(text)
  while pos >= 0:
    if best is None or abs(pos - start) < abs(best - start):
      best = pos
    pos = context.find(text, pos + 1)
  return best


def hellaswag(row: Mapping[str, Any], ctx: RowContext) -> ChoiceExample:
  prompt = ctx.text(row, "ctx_a")
  ctx_b = ctx.value(row, "ctx_b")
  if not isinstance(ctx_b, str):
    raise ctx.error(f"ctx_b must be a string, got {ctx_b!r:.40}")
  endings = ctx.str_list(ctx.value(row, "endings"), "endings")
  if len(endings) != len(ctx.labels):
    raise ctx.error(f"expected {len(ctx.labels)} endings, got {len(endings)}", "wrong_shape")
  # As jiant: the choice is ctx_b continued by the ending (ctx_b is "" for some WikiHow rows).
  choices = tuple(ctx.check_text(f"{ctx_b} {e}" if ctx_b.strip() else e, "endings")
                  for e in endings)
  label = ctx.label(ctx.value(row, "label"), "label") if ctx.labeled else None
  return ChoiceExample(guid=ctx.guid(ctx.value(row, "ind")), prompt=prompt, choices=choices,
                       label=label, language=ctx.language)


def cosmosqa(row: Mapping[str, Any], ctx: RowContext) -> ChoiceExample:
  prompt = f"{ctx.text(row, 'context')} {ctx.text(row, 'question')}"
  choices = tuple(ctx.text(row, f"answer{k}") for k in range(len(ctx.labels)))
  label = ctx.label(ctx.value(row, "label"), "label") if ctx.labeled else None
  return ChoiceExample(guid=ctx.guid(ctx.value(row, "id")), prompt=prompt, choices=choices,
                       label=label, language=ctx.language)


def commonsenseqa(row: Mapping[str, Any], ctx: RowContext) -> ChoiceExample:
  question = ctx.text(row, "question")
  choices = ctx.value(row, "choices")
  if not isinstance(choices, Mapping) or "label" not in choices or "text" not in choices:
    raise ctx.error(f"choices must be a struct {{label: [...], text: [...]}}, got {choices!r:.80}")
  keys = ctx.str_list(choices["label"], "choices.label")
  texts = tuple(ctx.check_text(t, "choices.text")
                for t in ctx.str_list(choices["text"], "choices.text"))
  if tuple(keys) != ctx.labels or len(texts) != len(keys):
    raise ctx.error(f"choices.label must be {list(ctx.labels)} with one text each, got "
                    f"{keys} and {len(texts)} texts", "wrong_shape")
  label = ctx.label(ctx.value(row, "answerKey"), "answerKey") if ctx.labeled else None
  return ChoiceExample(guid=ctx.guid(ctx.value(row, "id")), prompt=question, choices=texts,
                       label=label, language=ctx.language)


def copa(row: Mapping[str, Any], ctx: RowContext) -> ChoiceExample:
  """COPA / XCOPA as jiant's CopaTask: prompt = premise + " " + question phrase, choices =
  (choice1, choice2)."""
  premise = ctx.text(row, "premise")
  relation = ctx.value(row, "question")
  if relation not in COPA_QUESTIONS:
    raise ctx.error(f"question must be one of {', '.join(map(repr, COPA_QUESTIONS))}, got "
                    f"{relation!r:.40}", "bad_label")
  choices = (ctx.text(row, "choice1"), ctx.text(row, "choice2"))
  label = ctx.label(ctx.value(row, "label"), "label") if ctx.labeled else None
  return ChoiceExample(guid=ctx.guid(ctx.value(row, "idx")),
                       prompt=f"{premise} {COPA_QUESTIONS[relation]}", choices=choices, label=label,
                       language=ctx.language)


def tagging(row: Mapping[str, Any], ctx: RowContext) -> TagExample:
  tokens = ctx.str_list(ctx.value(row, "tokens"), ctx.col("tokens"))
  if not tokens:
    raise SkipRow("empty_text")
  labels = None
  if ctx.labeled:
    tags = ctx.value(row, "tags")
    if not isinstance(tags, (list, tuple)):
      raise ctx.error(f"{ctx.col('tags')} must be a list, got {tags!r:.60}")
    if len(tags) != len(tokens):
      raise ctx.error(f"{len(tokens)} tokens but {len(tags)} tags in {ctx.col('tags')!r}",
                      "wrong_shape")
    labels = tuple(ctx.label(t, ctx.col("tags"), allow_no_gold=False) for t in tags)
  return TagExample(guid=ctx.guid(ctx.row_id(row)), words=tuple(tokens), labels=labels,
                    language=ctx.language)


def retrieval_pairs(row: Mapping[str, Any],
                    ctx: RowContext) -> tuple[SentenceExample, SentenceExample]:
  """One gold pair -> (non-English sentence, English sentence); guids are the BUCC ids if any."""
  # The old Tatoeba script kept the trailing newline of each line; it is not part of the sentence.
  src = ctx.text(row, "source").rstrip("\r\n")
  trg = ctx.text(row, "target").rstrip("\r\n")
  if "source_id" in ctx.columns:
    src_id = ctx.check_text(ctx.value(row, "source_id"), ctx.col("source_id"))
    trg_id = ctx.check_text(ctx.value(row, "target_id"), ctx.col("target_id"))
  else:
    src_id = trg_id = f"{ctx.row_index}"
  return (SentenceExample(guid=f"{ctx.language}/{src_id}", text=src, language=ctx.language),
          SentenceExample(guid=f"en/{trg_id}", text=trg, language="en"))


CONVERTERS: dict[str, Callable[[Mapping[str, Any], RowContext], Example | tuple]] = {
    "pair": pair, "squad": squad, "hellaswag": hellaswag, "cosmosqa": cosmosqa,
    "commonsenseqa": commonsenseqa, "tagging": tagging, "retrieval_pairs": retrieval_pairs,
    "copa": copa,
}

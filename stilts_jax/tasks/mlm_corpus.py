"""The MLM corpus, a task source of its own kind: plain multilingual text, one list of lines per
language, from a local directory (`<lang>.txt`, or jsonl/json/parquet/csv/tsv with a text column)
or a Hub dataset streamed without remote code (e.g. Wikipedia). `kinds/mlm.py` masks it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from stilts_jax.tasks.sources import FILE_BUILDERS


def load_mlm_corpus(source: str | os.PathLike, *, languages: Sequence[str], split: str = "train",
                    limit_per_language: int | None = None, text_column: str = "text",
                    config: str | None = "{lang}", revision: str | None = None,
                    split_lines: bool = True) -> dict[str, list[str]]:
  """`{language: [text]}`: the first `limit_per_language` non-empty texts per language.

  `source` is a local directory holding `<lang>.txt` (one text per line) or `<lang>.<ext>` for
  ext in jsonl/json/parquet/csv/tsv (column `text_column`), or a Hub dataset id read as
  `load_dataset(source, config.format(lang=lang), split=split, revision=revision,
  streaming=True)` (never with remote code; streaming, so a limit reads only what it keeps), e.g.
  `"wikimedia/wikipedia"` with `config="20231101.{lang}"`. With `split_lines`, each text is split
  at newlines (Wikipedia articles into paragraphs) and the limit counts the resulting lines.
  """
  if limit_per_language is not None and limit_per_language < 0:
    raise ValueError(f"limit_per_language must be >= 0; got {limit_per_language}.")
  source = os.fspath(source)
  local = os.path.isdir(source)
  if not local and (os.path.exists(source) or source.startswith((".", os.sep, "~"))):
    raise FileNotFoundError(f"MLM corpus {source!r} must be a directory of <lang>.txt files "
                            "(or a Hub dataset id).")
  corpus = {}
  for lang in languages:
    raw = _local_texts(source, lang, text_column) if local else \
        _hub_texts(source, lang, split, config, revision, text_column)
    corpus[lang] = _clean(raw, limit_per_language, split_lines)
  return corpus


def _local_texts(directory: str, lang: str, text_column: str) -> Iterator[str]:
  path = os.path.join(directory, f"{lang}.txt")
  if os.path.isfile(path):
    with open(path, encoding="utf-8") as f:
      yield from f
    return
  for ext, builder in FILE_BUILDERS.items():
    path = os.path.join(directory, f"{lang}{ext}")
    if os.path.isfile(path):
      import datasets
      kwargs = {"sep": "\t"} if ext == ".tsv" else {}
      ds = datasets.load_dataset(builder, data_files={"rows": path}, split="rows",
                                 streaming=True, **kwargs)
      yield from _column(ds, text_column, f"local:{path}")
      return
  raise FileNotFoundError(f"no MLM text for language {lang!r} in {directory}: expected {lang}.txt "
                          f"or {lang}{{{','.join(FILE_BUILDERS)}}}.")


def _hub_texts(dataset_id: str, lang: str, split: str, config: str | None,
               revision: str | None, text_column: str) -> Iterator[str]:
  import datasets
  name = config.format(lang=lang) if config else None
  ds = datasets.load_dataset(dataset_id, name, split=split, revision=revision, streaming=True)
  yield from _column(ds, text_column, f"hub:{dataset_id}/{name or 'default'}:{split}")


def _column(rows: Iterable[Mapping[str, Any]], column: str, origin: str) -> Iterator[str]:
  for row in rows:
    if column not in row:
      raise KeyError(f"{origin}: no text column {column!r} (columns: {', '.join(row)}); pass "
                     "text_column=.")
    yield "" if row[column] is None else str(row[column])


def _clean(texts: Iterable[str], limit: int | None, split_lines: bool) -> list[str]:
  """Stripped, non-empty texts (lines, with `split_lines`), at most `limit` of them. Shared by
  every source, so a local copy of a Hub dataset yields exactly the Hub's texts."""
  out: list[str] = []
  if limit == 0:
    return out
  for text in texts:
    for piece in (text.splitlines() if split_lines else [text]):
      piece = piece.strip()
      if piece:
        out.append(piece)
        if limit is not None and len(out) >= limit:
          return out
  return out

"""XTREME leaderboard submission files from saved test predictions.

Input (written by the pipeline): `<predictions_dir>/<target>/test-<lang>.jsonl`, one
`{"guid": str, "prediction": ...}` per line in dataset order. Output: `<out_dir>/<target>/
test-<lang>.{tsv,json}`, the layout XTREME's `evaluate.py` reads (jiant_xtreme.md §3):

* xnli, pawsx (`.tsv`): one predicted label string per line (XNLI: entailment / neutral /
  contradiction; PAWS-X: 0 / 1), scored by exact string equality per line.
* udpos, panx (`.tsv`): one tag per line, each sentence followed by a blank line (`read_tag`
  splits sentences on blank lines).
* xquad, mlqa, tydiqa (`.json`): `{question_id: answer_text}`. Our guids
  (`<lang>/<source>/<hub_split>/<id>`, stilts_jax.tasks) are reduced to the Hub question id, the
  key XTREME's SQuAD/MLQA scripts look up; other guids are used as they are.
* tatoeba (`.tsv`): per query line, the 0-based index of the retrieved sentence. An int, a digit
  string or a sentence guid `<lang>/<index>` is accepted.
* bucc2018 (`.tsv`): one mined pair `src_id<TAB>trg_id` per line (non-English id first, as in the
  BUCC gold files); the scorer compares sets, so order does not matter. A row's prediction is one
  `[src, trg]` pair or a list of them; `<lang>/` guid prefixes are stripped from ids.

The reference is silent on Tatoeba's exact line format; the index form above is what the gold
files of `evaluate.py` hold (accuracy = line equality).

Both directories may be local or on an object store (`etils.epath`); files are written whole.
"""

from __future__ import annotations

import json
import re

from etils import epath

from stilts_jax.paths import PathLike, write_atomic
from stilts_jax.report.results import QA_TARGETS, TARGETS, text_lines
from stilts_jax.tasks import TaskType, get_task

_PRED_FILE = re.compile(r"^test-(?P<lang>[A-Za-z_-]+)\.jsonl$")


class SubmissionError(ValueError):
  """A prediction file cannot be turned into a submission file; names file and line."""


def _clean_token(x, where: str, what: str) -> str:
  # The scorer strips each line, so a value with surrounding or embedded whitespace would not
  # survive the round trip.
  if isinstance(x, bool) or not isinstance(x, (str, int)):
    raise SubmissionError(f"{where}: {what} must be a string, got {x!r}")
  s = str(x)
  if not s or s != s.strip() or "\n" in s or "\t" in s:
    raise SubmissionError(f"{where}: {what} {s!r} is empty or has a tab/newline/edge whitespace")
  return s


def _strip_lang_prefix(x: str) -> str:
  head, sep, tail = x.partition("/")
  return tail if sep and re.fullmatch(r"[a-z]{2,3}", head) else x


def _qa_id(guid: str) -> str:
  parts = guid.split("/", 3)
  return parts[3] if len(parts) == 4 else guid


def _tatoeba(pred, where: str) -> str:
  if isinstance(pred, str):
    pred = _strip_lang_prefix(pred)
  s = _clean_token(pred, where, "tatoeba prediction")
  if not s.isdigit():
    raise SubmissionError(f"{where}: tatoeba prediction must be a sentence index, got {pred!r}")
  return s


def _bucc_pairs(pred, where: str) -> list[tuple[str, str]]:
  if (isinstance(pred, list) and len(pred) == 2
      and all(isinstance(x, (str, int)) and not isinstance(x, bool) for x in pred)):
    pred = [pred]  # a single pair
  if not isinstance(pred, list):
    raise SubmissionError(f"{where}: bucc2018 prediction must be a list of [src_id, trg_id]")
  pairs = []
  for p in pred:
    if not isinstance(p, list) or len(p) != 2:
      raise SubmissionError(f"{where}: bucc2018 pair must be [src_id, trg_id], got {p!r}")
    src, trg = (_clean_token(_strip_lang_prefix(x) if isinstance(x, str) else x, where, "id")
                for x in p)
    pairs.append((src, trg))
  return pairs


def _read_predictions(path: epath.Path) -> list[tuple[str, object, str]]:
  """(guid, prediction, "file:line") per non-blank line; guids must be unique."""
  rows, seen = [], {}
  for lineno, line in text_lines(path):
    where = f"{path}:{lineno}"
    try:
      obj = json.loads(line)
    except json.JSONDecodeError as e:
      raise SubmissionError(f"{where}: not valid JSON ({e.msg})") from None
    if not isinstance(obj, dict) or "guid" not in obj or "prediction" not in obj:
      raise SubmissionError(f'{where}: expected {{"guid": ..., "prediction": ...}}')
    guid = obj["guid"]
    if not isinstance(guid, str) or not guid:
      raise SubmissionError(f"{where}: guid must be a non-empty string, got {guid!r}")
    if guid in seen:
      raise SubmissionError(f"{where}: duplicate guid {guid!r} (first at line {seen[guid]})")
    seen[guid] = lineno
    rows.append((guid, obj["prediction"], where))
  return rows


def _render(target: str, rows: list, path: epath.Path) -> str:
  """The submission file's text for one (target, language)."""
  task_type = get_task(target).task_type
  if target in QA_TARGETS:
    answers = {}
    for guid, pred, where in rows:
      if not isinstance(pred, str):
        raise SubmissionError(f"{where}: QA prediction must be an answer string, got {pred!r}")
      qid = _qa_id(guid)
      if qid in answers:
        raise SubmissionError(f"{where}: question id {qid!r} occurs twice in {path.name}")
      answers[qid] = pred
    return json.dumps(answers, ensure_ascii=False, indent=0) + "\n"
  lines = []
  for guid, pred, where in rows:
    if target == "bucc2018":
      lines += [f"{s}\t{t}" for s, t in _bucc_pairs(pred, where)]
    elif target == "tatoeba":
      lines.append(_tatoeba(pred, where))
    elif task_type == TaskType.TAGGING:
      if not isinstance(pred, list) or not pred:
        raise SubmissionError(f"{where}: {target} prediction must be a non-empty list of tags")
      lines += [_clean_token(t, where, "tag") for t in pred] + [""]
    else:
      lines.append(_clean_token(pred, where, "label"))
  return "".join(line + "\n" for line in lines)


def write_submission(predictions_dir: PathLike, out_dir: PathLike) -> dict[str, list[str]]:
  """Writes `<out_dir>/<target>/test-<lang>.{tsv,json}` for every test prediction file.

  Returns {target: [languages written]}. Unknown task directories or languages raise (a typo
  would otherwise produce a silently incomplete submission); `missing_languages` lists gaps.
  Both directories may be local or gs://.
  """
  pred_dir = epath.Path(predictions_dir)
  if not pred_dir.is_dir():
    raise SubmissionError(f"{pred_dir} is not a directory of predictions.")
  written: dict[str, list[str]] = {}
  for task_dir in sorted(p for p in pred_dir.iterdir() if p.is_dir()):
    target = task_dir.name
    if target not in TARGETS:
      raise SubmissionError(f"{task_dir}: unknown target {target!r} (known: {', '.join(TARGETS)})")
    languages = get_task(target).languages
    ext = "json" if target in QA_TARGETS else "tsv"
    for path in sorted(task_dir.iterdir()):
      m = _PRED_FILE.match(path.name)
      if not m:
        continue  # validation predictions and other files are not part of a submission
      lang = m["lang"]
      if lang not in languages:
        raise SubmissionError(f"{path}: {lang!r} is not a language of {target} "
                              f"(valid: {' '.join(languages)})")
      rows = _read_predictions(path)
      if not rows:
        raise SubmissionError(f"{path}: no predictions.")
      write_atomic(epath.Path(out_dir) / target / f"test-{lang}.{ext}",
                   _render(target, rows, path))
      written.setdefault(target, []).append(lang)
  if not written:
    raise SubmissionError(f"{pred_dir}: no <target>/test-<lang>.jsonl files found.")
  return written


def missing_languages(written: dict[str, list[str]]) -> dict[str, list[str]]:
  """Per target written, the XTREME test languages without a file (leaderboard needs all)."""
  out = {}
  for target, langs in written.items():
    gap = [l for l in get_task(target).languages_for("test") if l not in langs]
    if gap:
      out[target] = gap
  return out

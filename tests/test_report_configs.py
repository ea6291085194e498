"""Recipe fingerprints (`config`) on result rows: validated, and a table cell that averages rows of
more than one recipe is marked `†` with a footnote, never averaged silently."""

import csv
import io

import pytest

from stilts_jax.report import ResultsError, build_summary, parse_rows, to_long_csv, to_markdown
from stilts_jax.tasks import get_task

ORIGIN = "gs://b/w/results.jsonl"
XNLI = get_task("xnli").languages
PAWSX = get_task("pawsx").languages


def _rows(inter, target, value, seed=0, config=None, langs=None, metrics=("accuracy",),
          split="validation"):
  rows = []
  for lang in langs or get_task(target).languages:
    for m in metrics:
      row = {"intermediate": inter, "target": target, "language": lang, "split": split,
             "metric": m, "value": value, "seed": seed}
      if config is not None:
        row["config"] = config
      rows.append(row)
  return rows


def _line(md, label):
  return next(l for l in md.splitlines() if l.startswith(f"| {label} |"))


def _long(summary):
  return {(r["intermediate"], r["target"]): r for r in csv.DictReader(io.StringIO(
      to_long_csv(summary)))}


@pytest.mark.parametrize("config", ["", "xyz1", "ab cd", 12, ["ab"]])
def test_bad_fingerprints_are_refused(config):
  row = _rows(None, "xnli", 70.0, langs=["en"])[0] | {"config": config}
  with pytest.raises(ResultsError, match=rf"{ORIGIN}:1: config must be a non-empty hex"):
    parse_rows([row], ORIGIN)


def test_fingerprint_is_kept_on_the_row():
  [row] = parse_rows(_rows(None, "xnli", 70.0, langs=["en"], config="0f3A9c"), ORIGIN)
  assert row.config == "0f3A9c"
  [old] = parse_rows(_rows(None, "xnli", 70.0, langs=["en"]), ORIGIN)
  assert old.config is None  # older files have no fingerprint


def test_seeds_of_one_recipe_are_not_marked():
  rows = (_rows("mnli", "xnli", 70.0, seed=1, config="aa11")
          + _rows("mnli", "xnli", 72.0, seed=2, config="aa11"))
  s = build_summary(parse_rows(rows, ORIGIN))
  assert s.cell("mnli", "xnli").configs == ("aa11",)
  md = to_markdown(s)
  assert "†" not in md and "71.0 ± 1.4 |" in _line(md, "mnli")
  assert _long(s)[("mnli", "xnli")]["configs"] == "aa11"


def test_seeds_of_two_recipes_are_marked_and_named():
  rows = (_rows("mnli", "xnli", 70.0, seed=1, config="bb22")
          + _rows("mnli", "xnli", 72.0, seed=2, config="aa11")
          + _rows("mnli", "pawsx", 80.0, config="aa11"))
  s = build_summary(parse_rows(rows, ORIGIN))
  assert s.cell("mnli", "xnli").mixed_configs and not s.cell("mnli", "pawsx").mixed_configs
  md = to_markdown(s)
  row = _line(md, "mnli")
  assert "| 71.0 ± 1.4† |" in row and "| 80.0 |" in row  # only the mixed cell is marked
  assert ("- `†` mnli / xnli: averages rows of 2 different recipes (configs: aa11 bb22)."
          in md.splitlines())
  long = _long(s)
  assert long[("mnli", "xnli")]["configs"] == "aa11 bb22"  # sorted
  assert long[("mnli", "pawsx")]["configs"] == "aa11"
  assert long[("mnli", "udpos")]["configs"] == ""  # no rows, no fingerprint


def test_rows_without_a_fingerprint_mixed_with_one_count_as_mixed():
  # Languages from two runs: en from a fingerprinted recipe, the rest from an older file.
  rows = (_rows(None, "pawsx", 80.0, config="cc33", langs=["en"])
          + _rows(None, "pawsx", 70.0, langs=[l for l in PAWSX if l not in ("en", "zh")]))
  s = build_summary(parse_rows(rows, ORIGIN))
  assert s.cell(None, "pawsx").configs == ("cc33", None)
  md = to_markdown(s)
  assert "*†" in _line(md, "none (XLM-R)")  # partial and mixed: both marks
  assert "`†` none (XLM-R) / pawsx: averages rows of 2 different recipes (configs: cc33 none; " \
         "none = rows without a config fingerprint)." in md
  assert _long(s)[("none (XLM-R)", "pawsx")]["configs"] == "cc33 none"
  # Rows without any fingerprint (older files) are one "recipe": nothing is marked.
  old = build_summary(parse_rows(_rows(None, "pawsx", 70.0), ORIGIN))
  assert "†" not in to_markdown(old)


def test_only_rows_feeding_the_cell_count():
  # Another split, another metric and an XTREME-R target with other fingerprints do not make the
  # validation XNLI cell mixed.
  rows = (_rows("mnli", "xnli", 70.0, config="aa11")
          + _rows("mnli", "xnli", 60.0, config="bb22", split="test", langs=["en"])
          + _rows("mnli", "xnli", 1.0, config="cc33", metrics=("loss",), langs=["en"])
          + _rows("mnli", "xcopa", 55.0, config="dd44", langs=["et"]))
  s = build_summary(parse_rows(rows, ORIGIN))
  assert s.cell("mnli", "xnli").configs == ("aa11",)
  assert "†" not in to_markdown(s)


def test_qa_cell_fingerprints_come_from_em_and_f1():
  rows = (_rows("squad", "xquad", 60.0, config="aa11", metrics=("exact_match",))
          + _rows("squad", "xquad", 80.0, config="bb22", metrics=("f1",)))
  s = build_summary(parse_rows(rows, ORIGIN))
  assert s.cell("squad", "xquad").configs == ("aa11", "bb22")
  md = to_markdown(s)
  assert "70.0†" in _line(md, "squad")
  assert "80.0 / 60.0†" in md.split("QA detail")[1]

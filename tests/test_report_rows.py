"""Rows in memory: `parse_rows` checks them exactly as a results.jsonl is checked, and
`write_run_report` writes a workdir's results.md / results.csv / plots from them."""

import json

import pytest

from stilts_jax.report import (ResultsError, build_summary, load_results, parse_rows,
                               read_results_file, to_csv, to_markdown, write_run_report)
from stilts_jax.tasks import get_task


def _rows(inter, target, value, split="validation", seed=0, metric="accuracy"):
  return [{"intermediate": inter, "target": target, "language": l, "split": split,
           "metric": metric, "value": value, "seed": seed}
          for l in get_task(target).languages_for(split)]


def _write(path, rows):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text("".join(json.dumps(r) + "\n" for r in rows))
  return path


def test_parse_rows_equals_reading_the_file(tmp_path):
  rows = (_rows(None, "xnli", 70.0) + _rows("mnli", "xnli", 75.0, seed=3)
          + [_rows("mnli", "panx", 50.0, metric="f1")[0] | {"model": "m", "step": 9,
                                                             "config": "ab12"}])
  path = _write(tmp_path / "w" / "results.jsonl", rows)
  assert parse_rows(rows, str(path)) == read_results_file(path) == load_results([path.parent])


@pytest.mark.parametrize("bad,message", [
    ({"intermediate": None}, "missing key(s) target"),
    (_rows(None, "xnli", 101.0)[0], "outside [0, 100]"),
    (_rows(None, "xnli", 70.0)[0] | {"seeds": 1}, "unknown key(s) seeds"),
    ("not a dict", "expected a JSON object, got str"),
])
def test_parse_rows_names_origin_and_row(bad, message):
  good = _rows(None, "xnli", 70.0)[0]
  with pytest.raises(ResultsError) as e:
    parse_rows([good, bad], "gs://b/w/results.jsonl")
  assert str(e.value).startswith("gs://b/w/results.jsonl:2: ") and message in str(e.value)


def test_parse_rows_refuses_duplicates():
  row = _rows("mnli", "xnli", 70.0)[0]
  with pytest.raises(ResultsError) as e:
    parse_rows([row, row | {"value": 71.0}], "gs://b/w/results.jsonl")
  assert ("gs://b/w/results.jsonl:2: duplicate result" in str(e.value)
          and "first seen at gs://b/w/results.jsonl:1" in str(e.value))
  assert len(parse_rows([row, row | {"seed": 1}], "x")) == 2  # another seed is no duplicate


def test_a_duplicate_within_one_file_is_refused(tmp_path):
  # Blank lines keep line numbers: the duplicate is on line 3.
  row = json.dumps(_rows("mnli", "xnli", 70.0)[0])
  path = tmp_path / "results.jsonl"
  path.write_text(f"{row}\n\n{row}\n")
  with pytest.raises(ResultsError, match=rf"{path}:3: duplicate result .* first seen at {path}:1"):
    read_results_file(path)


def _grid():
  return (_rows(None, "xnli", 70.0) + _rows("mnli", "xnli", 75.0)
          + _rows(None, "pawsx", 80.0) + _rows("mnli", "pawsx", 82.0)
          + _rows("mnli", "xnli", 60.0, split="test"))


def test_run_report_from_rows_in_memory(tmp_path):
  w = tmp_path / "run"
  w.mkdir()
  # A stale results.jsonl: the report must come from the rows given, not from this file.
  (w / "results.jsonl").write_text("stale\n")
  rows = _grid()
  md = write_run_report(w, rows)
  expected = build_summary(parse_rows(rows, "x"), split="validation")
  assert md == (w / "results.md").read_text() == to_markdown(expected)
  assert "| mnli | 75.0 | 82.0 |" in md
  assert (w / "results.csv").read_text() == to_csv(expected)
  assert (w / "results.jsonl").read_text() == "stale\n"  # the caller writes results.jsonl
  assert sorted(p.name for p in (w / "plots").iterdir()) == [
      "gains_heatmap.png", "per_language_pawsx.png", "per_language_xnli.png"]
  assert all(p.read_bytes()[:4] == b"\x89PNG" for p in (w / "plots").iterdir())
  assert not (w / "summary_long.csv").exists()


def test_run_report_plots_only_what_the_validation_table_has(tmp_path):
  # No baseline: no heatmap. PAN-X has only test rows: no validation plot for it (and no crash).
  rows = _rows("mnli", "xnli", 75.0) + _rows("mnli", "panx", 50.0, split="test", metric="f1")
  write_run_report(tmp_path / "w", rows)
  assert [p.name for p in (tmp_path / "w" / "plots").iterdir()] == ["per_language_xnli.png"]


@pytest.mark.parametrize("rows,reason", [
    (_rows(None, "xnli", 70.0, split="test"), "No results for split 'validation'."),
    (_rows(None, "xnli", 70.0)[:1] * 2, "results.jsonl:2: duplicate result"),
])
def test_run_report_without_a_table(tmp_path, rows, reason):
  w = tmp_path / "new" / "run"  # made as needed
  md = write_run_report(w, rows)
  assert md.startswith("No summary table: ") and reason in md
  assert (w / "results.md").read_text() == md
  assert sorted(p.name for p in w.iterdir()) == ["results.md"]

"""Results loading/validation and the XTREME summary table, checked against hand arithmetic."""

import json
import math

import pytest

from stilts_jax.report import (ResultsError, build_summary, gain_table, load_results, to_csv,
                               to_long_csv, to_markdown)
from stilts_jax.report.results import MAIN_METRIC, QA_TARGETS, TARGETS
from stilts_jax.tasks import get_task


def _row(inter, target, lang, metric, value, split="validation", **kw):
  return {"intermediate": inter, "target": target, "language": lang, "split": split,
          "metric": metric, "value": value, **kw}


def _full(inter, values, split="validation", skip=(), **kw):
  """One row per expected language of every target in `values` (QA: values = (em, f1))."""
  rows = []
  for t, v in values.items():
    for lang in get_task(t).languages_for(split):
      if (t, lang) in skip:
        continue
      if t in QA_TARGETS:
        rows += [_row(inter, t, lang, "exact_match", v[0], split, **kw),
                 _row(inter, t, lang, "f1", v[1], split, **kw)]
      else:
        rows.append(_row(inter, t, lang, MAIN_METRIC[t], v, split, **kw))
  return rows


def _write(path, rows):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text("".join(json.dumps(r) + "\n" for r in rows))
  return path


# Baseline: constant per task, so each task average is that constant; QA = (EM + F1) / 2.
BASE = {"xnli": 70.0, "pawsx": 80.0, "udpos": 60.0, "panx": 50.0, "xquad": (60.0, 80.0),
        "mlqa": (50.0, 70.0), "tydiqa": (40.0, 60.0), "bucc2018": 30.0, "tatoeba": 20.0}
MNLI = {"xnli": 75.0, "pawsx": 82.0, "udpos": 61.0, "panx": 49.0, "xquad": (62.0, 82.0),
        "mlqa": (51.0, 71.0), "tydiqa": (45.0, 65.0), "bucc2018": 40.0, "tatoeba": 30.0}


@pytest.fixture
def workdirs(tmp_path):
  base = tmp_path / "base"
  _write(base / "results.jsonl", _full(None, BASE))
  mnli = tmp_path / "mnli"
  # Two seeds for mnli/xnli: 73 and 77 -> mean 75 (= MNLI["xnli"]), std sqrt(8) = 2.828.
  rows = _full("mnli", {k: v for k, v in MNLI.items() if k != "xnli"})
  rows += _full("mnli", {"xnli": 73.0}, seed=1) + _full("mnli", {"xnli": 77.0}, seed=2)
  _write(mnli / "results.jsonl", rows)
  return [base, mnli]


def test_table_values_by_hand(workdirs):
  s = build_summary(load_results(workdirs), split="validation")
  assert s.settings == [None, "mnli"]
  assert s.cell(None, "xnli").value == 70.0
  assert s.cell(None, "xquad").value == 70.0  # (60 + 80) / 2
  assert (s.cell(None, "xquad").em, s.cell(None, "xquad").f1) == (60.0, 80.0)
  assert s.cell(None, "tydiqa").value == 50.0
  base_avg = (70 + 80 + 60 + 50 + 70 + 60 + 50 + 30 + 20) / 9
  assert s.avg[None] == pytest.approx(base_avg)
  x = s.cell("mnli", "xnli")
  assert x.value == pytest.approx(75.0) and x.n_seeds == 2
  assert x.std == pytest.approx(math.sqrt(8))
  assert s.cell("mnli", "pawsx").std is None and s.cell("mnli", "pawsx").n_seeds == 1
  mnli_avg = (75 + 82 + 61 + 49 + 72 + 61 + 55 + 40 + 30) / 9
  assert s.avg["mnli"] == pytest.approx(mnli_avg)
  md = to_markdown(s)
  assert "| none (XLM-R) | 70.0 | 80.0 | 60.0 | 50.0 | 70.0 | 60.0 | 50.0 | 30.0 | 20.0 | 54.4 |" \
      in md
  assert "75.0 ± 2.8" in md
  assert "72.0 / 62.0" not in md and "82.0 / 62.0" in md  # QA detail is F1 / EM
  assert "*" not in md.split("QA detail")[0]  # complete: nothing marked


def test_gains_by_hand(workdirs):
  g = gain_table(build_summary(load_results(workdirs)))
  assert g.settings == ["mnli"]
  expected = [5, 2, 1, -1, 2, 1, 5, 10, 10]
  assert g.values[0, :9].tolist() == pytest.approx(expected)
  assert g.values[0, 9] == pytest.approx(sum(expected) / 9)
  assert not g.partial.any()


def test_two_languages_and_missing_marking(tmp_path):
  # PAWS-X has 7 languages; only en=90 and de=80 present -> 85, marked, 5 languages listed.
  p = _write(tmp_path / "r.jsonl", [_row(None, "pawsx", "en", "accuracy", 90),
                                    _row(None, "pawsx", "de", "accuracy", 80)])
  s = build_summary(load_results([p]))
  c = s.cell(None, "pawsx")
  assert c.value == 85.0 and c.missing == ("es", "fr", "ja", "ko", "zh")
  md = to_markdown(s)
  assert "| 85.0* |" in md
  assert "pawsx: averaged over 2 of 7 languages; missing: es fr ja ko zh" in md
  assert s.avg[None] is None
  assert "Avg blank for none (XLM-R): no results for xnli, udpos, panx, xquad, mlqa, tydiqa, " \
         "bucc2018, tatoeba." in md
  assert "pawsx:es fr ja ko zh" in to_csv(s)


def test_avg_blank_when_a_task_is_missing(tmp_path):
  rows = _full(None, {k: v for k, v in BASE.items() if k != "tatoeba"})
  s = build_summary(load_results([_write(tmp_path / "r.jsonl", rows)]))
  assert s.avg[None] is None
  md = to_markdown(s)
  assert "Avg blank for none (XLM-R): no results for tatoeba." in md
  assert to_csv(s).splitlines()[1].split(",")[10] == ""  # the avg column


def test_avg_marked_when_a_language_is_missing(tmp_path):
  rows = _full(None, BASE, skip={("xnli", "sw")})
  s = build_summary(load_results([_write(tmp_path / "r.jsonl", rows)]))
  assert s.avg[None] is not None and s.avg_partial(None)
  assert s.cell(None, "xnli").missing == ("sw",)
  line = [l for l in to_markdown(s).splitlines() if l.startswith("| none")][0]
  assert line.endswith("54.4* |")


def test_qa_needs_both_em_and_f1(tmp_path):
  rows = [_row(None, "mlqa", "en", "exact_match", 40), _row(None, "mlqa", "en", "f1", 60),
          _row(None, "mlqa", "de", "f1", 70)]  # de lacks EM: not scored
  s = build_summary(load_results([_write(tmp_path / "r.jsonl", rows)]))
  c = s.cell(None, "mlqa")
  assert c.value == 50.0 and "de" in c.missing


def test_udpos_expected_languages_depend_on_split(tmp_path):
  rows = _full(None, {"udpos": 60.0}, split="test")
  s = build_summary(load_results([_write(tmp_path / "r.jsonl", rows)]), split="test")
  assert len(s.cell(None, "udpos").expected) == 33 and s.cell(None, "udpos").complete
  s = build_summary(load_results([_write(tmp_path / "v.jsonl", _full(None, {"udpos": 60.0}))]))
  assert len(s.cell(None, "udpos").expected) == 29 and s.cell(None, "udpos").complete


def test_split_filter_and_partial_gain(tmp_path):
  rows = [_row(None, "pawsx", "en", "accuracy", 90), _row(None, "pawsx", "de", "accuracy", 80),
          _row("qqp", "pawsx", "en", "accuracy", 93),
          _row("qqp", "pawsx", "en", "accuracy", 10, split="test")]
  s = build_summary(load_results([_write(tmp_path / "r.jsonl", rows)]))
  g = gain_table(s)
  assert g.values[0, 1] == pytest.approx(3.0) and g.partial[0, 1]  # paired on en only
  assert math.isnan(g.values[0, 9])


def test_long_csv(workdirs):
  lines = to_long_csv(build_summary(load_results(workdirs))).splitlines()
  assert lines[0].startswith("intermediate,target,split,metric,value,std,n_seeds")
  # Last column `configs`: these rows carry no recipe fingerprint.
  assert "mnli,xnli,validation,accuracy,75.0000,2.8284,2,15,15,,,,none" in lines


@pytest.mark.parametrize("row,message", [
    ({"target": "xnli", "language": "en", "split": "validation", "metric": "accuracy",
      "value": 1}, "missing key(s) intermediate"),
    (_row(None, "xnli2", "en", "accuracy", 1), "unknown target 'xnli2'"),
    (_row(None, "xnli", "en", "accuracy", 100.5), "outside [0, 100]"),
    (_row(None, "xnli", "en", "accuracy", -1), "outside [0, 100]"),
    (_row(None, "xnli", "en", "accuracy", float("nan")), "not finite"),
    (_row(None, "xnli", "en", "accuracy", "70"), "value must be a number"),
    (_row(None, "tatoeba", "en", "accuracy", 70), "not an XTREME language of tatoeba"),
    (_row(None, "xnli", "en", "accuracy", 70, split="dev"), "split must be one of"),
    (_row(None, "xnli", "en", "accuracy", 70, seed="1"), "seed must be an int"),
    (_row(None, "xnli", "en", "accuracy", 70, seeds=1), "unknown key(s) seeds"),
    (_row(None, "bucc2018", "de", "f1", 70, bucc_source="x"), "bucc_source must be one of"),
])
def test_row_validation_names_file_and_line(tmp_path, row, message):
  p = _write(tmp_path / "w" / "results.jsonl", [_row(None, "xnli", "de", "accuracy", 1), row])
  with pytest.raises(ResultsError) as e:
    load_results([tmp_path / "w"])
  assert f"{p}:2: " in str(e.value) and message in str(e.value)


def test_bad_json_and_missing_files(tmp_path):
  p = tmp_path / "results.jsonl"
  p.write_text('{"a": 1\n')
  with pytest.raises(ResultsError, match=r"results.jsonl:1: not valid JSON"):
    load_results([p])
  (tmp_path / "empty").mkdir()
  with pytest.raises(ResultsError, match="without results.jsonl"):
    load_results([tmp_path / "empty"])
  with pytest.raises(ResultsError, match="does not exist"):
    load_results([tmp_path / "nope.jsonl"])


def test_duplicates_across_files(tmp_path):
  a = _write(tmp_path / "a.jsonl", [_row("mnli", "xnli", "en", "accuracy", 80, seed=1)])
  b = _write(tmp_path / "b.jsonl", [_row("mnli", "xnli", "de", "accuracy", 70, seed=1),
                                    _row("mnli", "xnli", "en", "accuracy", 81, seed=1)])
  with pytest.raises(ResultsError) as e:
    load_results([a, b])
  assert f"{b}:2: duplicate result" in str(e.value) and f"first seen at {a}:1" in str(e.value)
  # A different seed is not a duplicate.
  c = _write(tmp_path / "c.jsonl", [_row("mnli", "xnli", "en", "accuracy", 82, seed=2)])
  assert len(load_results([a, c])) == 2


def test_mixed_models_and_bucc_sources_refused(tmp_path):
  p = _write(tmp_path / "m.jsonl", [_row(None, "xnli", "en", "accuracy", 1, model="a"),
                                    _row("x", "xnli", "en", "accuracy", 1, model="b")])
  with pytest.raises(ResultsError, match="mix models a, b"):
    build_summary(load_results([p]))
  p = _write(tmp_path / "b.jsonl", [
      _row(None, "bucc2018", "de", "f1", 1, bucc_source="hub_gold_pairs"),
      _row("x", "bucc2018", "de", "f1", 1, bucc_source="bucc_original_files")])
  with pytest.raises(ResultsError, match="mix data sources"):
    build_summary(load_results([p]))
  p = _write(tmp_path / "h.jsonl", [
      _row(None, "bucc2018", "de", "f1", 1, bucc_source="hub_gold_pairs")])
  # Rows written before data origins existed are judged by bucc_source.
  marked = to_markdown(build_summary(load_results([p])))
  assert "the Hub holds the gold pairs only" in marked and "1.0*‡" in marked


HUB = "hub:google/xtreme/{}@main"


@pytest.mark.parametrize("target,origin,flagged", [
    ("udpos", HUB.format("udpos.Greek"), True),
    ("pawsx", HUB.format("PAWS-X.ko"), True),
    ("bucc2018", HUB.format("bucc18.de"), True),
    ("udpos", "xtreme:ud-treebanks-v2.5.tgz", False),
    ("pawsx", "xtreme:x-final.tar.gz", False),
    ("xnli", HUB.format("XNLI"), False),  # the Hub's XNLI is XTREME's data
    ("udpos", "local:/data/ud", False),  # the user's own files: their call
])
def test_data_not_xtremes_is_marked_with_the_fix(target, origin, flagged):
  rows = _full(None, {target: 50.0}, data={"examples": 1, "origin": origin})
  summary = build_summary(load_rows(rows))
  markdown = to_markdown(summary)
  assert (target in summary.not_comparable) == flagged
  assert ("50.0‡" in markdown) == flagged
  assert ("Not comparable with published numbers" in markdown) == flagged
  if flagged:
    assert f"stilts-jax-data prepare --out xtreme_data {target}, then rerun with " \
           "--config.data.xtreme_dir=xtreme_data" in summary.not_comparable[target]
    assert origin in summary.not_comparable[target]


def test_no_rows_for_split_and_no_baseline(tmp_path):
  p = _write(tmp_path / "r.jsonl", [_row("mnli", "xnli", "en", "accuracy", 80)])
  with pytest.raises(ResultsError, match="No results for split 'test'"):
    build_summary(load_results([p]), split="test")
  s = build_summary(load_results([p]))
  with pytest.raises(ResultsError, match="No baseline rows"):
    gain_table(s)
  assert "Gain over" not in to_markdown(s)


def test_targets_cover_xtreme():
  from stilts_jax.report.results import XTREME_R_TARGETS, known_targets
  assert len(TARGETS) == 9 and set(MAIN_METRIC) == set(known_targets())
  assert not set(XTREME_R_TARGETS) & set(TARGETS)  # the XTREME table and Avg keep their 9 tasks


def test_xtreme_r_rows_are_valid_but_outside_the_table(tmp_path):
  """XTREME-R's rows (like any target outside XTREME) get a table of their own, never a column
  of the XTREME table or a share of its Avg."""
  import json
  from stilts_jax.report import build_summary, load_results, to_markdown
  rows = [{"intermediate": None, "target": "xcopa", "language": "et", "split": "validation",
           "metric": "accuracy", "value": 60.0},
          {"intermediate": None, "target": "xnli", "language": "en", "split": "validation",
           "metric": "accuracy", "value": 80.0}]
  (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
  loaded = load_results([tmp_path])
  assert {r.target for r in loaded} == {"xcopa", "xnli"}
  summary = build_summary(loaded)
  assert summary.others == ("xcopa",) and summary.cell(None, "xcopa").value == 60.0
  assert summary.avg[None] is None and "xcopa" not in summary.avg_missing(None)
  markdown = to_markdown(summary)
  xtreme_table = markdown.split("\n\n")[1]
  assert "XCOPA" not in xtreme_table and "| XNLI |" in xtreme_table
  assert "| intermediate | XCOPA |\n| --- | ---: |\n| none (XLM-R) | 60.0* |" in markdown


def test_repairs_and_skips_are_listed_under_the_table():
  """A reader sees what each score's data lost or had fixed: "zh: 100 answers re-aligned"."""
  fixed = {"examples": 1190, "rows_read": 1190, "skipped": {}, "repaired": {"answer_realigned": 100}}
  lossy = {"examples": 1998, "rows_read": 2000, "skipped": {"bad_label": 1, "empty_text": 1},
           "repaired": {}}
  rows = _full(None, {"xquad": (60.0, 70.0), "pawsx": 80.0}, data={"examples": 1190})
  for r in rows:
    if (r["target"], r["language"]) == ("xquad", "zh"):
      r["data"] = fixed
    if (r["target"], r["language"]) == ("pawsx", "ko"):
      r["data"] = lossy
  summary = build_summary(load_rows(rows))
  assert summary.data_notes == [
      "PAWS-X ko (validation): 1998 examples; 2 of 2000 rows skipped (bad_label 1, empty_text 1)",
      "XQuAD zh (validation): 1190 examples; 100 answers re-aligned, 0 answers dropped"]
  md = to_markdown(summary)
  assert "Data repaired or skipped" in md and "- XQuAD zh (validation): 1190 examples" in md
  clean = build_summary(load_rows(_full(None, {"xquad": (60.0, 70.0)})))
  assert clean.data_notes == [] and "Data repaired" not in to_markdown(clean)


@pytest.mark.parametrize("data,message", [
    ({"examples": -1}, "data.examples must be a count"),
    ({"skipped": {"bad_label": "2"}}, "data.skipped must map reasons to counts"),
    ({"source": "hub"}, "data must be an object with keys"),
    ({"origin": "hub"}, "data.origin must be 'hub:<id>/<config>@<revision>'"),
    ([1], "data must be an object")])
def test_malformed_data_field_is_refused(data, message):
  with pytest.raises(ResultsError, match=message):
    load_rows([_row(None, "xnli", "de", "accuracy", 50.0, data=data)])


def load_rows(rows):
  from stilts_jax.report import parse_rows
  return parse_rows(rows, "results.jsonl")

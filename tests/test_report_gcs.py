"""The report on gs:// against a real GCS emulator (tests/_gcs.py): workdirs read from a bucket,
tables, plots and submissions written to one; and unusable paths as one-line errors."""

import csv
import io
import json

import pytest
from etils import epath

from stilts_jax import paths
from stilts_jax.report import write_run_report
from stilts_jax.report.cli import main
from stilts_jax.report.results import TARGETS
from test_report_cli import full_rows


def _rows(inter, value, split="validation"):
  return full_rows(inter, value, split, config="c0ffee")


def _upload(path, rows):
  epath.Path(path).write_text("".join(json.dumps(r) + "\n" for r in rows))


def _is_png(path):
  return epath.Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_cli_reads_and_writes_gs(gcs, capsys):
  bucket = gcs.create_bucket()
  root = f"gs://{bucket}"
  _upload(f"{root}/run_a/results.jsonl", _rows(None, 60.0))
  _upload(f"{root}/run_b/results.jsonl", _rows("hellaswag", 64.5))
  _upload(f"{root}/run_b/predictions/hellaswag/xnli/test-en.jsonl",
          [{"guid": "g", "prediction": "neutral"}])
  assert main([f"{root}/run_a", f"{root}/run_b", "--out", f"{root}/report", "--submission"]) == 0
  captured = capsys.readouterr()
  assert "| hellaswag | +4.5 | +4.5 |" in captured.out
  names = set(gcs.objects(bucket, "report/"))
  assert names == {"report/summary.md", "report/summary.csv", "report/summary_long.csv",
                   "report/gains_heatmap.png",
                   "report/submission/run_b/hellaswag/xnli/test-en.tsv",
                   *(f"report/per_language_{t}.png" for t in TARGETS)}
  out = epath.Path(f"{root}/report")
  assert (out / "summary.md").read_text() == captured.out
  table = list(csv.DictReader(io.StringIO((out / "summary.csv").read_text())))
  assert [r["intermediate"] for r in table] == ["none (XLM-R)", "hellaswag"]
  assert float(table[1]["avg"]) == 64.5 and float(table[1]["xquad_em"]) == 54.5
  long = list(csv.DictReader(io.StringIO((out / "summary_long.csv").read_text())))
  assert len(long) == 2 * len(TARGETS) and {r["configs"] for r in long} == {"c0ffee"}
  assert all(_is_png(f"gs://{bucket}/{n}") for n in names if n.endswith(".png"))
  assert (out / "submission/run_b/hellaswag/xnli/test-en.tsv").read_text() == "neutral\n"


def test_report_cli_errors_name_the_gs_path(gcs, capsys):
  bucket = gcs.create_bucket()
  bad = f"gs://{bucket}/run/results.jsonl"
  _upload(bad, _rows(None, 60.0)[:2] + [{"intermediate": None}])
  assert main([f"gs://{bucket}/run", "--out", f"gs://{bucket}/report"]) == 2
  err = capsys.readouterr().err
  assert err.startswith(f"stilts-jax-report: error: {bad}:3: missing key(s)")
  assert main([f"gs://{bucket}/nothing", "--out", f"gs://{bucket}/report"]) == 2
  err = capsys.readouterr().err
  assert f"gs://{bucket}/nothing does not exist" in err and len(err.splitlines()) == 1
  assert gcs.objects(bucket, "report/") == []


def test_run_report_writes_to_gs(gcs):
  bucket = gcs.create_bucket()
  rows = _rows(None, 60.0) + _rows("mnli", 65.0) + _rows("mnli", 50.0, split="test")
  md = write_run_report(f"gs://{bucket}/w", rows)
  plots = [f"w/plots/per_language_{t}.png" for t in TARGETS] + ["w/plots/gains_heatmap.png"]
  assert sorted(gcs.objects(bucket)) == sorted(["w/results.md", "w/results.csv", *plots])
  w = epath.Path(f"gs://{bucket}/w")
  assert (w / "results.md").read_text() == md and "| mnli | 65.0 |" in md
  assert (w / "results.csv").read_text().startswith("intermediate,xnli,")
  assert all(_is_png(f"gs://{bucket}/{p}") for p in plots)
  # No table (only test rows): results.md says why, nothing else is written.
  md = write_run_report(f"gs://{bucket}/t", _rows(None, 60.0, split="test"))
  assert md == "No summary table: No results for split 'validation'.\n"
  assert gcs.objects(bucket, "t/") == ["t/results.md"]


def test_missing_backend_is_a_one_line_error(tmp_path, monkeypatch, capsys):
  def no_gcsfs(path):
    raise paths.PathError(f"{path}: gs:// paths need gcsfs; install them with: pip install x")
  monkeypatch.setattr(paths, "check_backend", no_gcsfs)
  assert main(["gs://b/run", "--out", str(tmp_path / "out")]) == 2
  err = capsys.readouterr().err
  assert err == ("stilts-jax-report: error: gs://b/run: gs:// paths need gcsfs; install them "
                 "with: pip install x\n")
  assert not (tmp_path / "out").exists()


def test_relative_paths_are_taken_from_the_current_directory(tmp_path, monkeypatch, capsys):
  run = tmp_path / "runs" / "a"
  run.mkdir(parents=True)
  (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows(None, 60.0)))
  monkeypatch.chdir(tmp_path)
  assert main(["runs/a", "--out", "rel/out"]) == 0
  assert (tmp_path / "rel" / "out" / "summary.md").read_text() == capsys.readouterr().out
  # Errors name the resolved path, the file the user meant.
  (run / "results.jsonl").write_text('{"intermediate": null}\n')
  assert main(["runs/a", "--out", "rel/out"]) == 2
  assert f"{run / 'results.jsonl'}:1: missing key(s)" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["", "--out", "o"], ["w", "--out", ""]])
def test_empty_path_is_a_one_line_error(tmp_path, monkeypatch, capsys, argv):
  monkeypatch.chdir(tmp_path)
  assert main(argv) == 2
  assert capsys.readouterr().err == "stilts-jax-report: error: empty path\n"

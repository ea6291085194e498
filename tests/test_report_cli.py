"""`stilts-jax-report` end to end through `cli.main`."""

import csv
import json

from stilts_jax.report.cli import main
from stilts_jax.report.results import MAIN_METRIC, QA_TARGETS, TARGETS
from stilts_jax.tasks import get_task


def full_rows(inter, value, split="validation", **extra):
  """Every target and language at `value` (QA: EM = value - 10, F1 = value + 10)."""
  rows = []
  for t in TARGETS:
    for lang in get_task(t).languages_for(split):
      metrics = ({"exact_match": value - 10, "f1": value + 10} if t in QA_TARGETS
                 else {MAIN_METRIC[t]: value})
      rows += [{"intermediate": inter, "target": t, "language": lang, "split": split,
                "metric": m, "value": v, "seed": 0, **extra} for m, v in metrics.items()]
  return rows


def _workdir(root, inter, value, split="validation"):
  rows = full_rows(inter, value, split)
  root.mkdir(parents=True)
  (root / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
  return root


def test_end_to_end(tmp_path, capsys):
  base = _workdir(tmp_path / "base", None, 60.0)
  hella = _workdir(tmp_path / "hellaswag", "hellaswag", 64.5)
  # The pipeline's layout: predictions/<intermediate setting>/<target>/<split>-<lang>.jsonl
  pred = hella / "predictions" / "hellaswag" / "xnli"
  pred.mkdir(parents=True)
  (pred / "test-en.jsonl").write_text(json.dumps({"guid": "g", "prediction": "neutral"}) + "\n")
  (base / "predictions" / "none" / "pawsx").mkdir(parents=True)
  (base / "predictions" / "none" / "pawsx" / "test-de.jsonl").write_text(
      json.dumps({"guid": "g", "prediction": "1"}) + "\n")
  out = tmp_path / "out"
  assert main([str(base), str(hella), "--out", str(out), "--submission"]) == 0
  captured = capsys.readouterr()
  assert "| none (XLM-R) | 60.0 | 60.0 |" in captured.out
  assert "| hellaswag | +4.5 | +4.5 |" in captured.out
  assert (out / "summary.md").read_text() == captured.out
  with open(out / "summary.csv") as f:
    table = list(csv.DictReader(f))
  assert [r["intermediate"] for r in table] == ["none (XLM-R)", "hellaswag"]
  assert float(table[1]["avg"]) == 64.5 and float(table[1]["xquad_em"]) == 54.5
  for name in ["gains_heatmap.png", "summary_long.csv"] + [f"per_language_{t}.png"
                                                           for t in TARGETS]:
    data = (out / name).read_bytes()
    assert data and (not name.endswith(".png") or data[:4] == b"\x89PNG")
  assert (out / "submission/hellaswag/hellaswag/xnli/test-en.tsv").read_text() == "neutral\n"
  assert (out / "submission/base/none/pawsx/test-de.tsv").read_text() == "1\n"
  assert "submission hellaswag/hellaswag/xnli lacks test languages" in captured.err


def test_test_split_and_no_baseline(tmp_path, capsys):
  w = _workdir(tmp_path / "w", "mnli", 70.0, split="test")
  out = tmp_path / "out"
  assert main([str(w / "results.jsonl"), "--out", str(out), "--split", "test"]) == 0
  captured = capsys.readouterr()
  assert "| mnli | 70.0 |" in captured.out
  assert "gains_heatmap.png not written" in captured.err
  assert not (out / "gains_heatmap.png").exists()
  assert (out / "per_language_udpos.png").exists()


def test_bad_input_exits_2(tmp_path, capsys):
  w = tmp_path / "w"
  w.mkdir()
  (w / "results.jsonl").write_text('{"intermediate": null}\n')
  assert main([str(w), "--out", str(tmp_path / "out")]) == 2
  err = capsys.readouterr().err
  assert "results.jsonl:1: missing key(s)" in err and "Traceback" not in err

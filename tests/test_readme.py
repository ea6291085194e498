"""The offline demo as an end-to-end test of the CLI: 2 intermediate settings x 4 targets, every
language, results table and plots; a second identical command skips everything finished."""

import json
import shutil
import subprocess
import sys
import time

import pytest

import _pipeline_helpers as H
from stilts_jax.demo_data import DEMO_LANGUAGES

SETTINGS = (None, "mnli")
# target: (splits, metrics) of its result rows
EXPECTED = {
    "xnli": (("validation", "test"), ("accuracy",)),
    "panx": (("validation", "test"), ("f1",)),
    "xquad": (("validation",), ("exact_match", "f1")),
    "tatoeba": (("validation",), ("accuracy",)),
}


def _demo(workdir):
  exe = shutil.which("stilts-jax")
  cmd = [exe] if exe else [sys.executable, "-m", "stilts_jax.main"]
  env = H.cli_env()
  start = time.perf_counter()
  proc = subprocess.run(cmd + ["--config=configs/demo.py", f"--workdir={workdir}"], cwd=H.REPO,
                        env=env, capture_output=True, text=True, timeout=900)
  return proc, time.perf_counter() - start


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("demo") / "run"
  proc, seconds = _demo(workdir)
  assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
  return workdir, proc, seconds


def test_demo_completes_with_every_result_row(demo):
  workdir, proc, _ = demo
  assert (workdir / "COMPLETED").exists()
  for setting in SETTINGS:
    name = setting or "none"
    if setting:
      assert json.loads((workdir / "intermediate" / name / "COMPLETED").read_text())["status"] \
          in ("completed", "early_stopped")
    for target in EXPECTED:
      assert (workdir / "target" / f"{name}__{target}" / "COMPLETED").exists()
  rows = H.read_jsonl(workdir / "results.jsonl")
  expected = {(s, t, l, split, m) for s in SETTINGS for t, (splits, metrics) in EXPECTED.items()
              for l in DEMO_LANGUAGES[t] for split in splits for m in metrics}
  got = [(r["intermediate"], r["target"], r["language"], r["split"], r["metric"]) for r in rows]
  assert len(got) == len(set(got))  # no duplicates
  assert set(got) == expected
  assert all(0.0 <= r["value"] <= 100.0 for r in rows)
  assert {r["seed"] for r in rows} == {1}

  def en_dev(setting, target, metric):
    return next(r["value"] for r in rows if (r["intermediate"], r["target"], r["language"],
                                             r["split"], r["metric"]) ==
                (setting, target, "en", "validation", metric))
  for setting in SETTINGS:
    assert en_dev(setting, "xnli", "accuracy") > 40  # chance is 33.3
    assert en_dev(setting, "panx", "f1") > 50        # chance (random tags) is near 0
  # The table, plots and per-example predictions.
  md = (workdir / "results.md").read_text()
  assert "| intermediate | XNLI |" in md and "| mnli |" in md
  assert (workdir / "results.csv").exists()
  plots = {p.name for p in (workdir / "plots").glob("*.png")}
  assert {f"per_language_{t}.png" for t in EXPECTED} | {"gains_heatmap.png"} <= plots
  assert all(p.stat().st_size > 1000 for p in (workdir / "plots").glob("*.png"))
  for setting in ("none", "mnli"):
    for target, (splits, _) in EXPECTED.items():
      for split in splits:  # tatoeba too: the retrieved index per English query
        for lang in DEMO_LANGUAGES[target]:
          f = workdir / "predictions" / setting / target / f"{split}-{lang}.jsonl"
          preds = H.read_jsonl(f)
          assert preds and {"guid", "prediction"} <= set(preds[0])
  # The CLI prints the summary table at the end.
  assert "| intermediate | XNLI |" in proc.stdout


def test_demo_rerun_skips_everything_completed(demo):
  workdir, _, first_seconds = demo
  before = (workdir / "results.jsonl").read_text()
  proc, seconds = _demo(workdir)
  assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
  out = proc.stdout + proc.stderr
  # No phase started: train_phase announces every phase it runs as "[<phase>] N steps".
  assert " steps, batch " not in out
  assert (workdir / "results.jsonl").read_text() == before
  assert seconds < max(45.0, first_seconds / 3), (seconds, first_seconds)

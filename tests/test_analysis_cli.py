"""`stilts-jax-analyze` end to end through main([...])."""

import math
import re

import numpy as np
import pytest

from stilts_jax.analysis.cli import main
from stilts_jax.analysis.typology_data import CC100, DISTANCES_FROM_ENGLISH
from test_analysis_synth import is_png, make_rows, write_jsonl

TARGETS = ["xnli", "pawsx", "xquad"]
INTERMEDIATES = ["mnli", "qqp", "squad_v1", "hellaswag"]


def _score(s, t, lang, seed):
  rng = np.random.default_rng([seed, len(lang), ord(lang[0]), ord(lang[1]), len(s or "")])
  base = 80.0 - 30.0 * DISTANCES_FROM_ENGLISH[lang]["syntactic"] - (3.0 if CC100[lang][1] < 10
                                                                    else 0.0)
  if s is None:
    return base
  name, _, pct = s.partition("@")
  gain = {"mnli": 4.0, "qqp": 2.0, "squad_v1": 3.0, "hellaswag": 1.0,
          "mnli_multilingual": 6.0}[name]
  if pct:
    gain = 1.0 + 0.75 * math.log10(float(pct))
  return base + gain + float(rng.normal(0, 0.3)) * (seed + 1)


@pytest.fixture()
def grid(tmp_path):
  main_rows = make_rows(_score, [None, *INTERMEDIATES, "mnli_multilingual"], TARGETS)
  frac_rows = make_rows(_score, [f"mnli@{p}" for p in (1, 10, 100)], ["xnli"], seeds=(1, 2, 3))
  write_jsonl(tmp_path / "runs" / "grid" / "results.jsonl", main_rows)
  write_jsonl(tmp_path / "runs" / "fractions" / "results.jsonl", frac_rows)
  sim = tmp_path / "similarity.csv"
  sim.write_text("intermediate,target,similarity\n" + "".join(
      f"{i},{t},{0.1 * k + 0.05 * j}\n" for k, i in enumerate(INTERMEDIATES)
      for j, t in enumerate(TARGETS)))
  return tmp_path


def test_all_five_analyses(grid, capsys):
  out = grid / "out"
  rc = main([str(grid / "runs" / "grid"), str(grid / "runs" / "fractions"), "--out", str(out),
             "--similarity", str(grid / "similarity.csv"), "--n-boot", "200"])
  assert rc == 0, capsys.readouterr().err
  md = (out / "analyses.md").read_text()
  for k in range(1, 6):
    assert re.search(rf"^## {k}\. ", md, re.M), k
  assert "skipped" not in md
  images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
  assert {"similarity_table.png", "multilingual.png", "typology.png", "scaling_mnli.png",
          "resource.png"} <= set(images)
  assert all(is_png(out / p) for p in images)
  assert "mnli → mnli_multilingual" in md


def test_missing_inputs_are_skipped_not_fatal(grid, capsys):
  rows = [r for r in make_rows(_score, INTERMEDIATES, TARGETS)]  # no baseline, no pairs, no @
  write_jsonl(grid / "nobase" / "results.jsonl", rows)
  out = grid / "out2"
  assert main([str(grid / "nobase"), "--out", str(out), "--n-boot", "50"]) == 0
  md = (out / "analyses.md").read_text()
  assert md.count("skipped: ") == 5
  assert "needs the XLM-R baseline" in md and "<task>@<percent>" in md
  assert "analysis 1: skipped" in capsys.readouterr().err


def test_selected_analyses_and_bad_inputs(grid, capsys):
  out = grid / "out3"
  assert main([str(grid / "runs" / "grid"), "--out", str(out), "--analyses=2",
               "--pair", "mnli=mnli_multilingual", "--n-boot", "50"]) == 0
  md = (out / "analyses.md").read_text()
  assert "## 2." in md and "## 1." not in md
  bad = grid / "bad" / "results.jsonl"
  bad.parent.mkdir()
  bad.write_text('{"intermediate": null}\n')
  assert main([str(bad.parent), "--out", str(out)]) == 2
  assert "missing key" in capsys.readouterr().err
  assert main([str(grid / "runs" / "grid"), "--out", str(out), "--similarity",
               str(grid / "nope.csv")]) == 2
  with pytest.raises(SystemExit):
    main([str(grid / "runs" / "grid"), "--out", str(out), "--analyses=7"])

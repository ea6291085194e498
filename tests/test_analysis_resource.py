"""Analysis 5: a planted low- vs high-resource gain gap is recovered."""

import numpy as np
import pytest

from stilts_jax.analysis import CC100, AnalysisError, analyze_resource, resource_group
from test_analysis_synth import is_png, make_rows

TARGETS = ["xnli", "panx"]


def _rows(low_gain, high_gain, seed=0):
  rng = np.random.default_rng(seed)

  def score(s, t, lang, _):
    if s is None:
      return 50.0
    planted = low_gain if CC100[lang][1] < 10 else high_gain
    return 50.0 + planted + float(rng.normal(0, 0.5))

  return make_rows(score, [None, "mnli"], TARGETS)


def test_planted_gap_recovered(tmp_path):
  r = analyze_resource(_rows(low_gain=5.0, high_gain=1.0), n_boot=500, n_perm=2000)
  assert r.group_means["low"].value == pytest.approx(5.0, abs=0.3)
  assert r.group_means["high"].value == pytest.approx(1.0, abs=0.3)
  assert r.difference.value == pytest.approx(-4.0, abs=0.4) and r.difference.high < 0
  assert r.test.p_value < 0.05
  assert r.group_means["low"].n + r.group_means["high"].n == 14 + 39
  assert {p.language for p in r.points if p.group == "low"} >= {"sw", "ur", "yo", "jv"}
  [png] = r.plot(tmp_path)
  assert is_png(png)
  assert "High − low" in r.to_markdown([png], tmp_path)


def test_no_gap_large_p():
  r = analyze_resource(_rows(low_gain=2.0, high_gain=2.0), n_boot=300, n_perm=2000)
  assert r.test.p_value > 0.05 and not r.difference.excludes_zero


def test_resource_groups_and_table():
  assert resource_group("yo") == "low"  # not in CC-100 at all
  assert resource_group("sw") == "low" and resource_group("de") == "high"
  assert resource_group("ta", threshold_gib=20) == "low"
  assert CC100["en"] == (55608, 300.8)
  with pytest.raises(AnalysisError, match="CC-100"):
    resource_group("xx")


def test_refusals():
  rows = _rows(1.0, 1.0)
  with pytest.raises(AnalysisError, match="baseline"):
    analyze_resource([r for r in rows if r.intermediate is not None])
  with pytest.raises(AnalysisError, match="per resource group"):
    analyze_resource(rows, threshold_gib=0.0)

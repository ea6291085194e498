"""Analysis 4: a planted log-linear scaling curve is recovered with its seed spread."""

import math

import numpy as np
import pytest

from stilts_jax.analysis import AnalysisError, analyze_scaling, split_fraction
from test_analysis_synth import is_png, make_rows

FRACTIONS = (1, 3, 10, 30, 100)
SEED_OFFSET = {0: -1.0, 1: 0.0, 2: 1.0}  # std over 3 seeds = 1 exactly


def _rows(fractions=FRACTIONS, seeds=(0, 1, 2), plain_full=True, slope=4.0, noise_sd=0.0):
  rng = np.random.default_rng(0)
  noise = {}

  def name(pct):
    return "mnli" if pct == 100 and plain_full else f"mnli@{pct}"

  def score(s, t, lang, seed):
    if s is None:
      return 55.0
    pct = 100 if s == "mnli" else float(s.split("@")[1])
    e = noise.setdefault((s, seed), float(rng.normal(0, noise_sd)))  # one draw per run
    return 60.0 + slope * math.log10(pct) + SEED_OFFSET[seed] + (5.0 if t == "pawsx" else 0.0) + e

  return make_rows(score, [None] + [name(p) for p in fractions], ["xnli", "pawsx"], seeds=seeds)


def test_planted_curve_recovered(tmp_path):
  r = analyze_scaling(_rows(), n_boot=300)
  assert set(r.curves) == {("mnli", "xnli"), ("mnli", "pawsx")}
  pts = r.curves[("mnli", "xnli")]
  assert [p.fraction for p in pts] == list(map(float, FRACTIONS))
  assert pts[-1].setting == "mnli"  # the plain name is the 100 % point
  p10 = pts[2]
  assert p10.n == 3 and p10.mean == pytest.approx(64.0) and p10.std == pytest.approx(1.0)
  assert p10.ci == pytest.approx((64 - 4.303 / math.sqrt(3), 64 + 4.303 / math.sqrt(3)))
  s = r.slopes[("mnli", "xnli")]
  assert s.value == pytest.approx(4.0) and s.low < 4.0 < s.high and s.low > 2.0
  assert r.baseline == {"xnli": 55.0, "pawsx": 55.0}
  [png] = r.plot(tmp_path)
  assert png.name == "scaling_mnli.png" and is_png(png)
  assert "slope per 10×" in r.to_markdown([png], tmp_path)


def test_flat_curve_slope_ci_includes_zero():
  s = analyze_scaling(_rows(slope=0.0, noise_sd=1.0), n_boot=300).slopes[("mnli", "xnli")]
  assert s.low < 0 < s.high


def test_split_fraction():
  assert split_fraction("mnli@10") == ("mnli", 10.0)
  assert split_fraction("squad_v1+mnli@2.5") == ("squad_v1+mnli", 2.5)
  assert split_fraction("mnli") == ("mnli", None)
  # The pipeline's grammar: no run is ever named with a trailing %, or 150 %.
  for bad in ("mnli@150", "squad_v1+mnli@2.5%"):
    with pytest.raises(AnalysisError, match="TASK@PERCENT"):
      split_fraction(bad)
  with pytest.raises(AnalysisError, match="different fractions"):
    split_fraction("mnli@10+squad_v1@20")


def test_refusals():
  no_fractions = make_rows(lambda *a: 50.0, [None, "mnli"], ["xnli"])
  with pytest.raises(AnalysisError, match="<task>@<percent>"):
    analyze_scaling(no_fractions)
  with pytest.raises(AnalysisError, match="at least 3 data fractions"):
    analyze_scaling(_rows(fractions=(10, 100)))
  with pytest.raises(AnalysisError, match="seeds"):
    analyze_scaling(_rows(seeds=(0,)))

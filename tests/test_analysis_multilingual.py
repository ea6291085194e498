"""Analysis 2: a planted +3-point multilingual effect is detected; no effect is not."""

import numpy as np
import pytest

from stilts_jax.analysis import AnalysisError, analyze_multilingual, detect_pairs
from test_analysis_synth import is_png, make_rows

TARGETS = ["xnli", "pawsx", "xquad"]


def _rows(effect, noise_sd=1.0, seed=0, targets=TARGETS, en="mnli", ml="mnli_multilingual"):
  rng = np.random.default_rng(seed)
  noise = {}

  def score(s, t, l, _):
    if s == ml:
      return 60.0 + effect + noise.setdefault((t, l), float(rng.normal(0, noise_sd)))
    return 60.0

  return make_rows(score, [None, en, ml], targets)


def test_planted_effect_detected(tmp_path):
  r = analyze_multilingual(_rows(effect=3.0), n_boot=500, n_perm=2000)
  assert r.pairs == {"mnli": "mnli_multilingual"}
  n = 14 + 6 + 10  # languages of xnli, pawsx, xquad without English
  assert r.mean.n == r.test.n == n and not r.test.exact
  assert r.mean.value == pytest.approx(3.0, abs=0.5) and r.mean.low > 2.0
  assert r.test.p_value < 0.05
  assert set(r.per_target) == set(TARGETS)
  assert all(d.language != "en" for d in r.diffs)
  [png] = r.plot(tmp_path)
  assert is_png(png)
  assert "p = " in r.to_markdown([png], tmp_path)


def test_zero_effect_large_p():
  r = analyze_multilingual(_rows(effect=0.0), n_boot=500, n_perm=2000)
  assert r.test.p_value > 0.2 and not r.mean.excludes_zero


def test_exact_test_for_small_n():
  r = analyze_multilingual(_rows(effect=3.0, targets=["pawsx"]), n_boot=200)
  assert r.test.exact and r.test.n == 6 and r.test.p_value == pytest.approx(2 / 64)


def test_explicit_pairs_and_english_included():
  rows = _rows(effect=2.0, targets=["pawsx"], en="qqp", ml="qqp_translated")
  r = analyze_multilingual(rows, {"qqp": "qqp_translated"}, exclude_english=False, n_boot=100)
  assert r.mean.n == 7


def test_detect_pairs_and_refusals():
  assert detect_pairs([None, "mnli", "mnli_multilingual", "qqp"]) == {"mnli": "mnli_multilingual"}
  rows = make_rows(lambda *a: 50.0, [None, "mnli"], ["pawsx"])
  with pytest.raises(AnalysisError, match="_multilingual"):
    analyze_multilingual(rows)
  with pytest.raises(AnalysisError, match="mnli_ml"):
    analyze_multilingual(rows, {"mnli": "mnli_ml"})
  two = [r for r in _rows(1.0, targets=["pawsx"]) if r.language in ("en", "de", "fr")]
  with pytest.raises(AnalysisError, match="at least 3"):
    analyze_multilingual(two)

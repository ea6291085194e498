"""Analysis 3: degradation planted proportional to syntactic distance is recovered; distances
table and its offline recomputation."""

import numpy as np
import pytest

from stilts_jax.analysis import (DISTANCE_KINDS, DISTANCES_FROM_ENGLISH, AnalysisError,
                                 analyze_typology, distance_table_from_lang2vec)
from stilts_jax.analysis.typology_data import ISO639_3
from stilts_jax.tasks.target import PANX_LANGS, UDPOS_LANGS
from test_analysis_synth import is_png, make_rows

XTREME_40 = ("af ar bg bn de el en es et eu fa fi fr he hi hu id it ja jv ka kk ko ml mr ms my nl "
             "pt ru sw ta te th tl tr ur vi yo zh").split()


def _rows(targets=("xnli", "panx", "xquad"), seed=0):
  rng = np.random.default_rng(seed)
  noise = {}

  def score(s, t, lang, _):
    d = DISTANCES_FROM_ENGLISH[lang]["syntactic"]
    e = noise.setdefault((s, t, lang), float(rng.normal(0, 0.5)))
    # Baseline loses 40 points per unit distance; intermediate training halves the slope.
    return 80.0 - 40.0 * d + e if s is None else 82.0 - 20.0 * d + e

  return make_rows(score, [None, "mnli"], targets)


def test_planted_degradation_recovered(tmp_path):
  r = analyze_typology(_rows(), n_boot=300)
  assert len(r.points) == 14 + 39 + 10
  before = r.pooled[("syntactic", "before")]
  assert before.spearman.value > 0.9 and before.pearson.low > 0.8
  after, change = r.pooled[("syntactic", "after")], r.pooled[("syntactic", "change")]
  assert after.pearson.value > 0.8
  assert change.pearson.value < -0.8 and change.pearson.high < 0  # the gap narrows with distance
  p = next(p for p in r.points if p.target == "xnli" and p.language == "de")
  d = DISTANCES_FROM_ENGLISH["de"]["syntactic"]
  assert p.before == pytest.approx(40 * d, abs=1.5) and p.after == pytest.approx(20 * d, abs=1.5)
  assert ("panx", "syntactic") in r.per_target
  [png] = r.plot(tmp_path)
  assert is_png(png)
  md = r.to_markdown([png], tmp_path)
  assert "n = 63" in md and "genetic" in md


def test_refusals():
  rows = _rows(targets=("xnli",))
  with pytest.raises(AnalysisError, match="baseline"):
    analyze_typology([r for r in rows if r.intermediate is not None])
  with pytest.raises(AnalysisError, match="intermediate setting"):
    analyze_typology([r for r in rows if r.intermediate is None])
  no_en = [r for r in rows if r.language != "en"]
  with pytest.raises(AnalysisError, match="at least 3"):
    analyze_typology(no_en)
  retrieval_only = make_rows(lambda *a: 50.0, [None, "mnli"], ["tatoeba", "bucc2018"])
  with pytest.raises(AnalysisError, match="English"):
    analyze_typology(retrieval_only)


def test_distance_table_covers_xtreme():
  assert sorted(DISTANCES_FROM_ENGLISH) == sorted(XTREME_40)
  assert set(UDPOS_LANGS) | set(PANX_LANGS) <= set(DISTANCES_FROM_ENGLISH)
  assert all(v == 0.0 for v in DISTANCES_FROM_ENGLISH["en"].values())
  for lang, d in DISTANCES_FROM_ENGLISH.items():
    assert tuple(d) == DISTANCE_KINDS and all(0.0 <= v <= 1.0 for v in d.values()), lang
  # Sanity of the frozen values: German is closer to English than Japanese on every axis but one.
  de, ja = DISTANCES_FROM_ENGLISH["de"], DISTANCES_FROM_ENGLISH["ja"]
  assert de["syntactic"] < ja["syntactic"] and de["genetic"] < ja["genetic"]
  assert de["geographic"] < ja["geographic"]


def test_distance_table_from_lang2vec_files(tmp_path):
  """The recomputation on tiny lang2vec-format files, checked by hand."""
  langs = np.array(["eng", "deu", "eus"])
  feats = np.array(["S_A", "S_B", "P_A", "INV_A", "INV_B"])
  pred = np.array([[1, 0, 1, 1, 0], [1, 1, 1, 0, 1], [0, 1, 0, 1, 1]], dtype=np.float32)
  np.savez(tmp_path / "feature_predictions.npz", langs=langs, feats=feats, data=pred[:, :, None],
           sources=np.array(["predicted"]))
  fam = np.array([[1, 1], [1, 0], [0, 0]], dtype=np.float32)  # Basque: isolate, no family
  np.savez(tmp_path / "family_features.npz", langs=langs[::-1], feats=np.array(["F_IE", "F_GMC"]),
           data=fam[::-1, :, None], sources=np.array(["FAM"]))
  geo = np.array([[1, 0], [1, 1], [0, 1]], dtype=np.float32)
  np.savez(tmp_path / "geocoord_features.npz", langs=langs, feats=np.array(["GC_1", "GC_2"]),
           data=geo[:, :, None], sources=np.array(["GEOCOORDS"]))
  table = distance_table_from_lang2vec(tmp_path, {"en": "eng", "de": "deu", "eu": "eus"})
  c = 1 / np.sqrt(2)
  assert table["en"] == dict.fromkeys(DISTANCE_KINDS, 0.0)
  assert table["de"] == pytest.approx({"syntactic": 1 - c, "genetic": 1 - c, "geographic": 1 - c,
                                       "phonological": 0.0, "inventory": 1.0}, abs=1e-4)
  assert table["eu"]["genetic"] == 1.0 and table["eu"]["syntactic"] == pytest.approx(1.0)
  assert set(ISO639_3) == set(XTREME_40)
  with pytest.raises(KeyError, match="xxx"):
    distance_table_from_lang2vec(tmp_path, {"xx": "xxx"})

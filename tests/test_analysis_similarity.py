"""Analysis 1: a planted similarity -> gain correlation is recovered, a null one is not."""

import json

import numpy as np
import pytest

from stilts_jax.analysis import (AnalysisError, analyze_similarity, embedding_similarity,
                                 format_match, load_similarity_table)
from test_analysis_synth import is_png, make_rows

INTERMEDIATES = ["anli_plus", "mnli", "qqp", "squad_v1", "squad_v2", "hellaswag", "cosmosqa",
                 "commonsenseqa", "ccg"]
TARGETS = ["xnli", "pawsx", "xquad", "mlqa"]


def _grid(gain_fn):
  return make_rows(lambda s, t, l, seed: 50.0 + (0.0 if s is None else gain_fn(s, t)),
                   [None, *INTERMEDIATES], TARGETS)


def _planted(noise_sd, slope=10.0, seed=0):
  rng = np.random.default_rng(seed)
  sim = {(i, t): float(rng.uniform(0, 1)) for i in INTERMEDIATES for t in TARGETS}
  gain = {k: slope * v + float(rng.normal(0, noise_sd)) for k, v in sim.items()}
  return sim, _grid(lambda s, t: gain[(s, t)])


def test_planted_correlation_recovered(tmp_path):
  # var(10 * U(0,1)) = 8.33; noise sd 1.4 gives r = sqrt(8.33 / (8.33 + 1.96)) ~ 0.9.
  sim, rows = _planted(noise_sd=1.4)
  r = analyze_similarity(rows, sim, n_boot=500)
  c = r.correlations["table"]
  assert c.n == len(INTERMEDIATES) * len(TARGETS)
  assert c.pearson.value == pytest.approx(0.9, abs=0.07)
  assert c.pearson.excludes_zero and c.spearman.excludes_zero and c.pearson.low > 0.7
  paths = r.plot(tmp_path)
  assert [p.name for p in paths] == ["similarity_table.png", "similarity_format_match.png"]
  assert all(is_png(p) for p in paths)
  md = r.to_markdown(paths, tmp_path)
  assert "n" in md and "Spearman" in md and "![similarity_table](similarity_table.png)" in md


def test_null_correlation_ci_includes_zero():
  sim, rows = _planted(noise_sd=3.0, slope=0.0, seed=3)
  c = analyze_similarity(rows, sim, n_boot=500).correlations["table"]
  assert not c.pearson.excludes_zero and not c.spearman.excludes_zero


def test_format_match_alone():
  rows = _grid(lambda s, t: 5.0 if format_match(s, t) else 0.0)
  r = analyze_similarity(rows, n_boot=300)
  assert list(r.correlations) == ["format_match"]
  assert r.correlations["format_match"].spearman.value == pytest.approx(1.0)
  assert r.format_gap.statistic == pytest.approx(5.0) and r.format_gap.p_value < 0.05


@pytest.mark.parametrize("inter,target,expected", [
    ("squad_v1", "xquad", 1.0), ("squad_v2", "tydiqa", 1.0), ("mnli", "xnli", 1.0),
    ("anli_plus", "pawsx", 1.0), ("qqp", "xnli", 1.0), ("ccg", "udpos", 1.0), ("ccg", "panx", 1.0),
    ("hellaswag", "xnli", 0.0), ("cosmosqa", "xquad", 0.0), ("mnli", "tatoeba", 0.0),
    ("mnli_multilingual", "xnli", 1.0), ("mnli@10", "pawsx", 1.0),
    ("hellaswag+squad_v1", "mlqa", 1.0),
    ("mystery", "xnli", None)])
def test_format_match_table(inter, target, expected):
  assert format_match(inter, target) == expected


def test_refusals():
  rows = _grid(lambda s, t: 1.0)
  no_base = [r for r in rows if r.intermediate is not None]
  with pytest.raises(AnalysisError, match="baseline"):
    analyze_similarity(no_base)
  with pytest.raises(AnalysisError, match="at least 3"):
    analyze_similarity(rows, {("mnli", "xnli"): 0.1, ("qqp", "xnli"): 0.2})
  constant = {(i, t): 0.5 for i in INTERMEDIATES for t in TARGETS}
  with pytest.raises(AnalysisError, match="same for every cell"):
    analyze_similarity(rows, constant)
  only_mc = make_rows(lambda s, t, l, seed: 50.0, [None, "hellaswag", "cosmosqa"], ["xnli"])
  with pytest.raises(AnalysisError, match="format_match"):
    analyze_similarity(only_mc)
  with pytest.raises(AnalysisError, match="nope"):
    analyze_similarity(rows, settings=["nope"])


def test_load_similarity_table_formats_and_errors(tmp_path):
  csv_path = tmp_path / "s.csv"
  csv_path.write_text("intermediate,target,similarity\nmnli,xnli,0.9\nsquad_v1,xquad,0.8\n")
  expected = {("mnli", "xnli"): 0.9, ("squad_v1", "xquad"): 0.8}
  assert load_similarity_table(csv_path) == expected
  js = tmp_path / "s.json"
  js.write_text(json.dumps({"mnli": {"xnli": 0.9}, "squad_v1": {"xquad": 0.8}}))
  assert load_similarity_table(js) == expected
  js.write_text(json.dumps([{"intermediate": "mnli", "target": "xnli", "similarity": 0.9},
                            {"intermediate": "squad_v1", "target": "xquad", "similarity": 0.8}]))
  assert load_similarity_table(js) == expected
  for text, message in [("a,b\n1,2\n", "header"), ("intermediate,target,similarity\nmnli,xx,1\n",
                        "unknown target"), ("intermediate,target,similarity\nmnli,xnli,high\n",
                        "not a number"), ("intermediate,target,similarity\nmnli,xnli,1\n"
                        "mnli,xnli,2\n", "duplicate")]:
    csv_path.write_text(text)
    with pytest.raises(AnalysisError, match=message):
      load_similarity_table(csv_path)
  with pytest.raises(AnalysisError, match="does not exist"):
    load_similarity_table(tmp_path / "missing.csv")


def test_embedding_similarity_with_toy_encoder():
  calls = []

  def encoder(texts):  # 2-d "embedding": counts of x and y
    calls.append(list(texts))
    return np.array([[t.count("x"), t.count("y")] for t in texts], dtype=float)

  # means (1.5, 0) and (0.5, 1): cos = 0.75 / (1.5 * sqrt(1.25)).
  assert embedding_similarity(encoder, ["x", "xx"], ["y", "xy"]) == pytest.approx(
      0.75 / (1.5 * np.sqrt(1.25)))
  assert calls == [["x", "xx"], ["y", "xy"]]
  assert embedding_similarity(encoder, ["xy"], ["xxyy", "xy"]) == pytest.approx(1.0)
  with pytest.raises(ValueError, match="empty"):
    embedding_similarity(encoder, [], ["x"])
  with pytest.raises(ValueError, match="shape"):
    embedding_similarity(lambda t: np.zeros(3), ["a"], ["b"])
  with pytest.raises(ValueError, match="zero"):
    embedding_similarity(encoder, ["a"], ["x"])

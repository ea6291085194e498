"""Task similarity from a (tiny, offline) pretrained encoder, end to end through the CLI."""

import csv
import json

import numpy as np
import pytest

import _pipeline_helpers as H
from stilts_jax.analysis import task_similarity
from stilts_jax.analysis.cli import main
from stilts_jax.examples import PairExample, SpanExample, TagExample


def test_example_text_covers_every_input_type():
  assert task_similarity.example_text(PairExample("g", "A b.", "C d.", 0)) == "A b. C d."
  assert task_similarity.example_text(SpanExample("g", "Who?", "Ann ran.", ())) == "Who? Ann ran."
  assert task_similarity.example_text(TagExample("g", ("Ann", "ran"), (1, 0))) == "Ann ran"


def test_cosine_stays_in_range(monkeypatch):
  # In float64 these vectors' cosine is 1.0000000000000002 (and -1.0000000000000002 for the
  # opposite), with or without normalising first: only the clip keeps it a cosine.
  a = np.ones(3)
  assert task_similarity.cosine(a, a) == 1.0
  assert task_similarity.cosine(a, -a) == -1.0
  assert task_similarity.cosine([1.0, 0.0], [0.0, 2.0]) == 0.0
  assert np.isclose(task_similarity.cosine([1.0, 1.0], [1.0, 0.0]), np.sqrt(0.5))
  with pytest.raises(ValueError, match="zero vector"):
    task_similarity.cosine([0.0, 0.0], [1.0, 0.0])
  # The table uses it: identical mean embeddings have similarity exactly 1.
  monkeypatch.setattr(task_similarity, "task_texts", lambda task, n, overrides: ["x", "y"])
  table = task_similarity.similarity_table(lambda texts: np.ones((len(texts), 3)), ["mnli"],
                                           ["xnli"])
  assert table == [{"intermediate": "mnli", "target": "xnli", "similarity": 1.0}]


def test_similarity_table_from_the_demo_encoder(tmp_path):
  assets = H.demo_assets(tmp_path / "assets") / "demo_assets"
  overrides = json.loads((assets / "overrides.json").read_text())
  from transformers import AutoTokenizer
  from stilts_jax.models import load_encoder
  embed = task_similarity.encoder_embedder(load_encoder(str(assets / "model")),
                                           AutoTokenizer.from_pretrained(str(assets / "model")))
  table = task_similarity.similarity_table(embed, ["mnli", "squad_v1"], ["xnli", "xquad"], n=40,
                                           data_overrides=overrides)
  sim = {(r["intermediate"], r["target"]): r["similarity"] for r in table}
  assert all(-1 <= v <= 1 for v in sim.values())
  # xnli's English training data *is* MNLI: identical inputs, cosine 1.
  assert np.isclose(sim[("mnli", "xnli")], 1.0)
  # Same format beats a different one: SQuAD is closer to XQuAD than MNLI is.
  assert sim[("squad_v1", "xquad")] > sim[("mnli", "xquad")]

  # The CLI computes and uses the table for analysis 1.
  rows = []
  for inter, gain in (("mnli", 2.0), ("squad_v1", 5.0)):
    for target, base in (("xnli", 70.0), ("xquad", 60.0)):
      for setting, value in ((None, base), (inter, base + gain)):
        metrics = ({"exact_match": value, "f1": value} if target == "xquad"
                   else {"accuracy": value})
        rows += [{"intermediate": setting, "target": target, "language": "en",
                  "split": "validation", "metric": m, "value": v} for m, v in metrics.items()]
  rows = list({json.dumps(r, sort_keys=True): r for r in rows}.values())
  (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
  (tmp_path / "overrides.json").write_text(json.dumps(overrides))
  out = tmp_path / "out"
  code = main([str(tmp_path), "--out", str(out), "--analyses=1", "--n-boot=50",
               f"--similarity-model={assets / 'model'}", "--similarity-examples=30",
               f"--data-overrides={tmp_path / 'overrides.json'}"])
  assert code == 0
  with open(out / "similarity.csv") as f:
    written = list(csv.DictReader(f))
  assert {(r["intermediate"], r["target"]) for r in written} == {
      ("mnli", "xnli"), ("mnli", "xquad"), ("squad_v1", "xnli"), ("squad_v1", "xquad")}
  md = (out / "analyses.md").read_text()
  assert "Task similarity" in md and "| table | 4 |" in md  # ran on the computed table

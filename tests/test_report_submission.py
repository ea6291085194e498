"""XTREME submission layout and content from prediction jsonl files."""

import json

import pytest

from stilts_jax.report import SubmissionError, missing_languages, write_submission


def _pred(root, target, lang, rows, split="test"):
  d = root / target
  d.mkdir(parents=True, exist_ok=True)
  (d / f"{split}-{lang}.jsonl").write_text(
      "".join(json.dumps({"guid": g, "prediction": p}, ensure_ascii=False) + "\n"
              for g, p in rows))


def test_layout_and_content(tmp_path):
  pred, out = tmp_path / "predictions", tmp_path / "sub"
  _pred(pred, "xnli", "de", [("de/xnli/test/0", "entailment"), ("de/xnli/test/1", "neutral")])
  _pred(pred, "xnli", "de", [("x", "contradiction")], split="validation")  # not submitted
  _pred(pred, "pawsx", "ja", [("a", "1"), ("b", "0")])
  _pred(pred, "panx", "en", [("s1", ["B-PER", "I-PER", "O"]), ("s2", ["O"])])
  _pred(pred, "udpos", "kk", [("s1", ["NOUN", "VERB"])])
  _pred(pred, "xquad", "de", [("de/xquad/validation/56be4db0acb8001400a502ec", "Denver Broncos"),
                              ("q2", "fünf")])
  _pred(pred, "mlqa", "zh", [("zh/mlqa/test/abc/def", "北京")])
  _pred(pred, "tatoeba", "fr", [("fr/0", 2), ("fr/1", "en/0"), ("fr/2", "1")])
  _pred(pred, "bucc2018", "de", [("p", [["de-000001", "en-000009"], ["de/de-000002", "en-7"]]),
                                 ("q", ["de-000003", "en-000001"])])
  written = write_submission(pred, out)
  assert written == {"bucc2018": ["de"], "mlqa": ["zh"], "panx": ["en"], "pawsx": ["ja"],
                     "tatoeba": ["fr"], "udpos": ["kk"], "xnli": ["de"], "xquad": ["de"]}
  files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
  assert files == ["bucc2018/test-de.tsv", "mlqa/test-zh.json", "panx/test-en.tsv",
                   "pawsx/test-ja.tsv", "tatoeba/test-fr.tsv", "udpos/test-kk.tsv",
                   "xnli/test-de.tsv", "xquad/test-de.json"]
  assert (out / "xnli/test-de.tsv").read_text() == "entailment\nneutral\n"
  assert (out / "pawsx/test-ja.tsv").read_text() == "1\n0\n"
  # Blank line after every sentence: XTREME's read_tag splits on blank lines.
  assert (out / "panx/test-en.tsv").read_text() == "B-PER\nI-PER\nO\n\nO\n\n"
  assert (out / "udpos/test-kk.tsv").read_text() == "NOUN\nVERB\n\n"
  assert json.loads((out / "xquad/test-de.json").read_text(encoding="utf-8")) == {
      "56be4db0acb8001400a502ec": "Denver Broncos", "q2": "fünf"}
  assert json.loads((out / "mlqa/test-zh.json").read_text(encoding="utf-8")) == {"abc/def": "北京"}
  assert (out / "tatoeba/test-fr.tsv").read_text() == "2\n0\n1\n"
  assert (out / "bucc2018/test-de.tsv").read_text() == (
      "de-000001\ten-000009\nde-000002\ten-7\nde-000003\ten-000001\n")
  gaps = missing_languages(written)
  assert gaps["pawsx"] == ["de", "en", "es", "fr", "ko", "zh"] and len(gaps["panx"]) == 39


@pytest.mark.parametrize("target,lang,rows,message", [
    ("xnli", "de", [("a", "x"), ("a", "y")], "duplicate guid 'a' (first at line 1)"),
    ("xnli", "de", [("a", "two words\t")], "tab/newline"),
    ("xnli", "de", [("a", 3.5)], "label must be a string"),
    ("panx", "de", [("a", [])], "non-empty list of tags"),
    ("panx", "de", [("a", ["O", " B-PER"])], "edge whitespace"),
    ("xquad", "de", [("a", ["x"])], "answer string"),
    ("xquad", "de", [("de/xquad/validation/q", "x"), ("de/xquad/test/q", "y")], "occurs twice"),
    ("tatoeba", "de", [("a", "de/x")], "sentence index"),
    ("bucc2018", "de", [("a", [["x"]])], "[src_id, trg_id]"),
    ("xnli", "ja", [("a", "neutral")], "not a language of xnli"),
])
def test_errors_name_the_file(tmp_path, target, lang, rows, message):
  _pred(tmp_path / "p", target, lang, rows)
  with pytest.raises(SubmissionError) as e:
    write_submission(tmp_path / "p", tmp_path / "o")
  assert message in str(e.value) and f"test-{lang}.jsonl" in str(e.value)


def test_unknown_task_and_empty_dirs(tmp_path):
  _pred(tmp_path / "p", "xnli2", "de", [("a", "neutral")])
  with pytest.raises(SubmissionError, match="unknown target 'xnli2'"):
    write_submission(tmp_path / "p", tmp_path / "o")
  (tmp_path / "q" / "xnli").mkdir(parents=True)
  with pytest.raises(SubmissionError, match="no <target>/test-<lang>.jsonl"):
    write_submission(tmp_path / "q", tmp_path / "o")
  with pytest.raises(SubmissionError, match="not a directory"):
    write_submission(tmp_path / "missing", tmp_path / "o")

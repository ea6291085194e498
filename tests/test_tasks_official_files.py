"""The official releases load as downloaded: MLQA_V1, TyDiQA-GoldP and PAWS-X x-final keep their
file names under `data.overrides` (SourceSpec.official_files), and TSVs are split on tabs only.
Real XQuAD, PAWS-X and Tatoeba files are tested in test_real_data.py."""

import json

import pytest

from stilts_jax import tasks


def _squad_json(path, qas, context="Berlin ist die Hauptstadt."):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [
      {"context": context, "qas": [
          {"id": qid, "question": "Was?", "answers": [{"text": "Berlin", "answer_start": 0}]}
          for qid in qas]}]}]}, ensure_ascii=False), encoding="utf-8")


def test_mlqa_release_layout(tmp_path):
  root = tmp_path / "MLQA_V1"
  _squad_json(root / "dev" / "dev-context-de-question-de.json", ["d0", "d1"])
  _squad_json(root / "test" / "test-context-de-question-de.json", ["t0"])
  _squad_json(root / "test" / "test-context-de-question-en.json", ["x0"])  # not XTREME's
  dev = tasks.load_examples("mlqa", "validation", "de", data_overrides={"mlqa": str(root)})
  test = tasks.load_examples("mlqa", "test", "de", data_overrides={"mlqa": str(root)})
  assert [e.guid for e in dev.examples] == ["de/mlqa/validation/d0", "de/mlqa/validation/d1"]
  assert [e.guid for e in test.examples] == ["de/mlqa/test/t0"]
  assert test.origins == (f"local:{root}/test/test-context-de-question-de.json",)
  # The split's own directory works too.
  dev2 = tasks.load_examples("mlqa", "validation", "de",
                             data_overrides={"mlqa/validation": str(root / "dev")})
  assert dev2.examples == dev.examples


def test_tydiqa_goldp_release_layout(tmp_path):
  _squad_json(tmp_path / "tydiqa-goldp-v1.1-train.json",
              ["english-1-0", "arabic-2-0", "english-3-1"])
  _squad_json(tmp_path / "tydiqa-goldp-v1.1-dev" / "tydiqa-goldp-dev-arabic.json",
              ["arabic-9-0"])
  overrides = {"tydiqa": str(tmp_path)}
  train = tasks.load_examples("tydiqa", "train", "en", data_overrides=overrides)
  assert [e.guid.rsplit("/", 1)[1] for e in train.examples] == ["english-1-0", "english-3-1"]
  dev = tasks.load_examples("tydiqa", "validation", "ar", data_overrides=overrides)
  assert [e.guid.rsplit("/", 1)[1] for e in dev.examples] == ["arabic-9-0"]
  with pytest.raises(FileNotFoundError, match="tydiqa-goldp-dev-korean.json"):
    tasks.load_examples("tydiqa", "validation", "ko", data_overrides=overrides)


PAWSX_TSV = ("id\tsentence1\tsentence2\tlabel\n"
             "1\tTaunton Castle'은 \"성\"이다.\tTaunton Castle\"은 성이다.\t1\n"
             "2\tNS\tNS\t0\n"
             "3\tonly two fields\t1\n"
             "4\tA \"quoted\" one.\tAnother.\t0\n")


@pytest.mark.parametrize("layout", ["x-final", "split", "language", "file"])
def test_pawsx_x_final_layout_and_plain_tab_split(tmp_path, layout):
  lang_dir = tmp_path / "x-final" / "ko"
  lang_dir.mkdir(parents=True)
  (lang_dir / "dev_2k.tsv").write_text(PAWSX_TSV, encoding="utf-8")
  overrides = {"x-final": {"pawsx": tmp_path / "x-final"},
               "split": {"pawsx/validation": tmp_path / "x-final"},
               "language": {"pawsx/validation/ko": lang_dir},
               "file": {"pawsx/validation/ko": lang_dir / "dev_2k.tsv"}}[layout]
  data = tasks.load_examples("pawsx", "validation", "ko", data_overrides=overrides)
  # Quotes are text, not CSV quoting: rows 1 and 4 survive whole; the 3-field line is counted.
  assert [e.guid.rsplit("/", 1)[1] for e in data.examples] == ["0", "1", "2"]
  assert data.examples[0].text_b == "Taunton Castle\"은 성이다." and data.examples[0].label == 1
  assert data.examples[2].text_a == 'A "quoted" one.' and data.examples[2].label == 0
  assert data.skipped == {"wrong_shape": 1}
  assert "line 4: expected 4 tab-separated fields" in data.skip_details["wrong_shape"][0]


def test_source_level_directory_needs_the_language_in_the_path(tmp_path):
  # x-final/dev_2k.tsv (no language folder) is ambiguous at source level: not picked up.
  (tmp_path / "dev_2k.tsv").write_text(PAWSX_TSV, encoding="utf-8")
  with pytest.raises(FileNotFoundError, match="ko/dev_2k.tsv"):
    tasks.load_examples("pawsx", "validation", "ko", data_overrides={"pawsx": str(tmp_path)})

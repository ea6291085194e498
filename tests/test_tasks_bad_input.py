"""Bad input: each case raises DataError naming task/split/row/schema, or is a counted skip."""

import json

import pytest

from stilts_jax import tasks
from stilts_jax.tasks import DataError
from stilts_jax.tasks.fixtures import write_bucc_original, write_ccg

CTX = "Berlin is the capital of Germany."
NLI = {"premise": "A man plays.", "hypothesis": "Someone plays.", "label": 0, "idx": 0}
SQUAD = {"id": "q0", "title": "t", "context": CTX, "question": "What is the capital?",
         "answers": {"text": ["Berlin"], "answer_start": [0]}}
PANX = {"tokens": ["Angela", "Merkel"], "ner_tags": [1, 2], "langs": ["en", "en"]}


def _jsonl(tmp_path, rows, name="rows.jsonl"):
  path = tmp_path / name
  path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
  return str(path)


def _load(tmp_path, task, split, rows, source=None, language=None):
  path = _jsonl(tmp_path, rows)
  return tasks.load_examples(task, split, language,
                             data_overrides={f"{source or task}/{split}": path})


@pytest.mark.parametrize("task,split,source,row,match", [
    ("mnli", "train", None, {k: v for k, v in NLI.items() if k != "hypothesis"},
     "missing column 'hypothesis'"),
    ("mnli", "train", None, dict(NLI, premise=7), "premise must be a string, got int"),
    ("mnli", "train", None, dict(NLI, label=1.5), "must be an int or a label-name string"),
    ("mnli", "train", None, dict(NLI, label=3), "label 3 in column 'label' is out of range"),
    ("mnli", "train", None, dict(NLI, label="maybe"),
     "unknown label 'maybe'.*valid labels: entailment, neutral, contradiction"),
    ("mnli", "train", None, dict(NLI, label=-1), "no-gold marker -1 in a labeled split"),
    ("xnli", "validation", None, {"language": "en", "sentence1": "a", "sentence2": "b",
                                  "gold_label": "Entailment"}, "unknown label 'Entailment'"),
    ("squad_v1", "train", None, dict(SQUAD, answers={"text": ["Bonn"], "answer_start": [0]}),
     "answer 0 text 'Bonn' is not at answer_start 0"),
    ("squad_v1", "train", None, dict(SQUAD, answers={"text": ["Berlin"], "answer_start": [0, 5]}),
     "1 entries but answers.answer_start has 2"),
    ("squad_v1", "train", None, dict(SQUAD, answers={"text": [""], "answer_start": [0]}),
     "answer 0 has empty text"),
    ("squad_v1", "train", None, dict(SQUAD, answers={"text": [], "answer_start": []}),
     "no answers, but this is a SQuAD 1.1-style task"),
    ("squad_v1", "train", None, dict(SQUAD, answers=[{"text": "Berlin", "answer_start": 0}]),
     "answers must be a struct"),
    ("xquad", "train", "squad_v1", dict(SQUAD, answers={"text": ["Berlin"], "answer_start": ["0"]}),
     "answer_start must be a list of ints"),
    ("panx", "train", None, dict(PANX, ner_tags=[1]), "2 tokens but 1 tags in 'ner_tags'"),
    ("panx", "train", None, dict(PANX, ner_tags=[1, 9]), "label 9 in column 'ner_tags'"),
    ("panx", "train", None, dict(PANX, tokens="Angela Merkel"), "must be a list of strings"),
    ("commonsenseqa", "train", None,
     {"id": "q", "question": "Q?", "question_concept": "c", "answerKey": "F",
      "choices": {"label": list("ABCDE"), "text": list("vwxyz")}}, "unknown label 'F'"),
    ("hellaswag", "train", None,
     {"ind": 1, "ctx_a": "A", "ctx_b": "b", "endings": ["x", "y"], "label": "0"},
     "expected 4 endings, got 2"),
])
def test_malformed_rows_raise_with_location_and_schema(tmp_path, task, split, source, row, match):
  good = {"mnli": NLI, "squad_v1": SQUAD, "xquad": SQUAD, "panx": PANX}.get(task)
  # The bad row comes second (so the row index is checked) unless mixing it with a good row would
  # change the column's Arrow type or drop a column for every row (json infers one schema).
  mixed = good and not any(s in match for s in ("missing column", "must be an int", "list of ints"))
  rows = ([good] if mixed else []) + [row]
  with pytest.raises(DataError, match=match) as err:
    _load(tmp_path, task, split, rows, source)
  msg = str(err.value)
  assert f"{task}/{split}" in msg and f"row {len(rows) - 1}" in msg
  assert "Expected schema" in msg and str(tmp_path) in msg


def test_empty_text_is_a_counted_skip(tmp_path, caplog):
  rows = [NLI, dict(NLI, hypothesis="   "), dict(NLI, premise=""), dict(NLI, idx=3)]
  data = _load(tmp_path, "mnli", "train", rows)
  assert [e.guid.rsplit("/", 1)[1] for e in data.examples] == ["0", "3"]
  assert data.skipped == {"empty_text": 2} and data.num_skipped == 2
  assert "skipped 2 row(s) (empty_text)" in caplog.text
  tags = _load(tmp_path, "panx", "train", [PANX, dict(PANX, tokens=[], ner_tags=[], langs=[])])
  assert len(tags) == 1 and tags.skipped == {"empty_text": 1}


def test_snli_no_gold_is_dropped_but_mnli_test_is_unlabeled(tmp_path):
  rows = [{"premise": "a", "hypothesis": "b", "label": -1}, {"premise": "a", "hypothesis": "c",
                                                             "label": 2}]
  snli = tasks.load_examples("anli_plus", "train", data_overrides={
      "snli/train": _jsonl(tmp_path, rows, "snli.jsonl"),
      "anli/train": _jsonl(tmp_path, [], "anli.jsonl"),
      "mnli/train": _jsonl(tmp_path, [NLI], "mnli.jsonl")})
  assert [e.label for e in snli.examples] == [0, 2] and snli.skipped == {"no_gold_label": 1}
  test = _load(tmp_path, "mnli", "test", [dict(NLI, label=-1)])
  assert test.examples[0].label is None and test.skipped == {}


def test_squad_v2_allows_no_answers(tmp_path):
  data = _load(tmp_path, "squad_v2", "train",
               [dict(SQUAD, answers={"text": [], "answer_start": []})])
  assert data.examples[0].is_impossible and data.examples[0].answers == ()


def test_language_filter_column_missing(tmp_path):
  rows = [{"sentence1": "a", "sentence2": "b", "gold_label": "neutral"}]
  with pytest.raises(DataError, match="missing column 'language'"):
    _load(tmp_path, "xnli", "validation", rows)


def test_override_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="Tried: .*PAN-X.de.*validation.jsonl"):
    tasks.load_examples("panx", "validation", "de", data_overrides={"panx": str(tmp_path)})
  with pytest.raises(FileNotFoundError, match="must be an existing directory"):
    tasks.load_examples("mnli", "train", data_overrides={"mnli": _jsonl(tmp_path, [NLI])})
  with pytest.raises(FileNotFoundError, match="does not exist"):
    tasks.load_examples("mnli", "train", data_overrides={"mnli/train": str(tmp_path / "x.jsonl")})
  bad = tmp_path / "rows.txt"
  bad.write_text("x")
  with pytest.raises(ValueError, match="Unsupported data file"):
    tasks.load_examples("mnli", "train", data_overrides={"mnli/train": str(bad)})


def test_tsv_and_csv_overrides(tmp_path):
  tsv = tmp_path / "dev.tsv"
  tsv.write_text('sentence1\tsentence2\tlabel\n"Quoted" start\tb\t1\nempty\t\t0\n',
                 encoding="utf-8")
  data = tasks.load_examples("pawsx", "validation", "fr",
                             data_overrides={"pawsx/validation/fr": str(tsv)})
  assert data.examples[0].text_a == '"Quoted" start' and data.examples[0].label == 1
  assert data.skipped == {"empty_text": 1}
  csv_path = tmp_path / "train.csv"
  csv_path.write_text("premise,hypothesis,label,idx\nA man plays.,Someone plays.,2,0\n")
  data = tasks.load_examples("mnli", "train", data_overrides={"mnli/train": str(csv_path)})
  assert data.examples[0].label == 2


def test_bucc_original_file_errors(tmp_path):
  directory = write_bucc_original(str(tmp_path / "bucc"))
  overrides = {"bucc2018": directory}
  with open(f"{directory}/ru-en.training.gold", "a", encoding="utf-8") as f:
    f.write("ru-000099\ten-000000\n")
  with pytest.raises(DataError, match="line 3: id pair .*ru-000099"):
    tasks.load_examples("bucc2018", "test", "ru", data_overrides=overrides)
  with open(f"{directory}/fr-en.sample.fr", "a", encoding="utf-8") as f:
    f.write("no tab here\n")
  with pytest.raises(DataError, match="fr-en.sample.fr, line 4: expected 'id<TAB>sentence'"):
    tasks.load_examples("bucc2018", "validation", "fr", data_overrides=overrides)


def test_ccg_file_errors(tmp_path):
  directory = write_ccg(str(tmp_path / "ccg"))
  with open(f"{directory}/dev.tsv", "a", encoding="utf-8") as f:
    f.write("Dogs bark .\tN BOGUS .\n")
  with pytest.raises(DataError, match=r"ccg/validation .*line 4.*\['BOGUS'\]"):
    tasks.load_examples("ccg", "validation", data_overrides={"ccg": directory})
  with open(f"{directory}/test.tsv", "a", encoding="utf-8") as f:
    f.write("Dogs bark .\tN .\n")
  with pytest.raises(DataError, match="3 words but 2 supertags"):
    tasks.load_examples("ccg", "test", data_overrides={"ccg": directory})

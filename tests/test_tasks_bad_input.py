"""Bad input: a bad row is a counted skip (never a lost language); a training split with more bad
rows than data.max_bad_row_fraction, a file without a needed column, or a (task, split, language)
left with no example raises DataError naming task/split/row/schema."""

import json

import pytest

from stilts_jax import tasks
from stilts_jax.tasks import DataError
from _fixtures import write_bucc_original, write_ccg

CTX = "Berlin is the capital of Germany."
NLI = {"premise": "A man plays.", "hypothesis": "Someone plays.", "label": 0, "idx": 0}
SQUAD = {"id": "q0", "title": "t", "context": CTX, "question": "What is the capital?",
         "answers": {"text": ["Berlin"], "answer_start": [0]}}
PANX = {"tokens": ["Angela", "Merkel"], "ner_tags": [1, 2], "langs": ["en", "en"]}


def _jsonl(tmp_path, rows, name="rows.jsonl"):
  path = tmp_path / name
  path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
  return str(path)


def _load(tmp_path, task, split, rows, source=None, language=None, **kwargs):
  path = _jsonl(tmp_path, rows)
  return tasks.load_examples(task, split, language,
                             data_overrides={f"{source or task}/{split}": path}, **kwargs)


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
     r"no answer text \['Bonn'\] occurs in the context"),
    ("squad_v1", "train", None, dict(SQUAD, answers={"text": ["Berlin"], "answer_start": [0, 5]}),
     "1 entries but answers.answer_start has 2"),
    ("squad_v1", "train", None, dict(SQUAD, answers={"text": [""], "answer_start": [0]}),
     r"no answer text \[''\] occurs in the context"),
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
def test_malformed_rows_stop_a_training_split_with_location_and_schema(
    tmp_path, task, split, source, row, match):
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


@pytest.mark.parametrize("row,reason", [
    (dict(NLI, label=3), "bad_label"), (dict(NLI, label="maybe"), "bad_label"),
    (dict(NLI, label=-1), "bad_label"), (dict(NLI, premise="   "), "empty_text")])
def test_bad_rows_of_an_evaluation_split_are_counted_never_fatal(tmp_path, row, reason, caplog):
  rows = [dict(NLI, idx=i) for i in range(3)] + [dict(row, idx=3)]
  data = _load(tmp_path, "mnli", "validation", rows)
  assert [e.guid.rsplit("/", 1)[1] for e in data.examples] == ["0", "1", "2"]
  assert data.skipped == {reason: 1} and data.rows_read == 4
  assert f"mnli/validation/en: skipped 1 of 4 row(s): {reason}: 1" in caplog.text
  if reason != "empty_text":  # the first message of each reason is kept, with its row
    assert "row 3" in data.skip_details[reason][0]


def test_training_split_tolerates_bad_rows_up_to_the_configured_fraction(tmp_path):
  rows = [dict(NLI, idx=i) for i in range(198)] + [dict(NLI, idx=198, label=7),
                                                   dict(NLI, idx=199, label=7)]
  data = _load(tmp_path, "mnli", "train", rows)  # 2 of 200 = 1%: allowed
  assert len(data) == 198 and data.skipped == {"bad_label": 2}
  rows.append(dict(NLI, idx=200, label=9))
  with pytest.raises(DataError, match=r"mnli/train/en: 3 of 201 rows \(1.5%\) are bad, more than "
                                      r"data.max_bad_row_fraction=0.01.*row 198.*row 199"):
    _load(tmp_path, "mnli", "train", rows)
  assert len(_load(tmp_path, "mnli", "train", rows, max_bad_fraction=0.02)) == 198
  assert len(_load(tmp_path, "mnli", "train", rows, max_bad_fraction=None)) == 198


def test_a_split_with_no_example_left_is_an_error_saying_what_was_read(tmp_path):
  xnli = [{"language": "fr", "sentence1": "a", "sentence2": "b", "gold_label": "neutral"}] * 5
  with pytest.raises(DataError, match=r"xnli/test/de: no examples. Read no rows from local:.*"
                                      r"the 'language' column holds 'fr' \(5\), but 'de' was "
                                      r"expected for 'de'"):
    _load(tmp_path, "xnli", "test", xnli, language="de")
  assert len(_load(tmp_path, "xnli", "test", xnli, language="fr")) == 5
  with pytest.raises(DataError, match=r"mnli/validation/en: no examples. Read 2 row\(s\) .*"
                                      r"every row was skipped: bad_label: 2 \(first: .*row 0"):
    _load(tmp_path, "mnli", "validation", [dict(NLI, label=5), dict(NLI, label=6)])
  with pytest.raises(DataError, match="panx/test/de: no examples. Read no rows from local:"):
    tasks.load_examples("panx", "test", "de",
                        data_overrides={"panx/test/de": _jsonl(tmp_path, [], "empty.jsonl")})


CONTEXT_2 = "Paris is in France. Berlin is in Germany. Berlin is big."


@pytest.mark.parametrize("texts,starts,kept,realigned,dropped", [
    (["Berlin"], [20], [20], 0, 0),                 # at its offset
    (["Berlin"], [18], [20], 1, 0),                 # shifted (the Hub's .strip()): nearest one
    (["Berlin"], [40], [42], 1, 0),                 # nearer to the second occurrence
    (["Berlin"], [31], [20], 1, 0),                 # a tie (11 each way) takes the earlier one
    (["Bonn", "Berlin"], [0, 20], [20], 0, 1),      # one answer not in the context: dropped
    ([" Berlin", "Berlin "], [19, 20], [19, 20], 0, 0),  # whitespace as given is kept as is
])
def test_squad_answers_are_realigned_to_the_nearest_occurrence(tmp_path, texts, starts, kept,
                                                               realigned, dropped):
  row = dict(SQUAD, context=CONTEXT_2, answers={"text": texts, "answer_start": starts})
  data = _load(tmp_path, "squad_v1", "validation", [row])
  answers = data.examples[0].answers
  assert [a.start for a in answers] == kept
  assert all(CONTEXT_2[a.start:a.start + len(a.text)] == a.text for a in answers)
  assert data.repaired == {k: v for k, v in (("answer_realigned", realigned),
                                             ("answer_dropped", dropped)) if v}


def test_a_question_whose_answers_are_all_dropped_is_skipped(tmp_path, caplog):
  rows = [SQUAD, dict(SQUAD, id="q1", answers={"text": ["Bonn", "Rome"], "answer_start": [0, 3]})]
  data = _load(tmp_path, "squad_v1", "validation", rows)
  assert [e.guid for e in data.examples] == ["en/squad_v1/validation/q0"]
  assert data.skipped == {"answer_not_in_context": 1}
  assert data.repaired == {"answer_dropped": 2}
  assert "repaired 2 answer_dropped" in caplog.text
  # SQuAD 2.0: an impossible question (no answers given) stays; one whose answers all vanished
  # is skipped, not turned into an impossible one.
  v2 = _load(tmp_path, "squad_v2", "validation",
             [dict(SQUAD, answers={"text": [], "answer_start": []}), rows[1]])
  assert len(v2) == 1 and v2.examples[0].is_impossible
  assert v2.skipped == {"answer_not_in_context": 1}


def test_empty_text_is_a_counted_skip(tmp_path, caplog):
  rows = [NLI, dict(NLI, hypothesis="   "), dict(NLI, premise=""), dict(NLI, idx=3)]
  data = _load(tmp_path, "mnli", "validation", rows)
  assert [e.guid.rsplit("/", 1)[1] for e in data.examples] == ["0", "3"]
  assert data.skipped == {"empty_text": 2} and data.num_skipped == 2
  assert "skipped 2 of 4 row(s): empty_text: 2" in caplog.text
  tags = _load(tmp_path, "panx", "validation",
               [PANX, dict(PANX, tokens=[], ner_tags=[], langs=[])])
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


def test_bucc_original_file_bad_lines_are_counted(tmp_path):
  directory = write_bucc_original(str(tmp_path / "bucc"))
  overrides = {"bucc2018": directory}
  clean = tasks.load_examples("bucc2018", "test", "ru", data_overrides=overrides)
  with open(f"{directory}/ru-en.training.gold", "a", encoding="utf-8") as f:
    f.write("ru-000099\ten-000000\n")
  data = tasks.load_examples("bucc2018", "test", "ru", data_overrides=overrides)
  assert data.retrieval.gold == clean.retrieval.gold
  assert data.skipped == {"gold_not_in_corpus": 1}
  assert "line 3: id pair ['ru-000099', 'en-000000']" in data.skip_details["gold_not_in_corpus"][0]
  with open(f"{directory}/fr-en.sample.fr", "a", encoding="utf-8") as f:
    f.write("no tab here\nfr-000000\tagain\n")
  data = tasks.load_examples("bucc2018", "validation", "fr", data_overrides=overrides)
  assert data.skipped == {"wrong_shape": 1, "duplicate_id": 1}
  assert "fr-en.sample.fr, line 4: expected 'id<TAB>sentence'" in data.skip_details["wrong_shape"][0]


def test_ccg_bad_lines_are_counted_and_stop_training_beyond_the_fraction(tmp_path):
  directory = write_ccg(str(tmp_path / "ccg"))
  with open(f"{directory}/dev.tsv", "a", encoding="utf-8") as f:
    f.write("Dogs bark .\tN BOGUS .\n")
  data = tasks.load_examples("ccg", "validation", data_overrides={"ccg": directory})
  assert data.skipped == {"bad_label": 1}
  assert "line 4" in data.skip_details["bad_label"][0] and "BOGUS" in data.skip_details["bad_label"][0]
  with open(f"{directory}/train.tsv", "a", encoding="utf-8") as f:
    f.write("Dogs bark .\tN .\n")
  with pytest.raises(DataError, match=r"ccg/train/en: 1 of .* are bad.*3 words but 2 supertags"):
    tasks.load_examples("ccg", "train", data_overrides={"ccg": directory})

"""Every task loads its fixtures (exact Hub schemas) through the real loader into canonical examples."""

import json
import os

import pytest

from stilts_jax import tasks
from stilts_jax.examples import (ChoiceExample, PairExample, SentenceExample, SpanExample,
                                 TagExample)
from stilts_jax.tasks import CCGDataMissingError, TaskType, sources
from _fixtures import fixture_languages, write_fixtures

EXPECTED_TYPE = {TaskType.CLASSIFICATION: PairExample, TaskType.MULTIPLE_CHOICE: ChoiceExample,
                 TaskType.SPAN_QA: SpanExample, TaskType.TAGGING: TagExample,
                 TaskType.RETRIEVAL: SentenceExample}


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
  return write_fixtures(tmp_path_factory.mktemp("fixtures"))


@pytest.fixture(autouse=True)
def no_hub(monkeypatch):
  """Any Hub access in these tests is a bug: overrides must win."""
  def fail(*args, **kwargs):
    raise AssertionError(f"Hub load attempted: {args}")
  monkeypatch.setattr(sources, "_load_hub", fail)


REAL_LOAD_HUB = sources._load_hub

CASES = [(name, split, lang) for name in tasks.list_tasks()
         for split in tasks.get_task(name).splits for lang in fixture_languages(name, split)]


def test_fixtures_cover_every_task_split_and_key_scripts():
  covered = {(n, s) for n, s, _ in CASES}
  assert covered == {(n, s) for n in tasks.list_tasks() for s in tasks.get_task(n).splits}
  assert {"zh", "th", "ar", "hi", "ru", "de"} <= {l for _, _, l in CASES}


@pytest.mark.parametrize("name,split,lang", CASES)
def test_every_task_loads_canonical_examples(fx, name, split, lang):
  spec = tasks.get_task(name)
  data = tasks.load_examples(name, split, lang, data_overrides=fx)
  assert data.task == name and data.split == split and data.language == lang
  assert len(data) > 0
  assert all(isinstance(e, EXPECTED_TYPE[spec.task_type]) for e in data.examples)
  assert len({e.guid for e in data.examples}) == len(data)
  assert all(o.startswith("local:") for o in data.origins)
  n_labels = len(data.label_names) if data.label_names else None
  for e in data.examples:
    if spec.task_type == TaskType.RETRIEVAL:
      assert e.language in (lang, "en") and e.text.strip() == e.text
      continue
    assert e.language == lang
    if isinstance(e, PairExample) and e.label is not None:
      assert 0 <= e.label < n_labels
    if isinstance(e, ChoiceExample) and e.label is not None:
      assert 0 <= e.label < len(e.choices)
    if isinstance(e, TagExample):
      assert len(e.labels) == len(e.words) and all(0 <= t < n_labels for t in e.labels)
    if isinstance(e, SpanExample):
      assert e.is_impossible == (not e.answers)
      for a in e.answers:
        assert e.context[a.start:a.start + len(a.text)] == a.text


def test_xnli_labels_decode_like_mnli(fx):
  xnli = tasks.load_examples("xnli", "validation", "de", data_overrides=fx)
  assert [e.label for e in xnli.examples] == [0, 1, 2]
  assert xnli.examples[0].text_a == "Ein Mann spielt auf der Straße Gitarre."
  mnli = tasks.load_examples("xnli", "train", data_overrides=fx)  # = MNLI train
  assert mnli.origins[0].endswith(os.path.join("mnli", "mnli", "train.parquet"))
  names = tasks.get_task("xnli").labels
  assert names[mnli.examples[0].label] == "entailment" and names[xnli.examples[2].label] == (
      "contradiction")
  assert tasks.load_examples("mnli", "test", data_overrides=fx).examples[0].label is None


def test_anli_plus_combines_sources_and_counts_snli_drops(fx):
  data = tasks.load_examples("anli_plus", "train", data_overrides=fx)
  sources = [e.guid.split("/")[1] for e in data.examples]
  assert sources == ["anli"] * 6 + ["mnli"] * 6 + ["snli"] * 3
  assert len(data.origins) == 5  # anli r1-r3, mnli, snli
  assert data.skipped == {"no_gold_label": 2}
  assert tasks.load_examples("anli_plus", "train", data_overrides=fx, limit=4).examples == (
      data.examples[:4])


def test_tydiqa_english_train_split_by_id_prefix(fx):
  train = tasks.load_examples("tydiqa", "train", data_overrides=fx)
  assert [e.guid.split("/", 3)[3] for e in train.examples] == [
      "english-train-0", "english-train-1"]
  arabic = tasks.load_examples("tydiqa", "validation", "ar", data_overrides=fx)
  assert all(e.guid.split("/", 3)[3].startswith("arabic-") for e in arabic.examples)
  assert arabic.examples[0].answers[0].text == "برلين"


def test_mlqa_context_language_equals_question_language(fx):
  data = tasks.load_examples("mlqa", "test", "de", data_overrides=fx)
  assert data.origins[0].endswith(os.path.join("MLQA.de.de", "test.parquet"))
  assert data.examples[0].question == "Was ist die Hauptstadt Deutschlands?"
  assert data.examples[0].context.startswith("Berlin ist")
  zh = tasks.load_examples("mlqa", "validation", "zh", data_overrides=fx)
  assert zh.examples[1].answers[0].text == "370万"


def test_squad_v2_unanswerable_and_multiple_choice(fx):
  v2 = tasks.load_examples("squad_v2", "validation", data_overrides=fx)
  impossible = [e for e in v2.examples if e.is_impossible]
  assert len(impossible) == 1 and impossible[0].answers == ()
  hs = tasks.load_examples("hellaswag", "train", data_overrides=fx).examples
  assert hs[0].choices[0] == "he tunes his guitar and starts to play." and hs[0].label == 0
  assert hs[1].choices[1] == "Put the egg in boiling water for eight minutes." and hs[1].label == 1
  cs = tasks.load_examples("commonsenseqa", "validation", data_overrides=fx).examples
  assert cs[0].choices[cs[0].label] == "refrigerator" and len(cs[0].choices) == 5
  assert tasks.load_examples("cosmosqa", "test", data_overrides=fx).examples[0].label is None


def test_tagging_classlabels_round_trip_parquet_and_jsonl(fx, tmp_path):
  fx_json = write_fixtures(tmp_path / "json", fmt="jsonl")
  for name, lang in (("panx", "hi"), ("udpos", "zh"), ("panx", "en")):
    a = tasks.load_examples(name, "test", lang, data_overrides=fx)
    b = tasks.load_examples(name, "test", lang, data_overrides=fx_json)
    assert a.examples == b.examples
  ner = tasks.load_examples("panx", "test", "ar", data_overrides=fx).examples[0]
  names = tasks.get_task("panx").labels
  assert [names[t] for t in ner.labels] == ["O", "B-PER", "I-PER", "B-LOC", "O"]


def test_classlabel_order_in_file_is_mapped_by_name(tmp_path):
  import datasets
  feats = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                             "ner_tags": datasets.Sequence(datasets.ClassLabel(
                                 names=["I-LOC", "B-LOC", "I-ORG", "B-ORG", "I-PER", "B-PER", "O"])),
                             "langs": datasets.Sequence(datasets.Value("string"))})
  path = str(tmp_path / "test.parquet")
  datasets.Dataset.from_list([{"tokens": ["Paris", "!"], "ner_tags": [1, 6], "langs": ["fr"] * 2}],
                             features=feats).to_parquet(path)
  data = tasks.load_examples("panx", "test", "fr", data_overrides={"panx/test/fr": path})
  assert data.examples[0].labels == (5, 0)  # B-LOC, O in our order


def test_bucc_both_source_kinds(fx, tmp_path):
  hub = tasks.load_examples("bucc2018", "test", "zh", data_overrides=fx)
  assert hub.source_kind == "hub_gold_pairs"
  assert hub.retrieval.gold == (("zh/zh-000000", "en/en-000000"), ("zh/zh-000001", "en/en-000001"))
  assert len(hub.retrieval.source) == len(hub.retrieval.target) == 2
  original = dict(fx, bucc2018=os.path.join(os.path.dirname(fx["mnli"]), "bucc2018_original"))
  raw = tasks.load_examples("bucc2018", "validation", "de", data_overrides=original)
  assert raw.source_kind == "bucc_original_files"
  assert raw.origins[0].endswith("de-en.sample.*")
  # Full comparable corpora: more sentences than gold pairs on both sides.
  assert len(raw.retrieval.source) == 3 and len(raw.retrieval.target) == 4
  assert raw.retrieval.gold == (("de/de-000000", "en/en-000000"), ("de/de-000001", "en/en-000001"))
  assert raw.retrieval.target[-1].text == "The weather is nice today."
  assert write_fixtures(tmp_path, bucc="original")["bucc2018"].endswith("bucc2018_original")


def test_tatoeba_pairs_strip_trailing_newline(fx):
  data = tasks.load_examples("tatoeba", "validation", "th", data_overrides=fx)
  r = data.retrieval
  assert r.source[0].text == "ผู้ชายคนหนึ่งกำลังเล่นกีตาร์อยู่บนถนน" and r.source[0].language == "th"
  assert r.target[0].text == "A man is playing a guitar on the street." and r.target[0].language == "en"
  assert r.gold == tuple((s.guid, t.guid) for s, t in zip(r.source, r.target))


def test_ccg_loads_user_files_and_missing_path_is_explained(fx, tmp_path):
  data = tasks.load_examples("ccg", "train", data_overrides=fx)
  assert data.source_kind == "ccg_files" and len(data.label_names) == 5
  assert [data.label_names[t] for t in data.examples[1].labels] == ["N", "(S[dcl]\\NP)/NP", "N", "."]
  with pytest.raises(CCGDataMissingError, match="LDC2005T13.*data_overrides=\\{'ccg'"):
    tasks.load_examples("ccg", "train")
  with pytest.raises(CCGDataMissingError, match="does not exist"):
    tasks.load_examples("ccg", "train", data_overrides={"ccg": str(tmp_path / "missing")})


def test_override_precedence_most_specific_key_wins(fx, tmp_path):
  path = tmp_path / "de_only.jsonl"
  row = {"language": "de", "sentence1": "Hallo Welt.", "sentence2": "Guten Tag.",
         "gold_label": "neutral"}
  path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
  overrides = dict(fx, **{"xnli/validation/de": str(path)})
  data = tasks.load_examples("xnli", "validation", "de", data_overrides=overrides)
  assert [(e.text_a, e.label) for e in data.examples] == [("Hallo Welt.", 1)]
  assert data.origins == (f"local:{path}",)
  # Other languages still use the source-level directory.
  assert len(tasks.load_examples("xnli", "validation", "fr", data_overrides=overrides)) == 3


def test_hub_path_arguments(monkeypatch):
  import datasets
  calls = []

  def fake_load_dataset(path, name=None, **kwargs):
    calls.append((path, name, kwargs))
    return datasets.Dataset.from_list([{"ind": 1, "ctx_a": "A dog.", "ctx_b": "It",
                                        "endings": ["runs.", "flies.", "sings.", "reads."],
                                        "label": "0"}])

  monkeypatch.setattr(sources, "_load_hub", REAL_LOAD_HUB)  # undo no_hub; the Hub itself is fake
  monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
  data = tasks.load_examples("hellaswag", "validation")
  assert calls == [("Rowan/hellaswag", None, {"split": "validation",
                                               "revision": "refs/convert/parquet"})]
  assert data.origins == ("hub:Rowan/hellaswag/default@refs/convert/parquet:validation",)
  assert data.examples[0].choices[0] == "It runs."
  calls.clear()
  with pytest.raises(tasks.DataError, match="missing column 'tokens'"):
    tasks.load_examples("udpos", "test", "de")  # the fake rows are not udpos rows
  assert calls[0][:2] == ("google/xtreme", "udpos.German")

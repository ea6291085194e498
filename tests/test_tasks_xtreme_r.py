"""xtreme_r.py: translated intermediate data (mnli_translated, squad_translated), XTREME-R targets
(xcopa, panx_r) and load_examples_multi, all through the real loader on Hub-schema fixtures."""

import json
import re

import pytest

from stilts_jax import tasks
from stilts_jax.examples import ChoiceExample, PairExample, SpanExample, TagExample
from stilts_jax.tasks import DataError, LocalDataMissingError, RegistryError, loading, sources
from _fixtures import fixture_languages, write_fixtures
from stilts_jax.tasks.target import PANX_LANGS, XNLI_LANGS, XQUAD_LANGS
from stilts_jax.tasks.xtreme_r import PANX_R_ADDED, XCOPA_LANGS

NEW_TASKS = ("mnli_translated", "squad_translated", "xcopa", "panx_r")
EXPECTED_TYPE = {"mnli_translated": PairExample, "squad_translated": SpanExample,
                 "xcopa": ChoiceExample, "panx_r": TagExample}
CASES = [(n, s, l) for n in NEW_TASKS for s in tasks.get_task(n).splits
         for l in fixture_languages(n, s)]


@pytest.fixture(scope="module", params=["parquet", "jsonl"])
def fx(request, tmp_path_factory):
  return write_fixtures(tmp_path_factory.mktemp(f"fixtures_{request.param}"), fmt=request.param)


@pytest.fixture(autouse=True)
def no_hub(monkeypatch):
  """Overrides must win; a test that wants the Hub path patches `_load_hub` itself."""
  def fail(*args, **kwargs):
    raise AssertionError(f"Hub load attempted: {args}")
  monkeypatch.setattr(sources, "_load_hub", fail)


def _jsonl(path, rows):
  path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                  encoding="utf-8")
  return str(path)


# ------------------------------------------------------------------------------ declarations


def test_declarations():
  mt = tasks.get_task("mnli_translated")
  assert mt.intermediate and mt.labels == tasks.get_task("mnli").labels == tasks.get_task(
      "xnli").labels
  assert mt.languages == XNLI_LANGS and mt.languages_for("train") == XNLI_LANGS
  assert tasks.get_source("xnli_mt").hub_id == "facebook/xnli"
  assert [tasks.get_source("xnli_mt").hub_config(l) for l in XNLI_LANGS] == list(XNLI_LANGS)
  sq = tasks.get_task("squad_translated")
  assert sq.intermediate and not sq.squad_v2 and sq.languages == XQUAD_LANGS
  assert tasks.get_source("squad_translated").hub_id is None
  xcopa = tasks.get_task("xcopa")
  assert not xcopa.intermediate and xcopa.labels == ("0", "1")
  assert xcopa.languages_for("train") == ("en",) and xcopa.sources["train"] == ("copa",)
  assert xcopa.languages_for("test") == xcopa.languages_for("validation") == XCOPA_LANGS
  assert tasks.get_source("xcopa").hub_id == "cambridgeltl/xcopa"
  assert tasks.get_source("xcopa").hub_config("ht") == "ht"
  panx_r = tasks.get_task("panx_r")
  assert set(panx_r.languages) >= set(PANX_LANGS) | set("qu pl uk az lt pa gu ro".split())
  assert set(PANX_R_ADDED) == {"qu", "pl", "uk", "az", "lt", "pa", "gu", "ro"}
  assert len(panx_r.languages) == len(set(panx_r.languages)) == 48
  assert panx_r.labels == tasks.get_task("panx").labels
  assert panx_r.languages_for("train") == ("en",)
  assert tasks.get_source("wikiann").hub_id == "unimelb-nlp/wikiann"
  # UD-POS-R / Tatoeba-R extra languages are deliberately not declared (no Hub source).
  assert "wo" not in tasks.get_task("udpos").languages and "udpos_r" not in tasks.list_tasks()


def test_xcopa_split_languages_are_enforced():
  with pytest.raises(RegistryError, match="Valid languages: en"):
    tasks.load_examples("xcopa", "train", "zh")
  with pytest.raises(RegistryError, match="no 'validation' split there"):
    tasks.load_examples("xcopa", "validation", "en")


# ------------------------------------------------------------------------------ loading fixtures


def test_fixtures_cover_new_tasks_and_scripts():
  assert {(n, s) for n, s, _ in CASES} == {(n, s) for n in NEW_TASKS
                                           for s in tasks.get_task(n).splits}
  langs = {l for _, _, l in CASES}
  assert {"zh", "th", "ar", "hi", "ru", "uk", "pa"} <= langs  # CJK, Thai, RTL, Indic, Cyrillic
  assert {"zh", "th"} <= set(fixture_languages("xcopa", "test"))
  assert {"pl", "uk", "ro", "pa"} <= set(fixture_languages("panx_r", "test"))


@pytest.mark.parametrize("name,split,lang", CASES)
def test_new_tasks_load_canonical_examples(fx, name, split, lang):
  data = tasks.load_examples(name, split, lang, data_overrides=fx)
  assert data.task == name and data.language == lang and len(data) > 0
  assert all(isinstance(e, EXPECTED_TYPE[name]) and e.language == lang for e in data.examples)
  assert len({e.guid for e in data.examples}) == len(data)
  assert data.origins and all(o.startswith("local:") for o in data.origins)
  assert data.label_names == tasks.get_task(name).labels


def test_mnli_translated_labels_decode_like_mnli(fx):
  for lang in ("de", "zh", "ar"):
    data = tasks.load_examples("mnli_translated", "train", lang, data_overrides=fx)
    assert [e.label for e in data.examples] == [0, 1, 2]
  de = tasks.load_examples("mnli_translated", "validation", "de", data_overrides=fx)
  assert de.examples[0].text_a == "Ein Mann spielt auf der Straße Gitarre."
  assert de.examples[2].text_b == "Niemand spielt ein Instrument."
  assert tasks.get_task("mnli").labels[de.examples[2].label] == "contradiction"


def test_mnli_translated_train_every_language_from_hub(monkeypatch):
  """Every one of the 15 languages resolves to facebook/xnli's config of the same name."""
  import datasets
  calls = []
  feats = datasets.Features({"premise": datasets.Value("string"),
                             "hypothesis": datasets.Value("string"),
                             "label": datasets.ClassLabel(names=["entailment", "neutral",
                                                                 "contradiction"])})

  def fake_hub(source, hub_split, language):
    calls.append((source.hub_id, source.hub_config(language), hub_split))
    rows = [{"premise": f"p-{language}", "hypothesis": f"h-{language}", "label": 2}]
    return datasets.Dataset.from_list(rows, features=feats), f"hub:{source.hub_id}:{hub_split}"

  monkeypatch.setattr(sources, "_load_hub", fake_hub)
  for lang in XNLI_LANGS:
    data = tasks.load_examples("mnli_translated", "train", lang)
    assert data.examples[0].text_a == f"p-{lang}" and data.examples[0].label == 2
  assert calls == [("facebook/xnli", l, "train") for l in XNLI_LANGS]


def test_xcopa_prompt_and_choices(fx):
  zh = tasks.load_examples("xcopa", "test", "zh", data_overrides=fx)
  cause, effect = zh.examples
  assert cause.prompt == "这个男人的脚趾骨折了。 What was the cause of this?"
  assert effect.prompt == "杯子从桌子上掉了下来。 What happened as a result?"
  assert cause.choices == ("他把锤子掉在了脚上。", "他的袜子破了一个洞。")
  assert [e.label for e in zh.examples] == [0, 1]  # XCOPA test is labeled
  th = tasks.load_examples("xcopa", "validation", "th", data_overrides=fx)
  assert th.examples[1].prompt.endswith(" What happened as a result?")
  assert all(e.label in (0, 1) and len(e.choices) == 2 for e in th.examples)
  en = tasks.load_examples("xcopa", "train", data_overrides=fx)  # English COPA
  assert en.examples[0].prompt == "The man broke his toe. What was the cause of this?"
  assert en.origins[0].endswith("train.parquet") or en.origins[0].endswith("train.jsonl")


def test_panx_r_added_language_decodes_classlabels(fx):
  uk = tasks.load_examples("panx_r", "test", "uk", data_overrides=fx)
  names = tasks.get_task("panx_r").labels
  assert [names[t] for t in uk.examples[0].labels] == ["B-PER", "I-PER", "O", "B-LOC", "O"]
  assert uk.examples[0].words[0] == "Ангела"


# ------------------------------------------------------------------------------ user-file sources


def test_squad_translated_missing_override_names_schema_and_keys(fx):
  without = {k: v for k, v in fx.items() if k != "squad_translated"}
  for overrides in (None, without):
    with pytest.raises(LocalDataMissingError) as err:
      tasks.load_examples("squad_translated", "train", "de", data_overrides=overrides)
    msg = str(err.value)
    assert "'squad_translated'" in msg and "no Hub copy" in msg
    assert "'squad_translated/train/de'" in msg and "schema 'squad'" in msg
    assert "answers: {text: list[string], answer_start: list[int]}" in msg
    assert "nested SQuAD v1.1 .json" in msg
  assert isinstance(err.value, FileNotFoundError)


def test_copa_missing_override_is_a_clear_error(fx):
  without = {k: v for k, v in fx.items() if k != "copa"}
  with pytest.raises(LocalDataMissingError, match="(?s)'copa'.*schema 'copa'.*cause.*effect"):
    tasks.load_examples("xcopa", "train", data_overrides=without)


def test_squad_translated_single_file_and_nested_squad_json(tmp_path):
  context = "Berlin ist die Hauptstadt Deutschlands."
  flat = {"id": "q0", "title": "Berlin", "context": context,
          "question": "Was ist die Hauptstadt?", "answers": {"text": ["Berlin"],
                                                             "answer_start": [0]}}
  data = tasks.load_examples("squad_translated", "train", "de", data_overrides={
      "squad_translated/train/de": _jsonl(tmp_path / "de.jsonl", [flat])})
  assert data.examples[0].answers[0].text == "Berlin"
  nested = {"version": "1.1", "data": [{"title": "Berlin", "paragraphs": [{
      "context": context, "qas": [
          {"id": "n0", "question": "Was ist die Hauptstadt?",
           "answers": [{"text": "Berlin", "answer_start": 0}]},
          {"id": "n1", "question": "Wessen Hauptstadt?",
           "answers": [{"text": "Deutschlands", "answer_start": 26}]}]}]}]}
  path = tmp_path / "squad.translate.train.en-de.json"
  path.write_text(json.dumps(nested, ensure_ascii=False), encoding="utf-8")
  data = tasks.load_examples("squad_translated", "train", "de",
                             data_overrides={"squad_translated/train/de": str(path)})
  assert [e.guid for e in data.examples] == ["de/squad_translated/train/n0",
                                             "de/squad_translated/train/n1"]
  assert data.examples[1].answers[0].text == "Deutschlands"
  # A wrong offset is re-aligned to the text (and counted), never fatal.
  nested["data"][0]["paragraphs"][0]["qas"][1]["answers"][0]["answer_start"] = 3
  path.write_text(json.dumps(nested, ensure_ascii=False), encoding="utf-8")
  data = tasks.load_examples("squad_translated", "train", "de",
                             data_overrides={"squad_translated/train/de": str(path)})
  assert data.examples[1].answers[0].start == 26 and data.repaired == {"answer_realigned": 1}


# ------------------------------------------------------------------------------ load_examples_multi


def test_load_examples_multi_concatenates_in_order(fx):
  langs = ("de", "zh", "ar")
  parts = [tasks.load_examples("mnli_translated", "train", l, data_overrides=fx) for l in langs]
  multi = tasks.load_examples_multi("mnli_translated", "train", langs, data_overrides=fx)
  assert multi.examples == tuple(e for p in parts for e in p.examples)
  assert multi.language == "de+zh+ar" and multi.split == "train"
  assert multi.origins == tuple(o for p in parts for o in p.origins)
  assert multi.label_names == tasks.get_task("mnli").labels and multi.source_kind == "hub_rows"
  assert [e.language for e in multi.examples] == [l for l in langs for _ in range(3)]
  assert len({e.guid for e in multi.examples}) == len(multi) == 9
  every = tasks.load_examples_multi("mnli_translated", "train",
                                    fixture_languages("mnli_translated", "train"),
                                    data_overrides=fx, limit=2)
  assert len(every) == 2 * len(fixture_languages("mnli_translated", "train"))  # limit per language


@pytest.mark.parametrize("task", ["mnli_translated", "squad_translated"])
def test_load_examples_multi_featurizes_and_caches(fx, tokenizer, tmp_path, task):
  """A language-set split goes through featurize_split (and its cache key) like one language."""
  from stilts_jax.features import featurize_split
  spec = tasks.get_task(task)
  langs = ("de", "zh", "th")
  multi = tasks.load_examples_multi(task, "train", langs, data_overrides=fx)
  f = featurize_split(spec, multi, tokenizer, max_length=64, cache_dir=tmp_path)
  assert set(f["example_index"].tolist()) == set(range(len(multi)))
  single = tasks.load_examples(task, "train", "de", data_overrides=fx)
  g = featurize_split(spec, single, tokenizer, max_length=64, cache_dir=tmp_path)
  assert len(g["input_ids"]) < len(f["input_ids"])  # a different cache entry


def test_load_examples_multi_sums_skips(tmp_path):
  rows = {"de": [{"premise": "Ein Mann spielt.", "hypothesis": "Jemand spielt.", "label": 0},
                 {"premise": " ", "hypothesis": "Leer.", "label": 1}],
          "ru": [{"premise": "", "hypothesis": "Пусто.", "label": 2},
                 {"premise": "Мужчина играет.", "hypothesis": "Кто-то играет.", "label": 0}]}
  overrides = {f"xnli_mt/train/{l}": _jsonl(tmp_path / f"{l}.jsonl", r) for l, r in rows.items()}
  multi = tasks.load_examples_multi("mnli_translated", "train", ["de", "ru"],
                                    data_overrides=overrides, max_bad_fraction=None)
  assert len(multi) == 2 and multi.skipped == {"empty_text": 2} and multi.rows_read == 4
  assert [e.guid for e in multi.examples] == ["de/xnli_mt/train/0", "ru/xnli_mt/train/1"]
  # The first messages of every language are kept, not only the first language's.
  bad = {l: _jsonl(tmp_path / f"bad-{l}.jsonl", [dict(rows["de"][0], label=9)] + r)
         for l, r in rows.items()}
  dev = tasks.load_examples_multi("mnli_translated", "validation", ["de", "ru"],
                                  data_overrides={f"xnli_mt/validation/{l}": p
                                                  for l, p in bad.items()})
  assert dev.skipped == {"bad_label": 2, "empty_text": 2}
  assert ["bad-de.jsonl" in dev.skip_details["bad_label"][0],
          "bad-ru.jsonl" in dev.skip_details["bad_label"][1]] == [True, True]


def test_load_examples_multi_rejects_bad_requests(fx, monkeypatch):
  with pytest.raises(ValueError, match="de given more than once"):
    tasks.load_examples_multi("mnli_translated", "train", ["de", "zh", "de"], data_overrides=fx)
  with pytest.raises(ValueError, match="no languages"):
    tasks.load_examples_multi("mnli_translated", "train", [], data_overrides=fx)
  with pytest.raises(ValueError, match="retrieval task"):
    tasks.load_examples_multi("tatoeba", "validation", ["de", "zh"], data_overrides=fx)
  with pytest.raises(RegistryError, match="Unknown language 'xx'"):
    tasks.load_examples_multi("mnli_translated", "train", ["de", "xx"], data_overrides=fx)
  # Two languages whose examples share guids (impossible with Hub-row guids) are refused.
  real = loading.load_examples
  monkeypatch.setattr(loading, "load_examples",
                      lambda task, split, language, **kw: real(task, split, "de", **kw))
  with pytest.raises(DataError, match="occurs twice"):
    tasks.load_examples_multi("mnli_translated", "train", ["de", "zh"], data_overrides=fx)


# ------------------------------------------------------------------------------ bad rows

COPA = {"premise": "The man broke his toe.", "choice1": "He dropped a hammer.",
        "choice2": "He got a hole in his sock.", "question": "cause", "label": 0, "idx": 0,
        "changed": False}
WIKIANN = {"tokens": ["Angela", "Merkel"], "ner_tags": [1, 2], "langs": ["pl", "pl"],
           "spans": ["PER: Angela Merkel"]}
NLI = {"premise": "Ein Mann spielt.", "hypothesis": "Jemand spielt.", "label": 0}


@pytest.mark.parametrize("task,split,lang,key,good,bad,match", [
    ("xcopa", "validation", "zh", "xcopa/validation/zh", COPA, dict(COPA, question="because"),
     "question must be one of 'cause', 'effect', got 'because'"),
    ("xcopa", "test", "th", "xcopa/test/th", COPA, dict(COPA, label=2),
     "label 2 in column 'label' is out of range"),
    ("xcopa", "test", "th", "xcopa/test/th", COPA, dict(COPA, label=-1),
     "no-gold marker -1 in a labeled split"),
    ("xcopa", "train", "en", "copa/train", COPA, dict(COPA, choice2=3),
     "choice2 must be a string, got int"),
    ("panx_r", "test", "pl", "wikiann/test/pl", WIKIANN, dict(WIKIANN, ner_tags=[1]),
     "2 tokens but 1 tags in 'ner_tags'"),
    ("panx_r", "test", "uk", "wikiann/test/uk", WIKIANN, dict(WIKIANN, ner_tags=[1, 7]),
     "label 7 in column 'ner_tags'"),
    ("mnli_translated", "train", "th", "xnli_mt/train/th", NLI, dict(NLI, label="Entailment"),
     "unknown label 'Entailment'"),
])
def test_bad_rows_are_counted_or_stop_training_with_location_and_schema(
    tmp_path, task, split, lang, key, good, bad, match):
  # json infers one Arrow type per column: a mistyped value goes alone so it is not coerced.
  rows = [bad] if "must be a string" in match or "Entailment" in match else [good, bad]
  path = _jsonl(tmp_path / "rows.jsonl", rows)
  if split == "train" or len(rows) == 1:  # too many bad rows to train on / no example left
    with pytest.raises(DataError, match=match) as err:
      tasks.load_examples(task, split, lang, data_overrides={key: path})
    msg = str(err.value)
    assert f"{task}/{split}" in msg and f"row {len(rows) - 1}" in msg
    assert "Expected schema" in msg and path in msg
  else:  # an evaluation split keeps its language: the bad row is skipped and counted
    data = tasks.load_examples(task, split, lang, data_overrides={key: path})
    assert len(data) == 1 and data.num_skipped == 1
    (detail,) = [d for details in data.skip_details.values() for d in details]
    assert re.search(match, detail) and "row 1" in detail and path in detail


def test_missing_column_names_schema(tmp_path):
  row = {k: v for k, v in COPA.items() if k != "choice2"}
  path = _jsonl(tmp_path / "rows.jsonl", [row])
  with pytest.raises(DataError, match="missing column 'choice2'.*Expected schema \\(copa\\)"):
    tasks.load_examples("xcopa", "validation", "it", data_overrides={"xcopa/validation/it": path})

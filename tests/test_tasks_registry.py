"""Task registry: declarations for every task, language lists, lookups with helpful errors."""

import pytest

from stilts_jax import tasks
from stilts_jax.tasks import RegistryError, TaskSpec, TaskType

INTERMEDIATE = {"anli_plus", "mnli", "qqp", "squad_v1", "squad_v2", "hellaswag", "cosmosqa",
                "commonsenseqa", "ccg",
                "mnli_translated", "squad_translated"}  # xtreme_r.py: translated alternatives
TARGET = {"xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba",
          "xcopa", "panx_r"}  # xtreme_r.py: XTREME-R targets on the Hub


def test_all_tasks_and_sources_registered():
  assert set(tasks.list_tasks(intermediate=True)) == INTERMEDIATE
  assert set(tasks.list_tasks(intermediate=False)) == TARGET
  assert set(tasks.list_sources()) == {
      "mnli", "snli", "anli", "qqp", "squad_v1", "squad_v2", "hellaswag", "cosmosqa",
      "commonsenseqa", "xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018",
      "tatoeba", "xnli_mt", "squad_translated", "copa", "xcopa", "wikiann"}


@pytest.mark.parametrize("name,count", [
    ("xnli", 15), ("pawsx", 7), ("udpos", 33), ("panx", 40), ("xquad", 11), ("mlqa", 7),
    ("tydiqa", 9), ("bucc2018", 4), ("tatoeba", 36)])
def test_xtreme_language_lists(name, count):
  spec = tasks.get_task(name)
  assert len(spec.languages) == len(set(spec.languages)) == count
  if "train" in spec.splits:
    assert spec.languages_for("train") == ("en",)  # zero-shot: English training data only


def test_task_types_and_metadata():
  assert tasks.get_task("xnli").labels == tasks.get_task("mnli").labels == (
      "entailment", "neutral", "contradiction")
  assert tasks.get_task("xnli").sources["train"] == ("mnli",)
  assert tasks.get_task("xquad").sources["train"] == ("squad_v1",)
  assert tasks.get_task("mlqa").sources["train"] == ("squad_v1",)
  assert tasks.get_task("anli_plus").sources["train"] == ("anli", "mnli", "snli")
  assert tasks.get_task("hellaswag").task_type == TaskType.MULTIPLE_CHOICE
  assert tasks.get_task("udpos").num_labels == 17 and tasks.get_task("panx").num_labels == 7
  assert tasks.get_task("squad_v2").squad_v2 and not tasks.get_task("squad_v1").squad_v2
  assert "train" not in tasks.get_task("bucc2018").splits
  assert "train" not in tasks.get_task("tatoeba").splits
  assert tasks.get_task("tatoeba").task_type == TaskType.RETRIEVAL
  assert set(tasks.get_task("udpos").languages_for("validation")).isdisjoint({"kk", "th", "tl", "yo"})


def test_hub_configs():
  assert tasks.get_source("hellaswag").hub_id == "Rowan/hellaswag"
  assert tasks.get_source("hellaswag").revision == "refs/convert/parquet"
  assert tasks.get_source("udpos").hub_config("de") == "udpos.German"
  assert tasks.get_source("tatoeba").hub_config("zh") == "tatoeba.cmn"
  assert tasks.get_source("mlqa").hub_config("de") == "MLQA.de.de"
  assert tasks.get_source("panx").hub_config("th") == "PAN-X.th"
  assert tasks.get_source("bucc2018").hub_config("ru") == "bucc18.ru"
  assert tasks.get_source("mnli").splits["validation"] == ("validation_matched",)
  assert tasks.get_source("anli").splits["train"] == ("train_r1", "train_r2", "train_r3")
  assert tasks.get_source("snli").drop_no_gold and not tasks.get_source("mnli").drop_no_gold
  # Every per-language config covers every language of every task that uses it.
  for name in tasks.list_tasks():
    spec = tasks.get_task(name)
    for split, sources in spec.sources.items():
      for source in sources:
        if source == "ccg":
          continue
        src = tasks.get_source(source)
        for lang in spec.languages_for(split):
          config = src.hub_config(lang)
          assert config is None or "{" not in config


def test_unknown_task_lists_valid_names():
  with pytest.raises(RegistryError) as err:
    tasks.get_task("xnlii")
  assert "xnlii" in str(err.value) and "xnli" in str(err.value) and "tatoeba" in str(err.value)
  with pytest.raises(RegistryError, match="Valid tasks: .*anli_plus"):
    tasks.load_examples("nope", "train")


def test_unknown_language_and_split_list_valid_names():
  with pytest.raises(RegistryError) as err:
    tasks.load_examples("xnli", "validation", language="xx")
  assert "'xx'" in str(err.value) and "ar bg de el en" in str(err.value)
  with pytest.raises(RegistryError, match="no 'validation' split there.*Valid languages"):
    tasks.load_examples("udpos", "validation", language="th")
  with pytest.raises(RegistryError, match="Valid languages: en"):
    tasks.load_examples("xnli", "train", language="de")
  with pytest.raises(RegistryError, match="needs a language"):
    tasks.load_examples("tatoeba", "validation")
  with pytest.raises(RegistryError, match="Valid splits: test, validation"):
    tasks.load_examples("bucc2018", "train", language="de")
  with pytest.raises(RegistryError, match="Valid sources"):
    tasks.get_source("glue")


def test_bad_declarations_fail_at_registration():
  with pytest.raises(ValueError, match="unknown source 'nosuch'"):
    tasks.register_task(TaskSpec(name="broken", task_type=TaskType.CLASSIFICATION,
                                 sources={"train": ("nosuch",)}, metrics=("accuracy",),
                                 max_length=128, labels=("a", "b")))
  with pytest.raises(ValueError, match="no such split"):
    tasks.register_task(TaskSpec(name="broken", task_type=TaskType.SPAN_QA,
                                 sources={"test": ("xquad",)}, metrics=("squad_f1",),
                                 max_length=128))
  assert "broken" not in tasks.list_tasks()

"""The intermediate-setting grammar (stilts_jax/setting.py) means the same to the pipeline, the
grid config (configs/stilts.py) and the analyses: each accepts exactly the settings the others
accept, and a setting prints back as written."""

import pytest

import _pipeline_helpers as H
from stilts_jax import run_config
from stilts_jax.analysis import AnalysisError, split_fraction
from stilts_jax.setting import Setting, SettingError

GOOD = ("none", "mnli", "mnli@10", "mnli@2.5", "mnli+squad_v1", "squad_v1@50+mnli+mlm",
        "mnli_translated@1")
BAD = ("mnli@0", "mnli@101", "mnli@x", "mnli@", "mnli@10%", "mnli+", "+mnli", "@10", " mnli",
       "mnli++squad_v1")


@pytest.mark.parametrize("text", GOOD)
def test_a_setting_prints_back_as_written(text):
  assert str(Setting.parse(text)) == text


def test_parts_and_fractions():
  s = Setting.parse("squad_v1@50+mnli+mlm")
  assert [(p.task, p.percent, p.fraction) for p in s.parts] == [
      ("squad_v1", 50.0, 0.5), ("mnli", 100.0, 1.0), ("mlm", 100.0, 1.0)]
  assert s.tasks == ["squad_v1", "mnli", "mlm"] and s.has_mlm and not s.is_baseline
  assert [p.task for p in s.supervised] == ["squad_v1", "mnli"]
  assert s.data_percent() == 50.0 and str(s.on_all_data()) == "squad_v1+mnli+mlm"
  assert Setting.parse("none").is_baseline and Setting.parse("none").data_percent() is None
  with pytest.raises(SettingError, match="different fractions"):
    Setting.parse("mnli@10+squad_v1@20").data_percent()


@pytest.mark.parametrize("text", BAD)
def test_every_reader_refuses_the_same_settings(text):
  with pytest.raises(SettingError, match="TASK@PERCENT"):
    Setting.parse(text)
  with pytest.raises(run_config.ConfigError, match="TASK@PERCENT"):
    run_config.parse_setting(text)
  with pytest.raises(AnalysisError, match="TASK@PERCENT"):
    split_fraction(text)
  with pytest.raises(SettingError, match="TASK@PERCENT"):
    H.load_config_module("stilts").get_config(f"intermediate={text}")


@pytest.mark.parametrize("text", GOOD)
def test_every_reader_accepts_the_same_settings(text):
  run_config.parse_setting(text)
  split_fraction(text)
  config = H.load_config_module("stilts").get_config(f"intermediate={text}")
  assert config.intermediates == (text,)
  config.mlm.source, config.mlm.languages = "corpus/", "de"  # what a setting with mlm needs
  run_config.validate(config)


def test_unknown_tasks_are_named():
  with pytest.raises(SettingError, match=r"unknown intermediate task 'mnlx'; valid: .*, mlm, none"):
    Setting.parse("mnlx@10+mlm").check_tasks(("mnli", "squad_v1"))

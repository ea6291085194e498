"""One vocabulary: the target lists, their table order, titles, main metrics and max lengths come
from the task registry (TaskSpec.benchmark / title / main_metric / max_length), and the config,
the report and the plots read them from there."""

import _pipeline_helpers as H
from stilts_jax.report import results, summary
from stilts_jax.tasks import TaskType, benchmark_tasks, get_task, list_tasks

# The paper's XTREME table (paper.md §3): classification, structured prediction, QA, retrieval.
PAPER_ORDER = ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba")
PAPER_INTERMEDIATES = ("anli_plus", "mnli", "qqp", "squad_v1", "squad_v2", "hellaswag", "cosmosqa",
                       "commonsenseqa", "ccg")


def test_every_reader_has_the_registrys_targets_in_the_papers_order():
  base = H.load_config_module("base")
  assert benchmark_tasks("xtreme") == PAPER_ORDER
  assert base.TARGETS == results.TARGETS == PAPER_ORDER
  assert base.XTREME_R_TARGETS == results.XTREME_R_TARGETS == ("xcopa", "panx_r")
  assert set(base.TARGET_SCHEDULE) == set(results.known_targets()) == set(results.MAIN_METRIC)
  assert [summary.target_title(t) for t in PAPER_ORDER] == [
      "XNLI", "PAWS-X", "UD-POS", "PAN-X", "XQuAD", "MLQA", "TyDiQA", "BUCC", "Tatoeba"]
  assert results.QA_TARGETS == ("xquad", "mlqa", "tydiqa")


def test_each_target_declares_what_the_report_and_config_use():
  base = H.load_config_module("base")
  for name in results.known_targets():
    spec = get_task(name)
    assert not spec.intermediate and spec.title and spec.main_metric, name
    assert base.TARGET_SCHEDULE[name][2] == spec.max_length
    assert results.MAIN_METRIC[name] == spec.main_metric
    assert (spec.main_metric == "score") == (spec.task_type == TaskType.SPAN_QA)
  # Every task belongs to one set; the intermediate sets hold exactly the intermediate tasks.
  assert all(get_task(t).benchmark for t in list_tasks())
  base = H.load_config_module("base")
  assert base.INTERMEDIATES == PAPER_INTERMEDIATES
  assert base.TRANSLATED_INTERMEDIATES == ("mnli_translated", "squad_translated")
  assert set(base.INTERMEDIATES + base.TRANSLATED_INTERMEDIATES) == set(list_tasks(intermediate=True))


def test_the_tpu_sweeps_default_grid_is_the_configs():
  # tpu_scripts run on a laptop without the package, so they keep their own lists; they must be
  # the grid configs/stilts.py builds (every intermediate setting, none included, x every target).
  import subprocess
  common = H.REPO / "tpu_scripts" / "common.sh"
  out = subprocess.run(["bash", "-c", f'. "{common}"; echo "$STJ_DEFAULT_INTERMEDIATES"; '
                        'echo "$STJ_DEFAULT_TARGETS"'], capture_output=True, text=True, check=True)
  intermediates, targets = (line.split() for line in out.stdout.splitlines())
  base = H.load_config_module("base")
  assert set(intermediates) == {"none", *base.INTERMEDIATES}
  assert targets == list(base.TARGETS)
  stilts = H.load_config_module("stilts")
  assert {tuple(cell.split(",")[:2]) for cell in stilts.grid()} == {
      (f"intermediate={i}", f"target={t}") for i in intermediates for t in targets}

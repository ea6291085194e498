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


def _sweep_grid(tmp_path, python):
  """common.sh's default grid (what sweep.sh and status.sh run), with PYTHON=python."""
  import os
  import subprocess
  common = H.REPO / "tpu_scripts" / "common.sh"
  env = {k: v for k, v in os.environ.items() if k not in ("INTERMEDIATES", "TARGETS", "SEEDS")}
  return subprocess.run(["bash", "-c", f'. "{common}"; stj_build_grid; printf "%s\\n" '
                         '"${STJ_GRID[@]}"'], env={**env, "PYTHON": str(python)}, cwd=tmp_path,
                        capture_output=True, text=True)


def test_the_tpu_sweeps_default_grid_is_the_packages_read_from_the_checkout_alone(tmp_path):
  """tpu_scripts ask stilts_jax.grid for their default grid; it runs on a machine where nothing
  is installed (python -S: no site-packages, so neither an installed stilts_jax nor numpy)."""
  import stat
  import sys
  from stilts_jax import grid
  bare = tmp_path / "python3"
  # It warns on stderr (which must not become a task name), and the working directory holds
  # another checkout's grid.py (the scripts' own checkout must win).
  bare.write_text(f'#!/bin/sh\necho "warning: a platform note" >&2\nexec "{sys.executable}" -S "$@"\n')
  bare.chmod(bare.stat().st_mode | stat.S_IXUSR)
  (tmp_path / "stilts_jax").mkdir()
  (tmp_path / "stilts_jax" / "__init__.py").write_text("")
  (tmp_path / "stilts_jax" / "grid.py").write_text("print('decoy')\n")
  proc = _sweep_grid(tmp_path, bare)
  assert proc.returncode == 0, proc.stderr
  assert [f"intermediate={i},target={t},seed={s}" for i, t, s in
          (line.split() for line in proc.stdout.splitlines())] == grid.cells()
  base = H.load_config_module("base")
  assert grid.intermediate_settings() == PAPER_INTERMEDIATES + ("none",) == base.INTERMEDIATES + (
      "none",)
  assert grid.targets() == PAPER_ORDER == base.TARGETS
  assert len(grid.cells(seeds=(1, 2))) == 2 * 10 * 9
  # The lists tpu_scripts/README.md shows are the grid's.
  readme = (H.REPO / "tpu_scripts" / "README.md").read_text()
  assert f"* intermediates: `{' '.join(grid.intermediate_settings())}`" in readme
  assert f"* targets: `{' '.join(grid.targets())}`" in readme


def test_a_sweep_without_a_usable_python_says_how_to_fix_it(tmp_path):
  proc = _sweep_grid(tmp_path, tmp_path / "no-such-python")
  assert proc.returncode == 2
  assert proc.stderr.startswith("bash: error: cannot read the default intermediates from "), \
      proc.stderr
  assert "run it with a Python >= 3.11 (PYTHON=/path/to/python3.11), or pass --intermediates=LIST" in \
      proc.stderr and proc.stderr.count("\n") == 1

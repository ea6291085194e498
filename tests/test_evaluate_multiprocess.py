"""The vectorized evaluation with 2 real JAX processes on CPU (jax.distributed + gloo).

Each worker (tests/_evaluate_multiprocess_worker.py) feeds only its slice of every global batch
of one 2x2 ("data", "fsdp") mesh spanning both processes; both must report exactly the
per-language metrics and predictions of a single-process, single-device run, with every feature
row fed once, and the echo stream must return each row's own tokens.
"""

import json
import pickle

import numpy as np
import pytest

import _evaluate_helpers as H
from _multiprocess import run_two_workers

TIMEOUT_S = 180
# One task per kind (classification, tagging, span QA, both retrieval tasks) keeps the two
# workers' compile time down; every task runs on 1 and 8 devices in test_evaluate_vectorized.
TASKS = ("xnli", "panx", "xquad", "tatoeba", "bucc2018")


@pytest.fixture(scope="module")
def parts(tmp_path_factory, tokenizer):
  return H.cached_parts(tmp_path_factory, tokenizer)


@pytest.fixture(scope="module")
def worker_outputs(tmp_path_factory, parts):
  out_dir = tmp_path_factory.mktemp("eval_multiprocess")
  # The workers get the loaded, featurized parts as they are: no datasets or tokenizer there.
  parts_path = out_dir / "parts.pkl"
  with open(parts_path, "wb") as f:
    pickle.dump({t: parts[t] for t in TASKS}, f)
  run_two_workers("_evaluate_multiprocess_worker.py", [str(parts_path), str(out_dir)],
                  TIMEOUT_S)
  return [(json.loads((out_dir / f"proc{i}.json").read_text(encoding="utf-8")),
           dict(np.load(out_dir / f"proc{i}.npz"))) for i in range(2)]


def test_each_process_fed_its_own_slice(worker_outputs):
  assert sorted(tuple(r["process_slice"]) for r, _ in worker_outputs) == [(0, 2), (1, 2)]


def test_two_processes_equal_one(parts, worker_outputs):
  # Through JSON, as the workers' results (tuples become lists; floats round-trip exactly).
  reference = json.loads(json.dumps(H.reference_results(parts), ensure_ascii=False))
  for results, _ in worker_outputs:
    # Every feature row fed exactly once over both processes (the count is of global batches).
    want_rows = {t: n for t, n in reference["rows"].items() if t in TASKS}
    assert results["rows"] == want_rows
    assert results["rows"] == {t: sum(p.rows for p in parts[t]) for t in want_rows}
    for task in TASKS:
      assert results[task] == reference[task], task


def test_two_process_stream_returns_each_row_in_input_order(parts, worker_outputs):
  for _, echo in worker_outputs:
    H.check_echo(parts, echo)

"""Multi-host slicing with 2 real JAX processes on CPU (jax.distributed + gloo).

Each worker (tests/_data_multiprocess_worker.py) loads only its rows, assembles the global batch
with `to_global_batch` and gathers its value back; here we check the shards partition the dataset
and the assembled batches equal a single-process run.
"""

import numpy as np
import pytest

import _data_multiprocess_worker as W
from _data_helpers import make_features
from _multiprocess import run_two_workers
from stilts_jax.data import TrainBatches, EvalBatches

TIMEOUT_S = 120


@pytest.fixture(scope="module")
def worker_outputs(tmp_path_factory):
  out_dir = tmp_path_factory.mktemp("multiprocess")
  run_two_workers("_data_multiprocess_worker.py", [str(out_dir)], TIMEOUT_S)
  return [dict(np.load(out_dir / f"proc{i}.npz")) for i in range(2)]


def test_process_slices(worker_outputs):
  assert sorted(tuple(o["process_slice"]) for o in worker_outputs) == [(0, 2), (1, 2)]


def test_train_shards_partition_and_global_batch_matches_single_process(worker_outputs):
  single = TrainBatches(make_features(W.N_TRAIN, seed=1), W.GLOBAL_BATCH, W.SEED, 0, 1, W.BUCKETS,
                        group_by_length=True, group_chunk_batches=2)
  by_block = sorted(worker_outputs, key=lambda o: o["process_slice"][0])
  epoch_seen: dict[int, list[int]] = {}
  for step in W.TRAIN_STEPS:
    shards = [o[f"train/{step}/local_indices"] for o in by_block]
    assert all(s.size == W.GLOBAL_BATCH // 2 for s in shards)
    assert not set(shards[0].tolist()) & set(shards[1].tolist())  # no overlap
    np.testing.assert_array_equal(np.concatenate(shards), single.global_indices_at(step))
    epoch_seen.setdefault(step // single.steps_per_epoch, []).extend(np.concatenate(shards))
    want = single.batch_at(step)
    for o in worker_outputs:  # both processes gathered the same global value
      got = {k.rsplit("/", 1)[1]: v for k, v in o.items() if k.startswith(f"train/{step}/global/")}
      assert got.keys() == want.keys()
      for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=f"step {step} {k}")
  # Epoch 0 (steps 0, 1, 4 of 5) never repeats an example across steps either.
  assert len(set(epoch_seen[0])) == len(epoch_seen[0])


def test_eval_union_is_dataset_and_global_batch_matches(worker_outputs):
  single = EvalBatches(make_features(W.N_EVAL, seed=2), W.GLOBAL_BATCH, 0, 1, W.BUCKETS)
  n_batches = [int(o["eval/num_batches"]) for o in worker_outputs]
  assert n_batches == [len(single)] * 2 == [-(-W.N_EVAL // W.GLOBAL_BATCH)] * 2
  seen = []
  for o in worker_outputs:
    for i in range(n_batches[0]):
      seen.extend(o[f"eval/{i}/local_index"][o[f"eval/{i}/local_mask"]].tolist())
  assert sorted(seen) == list(range(W.N_EVAL))  # every example exactly once over both processes
  for i, want in enumerate(single):
    for o in worker_outputs:
      assert int(o[f"eval/{i}/real_rows"]) == int(want["mask"].sum())
      for k in want:
        np.testing.assert_array_equal(o[f"eval/{i}/global/{k}"], want[k], err_msg=f"batch {i} {k}")

"""One process of the 2-process data test (launched by tests/test_data_multiprocess.py).

Usage: python _data_multiprocess_worker.py PROCESS_ID PORT OUT_DIR

Joins a 2-process CPU cluster (2 local devices each, gloo collectives), builds this process's
train and eval batches from `process_slice` of a 2x2 ("data", "fsdp") mesh, assembles them with
`to_global_batch`, fetches the global values back with `process_allgather`, and writes everything
to OUT_DIR/proc{PROCESS_ID}.npz for the test to compare against a single-process run.
"""

import os
import sys

# Constants shared with the test (it imports them from here).
N_TRAIN, N_EVAL = 45, 37
GLOBAL_BATCH = 8
SEED = 11
BUCKETS = (8, 16, 32, 64)
TRAIN_STEPS = (0, 1, 4, 5, 6, 12)  # steps_per_epoch = 5: crosses two epoch boundaries


def main(process_id: int, port: int, out_dir: str) -> None:
  import jax
  import numpy as np
  from jax.experimental import multihost_utils

  from _data_helpers import make_features
  from stilts_jax.data import TrainBatches, EvalBatches, process_slice, to_global_batch

  # CPU cross-process collectives (needed by process_allgather and jitted reductions).
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=2,
                             process_id=process_id, initialization_timeout=60)
  assert jax.process_count() == 2 and jax.device_count() == 4, (
      jax.process_count(), jax.device_count())

  mesh = jax.make_mesh((2, 2), ("data", "fsdp"))
  index, count = process_slice(mesh, global_batch_size=GLOBAL_BATCH)
  out = {"process_slice": np.array([index, count])}

  train = TrainBatches(make_features(N_TRAIN, seed=1), GLOBAL_BATCH, SEED, index, count, BUCKETS,
                       group_by_length=True, group_chunk_batches=2)
  masked_count = jax.jit(lambda b: b["mask"].sum())
  for step in TRAIN_STEPS:
    local = train.batch_at(step)
    out[f"train/{step}/local_indices"] = train.indices_at(step)
    gathered = multihost_utils.process_allgather(to_global_batch(local, mesh), tiled=True)
    for k, v in gathered.items():
      out[f"train/{step}/global/{k}"] = np.asarray(v)

  evals = EvalBatches(make_features(N_EVAL, seed=2), GLOBAL_BATCH, index, count, BUCKETS)
  out["eval/num_batches"] = np.array(len(evals))
  for i, local in enumerate(evals):
    out[f"eval/{i}/local_index"] = local["index"]
    out[f"eval/{i}/local_mask"] = local["mask"]
    g = to_global_batch(local, mesh)
    # A jitted cross-process reduction over the assembled batch; the result is replicated, so
    # this process's copy is the global value.
    out[f"eval/{i}/real_rows"] = np.asarray(masked_count(g).addressable_data(0))
    for k, v in multihost_utils.process_allgather(g, tiled=True).items():
      out[f"eval/{i}/global/{k}"] = np.asarray(v)

  np.savez(os.path.join(out_dir, f"proc{process_id}.npz"), **out)
  jax.distributed.shutdown()


if __name__ == "__main__":
  main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])

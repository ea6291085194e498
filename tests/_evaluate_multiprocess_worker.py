"""One process of the 2-process evaluation test (launched by tests/test_evaluate_multiprocess.py).

Usage: python _evaluate_multiprocess_worker.py PROCESS_ID PORT PARTS_PICKLE OUT_DIR

Joins a 2-process CPU cluster (2 local devices each, gloo collectives), builds the tiny model on a
2x2 ("data", "fsdp") mesh spanning both processes, evaluates every task of the pickled parts with
`evaluate_parts` / `evaluate_retrieval_task` (each process feeding its slice of every global
batch), and writes the per-language results to OUT_DIR/proc{PROCESS_ID}.json (and the echo
stream to .npz) for the test to compare with a single-process run.
"""

import json
import os
import pickle
import sys


def main(process_id: int, port: int, parts_path: str, out_dir: str) -> None:
  import jax
  import numpy as np

  # CPU cross-process collectives (process_allgather of the outputs, sharded jitted steps).
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=2,
                             process_id=process_id, initialization_timeout=60)
  assert jax.process_count() == 2 and jax.device_count() == 4, (
      jax.process_count(), jax.device_count())

  import _evaluate_helpers as H
  from stilts_jax import sharding as shd
  from stilts_jax.data import process_slice

  with open(parts_path, "rb") as f:
    parts = pickle.load(f)
  mesh = shd.make_mesh({"data": 2, "fsdp": 2})
  results = H.run_tasks(H.make_model(mesh), parts, mesh)
  results["process_slice"] = list(process_slice(mesh, global_batch_size=H.GLOBAL_BATCH))
  with open(os.path.join(out_dir, f"proc{process_id}.json"), "w", encoding="utf-8") as f:
    json.dump(results, f, ensure_ascii=False)
  echo = H.echo_stream(parts, mesh)
  np.savez(os.path.join(out_dir, f"proc{process_id}.npz"), **echo)
  jax.distributed.shutdown()


if __name__ == "__main__":
  main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4])

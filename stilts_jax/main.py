"""`stilts-jax --config=configs/FILE.py[:ARGS] --workdir=DIR`: runs the phases the config names.

Kept short on purpose: the logic lives in `pipeline` (and `demo` for the offline demo), importable
and tested. Exit codes: 0 done, 1 error (message says how to fix it), 75 preempted (checkpoint saved;
run the same command again to resume).
"""

import sys

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from stilts_jax import xla_flags

config_flags.DEFINE_config_file("config", None, "ml-collections config file (FILE.py[:ARGS]).",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Run directory (local or gs://); a rerun resumes from it.")
flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize() first (pods, clusters).")
flags.DEFINE_string("coordinator_address", None, "host:port of process 0 (non-TPU clusters, tests).")
flags.DEFINE_integer("num_processes", None, "Number of processes (non-TPU clusters, tests).")
flags.DEFINE_integer("process_id", None, "This process's id (non-TPU clusters, tests).")
flags.mark_flags_as_required(["config", "workdir"])
FLAGS = flags.FLAGS

EXIT_PREEMPTED = 75  # EX_TEMPFAIL: try again


def main(argv):
  del argv
  xla_flags.apply_defaults()  # before anything below starts the backend
  if not FLAGS["verbosity"].present:  # Orbax logs every save at INFO; keep the progress bars readable
    logging.set_verbosity(logging.WARNING)
  if FLAGS.distributed:
    explicit = {k: v for k, v in dict(coordinator_address=FLAGS.coordinator_address,
                                      num_processes=FLAGS.num_processes,
                                      process_id=FLAGS.process_id).items() if v is not None}
    jax.distributed.initialize(**explicit)  # on TPU VMs everything is auto-detected
  logging.warning("JAX process %d / %d, %d devices", jax.process_index(), jax.process_count(),
                  jax.device_count())
  from stilts_jax import demo, pipeline, train  # after distributed init: they may touch devices
  config = FLAGS.config
  try:
    if config.demo:
      demo.prepare(config, FLAGS.workdir)
    pipeline.run(config, FLAGS.workdir)
  except pipeline.Preempted as e:
    logging.warning("%s; run the same command again to resume.", e)
    sys.exit(EXIT_PREEMPTED)
  except train.TrainingDiverged as e:
    sys.exit(f"error: {e}")
  if jax.process_index() == 0:
    print((pipeline.results_markdown(FLAGS.workdir)), flush=True)


def run():
  app.run(main)


if __name__ == "__main__":
  run()

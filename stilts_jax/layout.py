"""The names in a workdir, each spelled once (the layout itself is drawn in pipeline.py).

A phase directory (`intermediate/<setting>/`, `target/<setting>__<target>/`) holds its train
states, its best parameters once completed, its metrics and run record and, for a target, its
results; the workdir holds every phase's results together. Each module that writes or reads one
of these names imports it from here; a phase folder's paths go through `phase_dir.PhaseDir`.
"""

TRAIN_STATES_DIR = "checkpoints"  # Orbax train states (params, optimizer state, step) by step
BEST_PARAMS_DIR = "best_params"   # a completed phase's best parameters alone (no optimizer state)
METRICS_FILE = "metrics.jsonl"    # train and dev metrics by step
RUN_FILE = "run.json"             # the run record: command, versions, config, recipe
RESULTS_FILE = "results.jsonl"    # tidy result rows (a target phase's, and the workdir's)
COMPLETED = "COMPLETED"           # written last: the phase (or the whole run) is done

"""The CLI killed, preempted and relaunched on a gs:// workdir ends exactly where an uninterrupted
local run ends; and the STILTs hand-off (intermediate best encoder → target phase, fresh head).

Four launches of the real CLI (through tests/_pipeline_run.py, which adds kill/preempt/dump hooks)
on one CPU device, intermediate mnli → target xnli:
  reference:  local workdir, uninterrupted, every checkpoint kept
              (checkpoint.keep_after_completion=all)
  launch 1:   gs:// workdir (a GCS emulator on 127.0.0.1): SIGKILL just before intermediate step 6
              (its step-4 checkpoint is committed on the bucket)
  launch 2:   resumes the intermediate phase at step 4, finishes it, gets SIGTERM (a preemptible
              VM's notice) during target step 6: checkpoint saved, exit code 75
  launch 3:   resumes the target at step 6 and finishes
Final parameters of both phases, dev scores, train losses, the zero-shot results and predictions
must be bit-identical to the reference: on CPU every step is a pure function of (seed, step,
state), and storage must not change that. The interrupted run keeps only the best parameters of
finished phases (the default), which the hand-off and mode=eval then read from the bucket. Plain
local resumption is covered by test_pipeline_multihost (2 processes killed and relaunched).
"""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest
from etils import epath

import _pipeline_helpers as H

pytestmark = pytest.mark.slow

ARGS = [
    "--config=configs/demo.py",
    "--config.intermediates=('mnli',)", "--config.targets=('xnli',)",
    "--config.data.train_limit=256", "--config.data.eval_limit=24", "--config.data.buckets=(64,)",
    "--config.eval.languages.xnli=en,de",
    "--config.intermediate_train.max_steps=12", "--config.target_train.xnli.max_steps=12",
]
for _phase in ("intermediate_train", "target_train.xnli"):
  ARGS += [f"--config.{_phase}.eval_every_steps=4", f"--config.{_phase}.checkpoint_every_steps=4",
           f"--config.{_phase}.log_every_steps=1", f"--config.{_phase}.eval_subset=24"]
INTER, TARGET = "intermediate__mnli", "target__mnli__xnli"
EXIT_PREEMPTED = 75


def _launch(workdir, dump, *extra, **env):
  proc = H.cli(workdir, *ARGS, *extra, env=dict(STILTS_TEST_DUMP=str(dump), **env))
  return proc, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory, gcs):
  assets = H.demo_assets(tmp_path_factory.mktemp("assets"))
  root = tmp_path_factory.mktemp("resume")
  ref = H.seed_workdir(root / "ref", assets)
  proc, log = _launch(ref, root / "ref_dump", "--config.checkpoint.keep_after_completion=all")
  assert proc.returncode == 0, log[-3000:]

  bucket = gcs.create_bucket()
  run = H.seed_workdir(f"gs://{bucket}/run", assets)
  logs, objects = [], []
  proc, log = _launch(run, root / "run_dump", STILTS_TEST_KILL_AT="intermediate:6", **gcs.env)
  logs.append(log)
  objects.append(gcs.objects(bucket))
  assert proc.returncode == -9, log[-3000:]  # SIGKILL
  assert "SIGKILL at intermediate/mnli step 6" in log
  proc, log = _launch(run, root / "run_dump", STILTS_TEST_SIGTERM_AT="target:6:0", **gcs.env)
  logs.append(log)
  assert proc.returncode == EXIT_PREEMPTED, log[-3000:]
  proc, log = _launch(run, root / "run_dump", **gcs.env)
  logs.append(log)
  assert proc.returncode == 0, log[-3000:]
  return dict(assets=assets, ref=ref, run=epath.Path(run), bucket=bucket, gcs=gcs, ref_dump=root / "ref_dump",
              run_dump=root / "run_dump", logs=logs, objects_at_kill=objects[0])


def _npz(path):
  with np.load(path) as f:
    return {k: f[k] for k in f.files}


def _assert_trees_identical(a, b):
  assert sorted(a) == sorted(b)
  for k in a:
    np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def _jsonl(path):
  return [json.loads(l) for l in epath.Path(path).read_text().splitlines() if l]


def test_relaunches_resume_from_their_checkpoints(runs):
  killed, preempted, finished = runs["logs"]
  assert "resuming" not in killed
  # The kill came after the step-4 checkpoint was committed on the bucket (GCS has no renames:
  # Orbax writes commit_success.txt last).
  assert "run/intermediate/mnli/checkpoints/4/commit_success.txt" in runs["objects_at_kill"]
  # The SIGKILL came before step 6; the newest finalized checkpoint was step 4.
  assert "[intermediate/mnli] 12 steps" in preempted and "resuming at step 4" in preempted
  assert "test hook: SIGTERM to process 0 at target/mnli__xnli step 6" in preempted
  assert "preempted during mnli__xnli at step 6" in preempted  # saved after the step it was in
  assert "run the same command again to resume" in preempted
  # The intermediate phase was COMPLETED, so the last launch only resumes the target at step 6.
  assert "[intermediate/mnli]" not in finished
  assert "[target/mnli__xnli] 12 steps" in finished and "resuming at step 6" in finished
  for d in (runs["run"] / "intermediate" / "mnli", runs["run"] / "target" / "mnli__xnli",
            runs["run"]):
    assert (d / "COMPLETED").exists()
  # Finished phases keep only their best parameters (default); the reference keeps everything.
  names = runs["gcs"].objects(runs["bucket"], "run/")
  assert not [n for n in names if "/checkpoints/" in n]
  for phase in ("intermediate/mnli", "target/mnli__xnli"):
    assert [n for n in names if n.startswith(f"run/{phase}/best_params/")]
    assert len([p for p in (runs["ref"] / phase / "checkpoints").iterdir()
                if p.name.isdigit()]) >= 2
    assert not (runs["ref"] / phase / "best_params").exists()


def test_interrupted_run_ends_bit_identical_to_uninterrupted(runs):
  for phase in (INTER, TARGET):
    _assert_trees_identical(_npz(runs["run_dump"] / f"{phase}.final.npz"),
                            _npz(runs["ref_dump"] / f"{phase}.final.npz"))
    assert (runs["run_dump"] / f"{phase}.json").read_text() == \
        (runs["ref_dump"] / f"{phase}.json").read_text()
  # Zero-shot results (every language and split), exactly; only the model path (inside each
  # workdir's demo_assets) differs between the two workdirs.
  for f in ("results.jsonl", "target/mnli__xnli/results.jsonl"):
    ref, run = (_rows(runs[k] / f) for k in ("ref", "run"))
    assert len(ref) == 2 * 2 and run == ref  # {en, de} x {validation, test}
  # One metrics history per phase: the first attempt's steps up to its checkpoint, then the rest,
  # every step's train loss and every dev score as in the reference, no step logged twice.
  for phase_dir in ("intermediate/mnli", "target/mnli__xnli"):
    rows = _jsonl(runs["run"] / phase_dir / "metrics.jsonl")
    ref = _logged(_jsonl(runs["ref"] / phase_dir / "metrics.jsonl"))
    assert _logged(rows) == ref, phase_dir
    assert [s for s, k in ref if k == "dev/score"] == [4, 8, 12]
    train_steps = [r["step"] for r in rows if "train/loss" in r]
    assert train_steps == list(range(1, 13)), phase_dir
  # Predictions too.
  for f in sorted((runs["ref"] / "predictions").rglob("*.jsonl")):
    assert (runs["run"] / str(f.relative_to(runs["ref"]))).read_text() == f.read_text()


def test_everything_a_run_writes_is_on_the_bucket(runs):
  """TensorBoard events (one file per attempt), plots, run records, and the report CLI."""
  gcs, bucket = runs["gcs"], runs["bucket"]
  names = set(gcs.objects(bucket, "run/"))
  for phase in ("intermediate/mnli", "target/mnli__xnli"):
    events = [n for n in names if n.startswith(f"run/{phase}/tensorboard/{phase}/events.")]
    assert len(events) == 2, events  # the killed (or preempted) attempt and its relaunch
  assert {"run/run.json", "run/results.md", "run/results.csv", "run/COMPLETED",
          "run/plots/per_language_xnli.png", "run/intermediate/mnli/run.json",
          "run/target/mnli__xnli/run.json"} <= names
  record = json.loads((runs["run"] / "run.json").read_text())
  assert record["workdir"] == f"gs://{bucket}/run" and len(record["previous"]) == 2
  assert "| intermediate | XNLI |" in (runs["run"] / "results.md").read_text()
  proc = subprocess.run([sys.executable, "-m", "stilts_jax.report.cli", str(runs["run"]),
                         "--out", f"gs://{bucket}/report"], env=H.cli_env(gcs.env),
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert {"report/summary.md", "report/per_language_xnli.png"} <= set(gcs.objects(bucket,
                                                                                  "report/"))


def _rows(path):
  # model and config fingerprint name the demo assets inside each workdir, so they differ.
  return [{k: v for k, v in r.items() if k not in ("model", "config")} for r in _jsonl(path)]


def _logged(rows):
  """{(step, name): value} of metrics.jsonl rows (wall-clock-dependent values left out)."""
  out = {}
  for row in rows:
    for k, v in row.items():
      if k in ("train/loss", "train/grad_norm", "dev/score"):
        out[(row["step"], k)] = v
  return out


def test_handoff_encoder_is_intermediate_best_and_heads_are_new(runs):
  from stilts_jax.checkpoint import Checkpointer, restore_encoder
  dump = runs["ref_dump"]
  inter_init, inter_final = _npz(dump / f"{INTER}.init.npz"), _npz(dump / f"{INTER}.final.npz")
  target_init = _npz(dump / f"{TARGET}.init.npz")
  enc = lambda t: {k: v for k, v in t.items() if k.startswith("['encoder']")}
  heads = lambda t: {k for k in t if k.startswith("['heads']")}

  # The target starts from the intermediate phase's handed-back (best) encoder, bit for bit ...
  _assert_trees_identical(enc(target_init), enc(inter_final))
  # ... which is really trained (not the pretrained one) ...
  assert any(not np.array_equal(inter_init[k], inter_final[k]) for k in enc(inter_init))
  # ... and is the encoder of the checkpoint Orbax ranks best, read back from disk.
  ckpt_dir = runs["ref"] / "intermediate" / "mnli" / "checkpoints"
  with Checkpointer(ckpt_dir, save_interval_steps=4, best_metric="score") as ckpt:
    best = ckpt.best_step()
  assert best is not None
  assert (dump / f"{INTER}.json").read_text().count(f'"best_step": {best}') == 1
  sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  abstract = _nest({k[len("['encoder']"):]: jax.ShapeDtypeStruct(v.shape, v.dtype,
                                                                  sharding=sharding)
                    for k, v in enc(inter_final).items()})
  on_disk = restore_encoder(ckpt_dir, abstract, step="best")
  for path, v in jax.tree_util.tree_flatten_with_path(on_disk)[0]:
    np.testing.assert_array_equal(np.asarray(v),
                                  target_init["['encoder']" + _keystr(path)])

  # Heads: the target has only its own, freshly initialised; nothing of the trained mnli head.
  assert heads(target_init) == {k.replace("mnli", "xnli") for k in heads(inter_init)}
  for k in heads(inter_init):
    t = k.replace("mnli", "xnli")
    assert not np.array_equal(target_init[t], inter_final[k]), k  # not the trained head
    np.testing.assert_array_equal(target_init[t], inter_init[k])  # same seed: a fresh init


def _keystr(path):
  return "".join(f"[{k.key!r}]" if hasattr(k, "key") else f"[{k.idx}]" for k in path)


def _nest(flat):
  """{"['a']['b'][0]": x} → {"a": {"b": {0: x}}} (keystr paths back to a pure dict)."""
  import ast
  import re
  out = {}
  for path, value in flat.items():
    keys = [ast.literal_eval(k) for k in re.findall(r"\[([^\]]+)\]", path)]
    node = out
    for k in keys[:-1]:
      node = node.setdefault(k, {})
    node[keys[-1]] = value
  return out


def test_eval_mode_reevaluates_best_checkpoints_without_training(runs, tmp_path):
  """mode=eval restores each target's best checkpoint and re-scores it, here on one more language;
  the languages of the first run get the same numbers, and nothing trains."""
  # The interrupted run's workdir (on the bucket): finished phases kept only their best parameters.
  run = runs["run"]
  kept = sorted(p.name for p in (run / "target/mnli__xnli/best_params").iterdir())
  metrics_before = (run / "target/mnli__xnli/metrics.jsonl").read_text()
  first = {(r["language"], r["split"], r["metric"]): r["value"]
           for r in H.read_jsonl(runs["ref"] / "target/mnli__xnli/results.jsonl")}
  proc = H.cli(str(run), *ARGS, "--config.mode=eval", "--config.eval.languages.xnli=en,de,fr",
               env=runs["gcs"].env)
  assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
  assert " steps, batch " not in proc.stdout + proc.stderr  # nothing trained
  rows = {(r["language"], r["split"], r["metric"]): r["value"]
          for r in _jsonl(run / "target/mnli__xnli/results.jsonl")}
  assert {lang for lang, _, _ in rows} == {"en", "de", "fr"}
  for key, value in first.items():
    assert rows[key] == value, key
  assert sorted(p.name for p in (run / "target/mnli__xnli/best_params").iterdir()) == kept
  assert not (run / "target/mnli__xnli/checkpoints").exists()
  assert (run / "target/mnli__xnli/metrics.jsonl").read_text() == metrics_before


def test_second_run_shares_the_intermediate_without_retraining(runs, tmp_path):
  """`intermediate_workdir` (how tpu_scripts/sweep.sh runs every target of a setting off one
  intermediate model): a new run pointed at the bucket run's finished intermediate phase trains
  only its target, from that phase's best encoder, and lands on the reference's numbers exactly.

  The demo's model lives in each workdir's demo_assets, so its path differs between the two runs
  (a real sweep names the same Hub model): the recipe check stops that, and allow_changed_config
  lets the run go on, recording the change in the shared phase's run.json and nothing else."""
  inter = f"{runs['run']}/intermediate/mnli"
  before = runs["gcs"].objects(runs["bucket"], "run/intermediate/")
  workdir = H.seed_workdir(tmp_path / "second", runs["assets"])
  dump = tmp_path / "dump"
  args = [*ARGS, f"--config.intermediate_workdir={inter}"]
  env = dict(runs["gcs"].env, STILTS_TEST_DUMP=str(dump))
  proc = H.cli(workdir, *args, env=env)
  assert proc.returncode == 2 and "intermediate/mnli was run with a different config" in \
      proc.stderr and "train.model.name" in proc.stderr, proc.stderr[-3000:]
  proc = H.cli(workdir, *args, "--config.allow_changed_config=True", env=env)
  log = proc.stdout + proc.stderr
  assert proc.returncode == 0, log[-3000:]
  assert "[intermediate/mnli]" not in log and "[target/mnli__xnli] 12 steps" in log
  assert not (workdir / "intermediate").exists()
  assert runs["gcs"].objects(runs["bucket"], "run/intermediate/") == before  # no new object
  record = json.loads(epath.Path(inter, "run.json").read_text())
  (change,) = record["changes"]
  assert change["diff"] and all(d.startswith("train.model.name") for d in change["diff"]), change
  assert sorted(p.name for p in dump.iterdir()) == [f"{TARGET}.{x}" for x in
                                                    ("final.npz", "init.npz", "json")]
  enc = lambda t: {k: v for k, v in t.items() if k.startswith("['encoder']")}
  _assert_trees_identical(enc(_npz(dump / f"{TARGET}.init.npz")),
                          enc(_npz(runs["ref_dump"] / f"{INTER}.final.npz")))
  assert _rows(workdir / "results.jsonl") == _rows(runs["ref"] / "results.jsonl")

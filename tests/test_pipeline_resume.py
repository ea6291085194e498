"""The CLI killed, preempted and relaunched ends exactly where an uninterrupted run ends; and the
STILTs hand-off (intermediate best encoder → target phase, fresh head).

Four launches of the real CLI (through tests/_pipeline_run.py, which adds kill/preempt/dump hooks)
on one CPU device, intermediate mnli → target xnli:
  reference:  uninterrupted
  launch 1:   SIGKILL just before intermediate step 6 (its step-4 checkpoint is on disk)
  launch 2:   resumes the intermediate phase at step 4, finishes it, is preempted at target step 6
              (checkpoint saved, exit code 75)
  launch 3:   resumes the target at step 6 and finishes
Final parameters of both phases, dev scores, train losses and the zero-shot results must be
bit-identical to the reference: on CPU every step is a pure function of (seed, step, state).
The reference keeps every checkpoint (checkpoint.keep_after_completion=all); the interrupted run
keeps only the best parameters of finished phases (the default), which the hand-off and mode=eval
then read. The same kill and relaunch on a gs:// workdir (a GCS emulator) ends where the local
reference ends too.
"""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

import _pipeline_helpers as H

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
def runs(tmp_path_factory):
  assets = H.demo_assets(tmp_path_factory.mktemp("assets"))
  root = tmp_path_factory.mktemp("resume")
  ref = H.seed_workdir(root / "ref", assets)
  proc, log = _launch(ref, root / "ref_dump", "--config.checkpoint.keep_after_completion=all")
  assert proc.returncode == 0, log[-3000:]

  run = H.seed_workdir(root / "run", assets)
  logs = []
  proc, log = _launch(run, root / "run_dump", STILTS_TEST_KILL_AT="intermediate:6")
  logs.append(log)
  assert proc.returncode == -9, log[-3000:]  # SIGKILL
  assert "SIGKILL at intermediate/mnli step 6" in log
  proc, log = _launch(run, root / "run_dump", STILTS_TEST_PREEMPT_AT="target:6")
  logs.append(log)
  assert proc.returncode == EXIT_PREEMPTED, log[-3000:]
  proc, log = _launch(run, root / "run_dump")
  logs.append(log)
  assert proc.returncode == 0, log[-3000:]
  return dict(ref=ref, run=run, ref_dump=root / "ref_dump", run_dump=root / "run_dump",
              logs=logs, assets=assets)


def _npz(path):
  with np.load(path) as f:
    return {k: f[k] for k in f.files}


def _assert_trees_identical(a, b):
  assert sorted(a) == sorted(b)
  for k in a:
    np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_relaunches_resume_from_their_checkpoints(runs):
  killed, preempted, finished = runs["logs"]
  assert "resuming" not in killed
  # The SIGKILL came before step 6; the newest finalized checkpoint was step 4.
  assert "[intermediate/mnli] 12 steps" in preempted and "resuming at step 4" in preempted
  assert "preempted during mnli__xnli at step 6" in preempted
  assert "run the same command again to resume" in preempted
  # The intermediate phase was COMPLETED, so the last launch only resumes the target at step 6.
  assert "[intermediate/mnli]" not in finished
  assert "[target/mnli__xnli] 12 steps" in finished and "resuming at step 6" in finished
  for d in (runs["run"] / "intermediate" / "mnli", runs["run"] / "target" / "mnli__xnli",
            runs["run"]):
    assert (d / "COMPLETED").exists()
  # Finished phases keep only their best parameters (default); the reference keeps everything.
  for phase in ("intermediate/mnli", "target/mnli__xnli"):
    assert not (runs["run"] / phase / "checkpoints").exists()
    assert [p.name for p in (runs["run"] / phase / "best_params").iterdir() if p.name.isdigit()]
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
  for phase_dir in ("intermediate/mnli", "target/mnli__xnli"):
    ref, run = (_logged(runs[k] / phase_dir / "metrics.jsonl") for k in ("ref", "run"))
    assert run == ref, phase_dir  # every step's train loss and every dev score
    assert [s for s, k in ref if k == "dev/score"] == [4, 8, 12]
  # Predictions too.
  for f in sorted((runs["ref"] / "predictions").rglob("*.jsonl")):
    assert (runs["run"] / f.relative_to(runs["ref"])).read_text() == f.read_text()


def _rows(path):
  # model and config fingerprint name the demo assets inside each workdir, so they differ.
  return [{k: v for k, v in r.items() if k not in ("model", "config")} for r in H.read_jsonl(path)]


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


def test_killed_run_on_gcs_resumes_and_ends_where_the_local_run_ends(runs, gcs):
  """The demo config with --workdir=gs://... (a GCS emulator on 127.0.0.1): SIGKILLed mid-phase,
  relaunched, it finishes with the local reference's results; metrics history, TensorBoard events,
  plots, run records and the report CLI all work on the bucket."""
  from etils import epath
  bucket = gcs.create_bucket()
  workdir = H.seed_workdir(f"gs://{bucket}/run", runs["assets"])
  proc = H.cli(workdir, *ARGS, env=dict(gcs.env, STILTS_TEST_KILL_AT="intermediate:6"))
  assert proc.returncode == -9, (proc.stdout + proc.stderr)[-3000:]
  # The kill came after a checkpoint committed on the bucket.
  assert any(n.startswith("run/intermediate/mnli/checkpoints/4/") for n in gcs.objects(bucket))
  proc = H.cli(workdir, *ARGS, env=gcs.env)
  out = proc.stdout + proc.stderr
  assert proc.returncode == 0, out[-3000:]
  assert "[intermediate/mnli] 12 steps" in out and "resuming at step 4" in out
  root = epath.Path(workdir)
  for f in ("results.jsonl", "target/mnli__xnli/results.jsonl"):
    rows = [{k: v for k, v in json.loads(l).items() if k not in ("model", "config")}
            for l in (root / f).read_text().splitlines() if l]
    assert rows == _rows(runs["ref"] / f), f
  # One metrics history per phase: the first attempt's steps up to its checkpoint, then the rest.
  for phase_dir in ("intermediate/mnli", "target/mnli__xnli"):
    logged = [json.loads(l) for l in (root / phase_dir / "metrics.jsonl").read_text().splitlines()]
    assert _logged_rows(logged) == _logged(runs["ref"] / phase_dir / "metrics.jsonl")
  steps = [r["step"] for r in logged]
  assert steps == sorted(steps)  # no replayed steps logged twice
  names = set(gcs.objects(bucket, "run/"))
  events = [n for n in names if n.startswith("run/intermediate/mnli/tensorboard/intermediate/mnli/"
                                            "events.out.tfevents.")]
  assert len(events) == 2, events  # one event file per attempt (purge_step drops the replay)
  assert {"run/run.json", "run/results.md", "run/results.csv", "run/COMPLETED",
          "run/plots/per_language_xnli.png", "run/intermediate/mnli/run.json",
          "run/target/mnli__xnli/run.json"} <= names
  assert not [n for n in names if "/checkpoints/" in n]  # finished phases: best params only
  assert [n for n in names if n.startswith("run/target/mnli__xnli/best_params/")]
  assert "| intermediate | XNLI |" in (root / "results.md").read_text()
  # The report CLI reads the bucket and writes to it.
  proc = subprocess.run([sys.executable, "-m", "stilts_jax.report.cli", str(workdir), "--out",
                         f"gs://{bucket}/report"], env=H.cli_env(gcs.env), capture_output=True,
                        text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert {"report/summary.md", "report/per_language_xnli.png"} <= set(gcs.objects(bucket, "report/"))


def _logged_rows(rows):
  out = {}
  for row in rows:
    for k, v in row.items():
      if k in ("train/loss", "train/grad_norm", "dev/score"):
        out[(row["step"], k)] = v
  return out


def _logged(path):
  """{(step, name): value} of a phase's metrics.jsonl (wall-clock-dependent values left out)."""
  return _logged_rows(H.read_jsonl(path))


def test_eval_mode_reevaluates_best_checkpoints_without_training(runs, tmp_path):
  """mode=eval restores each target's best checkpoint and re-scores it, here on one more language;
  the languages of the first run get the same numbers, and nothing trains."""
  # The interrupted run's workdir: finished phases kept only their best parameters.
  run = runs["run"]
  kept = sorted(p.name for p in (run / "target/mnli__xnli/best_params").iterdir())
  metrics_before = (run / "target/mnli__xnli/metrics.jsonl").read_text()
  first = {(r["language"], r["split"], r["metric"]): r["value"]
           for r in H.read_jsonl(runs["ref"] / "target/mnli__xnli/results.jsonl")}
  proc = H.cli(run, *ARGS, "--config.mode=eval", "--config.eval.languages.xnli=en,de,fr")
  assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
  assert " steps, batch " not in proc.stdout + proc.stderr  # nothing trained
  rows = {(r["language"], r["split"], r["metric"]): r["value"]
          for r in H.read_jsonl(run / "target/mnli__xnli/results.jsonl")}
  assert {lang for lang, _, _ in rows} == {"en", "de", "fr"}
  for key, value in first.items():
    assert rows[key] == value, key
  assert sorted(p.name for p in (run / "target/mnli__xnli/best_params").iterdir()) == kept
  assert not (run / "target/mnli__xnli/checkpoints").exists()
  assert (run / "target/mnli__xnli/metrics.jsonl").read_text() == metrics_before

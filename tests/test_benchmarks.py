"""The benchmark scripts run end to end on a tiny model and report what docs/performance.md relies
on; the FLOPs/MFU arithmetic matches a hand computation. No speed is asserted here: throughput is
measured by the benchmarks themselves, never by timed tests."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
  sys.path.insert(0, str(ROOT))

from _real_data import REAL_DATA, needs_real_data  # noqa: E402
from benchmarks import (  # noqa: E402
    common, dispatch, dropout_masks, eval_throughput, featurize, phase_loop, qa_postprocess,
    run_all, train_throughput)

RATE_KEYS = ("tokens_per_s", "real_tokens_per_s", "sequences_per_s", "step_time_s",
             "model_tflops_per_s", "peak_memory_bytes")


# ----------------------------------------------------------------------------------------------
# Arithmetic.


def test_matmul_params_and_flops_per_token_match_hand_computation():
  base, large = common.make_config("base"), common.make_config("large")
  # 12 × (4·768² + 2·768·3072) and 24 × (4·1024² + 2·1024·4096) = 12·L·d².
  assert common.matmul_params(base) == 12 * (4 * 768**2 + 2 * 768 * 3072) == 84_934_656
  assert common.matmul_params(large) == 12 * 24 * 1024**2 == 301_989_888
  for cfg, n_mm in ((base, 84_934_656), (large, 301_989_888)):
    for t in (128, 512):
      attn = 12 * cfg.num_hidden_layers * cfg.hidden_size * t
      assert common.flops_per_token(cfg, t) == 6 * n_mm + attn
      assert common.flops_per_token(cfg, t, train=False) * 3 == 6 * n_mm + attn
  # perf.md §1's table: 1.850 / 1.963 GFLOP per token for Large at T = 128 / 512.
  assert common.flops_per_token(large, 128) / 1e9 == pytest.approx(1.850, abs=5e-4)
  assert common.flops_per_token(large, 512) / 1e9 == pytest.approx(1.963, abs=5e-4)
  # Classification head on <s>: dense d×d + out d×3, ×6 for training, once per sequence.
  assert common.head_flops_per_sequence(large) == 6 * (1024**2 + 1024 * 3)
  assert common.step_flops(base, 32 * 128, 128, 32) == (
      32 * 128 * common.flops_per_token(base, 128) + 32 * 6 * (768**2 + 768 * 3))


def test_mfu_and_device_peaks():
  assert common.mfu(0.5 * 989.4e12 * 3.0, 3.0, 1, 989.4e12) == pytest.approx(0.5)
  assert common.mfu(4e15, 1.0, 8, 1e15) == pytest.approx(0.5)  # divided by every device
  assert common.mfu(1.0, 1.0, 1, None) is None
  assert common.device_peak("NVIDIA H100 80GB HBM3", "gpu")[1] == 989.4e12
  assert common.device_peak("NVIDIA H200", "gpu")[1] == 989.4e12
  assert common.device_peak("NVIDIA A100-SXM4-80GB", "gpu")[1] == 312e12
  assert common.device_peak("TPU v4", "tpu")[1] == 275e12
  assert common.device_peak("TPU v5 lite", "tpu")[1] == 197e12
  assert common.device_peak("TPU v5", "tpu")[1] == 459e12
  # Not credited with the SXM peak, and no made-up CPU peak.
  assert common.device_peak("NVIDIA H100 PCIe", "gpu")[1] is None
  assert common.device_peak("cpu", "cpu")[1] is None
  assert common.device_peak("cpu", "cpu", override_tflops=2.0)[1] == 2e12


def test_mnli_mix_and_packing_raise_the_real_token_fraction():
  from stilts_jax.data import DEFAULT_BUCKETS, TrainBatches, resolve_buckets
  from stilts_jax.data.packing import pack_features
  rng = np.random.default_rng(0)
  lengths = common.lognormal_lengths(4000, 128, rng)
  assert lengths.min() >= common.MIN_LEN and lengths.max() <= 128
  assert 35 <= lengths.mean() <= 45  # the documented MNLI-like mean of ~40 tokens
  feats = common.synthetic_features(lengths, 128, 1000, rng)
  np.testing.assert_array_equal(feats["attention_mask"].sum(1), lengths)
  keys = ("input_ids", "attention_mask", "label")
  padded = feats["attention_mask"].mean()
  bucketed = TrainBatches({k: feats[k] for k in keys}, 32, 0,
                          buckets=resolve_buckets(DEFAULT_BUCKETS, 128), group_by_length=True)
  batches = [bucketed.batch_at(s) for s in range(bucketed.steps_per_epoch)]
  bucket_frac = (sum(b["attention_mask"].sum() for b in batches)
                 / sum(b["attention_mask"].size for b in batches))
  packed = pack_features({k: feats[k] for k in (*keys, "example_index")}, 128)
  packed_frac = packed["attention_mask"].mean()
  assert padded < 0.4 < bucket_frac < packed_frac
  assert packed_frac > 0.9


# ----------------------------------------------------------------------------------------------
# End to end.


def _check_rates(side: dict):
  for key in RATE_KEYS:
    assert side[key] > 0, (key, side[key])
  assert 0 < side["real_token_fraction"] <= 1
  assert side["real_tokens_per_s"] <= side["tokens_per_s"] * (1 + 1e-9)


@pytest.fixture(scope="module")
def train_runs(tmp_path_factory):
  """The MNLI-like mix at T=64: a padded jax run with --compare-torch from the command line (a
  fresh process, as a user runs it) and a packed jax run in process."""
  out = tmp_path_factory.mktemp("bench")
  shared = ["--size=tiny", "--seq-len=64", "--batch-size=4", "--steps=2", "--warmup=1",
            "--length-mix=mnli", "--peak-tflops=1"]
  # One thread per framework, so a loaded 2-core host stays usable (see common.limit_threads).
  env = dict(os.environ, XLA_FLAGS="", JAX_PLATFORMS="cpu")
  proc = subprocess.Popen(
      [sys.executable, "benchmarks/train_throughput.py", *shared, "--compare-torch", "--threads=1",
       f"--json={out / 'padded.json'}"],
      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  # Meanwhile (the two compiles overlap; no timing is asserted, so sharing the CPU is harmless):
  packed = train_throughput.main(shared + ["--packing", f"--json={out / 'packed.json'}"])
  _, stderr = proc.communicate(timeout=240)
  assert proc.returncode == 0, stderr[-3000:]
  assert json.loads((out / "packed.json").read_text())["jax"] == json.loads(
      json.dumps(packed["jax"], default=str))
  return {"padded": json.loads((out / "padded.json").read_text()), "packed": packed,
          "stderr": stderr}


def test_train_benchmark_reports_rates_and_mfu(train_runs):
  r = train_runs["padded"]
  for key in ("jax", "torch", "ratio", "device", "command", "date", "flops"):
    assert key in r
  assert r["command"].startswith("python benchmarks/train_throughput.py --size=tiny")
  jax_side = r["jax"]
  _check_rates(jax_side)
  assert jax_side["finite"] and jax_side["compiles"] >= 1
  assert jax_side["steps_timed"] == 2
  # MFU is the model FLOP rate over the (overridden, 1 TFLOP/s) peak, on padded and real tokens.
  assert jax_side["mfu"] == pytest.approx(jax_side["model_tflops_per_s"] / 1.0)
  assert jax_side["mfu_real"] == pytest.approx(jax_side["model_tflops_per_s_real"] / 1.0)
  assert jax_side["mfu_real"] < jax_side["mfu"]  # the mix has padding
  cfg = common.make_config("tiny")
  assert r["flops"]["train_flops_per_token"] == common.flops_per_token(cfg, 64)


def test_compare_torch_on_cpu(train_runs):
  r = train_runs["padded"]
  _check_rates(r["torch"])
  assert r["torch"]["device"]["device"] == "cpu" and r["torch"]["dtype"] == "float32"
  assert r["torch"]["device"]["threads"] == 1
  assert math.isfinite(r["torch"]["loss_last"])
  # Torch pads every batch to T, as the HF Trainer default; same MFU formula.
  assert r["torch"]["steps_by_shape"] == {"(4, 64)": 2}
  assert r["torch"]["mfu"] == pytest.approx(r["torch"]["model_tflops_per_s"] / 1.0)
  for key in ("tokens_per_s", "real_tokens_per_s", "sequences_per_s"):
    assert r["ratio"][key] == pytest.approx(r["jax"][key] / r["torch"][key])
  assert "jax/torch real tokens/s" in train_runs["stderr"]


def test_packing_increases_real_tokens_per_row(train_runs):
  padded, packed = train_runs["padded"]["jax"], train_runs["packed"]["jax"]
  _check_rates(packed)
  assert packed["real_token_fraction"] > padded["real_token_fraction"]
  assert packed["real_token_fraction"] > 0.85
  # Several examples per packed row; one per row when padded.
  assert packed["sequences_per_s"] > 1.2 * packed["rows_per_s"]
  assert padded["sequences_per_s"] == pytest.approx(padded["rows_per_s"])
  assert packed["compiles"] == 1  # one bucket: packed rows are always T long


def test_free_running_rate_is_reported_beside_the_synced_one(train_runs):
  for side in (train_runs["padded"]["jax"], train_runs["packed"]["jax"]):
    assert side["free_run_s"] > 0 and side["free_run_real_tokens_per_s"] > 0
    # The same steps and FLOPs over the free-running time: MFU scales by the rate ratio.
    assert side["free_run_mfu"] / side["mfu"] == pytest.approx(
        side["free_run_real_tokens_per_s"] / side["real_tokens_per_s"])


def test_random_model_draws_like_the_initializers_without_compiling_them():
  import jax
  from flax import nnx

  from stilts_jax import sharding as shd
  from stilts_jax.models import TaskModel
  cfg = common.make_config("tiny")
  heads = {"t": ("classification", 3)}
  mesh = shd.make_mesh(devices=jax.devices()[:1])
  ours = nnx.split(common.random_model(cfg, heads, mesh, seed=1))
  ref = nnx.split(shd.create_sharded(lambda: TaskModel(cfg, heads, rngs=nnx.Rngs(0)), mesh))
  assert ours[0] == ref[0]  # the same module structure
  mine = dict(jax.tree_util.tree_leaves_with_path(ours[1]))
  theirs = dict(jax.tree_util.tree_leaves_with_path(ref[1]))
  assert mine.keys() == theirs.keys()
  for path, a in mine.items():
    b = theirs[path]
    assert a.shape == b.shape and a.dtype == b.dtype and a.sharding == b.sharding, path
    name = [k.key for k in path if isinstance(k, jax.tree_util.DictKey)][-1]
    if name == "bias":
      assert not np.asarray(a).any(), path
    elif name == "scale":
      assert (np.asarray(a) == 1).all(), path
    elif a.size > 1000:
      assert np.asarray(a).std() == pytest.approx(np.asarray(b).std(), rel=0.1), path


PINNING_PROBE = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from benchmarks import common
pinning = common.limit_threads(1)
import jax, jax.numpy as jnp
jax.jit(lambda a: a @ a)(jnp.ones((256, 256))).block_until_ready()
main = os.getpid()
threads = {}
for tid in os.listdir("/proc/self/task"):
  with open(f"/proc/self/task/{tid}/status") as f:
    allowed = [l.split()[1] for l in f if l.startswith("Cpus_allowed_list")][0]
  threads[int(tid)] = allowed
print(json.dumps({"pinning": pinning, "main": threads.pop(main), "others": sorted(threads.values()),
                  "xla_flags": os.environ.get("XLA_FLAGS", "")}))
"""


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs Linux and 2 CPUs")
def test_threads_1_gives_xla_one_cpu_and_the_host_thread_the_others():
  """`--threads=1`: the XLA client's threads (started from a thread pinned to the last CPU) run
  on that CPU only, the benchmark's own thread on the rest. The XLA_FLAGS thread flags this used
  to set changed nothing (and a bare `intra_op_parallelism_threads=1` ended the flags' parsing)."""
  proc = subprocess.run([sys.executable, "-c", PINNING_PROBE, str(ROOT)], capture_output=True,
                        text=True, timeout=120, env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert proc.returncode == 0, proc.stderr[-2000:]
  r = json.loads(proc.stdout.strip().splitlines()[-1])
  cpus = sorted(os.sched_getaffinity(0))
  assert r["pinning"] == {"xla_cpus": cpus[-1:], "host_cpus": cpus[:-1]}
  last = str(cpus[-1])
  assert r["main"] != last and last not in r["main"].split(",")
  assert r["others"].count(last) >= 1  # XLA's pool threads
  assert "intra_op_parallelism_threads" not in r["xla_flags"]
  # In a process whose client already runs (this one), nothing is pinned, and it says so.
  import jax
  jax.devices()
  assert common.limit_threads(1)["xla_cpus"] is None
  assert common.limit_threads(None) is None


def test_dispatch_benchmark_times_calls_per_depth(tmp_path):
  r = dispatch.main(["--layers=1,2", "--steps=3", "--seq-len=16", "--batch-size=2",
                     "--threads=1", f"--json={tmp_path / 'd.json'}"])
  assert json.loads((tmp_path / "d.json").read_text())["by_layers"] == json.loads(
      json.dumps(r["by_layers"]))
  one, two = r["by_layers"]
  # The blocks are stacked: params, Adam's mu and nu hold one array per block parameter, so a
  # deeper encoder has no more state leaves (each block of its own added 48).
  assert two["state_leaves"] == one["state_leaves"]
  for row in (one, two):
    assert row["finite"] and 0 < row["dispatch_us"] and row["dispatch_us"] <= row["synced_step_us"]
  with pytest.raises(SystemExit):
    dispatch.main(["--layers=2,x"])


def test_phase_loop_benchmark_runs_both_loops_and_reports_the_ratio(tmp_path):
  r = phase_loop.main(["--steps=2,3", "--repeats=1", "--layers=1", "--hidden=32",
                       "--batch-size=8", "--seq-len=8", f"--json={tmp_path / 'l.json'}"])
  assert json.loads((tmp_path / "l.json").read_text())["ratio"] == r["ratio"]
  assert r["steps"] == [2, 3] and r["processes"] == 1
  assert r["ratio"] == r["bare_ms_per_step"] / r["loop_ms_per_step"]
  host = r["host_ms_per_step"]
  assert r["host_extra_ms_per_step"] == host["loop"] - host["bare"]
  assert r["host_share"] == host["loop"] / r["bare_ms_per_step"]
  assert len(r["runs_ms_per_step"]["bare"]) == len(r["runs_ms_per_step"]["loop"]) == 1
  with pytest.raises(SystemExit):
    phase_loop.main(["--steps=3,3"])
  # run_all runs it on the accelerator (item 2's ratio) and holds only real step counts to 0.99.
  text, target, met = run_all.summary("phase_loop", r)
  assert text.startswith(f"bare {r['bare_ms_per_step']:.3f} / loop") and target.startswith(">= 0.99")
  assert met is None
  assert run_all.summary("phase_loop", dict(r, steps=[100, 300], ratio=0.995))[2] is True
  assert run_all.summary("phase_loop", dict(r, steps=[100, 300], ratio=0.95))[2] is False
  assert ("phase_loop", "phase_loop", ["--steps=100,300", "--repeats=3", "--log-every=10"]) in \
      run_all.parts(quick=False, threads=None)


def test_dropout_benchmark_times_both_masks_on_one_layers_shapes(tmp_path):
  r = dropout_masks.main(["--batch-size=2", "--seq-len=16", "--hidden=32", "--heads=2",
                          "--calls=3", f"--json={tmp_path / 'm.json'}"])
  assert json.loads((tmp_path / "m.json").read_text())["ratio"] == r["ratio"]
  assert r["elements"] == 2 * 2 * 16 * 16 + 2 * 2 * 16 * 32 and r["dtype"] == "float32"
  assert set(r["ms"]) == {"bits16", "bernoulli"} and all(v > 0 for v in r["ms"].values())
  assert r["ratio"] == r["ms"]["bernoulli"] / r["ms"]["bits16"]
  # Both methods drop at the rate and keep the mean: they time the same work.
  import jax
  import jax.numpy as jnp
  x = jnp.ones((64, 64, 64))
  for name, apply in dropout_masks.methods(0.1).items():
    y = apply(jax.random.key(0), x)
    assert abs(float(jnp.mean(y == 0)) - 0.1) < 0.01 and abs(float(y.mean()) - 1) < 0.02, name
  text, target, met = run_all.summary("dropout_masks", r)
  assert "16-bit" in text and target.startswith(">= 1x") and met == (r["ratio"] >= 1)
  with pytest.raises(SystemExit):
    dropout_masks.main(["--rate=1"])


def test_run_all_records_every_part_even_when_one_fails(tmp_path, monkeypatch, train_runs):
  real = run_all.run_part

  def failing_dispatch(script, args):
    if script == "dispatch":
      raise RuntimeError("stand-in failure\nsecond line")
    return real(script, args)

  monkeypatch.setattr(run_all, "run_part", failing_dispatch)
  record = run_all.main(["--quick", f"--out={tmp_path}", "--threads=1",
                         "--only=dispatch,xnli_eval"])
  saved = json.loads((tmp_path / "run_all.json").read_text())
  parts = {p["name"]: p for p in saved["parts"]}
  assert list(parts) == [p["name"] for p in record["parts"]] == ["gpu_tests", "dispatch",
                                                                  "xnli_eval"]
  assert parts["gpu_tests"]["status"] == "skipped"  # no CUDA GPU here
  assert parts["dispatch"]["status"] == "failed"
  assert parts["dispatch"]["error"] == "RuntimeError: stand-in failure"
  assert parts["xnli_eval"]["status"] == "ok"  # the failure did not stop the next part
  assert parts["xnli_eval"]["command"].startswith("python benchmarks/eval_throughput.py --size=tiny")
  assert parts["xnli_eval"]["met"] is None  # a tiny model is not held to the Large target
  table = (tmp_path / "run_all.md").read_text()
  assert "| dispatch | failed |" in table and "| xnli_eval | ok |" in table
  # Over the budget, nothing more starts, and the table says so.
  skipped = run_all.main(["--quick", f"--out={tmp_path / 'b'}", "--budget-s=0",
                          "--only=xnli_eval"])
  assert skipped["parts"][-1]["status"] == "skipped"
  assert "over the time budget" in skipped["parts"][-1]["error"]
  # The training rows summarise a real train_throughput record.
  text, target, met = run_all.summary("mnli_bucketed_vs_torch", train_runs["padded"])
  assert "torch" in text and "x" in text and target.startswith(">= 2.5x") and met is None


def test_eval_benchmark_stream_and_per_language_loop(tmp_path):
  path = tmp_path / "eval.json"
  r = eval_throughput.main(["--size=tiny", "--seq-len=64", "--pairs=150", "--batch-size=16",
                            "--buckets=32,64", f"--json={path}"])
  assert json.loads(path.read_text())["examples"] == 150
  for key in ("jax", "per_language_loop", "ratio", "device", "command", "date"):
    assert key in r
  stream, loop = r["jax"], r["per_language_loop"]
  for side in (stream, loop):
    for key in ("examples_per_s", "total_time_s", "cold_time_s", "tokens_per_s",
                "real_tokens_per_s"):
      assert side[key] > 0, key
    # One compile per length bucket used, however many batches and languages.
    assert side["compiles"] == len(side["batches_by_shape"])
  assert len(loop["time_per_language_s"]) == 15 == len(r["languages"])
  assert sum(r["languages"].values()) == 150
  assert r["predictions_match"]
  assert r["host_time_s"]["stream"] > 0 and r["host_time_s"]["bare"] > 0
  assert r["host_share"] == r["host_time_s"]["stream"] / r["bare"]["total_time_s"]
  # One length-sorted stream pads less than 15 separately sorted ones.
  assert stream["batches"] < loop["batches"]
  assert stream["real_token_fraction"] >= loop["real_token_fraction"]


@needs_real_data
def test_qa_postprocess_benchmark_on_real_xquad(tmp_path, tokenizer_dir):
  """Both post-processors run on the same real XQuAD windows and logits; the record says how fast
  each was and how often they agree (they differ only where HF's unmasked top-k holds question or
  padding positions)."""
  r = qa_postprocess.main([f"--xquad-dir={REAL_DATA / 'xquad'}", "--languages=zh",
                           f"--tokenizer={tokenizer_dir}", "--repeats=1",
                           f"--json={tmp_path / 'qa.json'}"])
  assert json.loads((tmp_path / "qa.json").read_text()) == json.loads(json.dumps(r))
  assert r["questions"] == 1190 and r["windows"] >= r["questions"]
  for key in ("ours_us_per_question", "hf_recipe_us_per_question", "speed_vs_hf_recipe"):
    assert math.isfinite(r[key]) and r[key] > 0, key
  assert 0.9 <= r["identical_answers"] <= 1.0
  assert r["command"].startswith("python benchmarks/qa_postprocess.py --xquad-dir=")


@needs_real_data
def test_featurize_benchmark_on_real_data(tmp_path, tokenizer_dir):
  """Every featurizer kind and its HF recipe run on the real files; the record has both times."""
  r = featurize.main([f"--real-data={REAL_DATA}", "--xquad-languages=zh",
                      f"--tokenizer={tokenizer_dir}", "--repeats=1",
                      f"--json={tmp_path / 'featurize.json'}"])
  assert json.loads((tmp_path / "featurize.json").read_text()) == json.loads(json.dumps(r))
  got = r["tasks"]
  assert {k: (v["task"], v["examples"]) for k, v in got.items() if k != "tagging"} == {
      "pairs": ("pawsx", 4000), "qa": ("xquad", 1190)}
  assert got["tagging"]["task"] == "udpos" and got["tagging"]["files"] >= 10
  for v in got.values():
    for key in ("ours_s", "hf_recipe_s", "speed_vs_hf_recipe"):
      assert math.isfinite(v[key]) and v[key] > 0, key

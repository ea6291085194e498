"""The accelerator numbers in one command: GPU smoke tests, dispatch, training MFU and throughput
against transformers PyTorch, and XNLI evaluation, on whatever device JAX sees, within a time
budget; one JSON and one markdown table.

  python benchmarks/run_all.py --out=perf            # on an H100/H200: about 6-8 minutes
  python benchmarks/run_all.py --out=perf --quick    # tiny model, any machine: a smoke run

The parts run in priority order (what the issues' targets need first), each in this process (one
JAX client, one import of everything) and each guarded: a part that fails is recorded with its
error and the next one runs. A part that would start after `--budget-s` is skipped and recorded
as skipped, so a short loan of a device always comes back with a table. The GPU tests run first,
in a subprocess, before this process starts its own JAX client (and takes the GPU's memory).

Each part's arguments are those of its script, so any row can be rerun alone: the JSON records
the equivalent command (`python benchmarks/train_throughput.py ...`).

Targets (issue 17, for XLM-R Large in bf16 on one H100/H200): MFU >= 50 % at T=512 and >= 40 % at
T=128; >= 2.5x transformers' real tokens/s on the MNLI mix; XNLI evaluation (112,500 pairs)
<= 15 s after compile; dispatch <= 0.5 ms per step at L=24; the phase loop >= 0.99x the bare
step (tiny model). Also measured: the model's dropout masks against `jax.random.bernoulli`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/run_all.py` from the repo root
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--out", default="perf", help="folder for run_all.json and run_all.md")
  p.add_argument("--quick", action="store_true",
                 help="tiny model, few steps: checks the whole command on any machine")
  p.add_argument("--budget-s", type=float, default=480.0,
                 help="start no part after this many seconds (8 minutes by default)")
  p.add_argument("--only", default="", help="comma-separated part names to run (default: all)")
  p.add_argument("--threads", type=int, default=None, help="CPU only: XLA/torch intra-op threads")
  return p.parse_args(argv)


def parts(quick: bool, threads: int | None) -> list[tuple[str, str, list[str]]]:
  """(name, script, arguments), in priority order."""
  if quick:
    size, t_long, t_short, b, n_long, n_short = "tiny", 128, 64, 4, 3, 4
    eval_args = ["--size=tiny", "--seq-len=64", "--pairs=300", "--batch-size=32",
                 "--buckets=32,64", "--repeats=1"]
    dispatch_args = ["--layers=1,2", "--steps=5", "--seq-len=16", "--batch-size=2"]
    loop_args = ["--steps=2,3", "--repeats=1", "--layers=1", "--hidden=32", "--batch-size=8",
                 "--seq-len=8"]
    dropout_args = ["--batch-size=2", "--seq-len=32", "--hidden=32", "--heads=2", "--calls=3"]
  else:
    size, t_long, t_short, b, n_long, n_short = "large", 512, 128, 32, 30, 50
    eval_args = ["--size=large", "--pairs=112500", "--batch-size=512", "--repeats=2"]
    dispatch_args = ["--layers=2,12,24", "--steps=50"]
    # The tiny model, whose short step shows any host work the loop adds (docs/performance.md).
    loop_args = ["--steps=100,300", "--repeats=3", "--log-every=10"]
    dropout_args = ["--batch-size=32", "--seq-len=512"]  # XLM-R Large's layer (the defaults)
  common_args = [f"--size={size}", f"--batch-size={b}", "--warmup=3"]
  if threads:
    common_args.append(f"--threads={threads}")
    eval_args = eval_args + [f"--threads={threads}"]
    dispatch_args = dispatch_args + [f"--threads={threads}"]
    dropout_args = dropout_args + [f"--threads={threads}"]
  mnli = [*common_args, f"--seq-len={t_short}", f"--steps={n_short}", "--length-mix=mnli",
          "--compare-torch"]
  return [
      ("dispatch", "dispatch", dispatch_args),
      ("phase_loop", "phase_loop", loop_args),
      ("dropout_masks", "dropout_masks", dropout_args),
      ("train_t128", "train_throughput", [*common_args, f"--seq-len={t_short}",
                                          f"--steps={n_short}"]),
      ("mnli_packed_vs_torch", "train_throughput", [*mnli, "--packing"]),
      ("train_t512", "train_throughput", [*common_args, f"--seq-len={t_long}",
                                          f"--steps={n_long}"]),
      ("xnli_eval", "eval_throughput", [*eval_args, "--no-per-language"]),
      ("mnli_bucketed_vs_torch", "train_throughput", mnli),
      ("train_t512_fused", "train_throughput", [*common_args, f"--seq-len={t_long}",
                                                f"--steps={n_long}", "--attention-dropout=0"]),
  ]


def gpu_tests() -> dict[str, Any]:
  """`pytest -m gpu` in a subprocess (the suite's own GPU command, docs/performance.md §8)."""
  cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-rs", "-n", "0",
         "-p", "no:cacheprovider", "tests/test_gpu_smoke.py"]
  proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
  lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
  return {"command": "python -m pytest -q -m gpu -rs -n 0 tests/test_gpu_smoke.py",
          "returncode": proc.returncode, "summary": lines[-1] if lines else "",
          "output_tail": (proc.stdout + proc.stderr)[-4000:]}


def run_part(script: str, args: list[str]) -> dict[str, Any]:
  import importlib
  module = importlib.import_module(f"benchmarks.{script}")
  # The scripts print their whole JSON to stdout; here only the table matters.
  with contextlib.redirect_stdout(io.StringIO()):
    return module.main(args)


def summary(name: str, r: dict[str, Any]) -> tuple[str, str, bool | None]:
  """(what was measured, the target, whether it was met) for one part's result."""
  pct = lambda x: "n/a" if x is None else f"{100 * x:.1f} %"
  if name == "gpu_tests":
    return r["summary"], "all pass", r["returncode"] == 0
  if name == "dispatch":
    rows = r["by_layers"]
    text = "; ".join(f"L={x['layers']}: {x['dispatch_us']:,.0f} µs" for x in rows)
    deepest = max(rows, key=lambda x: x["layers"])
    return text, "<= 500 µs at L=24", (deepest["dispatch_us"] <= 500
                                         if deepest["layers"] == 24 else None)
  if name == "phase_loop":
    text = (f"bare {r['bare_ms_per_step']:.3f} / loop {r['loop_ms_per_step']:.3f} ms per step = "
            f"{r['ratio']:.3f}; host thread {r['host_ms_per_step']['loop']:.3f} ms per step "
            f"(+{r['host_extra_ms_per_step']:.3f} in the loop)")
    return text, ">= 0.99 (bare / loop)", r["ratio"] >= 0.99 if r["steps"][0] >= 100 else None
  if name == "dropout_masks":
    ms = r["ms"]
    text = (f"one layer's masks, {r['elements']:,} elements ({r['dtype']}): 16-bit "
            f"{ms['bits16']:.2f} ms, bernoulli {ms['bernoulli']:.2f} ms = {r['ratio']:.2f}x")
    return text, ">= 1x (the model's 16-bit masks no slower)", r["ratio"] >= 1
  if name == "xnli_eval":
    j = r["jax"]
    text = (f"{r['examples']:,} pairs: {j['total_time_s']:.2f} s warm, {j['cold_time_s']:.1f} s "
            f"cold, {j['compiles']} compiles, fwd MFU {pct(j['mfu'])}")
    full = r["examples"] >= 112_500 and "large" in r["command"]
    return text, "<= 15 s warm (Large, 112,500 pairs)", (j["total_time_s"] <= 15 if full
                                                          else None)
  j = r["jax"]
  t = r["args"]["seq_len"]
  text = (f"MFU {pct(j['mfu'])} (real {pct(j['mfu_real'])}), free-running {pct(j['free_run_mfu'])};"
          f" {j['real_tokens_per_s']:,.0f} real tok/s, step {1e3 * j['step_time_s']:.1f} ms; "
          f"{j['attention_effective'].split(' ')[0]}")
  large = r["args"]["size"] == "large"
  if "torch" in r:
    ratio = r["ratio"]["real_tokens_per_s"]
    text += f"; torch {r['torch']['real_tokens_per_s']:,.0f} real tok/s = {ratio:.2f}x"
    return text, ">= 2.5x torch real tok/s", ratio >= 2.5 if large else None
  floor = 0.5 if t >= 512 else 0.4
  return text, f">= {floor:.0%} MFU", (j["mfu"] >= floor if large and j["mfu"] is not None
                                       else None)


def markdown(record: dict[str, Any]) -> str:
  dev = record.get("device") or {}
  lines = [f"# stilts-jax accelerator benchmarks, {record['date']}", "",
           f"Device: {dev.get('device_kind', '?')} ({dev.get('platform', '?')}), "
           f"jax {dev.get('jax', '?')}; command: `{record['command']}`; "
           f"{record['total_s']:.0f} s in all.", "",
           "| part | status | s | measured | target | met |", "| --- | --- | ---: | --- | --- | --- |"]
  for p in record["parts"]:
    met = {True: "yes", False: "**no**", None: "–"}[p.get("met")]
    lines.append(f"| {p['name']} | {p['status']} | {p['seconds']:.0f} | "
                 f"{p.get('measured', p.get('error', ''))} | {p.get('target', '')} | {met} |")
  return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
  args = parse_args(argv)
  # Torch (the --compare-torch baseline) and JAX share the GPU in this one process: JAX takes
  # half instead of its default 75 %, which leaves torch ample room for Large at B=32.
  os.environ.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.5")
  from benchmarks import common
  only = {s for s in args.only.split(",") if s}
  record: dict[str, Any] = {"benchmark": "run_all", "args": vars(args), "parts": []}
  record.update(common.record("benchmarks/run_all.py", argv))
  os.makedirs(args.out, exist_ok=True)
  start = time.perf_counter()

  def attempt(name: str, fn: Callable[[], dict[str, Any]], command: str) -> None:
    entry: dict[str, Any] = {"name": name, "command": command}
    elapsed = time.perf_counter() - start
    if only and name not in only:
      return
    if elapsed > args.budget_s:
      entry.update(status="skipped", seconds=0.0,
                   error=f"over the time budget ({elapsed:.0f} s > --budget-s={args.budget_s:.0f})")
    else:
      print(f"[run_all {elapsed:5.0f} s] {name}: {command}", file=sys.stderr, flush=True)
      t0 = time.perf_counter()
      try:
        result = fn()
        entry.update(status="ok", result=result)
        entry["measured"], entry["target"], entry["met"] = summary(name, result)
      except Exception as e:  # one failed part must not lose the others' numbers
        entry.update(status="failed", error=f"{type(e).__name__}: {e}".splitlines()[0][:300],
                     traceback=traceback.format_exc()[-4000:])
      entry["seconds"] = time.perf_counter() - t0
      print(f"[run_all] {name}: {entry['status']} in {entry['seconds']:.0f} s: "
            f"{entry.get('measured', entry.get('error', ''))}", file=sys.stderr, flush=True)
    record["parts"].append(entry)
    write(record, args.out, start)  # after every part: a killed run keeps what it measured

  gpu_visible = _torch_sees_cuda()
  if gpu_visible:
    attempt("gpu_tests", gpu_tests, "python -m pytest -q -m gpu -rs -n 0 tests/test_gpu_smoke.py")
  else:
    record["parts"].append({"name": "gpu_tests", "status": "skipped", "seconds": 0.0,
                            "error": "no CUDA GPU visible"})
  for name, script, part_args in parts(args.quick, args.threads):
    attempt(name, lambda s=script, a=part_args: run_part(s, a),
            " ".join(["python", f"benchmarks/{script}.py", *part_args]))
  import jax
  record["device"] = common.jax_device_info(jax.devices()[:1])
  write(record, args.out, start)
  print(markdown(record), file=sys.stderr)
  return record


def _torch_sees_cuda() -> bool:
  """Whether a CUDA GPU is there, asked without starting JAX's client (see gpu_tests)."""
  try:
    import torch
    return torch.cuda.is_available()
  except ImportError:
    return False


def write(record: dict[str, Any], out: str, start: float) -> None:
  record["total_s"] = time.perf_counter() - start
  with open(os.path.join(out, "run_all.json"), "w") as f:
    json.dump(record, f, indent=2, default=str)
    f.write("\n")
  with open(os.path.join(out, "run_all.md"), "w") as f:
    f.write(markdown(record))


if __name__ == "__main__":
  main()

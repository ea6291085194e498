"""What a researcher watches: a tqdm bar (loss, examples/s, ETA), TensorBoard events, and a JSONL log.

Only process 0 writes or prints; every other process gets a silent tracker, so a pod's 16 hosts do
not race on the same event file.

The workdir may be an object store (gs://), which has no append: `metrics.jsonl` is kept in memory
and rewritten whole (at most every few seconds, and at every evaluation and at the end). A resumed
phase starts from the rows of earlier attempts up to its checkpoint's step, so the file holds one
history without the replayed steps twice; TensorBoard gets `purge_step` for the same reason.
TensorBoard events for a gs:// workdir are written to a local file and uploaded whole at the same
moments (tensorboardX's own gs:// writer re-uploads from `__del__` and at interpreter exit, and
waits two minutes there when storage is unreachable).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping

import jax
from etils import epath

from stilts_jax import paths
from stilts_jax.layout import METRICS_FILE



class Tracker:
  """Logs one phase's scalars under `workdir/tensorboard/<phase>` and `workdir/metrics.jsonl`."""

  def __init__(self, workdir: str | epath.Path, phase: str, total_steps: int, start_step: int = 0,
               enabled: bool | None = None, progress: bool = True, write_every_s: float = 5.0):
    self.enabled = jax.process_index() == 0 if enabled is None else enabled
    self.phase = phase
    self.workdir = epath.Path(workdir)
    self._writer = None
    self._bar = None
    self._last = (start_step, time.perf_counter())
    self._write_every_s = write_every_s
    self._written = time.monotonic()
    if not self.enabled:
      return
    from tensorboardX import SummaryWriter
    self.workdir.mkdir(parents=True, exist_ok=True)
    self._events = self.workdir / "tensorboard" / phase
    self._staging = tempfile.mkdtemp(prefix="stilts-jax-tb-") if paths.is_url(self.workdir) \
        else None
    # Event files are named by the second and host; the start step keeps a quick relaunch from
    # overwriting the previous attempt's file (object stores replace, they do not append).
    self._writer = SummaryWriter(self._staging or os.fspath(self._events),
                                 purge_step=start_step or None,
                                 filename_suffix=f".from_step_{start_step}")
    self._metrics = self.workdir / METRICS_FILE
    self._lines = []
    if self._metrics.exists():  # earlier attempts, up to the step this one resumes from
      self._lines = [line for line in self._metrics.read_text().splitlines()
                     if line and json.loads(line).get("step", 0) <= start_step]
    if progress:
      from tqdm.auto import tqdm
      self._bar = tqdm(total=total_steps, initial=start_step, desc=phase, unit="step",
                       dynamic_ncols=True, leave=True)

  def scalars(self, step: int, values: Mapping[str, float], prefix: str = "train") -> None:
    if not self.enabled:
      return
    row = {"phase": self.phase, "step": int(step), "time": time.time()}
    for name, value in values.items():
      self._writer.add_scalar(f"{self.phase}/{prefix}/{name}", float(value), int(step))
      row[f"{prefix}/{name}"] = float(value)
    self._lines.append(json.dumps(row))
    self.persist(force=prefix != "train")

  def persist(self, force: bool = True) -> None:
    """Writes metrics.jsonl (unless `force` is False and it was written a moment ago) and, when
    forced, the TensorBoard events. Called at every evaluation and checkpoint, so the history a
    resumed run starts from is on disk."""
    if not self.enabled:
      return
    if force or time.monotonic() - self._written >= self._write_every_s:
      paths.write_atomic(self._metrics, "".join(line + "\n" for line in self._lines))
      self._written = time.monotonic()
    if force:
      self._writer.flush()
      if self._staging:
        for name in os.listdir(self._staging):
          with open(os.path.join(self._staging, name), "rb") as f:
            paths.write_atomic(self._events / name, f.read())

  def progress(self, step: int, examples: int, values: Mapping[str, float]) -> dict[str, float]:
    """Advances the bar to `step`; returns throughput since the last call (also logged)."""
    last_step, last_time = self._last
    now = time.perf_counter()
    rate = {"examples_per_s": examples / max(now - last_time, 1e-9),
            "steps_per_s": (step - last_step) / max(now - last_time, 1e-9)}
    self._last = (step, now)
    if self._bar is not None:
      self._bar.update(step - self._bar.n)
      shown = {k: f"{v:.4g}" for k, v in values.items()}
      shown["ex/s"] = f"{rate['examples_per_s']:.1f}"
      self._bar.set_postfix(shown, refresh=False)
    self.scalars(step, {**values, **rate})
    return rate

  def note(self, message: str) -> None:
    if not self.enabled:
      return
    if self._bar is not None:
      self._bar.write(message)
    else:
      print(message, flush=True)

  def close(self) -> None:
    if self._bar is not None:
      self._bar.close()
    if self._writer is not None:
      self.persist()
      self._writer.close()
      if self._staging:
        shutil.rmtree(self._staging, ignore_errors=True)

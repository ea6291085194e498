"""What a researcher watches: a tqdm bar (loss, examples/s, ETA), TensorBoard events, and a JSONL log.

Only process 0 writes or prints; every other process gets a silent tracker, so a pod's 16 hosts do
not race on the same event file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

import jax
from etils import epath


class Tracker:
  """Logs one phase's scalars under `workdir/tensorboard/<phase>` and `workdir/metrics.jsonl`."""

  def __init__(self, workdir: str | epath.Path, phase: str, total_steps: int, start_step: int = 0,
               enabled: bool | None = None, progress: bool = True):
    self.enabled = jax.process_index() == 0 if enabled is None else enabled
    self.phase = phase
    self.workdir = epath.Path(workdir)
    self._writer = None
    self._bar = None
    self._last = (start_step, time.perf_counter())
    if not self.enabled:
      return
    from tensorboardX import SummaryWriter
    self.workdir.mkdir(parents=True, exist_ok=True)
    self._writer = SummaryWriter(str(self.workdir / "tensorboard" / phase))
    self._jsonl = (self.workdir / "metrics.jsonl").open("a")
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
    self._jsonl.write(json.dumps(row) + "\n")
    self._jsonl.flush()

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
      self._writer.close()
      self._jsonl.close()

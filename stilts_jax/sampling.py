"""Which task trains at each step of multi-task intermediate training (one task per step, as jiant).

The schedule is a pure function of (seed, probabilities, number of steps), so a resumed run replays
it exactly and every host agrees on it without communicating. Each task's own batch index is the
number of times it was chosen before, so its data order stays step-indexed too.

Samplers (jiant's names): `proportional` (p ∝ n, jiant's default), `temperature`
(p ∝ min(n, cap)^(1/T)), `uniform`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

SAMPLERS = ("proportional", "temperature", "uniform")


def task_probabilities(sizes: Mapping[str, int], sampler: str = "proportional",
                       temperature: float = 1.0, cap: int | None = None) -> dict[str, float]:
  if sampler not in SAMPLERS:
    raise ValueError(f"unknown sampler {sampler!r}; expected one of {SAMPLERS}.")
  if not sizes or any(n <= 0 for n in sizes.values()):
    raise ValueError(f"every task needs training examples; got sizes {dict(sizes)}.")
  names = sorted(sizes)
  n = np.array([sizes[k] for k in names], np.float64)
  if cap is not None:
    n = np.minimum(n, cap)
  if sampler == "uniform":
    w = np.ones_like(n)
  elif sampler == "proportional":
    w = n
  else:
    if temperature <= 0:
      raise ValueError(f"temperature must be > 0, got {temperature}.")
    w = n ** (1.0 / temperature)
  return dict(zip(names, (w / w.sum()).tolist()))


def check_fixed_rates(fixed: Mapping[str, float], sized_tasks: int) -> float:
  """The steps' share that fixed-rate tasks take (Σ rates); refused unless it is below 1 and at
  least one task is sampled by size."""
  share = sum(fixed.values())
  if fixed and (share >= 1 or sized_tasks < 1 or min(fixed.values()) <= 0):
    raise ValueError(f"fixed task rates {dict(fixed)} must be positive, sum below 1 and leave a "
                     "task sampled by size (e.g. MLM mixed into an intermediate task).")
  return share


def with_fixed_rates(probabilities: Mapping[str, float], fixed: Mapping[str, float]
                     ) -> dict[str, float]:
  """The sized tasks' `probabilities` scaled to 1 - Σ fixed, plus each fixed-rate task at its own
  rate. MLM mixed into intermediate training (config.mlm.rate) is one: its corpus size is
  arbitrary, so it stays out of size-based sampling."""
  share = check_fixed_rates(fixed, len(probabilities))
  return {h: p * (1 - share) for h, p in probabilities.items()} | dict(fixed)


def task_schedule(probabilities: Mapping[str, float], num_steps: int, seed: int
                  ) -> tuple[list[str], np.ndarray, np.ndarray]:
  """(task names, task id per step [num_steps], that task's own batch index per step)."""
  names = sorted(probabilities)
  p = np.array([probabilities[k] for k in names], np.float64)
  rng = np.random.default_rng([seed, 0x5A17])  # separate stream from the data order
  ids = rng.choice(len(names), size=num_steps, p=p / p.sum()) if len(names) > 1 else \
      np.zeros(num_steps, np.int64)
  own_index = np.zeros(num_steps, np.int64)
  counts = np.zeros(len(names), np.int64)
  for step, t in enumerate(ids):  # cumulative count per task (cheap: ints, once per phase)
    own_index[step] = counts[t]
    counts[t] += 1
  return names, ids, own_index


def total_steps(steps_per_epoch: Mapping[str, int], epochs: float) -> int:
  """jiant's budget: Σ_tasks epochs · steps per epoch."""
  return max(1, int(round(sum(epochs * s for s in steps_per_epoch.values()))))

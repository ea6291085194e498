"""The X-STILTs grid: the paper's intermediate settings (its 9 tasks and the no-intermediate
baseline) × XTREME's 9 targets, read from the task registry (TaskSpec.benchmark).

  python -m stilts_jax.grid intermediates         # anli_plus mnli ... ccg none
  python -m stilts_jax.grid targets               # xnli pawsx ... tatoeba
  python -m stilts_jax.grid cells [--seeds=1,2]   # one configs/stilts.py argument per line

The shell launchers ask this module for their default grid (tpu_scripts/sweep.sh), so the grid is
written down once. It imports only the standard library: a workstation's python3 (>= 3.11) runs it
in a checkout (`cd CHECKOUT && python3 -m stilts_jax.grid targets`) with nothing installed.
"""

from __future__ import annotations

import argparse

from stilts_jax.setting import BASELINE
from stilts_jax.tasks import benchmark_tasks


def intermediate_settings() -> tuple[str, ...]:
  """The paper's intermediate tasks in its order, then the baseline (a sweep runs it last)."""
  return benchmark_tasks("x-stilts") + (BASELINE,)


def targets() -> tuple[str, ...]:
  return benchmark_tasks("xtreme")


def cells(seeds=(1,)) -> list[str]:
  """Every cell as a configs/stilts.py argument, seed-major (a whole seed-1 grid comes first)."""
  return [f"intermediate={i},target={t},seed={s}" for s in seeds
          for i in intermediate_settings() for t in targets()]


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(prog="python -m stilts_jax.grid", description=__doc__.split(
      "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("what", choices=("intermediates", "targets", "cells"))
  parser.add_argument("--seeds", default="1", help="comma-separated seeds for `cells` (1)")
  args = parser.parse_args(argv)
  if args.what == "cells":
    try:
      seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
      parser.error(f"--seeds={args.seeds!r}: expected integers joined by commas, e.g. 1,2,3")
    print("\n".join(cells(seeds)))
  else:
    print(" ".join(intermediate_settings() if args.what == "intermediates" else targets()))


if __name__ == "__main__":
  main()

"""The X-STILTs grid, one (intermediate, target) cell or more per run.

  stilts-jax --config=configs/stilts.py:intermediate=squad_v1,target=xnli,model=xlm-roberta-large \
             --workdir=gs://bucket/runs/squad_v1__xnli

Arguments (comma-separated, `key=value`):
  intermediate  "none" (baseline), a task, "a+b" (multi-task), "a@10" (10 % of its data),
                "a+mlm" (with masked LM, see config.mlm), or several settings joined by "|"
  target        a target task (XTREME's 9, or XTREME-R's xcopa, panx_r), several joined by "|",
                or "all" (XTREME's 9)
  model         Hub id or local checkpoint directory (default xlm-roberta-large)
  seed          integer (default 1)
Any other setting: --config.some.key=value (the config is locked, so a typo is an error).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import base  # noqa: E402


def parse_arg(arg: str, **defaults) -> dict:
  """`a=1,b=x` → {"a": "1", "b": "x"} over `defaults`; unknown keys are an error."""
  out = dict(defaults)
  for item in filter(None, (arg or "").split(",")):
    key, sep, value = item.partition("=")
    if not sep or key not in defaults:
      raise ValueError(f"config argument {item!r}: expected key=value with key in "
                       f"{sorted(defaults)}.")
    out[key] = value
  return out


def _names(value: str, valid, what: str, all_=None) -> tuple:
  names = tuple(all_ or valid) if value == "all" else tuple(filter(None, value.split("|")))
  for name in names:
    for task in ([] if name == "none" else name.split("+")):
      task = task.partition("@")[0]
      if task not in valid:
        raise ValueError(f"unknown {what} {task!r}; valid: {', '.join(valid)}"
                         + (", none" if what == "intermediate task" else ""))
  return names


def get_config(arg: str = ""):
  args = parse_arg(arg, intermediate="none", target="xnli", model="xlm-roberta-large", seed="1")
  c = base.get_config()
  c.intermediates = _names(args["intermediate"],
                           base.INTERMEDIATES + base.TRANSLATED_INTERMEDIATES + ("mlm",),
                           "intermediate task", all_=base.INTERMEDIATES)
  c.targets = _names(args["target"], base.TARGETS + base.XTREME_R_TARGETS, "target task",
                     all_=base.TARGETS)
  c.model.name = args["model"]
  c.seed = int(args["seed"])
  return c


def grid(seeds=(1,)) -> list[str]:
  """Every cell of the paper's grid as a config argument (for sweeps)."""
  return [f"intermediate={i},target={t},seed={s}" for s in seeds
          for i in ("none",) + base.INTERMEDIATES for t in base.TARGETS]

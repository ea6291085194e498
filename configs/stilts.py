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

from configs import base
from stilts_jax.setting import Setting


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


def _settings(value: str) -> tuple:
  """Intermediate settings joined by "|" (or "all"), each checked against the task names."""
  names = base.INTERMEDIATES if value == "all" else tuple(filter(None, value.split("|")))
  for name in names:
    Setting.parse(name).check_tasks(base.INTERMEDIATES + base.TRANSLATED_INTERMEDIATES)
  return names


def _targets(value: str) -> tuple:
  valid = base.TARGETS + base.XTREME_R_TARGETS
  names = base.TARGETS if value == "all" else tuple(filter(None, value.split("|")))
  for name in names:
    if name not in valid:
      raise ValueError(f"unknown target task {name!r}; valid: {', '.join(valid)}")
  return names


def get_config(arg: str = ""):
  args = parse_arg(arg, intermediate="none", target="xnli", model="xlm-roberta-large", seed="1")
  c = base.get_config()
  c.intermediates = _settings(args["intermediate"])
  c.targets = _targets(args["target"])
  c.model.name = args["model"]
  c.seed = int(args["seed"])
  return c

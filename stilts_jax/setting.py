"""The intermediate-setting grammar, in one place.

  none                the XLM-R baseline: no intermediate phase
  mnli                one intermediate task
  mnli+squad_v1       several tasks trained together (one encoder, a head each)
  mnli@10             a task on 10 % of its training data (the paper's data-size curves)
  mnli+mlm            masked LM on multilingual text mixed in (config.mlm says which text)

The pipeline (what it trains), the configs (what a grid may name) and the analyses (which
results form a data-size curve) all read a setting through `Setting.parse`, so a name one accepts
means the same to the others, and the printed form (`str`) is the one results are filed under.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from stilts_jax.errors import UserError

BASELINE = "none"
MLM = "mlm"  # the pseudo-task "masked LM on multilingual text"


class SettingError(UserError, ValueError):
  """A setting that does not parse; the message quotes it and shows the grammar."""


@dataclasses.dataclass(frozen=True)
class SettingPart:
  """One task of a setting, on `percent` % of its training data."""
  task: str
  percent: float = 100.0

  @property
  def fraction(self) -> float:
    return self.percent / 100

  def __str__(self) -> str:
    return self.task if self.percent == 100 else f"{self.task}@{self.percent:g}"


@dataclasses.dataclass(frozen=True)
class Setting:
  """An intermediate setting: its tasks in the order written (empty = the baseline)."""
  parts: tuple[SettingPart, ...] = ()

  @classmethod
  def parse(cls, text: str) -> Setting:
    """"none" → the baseline; "mnli@10+squad_v1+mlm" → mnli on 10 %, squad_v1, mlm."""
    if text == BASELINE:
      return cls()
    parts = []
    for item in str(text).split("+"):
      task, at, pct = item.partition("@")
      if not task or task != task.strip() or (at and not pct):
        raise SettingError(f"intermediate setting {text!r}: {item!r} should be TASK or "
                           "TASK@PERCENT joined by '+' (e.g. mnli@10+squad_v1), or none.")
      percent = 100.0
      if pct:
        try:
          percent = float(pct)
        except ValueError:
          percent = -1.0
        if not 0 < percent <= 100:
          raise SettingError(f"intermediate setting {text!r}: {item!r} should be TASK@PERCENT "
                             "with 0 < PERCENT <= 100 (e.g. mnli@10).")
      parts.append(SettingPart(task, percent))
    return cls(tuple(parts))

  def __str__(self) -> str:
    return "+".join(map(str, self.parts)) if self.parts else BASELINE

  @property
  def is_baseline(self) -> bool:
    return not self.parts

  @property
  def tasks(self) -> list[str]:
    return [p.task for p in self.parts]

  @property
  def has_mlm(self) -> bool:
    return MLM in self.tasks

  @property
  def supervised(self) -> list[SettingPart]:
    """The parts that are labelled tasks (everything but MLM)."""
    return [p for p in self.parts if p.task != MLM]

  def check_tasks(self, valid: Iterable[str], what: str = "intermediate task") -> None:
    """Raises SettingError naming the first task not in `valid` (MLM is always valid)."""
    valid = tuple(valid)
    for task in self.tasks:
      if task != MLM and task not in valid:
        raise SettingError(f"unknown {what} {task!r}; valid: {', '.join(valid)}, {MLM}, "
                           f"{BASELINE}")

  def data_percent(self) -> float | None:
    """The percentage of a data-size run (`mnli@10` → 10.0, `squad_v1+mnli@2.5` → 2.5); None
    when every part trains on all its data. Parts on different fractions are not one point of a
    data-size curve: SettingError."""
    percents = {p.percent for p in self.parts if p.percent != 100}
    if len(percents) > 1:
      raise SettingError(f"intermediate setting {str(self)!r} trains its tasks on different "
                         "fractions of their data; a data-size curve needs one.")
    return percents.pop() if percents else None

  def on_all_data(self) -> Setting:
    """The same tasks on all their training data (`mnli@10` → `mnli`): a curve's 100 % point."""
    return Setting(tuple(SettingPart(p.task) for p in self.parts))

"""docs/config.md against the code: every key of `configs/base.py` is documented with its type,
default and recipe membership, and nothing documented is stale; the valid values of the enum-like
keys are the code's constants; the per-phase defaults table is `TARGET_SCHEDULE`.

The checking logic is `problems(doc_text, ...)`, a function of the page and the code's facts, so
the tests below also feed it drifted pages and drifted configs and check that it says so.
"""

from __future__ import annotations

import ast
import dataclasses
import re

import pytest
from ml_collections import ConfigDict

import _pipeline_helpers as H
from stilts_jax import run_config, sampling, steps
from stilts_jax.models.config import ATTENTION_IMPLEMENTATIONS, REMAT_POLICIES
from stilts_jax.tasks import TaskType, get_task

DOC = H.REPO / "docs" / "config.md"
BASE = H.load_config_module("base")

# Enum-like keys: the values the code accepts (a phase key such as `sampler` by its short name).
ENUMS = {
    "mode": run_config.MODES,
    "model.attention": ATTENTION_IMPLEMENTATIONS,
    "model.remat": REMAT_POLICIES,
    "model.dtype": run_config.DTYPES,
    "model.param_dtype": run_config.PARAM_DTYPES,
    "eval.splits": run_config.EVAL_SPLITS,
    "retrieval.pooling": steps.POOLINGS,
    "checkpoint.keep_after_completion": run_config.KEEP_AFTER_COMPLETION,
    "sampler": sampling.SAMPLERS,
}
PHASE_ROOTS = ("intermediate_train", "target_train")
PER_PHASE = "per phase"  # the default cell of a phase key whose default differs between phases
_VARIES = object()

KEY_HEADER = ["key", "type", "default", "valid values", "recipe", "what it changes"]
PHASE_KEY_HEADER = ["phase key"] + KEY_HEADER[1:]
FAMILY_HEADER = ["family", "members"]
PHASE_DEFAULTS_HEADER = ["phase", "epochs", "batch_size", "max_length"]


# ---- the page ------------------------------------------------------------------------------------

def _cells(line: str) -> list[str]:
  """A table row's cells; `\\|` is a literal pipe inside a cell."""
  parts = re.split(r"(?<!\\)\|", line.strip())
  return [c.strip().replace("\\|", "|") for c in parts[1:-1]]


def tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
  """Every markdown table of `text` as (header cells, rows of cells), outside code blocks."""
  lines, out, i, fenced = text.splitlines(), [], 0, False
  while i < len(lines):
    if lines[i].lstrip().startswith("```"):
      fenced = not fenced
    elif (not fenced and lines[i].lstrip().startswith("|") and i + 1 < len(lines)
          and re.fullmatch(r"\s*\|(\s*:?-+:?\s*\|)+\s*", lines[i + 1])):
      header, rows = _cells(lines[i]), []
      i += 2
      while i < len(lines) and lines[i].lstrip().startswith("|"):
        rows.append(_cells(lines[i]))
        i += 1
      out.append((header, rows))
      continue
    i += 1
  return out


def _code(cell: str) -> str | None:
  """The content of a cell that is exactly one backticked span, else None."""
  match = re.fullmatch(r"`([^`]+)`", cell.strip())
  return match[1] if match else None


def _plain(cell: str) -> str:
  return " ".join(cell.replace("`", "").split())


@dataclasses.dataclass
class Doc:
  keys: dict = dataclasses.field(default_factory=dict)         # key (or family pattern) -> row
  phase_keys: dict = dataclasses.field(default_factory=dict)   # phase key -> row
  families: dict = dataclasses.field(default_factory=dict)     # pattern -> [member]
  phases: dict = dataclasses.field(default_factory=dict)       # phase -> {column: cell}
  problems: list = dataclasses.field(default_factory=list)


def parse(text: str) -> Doc:
  doc = Doc()
  for header, rows in tables(text):
    header = [h.lower() for h in header]
    if header in (KEY_HEADER, PHASE_KEY_HEADER):
      target = doc.keys if header == KEY_HEADER else doc.phase_keys
      columns = header[1:]
    elif header == FAMILY_HEADER:
      target, columns = doc.families, None
    elif header == PHASE_DEFAULTS_HEADER:
      target, columns = doc.phases, header[1:]
    else:
      doc.problems.append(f"unrecognised table with header {header}")
      continue
    for row in rows:
      if len(row) != len(header):
        doc.problems.append(f"table row {row} has {len(row)} cells, expected {len(header)}")
        continue
      key = _code(row[0])
      if key is None:
        doc.problems.append(f"table row {row}: the first cell should be one `backticked` name")
        continue
      if key in target:
        doc.problems.append(f"{key} is documented twice")
      if columns is None:
        target[key] = re.findall(r"`([^`]+)`", row[1])
      else:
        target[key] = dict(zip(columns, row[1:]))
  return doc


# ---- the code ------------------------------------------------------------------------------------

def flatten(config: ConfigDict, prefix: str = "") -> dict[str, tuple[ConfigDict, str]]:
  """Dotted key -> (parent ConfigDict, name) of every leaf."""
  out = {}
  for name in config.keys():
    key, value = prefix + name, config[name]
    if isinstance(value, ConfigDict) and len(value):
      out.update(flatten(value, key + "."))
    else:
      out[key] = (config, name)
  return out


def type_name(parent: ConfigDict, name: str) -> str:
  value = parent[name]
  if value is None:
    return f"{parent.get_type(name).__name__} or None"
  if isinstance(value, ConfigDict):
    return "dict"
  if isinstance(value, tuple):
    kinds = sorted({type(v).__name__ for v in value})
    return "tuple of " + " or ".join(kinds) if kinds else "tuple"
  return type(value).__name__


def plain_value(value):
  return value.to_dict() if isinstance(value, ConfigDict) else value


def same(a, b) -> bool:
  """Equal and of the same types all the way down (so `1` is not `True`, nor `1.0`)."""
  if type(a) is not type(b):
    return False
  if isinstance(a, (tuple, list)):
    return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
  if isinstance(a, dict):
    return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
  return a == b


def _literal(cell: str):
  """(True, value) for a cell that is one backticked Python literal, else (False, None)."""
  code = _code(cell)
  if code is None:
    return False, None
  try:
    return True, ast.literal_eval(code)
  except (ValueError, SyntaxError):
    return False, None


def _perturbed(value, kind: type):
  if isinstance(value, bool):
    return not value
  if value is None:
    return kind(3)
  if isinstance(value, (int, float)):
    return value + 1
  if isinstance(value, str):
    return value + "x"
  if isinstance(value, tuple):
    return value + (value[-1],) if value else ("x",)
  if isinstance(value, ConfigDict):
    return ConfigDict({"x": "/x"})
  raise TypeError(f"cannot perturb {value!r}")


def recipe_effects(make_config) -> dict[str, str]:
  """Dotted key -> "yes" (changes the train part of some phase's recipe), "eval" (only the eval
  part) or "no", found by changing each key in turn (and back) and comparing the recipes of every
  target phase, with no intermediate phase and with one that trains every intermediate task and
  MLM, and of that intermediate phase."""
  config = make_config()
  settings = ("none", "+".join([*config.intermediate_languages, run_config.MLM]))
  phases = [(s, None) for s in settings if s != "none"]
  phases += [(s, t) for s in settings for t in config.target_train]

  def recipes(only):
    return [run_config.phase_recipe(config, s, t) for s, t in phases if only in (None, t)]

  effects, references = {}, {}
  for key, (parent, name) in flatten(config).items():
    # target_train.<t>.* can only matter to target t's phases (keeps this quick)
    only = key.split(".")[1] if key.startswith("target_train.") else None
    if only not in references:
      references[only] = recipes(only)
    reference = references[only]
    original = parent[name]
    parent[name] = _perturbed(original, parent.get_type(name))
    new = recipes(only)
    parent[name] = original
    if any(a["train"] != b["train"] for a, b in zip(reference, new)):
      effects[key] = "yes"
    elif any(a.get("eval") != b.get("eval") for a, b in zip(reference, new)):
      effects[key] = "eval"
    else:
      effects[key] = "no"
  return effects


# ---- the check -----------------------------------------------------------------------------------

def _check_row(what: str, row: dict, type_: str, default, effect: str, out: list) -> None:
  """Type, default (`_VARIES`: differs between phases) and recipe of a row."""
  if _plain(row["type"]) != type_:
    out.append(f"{what}: type is {type_!r}, documented {_plain(row['type'])!r}")
  if default is _VARIES:
    if _plain(row["default"]) != PER_PHASE:
      out.append(f"{what}: default differs between phases, documented {row['default']!r} "
                 f"(expected {PER_PHASE!r})")
  else:
    ok, documented = _literal(row["default"])
    if not ok:
      out.append(f"{what}: default {row['default']!r} is not one backticked Python literal "
                 f"(the code has {default!r})")
    elif not same(documented, default):
      out.append(f"{what}: default is {default!r}, documented {documented!r}")
  recipe = _plain(row["recipe"]).lower()
  if recipe != effect:
    out.append(f"{what}: recipe is {effect!r}, documented {recipe!r}")


def _set_problem(what: str, code, documented) -> list[str]:
  code, documented = set(code), set(documented)
  out = [f"undocumented {what} {k}" for k in sorted(code - documented)]
  return out + [f"stale {what} {k} (not in the code)" for k in sorted(documented - code)]


def problems(text: str, make_config=BASE.get_config, schedule=BASE.TARGET_SCHEDULE,
             enums=ENUMS, effects: dict | None = None) -> list[str]:
  """Where the page `text` and the code disagree (empty when they agree). `effects`:
  `recipe_effects(make_config)`, computed when not given."""
  doc = parse(text)
  out = list(doc.problems)
  config = make_config()
  flat = flatten(config)
  effects = recipe_effects(make_config) if effects is None else effects

  # Phase hyperparameters: `intermediate_train.K` and `target_train.<target>.K`.
  phases: dict[str, dict[str, tuple]] = {}
  for key, leaf in flat.items():
    root, _, rest = key.partition(".")
    if root == "intermediate_train":
      phases.setdefault(root, {})[rest] = leaf
    elif root == "target_train":
      target, _, name = rest.partition(".")
      phases.setdefault(f"{root}.{target}", {})[name] = leaf
  phase_keys = sorted({k for keys in phases.values() for k in keys})
  for phase, keys in phases.items():
    out += [f"{phase} lacks the phase key {k}" for k in phase_keys if k not in keys]
  out += _set_problem("phase key", phase_keys, doc.phase_keys)
  out += _set_problem("phase (per-phase defaults table)", phases, doc.phases)
  retrieval = {f"target_train.{t}" for t in config.target_train
               if get_task(t).task_type == TaskType.RETRIEVAL}
  per_phase = set()
  for k in phase_keys:
    leaves = [phases[p][k] for p in phases if k in phases[p]]
    values = [plain_value(parent[name]) for parent, name in leaves]
    if any(not same(v, values[0]) for v in values):
      per_phase.add(k)
    if k not in doc.phase_keys:
      continue
    kinds = {type_name(parent, name) for parent, name in leaves}
    bases = {t.removesuffix(" or None") for t in kinds}
    type_ = bases.pop() + (" or None" if any(t.endswith(" or None") for t in kinds) else "") \
        if len(bases) == 1 else " / ".join(sorted(kinds))
    trained = {effects[f"{p}.{k}"] for p in phases if p not in retrieval}
    effect = trained.pop() if len(trained) == 1 else "mixed: " + ", ".join(sorted(trained))
    _check_row(f"phase key {k}", doc.phase_keys[k], type_, _VARIES if k in per_phase
               else values[0], effect, out)
    # Nothing trains for a retrieval target: only max_length (how its text is cut) counts.
    for p in sorted(retrieval):
      expected = "eval" if k == "max_length" else "no"
      if effects[f"{p}.{k}"] != expected:
        out.append(f"{p}.{k}: recipe is {effects[f'{p}.{k}']!r}; the page says only max_length "
                   "counts for retrieval targets (eval)")
  columns = set(PHASE_DEFAULTS_HEADER[1:])
  if per_phase != columns:
    out.append(f"phase keys whose default differs between phases are {sorted(per_phase)}; the "
               f"per-phase defaults table has {sorted(columns)}")
  for phase in sorted(set(phases) & set(doc.phases)):
    for k in sorted(columns & set(phases[phase])):
      cell = _plain(doc.phases[phase][k])
      try:
        documented = ast.literal_eval(cell)
      except (ValueError, SyntaxError):
        out.append(f"{phase}.{k}: {cell!r} is not a Python literal")
        continue
      parent, name = phases[phase][k]
      value = parent[name]
      if isinstance(value, float) and type(documented) is int:
        documented = float(documented)
      if not same(documented, value):
        out.append(f"{phase}.{k}: default is {value!r}, documented {documented!r}")
  documented_targets = {p.removeprefix("target_train."): row for p, row in doc.phases.items()
                        if p.startswith("target_train.")}
  out += _set_problem("TARGET_SCHEDULE target", schedule, documented_targets)
  for target in sorted(set(schedule) & set(documented_targets)):
    row = documented_targets[target]
    try:
      documented = tuple(ast.literal_eval(_plain(row[k])) for k in PHASE_DEFAULTS_HEADER[1:])
    except (ValueError, SyntaxError):
      continue  # reported above
    if documented != tuple(schedule[target]):
      out.append(f"target_train.{target}: TARGET_SCHEDULE has {schedule[target]}, documented "
                 f"{documented}")

  # Every other key, with the families (`eval.languages.<target>`, ...) expanded.
  others = {k: leaf for k, leaf in flat.items() if k.partition(".")[0] not in PHASE_ROOTS}
  documented: dict[str, tuple[str, dict]] = {}
  for key, row in doc.keys.items():
    if "<" not in key:
      documented[key] = (key, row)
      continue
    parent = key.rsplit(".", 1)[0]
    if not re.fullmatch(r"<\w+>", key.rsplit(".", 1)[-1]) or key not in doc.families:
      out.append(f"family {key}: expected PARENT.<name> with a row in the key-families table")
      continue
    members = {k.removeprefix(parent + ".") for k in others if k.startswith(parent + ".")}
    out += _set_problem(f"member of {key}:", members, doc.families[key])
    documented.update({f"{parent}.{m}": (key, row) for m in doc.families[key]})
  out += [f"family {f} has no row in a key table"
          for f in sorted(set(doc.families) - set(doc.keys))]
  out += _set_problem("key", others, documented)
  for key in sorted(set(others) & set(documented)):
    parent, name = others[key]
    what, row = documented[key]
    _check_row(key if what == key else f"{key} (as {what})", row, type_name(parent, name),
               plain_value(parent[name]), effects[key], out)

  # Valid values of the enum-like keys: exactly the backticked values of their cell.
  for key, valid in enums.items():
    row = doc.phase_keys.get(key) if key in phase_keys else doc.keys.get(key)
    if row is None:
      out.append(f"{key}: no row to check its valid values against {valid}")
      continue
    values = re.findall(r"`([^`]+)`", row["valid values"])
    if sorted(values) != sorted(valid):
      out.append(f"{key}: valid values are {list(valid)}, documented {values}")
  return out


# ---- the tests -----------------------------------------------------------------------------------

def test_docs_config_matches_the_code():
  found = problems(DOC.read_text(encoding="utf-8"))
  assert not found, "docs/config.md and the code disagree:\n  " + "\n  ".join(found)


def test_every_enum_key_exists():
  phase_keys = set(BASE.phase(1, 1))
  flat = flatten(BASE.get_config())
  for key in ENUMS:
    assert key in flat or key in phase_keys, key


def _replace(text: str, old: str, new: str) -> str:
  assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in docs/config.md"
  return text.replace(old, new)


def _drop_row(text: str, name: str) -> str:
  lines = text.splitlines(keepends=True)
  rows = [l for l in lines if l.startswith(f"| `{name}` |")]
  assert len(rows) == 1, f"no single row for {name}"
  return "".join(l for l in lines if l is not rows[0])


def _row(text: str, name: str) -> str:
  return next(l for l in text.splitlines() if l.startswith(f"| `{name}` |"))


DOC_DRIFTS = {
    "key removed": (lambda t: _drop_row(t, "model.remat"), "undocumented key model.remat"),
    "stale key": (lambda t: t.replace(_row(t, "seed"), _row(t, "seed") + "\n"
                                      + _row(t, "seed").replace("`seed`", "`seeds`")),
                  "stale key seeds"),
    "default changed": (lambda t: _replace(t, "| `seed` | int | `1` |", "| `seed` | int | `2` |"),
                        "seed: default is 1, documented 2"),
    "default of another type": (
        lambda t: _replace(t, "| `allow_changed_config` | bool | `False` |",
                           "| `allow_changed_config` | bool | `0` |"),
        "allow_changed_config: default is False, documented 0"),
    "tuple default": (lambda t: _replace(t, "`(64, 128, 256, 384, 512)`", "`(64, 128, 256, 512)`"),
                      "data.buckets: default"),
    "type changed": (lambda t: _replace(t, "| `mesh.data` | int |", "| `mesh.data` | str |"),
                     "mesh.data: type"),
    "recipe changed": (lambda t: _replace(t, "| `eval_batch_size` | int | `64` | an int ≥ 1 | no",
                                          "| `eval_batch_size` | int | `64` | an int ≥ 1 | yes"),
                       "phase key eval_batch_size: recipe is 'no', documented 'yes'"),
    "enum value missing": (lambda t: _replace(t, ", `reference` |", " |"),
                           "model.attention: valid values"),
    "phase enum value added": (lambda t: _replace(t, "`temperature`, `uniform`",
                                                  "`temperature`, `uniform`, `random`"),
                               "sampler: valid values"),
    "phase key removed": (lambda t: _drop_row(t, "packing"), "undocumented phase key packing"),
    "phase default changed": (lambda t: _replace(t, "| `patience` | int | `30` |",
                                                 "| `patience` | int | `20` |"),
                              "phase key patience: default is 30, documented 20"),
    "family member missing": (lambda t: _replace(t, ", `squad_translated` |", " |"),
                              "undocumented member of intermediate_languages.<task>: "
                              "squad_translated"),
    "family member stale": (lambda t: _replace(t, "`bucc2018`, `tatoeba` |",
                                               "`bucc2018`, `tatoeba`, `xcopa` |"),
                            "stale member of eval.languages.<target>: xcopa"),
    "per-target epochs": (lambda t: _replace(t, "| `target_train.xnli` | 2 | 32 | 256 |",
                                             "| `target_train.xnli` | 3 | 32 | 256 |"),
                          "target_train.xnli: TARGET_SCHEDULE has (2, 32, 256)"),
    "per-target row missing": (lambda t: _drop_row(t, "target_train.panx_r"),
                               "undocumented TARGET_SCHEDULE target panx_r"),
    "intermediate phase default": (lambda t: _replace(t, "| `intermediate_train` | 2 | 32 |",
                                                      "| `intermediate_train` | 2 | 16 |"),
                                   "intermediate_train.batch_size: default is 32"),
}


@pytest.fixture(scope="module")
def base_effects():
  return recipe_effects(BASE.get_config)


@pytest.mark.parametrize("drift", DOC_DRIFTS)
def test_a_drifted_page_is_reported(drift, base_effects):
  change, expected = DOC_DRIFTS[drift]
  text = DOC.read_text(encoding="utf-8")
  drifted = change(text)
  assert drifted != text
  found = problems(drifted, effects=base_effects)
  assert any(expected in p for p in found), f"{expected!r} not in {found}"


def _config_with(change):
  def make():
    c = BASE.get_config()
    change(c)
    return c
  return make


CONFIG_DRIFTS = {
    "key added": (dict(make_config=_config_with(lambda c: c.update(new_key=1))),
                  "undocumented key new_key"),
    "key removed": (dict(make_config=_config_with(lambda c: c.mlm.__delattr__("revision"))),
                    "stale key mlm.revision"),
    "default changed": (dict(make_config=_config_with(lambda c: c.retrieval.update(layer=12))),
                        "retrieval.layer: default is 12, documented 14"),
    "phase default changed": (
        dict(make_config=_config_with(lambda c: c.intermediate_train.update(patience=10))),
        "patience: default differs between phases"),
    "family member added": (
        dict(make_config=_config_with(lambda c: c.eval.languages.__setattr__("xcopa", ""))),
        "undocumented member of eval.languages.<target>: xcopa"),
    "schedule changed": (dict(schedule=dict(BASE.TARGET_SCHEDULE, xnli=(3, 32, 256))),
                         "target_train.xnli: TARGET_SCHEDULE has (3, 32, 256)"),
    "constant changed": (dict(enums=dict(ENUMS, **{"model.attention": ATTENTION_IMPLEMENTATIONS
                                                   + ("flash",)})),
                         "model.attention: valid values"),
}


@pytest.mark.parametrize("drift", CONFIG_DRIFTS)
def test_drifted_code_is_reported(drift):
  kwargs, expected = CONFIG_DRIFTS[drift]
  found = problems(DOC.read_text(encoding="utf-8"), **kwargs)
  assert any(expected in p for p in found), f"{expected!r} not in {found}"


def test_a_changed_recipe_is_reported(monkeypatch):
  """patience becomes a run-time knob in the code while the page still says it is in the recipe."""
  monkeypatch.setattr(run_config, "RUN_TIME_HP", run_config.RUN_TIME_HP + ("patience",))
  found = problems(DOC.read_text(encoding="utf-8"))
  assert "phase key patience: recipe is 'no', documented 'yes'" in found, found

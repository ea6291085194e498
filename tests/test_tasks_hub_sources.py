"""Every registered Hub source names data files, never a loading script (datasets >= 4 refuses
scripts and we never pass trust_remote_code), and docs/data.md describes exactly the registry.

The Hub itself is out of reach here, so what each repository holds at its revision is a declared
fact (`SourceSpec.hub_files`, evidence in docs/data.md). These tests check the declarations
against each other and against how `datasets` reads those layouts, on local copies of them.
"""

import dataclasses
import re
from pathlib import Path

import datasets
import pytest

from stilts_jax import tasks
from stilts_jax.tasks import sources
from stilts_jax.tasks.registry import CONVERSION_PARQUET, PARQUET_CONVERSION

DOC = Path(__file__).resolve().parents[1] / "docs" / "data.md"
HUB_SOURCES = [s for s in map(tasks.get_source, tasks.list_sources()) if s.hub_id is not None]
DATA_SUFFIXES = (".parquet", ".jsonl", ".json", ".csv", ".arrow")


@pytest.mark.parametrize("source", HUB_SOURCES, ids=lambda s: s.name)
def test_every_hub_source_names_data_files_not_a_script(source):
  assert source.hub_files, f"{source.name}: declare the data files its revision holds (hub_files)"
  assert source.hub_files.endswith(DATA_SUFFIXES) and not source.hub_files.endswith(".py")
  if source.hub_files == CONVERSION_PARQUET:
    # The parquet conversion of a script dataset: one config, named "default".
    assert source.revision == PARQUET_CONVERSION and source.config is None
  else:
    assert source.revision != PARQUET_CONVERSION
  for split in source.splits.values():
    for hub_split in split:
      path = source.hub_files.format(config=source.hub_config("en") or "default", split=hub_split)
      assert hub_split in path and "{" not in path


def test_no_source_is_read_with_remote_code(monkeypatch):
  """The loader never passes trust_remote_code (nor anything else a script would need)."""
  calls = []

  def fake_load_dataset(path, name=None, **kwargs):
    calls.append(kwargs)
    raise RuntimeError("stop")

  monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
  for source in HUB_SOURCES:
    with pytest.raises(RuntimeError, match="stop"):
      sources._load_hub(source, next(iter(source.splits.values()))[0], "en")
  assert calls and all(set(kw) == {"split", "revision"} for kw in calls)


def _write_conversion_branch(root: Path, rows: list[dict]) -> Path:
  """A local copy of a refs/convert/parquet tree: default/{split}/0000.parquet, no README."""
  for split in ("train", "validation"):
    (root / "default" / split).mkdir(parents=True)
    datasets.Dataset.from_list(rows).to_parquet(str(root / "default" / split / "0000.parquet"))
  return root


def test_parquet_conversion_branch_loads_with_the_declared_config(tmp_path):
  """The conversion branch's layout, read by datasets as our declaration reads it: config None
  finds "default"; a script-era config name ("plain_text") would not exist there."""
  row = {"id": "c0", "context": "Ctx.", "question": "Q?", "answer0": "a", "answer1": "b",
         "answer2": "c", "answer3": "d", "label": 1}
  mirror = _write_conversion_branch(tmp_path / "cosmos_qa", [row])
  spec = dataclasses.replace(tasks.get_source("cosmosqa"), hub_id=str(mirror), revision=None)
  ds, origin = sources._load_hub(spec, "validation", "en")
  assert ds[0]["id"] == "c0" and origin.endswith("/default@main:validation")
  with pytest.raises(ValueError, match="plain_text"):
    datasets.load_dataset(str(mirror), "plain_text", split="train")


def test_a_script_repository_is_a_one_line_user_error(tmp_path):
  repo = tmp_path / "cosmos_qa"
  repo.mkdir()
  (repo / "cosmos_qa.py").write_text("raise SystemExit('never run')\n")
  spec = dataclasses.replace(tasks.get_source("cosmosqa"), hub_id=str(repo), revision=None)
  with pytest.raises(tasks.HubSourceError) as err:
    sources._load_hub(spec, "train", "en")
  message = str(err.value)
  assert "holds a loading script" in message and "cosmos_qa.py" in message
  assert "--config.data.overrides.cosmosqa=DIR" in message and "\n" not in message


def _doc_table() -> dict[str, list[str]]:
  rows = {}
  for line in DOC.read_text(encoding="utf-8").splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if line.startswith("| `") and len(cells) >= 7:
      rows[cells[0].strip("`")] = cells
  return rows


def test_docs_data_table_matches_the_registry():
  table = _doc_table()
  assert set(table) == set(tasks.list_sources())
  for name in tasks.list_sources():
    source = tasks.get_source(name)
    _, hub_id, config, revision = table[name][:4]
    if source.hub_id is None:
      assert hub_id == "—", name
      continue
    assert hub_id == f"`{source.hub_id}`", name
    assert config == (f"`{source.config}`" if source.config else "—"), name
    assert revision == f"`{source.revision or 'main'}`", name
    for hub_split in {s for splits in source.splits.values() for s in splits}:
      assert re.search(rf"\b{hub_split}\b", table[name][4]), (name, hub_split)

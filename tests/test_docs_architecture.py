"""docs/architecture.md names real places: every backticked repository path exists, and every
backticked name it says a module defines is defined there."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "architecture.md"


def test_every_path_on_the_page_exists():
  text = PAGE.read_text(encoding="utf-8")
  paths = set(re.findall(r"`((?:stilts_jax|configs|tests|tpu_scripts|docs)/[\w/.]*)`", text))
  assert len(paths) > 20
  missing = sorted(p for p in paths if not (REPO / p).exists())
  assert not missing, missing


def test_named_definitions_are_where_the_page_says():
  text = PAGE.read_text(encoding="utf-8")
  # "(`NAME`, `NAME` in `path.py`; `NAME` and `NAME` in `other.py`)"
  found = re.findall(r"[(;]\s*((?:`\w+`(?:,\s+|\s+and\s+)?)+)\s+in\s+`(stilts_jax/[\w/]+\.py)`",
                     text)
  assert len(found) >= 5, found
  for names, path in found:
    source = (REPO / path).read_text(encoding="utf-8")
    for name in re.findall(r"`(\w+)`", names):
      assert re.search(rf"^(def |class |){name}\b", source, re.M), (name, path)

"""Writing a summary's tables and plots into a directory, local or gs://: the one place shared by
`stilts-jax-report` (several workdirs into --out) and the pipeline's per-run report (one workdir,
from its rows in memory). The two differ only in file names (`Layout`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from etils import epath

from stilts_jax.paths import PathLike, write_atomic
from stilts_jax.report.plots import plot_gains_heatmap, plot_per_language
from stilts_jax.report.results import RESULTS_FILE, TARGETS, ResultsError, parse_rows
from stilts_jax.report.summary import Summary, build_summary, to_csv, to_long_csv, to_markdown


@dataclasses.dataclass(frozen=True)
class Layout:
  """File names of the tables, relative to the output directory; PNGs go into `plots`."""
  markdown: str
  csv: str
  long_csv: str | None  # None: not written
  plots: str  # subdirectory for the PNGs ("" = the directory itself)


# stilts-jax-report's --out.
REPORT_LAYOUT = Layout("summary.md", "summary.csv", "summary_long.csv", "")
# A pipeline workdir, beside results.jsonl.
RUN_LAYOUT = Layout("results.md", "results.csv", None, "plots")


def has_gains(summary: Summary) -> bool:
  """Whether there is a gains heatmap to draw: baseline rows and at least one other setting."""
  return summary.has_baseline and len(summary.settings) > 1


def plotted_targets(summary: Summary) -> list[str]:
  """XTREME targets with a score for some setting on the summary's split (one plot each)."""
  return [t for t in TARGETS if any(summary.cell(s, t).value is not None
                                    for s in summary.settings)]


def write_summary(summary: Summary, out_dir: PathLike,
                  layout: Layout = REPORT_LAYOUT) -> str:
  """Writes the markdown and CSV tables, `per_language_<target>.png` for every target with
  results and, when `has_gains`, `gains_heatmap.png`. Returns the markdown."""
  out = epath.Path(out_dir)
  markdown = to_markdown(summary)
  write_atomic(out / layout.markdown, markdown)
  write_atomic(out / layout.csv, to_csv(summary))
  if layout.long_csv:
    write_atomic(out / layout.long_csv, to_long_csv(summary))
  plots = out / layout.plots if layout.plots else out
  if has_gains(summary):
    plot_gains_heatmap(summary, plots / "gains_heatmap.png")
  for target in plotted_targets(summary):
    plot_per_language(summary, target, plots / f"per_language_{target}.png")
  return markdown


def write_run_report(workdir: PathLike, rows: Sequence[dict]) -> str:
  """The per-run report of a pipeline workdir, from its result rows in memory (never re-read):
  results.md, results.csv and plots/*.png for split "validation" (RUN_LAYOUT).

  When no table can be built (e.g. only test rows, or a malformed row), results.md says why and
  nothing else is written. results.jsonl itself is the caller's to write. Returns the markdown.
  """
  workdir = epath.Path(workdir)
  try:
    summary = build_summary(parse_rows(rows, os.fspath(workdir / RESULTS_FILE)),
                            split="validation")
  except ResultsError as e:  # the rows are still complete in results.jsonl
    markdown = f"No summary table: {e}\n"
    write_atomic(workdir / RUN_LAYOUT.markdown, markdown)
    return markdown
  return write_summary(summary, workdir, RUN_LAYOUT)

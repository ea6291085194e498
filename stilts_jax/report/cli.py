"""`stilts-jax-report WORKDIR [WORKDIR...] --out DIR [--split validation|test] [--submission]`.

Writes to DIR: summary.md, summary.csv (wide, like the table), summary_long.csv (one row per
setting x task with std, seeds, coverage), gains_heatmap.png (needs baseline rows),
per_language_<target>.png for every target with results, and with --submission
submission/<workdir name>/<task>/test-<lang>.{tsv,json} from each WORKDIR/predictions. Prints the
markdown table. Exit status 2 on bad input (message on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from stilts_jax.report.plots import plot_gains_heatmap, plot_per_language
from stilts_jax.report.results import SPLITS, TARGETS, ResultsError, load_results
from stilts_jax.report.submission import SubmissionError, missing_languages, write_submission
from stilts_jax.report.summary import build_summary, to_csv, to_long_csv, to_markdown


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="stilts-jax-report", description=__doc__.split("\n")[0])
  p.add_argument("workdirs", nargs="+", type=Path,
                 help="workdirs holding results.jsonl (or results.jsonl files)")
  p.add_argument("--out", required=True, type=Path, help="output directory")
  p.add_argument("--split", choices=SPLITS, default="validation",
                 help="split to tabulate (default: validation, the dev results the paper analyses)")
  p.add_argument("--submission", action="store_true",
                 help="also write XTREME submission files from WORKDIR/predictions")
  return p


def _submissions(workdirs: Sequence[Path], out: Path) -> None:
  names = [w.name if w.is_dir() else w.parent.name for w in workdirs]
  if len(set(names)) < len(names):
    raise SubmissionError(f"Workdir names must be distinct for --submission, got {names}.")
  for w, name in zip(workdirs, names):
    pred = (w if w.is_dir() else w.parent) / "predictions"
    # The pipeline writes predictions/<intermediate setting>/<target>/test-<lang>.jsonl: one
    # submission per setting (a workdir may hold a grid of settings).
    for setting in sorted(p for p in pred.iterdir() if p.is_dir()) if pred.is_dir() else []:
      written = write_submission(setting, out / "submission" / name / setting.name)
      for target, langs in missing_languages(written).items():
        print(f"warning: submission {name}/{setting.name}/{target} lacks test languages: "
              f"{' '.join(langs)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  try:
    summary = build_summary(load_results(args.workdirs), split=args.split)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    markdown = to_markdown(summary)
    (out / "summary.md").write_text(markdown, encoding="utf-8")
    (out / "summary.csv").write_text(to_csv(summary), encoding="utf-8")
    (out / "summary_long.csv").write_text(to_long_csv(summary), encoding="utf-8")
    if summary.has_baseline and len(summary.settings) > 1:
      plot_gains_heatmap(summary, out / "gains_heatmap.png")
    else:
      # The tables are still useful without a baseline; say why the heatmap is absent.
      print("note: gains_heatmap.png not written: it needs baseline rows (intermediate = null) "
            "and at least one intermediate setting.", file=sys.stderr)
    for target in TARGETS:
      if any(summary.cell(s, target).value is not None for s in summary.settings):
        plot_per_language(summary, target, out / f"per_language_{target}.png")
    if args.submission:
      _submissions(args.workdirs, out)
  except (ResultsError, SubmissionError) as e:
    print(f"stilts-jax-report: error: {e}", file=sys.stderr)
    return 2
  print(markdown, end="")
  return 0


if __name__ == "__main__":
  sys.exit(main())

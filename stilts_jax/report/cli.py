"""`stilts-jax-report WORKDIR [WORKDIR...] --out DIR [--split validation|test] [--submission] [--paper]`.

Writes to DIR: summary.md, summary.csv (wide, like the table), summary_long.csv (one row per
setting x task with std, seeds, coverage), gains_heatmap.png (needs baseline rows),
per_language_<target>.png for every target with results, and with --submission
submission/<workdir name>/<task>/test-<lang>.{tsv,json} from each WORKDIR/predictions, and with
--paper paper.md: the published X-STILTs and XLM-R Large test numbers beside the run's, with the
delta and whether each compares (report/paper.py). Prints the markdown tables. WORKDIRs and DIR may be local or gs://... (relative paths are taken from the
current directory). Exit status 2 on bad input or an unusable path (message on stderr, no
traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from etils import epath

from stilts_jax import paths
from stilts_jax.paths import write_atomic
from stilts_jax.report import paper
from stilts_jax.errors import print_error
from stilts_jax.report.outputs import REPORT_LAYOUT, has_gains, write_summary
from stilts_jax.report.results import SPLITS, ResultsError, load_results
from stilts_jax.report.submission import SubmissionError, missing_languages, write_submission
from stilts_jax.report.summary import build_summary


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="stilts-jax-report", description=__doc__.split("\n")[0])
  # Plain strings: paths are resolved in main, where an unusable one is a one-line error.
  p.add_argument("workdirs", nargs="+",
                 help="workdirs holding results.jsonl (or results.jsonl files), local or gs://")
  p.add_argument("--out", required=True, help="output directory, local or gs://")
  p.add_argument("--split", choices=SPLITS, default="validation",
                 help="split to tabulate (default: validation, the dev results the paper analyses)")
  p.add_argument("--submission", action="store_true",
                 help="also write XTREME submission files from WORKDIR/predictions")
  p.add_argument("--paper", action="store_true",
                 help="also compare with the paper's published test numbers (paper.md)")
  return p


def _submissions(workdirs: Sequence[epath.Path], out: epath.Path) -> None:
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


# Errors of the paths a user gave, beside each CLI's own: an unusable path (no gcsfs for gs://),
# an unreadable input or an unwritable output (a missing bucket, no permission).
INPUT_ERRORS = (paths.PathError, OSError)


fail = print_error  # bad input: one line on stderr, no traceback, exit status 2


def main(argv: Sequence[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  try:
    workdirs = [paths.resolve(w) for w in args.workdirs]
    out = paths.resolve(args.out)
    rows = load_results(workdirs)
    summary = build_summary(rows, split=args.split)
    markdown = write_summary(summary, out, REPORT_LAYOUT)
    if args.paper:
      compared = paper.to_markdown(rows)
      write_atomic(out / "paper.md", compared)
      markdown += "\n" + compared
    if not has_gains(summary):
      # The tables are still useful without a baseline; say why the heatmap is absent.
      print("note: gains_heatmap.png not written: it needs baseline rows (intermediate = null) "
            "and at least one intermediate setting.", file=sys.stderr)
    if args.submission:
      _submissions(workdirs, out)
  except (ResultsError, SubmissionError, *INPUT_ERRORS) as e:
    return fail("stilts-jax-report", e)
  print(markdown, end="")
  return 0


if __name__ == "__main__":
  sys.exit(main())

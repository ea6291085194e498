"""Results → XTREME summary table, gains heatmap, per-language plots and submission files.

    from stilts_jax import report
    rows = report.load_results(["runs/baseline", "runs/mnli"])   # validated results.jsonl rows
    s = report.build_summary(rows, split="validation")
    print(report.to_markdown(s))
    report.plot_gains_heatmap(s, "out/gains_heatmap.png")
    report.write_submission("runs/mnli/predictions", "out/submission")
    report.write_summary(s, "gs://bucket/report")   # summary.md/.csv, summary_long.csv, PNGs
    report.write_run_report("gs://bucket/run", rows_in_memory)  # results.md/.csv, plots/

Paths may be local or gs://... (etils.epath). Console script: `stilts-jax-report` (cli.py).
"""

from stilts_jax.report.outputs import (REPORT_LAYOUT, RUN_LAYOUT, Layout, write_run_report,
                                       write_summary)
from stilts_jax.report.plots import (gains_figure, per_language_figure, plot_gains_heatmap,
                                     plot_per_language, save_png)
from stilts_jax.report.results import (MAIN_METRIC, TARGETS, ResultRow, ResultsError,
                                       aggregate_seeds, load_results, parse_rows,
                                       read_results_file)
from stilts_jax.report.submission import SubmissionError, missing_languages, write_submission
from stilts_jax.report.summary import (BASELINE_LABEL, Cell, GainTable, Summary, build_summary,
                                       gain_table, to_csv, to_long_csv, to_markdown)

__all__ = [
    "BASELINE_LABEL", "Cell", "GainTable", "Layout", "MAIN_METRIC", "REPORT_LAYOUT", "RUN_LAYOUT",
    "ResultRow", "ResultsError", "SubmissionError", "Summary", "TARGETS", "aggregate_seeds",
    "build_summary", "gain_table", "gains_figure", "load_results", "missing_languages",
    "parse_rows", "per_language_figure", "plot_gains_heatmap", "plot_per_language",
    "read_results_file", "save_png", "to_csv", "to_long_csv", "to_markdown", "write_run_report",
    "write_submission", "write_summary",
]

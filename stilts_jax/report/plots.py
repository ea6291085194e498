"""Heatmap of gains over the baseline and per-language grouped bar plots (matplotlib, Agg).

Figures are built with `matplotlib.figure.Figure` and rendered by the Agg canvas, not pyplot: no
global backend switch (importing this in a notebook leaves its backend alone) and no figure
registry to leak across a grid of plots. `*_figure` return the Figure (tests read its texts);
`plot_*` write a PNG. PNGs are rendered into memory and written whole through `etils.epath`
(`save_png`): matplotlib cannot write to gs://, and a reader never sees half a file.
"""

from __future__ import annotations

import io

import matplotlib
import numpy as np
from etils import epath
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from stilts_jax.paths import PathLike, write_atomic
from stilts_jax.report.results import MAIN_METRIC
from stilts_jax.report.summary import Summary, gain_table, setting_label, target_title

DPI = 100


def gain_label(value: float, partial: bool) -> str:
  """The annotation of one heatmap cell ("" when missing)."""
  if not np.isfinite(value):
    return ""
  return f"{value:+.1f}" + ("*" if partial else "")


def gains_figure(summary: Summary) -> Figure:
  """Intermediate x target heatmap of the gain over the baseline, centred at 0.

  Raises ResultsError when there is no baseline. Missing cells are grey and unannotated; `*` marks
  gains computed on fewer languages than the task's full list.
  """
  g = gain_table(summary)
  if not g.settings:
    raise ValueError("Only baseline results: there is no intermediate setting to compare.")
  cols = [("Avg" if c == "avg" else target_title(c)) for c in g.columns]
  fig = figure(heatmap_size(len(g.settings), len(cols)))
  ax = fig.subplots()
  finite = g.values[np.isfinite(g.values)]
  # Symmetric limits so the colour of 0 is the neutral middle of the diverging map.
  lim = max(float(np.abs(finite).max()) if finite.size else 0.0, 1e-6)
  cmap = matplotlib.colormaps["RdBu"].with_extremes(bad="lightgrey")
  im = ax.imshow(np.ma.masked_invalid(g.values), cmap=cmap, aspect="auto",
                 norm=TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim))
  for i in range(len(g.settings)):
    for j in range(len(cols)):
      text = gain_label(g.values[i, j], g.partial[i, j])
      if text:
        dark = abs(g.values[i, j]) > 0.6 * lim
        ax.text(j, i, text, ha="center", va="center", fontsize=8,
                color="white" if dark else "black")
  ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
  ax.set_yticks(range(len(g.settings)), g.settings)
  ax.set_title(f"Gain over {setting_label(None)} ({summary.split})")
  fig.colorbar(im, ax=ax, label="gain (points)")
  fig.tight_layout()
  return fig


def plot_gains_heatmap(summary: Summary, path: PathLike) -> epath.Path:
  return save_png(gains_figure(summary), path)


def per_language_figure(summary: Summary, target: str) -> Figure:
  """Grouped bars: one group per language of `target`, one bar per intermediate setting.

  Missing results leave a gap (no bar). The width grows with the number of bars.
  """
  settings = [s for s in summary.settings if summary.cell(s, target).value is not None]
  if not settings:
    raise ValueError(f"No {target} results on {summary.split}.")
  langs = list(summary.cell(settings[0], target).expected)
  n = len(settings)
  width = 0.8 / n
  fig = figure(bars_size(len(langs), n))
  ax = fig.subplots()
  x = np.arange(len(langs))
  for k, s in enumerate(settings):
    per = summary.cell(s, target).per_language
    heights = np.array([per.get(l, np.nan) for l in langs])
    ax.bar(x - 0.4 + width * (k + 0.5), heights, width, label=setting_label(s))
  ax.set_xticks(x, langs)
  ax.set_xlim(-0.6, len(langs) - 0.4)
  ax.set_ylim(0, 100)
  metric = MAIN_METRIC[target]
  ax.set_ylabel({"score": "(EM + F1) / 2", "f1": "F1"}.get(metric, metric))
  ax.set_title(f"{target_title(target)} per language ({summary.split})")
  ax.legend(fontsize=7, ncol=min(n, 4), loc="upper right")
  fig.tight_layout()
  return fig


def plot_per_language(summary: Summary, target: str, path: PathLike) -> epath.Path:
  return save_png(per_language_figure(summary, target), path)


def heatmap_size(n_rows: int, n_cols: int) -> tuple[float, float]:
  """Figure size in inches of the gains heatmap (pixels = inches * DPI)."""
  return 1.5 + 0.9 * n_cols, max(2.5, 1.6 + 0.45 * n_rows)


def bars_size(n_languages: int, n_settings: int) -> tuple[float, float]:
  """Figure size in inches of a per-language plot: wide enough for every bar, capped."""
  return min(40.0, 2.0 + n_languages * (0.2 + 0.12 * n_settings)), 4.0


def figure(size: tuple[float, float]) -> Figure:
  """A figure rendered by the Agg canvas (no pyplot state)."""
  fig = Figure(figsize=size, dpi=DPI)
  FigureCanvasAgg(fig)  # attaches itself as fig.canvas
  return fig


def save_png(fig: Figure, path: PathLike) -> epath.Path:
  """Writes `fig` as a PNG at `path` (local or gs://; parent directories made as needed)."""
  path = epath.Path(path)
  buf = io.BytesIO()
  fig.savefig(buf, dpi=DPI, format="png")
  write_atomic(path, buf.getvalue())
  return path

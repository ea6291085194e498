"""Gains heatmap and per-language bar plots: PNG files, sizes and the annotated gains."""

import json
import struct

import pytest

from stilts_jax.report import (ResultsError, build_summary, gains_figure, load_results,
                               per_language_figure, plot_gains_heatmap, plot_per_language)
from stilts_jax.report.plots import DPI, bars_size, heatmap_size
from stilts_jax.tasks import get_task


def _rows(inter, target, value, metric="accuracy", skip=()):
  return [{"intermediate": inter, "target": target, "language": l, "split": "validation",
           "metric": metric, "value": value} for l in get_task(target).languages if l not in skip]


def _summary(tmp_path, rows):
  p = tmp_path / "results.jsonl"
  p.write_text("".join(json.dumps(r) + "\n" for r in rows))
  return build_summary(load_results([p]))


def _png_size(path):
  data = path.read_bytes()
  assert data[:8] == b"\x89PNG\r\n\x1a\n"
  return struct.unpack(">II", data[16:24])  # IHDR width, height


@pytest.fixture
def summary(tmp_path):
  rows = (_rows(None, "xnli", 70.0) + _rows(None, "pawsx", 80.0)
          + _rows("mnli", "xnli", 75.5) + _rows("mnli", "pawsx", 78.0, skip={"zh"})
          + _rows("squad", "xnli", 69.0) + _rows("squad", "panx", 50.0, metric="f1"))
  return _summary(tmp_path, rows)


def test_heatmap_annotations_equal_hand_gains(summary):
  fig = gains_figure(summary)
  texts = sorted(t.get_text() for t in fig.axes[0].texts)
  # mnli: xnli +5.5, pawsx -2.0 on the 6 shared languages (marked); squad: xnli -1.0; panx has
  # no baseline and Avg needs all 9 tasks, so those cells stay empty.
  assert texts == sorted(["+5.5", "-2.0*", "-1.0"])
  ax = fig.axes[0]
  assert [t.get_text() for t in ax.get_yticklabels()] == ["mnli", "squad"]
  assert [t.get_text() for t in ax.get_xticklabels()][:2] == ["XNLI", "PAWS-X"]
  norm = ax.images[0].norm
  assert norm.vcenter == 0.0 and norm.vmin == -norm.vmax  # diverging, centred at 0


def test_heatmap_png(summary, tmp_path):
  path = plot_gains_heatmap(summary, tmp_path / "out" / "gains_heatmap.png")
  w, h = heatmap_size(2, 10)
  assert _png_size(path) == (round(w * DPI), round(h * DPI))


def test_heatmap_refuses_without_baseline(tmp_path):
  s = _summary(tmp_path, _rows("mnli", "xnli", 75.0))
  with pytest.raises(ResultsError, match="No baseline rows"):
    plot_gains_heatmap(s, tmp_path / "h.png")
  assert not (tmp_path / "h.png").exists()


def test_per_language_bars(summary, tmp_path):
  fig = per_language_figure(summary, "pawsx")
  ax = fig.axes[0]
  assert [t.get_text() for t in ax.get_xticklabels()] == list(get_task("pawsx").languages)
  heights = [p.get_height() for p in ax.patches]
  # Baseline 7 bars of 80, mnli 6 bars of 78 plus a NaN gap for zh; squad has no pawsx rows.
  assert heights[:7] == [80.0] * 7 and heights[7:13] == [78.0] * 6 and heights[13] != heights[13]
  assert [t.get_text() for t in ax.get_legend().get_texts()] == ["none (XLM-R)", "mnli"]
  small = plot_per_language(summary, "pawsx", tmp_path / "per_language_pawsx.png")
  big = plot_per_language(summary, "panx", tmp_path / "per_language_panx.png")
  w, h = bars_size(7, 2)
  assert _png_size(small) == (round(w * DPI), round(h * DPI))
  assert _png_size(big)[0] > _png_size(small)[0]  # 40 languages get a wider figure
  with pytest.raises(ValueError, match="No tatoeba results"):
    per_language_figure(summary, "tatoeba")

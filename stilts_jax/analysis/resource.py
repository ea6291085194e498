"""Analysis 5: do low-resource languages gain more (or less) from intermediate training?

Resource level = the language's CC-100 size in XLM-R's pretraining data (typology_data.CC100, from
the XLM-R paper): "low" below `threshold_gib` (default 10 GiB), "high" at or above it. Unit:
(target, language), English excluded; gain = mean over the chosen settings of (setting - baseline)
seed-mean task score. Group means with bootstrap CIs, the high - low difference with a bootstrap
CI (resampling within each group) and a two-sample permutation test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
from etils import epath

from stilts_jax.analysis import common as C
from stilts_jax.analysis.stats import Estimate, PermutationTest, mean_ci, two_sample_test
from stilts_jax.analysis.typology_data import CC100
from stilts_jax.paths import PathLike
from stilts_jax.report.results import TARGETS, ResultRow

DEFAULT_THRESHOLD_GIB = 10.0
GROUPS = ("low", "high")


@dataclasses.dataclass(frozen=True)
class GainPoint:
  target: str
  language: str
  gain: float
  size_gib: float
  group: str


@dataclasses.dataclass
class ResourceResult:
  split: str
  settings: list[str]
  threshold_gib: float
  points: list[GainPoint]
  group_means: dict[str, Estimate]
  difference: Estimate  # high - low
  test: PermutationTest
  n_boot: int
  seed: int

  def plot(self, out_dir: PathLike) -> list[epath.Path]:
    fig = C.figure((5.0, 4.0))
    ax = fig.subplots()
    x = np.arange(len(GROUPS))
    vals = np.array([self.group_means[g].value for g in GROUPS])
    low = np.array([self.group_means[g].low for g in GROUPS])
    high = np.array([self.group_means[g].high for g in GROUPS])
    ax.bar(x, vals, color=["tab:orange", "tab:blue"], alpha=0.8)
    ax.errorbar(x, vals, yerr=[vals - low, high - vals], fmt="none", color="black", capsize=4)
    rng = np.random.default_rng(0)  # jitter only
    for k, g in enumerate(GROUPS):
      pts = [p.gain for p in self.points if p.group == g]
      ax.scatter(k + rng.uniform(-0.15, 0.15, len(pts)), pts, s=8, color="black", alpha=0.4)
    ax.axhline(0, color="black", lw=0.5)
    ax.set_xticks(x, [f"{g} (n={self.group_means[g].n})" for g in GROUPS])
    ax.set_ylabel(f"gain over baseline ({self.split}, points)")
    ax.set_title(f"Gain by CC-100 size (threshold {self.threshold_gib:g} GiB; "
                 f"p={C.fmt_p(self.test)})", fontsize=9)
    return [C.save(fig, epath.Path(out_dir) / "resource.png")]

  def to_markdown(self, images: Sequence[PathLike] = (),
                  relative_to: PathLike | None = None) -> str:
    t = self.test
    lines = ["## 5. Low- vs high-resource languages", "",
             f"Groups by XLM-R CC-100 size: low < {self.threshold_gib:g} GiB ≤ high. Unit: "
             f"(target, language), English excluded; gain = mean over {', '.join(self.settings)} "
             f"of setting − baseline ({self.split}). Means with "
             f"{C.ci_note(self.n_boot, self.seed)}; "
             f"two-sample permutation test ({t.method}).", ""]
    lines += C.md_table(["group", "n", "mean gain [CI]", "languages"], [
        [g, str(self.group_means[g].n), self.group_means[g].fmt(2, sign=True),
         " ".join(sorted({p.language for p in self.points if p.group == g}))] for g in GROUPS])
    lines += ["", f"**High − low: {self.difference.fmt(2, sign=True)} points, p = {C.fmt_p(t)} "
              f"(n = {t.n}).**", "",
              "- A language appears once per target, so points are not independent; resource "
              "level is also confounded with script and typology (see analysis 3).", ""]
    lines += C.images_md(images, relative_to)
    return "\n".join(lines) + "\n"


def resource_group(language: str, threshold_gib: float = DEFAULT_THRESHOLD_GIB,
                   sizes: Mapping[str, tuple[float, float]] = CC100) -> str:
  if language not in sizes:
    raise C.AnalysisError(f"No CC-100 size for language {language!r}.")
  return "low" if sizes[language][1] < threshold_gib else "high"


def analyze_resource(rows: Sequence[ResultRow], split: str = "validation",
                     settings: Sequence[str] | None = None,
                     threshold_gib: float = DEFAULT_THRESHOLD_GIB, n_boot: int = 2000,
                     seed: int = 0, n_perm: int = 10_000) -> ResourceResult:
  """Gains of low- vs high-resource languages.

  Raises AnalysisError without a baseline or intermediate setting, or when either group has fewer
  than 2 (target, language) gains.
  """
  summary = C.summarize(rows, split)
  C.require_baseline(summary, "Analysis 5 (low vs high resource)")
  settings = C.choose_settings(summary, settings, "Analysis 5")
  points = []
  for t in TARGETS:
    for lang, gain in C.language_gains(summary, settings, t).items():
      points.append(GainPoint(t, lang, gain, CC100[lang][1], resource_group(lang, threshold_gib)))
  groups = {g: np.array([p.gain for p in points if p.group == g]) for g in GROUPS}
  small = [f"{g}: {len(v)}" for g, v in groups.items() if len(v) < 2]
  if small:
    raise C.AnalysisError(f"Analysis 5 needs at least 2 (target, language) gains per resource "
                          f"group (threshold {threshold_gib:g} GiB); have {', '.join(small)}.")
  lo, hi = groups["low"], groups["high"]
  difference = _group_diff_ci(hi, lo, n_boot, seed)
  return ResourceResult(split, settings, threshold_gib, points,
                        {g: mean_ci(v, n_boot, seed) for g, v in groups.items()}, difference,
                        two_sample_test(hi, lo, n_perm, seed), n_boot, seed)


def _group_diff_ci(hi: np.ndarray, lo: np.ndarray, n_boot: int, seed: int) -> Estimate:
  """mean(hi) - mean(lo) with a percentile CI, resampling each group within itself."""
  rng = np.random.default_rng(seed)
  boots = [hi[rng.integers(0, len(hi), len(hi))].mean()
           - lo[rng.integers(0, len(lo), len(lo))].mean() for _ in range(n_boot)]
  low, high = np.quantile(boots, [0.025, 0.975])
  return Estimate(float(hi.mean() - lo.mean()), float(low), float(high), len(hi) + len(lo), n_boot)

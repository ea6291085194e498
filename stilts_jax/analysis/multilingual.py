"""Analysis 2: multilingual vs English-only intermediate training, paired per (target, language).

Pairs of settings map an English-only setting to its multilingual counterpart (`mnli` ->
`mnli_multilingual` by default: every setting X with an X_multilingual beside it). Unit: one
(pair, target, language) with both scores; difference = multilingual - English-only seed-mean task
score. English itself is left out by default (the question is about zero-shot languages). Mean
difference with a bootstrap CI and a paired sign-flip permutation test (exact for n <= 20).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
from etils import epath

from stilts_jax.analysis import common as C
from stilts_jax.analysis.stats import Estimate, PermutationTest, mean_ci, sign_flip_test
from stilts_jax.paths import PathLike
from stilts_jax.report.results import TARGETS, ResultRow

DEFAULT_SUFFIX = "_multilingual"


@dataclasses.dataclass(frozen=True)
class PairedDiff:
  english: str
  multilingual: str
  target: str
  language: str
  diff: float  # multilingual - English-only


@dataclasses.dataclass
class MultilingualResult:
  split: str
  pairs: dict[str, str]
  diffs: list[PairedDiff]
  mean: Estimate
  test: PermutationTest
  per_target: dict[str, Estimate]
  n_boot: int
  seed: int

  def plot(self, out_dir: PathLike) -> list[epath.Path]:
    labels = list(self.per_target) + ["all"]
    ests = list(self.per_target.values()) + [self.mean]
    fig = C.figure((max(5.5, 1.0 + 0.7 * len(labels)), 4.0))
    ax = fig.subplots()
    x = np.arange(len(labels))
    vals = np.array([e.value for e in ests])
    low = np.array([e.low if np.isfinite(e.low) else e.value for e in ests])
    high = np.array([e.high if np.isfinite(e.high) else e.value for e in ests])
    ax.bar(x, vals, color=["tab:blue"] * (len(labels) - 1) + ["tab:green"])
    ax.errorbar(x, vals, yerr=[vals - low, high - vals], fmt="none", color="black", capsize=3)
    for k, t in enumerate(self.per_target):
      pts = [d.diff for d in self.diffs if d.target == t]
      ax.scatter(np.full(len(pts), k), pts, s=8, color="black", alpha=0.4, zorder=3)
    ax.axhline(0, color="black", lw=0.5)
    ax.set_xticks(x, labels, rotation=30, ha="right")
    ax.set_ylabel("multilingual − English-only (points)")
    ax.set_title(f"Multilingual − English-only ({self.split}; n={self.mean.n}, "
                 f"p={C.fmt_p(self.test)})", fontsize=9)
    return [C.save(fig, epath.Path(out_dir) / "multilingual.png")]

  def to_markdown(self, images: Sequence[PathLike] = (),
                  relative_to: PathLike | None = None) -> str:
    pairs = ", ".join(f"{e} → {m}" for e, m in self.pairs.items())
    t = self.test
    lines = ["## 2. Multilingual vs English-only intermediate training", "",
             f"Pairs: {pairs}. Unit: (pair, target, language), English excluded; difference = "
             f"multilingual − English-only task score ({self.split}). Mean with "
             f"{C.ci_note(self.n_boot, self.seed)}; paired sign-flip permutation test "
             f"({t.method}).",
             "", f"**Mean difference {self.mean.fmt(2, sign=True)} points, n = {t.n}, "
             f"p = {C.fmt_p(t)}.**", ""]
    lines += C.md_table(["target", "n", "mean difference [CI]"], [
        [tg, str(e.n), e.fmt(2, sign=True)] for tg, e in self.per_target.items()])
    lines += ["", "- Languages of one target share a fine-tuned model, so paired differences "
              "within a target are correlated; per-target rows show whether one task drives the "
              "mean.", ""]
    lines += C.images_md(images, relative_to)
    return "\n".join(lines) + "\n"


def detect_pairs(settings: Sequence[str | None], suffix: str = DEFAULT_SUFFIX) -> dict[str, str]:
  present = {s for s in settings if s is not None}
  return {s: s + suffix for s in sorted(present) if s + suffix in present}


def analyze_multilingual(rows: Sequence[ResultRow], pairs: Mapping[str, str] | None = None,
                         split: str = "validation", suffix: str = DEFAULT_SUFFIX,
                         exclude_english: bool = True, n_boot: int = 2000, seed: int = 0,
                         n_perm: int = 10_000) -> MultilingualResult:
  """Paired comparison of multilingual vs English-only settings.

  Raises AnalysisError when no pair is present or fewer than 3 paired (target, language) scores
  exist.
  """
  summary = C.summarize(rows, split)
  if pairs is None:
    pairs = detect_pairs(summary.settings, suffix)
    if not pairs:
      raise C.AnalysisError(
          f"Analysis 2 needs pairs of settings X and X{suffix} (or an explicit mapping); "
          f"present: {', '.join(s for s in summary.settings if s is not None) or 'none'}.")
  pairs = dict(pairs)
  C.check_settings(summary, list(pairs) + list(pairs.values()))
  diffs = []
  for en, ml in pairs.items():
    for t in TARGETS:
      a, b = C.per_language(summary, en, t), C.per_language(summary, ml, t)
      for lang in summary.cell(en, t).expected:
        if lang in a and lang in b and not (exclude_english and lang == C.ENGLISH):
          diffs.append(PairedDiff(en, ml, t, lang, b[lang] - a[lang]))
  if len(diffs) < 3:
    raise C.AnalysisError(f"Analysis 2 needs at least 3 paired (target, language) scores; found "
                          f"{len(diffs)} for {', '.join(f'{e}/{m}' for e, m in pairs.items())}.")
  d = np.array([x.diff for x in diffs])
  per_target = {}
  for t in TARGETS:
    dt = [x.diff for x in diffs if x.target == t]
    if dt:
      per_target[t] = mean_ci(dt, n_boot, seed)
  return MultilingualResult(split, pairs, diffs, mean_ci(d, n_boot, seed),
                            sign_flip_test(d, n_perm, seed), per_target, n_boot, seed)

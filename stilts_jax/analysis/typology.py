"""Analysis 3: typological distance from English vs zero-shot degradation.

Degradation of a target language = English score - language score on the same target (the same
fine-tuned model), before (XLM-R baseline) and after intermediate training (mean over the chosen
settings), and the change after - before (negative: intermediate training narrowed the gap).
Distances are URIEL's (syntactic, genetic, geographic, phonological, inventory), shipped in
`typology_data.py` (see there for how they were computed, offline, from lang2vec's bundled data).

Unit: (target, language), English excluded; BUCC and Tatoeba have no English score and drop out.
Pooled correlations use degradation centred within each target (tasks differ in scale: a 10-point
gap on UD-POS is not a 10-point gap on XNLI); per-target correlations need >= 3 languages.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Mapping, Sequence

import numpy as np
from etils import epath

from stilts_jax.analysis import common as C
from stilts_jax.analysis.stats import Correlation, correlation
from stilts_jax.analysis.typology_data import DISTANCE_KINDS, DISTANCES_FROM_ENGLISH, ISO639_3
from stilts_jax.paths import PathLike
from stilts_jax.report.results import TARGETS, ResultRow

PHASES = ("before", "after", "change")


@dataclasses.dataclass(frozen=True)
class DegradationPoint:
  target: str
  language: str
  before: float  # en - lang, baseline
  after: float  # en - lang, mean over intermediate settings

  @property
  def change(self) -> float:
    return self.after - self.before


@dataclasses.dataclass
class TypologyResult:
  split: str
  settings: list[str]
  points: list[DegradationPoint]
  distances: dict[str, dict[str, float]]  # language -> kind -> distance
  pooled: dict[tuple[str, str], Correlation]  # (kind, phase) -> correlation, target-centred
  per_target: dict[tuple[str, str], Correlation]  # (target, kind) -> correlation of "before"
  n_boot: int
  seed: int
  notes: list[str]

  def plot(self, out_dir: PathLike) -> list[epath.Path]:
    kinds = [k for k in DISTANCE_KINDS if any((k, p) in self.pooled for p in PHASES)]
    fig = C.figure((3.2 * len(kinds), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(kinds), sharey=True))
    before, after = _centred(self.points, "before"), _centred(self.points, "after")
    for ax, kind in zip(axes, kinds):
      x = [self.distances[p.language][kind] for p in self.points]
      ax.scatter(x, before, s=12, color="grey", label="baseline")
      ax.scatter(x, after, s=12, color="tab:red", label="after intermediate", marker="x")
      for xs, ys, colour in ((x, before, "grey"), (x, after, "tab:red")):
        if len(set(xs)) > 1:
          slope, icpt = np.polyfit(xs, ys, 1)
          grid = np.linspace(min(xs), max(xs), 10)
          ax.plot(grid, slope * grid + icpt, color=colour, lw=1)
      r = self.pooled.get((kind, "before"))
      ax.set_title(f"{kind} (ρ before {r.spearman.value:.2f})" if r else kind, fontsize=8)
      ax.set_xlabel("distance from English")
    axes[0].set_ylabel("degradation (en − lang), centred per task")
    axes[0].legend(fontsize=7)
    return [C.save(fig, epath.Path(out_dir) / "typology.png")]

  def to_markdown(self, images: Sequence[PathLike] = (),
                  relative_to: PathLike | None = None) -> str:
    lines = ["## 3. Typological distance vs zero-shot degradation", "",
             f"Degradation = English score − language score per target ({self.split}); after = "
             f"mean over {', '.join(self.settings)}; change = after − before. Unit: (target, "
             f"language), n = {len(self.points)}, degradation centred within each target. "
             f"Distances: URIEL via lang2vec (typology_data.py). Correlations with "
             f"{C.ci_note(self.n_boot, self.seed)} resampling (target, language) points.", ""]
    rows = []
    for kind in DISTANCE_KINDS:
      for phase in PHASES:
        r = self.pooled.get((kind, phase))
        if r is not None:
          rows.append([kind, phase, str(r.n), r.pearson.fmt(), r.spearman.fmt()])
    lines += C.md_table(["distance", "degradation", "n", "Pearson r [CI]", "Spearman ρ [CI]"],
                        rows)
    if self.per_target:
      lines += ["", "Per target (baseline degradation, Spearman ρ [CI]):", ""]
      targets = sorted({t for t, _ in self.per_target}, key=TARGETS.index)
      lines += C.md_table(["target", "n"] + list(DISTANCE_KINDS), [
          [t, str(self.per_target[(t, DISTANCE_KINDS[0])].n)] +
          [self.per_target[(t, k)].spearman.fmt() if (t, k) in self.per_target else ""
           for k in DISTANCE_KINDS] for t in targets])
    lines += [""] + [f"- {n}" for n in self.notes] + [""] * bool(self.notes)
    lines += C.images_md(images, relative_to)
    return "\n".join(lines) + "\n"


def _centred(points: Sequence[DegradationPoint], phase: str) -> np.ndarray:
  vals = np.array([getattr(p, phase) for p in points])
  targets = np.array([p.target for p in points])
  out = vals.copy()
  for t in set(targets):
    out[targets == t] -= vals[targets == t].mean()
  return out


def analyze_typology(rows: Sequence[ResultRow], split: str = "validation",
                     settings: Sequence[str] | None = None,
                     distances: Mapping[str, Mapping[str, float]] | None = None,
                     n_boot: int = 2000, seed: int = 0) -> TypologyResult:
  """Correlates each distance with degradation before/after intermediate training.

  Raises AnalysisError without a baseline or intermediate setting, or with fewer than 3 (target,
  language) points that have English and the language for the baseline and every setting.
  """
  summary = C.summarize(rows, split)
  C.require_baseline(summary, "Analysis 3 (typology vs degradation)")
  settings = C.choose_settings(summary, settings, "Analysis 3")
  distances = {l: dict(d) for l, d in (distances or DISTANCES_FROM_ENGLISH).items()}
  points, notes, unknown = [], [], set()
  for t in TARGETS:
    scores = [C.per_language(summary, s, t) for s in [None, *settings]]
    if not all(C.ENGLISH in sc for sc in scores):
      if any(scores):
        notes.append(f"{t}: no English score for every setting, left out.")
      continue
    for lang in summary.cell(None, t).expected:
      if lang == C.ENGLISH or not all(lang in sc for sc in scores):
        continue
      if lang not in distances:
        unknown.add(lang)
        continue
      deg = [sc[C.ENGLISH] - sc[lang] for sc in scores]
      points.append(DegradationPoint(t, lang, deg[0], float(np.mean(deg[1:]))))
  if unknown:
    notes.append(f"No distances for {', '.join(sorted(unknown))}; left out.")
  if len(points) < 3:
    raise C.AnalysisError(f"Analysis 3 needs at least 3 (target, language) points with English and "
                          f"the language scored for the baseline and {', '.join(settings)}; "
                          f"found {len(points)}.")
  pooled, per_target = {}, {}
  for kind in DISTANCE_KINDS:
    x = np.array([distances[p.language][kind] for p in points])
    if len(set(x)) < 2:
      notes.append(f"{kind}: the same distance for every language; no correlation.")
      continue
    for phase in PHASES:
      pooled[(kind, phase)] = correlation(x, _centred(points, phase), n_boot, seed)
    for t in TARGETS:
      sel = [i for i, p in enumerate(points) if p.target == t]
      if len(sel) >= 3 and len(set(x[sel])) > 1:
        per_target[(t, kind)] = correlation(x[sel], [points[i].before for i in sel], n_boot, seed)
  notes.append("A language appears once per target, so points are not independent; tasks also "
               "differ in their languages.")
  return TypologyResult(split, list(settings), points, distances, pooled, per_target, n_boot,
                        seed, notes)


def distance_table_from_lang2vec(data_dir: PathLike,
                                 iso639_3: Mapping[str, str] = ISO639_3,
                                 reference: str = "eng") -> dict[str, dict[str, float]]:
  """Recomputes DISTANCES_FROM_ENGLISH from lang2vec's bundled URIEL files (offline).

  `data_dir` is lang2vec's `data/` folder (feature_predictions.npz, family_features.npz,
  geocoord_features.npz). Distance = cosine distance (1 - cos) between a language's vector and
  English's: syntax/phonology/inventory kNN-imputed feature vectors (lang2vec's `*_knn` sets),
  Glottolog family membership (`fam`), and the 299 geographic proximity features (`geo`). A zero
  vector (a language isolate has no family feature) is at distance 1 from everything.
  """
  data_dir = epath.Path(data_dir)
  sets = {"syntactic": ("feature_predictions.npz", "S_"), "phonological":
          ("feature_predictions.npz", "P_"), "inventory": ("feature_predictions.npz", "INV_"),
          "genetic": ("family_features.npz", ""), "geographic": ("geocoord_features.npz", "")}
  loaded = {}
  for f in {f for f, _ in sets.values()}:
    # np.load wants a local file or a seekable object: read the bytes through epath (gs:// too).
    with np.load(io.BytesIO((data_dir / f).read_bytes())) as db:
      loaded[f] = {k: db[k] for k in ("langs", "feats", "data")}

  def vector(kind: str, code: str) -> np.ndarray:
    f, prefix = sets[kind]
    db = loaded[f]
    idx = np.flatnonzero(db["langs"] == code)
    if idx.size == 0:
      raise KeyError(f"{code!r} is not in {f}.")
    cols = np.array([str(n).startswith(prefix) for n in db["feats"]])
    return db["data"][idx[0], cols, 0].astype(float)

  out = {}
  for lang, code in iso639_3.items():
    row = {}
    for kind in DISTANCE_KINDS:
      u, v = vector(kind, code), vector(kind, reference)
      nu, nv = np.linalg.norm(u), np.linalg.norm(v)
      cos = 0.0 if nu == 0 or nv == 0 else float(u @ v / (nu * nv))
      row[kind] = round(min(1.0, max(0.0, 1.0 - cos)), 4) if code != reference else 0.0
    out[lang] = row
  return out

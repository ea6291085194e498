"""Small, dependency-free (numpy only) statistics for the analyses: correlations, bootstrap CIs and
permutation tests.

Conventions, shared by every analysis so their numbers read the same way:
- Bootstrap CIs are percentile intervals over `n_boot` resamples drawn with a fixed `seed`, so a
  report is reproducible bit for bit. Resamples on which the statistic is undefined (e.g. a
  correlation over a resample whose x values are all equal) are dropped, and their count is kept.
- Permutation p-values are two-sided. Exact tests enumerate every relabelling; Monte Carlo tests use
  p = (1 + #{|T*| >= |T|}) / (1 + n_perm), which is never 0 (Phipson & Smyth 2010): a p-value of 0
  from a finite sample of permutations would overstate the evidence.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np

# Relative tolerance when comparing permuted statistics with the observed one: a relabelling that
# reproduces the observed statistic must count as "at least as extreme" despite float round-off.
_TOL = 1e-9
EXACT_SIGN_FLIP_MAX_N = 20
EXACT_TWO_SAMPLE_MAX = 100_000  # at most this many relabellings are enumerated exactly
# Two-sided 97.5 % quantiles of Student's t for df = 1..30 (standard tables); df > 30 uses 1.96.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060,
         2.056, 2.052, 2.048, 2.045, 2.042)


def rankdata(x: Sequence[float]) -> np.ndarray:
  """Ranks starting at 1; tied values get the average of the ranks they span (as in Spearman)."""
  x = np.asarray(x, dtype=float)
  _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
  ends = np.cumsum(counts)  # rank of the last member of each run of equal values
  return ((ends - counts + 1 + ends) / 2)[inverse.reshape(-1)]


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
  """Pearson's r; NaN when either side is constant (the correlation is undefined, not 0)."""
  x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
  if len(x) != len(y):
    raise ValueError(f"x and y differ in length ({len(x)} vs {len(y)}).")
  dx, dy = x - x.mean(), y - y.mean()
  denom = math.sqrt(float(dx @ dx) * float(dy @ dy))
  if denom == 0.0:
    return math.nan
  return float(np.clip((dx @ dy) / denom, -1.0, 1.0))


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
  """Spearman's rho: Pearson's r of the (tie-averaged) ranks."""
  return pearson(rankdata(x), rankdata(y))


@dataclasses.dataclass(frozen=True)
class Estimate:
  """A statistic with its bootstrap percentile CI."""
  value: float
  low: float
  high: float
  n: int  # observations the statistic is computed on
  n_boot: int  # resamples on which the statistic was defined

  @property
  def excludes_zero(self) -> bool:
    return self.low > 0 or self.high < 0

  def fmt(self, digits: int = 2, sign: bool = False) -> str:
    f = f"{{:{'+' if sign else ''}.{digits}f}}"
    if not math.isfinite(self.value):
      return "n/a"
    if not math.isfinite(self.low):
      return f.format(self.value)
    return f"{f.format(self.value)} [{f.format(self.low)}, {f.format(self.high)}]"


def bootstrap(statistic: Callable[[np.ndarray], float], n: int, n_boot: int = 2000,
              seed: int = 0, confidence: float = 0.95) -> Estimate:
  """Percentile CI of `statistic(indices)` over resamples of range(n) with replacement.

  `statistic` receives an index array (the identity for the point estimate), so one function
  serves paired data, pairs of columns and grouped data alike.
  """
  if n < 1:
    raise ValueError("bootstrap needs at least one observation.")
  value = float(statistic(np.arange(n)))
  rng = np.random.default_rng(seed)
  samples = np.array([statistic(rng.integers(0, n, n)) for _ in range(n_boot)], dtype=float)
  samples = samples[np.isfinite(samples)]
  if samples.size == 0:
    return Estimate(value, math.nan, math.nan, n, 0)
  alpha = (1 - confidence) / 2
  low, high = np.quantile(samples, [alpha, 1 - alpha])
  return Estimate(value, float(low), float(high), n, int(samples.size))


def mean_ci(x: Sequence[float], n_boot: int = 2000, seed: int = 0) -> Estimate:
  x = np.asarray(x, dtype=float)
  return bootstrap(lambda idx: float(x[idx].mean()), len(x), n_boot, seed)


@dataclasses.dataclass(frozen=True)
class Correlation:
  pearson: Estimate
  spearman: Estimate

  @property
  def n(self) -> int:
    return self.pearson.n


def correlation(x: Sequence[float], y: Sequence[float], n_boot: int = 2000,
                seed: int = 0) -> Correlation:
  """Pearson and Spearman with bootstrap CIs, resampling (x, y) pairs jointly."""
  x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
  if len(x) != len(y):
    raise ValueError(f"x and y differ in length ({len(x)} vs {len(y)}).")
  return Correlation(bootstrap(lambda i: pearson(x[i], y[i]), len(x), n_boot, seed),
                     bootstrap(lambda i: spearman(x[i], y[i]), len(x), n_boot, seed))


@dataclasses.dataclass(frozen=True)
class PermutationTest:
  statistic: float  # observed mean difference
  p_value: float  # two-sided
  n: int
  exact: bool
  n_perm: int  # relabellings evaluated (2**n for an exact sign-flip test)

  @property
  def method(self) -> str:
    return "exact" if self.exact else f"Monte Carlo, {self.n_perm} permutations"


def _extreme(perm: np.ndarray, observed: float) -> int:
  return int(np.sum(np.abs(perm) >= abs(observed) * (1 - _TOL) - 1e-12))


def sign_flip_test(diffs: Sequence[float], n_perm: int = 10_000, seed: int = 0,
                   exact_max_n: int = EXACT_SIGN_FLIP_MAX_N) -> PermutationTest:
  """Paired permutation test of mean(diffs) = 0: under H0 each difference's sign is exchangeable.

  Exact (all 2**n sign patterns, the observed one included) when n <= exact_max_n, else Monte Carlo
  with a fixed seed.
  """
  d = np.asarray(diffs, dtype=float)
  n = len(d)
  if n < 1:
    raise ValueError("sign_flip_test needs at least one difference.")
  observed = float(d.mean())
  if n <= exact_max_n:
    count, total, chunk = 0, 2 ** n, 1 << 16
    bits = np.arange(n)
    for start in range(0, total, chunk):
      codes = np.arange(start, min(start + chunk, total))
      signs = 1.0 - 2.0 * ((codes[:, None] >> bits) & 1)  # in chunks: 2**20 x 20 would be 160 MB
      count += _extreme(signs @ d / n, observed)
    return PermutationTest(observed, count / total, n, True, total)
  rng = np.random.default_rng(seed)
  count = 0
  for start in range(0, n_perm, 4096):
    signs = rng.choice((-1.0, 1.0), size=(min(4096, n_perm - start), n))
    count += _extreme(signs @ d / n, observed)
  return PermutationTest(observed, (1 + count) / (1 + n_perm), n, False, n_perm)


def two_sample_test(a: Sequence[float], b: Sequence[float], n_perm: int = 10_000, seed: int = 0,
                    exact_max: int = EXACT_TWO_SAMPLE_MAX) -> PermutationTest:
  """Permutation test of mean(a) - mean(b) = 0 by relabelling the pooled observations.

  Exact when C(len(a) + len(b), len(a)) <= exact_max, else Monte Carlo with a fixed seed.
  """
  a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
  if len(a) < 1 or len(b) < 1:
    raise ValueError("two_sample_test needs at least one observation per group.")
  pooled = np.concatenate([a, b])
  n, k = len(pooled), len(a)
  total_sum = pooled.sum()
  observed = float(a.mean() - b.mean())

  def diff(sum_a):
    return sum_a / k - (total_sum - sum_a) / (n - k)

  if math.comb(n, k) <= exact_max:
    sums = np.array([pooled[list(c)].sum() for c in itertools.combinations(range(n), k)])
    return PermutationTest(observed, _extreme(diff(sums), observed) / len(sums), n, True,
                           len(sums))
  rng = np.random.default_rng(seed)
  sums = np.array([pooled[rng.permutation(n)[:k]].sum() for _ in range(n_perm)])
  return PermutationTest(observed, (1 + _extreme(diff(sums), observed)) / (1 + n_perm), n, False,
                         n_perm)


def t_quantile_975(df: int) -> float:
  """Two-sided 95 % Student t quantile (table up to df 30, normal beyond)."""
  if df < 1:
    raise ValueError("df must be >= 1.")
  return _T975[df - 1] if df <= len(_T975) else 1.96


def linear_fit(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
  """Least-squares (slope, intercept) of y on x; NaNs when x is constant."""
  x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
  dx = x - x.mean()
  ss = float(dx @ dx)
  if ss == 0.0:
    return math.nan, math.nan
  slope = float(dx @ (y - y.mean())) / ss
  return slope, float(y.mean() - slope * x.mean())

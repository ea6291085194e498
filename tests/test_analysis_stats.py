"""Statistics helpers against hand-computed values."""

import math

import numpy as np
import pytest

from stilts_jax.analysis.stats import (bootstrap, correlation, linear_fit, mean_ci, pearson,
                                       rankdata, sign_flip_test, spearman, t_quantile_975,
                                       two_sample_test)


def test_rankdata_averages_ties():
  assert rankdata([10, 20, 20, 30]).tolist() == [1, 2.5, 2.5, 4]
  assert rankdata([3, 1, 2, 1]).tolist() == [4, 1.5, 3, 1.5]


def test_pearson_hand_value_and_constant_input():
  # dx = (-1, 0, 1), dy = (-7/3, -1/3, 8/3): r = 5 / sqrt(2 * 114/9) = 15 / sqrt(228).
  assert pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(15 / math.sqrt(228))
  assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))
  with pytest.raises(ValueError, match="length"):
    pearson([1, 2], [1, 2, 3])


def test_spearman_with_ties_hand_value():
  # ranks x = (1, 2.5, 2.5, 4), y = (1, 3, 2, 4): sum dxdy = 4.5, sxx = 4.5, syy = 5.
  assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / math.sqrt(4.5 * 5))
  assert spearman([1, 2, 3, 4], [10, 100, 1000, 10_000]) == pytest.approx(1.0)


def test_exact_sign_flip_hand_values():
  # 8 sign patterns of (1, 2, 3); only +++ and --- reach |mean| >= 2.
  t = sign_flip_test([1, 2, 3])
  assert (t.statistic, t.p_value, t.exact, t.n_perm) == (2.0, 0.25, True, 8)
  assert sign_flip_test([1, 1, 1, 1]).p_value == pytest.approx(2 / 16)
  assert sign_flip_test([1, -1, 1, -1]).p_value == 1.0


def test_monte_carlo_sign_flip_is_seeded_and_never_zero():
  d = np.random.default_rng(1).normal(3, 1, 40)
  a, b = sign_flip_test(d, n_perm=2000, seed=7), sign_flip_test(d, n_perm=2000, seed=7)
  assert not a.exact and a.p_value == b.p_value == pytest.approx(1 / 2001)
  null = sign_flip_test(np.random.default_rng(2).normal(0, 1, 40), n_perm=2000)
  assert null.p_value > 0.05


def test_exact_two_sample_hand_value():
  # C(5, 2) = 10 relabellings of (1, 2 | 3, 4, 5); |diff| >= 2.5 only for {1,2} and {4,5}.
  t = two_sample_test([1, 2], [3, 4, 5])
  assert (t.statistic, t.p_value, t.exact, t.n_perm) == (-2.5, 0.2, True, 10)


def test_two_sample_monte_carlo_large_groups():
  rng = np.random.default_rng(0)
  t = two_sample_test(rng.normal(2, 1, 30), rng.normal(0, 1, 30), n_perm=2000)
  assert not t.exact and t.p_value < 0.01


def test_bootstrap_reproducible_and_brackets_the_estimate():
  x = np.arange(20.0)
  a, b = mean_ci(x, 500, seed=3), mean_ci(x, 500, seed=3)
  assert a == b and a.low < a.value == 9.5 < a.high and a.n == 20 and a.n_boot == 500
  assert mean_ci(x, 500, seed=4) != a


def test_bootstrap_drops_undefined_resamples():
  x, y = np.array([0.0, 0.0, 0.0, 1.0]), np.array([1.0, 2.0, 3.0, 4.0])
  est = bootstrap(lambda i: pearson(x[i], y[i]), 4, n_boot=300)
  assert 0 < est.n_boot < 300  # resamples without the 1.0 have constant x


def test_correlation_ci_excludes_zero_for_strong_relation():
  rng = np.random.default_rng(0)
  x = rng.uniform(0, 1, 30)
  c = correlation(x, x + rng.normal(0, 0.1, 30), n_boot=500)
  assert c.pearson.excludes_zero and c.spearman.value > 0.8


def test_t_quantile_and_linear_fit():
  assert t_quantile_975(2) == 4.303 and t_quantile_975(100) == 1.96
  assert linear_fit([0, 1, 2], [1, 3, 5]) == pytest.approx((2.0, 1.0))
  assert all(math.isnan(v) for v in linear_fit([1, 1], [1, 2]))

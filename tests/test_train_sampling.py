"""Multi-task sampling of the intermediate phase: probabilities, the per-step schedule, budgets."""

import numpy as np
import pytest

from stilts_jax import sampling

SIZES = {"mnli": 6000, "squad_v1": 3000, "qqp": 1000}


def test_proportional_is_size_share():
  p = sampling.task_probabilities(SIZES, "proportional")
  assert p == pytest.approx({"mnli": 0.6, "squad_v1": 0.3, "qqp": 0.1})


def test_uniform_ignores_sizes():
  p = sampling.task_probabilities(SIZES, "uniform")
  assert p == pytest.approx({k: 1 / 3 for k in SIZES})


def test_temperature_flattens_and_cap_clips_before_the_power():
  # p ∝ min(n, cap)^(1/T): with cap 2000 and T=2, mnli and squad tie and qqp gets sqrt(1000).
  p = sampling.task_probabilities(SIZES, "temperature", temperature=2.0, cap=2000)
  w = np.sqrt([2000, 2000, 1000])
  assert [p["mnli"], p["squad_v1"], p["qqp"]] == pytest.approx(list(w / w.sum()))
  # T=1 without a cap is proportional; a large T tends to uniform.
  assert sampling.task_probabilities(SIZES, "temperature", 1.0) == pytest.approx(
      sampling.task_probabilities(SIZES, "proportional"))
  hot = sampling.task_probabilities(SIZES, "temperature", 1000.0)
  assert max(hot.values()) - min(hot.values()) < 0.01
  # The cap also applies to the proportional sampler (jiant's examples_cap).
  assert sampling.task_probabilities(SIZES, "proportional", cap=1000) == pytest.approx(
      {k: 1 / 3 for k in SIZES})


@pytest.mark.parametrize("bad,match", [
    (dict(sizes=SIZES, sampler="roundrobin"), "unknown sampler 'roundrobin'.*proportional"),
    (dict(sizes=SIZES, sampler="temperature", temperature=0.0), "temperature must be > 0"),
    (dict(sizes={"mnli": 10, "qqp": 0}), "every task needs training examples"),
    (dict(sizes={}), "every task needs training examples"),
])
def test_bad_sampler_arguments(bad, match):
  with pytest.raises(ValueError, match=match):
    sampling.task_probabilities(**bad)


@pytest.mark.parametrize("sampler,kw", [("proportional", {}), ("uniform", {}),
                                        ("temperature", dict(temperature=2.0, cap=2000))])
def test_schedule_frequencies_match_probabilities(sampler, kw):
  p = sampling.task_probabilities(SIZES, sampler, **kw)
  n = 20000
  names, ids, own = sampling.task_schedule(p, n, seed=3)
  assert names == sorted(SIZES)
  freq = np.bincount(ids, minlength=len(names)) / n
  # Binomial std at n=20000 is <= 0.0036; 0.015 is > 4 sigma.
  assert freq == pytest.approx([p[k] for k in names], abs=0.015)


def test_own_batch_index_is_a_running_count_per_task():
  p = sampling.task_probabilities(SIZES, "proportional")
  names, ids, own = sampling.task_schedule(p, 500, seed=0)
  seen = {t: 0 for t in range(len(names))}
  for t, k in zip(ids, own):
    assert k == seen[t]  # the k-th time a task is picked it gets its k-th batch
    seen[t] += 1
  # So each task's data order is step-indexed: its batches 0..count-1, each exactly once.
  for t in range(len(names)):
    assert sorted(own[ids == t]) == list(range(int((ids == t).sum())))


def test_schedule_is_deterministic_and_prefix_stable():
  p = sampling.task_probabilities(SIZES, "uniform")
  a = sampling.task_schedule(p, 300, seed=7)
  b = sampling.task_schedule(p, 300, seed=7)
  assert a[0] == b[0] and np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2])
  c = sampling.task_schedule(p, 300, seed=8)
  assert not np.array_equal(a[1], c[1])  # the seed matters
  # Input order of the mapping does not change the schedule (names are sorted).
  d = sampling.task_schedule(dict(reversed(list(p.items()))), 300, seed=7)
  assert d[0] == a[0] and np.array_equal(d[1], a[1])


def test_single_task_schedule_is_every_step_in_order():
  names, ids, own = sampling.task_schedule({"xnli": 1.0}, 17, seed=5)
  assert names == ["xnli"]
  assert ids.tolist() == [0] * 17 and own.tolist() == list(range(17))


def test_total_steps_is_jiants_budget():
  assert sampling.total_steps({"a": 100, "b": 30}, 2.0) == 260
  assert sampling.total_steps({"a": 10}, 0.5) == 5
  assert sampling.total_steps({"a": 1}, 0.0) == 1  # never zero steps

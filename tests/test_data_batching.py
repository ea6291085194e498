"""Length buckets, step-indexed train order and masked eval padding (pure numpy, no devices)."""

import numpy as np
import pytest

from stilts_jax.data import (
    EvalBatches,
    TrainBatches,
    choose_bucket,
    real_lengths,
    resolve_buckets,
    sequence_keys_of,
)

from _data_helpers import T, make_features

BUCKETS = (8, 16, 32, 64)  # capped at T -> (8, 16, 32, 40)


def assert_batches_equal(a: dict, b: dict):
  assert a.keys() == b.keys()
  for k in a:
    np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# ---------------------------------------------------------------------------------------------
# Buckets and trimming.


def test_resolve_and_choose_bucket():
  assert resolve_buckets(BUCKETS, T) == (8, 16, 32, 40)
  assert resolve_buckets(None, 512) == (64, 128, 256, 384, 512)
  assert resolve_buckets(None, 100) == (64, 100)
  assert choose_bucket(8, (8, 16)) == 8
  assert choose_bucket(9, (8, 16)) == 16
  with pytest.raises(ValueError, match="longer than the largest bucket 16"):
    choose_bucket(17, (8, 16))


def test_real_lengths_uses_last_attended_position():
  am = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]])
  np.testing.assert_array_equal(real_lengths({"attention_mask": am}), [2, 3, 0, 4])
  # Multiple choice: the longest choice decides.
  mc = np.zeros((2, 3, 5), np.int32)
  mc[0, 1, :4] = 1
  mc[1, 2, :2] = 1
  np.testing.assert_array_equal(real_lengths({"attention_mask": mc}), [4, 2])


def test_sequence_keys_rule_and_override():
  f = make_features(6)
  assert sequence_keys_of(f) == {"input_ids", "attention_mask", "labels", "word_index", "offsets"}
  # A [N, T] array that is not a sequence (e.g. multi-hot over T classes) can be excluded.
  f["multi_hot"] = np.zeros((6, T), np.int32)
  assert "multi_hot" in sequence_keys_of(f)
  assert "multi_hot" not in sequence_keys_of(f, sequence_keys=["labels"])
  with pytest.raises(ValueError, match="label"):
    sequence_keys_of(f, sequence_keys=["label"])  # [N] has no T axis


def test_batch_trims_sequence_arrays_together_and_keeps_others():
  f = make_features(64, max_len=12)
  tb = TrainBatches(f, 16, seed=0, buckets=BUCKETS)
  for step in range(4):
    b, idx = tb.batch_at(step), tb.indices_at(step)
    bucket = tb.bucket_at(step)
    longest = int(real_lengths(f)[idx].max())
    assert bucket == min(x for x in (8, 16, 32, 40) if x >= longest)
    for k in ("input_ids", "attention_mask", "labels", "word_index"):
      assert b[k].shape == (16, bucket), k
      np.testing.assert_array_equal(b[k], f[k][idx, :bucket], err_msg=k)
    assert b["offsets"].shape == (16, bucket, 2)
    np.testing.assert_array_equal(b["offsets"], f["offsets"][idx, :bucket])
    # Trimming never cuts real tokens.
    assert b["attention_mask"].sum() == f["attention_mask"][idx].sum()
    for k in ("label", "example_index"):
      assert b[k].shape == (16,)
      np.testing.assert_array_equal(b[k], f[k][idx])


def test_multiple_choice_3d_arrays():
  n, c, t = 20, 4, 24
  rng = np.random.default_rng(1)
  lengths = rng.integers(2, 15, size=(n, c))
  am = (np.arange(t)[None, None] < lengths[..., None]).astype(np.int32)
  f = {"input_ids": np.where(am == 1, 5, 1).astype(np.int32), "attention_mask": am,
       "label": rng.integers(0, c, size=n).astype(np.int32)}
  assert sequence_keys_of(f) == {"input_ids", "attention_mask"}
  tb = TrainBatches(f, 5, seed=3, buckets=(8, 16))
  for step in range(4):
    b, idx = tb.batch_at(step), tb.indices_at(step)
    want = 8 if lengths[idx].max() <= 8 else 16
    assert b["input_ids"].shape == (5, c, want)
    np.testing.assert_array_equal(b["attention_mask"], am[idx, :, :want])
    np.testing.assert_array_equal(b["label"], f["label"][idx])
  eb = list(EvalBatches(f, 8, buckets=(8, 16)))
  assert eb[-1]["input_ids"].shape[:2] == (8, c)
  assert (eb[-1]["input_ids"][~eb[-1]["mask"]] == 1).all()


# ---------------------------------------------------------------------------------------------
# Step-indexed training order.


@pytest.mark.parametrize("group_by_length", [False, True])
def test_same_seed_step_gives_identical_batch(group_by_length):
  f = make_features(50)
  a = TrainBatches(f, 8, seed=7, buckets=BUCKETS, group_by_length=group_by_length)
  b = TrainBatches(f, 8, seed=7, buckets=BUCKETS, group_by_length=group_by_length)
  for step in (0, 3, 5, 6, 17, 100):  # crosses several epochs (steps_per_epoch = 6)
    assert_batches_equal(a.batch_at(step), b.batch_at(step))
  # Out-of-order access does not depend on history.
  assert_batches_equal(a.batch_at(3), TrainBatches(f, 8, seed=7, buckets=BUCKETS,
                                                   group_by_length=group_by_length).batch_at(3))


@pytest.mark.parametrize("group_by_length", [False, True])
def test_resume_equals_uninterrupted(group_by_length):
  f = make_features(50)
  kw = dict(buckets=BUCKETS, group_by_length=group_by_length, group_chunk_batches=2)
  full = TrainBatches(f, 8, seed=1, **kw).from_step(0)
  seq = [next(full) for _ in range(20)]
  for k in (0, 5, 6, 13):
    resumed = TrainBatches(f, 8, seed=1, **kw).from_step(k)
    for want in seq[k:]:
      assert_batches_equal(next(resumed), want)


def test_different_seeds_and_epochs_differ():
  f = make_features(50)
  a, b = TrainBatches(f, 8, seed=0), TrainBatches(f, 8, seed=1)
  assert not np.array_equal(a.epoch_order(0), b.epoch_order(0))
  assert not np.array_equal(a.epoch_order(0), a.epoch_order(1))


@pytest.mark.parametrize("group_by_length", [False, True])
def test_each_example_once_per_epoch(group_by_length):
  # N divisible by the batch: every example exactly once per epoch.
  f = make_features(48)
  tb = TrainBatches(f, 8, seed=2, group_by_length=group_by_length, group_chunk_batches=2)
  assert tb.steps_per_epoch == 6
  for epoch in range(3):
    seen = np.concatenate([tb.global_indices_at(epoch * 6 + s) for s in range(6)])
    np.testing.assert_array_equal(np.sort(seen), np.arange(48))
  # drop_remainder: N=50 -> 6 steps, 48 distinct examples per epoch, 2 skipped (varying by epoch).
  tb = TrainBatches(make_features(50), 8, seed=2, group_by_length=group_by_length)
  assert tb.steps_per_epoch == 6
  skipped = []
  for epoch in range(4):
    seen = np.concatenate([tb.global_indices_at(epoch * 6 + s) for s in range(6)])
    assert len(np.unique(seen)) == 48
    skipped.append(tuple(sorted(set(range(50)) - set(seen.tolist()))))
  assert len(set(skipped)) > 1


def test_process_slices_partition_the_global_batch():
  f = make_features(50)
  single = TrainBatches(f, 12, seed=4, buckets=BUCKETS)
  parts = [TrainBatches(f, 12, seed=4, process_index=p, process_count=3, buckets=BUCKETS)
           for p in range(3)]
  for step in range(9):
    bs = [p.batch_at(step) for p in parts]
    assert len({b["input_ids"].shape for b in bs}) == 1  # every process picks the same bucket
    joined = {k: np.concatenate([b[k] for b in bs]) for k in bs[0]}
    assert_batches_equal(joined, single.batch_at(step))


def test_group_by_length_reduces_padding():
  f = make_features(800, seed=5)
  plain = TrainBatches(f, 8, seed=0, buckets=BUCKETS)
  grouped = TrainBatches(f, 8, seed=0, buckets=BUCKETS, group_by_length=True)
  tokens = lambda tb: sum(tb.bucket_at(s) for s in range(tb.steps_per_epoch))
  assert tokens(grouped) < tokens(plain)


# ---------------------------------------------------------------------------------------------
# Evaluation padding.


@pytest.mark.parametrize("n,procs,gbs", [(37, 3, 9), (37, 1, 8), (5, 2, 8), (16, 4, 8), (1, 2, 2)])
def test_eval_every_example_exactly_once(n, procs, gbs):
  f = make_features(n, seed=n)
  per_proc = [list(EvalBatches(f, gbs, p, procs, buckets=BUCKETS)) for p in range(procs)]
  assert len({len(b) for b in per_proc}) == 1  # same number of batches on every process
  assert len(per_proc[0]) == -(-n // gbs)
  seen = []
  for batches in per_proc:
    for b in batches:
      assert b["mask"].dtype == bool and b["mask"].shape == (gbs // procs,)
      real = b["mask"]
      seen.extend(b["index"][real].tolist())
      assert (b["index"][~real] == -1).all()
      # Real rows carry exactly their example's data, trimmed to the bucket.
      bucket = b["input_ids"].shape[1]
      np.testing.assert_array_equal(b["input_ids"][real], f["input_ids"][b["index"][real], :bucket])
      np.testing.assert_array_equal(b["example_index"][real], b["index"][real])
      # Padding rows use the pad values.
      assert (b["input_ids"][~real] == 1).all() and (b["attention_mask"][~real] == 0).all()
      assert (b["labels"][~real] == -100).all() and (b["offsets"][~real] == -1).all()
      assert (b["word_index"][~real] == -1).all() and (b["label"][~real] == 0).all()
  assert sorted(seen) == list(range(n))  # union = dataset, no duplicates
  # Same bucket across processes for each batch.
  for i in range(len(per_proc[0])):
    assert len({bs[i]["input_ids"].shape for bs in per_proc}) == 1


def test_eval_process_can_run_out_entirely():
  # N=37, gbs 9 over 3 processes: the last global batch has 1 real row, so processes 1 and 2 get
  # an all-padding batch but still yield it.
  f = make_features(37)
  last = [EvalBatches(f, 9, p, 3, buckets=BUCKETS).batch(4) for p in range(3)]
  assert [int(b["mask"].sum()) for b in last] == [1, 0, 0]


def test_eval_pad_values_override():
  f = make_features(3)
  b = next(iter(EvalBatches(f, 4, pad_values={"label": -1, "input_ids": 0})))
  assert b["label"][3] == -1 and (b["input_ids"][3] == 0).all()


# ---------------------------------------------------------------------------------------------
# Errors.


def test_errors_are_clear():
  f = make_features(20)
  with pytest.raises(ValueError, match="global_batch_size=10 is not divisible by process_count=3"):
    TrainBatches(f, 10, seed=0, process_index=0, process_count=3)
  with pytest.raises(ValueError, match="not divisible by process_count"):
    EvalBatches(f, 10, 0, 4)
  with pytest.raises(ValueError, match="process_index"):
    TrainBatches(f, 10, seed=0, process_index=2, process_count=2)
  bad = dict(f, label=np.zeros(19, np.int32))
  with pytest.raises(ValueError, match=r"features\['label'\] has shape \(19,\); expected leading dim N=20"):
    TrainBatches(bad, 4, seed=0)
  with pytest.raises(ValueError, match="attention_mask shape"):
    TrainBatches(dict(f, attention_mask=f["attention_mask"][:, :5]), 4, seed=0)
  with pytest.raises(ValueError, match="must contain 'attention_mask'"):
    EvalBatches({"input_ids": f["input_ids"]}, 4)
  long = make_features(20, t=80)
  with pytest.raises(ValueError, match="longer than the largest bucket 16"):
    TrainBatches(long, 4, seed=0, buckets=(8, 16))
  with pytest.raises(ValueError, match="fewer than global_batch_size"):
    TrainBatches(f, 32, seed=0)
  with pytest.raises(ValueError, match="must not contain 'mask'"):
    EvalBatches(dict(f, mask=np.ones(20, bool)), 4)

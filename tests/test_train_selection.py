"""Model selection and early stopping in train_phase, on a run built so the best is not the last.

The dev score is scripted (train.dev_score replaced: 50, 70, 60, 65, 55, ... at evaluations every
update), everything else is real: the sharded steps, Orbax's ranking of checkpoints (only one kept
besides the best), the restore of the best step, metrics.jsonl. The handed-over parameters must be
the ones that were scored best, as logged; patience 3 stops the phase three evaluations after it;
a relaunch of the stopped phase stays stopped and hands over the same parameters.
"""

import jax
import numpy as np
import pytest

import _pipeline_helpers as H
from stilts_jax import sharding as shd
from stilts_jax import train

SCORES = [50.0, 70.0, 60.0, 65.0, 55.0, 99.0, 99.0]  # 99 is never reached: patience stops first
PATIENCE = 3


@pytest.fixture
def scripted(monkeypatch):
  """train.dev_score replaced by SCORES in order; records the parameters it was asked to score."""
  seen = []

  def dev_score(params, *args, **kwargs):
    seen.append(jax.tree.map(np.asarray, params))
    return SCORES[len(seen) - 1]
  monkeypatch.setattr(train, "dev_score", dev_score)
  return seen


def _phase(workdir):
  mesh = shd.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, devices=jax.devices()[:1])
  model = H.tiny_task_model(mesh, {"cls": ("classification", 3)}, seed=0)
  task = train.PhaseTask(head="cls", head_type="classification",
                         train_features=H.classification_features(64, seed=1),
                         dev_parts=("scored by the script",))
  hp = H.phase_hp(learning_rate=1e-3, batch_size=16, max_steps=len(SCORES), eval_every_steps=1,
                  log_every_steps=1, checkpoint_every_steps=1000, patience=PATIENCE,
                  keep_checkpoints=1)
  return train.train_phase("select", model, [task], hp, mesh, workdir, seed=3, buckets=(16,))


def _equal(a, b) -> bool:
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_best_logged_step_is_handed_over_and_patience_stops_the_phase(tmp_path, scripted):
  out = _phase(tmp_path)
  best_eval = int(np.argmax(SCORES[:5]))  # evaluation 2 (70.0); then 3 without improvement
  assert out.status == "early_stopped"
  assert out.steps == best_eval + 1 + PATIENCE == len(scripted) == 5
  logged = [(r["step"], r["dev/score"]) for r in H.read_jsonl(tmp_path / "metrics.jsonl")
            if "dev/score" in r]
  assert logged == [(i + 1, s) for i, s in enumerate(SCORES[:5])]
  assert out.best_step == max(logged, key=lambda x: x[1])[0] == 2
  assert out.best_score == 70.0
  handed = jax.tree.map(np.asarray, out.params)
  assert _equal(handed, scripted[best_eval])  # the parameters that scored 70
  assert not _equal(handed, scripted[-1])  # not the last ones

  # A relaunch (e.g. after a kill during the final save) stays stopped: no step, no evaluation.
  scripted.clear()
  again = _phase(tmp_path)
  assert (again.status, again.steps, again.best_step) == ("early_stopped", 5, 2)
  assert scripted == []
  assert _equal(jax.tree.map(np.asarray, again.params), handed)

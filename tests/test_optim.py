"""The paper's optimizer, pinned against the PyTorch recipe jiant ran (the oracle): transformers'
linear warmup/decay schedule, torch AdamW with jiant's no-decay groups ("bias", "LayerNorm.weight"),
`clip_grad_norm_` once per update after accumulation; and the paper's defaults in configs/base.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
import transformers
from flax import nnx

import _pipeline_helpers as H
from stilts_jax import optim
from stilts_jax.models.hf_io import encoder_name_map, head_name_map

pytestmark = pytest.mark.usefixtures("fp32_matmuls")  # conftest: full-precision matmuls

# jiant (jiant/shared/model_setup.py) and the transformers examples it follows.
NO_DECAY = ("bias", "LayerNorm.weight")


def _torch_lrs(lr, total, warmup_fraction):
  p = torch.nn.Parameter(torch.zeros(1))
  opt = torch.optim.AdamW([p], lr=lr)
  sched = transformers.get_linear_schedule_with_warmup(
      opt, int(round(warmup_fraction * total)), total)
  lrs = []
  for _ in range(total + 1):
    lrs.append(opt.param_groups[0]["lr"])
    opt.step()
    sched.step()
  return np.array(lrs)


@pytest.mark.parametrize("total,fraction", [(100, 0.1), (37, 0.1), (10, 0.0), (1, 0.1)])
def test_schedule_equals_transformers_linear_warmup(total, fraction):
  ours = optim.warmup_linear_schedule(1e-5, total, fraction)
  np.testing.assert_allclose([float(ours(s)) for s in range(total + 1)],
                             _torch_lrs(1e-5, total, fraction), rtol=1e-6, atol=1e-12)  # float32 steps


def test_hand_values_of_the_default_schedule():
  s = optim.warmup_linear_schedule(1e-5, 100)
  assert [float(s(i)) for i in (0, 5, 10, 55, 100)] == pytest.approx(
      [0.0, 5e-6, 1e-5, 5e-6, 0.0], abs=1e-12)


def _named_params():
  """A real TaskModel's parameters, each with its transformers name."""
  from stilts_jax.models import TaskModel
  model = TaskModel(H.tiny_xlmr_config(), {"task": ("classification", 3)}, rngs=nnx.Rngs(0))
  names = {("encoder",) + p: "roberta." + n
           for p, (n, _) in encoder_name_map(nnx.state(model.encoder, nnx.Param)).items()}
  names.update({("heads", "task") + p: n for p, (n, _) in
                head_name_map(nnx.state(model.heads["task"], nnx.Param), "classification").items()})
  return nnx.to_pure_dict(nnx.state(model, nnx.Param)), names


def test_decay_mask_on_a_real_task_model_is_jiants_grouping():
  params, names = _named_params()
  mask = nnx.traversals.flatten_mapping(optim.decay_mask(params))
  assert set(mask) == set(names)
  for path, decays in mask.items():
    assert decays == (not any(nd in names[path] for nd in NO_DECAY)), names[path]
  assert sum(mask.values()) and not all(mask.values())


@pytest.mark.parametrize("accum", [1, 3])
def test_updates_equal_torch_adamw_with_clipping_after_accumulation(accum):
  """Five updates of AdamW on a real model's parameter tree, each from `accum` micro-gradients
  big enough that clipping is active: ours (optax) against torch (mean of the micro-gradients,
  `clip_grad_norm_` once, AdamW with jiant's two groups, the transformers schedule)."""
  params, names = _named_params()
  flat = nnx.traversals.flatten_mapping(params)
  rng = np.random.RandomState(0)
  updates, total = 5, 5
  micro = [[{k: rng.normal(0, 3.0, np.shape(v)).astype(np.float32) for k, v in flat.items()}
            for _ in range(accum)] for _ in range(updates)]

  tx = optim.make_optimizer(learning_rate=1e-2, total_updates=total, warmup_fraction=0.4,
                            weight_decay=0.1, grad_accum_steps=accum)
  state = tx.init(params)
  ours = params
  update = jax.jit(tx.update)  # one compile instead of ~100 eager ops per call
  for step in micro:
    for g in step:
      u, state = update(nnx.traversals.unflatten_mapping(
          {k: jnp.asarray(v) for k, v in g.items()}), state, ours)
      ours = optax.apply_updates(ours, u)

  tparams = {k: torch.nn.Parameter(torch.tensor(np.asarray(v))) for k, v in flat.items()}
  decay = [p for k, p in tparams.items() if not any(nd in names[k] for nd in NO_DECAY)]
  no_decay = [p for k, p in tparams.items() if any(nd in names[k] for nd in NO_DECAY)]
  opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                           {"params": no_decay, "weight_decay": 0.0}], lr=1e-2, eps=1e-8)
  sched = transformers.get_linear_schedule_with_warmup(opt, 2, total)
  for step in micro:
    for k, p in tparams.items():
      p.grad = torch.tensor(np.mean([g[k] for g in step], axis=0))
    norm = torch.nn.utils.clip_grad_norm_(list(tparams.values()), 1.0)
    assert float(norm) > 1.0  # clipping is really exercised
    opt.step()
    sched.step()
  got = nnx.traversals.flatten_mapping(jax.device_get(ours))
  for k, p in tparams.items():
    np.testing.assert_allclose(got[k], p.detach().numpy(), rtol=2e-5, atol=2e-7,
                               err_msg=names[k])


# The paper's (jiant's) recipe, shared/reference/paper.md §1 and docs/config.md.
PAPER_DEFAULTS = {
    "learning_rate": 1e-5, "warmup_fraction": 0.1, "weight_decay": 0.01, "max_grad_norm": 1.0,
    "patience": 30, "eval_every_steps": 1000, "eval_subset": 500}
PAPER_TARGETS = {  # epochs, effective batch, max length
    "xnli": (2, 32, 256), "pawsx": (5, 32, 256), "udpos": (10, 32, 256), "panx": (10, 32, 256),
    "xquad": (2, 16, 384), "mlqa": (2, 16, 384), "tydiqa": (2, 16, 384)}


def test_base_config_holds_the_papers_recipe():
  c = H.load_config_module("base").get_config()
  for phase in [c.intermediate_train] + [c.target_train[t] for t in PAPER_TARGETS]:
    assert {k: phase[k] for k in PAPER_DEFAULTS} == PAPER_DEFAULTS
  for target, (epochs, batch, length) in PAPER_TARGETS.items():
    hp = c.target_train[target]
    assert (hp.epochs, hp.batch_size, hp.max_length) == (epochs, batch, length), target
  assert (c.intermediate_train.epochs, c.intermediate_train.batch_size) == (2, 32)
  assert (c.retrieval.layer, c.retrieval.pooling) == (14, "mean")
  assert c.model.name == "xlm-roberta-large"

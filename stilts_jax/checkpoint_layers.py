"""Checkpoints written before the encoder's blocks were stacked: restored into today's layout.

Until 2026-12 every block had its own parameters (`encoder/layers/0/...`, `encoder/layers/1/...`);
now one array per block parameter carries a leading layer axis (`encoder/layers/...`, see
`models.xlmr.stack_layers`). A researcher's finished intermediate phase or half-trained target is
hours of accelerator time, so a per-layer checkpoint is read as it was written (each block on the
target's sharding minus its layer axis) and stacked after reading; the next save is stacked.
Parameters and every optimizer-state tree that mirrors them (Adam's moments, the accumulator)
change the same way: any dict entry named `layers`.
"""

from __future__ import annotations

import logging
from typing import Any

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec

log = logging.getLogger(__name__)


def _holds_layers(x: Any) -> bool:
  return isinstance(x, dict) and "layers" in x


def saved_blocks(metadata: Any) -> int:
  """How many per-block entries a saved train-state tree (Orbax item metadata) keeps; 0 if its
  blocks are stacked."""
  try:
    layers = metadata["params"]["encoder"]["layers"]
  except (KeyError, TypeError):
    return 0
  return sum(str(k).isdigit() for k in layers.keys())


def check_depth(blocks: int, target: Any, directory: Any, step: int) -> None:
  """A per-block checkpoint must have as many blocks as the target (else a deeper one would be
  cut silently, as a stacked one of the wrong depth is a shape error)."""
  wanted = {jax.tree.leaves(node["layers"])[0].shape[0]
            for node in jax.tree.leaves(target, is_leaf=_holds_layers) if _holds_layers(node)}
  if wanted and wanted != {blocks}:
    raise ValueError(f"step {step} of {directory} has {blocks} encoder blocks; the target has "
                     f"{sorted(wanted)[0]} (different XLMRConfig num_hidden_layers?).")


def _block(x: Any) -> jax.ShapeDtypeStruct:
  """One block of an abstract stacked leaf: its shape and sharding without the layer axis."""
  sharding = getattr(x, "sharding", None)
  if isinstance(sharding, NamedSharding):
    spec = tuple(sharding.spec) + (None,) * (len(x.shape) - len(sharding.spec))
    sharding = NamedSharding(sharding.mesh, PartitionSpec(*spec[1:]))
  return jax.ShapeDtypeStruct(x.shape[1:], x.dtype, sharding=sharding)


def per_layer_target(target: Any) -> Any:
  """The abstract tree a per-layer checkpoint of `target` holds: `layers` as {0: ..., 1: ...}."""
  def split(node):
    if not _holds_layers(node):
      return node
    blocks = jax.tree.leaves(node["layers"])[0].shape[0]
    return {**node, "layers": {i: jax.tree.map(_block, node["layers"]) for i in range(blocks)}}
  return jax.tree.map(split, target, is_leaf=_holds_layers)


def stack_restored(restored: Any, target: Any) -> Any:
  """`restored` (per-layer, as read) in `target`'s stacked layout and shardings."""
  def stack(node, want):
    if not _holds_layers(node):
      return node
    blocks = [node["layers"][i] for i in range(len(node["layers"]))]
    shardings = jax.tree.map(lambda w: w.sharding, want["layers"])
    stacked = jax.jit(lambda *bs: jax.tree.map(lambda *xs: jnp.stack(xs), *bs),
                      out_shardings=shardings)(*blocks)
    return {**node, "layers": stacked}
  return jax.tree.map(stack, restored, target, is_leaf=_holds_layers)


def warn(directory: Any, step: int) -> None:
  log.warning("step %d of %s keeps one entry per encoder block (written before blocks were "
              "stacked); restoring it into the stacked layout.", step, directory)

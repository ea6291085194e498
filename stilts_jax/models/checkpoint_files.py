"""Finding and reading Hugging Face checkpoint files, lazily and format-blind.

`resolve_checkpoint` turns a Hub id or a local directory into a local directory holding
`config.json` and one weight format. `open_weights` returns a reader that exposes every tensor under
its PyTorch name and shape and reads *slices*: with safetensors (single or sharded) the file is
memory-mapped, so a host materialising its shard of a 250k×1024 embedding reads only those bytes.
`flax_model.msgpack` (old transformers Flax checkpoints) and `pytorch_model.bin` are read whole
into host memory (their formats allow nothing else); `.bin` only through
`torch.load(weights_only=True)`, and only if torch is installed.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterable

import ml_dtypes
import numpy as np

from stilts_jax.errors import UserError

# In order of preference: safetensors first (safe and lazily readable).
WEIGHT_FILES = ("model.safetensors.index.json", "model.safetensors", "flax_model.msgpack",
                "pytorch_model.bin")

_ST_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8,
    "BOOL": np.bool_,
}
_ST_NAMES = {np.dtype(v): k for k, v in _ST_DTYPES.items()}


class CheckpointError(UserError, ValueError):
  """A checkpoint that cannot be found or does not fit the model; the message says how to fix it."""


def _looks_like_path(name: str) -> bool:
  """Hub ids are `name` or `org/name`; anything else is meant as a local path."""
  return name.startswith(("/", ".", "~")) or name.count("/") > 1


def resolve_checkpoint(name_or_path: str | os.PathLike, revision: str | None = None,
                       cache_dir: str | None = None) -> str:
  """Local directory with config.json + weights for a local path or a Hub id (e.g. xlm-roberta-large).

  A local directory never touches the network. A Hub id is fetched (or found in the HF cache when
  offline) with huggingface_hub, one weight format only, preferring safetensors.
  """
  name = os.path.expanduser(os.fspath(name_or_path))
  if os.path.isdir(name):
    if not os.path.exists(os.path.join(name, "config.json")):
      raise CheckpointError(f"{name} is a directory but has no config.json; expected a Hugging Face "
                            "checkpoint directory (config.json + model.safetensors).")
    if not any(os.path.exists(os.path.join(name, f)) for f in WEIGHT_FILES):
      raise CheckpointError(f"{name} has no weights; expected one of {WEIGHT_FILES}.")
    return name
  if _looks_like_path(name) or os.path.exists(name):
    raise CheckpointError(f"checkpoint directory {name} does not exist.")
  return _download(name, revision, cache_dir)


def _download(repo_id: str, revision: str | None, cache_dir: str | None) -> str:
  import huggingface_hub
  from huggingface_hub import errors as hf_errors

  # Order matters: in huggingface_hub >= 1.0 "not in the cache and the Hub is unreachable"
  # (LocalEntryNotFoundError) subclasses "the repo has no such file" (EntryNotFoundError).
  offline = (hf_errors.LocalEntryNotFoundError, hf_errors.OfflineModeIsEnabled)

  def fetch(filename: str) -> str | None:
    try:
      return huggingface_hub.hf_hub_download(repo_id, filename, revision=revision,
                                             cache_dir=cache_dir)
    except offline:
      raise
    except hf_errors.EntryNotFoundError:
      return None

  try:
    if fetch("config.json") is None:
      raise CheckpointError(f"Hub repo {repo_id!r} has no config.json; is it an XLM-R model?")
    for filename in WEIGHT_FILES:
      if filename == "pytorch_model.bin" and not _torch_available():
        continue
      path = fetch(filename)
      if path is None:
        continue
      if filename.endswith(".index.json"):
        with open(path) as f:
          for shard in sorted(set(json.load(f)["weight_map"].values())):
            fetch(shard)
      return os.path.dirname(path)
  except offline + (ConnectionError, TimeoutError) as e:
    raise CheckpointError(
        f"cannot load {repo_id!r}: it is not a local directory, not in the Hugging Face cache, and "
        f"the Hub is unreachable or offline (HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '0')})."
        f" Download it once where there is network (`hf download {repo_id}`) or pass a local "
        f"checkpoint directory. ({type(e).__name__})") from None
  except (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError) as e:
    raise CheckpointError(f"{repo_id!r} (revision {revision or 'main'}) is not a model on the "
                          f"Hugging Face Hub, nor a local directory: {e}") from None
  raise CheckpointError(f"Hub repo {repo_id!r} has none of {WEIGHT_FILES}.")


def _torch_available() -> bool:
  try:
    import torch  # noqa: F401
    return True
  except ImportError:
    return False


class WeightReader:
  """Tensors by PyTorch name: `shape(name)`, `dtype(name)`, `read(name, index)` → numpy."""

  def __init__(self, arrays: dict[str, np.ndarray], source: str):
    self._arrays = arrays
    self.source = source

  def keys(self) -> list[str]:
    return sorted(self._arrays)

  def shape(self, name: str) -> tuple[int, ...]:
    return tuple(self._arrays[name].shape)

  def read(self, name: str, index: tuple[slice, ...] | None = None) -> np.ndarray:
    a = self._arrays[name]
    return np.asarray(a if index is None else a[index])


def _memmap_safetensors(path: str) -> dict[str, np.ndarray]:
  """Parses the safetensors header and memory-maps each tensor (reads nothing else yet)."""
  with open(path, "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(n))
  arrays = {}
  for name, info in header.items():
    if name == "__metadata__":
      continue
    if info["dtype"] not in _ST_DTYPES:
      raise CheckpointError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}.")
    dtype, shape = np.dtype(_ST_DTYPES[info["dtype"]]), tuple(info["shape"])
    start, end = info["data_offsets"]
    if end - start != dtype.itemsize * int(np.prod(shape)):
      raise CheckpointError(f"{path}: tensor {name} is truncated or corrupt (header says {shape} "
                            f"{info['dtype']}, data has {end - start} bytes).")
    if end == start:
      arrays[name] = np.zeros(shape, dtype)
    else:
      arrays[name] = np.memmap(path, dtype=dtype, mode="r", offset=8 + n + start, shape=shape)
  return arrays


def _flax_msgpack(path: str) -> dict[str, np.ndarray]:
  """Old transformers Flax layout → PyTorch names: kernel→weight (transposed), scale/embedding→weight."""
  from flax import serialization
  with open(path, "rb") as f:
    tree = serialization.msgpack_restore(f.read())
  out = {}

  def walk(node, prefix):
    for k, v in node.items():
      if isinstance(v, dict):
        walk(v, prefix + [str(k)])
        continue
      v = np.asarray(v)
      if k == "kernel":
        out[".".join(prefix + ["weight"])] = v.T
      elif k in ("scale", "embedding"):
        out[".".join(prefix + ["weight"])] = v
      else:
        out[".".join(prefix + [str(k)])] = v
  walk(tree, [])
  return out


def _torch_bin(path: str) -> dict[str, np.ndarray]:
  try:
    import torch
  except ImportError:
    raise CheckpointError(f"{path} is a PyTorch pickle; reading it needs torch (`pip install "
                          "torch`), or convert the checkpoint to safetensors.") from None
  state = torch.load(path, map_location="cpu", weights_only=True)
  # numpy has no bfloat16 view of torch storage: widen to float32 (cast to param dtype later).
  return {k: (v.float() if v.dtype == torch.bfloat16 else v).numpy() for k, v in state.items()}


def open_weights(directory: str) -> WeightReader:
  """A reader over the best weight format present in `directory`."""
  for filename in WEIGHT_FILES:
    path = os.path.join(directory, filename)
    if not os.path.exists(path):
      continue
    if filename.endswith(".index.json"):
      with open(path) as f:
        weight_map = json.load(f)["weight_map"]
      arrays = {}
      for shard in sorted(set(weight_map.values())):
        shard_path = os.path.join(directory, shard)
        if not os.path.exists(shard_path):
          raise CheckpointError(f"{path} lists shard {shard}, which is missing from {directory}.")
        arrays.update(_memmap_safetensors(shard_path))
      missing = sorted(set(weight_map) - set(arrays))
      if missing:
        raise CheckpointError(f"{path} maps tensors {missing[:5]} to shards that lack them.")
      return WeightReader(arrays, path)
    if filename == "model.safetensors":
      return WeightReader(_memmap_safetensors(path), path)
    if filename == "flax_model.msgpack":
      return WeightReader(_flax_msgpack(path), path)
    return WeightReader(_torch_bin(path), path)
  raise CheckpointError(f"{directory} has no weights; expected one of {WEIGHT_FILES}.")


def write_safetensors(path: str, tensors: Iterable[tuple[str, np.ndarray]],
                      metadata: dict[str, str] | None = None) -> None:
  """Writes a safetensors file (bfloat16 included), atomically via a temporary name."""
  tensors = [(k, np.ascontiguousarray(v)) for k, v in tensors]
  header, offset = {}, 0
  for name, a in tensors:
    if a.dtype not in _ST_NAMES:
      raise ValueError(f"cannot write {name}: dtype {a.dtype} has no safetensors name.")
    header[name] = {"dtype": _ST_NAMES[a.dtype], "shape": list(a.shape),
                    "data_offsets": [offset, offset + a.nbytes]}
    offset += a.nbytes
  header["__metadata__"] = dict(metadata or {"format": "pt"})
  blob = json.dumps(header, separators=(",", ":")).encode()
  blob += b" " * (-len(blob) % 8)  # the format asks for 8-byte alignment of the data
  tmp = path + ".tmp"
  with open(tmp, "wb") as f:
    f.write(struct.pack("<Q", len(blob)))
    f.write(blob)
    for _, a in tensors:
      f.write(a.tobytes())
  os.replace(tmp, path)

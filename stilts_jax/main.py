"""stilts-jax: X-STILTs in JAX. Fine-tunes a pretrained XLM-R on English intermediate task(s), hands
the encoder to each XTREME target task (a fresh head trained on English), and evaluates it
zero-shot on every language of the target; results, tables and plots land in the workdir.

Kept short on purpose: the logic lives in `pipeline` (and `demo/` for the offline demo), importable
and tested. Exit status: 0 done; 1 training diverged, or a bug (with its traceback); 2 a mistake in
the command, config, data, checkpoint or paths (one line saying how to fix it; --verbosity=1 shows
the traceback); 75 preempted (checkpoint saved; run the same command again to resume).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from absl import app, flags, logging
from ml_collections import config_flags

from stilts_jax import xla_flags
from stilts_jax.errors import EXIT_USER_ERROR, UserError, print_error

config_flags.DEFINE_config_file("config", None, "ml-collections config file (FILE.py[:ARGS]).",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Run directory (local or gs://); a rerun resumes from it.")
flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize() first (pods, clusters).")
flags.DEFINE_string("coordinator_address", None, "host:port of process 0 (non-TPU clusters, tests).")
flags.DEFINE_integer("num_processes", None, "Number of processes (non-TPU clusters, tests).")
flags.DEFINE_integer("process_id", None, "This process's id (non-TPU clusters, tests).")
flags.mark_flags_as_required(["config", "workdir"])
FLAGS = flags.FLAGS

PROG = "stilts-jax"
EXIT_PREEMPTED = 75  # EX_TEMPFAIL: try again
OWN_FLAGS = ("config", "workdir", "distributed", "coordinator_address", "num_processes",
             "process_id")
HELP_FLAGS = ("-h", "--help", "-help", "-?", "--helpshort")


def _configs_dir() -> Path | None:
  """configs/ of the working directory (a checkout), else the one next to the package."""
  for candidate in (Path.cwd() / "configs", Path(__file__).resolve().parents[1] / "configs"):
    if candidate.is_dir() and any(candidate.glob("*.py")):
      return candidate
  return None


def _config_files(configs: Path) -> list[Path]:
  return sorted(p for p in configs.glob("*.py") if not p.name.startswith("_"))


def _first_doc_line(path: Path) -> str:
  match = re.search(r'"""(.*?)(?:\n|""")', path.read_text(encoding="utf-8"))
  return match[1].strip() if match else ""


def help_text() -> str:
  lines = [__doc__.split("\n\nKept short")[0].strip(), "",
           f"usage: {PROG} --config=CONFIG.py[:ARGS] --workdir=DIR [--config.KEY=VALUE ...]", "",
           "  stilts-jax --config=configs/demo.py --workdir=runs/demo        # offline demo",
           "  stilts-jax --config=configs/stilts.py:intermediate=mnli,target=xnli \\",
           "             --workdir=gs://BUCKET/runs/mnli__xnli                  # one grid cell",
           "", "flags:"]
  for name in OWN_FLAGS:
    flag = FLAGS[name]
    lines.append(f"  --{name:<20} {flag.help}")
  lines.append(f"  --{'verbosity=1, -v 1':<20} show tracebacks and INFO logs")
  configs = _configs_dir()
  if configs is not None:
    shown = os.path.relpath(configs) if not os.path.relpath(configs).startswith("..") else configs
    lines += ["", f"config files ({shown}):"]
    lines += [f"  {p.name:<12} {_first_doc_line(p)}" for p in _config_files(configs)]
  lines += ["",
            "Every config key, its default and valid values: docs/config.md (override any with "
            "--config.KEY=VALUE).",
            "Exit status: 0 done, 1 diverged or internal error, 2 usage/input error, 75 preempted "
            "(rerun to resume).",
            "absl's own flags: --helpfull."]
  return "\n".join(lines)


def fail(message: object, code: int = EXIT_USER_ERROR):
  """Prints `stilts-jax: error: <message>` (one line) and exits."""
  print_error(PROG, message)
  sys.exit(code)


def _verbose(argv) -> bool:
  """--verbosity / -v given and >= 1 (read from argv: flags may not be parsed yet)."""
  for i, arg in enumerate(argv):
    match = re.fullmatch(r"--?(?:verbosity|v)(?:=(-?\d+))?", arg)
    if match:
      value = match[1] if match[1] is not None else (argv[i + 1] if i + 1 < len(argv) else "0")
      try:
        return int(value) >= 1
      except ValueError:
        return False
  return False


def flag_error_message(error: Exception, argv) -> str:
  """One line for a flag-parsing error (ml_collections wraps them in tracebacks and quotes)."""
  text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
  missing_file = re.search(r"Failed loading config file.*?Attempted.*?:\s*(\S+)\s+\[Errno \d+\] "
                           r"([^:]+)", text, re.S)
  if missing_file:
    configs = _configs_dir()
    known = ", ".join(p.name for p in _config_files(configs)) if configs else "none found"
    return (f"cannot load the config file {missing_file[1]}: {missing_file[2].strip()}. Run "
            f"from the repository root or give the file's path (configs/: {known}).")
  suggestion = re.search(r"Did you mean \"(\w+)\" instead of \"(\w+)\"", text)
  if suggestion or isinstance(error, (AttributeError, KeyError)):
    key = suggestion[2] if suggestion else text.strip("'\"").splitlines()[0].strip("'\"")
    given = next((a.split("=", 1)[0] for a in argv
                  if a.startswith("--config.") and re.search(rf"\.{re.escape(key)}\b", a)),
                 f"config key {key!r}")
    hint = f" Did you mean {suggestion[1]!r}?" if suggestion else ""
    return (f"{given}: no such config key.{hint} docs/config.md lists every key "
            "(the config is locked, so a typo cannot pass as a new key).")
  lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
  if "Traceback (most recent call last)" in text:  # ml_collections' wrapped get_config error
    last = lines[-1]
    return re.sub(r"^\w+(Error|Exception): ", "", last)
  return (lines[0] if lines else type(error).__name__) + f" (see {PROG} --help)"


def _use_config_package(argv) -> None:
  """Imports the package the config file's imports name, before absl loads the file
  (`run_config.use_config_package`): the file's own folder when it is a package, else (a file of
  the user's own elsewhere) the configs/ of the checkout it is run from."""
  from stilts_jax.run_config import use_config_package
  for i, arg in enumerate(argv[1:], 1):
    match = re.fullmatch(r"--?config(?:=(.*))?", arg)  # absl takes -config too, and a separate value
    if match is None:
      continue
    path = (match[1] if match[1] is not None else argv[i + 1] if i + 1 < len(argv) else "")
    path = path.split(":", 1)[0]
    if path and use_config_package(path) is None:
      configs = _configs_dir()
      if configs is not None and (configs / "__init__.py").is_file():
        use_config_package(str(configs / "__init__.py"))


def parse_flags(argv):
  """absl's parser, with our help and one-line errors (exit 2) instead of absl's usage dump."""
  if any(arg in HELP_FLAGS for arg in argv[1:]):
    print(help_text())
    sys.exit(0)
  try:
    _use_config_package(argv)
    rest = FLAGS(argv)
    FLAGS.config.keys()  # a config file that failed to load raises only when used
  except ImportError as e:  # the config file's own imports
    if _verbose(argv):
      raise
    fail(f"the config file cannot import {e.name or 'a module'!r} ({e}). A config file that "
         "builds on the defaults (`from configs import base`) lives in a checkout's configs/ "
         "folder, or is run from the checkout's root (docs/config.md).")
  except (flags.Error, AttributeError, KeyError, ValueError, TypeError, OSError) as e:
    if _verbose(argv):
      raise
    fail(flag_error_message(e, argv))
  if len(rest) > 1:
    fail(f"unexpected argument(s) {' '.join(rest[1:])}; flags take the form --name=value "
         f"(see {PROG} --help).")
  return rest


def main(argv):
  del argv
  xla_flags.apply_defaults()  # before anything below starts the backend
  verbose = FLAGS["verbosity"].present and FLAGS.verbosity >= 1
  if not FLAGS["verbosity"].present:  # Orbax logs every save at INFO; keep the progress bars readable
    logging.set_verbosity(logging.WARNING)
  from stilts_jax import compilation_cache, paths, run_config
  config = FLAGS.config
  try:
    # Every mistake the config can hold fails here, before the backend, downloads or training.
    run_config.resolve_paths(config)
    run_config.validate(config)
    workdir = paths.resolve(FLAGS.workdir)
  except UserError as e:
    if verbose:
      raise
    fail(e)
  import jax
  if FLAGS.distributed:
    explicit = {k: v for k, v in dict(coordinator_address=FLAGS.coordinator_address,
                                      num_processes=FLAGS.num_processes,
                                      process_id=FLAGS.process_id).items() if v is not None}
    jax.distributed.initialize(**explicit)  # on TPU VMs everything is auto-detected
  else:  # with jax.distributed, JAX's preemption sync service handles SIGTERM
    from stilts_jax import checkpoint
    checkpoint.handle_sigterm()
  compilation_cache.enable(config.compilation_cache_dir)
  from stilts_jax import pipeline, train  # after distributed init: they may touch devices
  from stilts_jax.demo import assets as demo_assets
  try:
    if config.demo:
      demo_assets.prepare(config, workdir)
    pipeline.run(config, workdir)
  except pipeline.Preempted as e:
    logging.warning("%s; run the same command again to resume.", e)
    sys.exit(EXIT_PREEMPTED)
  except train.TrainingDiverged as e:
    fail(e, code=1)
  except UserError as e:
    if verbose:
      raise
    fail(e)
  if jax.process_index() == 0:
    print(pipeline.results_markdown(workdir), flush=True)


def run():
  app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
  run()

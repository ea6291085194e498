"""`stilts-jax-analyze RESULTS... --out DIR [--analyses 1,2,3,4,5] [--similarity FILE] [--split S]`.

Runs the analyses over results directories (or results.jsonl files) and writes DIR/analyses.md
plus one or more PNGs per analysis. Every path may be local or gs://... (relative paths are taken
from the current directory). An analysis whose inputs are missing (no baseline, no multilingual
pair, no `@fraction` settings, too few points...) appears as "skipped: <reason>"; malformed
results, a malformed similarity file or an unusable path are errors (exit status 2, message on
stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from etils import epath

from stilts_jax import paths
from stilts_jax.analysis.common import AnalysisError
from stilts_jax.analysis.multilingual import DEFAULT_SUFFIX, analyze_multilingual
from stilts_jax.analysis.resource import DEFAULT_THRESHOLD_GIB, analyze_resource
from stilts_jax.analysis.scaling import analyze_scaling
from stilts_jax.analysis.similarity import analyze_similarity, load_similarity_table
from stilts_jax.analysis.typology import analyze_typology
from stilts_jax.report.cli import INPUT_ERRORS, fail
from stilts_jax.report.results import SPLITS, ResultsError, load_results

PROG = "stilts-jax-analyze"

TITLES = {1: "Task similarity vs transfer gain", 2: "Multilingual vs English-only intermediate "
          "training", 3: "Typological distance vs zero-shot degradation",
          4: "Intermediate-data scaling", 5: "Low- vs high-resource languages"}


def _analyses(text: str) -> list[int]:
  try:
    ids = [int(x) for x in text.split(",") if x.strip()]
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected a comma-separated list of 1-5, got {text!r}")
  if not ids or any(i not in TITLES for i in ids):
    raise argparse.ArgumentTypeError(f"analyses are numbered 1-5, got {text!r}")
  return sorted(set(ids))


def _pair(text: str) -> tuple[str, str]:
  en, sep, ml = text.partition("=")
  if not sep or not en or not ml:
    raise argparse.ArgumentTypeError(f"expected ENGLISH_SETTING=MULTILINGUAL_SETTING, got {text!r}")
  return en, ml


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
  # Paths stay strings here: main resolves them, where an unusable one is a one-line error.
  p.add_argument("results", nargs="+",
                 help="workdirs holding results.jsonl (or results.jsonl files), local or gs://")
  p.add_argument("--out", required=True, help="output directory, local or gs://")
  p.add_argument("--analyses", type=_analyses, default=[1, 2, 3, 4, 5],
                 help="which analyses to run, e.g. 1,3 (default: all)")
  p.add_argument("--split", choices=SPLITS, default="validation")
  p.add_argument("--similarity",
                 help="CSV/JSON table intermediate,target,similarity for analysis 1")
  p.add_argument("--similarity-model", metavar="MODEL",
                 help="compute analysis 1's table from this pretrained encoder (Hub id or HF "
                      "directory): cosine of mean-pooled embeddings of each task's English inputs")
  p.add_argument("--similarity-examples", type=int, default=200,
                 help="inputs per task for --similarity-model")
  p.add_argument("--data-overrides", metavar="JSON",
                 help="data_overrides mapping (source -> local path) for --similarity-model")
  p.add_argument("--settings", type=lambda s: [x for x in s.split(",") if x],
                 help="intermediate settings for analyses 1, 3, 5 (default: all but x@pct runs)")
  p.add_argument("--pair", type=_pair, action="append", metavar="EN=ML",
                 help="analysis 2 pair (repeatable); default: X and X" + DEFAULT_SUFFIX)
  p.add_argument("--multilingual-suffix", default=DEFAULT_SUFFIX)
  p.add_argument("--resource-threshold", type=float, default=DEFAULT_THRESHOLD_GIB,
                 help="CC-100 GiB separating low- from high-resource languages (analysis 5)")
  p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples")
  p.add_argument("--seed", type=int, default=0, help="seed of bootstrap and permutation draws")
  return p


def _data_overrides(path: epath.Path) -> dict:
  if not path.is_file():
    raise AnalysisError(f"--data-overrides: {path} does not exist.")
  try:
    return json.loads(path.read_text(encoding="utf-8"))
  except json.JSONDecodeError as e:
    raise AnalysisError(f"--data-overrides: {path}: not valid JSON ({e.msg}).") from None


def _similarity_from_model(args, rows, out: epath.Path) -> epath.Path:
  """Embeds each task of the results with the pretrained encoder; writes OUT/similarity.csv."""
  from transformers import AutoTokenizer

  from stilts_jax.analysis import task_similarity
  from stilts_jax.models import load_encoder
  from stilts_jax.tasks import list_tasks
  known = set(list_tasks())
  intermediates = sorted({r.intermediate for r in rows if r.intermediate in known})
  targets = sorted({r.target for r in rows})
  if not intermediates:
    raise AnalysisError("--similarity-model: the results name no intermediate task.")
  overrides = _data_overrides(paths.resolve(args.data_overrides)) if args.data_overrides else None
  embed = task_similarity.encoder_embedder(load_encoder(args.similarity_model),
                                           AutoTokenizer.from_pretrained(args.similarity_model))
  table = task_similarity.similarity_table(embed, intermediates, targets,
                                           n=args.similarity_examples, data_overrides=overrides)
  path = out / "similarity.csv"
  task_similarity.write_table(table, path)
  return path


def main(argv: Sequence[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  try:
    inputs = [paths.resolve(p) for p in args.results]
    out = paths.resolve(args.out)
    rows = load_results(inputs)
    if args.similarity:
      table_path = paths.resolve(args.similarity)
    elif args.similarity_model:
      table_path = _similarity_from_model(args, rows, out)
    else:
      table_path = None
    similarity = load_similarity_table(table_path) if table_path else None
  except (ResultsError, AnalysisError, *INPUT_ERRORS) as e:
    return fail(PROG, e)
  common = dict(split=args.split, n_boot=args.n_boot, seed=args.seed)
  runs: dict[int, Callable] = {
      1: lambda: analyze_similarity(rows, similarity, settings=args.settings, **common),
      2: lambda: analyze_multilingual(rows, dict(args.pair) if args.pair else None,
                                      suffix=args.multilingual_suffix, **common),
      3: lambda: analyze_typology(rows, settings=args.settings, **common),
      4: lambda: analyze_scaling(rows, **common),
      5: lambda: analyze_resource(rows, settings=args.settings,
                                  threshold_gib=args.resource_threshold, **common),
  }
  sections = [f"# stilts-jax analyses ({args.split})", "",
              "Inputs: " + ", ".join(str(p) for p in inputs) + ".", ""]
  for i in args.analyses:
    try:
      result = runs[i]()
      sections.append(result.to_markdown(result.plot(out), relative_to=out))
      print(f"analysis {i}: done", file=sys.stderr)
    except AnalysisError as e:
      sections.append(f"## {i}. {TITLES[i]}\n\nskipped: {e}\n")
      print(f"analysis {i}: skipped: {e}", file=sys.stderr)
    # ResultsError: e.g. mixed models or no rows on the split: bad input, not missing input.
    except (ResultsError, *INPUT_ERRORS) as e:
      return fail(PROG, e)
  try:
    paths.write_atomic(out / "analyses.md", "\n".join(sections))
  except INPUT_ERRORS as e:
    return fail(PROG, e)
  print(out / "analyses.md")
  return 0


if __name__ == "__main__":
  sys.exit(main())

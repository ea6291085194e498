"""`stilts-jax-analyze RESULTS... --out DIR [--analyses 1,2,3,4,5] [--similarity FILE] [--split S]`.

Runs the analyses over results directories (or results.jsonl files) and writes DIR/analyses.md
plus one or more PNGs per analysis. An analysis whose inputs are missing (no baseline, no
multilingual pair, no `@fraction` settings, too few points...) appears as "skipped: <reason>";
malformed results or a malformed similarity file are errors (exit status 2, message on stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from stilts_jax.analysis.common import AnalysisError
from stilts_jax.analysis.multilingual import DEFAULT_SUFFIX, analyze_multilingual
from stilts_jax.analysis.resource import DEFAULT_THRESHOLD_GIB, analyze_resource
from stilts_jax.analysis.scaling import analyze_scaling
from stilts_jax.analysis.similarity import analyze_similarity, load_similarity_table
from stilts_jax.analysis.typology import analyze_typology
from stilts_jax.report.results import SPLITS, ResultsError, load_results

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
  p = argparse.ArgumentParser(prog="stilts-jax-analyze", description=__doc__.split("\n")[0])
  p.add_argument("results", nargs="+", type=Path,
                 help="workdirs holding results.jsonl (or results.jsonl files)")
  p.add_argument("--out", required=True, type=Path, help="output directory")
  p.add_argument("--analyses", type=_analyses, default=[1, 2, 3, 4, 5],
                 help="which analyses to run, e.g. 1,3 (default: all)")
  p.add_argument("--split", choices=SPLITS, default="validation")
  p.add_argument("--similarity", type=Path,
                 help="CSV/JSON table intermediate,target,similarity for analysis 1")
  p.add_argument("--similarity-model", metavar="MODEL",
                 help="compute analysis 1's table from this pretrained encoder (Hub id or HF "
                      "directory): cosine of mean-pooled embeddings of each task's English inputs")
  p.add_argument("--similarity-examples", type=int, default=200,
                 help="inputs per task for --similarity-model")
  p.add_argument("--data-overrides", type=Path, metavar="JSON",
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


def _similarity_from_model(args, rows) -> Path:
  """Embeds each task of the results with the pretrained encoder; writes OUT/similarity.csv."""
  import json

  from transformers import AutoTokenizer

  from stilts_jax.analysis import task_similarity
  from stilts_jax.models import load_encoder
  from stilts_jax.tasks import list_tasks
  known = set(list_tasks())
  intermediates = sorted({r.intermediate for r in rows if r.intermediate in known})
  targets = sorted({r.target for r in rows})
  if not intermediates:
    raise AnalysisError("--similarity-model: the results name no intermediate task.")
  overrides = json.loads(args.data_overrides.read_text()) if args.data_overrides else None
  embed = task_similarity.encoder_embedder(load_encoder(args.similarity_model),
                                           AutoTokenizer.from_pretrained(args.similarity_model))
  table = task_similarity.similarity_table(embed, intermediates, targets,
                                           n=args.similarity_examples, data_overrides=overrides)
  args.out.mkdir(parents=True, exist_ok=True)
  path = args.out / "similarity.csv"
  task_similarity.write_table(table, path)
  return path


def main(argv: Sequence[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  try:
    rows = load_results(args.results)
    if args.similarity_model and not args.similarity:
      args.similarity = _similarity_from_model(args, rows)
    similarity = load_similarity_table(args.similarity) if args.similarity else None
  except (ResultsError, AnalysisError) as e:
    print(f"stilts-jax-analyze: error: {e}", file=sys.stderr)
    return 2
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
  out: Path = args.out
  out.mkdir(parents=True, exist_ok=True)
  sections = [f"# stilts-jax analyses ({args.split})", "",
              "Inputs: " + ", ".join(str(p) for p in args.results) + ".", ""]
  for i in args.analyses:
    try:
      result = runs[i]()
      sections.append(result.to_markdown(result.plot(out), relative_to=out))
      print(f"analysis {i}: done", file=sys.stderr)
    except AnalysisError as e:
      sections.append(f"## {i}. {TITLES[i]}\n\nskipped: {e}\n")
      print(f"analysis {i}: skipped: {e}", file=sys.stderr)
    except ResultsError as e:  # e.g. mixed models or no rows on the split: bad input, not missing
      print(f"stilts-jax-analyze: error: {e}", file=sys.stderr)
      return 2
  (out / "analyses.md").write_text("\n".join(sections), encoding="utf-8")
  print(out / "analyses.md")
  return 0


if __name__ == "__main__":
  sys.exit(main())

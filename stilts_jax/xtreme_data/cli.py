"""`stilts-jax-data`: XTREME's own data for the targets whose Hub copy differs from it.

    stilts-jax-data prepare --out DIR [TASK ...] [--from DIR] [--mirror URL] [--checksums FILE]
    stilts-jax-data list

then `stilts-jax ... --config.data.xtreme_dir=DIR`. Exit status 0 on success, 2 on a user error
(one line on stderr: unknown task, failed download, checksum mismatch, missing manual archive).
"""

from __future__ import annotations

import argparse
import sys

from stilts_jax.errors import UserError, print_error
from stilts_jax.xtreme_data import prepare as prep
from stilts_jax.xtreme_data.recipes import RECIPES

PROG = "stilts-jax-data"


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog=PROG, description="Download XTREME's official archives (the URLs of XTREME's "
      "scripts/download_data.sh), check each one's SHA-256, and lay the files out for "
      "stilts-jax. Use the result with --config.data.xtreme_dir=DIR.",
      epilog="Exit status: 0 done, 2 a problem with the input or a download (one line on "
      "stderr). docs/data.md lists each source.")
  sub = parser.add_subparsers(dest="command", required=True)
  p = sub.add_parser("prepare", help="download, verify and lay out the data of TASKs")
  p.add_argument("tasks", nargs="*", metavar="TASK",
                 help=f"targets to prepare (default: all): {' '.join(RECIPES)}")
  p.add_argument("--out", required=True, metavar="DIR",
                 help="where archives/, one folder per source and overrides.json are written")
  p.add_argument("--from", dest="from_dirs", action="append", default=[], metavar="DIR",
                 help="a folder holding archives you downloaded (by their names); repeatable. "
                 "PAN-X's AmazonPhotos.zip can only come this way")
  p.add_argument("--mirror", metavar="URL",
                 help="fetch every archive as URL/<archive name> instead of its home URL")
  p.add_argument("--checksums", metavar="FILE",
                 help="sha256sum-format file of expected hashes that replace the pinned ones, "
                 "for a deliberately different build of an archive")
  p.add_argument("--no-progress", action="store_true", help="no progress bars")
  sub.add_parser("list", help="the tasks, their archives, URLs and pinned SHA-256s")
  return parser


def _list() -> None:
  for task, recipe in RECIPES.items():
    print(f"{task}: {recipe.note}")
    for a in recipe.archives:
      where = a.url or "manual download (--from): " + a.manual
      print(f"  {a.name}  {a.sha256 or 'no published sha256'}  {where}")


def main(argv=None) -> int:
  args = _parser().parse_args(argv)
  if args.command == "list":
    _list()
    return 0
  try:
    checksums = prep.read_checksums(args.checksums) if args.checksums else {}
    prepared = prep.prepare(args.out, args.tasks, args.from_dirs, args.mirror, checksums,
                            progress=not args.no_progress)
  except (UserError, OSError) as e:
    return print_error(PROG, e)
  print(f"Prepared {', '.join(prepared)} in {args.out}. Use it with: "
        f"--config.data.xtreme_dir={args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())

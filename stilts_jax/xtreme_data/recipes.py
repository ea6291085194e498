"""What `stilts-jax-data prepare` fetches for each target, and how it lays the files out.

One `Recipe` per target: the archives XTREME's `scripts/download_data.sh` downloads (same URLs;
single files pinned to a commit where the host is git), and a `build` that writes them under
`OUT/<source>/` in a layout the loader reads as it is (tasks/loading.py: official file names,
`ud_release.py`, `raw_formats.py`), so `OUT/overrides.json` maps each source to its folder.
Nothing is re-encoded: files are extracted byte for byte, except PAN-X, whose `lang:token\\tTAG`
lines become Hub-schema JSONL (tokens, ner_tags) because the loader has no reader for them.

Unlike XTREME's preprocessing, test labels are kept (XTREME strips them for its leaderboard) and
the English Tatoeba side is not sorted: the loader reads the originals (see raw_formats.py).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import shutil
import tarfile
import zipfile
from collections import Counter
from collections.abc import Callable, Mapping

from stilts_jax.tasks.target import (BUCC_LANGS, MLQA_LANGS, PANX_LANGS, PAWSX_LANGS,
                                     TATOEBA_CONFIG_NAMES, TATOEBA_LANGS, TYDIQA_ID_PREFIXES,
                                     UDPOS_LANGS, XQUAD_LANGS)
from stilts_jax.xtreme_data.checksums import SHA256

XQUAD_COMMIT = "60cac411649156efb6aab9dd4c9cde787a2c0345"  # deepmind/xquad; files from 2019
LASER_COMMIT = "74bc6ae7ffb7cba670fe0f428d0ede9f666fb821"  # data/tatoeba/v1 unchanged since 2019
PANX_HOWTO = ("PAN-X (WikiANN, Rahimi et al.'s splits) is distributed only as AmazonPhotos.zip, "
              "behind a manual download link: get it as XTREME's README says "
              "(https://github.com/google-research/xtreme#download-the-data; the link was "
              "reported dead in xtreme issue #101). A zip of the same per-language "
              "<lang>.tar.gz files renamed AmazonPhotos.zip works too.")


@dataclasses.dataclass(frozen=True)
class Archive:
  """One download. `manual`: it cannot be fetched automatically; how the user gets it."""
  name: str
  url: str
  manual: str = ""

  @property
  def sha256(self) -> str | None:
    return SHA256.get(self.name)


Build = Callable[[Mapping[str, str], str], dict[str, str]]


@dataclasses.dataclass(frozen=True)
class Recipe:
  """`build(archive paths by name, out dir)` writes the prepared files and returns
  {file relative to out dir: archive it came from} (recorded, and used for data origins)."""
  task: str
  source: str  # the data_overrides key the prepared folder is for
  archives: tuple[Archive, ...]
  build: Build
  note: str = ""


def _safe_write(out: str, relative: str, data: bytes | io.BufferedIOBase) -> str:
  """Writes `relative` under `out`, refusing names that would escape it (`..`, absolute)."""
  parts = [p for p in relative.replace("\\", "/").split("/") if p not in ("", ".")]
  if not parts or ".." in parts:
    raise ValueError(f"refusing archive member {relative!r}")
  path = os.path.join(out, *parts)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "wb") as f:
    if isinstance(data, bytes):
      f.write(data)
    else:
      shutil.copyfileobj(data, f)
  return "/".join(parts)


def _copy_files(paths: Mapping[str, str], out: str) -> dict[str, str]:
  """Single-file archives: copied under their own names."""
  written = {}
  for name, path in paths.items():
    with open(path, "rb") as f:
      written[_safe_write(out, name, f)] = name
  return written


def _extract(archive: str, name: str, out: str, select: Callable[[str], str | None]) -> dict:
  """Members of a tar/zip `archive` for which `select(member path)` gives a relative output
  path, extracted there. Streams the tar (UD v2.5 is ~330 MB compressed)."""
  written = {}
  if name.endswith(".zip"):
    with zipfile.ZipFile(archive) as z:
      for member in z.infolist():
        target = None if member.is_dir() else select(member.filename)
        if target:
          with z.open(member) as f:
            written[_safe_write(out, target, f)] = name
    return written
  with tarfile.open(archive, "r|*") as tar:
    for member in tar:
      target = select(member.name) if member.isfile() else None
      if target:
        written[_safe_write(out, target, tar.extractfile(member))] = name
  return written


# ------------------------------------------------------------------------------------ UD-POS

UD_V25 = Archive("ud-treebanks-v2.5.tgz", "https://lindat.mff.cuni.cz/repository/xmlui/bitstream/"
                 "handle/11234/1-3105/ud-treebanks-v2.5.tgz")
_UD_FILE = re.compile(r"(?:^|/)(UD_[^/]+)/(([a-z]+)_[a-z0-9]+-ud-(?:train|dev|test)\.conllu)$")


def _build_udpos(paths: Mapping[str, str], out: str) -> dict[str, str]:
  # Only the CoNLL-U files of XTREME's languages (by file-name prefix, as XTREME groups them);
  # the whole release is several GB extracted.
  def select(member: str) -> str | None:
    m = _UD_FILE.search(member)
    if m and m.group(3) in UDPOS_LANGS:
      return f"ud-treebanks-v2.5/{m.group(1)}/{m.group(2)}"
    return None
  return _extract(paths[UD_V25.name], UD_V25.name, out, select)


# ------------------------------------------------------------------------------------ PAWS-X

PAWSX = Archive("x-final.tar.gz", "https://storage.googleapis.com/paws/pawsx/x-final.tar.gz")
_PAWSX_FILE = re.compile(r"(?:^|/)x-final/([a-z]{2})/((?:translated_)?train|dev_2k|test_2k)\.tsv$")


def _build_pawsx(paths: Mapping[str, str], out: str) -> dict[str, str]:
  def select(member: str) -> str | None:
    m = _PAWSX_FILE.search(member)
    return f"{m.group(1)}/{m.group(2)}.tsv" if m and m.group(1) in PAWSX_LANGS else None
  return _extract(paths[PAWSX.name], PAWSX.name, out, select)


# ------------------------------------------------------------------------------------ PAN-X

AMAZON_PHOTOS = Archive("AmazonPhotos.zip", "", manual=PANX_HOWTO)
PANX_SPLITS = {"train": "train", "dev": "validation", "test": "test"}


def _panx_sentences(text: str):
  """Sentences of a PAN-X split file: `lang:token\\tTAG` lines, a blank line between sentences
  (XTREME's panx_preprocess keeps the token after the first ':')."""
  tokens, tags = [], []
  for line in text.splitlines():
    fields = line.strip().split("\t")
    if len(fields) == 2 and fields[0]:
      token = fields[0].split(":", 1)[1] if ":" in fields[0] else fields[0]
      tokens.append(token.strip())
      tags.append(fields[1].strip())
    elif tokens:
      yield tokens, tags
      tokens, tags = [], []
  if tokens:
    yield tokens, tags


def _build_panx(paths: Mapping[str, str], out: str) -> dict[str, str]:
  written = {}
  with zipfile.ZipFile(paths[AMAZON_PHOTOS.name]) as z:
    inner = {os.path.basename(n)[:-len(".tar.gz")]: n for n in z.namelist()
             if n.endswith(".tar.gz")}
    for lang in PANX_LANGS:
      if lang not in inner:
        continue
      with z.open(inner[lang]) as raw, tarfile.open(fileobj=io.BytesIO(raw.read())) as tar:
        for member in tar.getmembers():
          split = PANX_SPLITS.get(os.path.basename(member.name))
          if not member.isfile() or split is None:
            continue
          text = tar.extractfile(member).read().decode("utf-8")
          lines = "".join(json.dumps({"tokens": t, "ner_tags": g}, ensure_ascii=False) + "\n"
                          for t, g in _panx_sentences(text))
          written[_safe_write(out, f"PAN-X.{lang}/{split}.jsonl", lines.encode("utf-8"))] = \
              AMAZON_PHOTOS.name
  return written


# ------------------------------------------------------------------------------------ QA

XQUAD = tuple(Archive(f"xquad.{l}.json", f"https://raw.githubusercontent.com/deepmind/xquad/"
                      f"{XQUAD_COMMIT}/xquad.{l}.json") for l in XQUAD_LANGS)
MLQA = Archive("MLQA_V1.zip", "https://dl.fbaipublicfiles.com/MLQA/MLQA_V1.zip")
_MLQA_FILE = re.compile(
    r"(?:^|/)(dev|test)/((?:dev|test)-context-([a-z]+)-question-([a-z]+)\.json)$")
TYDIQA_TRAIN = Archive("tydiqa-goldp-v1.1-train.json",
                       "https://storage.googleapis.com/tydiqa/v1.1/tydiqa-goldp-v1.1-train.json")
TYDIQA_DEV = Archive("tydiqa-goldp-v1.1-dev.tgz",
                     "https://storage.googleapis.com/tydiqa/v1.1/tydiqa-goldp-v1.1-dev.tgz")
_TYDIQA_DEV_FILE = re.compile(r"(?:^|/)(tydiqa-goldp-dev-([a-z]+)\.json)$")


def _build_mlqa(paths: Mapping[str, str], out: str) -> dict[str, str]:
  def select(member: str) -> str | None:  # XTREME scores context language == question language
    m = _MLQA_FILE.search(member)
    if m and m.group(3) == m.group(4) and m.group(3) in MLQA_LANGS:
      return f"{m.group(1)}/{m.group(2)}"
    return None
  return _extract(paths[MLQA.name], MLQA.name, out, select)


def _build_tydiqa(paths: Mapping[str, str], out: str) -> dict[str, str]:
  names = set(TYDIQA_ID_PREFIXES.values())
  written = _copy_files({TYDIQA_TRAIN.name: paths[TYDIQA_TRAIN.name]}, out)

  def select(member: str) -> str | None:
    m = _TYDIQA_DEV_FILE.search(member)
    return f"tydiqa-goldp-v1.1-dev/{m.group(1)}" if m and m.group(2) in names else None
  written.update(_extract(paths[TYDIQA_DEV.name], TYDIQA_DEV.name, out, select))
  return written


# ------------------------------------------------------------------------------------ retrieval

BUCC = tuple(Archive(f"bucc2018-{l}-en.{part}.tar.bz2",
                     f"https://comparable.limsi.fr/bucc2018/bucc2018-{l}-en.{part}.tar.bz2")
             for l in BUCC_LANGS for part in ("sample-gold", "training-gold"))
_BUCC_FILE = re.compile(r"(?:^|/)(([a-z]{2})-en\.(sample|training)\.([a-z]{2}|gold))$")
TATOEBA = tuple(Archive(f"tatoeba.{code}-eng.{side}", f"https://raw.githubusercontent.com/"
                        f"facebookresearch/LASER/{LASER_COMMIT}/data/tatoeba/v1/"
                        f"tatoeba.{code}-eng.{side}")
                for code in (TATOEBA_CONFIG_NAMES[l] for l in TATOEBA_LANGS)
                for side in (code, "eng"))


def _build_bucc(paths: Mapping[str, str], out: str) -> dict[str, str]:
  written = {}
  for name, path in paths.items():
    def select(member: str) -> str | None:
      m = _BUCC_FILE.search(member)
      return m.group(1) if m and m.group(2) in BUCC_LANGS else None
    written.update(_extract(path, name, out, select))
  return written


RECIPES = {r.task: r for r in (
    Recipe("udpos", "udpos", (UD_V25,), _build_udpos,
           "UD v2.5, the CoNLL-U files of XTREME's 33 languages"),
    Recipe("pawsx", "pawsx", (PAWSX,), _build_pawsx, "PAWS-X x-final, all rows"),
    Recipe("panx", "panx", (AMAZON_PHOTOS,), _build_panx,
           "WikiANN (PAN-X) splits; needs your AmazonPhotos.zip (--from)"),
    Recipe("xquad", "xquad", XQUAD, _copy_files, "XQuAD, 11 languages"),
    Recipe("mlqa", "mlqa", (MLQA,), _build_mlqa, "MLQA v1 dev and test, context = question"),
    Recipe("tydiqa", "tydiqa", (TYDIQA_TRAIN, TYDIQA_DEV), _build_tydiqa,
           "TyDiQA-GoldP v1.1 train and dev"),
    Recipe("bucc2018", "bucc2018", BUCC, _build_bucc,
           "BUCC 2018 sample and training corpora with gold (the real mining task)"),
    Recipe("tatoeba", "tatoeba", TATOEBA, _copy_files, "LASER's Tatoeba v1, 36 languages"),
)}


def counts(written: Mapping[str, str]) -> Counter:
  """Prepared files per archive, for the summary line."""
  return Counter(written.values())

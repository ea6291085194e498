"""`stilts-jax-data prepare`, as installed, against a loopback HTTP server serving real files.

The server (tests/_http.py) serves archives built here from the real files in shared/real-data:
a `ud-treebanks-v2.5.tgz` holding a few r2.5 treebank folders (Modern and Ancient Greek side by
side), an `x-final.tar.gz` with the Korean PAWS-X files, and the real XQuAD and LASER Tatoeba
files. The single files are the published ones, so they pass the pinned SHA-256s as they are; the
two subset archives are not the published archives, so those tests give their hashes with
`--checksums` (and a test shows the pinned hash refusing them). BUCC, MLQA, TyDiQA and PAN-X have
no real copy here: their archives are built in the layouts XTREME's download_data.sh documents,
to test the extraction, not the data.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile

import pytest

from _http import Served, serve
from _real_data import REAL_DATA, needs_real_data
from stilts_jax.tasks import load_examples
from stilts_jax.tasks.target import TATOEBA_CONFIG_NAMES, TATOEBA_LANGS, XQUAD_LANGS
from stilts_jax.xtreme_data.checksums import SHA256
from stilts_jax.xtreme_data.origin import MARKER, read_overrides
from stilts_jax.xtreme_data.prepare import PrepareError, prepare

pytestmark = needs_real_data
CLI = os.path.join(os.path.dirname(sys.executable), "stilts-jax-data")
UD_R25 = REAL_DATA / "ud" / "r2.5"
UD_SUBSET = ("UD_Greek-GDT/el_gdt-ud-test.conllu",
             "UD_Ancient_Greek-PROIEL/grc_proiel-ud-test.conllu",
             "UD_English-EWT/en_ewt-ud-dev.conllu", "UD_English-EWT/en_ewt-ud-test.conllu",
             "UD_Greek-GDT/LICENSE.txt")


def _tar(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
  """A tar archive; the same bytes every time (gzip's header time is 0), as a real one is."""
  buf = io.BytesIO()
  with tarfile.open(fileobj=buf, mode="w") as tar:
    for name, data in members.items():
      info = tarfile.TarInfo(name)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  raw = buf.getvalue()
  return gzip.compress(raw, mtime=0) if mode == "w:gz" else bz2.compress(raw)


def _zip(members: dict[str, bytes]) -> bytes:
  buf = io.BytesIO()
  with zipfile.ZipFile(buf, "w") as z:
    for name, data in members.items():
      z.writestr(name, data)
  return buf.getvalue()


def _sha(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()


def _ud_subset() -> bytes:
  return _tar({f"ud-treebanks-v2.5/{p}": (UD_R25 / p).read_bytes() for p in UD_SUBSET})


def _pawsx_ko() -> bytes:
  ko = REAL_DATA / "paws-x" / "ko"
  return _tar({f"x-final/ko/{n}": (ko / n).read_bytes() for n in ("dev_2k.tsv", "test_2k.tsv")})


def _xquad() -> dict[str, bytes]:
  return {f"xquad.{l}.json": (REAL_DATA / "xquad" / f"xquad.{l}.json").read_bytes()
          for l in XQUAD_LANGS}


def _tatoeba() -> dict[str, bytes]:
  codes = [TATOEBA_CONFIG_NAMES[l] for l in TATOEBA_LANGS]
  return {f"tatoeba.{c}-eng.{s}": (REAL_DATA / "tatoeba" / f"tatoeba.{c}-eng.{s}").read_bytes()
          for c in codes for s in (c, "eng")}


def _cli(cwd, *args: str) -> subprocess.CompletedProcess:
  env = dict(os.environ, STILTS_JAX_DATA_BACKOFF="0")
  return subprocess.run([CLI, *args], cwd=cwd, capture_output=True, text=True, env=env,
                        timeout=300)


def _checksums(path, archives: dict[str, bytes]) -> str:
  path.write_text("".join(f"{_sha(d)}  {n}\n" for n, d in archives.items()))
  return path.name


def test_pinned_hashes_of_the_single_files_are_the_real_files():
  for name, data in {**_xquad(), **_tatoeba()}.items():
    assert SHA256[name] == _sha(data), name


def test_prepare_everything_from_a_mirror_then_load_it(tmp_path):
  """The README's command (plus --mirror): every task but PAN-X, whose archive only the user
  can supply; a rerun downloads nothing."""
  archives = {"ud-treebanks-v2.5.tgz": _ud_subset(), "x-final.tar.gz": _pawsx_ko(),
              **_layout_archives()}
  served = Served({**archives, **_xquad(), **_tatoeba()})
  sums = _checksums(tmp_path / "sums.txt", archives)
  with serve(served) as url:
    r = _cli(tmp_path, "prepare", "--out", "xtreme", "--mirror", url, "--checksums", sums,
             "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "panx: skipped, AmazonPhotos.zip is not in any --from folder" in r.stdout
    assert "--config.data.xtreme_dir=xtreme" in r.stdout
    assert sorted(n for n, _ in served.requests) == sorted(served.files)  # each fetched once

    served.requests.clear()
    again = _cli(tmp_path, "prepare", "--out", "xtreme", "--mirror", url, "--checksums", sums,
                 "--no-progress")
    assert again.returncode == 0, again.stderr
    assert served.requests == [] and again.stdout.count("already prepared") == 7

  overrides = read_overrides(str(tmp_path / "xtreme"))
  assert sorted(overrides) == ["bucc2018", "mlqa", "pawsx", "tatoeba", "tydiqa", "udpos", "xquad"]
  ud_files = json.loads((tmp_path / "xtreme" / "udpos" / MARKER).read_text())["files"]
  assert not any("grc_" in f for f in ud_files) and not any("LICENSE" in f for f in ud_files)

  greek = load_examples("udpos", "test", "el", data_overrides=overrides)
  assert len(greek) == 456  # GDT only: Ancient Greek PROIEL in the same archive is not Greek
  assert greek.data_summary()["origin"] == "xtreme:ud-treebanks-v2.5.tgz"
  assert len(load_examples("udpos", "validation", "en", data_overrides=overrides)) == 2002
  korean = load_examples("pawsx", "test", "ko", data_overrides=overrides)
  assert len(korean) == 2000 and korean.data_origin == "xtreme:x-final.tar.gz"
  german = load_examples("xquad", "validation", "de", data_overrides=overrides)
  assert len(german) == 1190 and german.data_origin == "xtreme:xquad.de.json"
  tatoeba = load_examples("tatoeba", "validation", "de", data_overrides=overrides)
  assert len(tatoeba.retrieval.gold) == 1000
  assert tatoeba.data_origin == "xtreme:tatoeba.deu-eng.deu+tatoeba.deu-eng.eng"


def test_a_file_that_is_not_the_published_one_is_refused(tmp_path):
  files = {**_xquad(), **_tatoeba()}
  name = "tatoeba.deu-eng.deu"
  files[name] = files[name].replace(b"Ich ", b"Er ", 1)
  with serve(Served(files)) as url:
    r = _cli(tmp_path, "prepare", "--out", "out", "xquad", "tatoeba", "--mirror", url,
             "--no-progress")
  assert r.returncode == 2
  assert r.stderr.count("\n") == 1 and r.stderr.startswith(f"stilts-jax-data: error: {name}")
  assert _sha(files[name]) in r.stderr and SHA256[name] in r.stderr
  assert not (tmp_path / "out" / "tatoeba").exists()  # nothing half-prepared
  assert not any(p.name.startswith(name) for p in (tmp_path / "out" / "archives").iterdir())
  # XQuAD, prepared before the refusal, stays usable.
  assert read_overrides(str(tmp_path / "out")) == {"xquad": str(tmp_path / "out" / "xquad")}


def test_the_subset_archive_fails_the_pinned_hash(tmp_path):
  # Without --checksums the published UD v2.5 hash applies, and our subset is not that archive.
  with serve(Served({"ud-treebanks-v2.5.tgz": _ud_subset()})) as url:
    r = _cli(tmp_path, "prepare", "--out", "out", "udpos", "--mirror", url, "--no-progress")
  assert r.returncode == 2 and SHA256["ud-treebanks-v2.5.tgz"] in r.stderr


def test_an_interrupted_download_resumes_in_the_same_run(tmp_path):
  served = Served(_xquad(), cut_after={"xquad.zh.json": 300_000})
  with serve(served) as url:
    r = _cli(tmp_path, "prepare", "--out", "out", "xquad", "--mirror", url, "--no-progress")
  assert r.returncode == 0, r.stderr
  assert served.requested("xquad.zh.json") == [None, "bytes=300000-"]
  prepared = tmp_path / "out" / "xquad" / "xquad.zh.json"
  assert _sha(prepared.read_bytes()) == SHA256["xquad.zh.json"]


def test_a_download_that_keeps_failing_resumes_on_the_next_run(tmp_path):
  served = Served(_xquad(), cut_after={"xquad.ar.json": 100_000}, cut_times=3)
  with serve(served) as url:
    r = _cli(tmp_path, "prepare", "--out", "out", "xquad", "--mirror", url, "--no-progress")
    assert r.returncode == 2 and "Rerun the same command to resume" in r.stderr
    part = tmp_path / "out" / "archives" / "xquad.ar.json.part"
    assert part.stat().st_size == 300_000
    assert served.requested("xquad.ar.json") == [None, "bytes=100000-", "bytes=200000-"]
    again = _cli(tmp_path, "prepare", "--out", "out", "xquad", "--mirror", url, "--no-progress")
  assert again.returncode == 0, again.stderr
  assert served.requested("xquad.ar.json")[3:] == ["bytes=300000-"]
  assert not part.exists()
  assert load_examples("xquad", "validation", "ar",
                       data_overrides=read_overrides(str(tmp_path / "out"))).data_origin == \
      "xtreme:xquad.ar.json"


def test_from_uses_archives_the_user_downloaded(tmp_path):
  downloads = tmp_path / "downloads"
  downloads.mkdir()
  (downloads / "x-final.tar.gz").write_bytes(_pawsx_ko())
  # No server at all: --mirror points at a closed port, so any download attempt would fail.
  refused = _cli(tmp_path, "prepare", "--out", "out", "pawsx", "--from", "downloads",
                 "--mirror", "http://127.0.0.1:9", "--no-progress")
  assert refused.returncode == 2 and "(--from)" in refused.stderr and SHA256["x-final.tar.gz"] \
      in refused.stderr
  assert (downloads / "x-final.tar.gz").exists()  # the user's file is never deleted
  sums = _checksums(tmp_path / "sums.txt", {"x-final.tar.gz": _pawsx_ko()})
  r = _cli(tmp_path, "prepare", "--out", "out", "pawsx", "--from", "downloads", "--checksums",
           sums, "--mirror", "http://127.0.0.1:9", "--no-progress")
  assert r.returncode == 0, r.stderr
  assert not (tmp_path / "out" / "archives" / "x-final.tar.gz").exists()  # used in place
  overrides = read_overrides(str(tmp_path / "out"))
  assert len(load_examples("pawsx", "validation", "ko", data_overrides=overrides)) == 2000


PANX_EN = "en:John\tB-PER\nen:Smith\tI-PER\nen:lives\tO\n\nen:Paris\tB-LOC\n"
PANX_DE = "de:Die\tO\nde:Stadt\tO\nde:Bad:Homburg\tB-LOC\n\n"


def test_panx_comes_only_from_the_users_amazonphotos_zip(tmp_path):
  missing = _cli(tmp_path, "prepare", "--out", "out", "panx", "--no-progress")
  assert missing.returncode == 2 and "AmazonPhotos.zip" in missing.stderr \
      and "--from" in missing.stderr
  splits = lambda text: _tar({f"{s}": text.encode() for s in ("train", "dev", "test")})
  (tmp_path / "AmazonPhotos.zip").write_bytes(_zip({"panx_dataset/en.tar.gz": splits(PANX_EN),
                                                    "panx_dataset/de.tar.gz": splits(PANX_DE)}))
  r = _cli(tmp_path, "prepare", "--out", "out", "panx", "--from", ".", "--no-progress")
  assert r.returncode == 0, r.stderr
  assert "AmazonPhotos.zip has no published SHA-256; recorded " + \
      _sha((tmp_path / "AmazonPhotos.zip").read_bytes()) in r.stdout
  overrides = read_overrides(str(tmp_path / "out"))
  de = load_examples("panx", "test", "de", data_overrides=overrides)
  assert [e.words for e in de.examples] == [("Die", "Stadt", "Bad:Homburg")]
  assert de.data_origin == "xtreme:AmazonPhotos.zip"
  en = load_examples("panx", "train", "en", data_overrides=overrides)
  assert [e.words for e in en.examples] == [("John", "Smith", "lives"), ("Paris",)]


def _squad(qid: str, context: str = "Helsinki is the capital.", answer: str = "Helsinki") -> bytes:
  qa = {"id": qid, "question": "What?", "answers": [{"text": answer, "answer_start": 0}]}
  return json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [
      {"context": context, "qas": [qa]}]}]}).encode()


def _bucc(lang: str, split: str) -> bytes:
  prefix = f"bucc2018/{lang}-en/{lang}-en.{split}"
  return _tar({f"{prefix}.{lang}": f"{lang}-000001\tHallo\n{lang}-000002\tNoch\n".encode(),
               f"{prefix}.en": b"en-000001\tHello\nen-000002\tA distractor\n",
               f"{prefix}.gold": f"{lang}-000001\ten-000001\n".encode()}, "w:bz2")


def _layout_archives() -> dict[str, bytes]:
  """BUCC, MLQA and TyDiQA archives in the layouts XTREME's download_data.sh documents."""
  archives = {f"bucc2018-{l}-en.{part}-gold.tar.bz2": _bucc(l, part)
              for l in ("de", "fr", "ru", "zh") for part in ("sample", "training")}
  archives["MLQA_V1.zip"] = _zip({
      "MLQA_V1/dev/dev-context-de-question-de.json": _squad("d1"),
      "MLQA_V1/test/test-context-de-question-de.json": _squad("t1"),
      "MLQA_V1/test/test-context-de-question-en.json": _squad("x1")})
  archives["tydiqa-goldp-v1.1-train.json"] = _squad("english-1")
  archives["tydiqa-goldp-v1.1-dev.tgz"] = _tar({
      "tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-finnish.json": _squad("finnish-7")})
  return archives


def test_bucc_mlqa_tydiqa_layouts(tmp_path):
  archives = _layout_archives()
  downloads = tmp_path / "downloads"
  downloads.mkdir()
  for name, data in archives.items():
    (downloads / name).write_bytes(data)
  checksums = {n: _sha(d) for n, d in archives.items()}
  prepared = prepare(str(tmp_path / "out"), ["bucc2018", "mlqa", "tydiqa"], [str(downloads)],
                     None, checksums, progress=False, say=lambda _: None)
  overrides = read_overrides(str(tmp_path / "out"))
  assert set(prepared) == {"bucc2018", "mlqa", "tydiqa"} == set(overrides)
  bucc = load_examples("bucc2018", "test", "fr", data_overrides=overrides)
  assert bucc.source_kind == "bucc_original_files" and len(bucc.retrieval.gold) == 1
  assert len(bucc.retrieval.target) == 2  # the distractor is kept: real mining
  assert bucc.data_origin == "xtreme:bucc2018-fr-en.training-gold.tar.bz2"
  test = load_examples("mlqa", "test", "de", data_overrides=overrides)
  assert [e.guid.rsplit("/", 1)[-1] for e in test.examples] == ["t1"]  # de-en pair not taken
  assert test.data_origin == "xtreme:MLQA_V1.zip"
  fi = load_examples("tydiqa", "validation", "fi", data_overrides=overrides)
  assert len(fi) == 1 and fi.data_origin == "xtreme:tydiqa-goldp-v1.1-dev.tgz"
  assert load_examples("tydiqa", "train", "en", data_overrides=overrides).data_origin == \
      "xtreme:tydiqa-goldp-v1.1-train.json"


def test_an_archive_without_the_expected_files_is_an_error(tmp_path):
  (tmp_path / "MLQA_V1.zip").write_bytes(_zip({"README": b"not MLQA"}))
  with pytest.raises(PrepareError, match="MLQA_V1.zip held none of the files XTREME uses"):
    prepare(str(tmp_path / "out"), ["mlqa"], [str(tmp_path)], None,
            {"MLQA_V1.zip": _sha((tmp_path / "MLQA_V1.zip").read_bytes())}, progress=False,
            say=lambda _: None)
  assert not (tmp_path / "out" / "mlqa").exists() and not (tmp_path / "out" / "mlqa.tmp").exists()


@pytest.mark.slow
def test_a_run_with_xtreme_dir_reports_xtreme_origins(tmp_path_factory, tmp_path):
  """The installed CLI, evaluation only (BUCC and Tatoeba need no training), relative paths:
  every result row says which archive its data came from, and the run's summary has no "not
  comparable" mark; the same rows with a Hub origin get it, with the command that fixes it."""
  import _pipeline_helpers as H
  from stilts_jax.report.results import parse_rows
  from stilts_jax.report.summary import build_summary, to_markdown
  assets = H.demo_assets(tmp_path_factory.mktemp("assets"))
  downloads = tmp_path / "downloads"
  downloads.mkdir()
  archives = {f"bucc2018-{l}-en.{part}-gold.tar.bz2": _bucc(l, part)
              for l in ("de", "fr", "ru", "zh") for part in ("sample", "training")}
  for name, data in {**archives, **_tatoeba()}.items():
    (downloads / name).write_bytes(data)
  prepare(str(tmp_path / "xtreme"), ["bucc2018", "tatoeba"], [str(downloads)], None,
          {n: _sha(d) for n, d in archives.items()}, progress=False, say=lambda _: None)
  H.seed_workdir(tmp_path / "run", assets)
  exe = os.path.join(os.path.dirname(sys.executable), "stilts-jax")
  proc = subprocess.run(
      [exe, f"--config={H.CONFIGS / 'demo.py'}", "--workdir=run", "--config.data.xtreme_dir=xtreme",
       "--config.intermediates=('none',)", "--config.targets=('bucc2018','tatoeba')",
       "--config.eval.languages.bucc2018=de", "--config.eval.languages.tatoeba=de",
       "--config.data.eval_limit=200"],
      cwd=tmp_path, env=H.cli_env(), capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  rows = H.read_jsonl(tmp_path / "run" / "results.jsonl")
  origins = {(r["target"], r["split"]): r["data"]["origin"] for r in rows}
  assert origins == {
      ("bucc2018", "validation"): "xtreme:bucc2018-de-en.sample-gold.tar.bz2",
      ("bucc2018", "test"): "xtreme:bucc2018-de-en.training-gold.tar.bz2",
      ("tatoeba", "validation"): "xtreme:tatoeba.deu-eng.deu+tatoeba.deu-eng.eng"}
  assert all(r["bucc_source"] == "bucc_original_files" for r in rows if r["target"] == "bucc2018")
  results_md = (tmp_path / "run" / "results.md").read_text()
  assert "BUCC" in results_md and "Not comparable" not in results_md and "‡" not in results_md

  hub = [dict(r, data=dict(r["data"], origin="hub:google/xtreme/bucc18.de@main"))
         if r["target"] == "bucc2018" else r for r in rows]
  marked = to_markdown(build_summary(parse_rows(hub, "hub rows"), "validation"))
  assert "‡" in marked and "Not comparable with published numbers" in marked
  assert "stilts-jax-data prepare --out xtreme_data bucc2018, then rerun with " \
         "--config.data.xtreme_dir=xtreme_data" in marked

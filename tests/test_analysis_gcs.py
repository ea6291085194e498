"""`stilts-jax-analyze` with gs:// inputs and output (real GCS emulator, tests/_gcs.py), relative
paths, and unusable paths as one-line errors."""

import re

from etils import epath

from stilts_jax import paths
from stilts_jax.analysis.cli import main
from test_analysis_cli import grid  # noqa: F401 (fixture)


def _upload(local, remote):
  epath.Path(remote).write_bytes(local.read_bytes())


def test_gs_results_and_out(gcs, grid, capsys):  # noqa: F811
  bucket = gcs.create_bucket()
  root = f"gs://{bucket}"
  for name in ("grid", "fractions"):
    _upload(grid / "runs" / name / "results.jsonl", f"{root}/runs/{name}/results.jsonl")
  _upload(grid / "similarity.csv", f"{root}/similarity.csv")
  argv = [f"{root}/runs/grid", f"{root}/runs/fractions", "--out", f"{root}/out",
          "--similarity", f"{root}/similarity.csv", "--n-boot", "50"]
  assert main(argv) == 0, capsys.readouterr().err
  assert capsys.readouterr().out == f"{root}/out/analyses.md\n"
  md = epath.Path(f"{root}/out/analyses.md").read_text()
  assert "skipped" not in md and f"Inputs: {root}/runs/grid, {root}/runs/fractions." in md
  images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)  # beside analyses.md: names only
  assert {"similarity_table.png", "multilingual.png", "typology.png", "scaling_mnli.png",
          "resource.png"} <= set(images)
  assert set(gcs.objects(bucket, "out/")) == {"out/analyses.md", *(f"out/{p}" for p in images)}
  assert all(epath.Path(f"{root}/out/{p}").read_bytes()[:4] == b"\x89PNG" for p in images)
  # A malformed row on the bucket is named by its gs:// path.
  epath.Path(f"{root}/bad/results.jsonl").write_text('{"intermediate": null}\n')
  assert main([f"{root}/bad", "--out", f"{root}/out2"]) == 2
  assert f"stilts-jax-analyze: error: {root}/bad/results.jsonl:1: missing key" in \
      capsys.readouterr().err


def test_relative_out_is_taken_from_the_current_directory(grid, monkeypatch, capsys):  # noqa: F811
  monkeypatch.chdir(grid)
  assert main(["runs/grid", "--out", "rel/out", "--analyses=2", "--n-boot", "50"]) == 0
  # The printed path is absolute: the file the user meant, wherever they read it from.
  assert capsys.readouterr().out == f"{grid / 'rel' / 'out' / 'analyses.md'}\n"
  md = (grid / "rel" / "out" / "analyses.md").read_text()
  assert f"Inputs: {grid / 'runs' / 'grid'}." in md and "![multilingual](multilingual.png)" in md
  assert (grid / "rel" / "out" / "multilingual.png").is_file()


def test_unusable_paths_are_one_line_errors(grid, monkeypatch, capsys):  # noqa: F811
  def no_gcsfs(path):
    raise paths.PathError(f"{path}: gs:// paths need gcsfs")
  monkeypatch.setattr(paths, "check_backend", no_gcsfs)
  out = grid / "out"
  cases = [
      (["gs://b/run", "--out", str(out)], "gs://b/run: gs:// paths need gcsfs"),
      ([str(grid / "runs" / "grid"), "--out", "gs://b/out"], "gs://b/out: gs:// paths need"),
      ([str(grid / "runs" / "grid"), "--out", str(out), "--similarity", "gs://b/s.csv"],
       "gs://b/s.csv: gs:// paths need gcsfs"),
      ([str(grid / "nope"), "--out", str(out)], f"{grid / 'nope'} does not exist"),
      ([str(grid / "runs" / "grid"), "--out", str(out), "--similarity-model", "m",
        "--data-overrides", str(grid / "nope.json")],
       f"--data-overrides: {grid / 'nope.json'} does not exist"),
  ]
  for argv, message in cases:
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    assert err.startswith(f"stilts-jax-analyze: error: {message}"), err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
  assert not out.exists()

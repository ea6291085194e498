"""Getting one archive onto local disk, verified: resumable HTTP download, or a copy the user has.

    path = fetch(archive, archives_dir, from_dirs=(), mirror=None, sha256=archive.sha256)

Order: a verified file already in `archives_dir` is used as it is (a rerun skips finished
downloads); then `from_dirs` (archives the user downloaded by hand, `--from`); then the network.
A download streams into `<name>.part` and asks the server for the rest (`Range`) when that file
exists, so an interrupted download continues where it stopped, within the same run (a few
retries) or the next. The finished file's SHA-256 must equal the pinned one before it is renamed
into place; a mismatch deletes the bad file and stops with both hashes and the URL, since a
silently different archive is exactly the non-comparable data this tool exists to prevent.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

from stilts_jax.errors import UserError
from stilts_jax.xtreme_data.recipes import Archive

CHUNK = 1 << 20
RETRIES = 3  # attempts per run for one archive; each attempt resumes the .part file
TIMEOUT_S = 60


class DownloadError(UserError, RuntimeError):
  """An archive could not be fetched or verified; the message says what to do."""


class ChecksumError(DownloadError):
  """A fetched or supplied archive is not the one pinned: both SHA-256s are in the message."""


def sha256_of(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(CHUNK), b""):
      digest.update(block)
  return digest.hexdigest()


def fetch(archive: Archive, archives_dir: str, from_dirs: Sequence[str] = (),
          mirror: str | None = None, sha256: str | None = None, progress: bool = True) -> str:
  """The verified local path of `archive` (see the module docstring). `sha256` is the expected
  hash (the archive's pinned one unless the user gave another); None means no published hash
  exists, and the hash found is then only recorded by the caller."""
  os.makedirs(archives_dir, exist_ok=True)
  dest = os.path.join(archives_dir, archive.name)
  if os.path.isfile(dest):
    _verify(dest, archive, sha256, f"{dest} (downloaded earlier)", delete=False)
    return dest
  for directory in from_dirs:
    supplied = os.path.join(directory, archive.name)
    if os.path.isfile(supplied):
      _verify(supplied, archive, sha256, f"{supplied} (--from)", delete=False)
      return supplied
  if archive.manual:
    where = f" (looked in {', '.join(from_dirs)})" if from_dirs else ""
    raise DownloadError(f"{archive.name} cannot be downloaded automatically{where}: "
                        f"{archive.manual} Then rerun with --from DIR, DIR holding {archive.name}.")
  url = mirrored(archive, mirror)
  part = dest + ".part"
  for attempt in range(1, RETRIES + 1):
    try:
      _download(url, part, archive.name, progress)
      break
    except (OSError, http.client.HTTPException) as e:
      if isinstance(e, urllib.error.HTTPError) and e.code in (403, 404, 410):
        raise DownloadError(f"{archive.name}: {url} answered HTTP {e.code}. Download it by "
                            f"hand and rerun with --from DIR, or pass --mirror URL.") from None
      got = os.path.getsize(part) if os.path.exists(part) else 0
      if attempt == RETRIES:
        raise DownloadError(
            f"{archive.name}: download from {url} failed {RETRIES} times ({type(e).__name__}: "
            f"{e}); {got} bytes are kept in {part}. Rerun the same command to resume.") from None
      time.sleep(min(2 ** attempt, 10) * _backoff_scale())
  _verify(part, archive, sha256, url, delete=True)
  os.replace(part, dest)
  return dest


def mirrored(archive: Archive, mirror: str | None) -> str:
  """`archive.url`, or `{mirror}/{archive.name}` when a mirror holds the archives by name."""
  return f"{mirror.rstrip('/')}/{archive.name}" if mirror else archive.url


def _backoff_scale() -> float:
  return float(os.environ.get("STILTS_JAX_DATA_BACKOFF", "1"))


def _download(url: str, part: str, name: str, progress: bool) -> None:
  """Appends the rest of `url` to `part`; raises on any interruption (the caller retries)."""
  have = os.path.getsize(part) if os.path.exists(part) else 0
  request = urllib.request.Request(url, headers={"User-Agent": "stilts-jax-data"})
  if have:
    request.add_header("Range", f"bytes={have}-")
  try:
    response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
  except urllib.error.HTTPError as e:
    if e.code == 416 and have:  # nothing left to send: the .part file is complete
      return
    raise
  with response:
    if have and response.status != 206:  # the server ignored Range: start over
      have = 0
    length = response.headers.get("Content-Length")
    total = have + int(length) if length is not None else None
    from tqdm.auto import tqdm
    with open(part, "ab" if have else "wb") as out, \
        tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
             desc=name, disable=not progress, mininterval=1.0) as bar:
      while True:
        block = response.read(CHUNK)
        if not block:
          break
        out.write(block)
        bar.update(len(block))
  size = os.path.getsize(part)
  if total is not None and size < total:
    raise http.client.IncompleteRead(b"", total - size)


def _verify(path: str, archive: Archive, sha256: str | None, where: str, delete: bool) -> None:
  if sha256 is None:
    return
  got = sha256_of(path)
  if got != sha256:
    if delete:
      os.remove(path)
    fix = ("It was deleted; rerun to download it again, or pass --checksums FILE if you "
           "deliberately use another build of it.") if delete else \
        ("Delete it (or pass --checksums FILE if you deliberately use another build of it).")
    raise ChecksumError(f"{archive.name} from {where} has SHA-256 {got}, but {sha256} was "
                        f"expected: it is not the archive XTREME used. {fix}")

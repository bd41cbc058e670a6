"""Fetching dataset files into the data directory, verified by sha256.

Every file lands at ``<root>/<RemoteFile.path>`` only after its sha256 matched: downloads stream into a
temporary file next to the target and are renamed into place, so an interrupted or corrupted transfer
never leaves a file that a later run would trust. Archives (gzip, zip) are unpacked member by member
into the same kind of temporary file; zip member names are only used to *find* a member, never as a
path to write to, so a hostile archive cannot write outside ``<root>/<RemoteFile.path>``.

The data directory may be read-only (a shared copy): nothing is written unless a file must be fetched.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import re
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO, TYPE_CHECKING, BinaryIO, Sequence
from urllib.parse import unquote, urlsplit

from tqdm.auto import tqdm

if TYPE_CHECKING:
    from graphmeta.data.registry import RemoteFile

__all__ = ["ChecksumError", "DatasetNotFoundError", "sha256_file", "sha256_stream", "download_url", "ensure_files"]

_CHUNK = 1 << 20
#: Largest zip member (uncompressed) we agree to extract: a guard against zip bombs.
_MAX_MEMBER_SIZE = 4 << 30
_USER_AGENT = "graphmeta (python urllib)"


class ChecksumError(ValueError):
    """A file's sha256 differs from the expected one (corrupted download, altered upstream or local file)."""

    def __init__(self, message: str, *, path: str | os.PathLike | None = None, expected: str | None = None,
                 actual: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.expected = expected
        self.actual = actual


class DatasetNotFoundError(FileNotFoundError):
    """Dataset files are missing from the data directory and downloading was not allowed."""

    def __init__(self, message: str, *, missing: Sequence[str] = (), data_dir: str | os.PathLike | None = None
                 ) -> None:
        super().__init__(message)
        self.missing = list(missing)
        self.data_dir = data_dir


def sha256_stream(handle: BinaryIO, chunk_size: int = _CHUNK) -> str:
    """Hex sha256 of everything left in a binary stream (a file, a gzip or zip member), read in chunks."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(chunk_size), b""):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike, chunk_size: int = _CHUNK) -> str:
    """Hex sha256 of a file's bytes, read in chunks (datasets can be larger than memory)."""
    with open(path, "rb") as handle:
        return sha256_stream(handle, chunk_size)


def _checksum_error(what: str, expected: str, actual: str, path: str | os.PathLike, hint: str = "") -> ChecksumError:
    message = f"sha256 mismatch for {what}: expected {expected}, got {actual}"
    return ChecksumError(message + (f". {hint}" if hint else ""), path=path, expected=expected, actual=actual)


def _unlink_quietly(path: str | os.PathLike) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _url_name(url: str) -> str:
    """The last path component of ``url`` (for progress bars and messages)."""
    return unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]) or url


def _content_length(response: object) -> int | None:
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _stream(url: str, out: IO[bytes], *, progress: bool, timeout: float) -> str:
    """Writes the body of ``url`` to ``out``; returns its sha256. Raises ``OSError`` naming the URL on failure.

    ``http.client`` returns a short body without complaint when the server closes the connection early,
    so the byte count is checked against ``Content-Length`` here.
    """
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except (OSError, http.client.HTTPException) as err:  # URLError / HTTPError are OSErrors
        raise OSError(f"downloading {url} failed: {err}") from err
    with response:
        total = _content_length(response)
        received = 0
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=_url_name(url),
                  disable=not progress, leave=False) as bar:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (OSError, http.client.HTTPException) as err:
                    raise OSError(f"downloading {url} failed after {received} bytes: {err}") from err
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:
        raise OSError(f"downloading {url} failed: connection closed after {received} of {total} bytes")
    return digest.hexdigest()


def download_url(url: str, dest: Path, *, sha256: str | None = None, progress: bool = True,
                 timeout: float = 60.0) -> Path:
    """Downloads ``url`` (http, https or file) to ``dest`` atomically, checking ``sha256`` when given.

    The body streams into a temporary file in ``dest``'s folder, which is renamed to ``dest`` only once
    complete and verified; on any failure (``KeyboardInterrupt`` included) it is removed and ``dest`` is
    left as it was. Raises :class:`ChecksumError` on a sha256 mismatch, ``OSError`` on network errors.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            actual = _stream(url, out, progress=progress, timeout=timeout)
        if sha256 is not None and actual != sha256.lower():
            raise _checksum_error(f"{url} (downloading to {dest})", sha256.lower(), actual, dest)
        os.replace(tmp, dest)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return dest


def _write_verified(source: IO[bytes], target: Path, expected: str, what: str,
                    limit: int | None = None) -> None:
    """Copies ``source`` to a temporary file next to ``target``, checks its sha256, renames it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        digest = hashlib.sha256()
        written = 0
        with os.fdopen(fd, "wb") as out:
            for chunk in iter(lambda: source.read(_CHUNK), b""):
                written += len(chunk)
                if limit is not None and written > limit:
                    raise ValueError(f"{what} is larger than {limit} bytes uncompressed; refusing to extract it")
                digest.update(chunk)
                out.write(chunk)
        actual = digest.hexdigest()
        if actual != expected.lower():
            raise _checksum_error(f"{target} ({what})", expected.lower(), actual, target)
        os.replace(tmp, target)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _basename(name: str) -> str:
    """Last component of a zip member name (either separator: archives made on Windows use backslashes)."""
    return re.split(r"[/\\]", name.rstrip("/\\"))[-1]


def _find_member(archive: zipfile.ZipFile, member: str, url: str) -> zipfile.ZipInfo:
    """The single non-directory member whose basename is ``member``; ``ValueError`` if none or several."""
    matches = [info for info in archive.infolist() if not info.is_dir() and _basename(info.filename) == member]
    if not matches:
        names = [info.filename for info in archive.infolist() if not info.is_dir()]
        shown = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
        raise ValueError(f"zip archive {url} has no member named {member!r} (members: {shown or 'none'})")
    if len(matches) > 1:
        raise ValueError(f"zip archive {url} has several members named {member!r}: "
                         f"{', '.join(info.filename for info in matches)}")
    return matches[0]


def _local_path(root: Path, relative: str) -> Path:
    """``root / relative``, refusing paths that would leave ``root`` (absolute, drive letters, ``..``)."""
    posix = PurePosixPath(relative.replace("\\", "/"))
    if (not relative or posix.is_absolute() or PureWindowsPath(relative).drive
            or ".." in posix.parts or posix == PurePosixPath(".")):
        raise ValueError(f"dataset file path {relative!r} must be a relative path inside the data dir")
    return root.joinpath(*posix.parts)


def _fetch_group(url: str, group: Sequence[RemoteFile], root: Path, targets: dict[str, Path],
                 progress: bool) -> None:
    """Fetches every file of ``group`` (which all come from ``url``), downloading ``url`` once."""
    first = group[0]
    if len(group) == 1 and first.compression is None:
        download_url(url, targets[first.path], sha256=first.sha256, progress=progress)
        return
    for remote in group:
        if remote.compression not in (None, "gzip", "zip"):
            raise ValueError(f"unknown compression {remote.compression!r} for {remote.path}")
    root.mkdir(parents=True, exist_ok=True)
    # An anonymous temporary file (no name at all on Linux): nothing is left behind, even on SIGKILL.
    with tempfile.TemporaryFile(dir=root, prefix=".graphmeta-", suffix=".download") as blob:
        _stream(url, blob, progress=progress, timeout=60.0)
        archive: zipfile.ZipFile | None = None
        try:
            for remote in group:
                target = targets[remote.path]
                blob.seek(0)
                if remote.compression is None:
                    _write_verified(blob, target, remote.sha256, f"downloaded from {url}")
                elif remote.compression == "gzip":
                    with gzip.GzipFile(fileobj=blob, mode="rb") as unzipped:
                        _write_verified(unzipped, target, remote.sha256, f"gunzipped from {url}")
                else:
                    if archive is None:
                        archive = zipfile.ZipFile(blob)
                    member = remote.member or PurePosixPath(remote.path).name
                    info = _find_member(archive, member, url)
                    what = f"member {info.filename!r} of {url}"
                    if info.file_size > _MAX_MEMBER_SIZE:
                        raise ValueError(f"{what} is {info.file_size} bytes uncompressed, more than the "
                                         f"{_MAX_MEMBER_SIZE} bytes graphmeta agrees to extract")
                    with archive.open(info) as stream:
                        _write_verified(stream, target, remote.sha256, what, limit=_MAX_MEMBER_SIZE)
        finally:
            if archive is not None:
                archive.close()


def _missing_message(missing: Sequence[RemoteFile], root: Path) -> str:
    lines = [f"{len(missing)} dataset file(s) missing from the graphmeta data dir {root}:"]
    lines += [f"  {remote.path}  (from {remote.url})" if remote.url else
              f"  {remote.path}  (no URL serves it: build it with `{remote.recipe}`)" for remote in missing]
    lines.append("Set GRAPHMETA_DATA to a folder that holds these files, or allow downloading them "
                 "(download=True)" + (", or build the derived ones as shown." if any(not m.url for m in missing)
                                      else "."))
    return "\n".join(lines)


def ensure_files(files: Sequence[RemoteFile], root: str | os.PathLike, *, download: bool = True,
                 progress: bool = True, verify: bool = True) -> dict[str, Path]:
    """Makes sure every file of ``files`` is under ``root`` (downloading what is missing); maps path -> local path.

    Files already present are checked against their sha256 when ``verify`` (:class:`ChecksumError` naming
    the local file otherwise) and never re-downloaded. Missing files raise :class:`DatasetNotFoundError`
    when ``download`` is false or when a missing file has no URL (a derived file: the error gives its recipe);
    otherwise they are fetched, each distinct URL once (several files may
    come from one zip archive), unpacked as their ``compression`` says and verified before being renamed
    into place. ``root`` is only written to when something must be downloaded.
    """
    root_path = Path(os.path.abspath(os.path.expanduser(os.fspath(root))))
    targets: dict[str, Path] = {}
    missing: list[RemoteFile] = []
    for remote in files:
        if remote.path in targets:
            continue
        target = _local_path(root_path, remote.path)
        targets[remote.path] = target
        if target.is_file():
            if verify:
                actual = sha256_file(target)
                if actual != remote.sha256.lower():
                    raise _checksum_error(
                        f"local file {target}", remote.sha256.lower(), actual, target,
                        hint=f"It is corrupted or a different version; delete it to download it again "
                             f"from {remote.url}, or restore the original")
        else:
            missing.append(remote)
    if missing and (not download or any(not m.url for m in missing)):
        raise DatasetNotFoundError(_missing_message(missing, root_path), missing=[m.path for m in missing],
                                   data_dir=root_path)
    groups: dict[str, list[RemoteFile]] = {}
    for remote in missing:
        groups.setdefault(remote.url, []).append(remote)
    for url, group in groups.items():
        _fetch_group(url, group, root_path, targets, progress)
    return targets

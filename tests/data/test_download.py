"""graphmeta.data.download against a local HTTP server and file:// URLs (no internet)."""

from __future__ import annotations

import collections
import gzip
import hashlib
import http.server
import io
import os
import socket
import threading
import zipfile
from pathlib import Path
from typing import Iterator

import pytest

from graphmeta.data.download import (
    ChecksumError,
    DatasetNotFoundError,
    download_url,
    ensure_files,
    sha256_file,
)
from graphmeta.data.registry import RemoteFile

PAYLOAD = bytes(range(256)) * 1000 + b"graphmeta"  # ~256 KB, not a multiple of any chunk size


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def listing(folder: Path) -> set[str]:
    """Every file and folder under ``folder``, as relative POSIX paths."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


class Server:
    """A ThreadingHTTPServer serving ``self.folder``, counting requests per path."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.requests: collections.Counter[str] = collections.Counter()
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, directory=str(folder), **kwargs)

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                server.requests[self.path] += 1
                if self.path.startswith("/truncated"):
                    # Promise 10,000 bytes, send 100, then hang up.
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", "10000")
                    self.end_headers()
                    self.wfile.write(b"x" * 100)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                super().do_GET()

            def log_message(self, format: str, *args: object) -> None:  # keep test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def put(self, name: str, data: bytes) -> str:
        (self.folder / name).write_bytes(data)
        return self.url(name)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    folder = tmp_path / "served"
    folder.mkdir()
    srv = Server(folder)
    thread = threading.Thread(target=srv.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_port_url() -> str:
    """A URL on a port nobody listens on: any attempt to fetch it fails."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/never.bin"


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# --- sha256_file / download_url -------------------------------------------------------------------------


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(PAYLOAD)
    assert sha256_file(path, chunk_size=1000) == sha(PAYLOAD)
    assert sha256_file(str(path)) == sha(PAYLOAD)


def test_download_url_http_and_file_give_same_bytes(server: Server, tmp_path: Path) -> None:
    url = server.put("plain.bin", PAYLOAD)
    out = tmp_path / "out"
    via_http = download_url(url, out / "a" / "http.bin", sha256=sha(PAYLOAD), progress=False)
    via_file = download_url((server.folder / "plain.bin").as_uri(), out / "file.bin", sha256=sha(PAYLOAD),
                            progress=True)
    assert via_http == out / "a" / "http.bin"
    assert via_http.read_bytes() == via_file.read_bytes() == PAYLOAD
    assert sha256_file(via_http) == sha256_file(via_file) == sha(PAYLOAD)
    assert server.requests["/plain.bin"] == 1
    assert listing(out) == {"a", "a/http.bin", "file.bin"}  # no temporary files left


def test_download_url_without_checksum_overwrites_atomically(server: Server, tmp_path: Path) -> None:
    url = server.put("plain.bin", PAYLOAD)
    dest = tmp_path / "out" / "dest.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"old")
    assert download_url(url, dest, progress=False).read_bytes() == PAYLOAD
    assert listing(tmp_path / "out") == {"dest.bin"}


@pytest.mark.parametrize("scheme", ["http", "file"])
def test_download_url_wrong_checksum(server: Server, tmp_path: Path, scheme: str) -> None:
    url = server.put("plain.bin", PAYLOAD)
    if scheme == "file":
        url = (server.folder / "plain.bin").as_uri()
    out = tmp_path / "out"
    out.mkdir()
    dest = out / "plain.bin"
    with pytest.raises(ChecksumError) as info:
        download_url(url, dest, sha256="0" * 64, progress=False)
    message = str(info.value)
    assert "0" * 64 in message and sha(PAYLOAD) in message and str(dest) in message
    assert info.value.expected == "0" * 64 and info.value.actual == sha(PAYLOAD)
    assert not dest.exists()
    assert listing(out) == set()


def test_download_url_connection_dropped(server: Server, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "truncated.bin"
    with pytest.raises(OSError, match="100 of 10000 bytes"):
        download_url(server.url("truncated.bin"), dest, progress=False)
    assert not dest.exists()
    assert listing(tmp_path / "out") == set()


def test_download_url_http_error_names_url(server: Server, tmp_path: Path) -> None:
    url = server.url("no-such-file.bin")
    with pytest.raises(OSError, match="no-such-file.bin.*404"):
        download_url(url, tmp_path / "out" / "x.bin", progress=False)
    assert listing(tmp_path / "out") == set()


def test_download_url_interrupted_leaves_nothing(server: Server, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import graphmeta.data.download as download

    seen: list[str] = []

    def interrupted(url: str, out, **kwargs: object) -> str:  # Ctrl-C halfway through the body
        out.write(PAYLOAD[:1000])
        out.flush()
        seen.extend(os.listdir(tmp_path / "out"))
        raise KeyboardInterrupt

    monkeypatch.setattr(download, "_stream", interrupted)
    with pytest.raises(KeyboardInterrupt):
        download_url(server.put("plain.bin", PAYLOAD), tmp_path / "out" / "x.bin", progress=False)
    assert len(seen) == 1 and seen[0] != "x.bin"  # the partial body went to a temporary file...
    assert listing(tmp_path / "out") == set()  # ...which is gone


# --- ensure_files ---------------------------------------------------------------------------------------


def test_ensure_files_uses_existing_file_without_network(tmp_path: Path, closed_port_url: str) -> None:
    root = tmp_path / "data"
    (root / "moleculenet").mkdir(parents=True)
    (root / "moleculenet" / "a.csv").write_bytes(PAYLOAD)
    remote = RemoteFile("moleculenet/a.csv", closed_port_url, sha(PAYLOAD))
    root.chmod(0o555)  # a read-only shared copy is fine when nothing is missing
    try:
        paths = ensure_files([remote], root, progress=False)
    finally:
        root.chmod(0o755)
    assert paths == {"moleculenet/a.csv": root / "moleculenet" / "a.csv"}
    assert paths["moleculenet/a.csv"].is_absolute()
    assert listing(root) == {"moleculenet", "moleculenet/a.csv"}


def test_ensure_files_relative_root_gives_absolute_paths(tmp_path: Path, closed_port_url: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_bytes(PAYLOAD)
    monkeypatch.chdir(tmp_path)
    paths = ensure_files([RemoteFile("a.csv", closed_port_url, sha(PAYLOAD))], "data", progress=False)
    assert paths["a.csv"] == tmp_path / "data" / "a.csv"


def test_ensure_files_corrupted_local_file(tmp_path: Path, closed_port_url: str) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "a.csv").write_bytes(PAYLOAD + b"tampered")
    with pytest.raises(ChecksumError) as info:
        ensure_files([RemoteFile("a.csv", closed_port_url, sha(PAYLOAD))], root, progress=False)
    assert str(root / "a.csv") in str(info.value)
    assert sha(PAYLOAD) in str(info.value) and sha(PAYLOAD + b"tampered") in str(info.value)
    # verify=False trusts what is there
    paths = ensure_files([RemoteFile("a.csv", closed_port_url, sha(PAYLOAD))], root, progress=False,
                         verify=False)
    assert paths["a.csv"].read_bytes() == PAYLOAD + b"tampered"


def test_ensure_files_missing_without_download(server: Server, tmp_path: Path) -> None:
    root = tmp_path / "data"
    url = server.put("b.csv", PAYLOAD)
    files = [RemoteFile("sub/b.csv", url, sha(PAYLOAD)), RemoteFile("sub/c.csv", url + "?c", sha(b""))]
    with pytest.raises(DatasetNotFoundError) as info:
        ensure_files(files, root, download=False, progress=False)
    message = str(info.value)
    assert "sub/b.csv" in message and "sub/c.csv" in message
    assert str(root) in message and url in message and "GRAPHMETA_DATA" in message
    assert info.value.missing == ["sub/b.csv", "sub/c.csv"]
    assert isinstance(info.value, FileNotFoundError)
    assert not root.exists()  # nothing written
    assert sum(server.requests.values()) == 0


def test_ensure_files_plain_download(server: Server, tmp_path: Path) -> None:
    root = tmp_path / "data"
    url = server.put("plain.csv", PAYLOAD)
    paths = ensure_files([RemoteFile("deep/er/plain.csv", url, sha(PAYLOAD))], root, progress=False)
    assert paths["deep/er/plain.csv"].read_bytes() == PAYLOAD
    assert listing(root) == {"deep", "deep/er", "deep/er/plain.csv"}
    # a second call finds it and does not download again
    ensure_files([RemoteFile("deep/er/plain.csv", url, sha(PAYLOAD))], root, progress=False)
    assert server.requests["/plain.csv"] == 1


def test_ensure_files_gzip(server: Server, tmp_path: Path) -> None:
    root = tmp_path / "data"
    url = server.put("muv.csv.gz", gzip.compress(PAYLOAD))
    remote = RemoteFile("moleculenet/muv.csv", url, sha(PAYLOAD), compression="gzip")
    paths = ensure_files([remote], root, progress=False)
    assert paths["moleculenet/muv.csv"].read_bytes() == PAYLOAD
    assert listing(root) == {"moleculenet", "moleculenet/muv.csv"}


def test_ensure_files_gzip_wrong_checksum(server: Server, tmp_path: Path) -> None:
    root = tmp_path / "data"
    url = server.put("muv.csv.gz", gzip.compress(PAYLOAD))
    remote = RemoteFile("moleculenet/muv.csv", url, sha(b"something else"), compression="gzip")
    with pytest.raises(ChecksumError, match="muv.csv"):
        ensure_files([remote], root, progress=False)
    assert listing(root) == {"moleculenet"}  # no target, no temporary file


def test_ensure_files_zip_downloaded_once(server: Server, tmp_path: Path) -> None:
    root = tmp_path / "data"
    a, b = PAYLOAD, b"1, 2\n2, 3\n" * 50
    url = server.put("ENZYMES.zip", make_zip({"ENZYMES/ENZYMES_A.txt": a, "ENZYMES/ENZYMES_B.txt": b,
                                              "ENZYMES/README.txt": b"unwanted"}))
    files = [
        RemoteFile("tu/ENZYMES/ENZYMES_A.txt", url, sha(a), compression="zip", member="ENZYMES_A.txt"),
        RemoteFile("tu/ENZYMES/ENZYMES_B.txt", url, sha(b), compression="zip", member="ENZYMES_B.txt"),
    ]
    paths = ensure_files(files, root, progress=False)
    assert server.requests["/ENZYMES.zip"] == 1
    assert paths["tu/ENZYMES/ENZYMES_A.txt"].read_bytes() == a
    assert paths["tu/ENZYMES/ENZYMES_B.txt"].read_bytes() == b
    assert sha256_file(paths["tu/ENZYMES/ENZYMES_B.txt"]) == sha(b)
    assert listing(root) == {"tu", "tu/ENZYMES", "tu/ENZYMES/ENZYMES_A.txt", "tu/ENZYMES/ENZYMES_B.txt"}


def test_ensure_files_zip_only_fetches_missing_members(server: Server, tmp_path: Path) -> None:
    root = tmp_path / "data"
    a, b = b"aaa", b"bbb"
    url = server.put("d.zip", make_zip({"d/a.txt": a, "d/b.txt": b}))
    files = [RemoteFile("d/a.txt", url, sha(a), "zip", "a.txt"), RemoteFile("d/b.txt", url, sha(b), "zip", "b.txt")]
    (root / "d").mkdir(parents=True)
    (root / "d" / "a.txt").write_bytes(a)
    ensure_files(files, root, progress=False)
    assert (root / "d" / "b.txt").read_bytes() == b
    assert server.requests["/d.zip"] == 1


def test_ensure_files_zip_missing_member(server: Server, tmp_path: Path) -> None:
    root = tmp_path / "data"
    url = server.put("MUTAG.zip", make_zip({"MUTAG/MUTAG_A.txt": b"1, 2\n"}))
    remote = RemoteFile("tu/MUTAG/MUTAG_B.txt", url, sha(b""), compression="zip", member="MUTAG_B.txt")
    with pytest.raises(ValueError, match="MUTAG_B.txt") as info:
        ensure_files([remote], root, progress=False)
    assert url in str(info.value) and "MUTAG/MUTAG_A.txt" in str(info.value)
    assert not isinstance(info.value, ChecksumError)
    assert listing(root) == set()


def test_ensure_files_zip_ambiguous_member(server: Server, tmp_path: Path) -> None:
    root = tmp_path / "data"
    url = server.put("two.zip", make_zip({"x/a.txt": b"1", "y/a.txt": b"2"}))
    with pytest.raises(ValueError, match="several members") as info:
        ensure_files([RemoteFile("a.txt", url, sha(b"1"), "zip", "a.txt")], root, progress=False)
    assert "x/a.txt" in str(info.value) and "y/a.txt" in str(info.value)
    assert listing(root) == set()


def test_ensure_files_zip_wrong_checksum(server: Server, tmp_path: Path) -> None:
    root = tmp_path / "data"
    url = server.put("c.zip", make_zip({"c/a.txt": b"actual"}))
    with pytest.raises(ChecksumError, match="a.txt"):
        ensure_files([RemoteFile("c/a.txt", url, sha(b"expected"), "zip", "a.txt")], root, progress=False)
    assert listing(root) == {"c"}


def test_ensure_files_malicious_zip_stays_inside_root(server: Server, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    evil = b"evil payload"
    url = server.put("evil.zip", make_zip({"../../evil.txt": evil, "/abs/evil2.txt": evil}))
    sandbox = tmp_path / "sandbox"
    root = sandbox / "a" / "b" / "data"
    root.mkdir(parents=True)
    cwd = sandbox / "a" / "b" / "data" / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    files = [RemoteFile("safe/evil.txt", url, sha(evil), compression="zip", member="evil.txt"),
             RemoteFile("safe/evil2.txt", url, sha(evil), compression="zip", member="evil2.txt")]
    paths = ensure_files(files, root, progress=False)
    assert paths["safe/evil.txt"] == root / "safe" / "evil.txt"
    assert paths["safe/evil.txt"].read_bytes() == evil
    assert listing(sandbox) == {"a", "a/b", "a/b/data", "a/b/data/cwd", "a/b/data/safe",
                                "a/b/data/safe/evil.txt", "a/b/data/safe/evil2.txt"}
    assert not (tmp_path / "evil.txt").exists() and not Path("/abs/evil2.txt").exists()


def test_ensure_files_rejects_paths_outside_root(tmp_path: Path, closed_port_url: str) -> None:
    for bad in ["../escape.txt", "/etc/passwd", "a/../../escape.txt"]:
        with pytest.raises(ValueError, match="relative path"):
            ensure_files([RemoteFile(bad, closed_port_url, sha(b""))], tmp_path / "data", progress=False)
    assert listing(tmp_path) == set()


def test_ensure_files_connection_dropped(server: Server, tmp_path: Path) -> None:
    root = tmp_path / "data"
    plain = RemoteFile("t/plain.bin", server.url("truncated.bin"), sha(b"x" * 10000))
    zipped = RemoteFile("t/zipped.bin", server.url("truncated.zip"), sha(b"x"), "zip", "zipped.bin")
    for remote in (plain, zipped):
        with pytest.raises(OSError, match="connection closed"):
            ensure_files([remote], root, progress=False)
    assert not (root / "t" / "plain.bin").exists()
    assert listing(root) == {"t"}  # the folder was created for the download; no partial or temporary file


def test_ensure_files_file_urls(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "p.csv").write_bytes(PAYLOAD)
    (src / "z.zip").write_bytes(make_zip({"inner/q.txt": b"q"}))
    files = [RemoteFile("p.csv", (src / "p.csv").as_uri(), sha(PAYLOAD)),
             RemoteFile("q/q.txt", (src / "z.zip").as_uri(), sha(b"q"), "zip", "q.txt")]
    paths = ensure_files(files, tmp_path / "data", progress=False)
    assert paths["p.csv"].read_bytes() == PAYLOAD and paths["q/q.txt"].read_bytes() == b"q"
    assert listing(tmp_path / "data") == {"p.csv", "q", "q/q.txt"}
    assert set(os.listdir(src)) == {"p.csv", "z.zip"}  # nothing added next to the sources

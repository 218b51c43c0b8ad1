"""Release archives (Loki, Grafana, Alloy, ...) fetched over HTTP from a local server.

The server is a real ``HTTPServer`` on 127.0.0.1 serving archives laid out like upstream's,
with their real SHA-256 in a checksum file; the download goes through labkit's own httpx
fetch. Each test uses the pinned table's entry with only the host swapped for the server.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from labkit.errors import ProvisionError
from labkit.runtime.download import cached_release, download_release, platform_tag, release_dir
from labkit.runtime.versions import PINNED, Pinned


class _Files(BaseHTTPRequestHandler):
    # Filled per test: the fixture makes a subclass with its own dict and list.
    files: ClassVar[dict[str, bytes]] = {}
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.requests.append(self.path)
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Files]]:
    """A local file server (fresh tables per test) and a private labkit cache."""
    monkeypatch.setenv("LABKIT_CACHE_DIR", str(tmp_path / "cache"))
    handler = type("Files", (_Files,), {"files": {}, "requests": []})
    httpd = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    handler.base = f"http://127.0.0.1:{httpd.server_port}"  # type: ignore[attr-defined]
    yield handler
    httpd.shutdown()
    httpd.server_close()


def _local(entry: Pinned, base: str) -> Pinned:
    """The pinned entry with its URLs pointed at the local server (same paths)."""
    def move(url: str) -> str:
        return base + "/" + url.split("://", 1)[1].split("/", 1)[1]
    return dataclasses.replace(entry, release_url=move(entry.release_url),
                               checksums_url=move(entry.checksums_url))


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _serve(server: type[_Files], entry: Pinned, archive: bytes, digest: str | None = None
           ) -> str:
    """Serve ``archive`` at the entry's URL and its checksum file; return the archive's path."""
    os_name, arch = platform_tag()
    path = "/" + entry.url(entry.release_url, os_name, arch).split("/", 3)[3]
    sums_path = "/" + entry.url(entry.checksums_url, os_name, arch).split("/", 3)[3]
    digest = digest or hashlib.sha256(archive).hexdigest()
    name = path.rsplit("/", 1)[1]
    server.files[path] = archive
    server.files[sums_path] = (digest.encode() if entry.single_digest
                               else f"{'0' * 64}  other.zip\n{digest}  {name}\n".encode())
    return path


def test_loki_zip_is_downloaded_verified_unpacked_and_cached(server: type[_Files]) -> None:
    """Loki's zip holds loki-<os>-<arch>: it lands as cache/release/loki/<version>/loki."""
    entry = _local(PINNED["loki"], server.base)  # type: ignore[attr-defined]
    os_name, arch = platform_tag()
    path = _serve(server, entry, _zip({f"loki-{os_name}-{arch}": b"#!/bin/sh\necho loki\n"}))
    messages: list[str] = []
    dest = download_release(entry, progress=messages.append)
    assert dest == release_dir(entry) and dest.parts[-2:] == ("loki", entry.version)
    loki = cached_release(entry, "loki")
    assert loki is not None and loki.read_bytes() == b"#!/bin/sh\necho loki\n"
    assert loki.stat().st_mode & 0o111
    assert path in server.requests and any("installed loki" in m for m in messages)


def test_grafana_tarball_keeps_its_tree(server: type[_Files]) -> None:
    """Grafana needs conf/ and public/ beside bin/grafana: the whole tree is kept."""
    entry = _local(PINNED["grafana"], server.base)  # type: ignore[attr-defined]
    top = f"grafana-v{entry.version}"
    _serve(server, entry, _tgz({f"{top}/bin/grafana": b"#!/bin/sh\n",
                                f"{top}/conf/defaults.ini": b"[server]\n",
                                f"{top}/public/index.html": b"<html>"}))
    dest = download_release(entry, progress=lambda _: None)
    assert cached_release(entry, "grafana") == dest / "bin" / "grafana"
    assert (dest / "conf" / "defaults.ini").read_text() == "[server]\n"
    assert (dest / "public" / "index.html").exists()


def test_alloy_bad_checksum_is_refused_and_installs_nothing(server: type[_Files]) -> None:
    """An archive whose digest is not the listed one is refused; the cache stays empty."""
    entry = _local(PINNED["alloy"], server.base)  # type: ignore[attr-defined]
    os_name, arch = platform_tag()
    _serve(server, entry, _zip({f"alloy-{os_name}-{arch}": b"x"}), digest="e" * 64)
    with pytest.raises(ProvisionError, match=rf"checksum mismatch for alloy-{os_name}-{arch}\.zip"
                       ):
        download_release(entry, progress=lambda _: None)
    assert cached_release(entry, "alloy") is None
    assert not release_dir(entry).exists()
    assert [p.name for p in release_dir(entry).parent.iterdir()] == []  # no temp left over


def test_pinned_digest_in_the_table_needs_no_checksum_file(server: type[_Files]) -> None:
    """A digest written in the table is checked without fetching any checksum file."""
    os_name, arch = platform_tag()
    archive = _zip({f"loki-{os_name}-{arch}": b"loki"})
    entry = dataclasses.replace(_local(PINNED["loki"], server.base),  # type: ignore[attr-defined]
                                sha256={f"{os_name}-{arch}": hashlib.sha256(archive).hexdigest()})
    path = _serve(server, entry, archive)
    del server.files[next(p for p in server.files if p != path)]
    download_release(entry, progress=lambda _: None)
    assert server.requests == [path]


def test_missing_archive_is_a_clear_error(server: type[_Files]) -> None:
    """A 404 names the URL; nothing is cached."""
    entry = _local(PINNED["loki"], server.base)  # type: ignore[attr-defined]
    with pytest.raises(ProvisionError, match=r"download of http://127\.0\.0\.1:\d+/.*failed"):
        download_release(entry, progress=lambda _: None)
    assert cached_release(entry, "loki") is None


def test_archive_without_the_executable_is_refused(server: type[_Files]) -> None:
    """A verified archive that lacks the executable installs nothing and says what is missing."""
    entry = _local(PINNED["loki"], server.base)  # type: ignore[attr-defined]
    _serve(server, entry, _zip({"README.md": b"hello"}))
    with pytest.raises(ProvisionError, match=r"archive holds no loki"):
        download_release(entry, progress=lambda _: None)
    assert not release_dir(entry).exists()


def test_zip_member_outside_the_archive_is_refused(server: type[_Files]) -> None:
    """A zip member like ../../x is refused before anything is written."""
    entry = _local(PINNED["alloy"], server.base)  # type: ignore[attr-defined]
    _serve(server, entry, _zip({"../../evil": b"x"}))
    with pytest.raises(ProvisionError, match="points outside the archive"):
        download_release(entry, progress=lambda _: None)
    assert not (release_dir(entry).parent.parent / "evil").exists()


def test_unreachable_host_is_a_provision_error() -> None:
    """A refused connection is a ProvisionError naming the URL, so provisioning falls through."""
    from labkit.runtime.download import default_fetch

    with pytest.raises(ProvisionError, match=r"download of http://127\.0\.0\.1:9/x failed"):
        default_fetch("http://127.0.0.1:9/x", Path("/nonexistent/x"))

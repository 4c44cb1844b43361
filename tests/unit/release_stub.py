"""A download host on 127.0.0.1 for the unit tier's checksum tests (no Docker, no moto).

Every path is a file whose content is derived from the path itself (so any version the settings
name exists, and its SHA-512 is known without laying anything out), except those a test marks
missing. Like the GitHub release the deploy downloads from, nothing publishes a checksum file
(``.sha512``/``.sha1`` answer 404) unless a test publishes one next to a file, as a mirror or
the Apache archive does. Every request is recorded: a test can tell that nothing was downloaded.
"""

from __future__ import annotations

import hashlib
import http.server
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.integration.release_mirror import mirror_settings
from tests.loopback import QuietRequestLog, loopback_server

CHECKSUM_SUFFIXES = (".sha512", ".sha1")


def content(path: str) -> bytes:
    """What the host serves at ``path`` (a URL path, leading slash included)."""
    return f"stand-in artifact {path}\n".encode() * 64


@dataclass
class ReleaseStub:
    base_url: str
    published: dict[str, bytes] = field(default_factory=dict)  # URL path -> checksum file
    missing: set[str] = field(default_factory=set)  # URL paths answering 404
    requests: list[str] = field(default_factory=list)  # "GET /path" in order

    def path(self, url: str) -> str:
        assert url.startswith(self.base_url), url
        return url.removeprefix(self.base_url)

    def sha512(self, url: str) -> str:
        return hashlib.sha512(content(self.path(url))).hexdigest()

    def sha1(self, url: str) -> str:
        return hashlib.sha1(content(self.path(url))).hexdigest()

    def publish(self, url: str, text: str) -> None:
        """A checksum file at ``url`` (e.g. ``<artifact>.sha1``)."""
        self.published[self.path(url)] = text.encode()

    def settings(self) -> dict[str, Any]:
        """Settings pointing every download of the deploy here, as a mirror user sets them."""
        return mirror_settings(self.base_url)


@contextmanager
def release_stub() -> Iterator[ReleaseStub]:
    stub = ReleaseStub(base_url="")

    class Handler(QuietRequestLog, http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            stub.requests.append(f"GET {self.path}")
            if self.path in stub.published:
                body = stub.published[self.path]
            elif self.path in stub.missing or self.path.endswith(CHECKSUM_SUFFIXES):
                self.send_error(404, "File not found")
                return
            else:
                body = content(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with loopback_server(Handler, name="release-stub", poll_interval=0.05) as url:
        stub.base_url = url
        yield stub

"""A loopback HTTP mirror: serve a local directory to `docker build` (or anything else).

No package registry or download site is reachable in tests, so artifacts a Dockerfile would
download (HBase, Pinpoint jars, agent tarballs) are laid out in a directory that mirrors the
real URL paths and served here; the build then gets ``--build-arg *_BASE_URL=<mirror>``.
The server binds 127.0.0.1 on a free port, so a build must use the host network to reach it.

    with serve_directory(root) as base_url:
        ...  # f"{base_url}/hbase/2.6.4/hbase-2.6.4-hadoop3-bin.tar.gz"
"""

from __future__ import annotations

import functools
import http.server
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.loopback import QuietRequestLog, loopback_server


class _QuietHandler(QuietRequestLog, http.server.SimpleHTTPRequestHandler):
    """Serves files without logging every request to stderr."""


@contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """Serve ``root`` read-only on 127.0.0.1 (free port); yield the base URL, no trailing slash."""
    if not root.is_dir():
        raise NotADirectoryError(root)
    handler = functools.partial(_QuietHandler, directory=str(root))
    with loopback_server(handler, name=f"mirror:{root}") as url:
        yield url

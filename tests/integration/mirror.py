"""A loopback HTTP mirror: serve a local directory to `docker build` (or anything else).

No package registry or download site is reachable in tests, so artifacts a Dockerfile would
download (HBase, Pinpoint jars, agent tarballs) are laid out in a directory that mirrors the
real URL paths and served here; the build then gets ``--build-arg *_BASE_URL=<mirror>``.
The server binds 127.0.0.1 on a free port, so a build must use the host network to reach it.

    with serve_directory(root) as base_url:
        ...  # f"{base_url}/hbase/2.6.5/hbase-2.6.5-hadoop3-bin.tar.gz"
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without logging every request to stderr (pytest output stays readable)."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """Serve ``root`` read-only on 127.0.0.1 (free port); yield the base URL, no trailing slash."""
    if not root.is_dir():
        raise NotADirectoryError(root)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name=f"mirror:{root}", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

"""An HTTP server on 127.0.0.1 for stand-in endpoints (AWS error documents, a download mirror,
the Price List API): a free port, a daemon thread, shut down when the ``with`` block ends."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietRequestLog:
    """Mixin for a request handler: no line per request on stderr (pytest output stays readable)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def loopback_server(
    handler: Callable[..., BaseHTTPRequestHandler], *, name: str = "loopback", poll_interval: float = 0.5
) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 (a free port); yield the base URL, no trailing slash.

    Stopping takes up to ``poll_interval`` (how often the server loop looks for shutdown).
    """
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": poll_interval}, name=name, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

"""Shared plumbing for the stand-in `hbase` and `java` executables used by
tests/unit/test_pinpoint_entrypoint.py.

Stand-ins append one line per event to the file named by STANDIN_EVENTS:
``<monotonic seconds> <actor> <event> [detail]``. Appends of short lines with O_APPEND are
atomic, so several stand-in processes can share the file. State that must survive a
supervisor restart (created tables, master start time) lives under STANDIN_STATE.
"""

from __future__ import annotations

import http.server
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

# What the JVM refuses when -Xms is larger than -Xmx (HotSpot's arguments check).
XMS_ABOVE_XMX = "Error occurred during initialization of VM\nInitial heap size set to a larger value than the maximum heap size"


def record(actor: str, event: str, detail: str = "") -> None:
    line = f"{time.monotonic():.3f} {actor} {event} {detail}".rstrip() + "\n"
    with open(os.environ["STANDIN_EVENTS"], "a", encoding="utf-8") as events:
        events.write(line)


def state_dir() -> Path:
    path = Path(os.environ["STANDIN_STATE"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def knob(name: str, default: str = "") -> str:
    return os.environ.get(f"STANDIN_{name}", default)


def megabytes(size: str) -> int:
    """A JVM size ("384m", "2g", "512") in MB."""
    match = re.fullmatch(r"(\d+)([mMgGkK]?)", size)
    if not match:
        raise ValueError(size)
    value, unit = int(match.group(1)), match.group(2).lower()
    return {"g": value * 1024, "k": value // 1024}.get(unit, value)


def heap_error(args: list[str]) -> str | None:
    """The JVM's refusal of these options, as a real java would print it, or None."""
    xms = [megabytes(a[4:]) for a in args if a.startswith("-Xms")]
    xmx = [megabytes(a[4:]) for a in args if a.startswith("-Xmx")]
    if xms and xmx and xms[-1] > xmx[-1]:
        return XMS_ABOVE_XMX
    return None


def serve_http(
    port: int, address: str, routes: Callable[[str], tuple[int, str] | None], name: str
) -> http.server.ThreadingHTTPServer:
    """Serve GET requests on address:port from a daemon thread; routes(path) -> (status, body)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer = routes(self.path) or (404, "not found")
            body = answer[1].encode()
            self.send_response(answer[0])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((address, port), Handler)
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    return server

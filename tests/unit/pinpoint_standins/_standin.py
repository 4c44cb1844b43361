"""Shared plumbing for the stand-in `pinpoint-hbase` and `java` executables used by
tests/unit/supervisor/.

Stand-ins append one line per event to the file named by STANDIN_EVENTS:
``<monotonic seconds> <actor> <event> [detail]``. Appends of short lines with O_APPEND are
atomic, so several stand-in processes can share the file. State that must survive a
supervisor restart (created tables, master start time) lives under STANDIN_STATE, which also
stands for the network between "containers": the running master writes what its ZooKeeper
answers to into zookeeper.json, and clients (table tool, master stop, collector, web) reach it only through
a quorum entry naming it (see :func:`reach_master`).
"""

from __future__ import annotations

import json
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


def serve_http(port: int, address: str, routes: Callable[[str], tuple[int, str] | None], name: str) -> object:
    """Serve GET requests on address:port from a daemon thread; routes(path) -> (status, body)."""
    import http.server  # noqa: PLC0415 - only servers pay for it (http.client, email, ssl)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer = routes(self.path) or (404, "not found")
            body = answer[1].encode()
            self.send_response(answer[0])
            # As Spring MVC labels them (the real web 3.0.1: application/json for the APIs and
            # the error documents, text/html for the UI's index.html).
            json_body = answer[1].lstrip().startswith(("{", "["))
            self.send_header("Content-Type", "application/json" if json_body else "text/html;charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((address, port), Handler)
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    return server


class Unreachable(Exception):
    """What an HBase client reports when the quorum does not lead to a master."""


def build_quorum(hosts: str, default_port: str) -> str:
    """ZKConfig#buildZKQuorumServerString (HBase 2.5/2.6): an entry keeps its port, else gets clientPort."""
    entries = [e.strip() for e in hosts.split(",") if e.strip()]
    return ",".join(e if ":" in e else f"{e}:{default_port}" for e in entries)


def zookeeper_state() -> dict[str, object] | None:
    """What the running stand-in master registered, or None when no master runs."""
    state = Path(os.environ["STANDIN_STATE"])
    if not (state / "master.started").exists() or (state / "master.down").exists():
        return None
    try:
        return json.loads((state / "zookeeper.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def reach_master(actor: str, quorum: str, znode: str) -> str:
    """Connect through ``quorum`` (host:port list) and read <znode>/master, as an HBase client does.

    Records ``<actor> connect <entry> <znode> master=<host:port>`` and returns the master's address.
    """
    server = zookeeper_state()
    for entry in quorum.split(","):
        host, _, port = entry.rpartition(":")
        if server and host in server["names"] and port.isdigit() and int(port) == server["port"]:  # type: ignore[operator]
            if znode != server["znode"]:
                raise Unreachable(
                    f"org.apache.zookeeper.KeeperException$NoNodeException: KeeperErrorCode = NoNode for {znode}/master"
                )
            record(actor, "connect", f"{entry} {znode} master={server['master']}")
            return str(server["master"])
    raise Unreachable(
        "org.apache.zookeeper.KeeperException$ConnectionLossException: "
        f"KeeperErrorCode = ConnectionLoss for {znode}/master (quorum {quorum})"
    )

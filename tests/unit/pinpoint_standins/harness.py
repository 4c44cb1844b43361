"""Running images/pinpoint/bin/pinpoint-supervisor against the stand-ins, for the unit tests.

:class:`Supervisors` starts supervisors (one per "container") that share one stand-in state
directory (the HBase data and the "network" between them, see ``_standin``) and one set of free
ports; :class:`Run` is one supervisor process with the events its stand-ins recorded.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
IMAGE = REPO / "images" / "pinpoint"
SUPERVISOR = IMAGE / "bin" / "pinpoint-supervisor"
HEALTHCHECK = IMAGE / "bin" / "pinpoint-healthcheck"
TABLES_FILE = IMAGE / "hbase" / "pinpoint-tables.hbase"
STANDINS = Path(__file__).resolve().parent

ALL_TABLES = re.findall(r"^create '([^']+)'", TABLES_FILE.read_text(), re.M)
PORT_VARIABLES = (
    "PINPOINT_WEB_PORT",
    "PINPOINT_COLLECTOR_AGENT_PORT",
    "PINPOINT_COLLECTOR_STAT_PORT",
    "PINPOINT_COLLECTOR_SPAN_PORT",
    "PINPOINT_COLLECTOR_HTTP_PORT",
    "PINPOINT_WEB_MANAGEMENT_PORT",
    "PINPOINT_HBASE_MASTER_INFO_PORT",
)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def python_bin(directory: Path) -> Path:
    """A PATH directory whose ``python3`` is this interpreter's own binary.

    The stand-ins start with ``#!/usr/bin/env -S python3 -S`` (stdlib only: no site-packages to
    scan); a version manager's shim there (pyenv's is a shell script running ``pyenv exec``)
    would double the start time of every stand-in.
    """
    directory.mkdir(parents=True, exist_ok=True)
    link = directory / "python3"
    if not link.exists():
        link.symlink_to(getattr(sys, "_base_executable", sys.executable))
    return directory


@dataclass
class Event:
    at: float
    actor: str
    name: str
    detail: str


@dataclass
class Run:
    """One supervisor process and the files it and its stand-ins write."""

    process: subprocess.Popen[bytes] | None  # None: a finished run read back from its files
    events_file: Path
    output_file: Path
    env: dict[str, str]
    started: float = field(default_factory=time.monotonic)

    def events(self) -> list[Event]:
        if not self.events_file.exists():
            return []
        result = []
        for line in self.events_file.read_text().splitlines():
            at, actor, name, *rest = line.split(" ", 3)
            result.append(Event(float(at), actor, name, rest[0] if rest else ""))
        return result

    def find(self, actor: str, name: str) -> list[Event]:
        return [e for e in self.events() if e.actor == actor and e.name == name]

    def first(self, actor: str, name: str) -> Event:
        found = self.find(actor, name)
        assert found, f"no '{actor} {name}' event; events:\n{self.events_file.read_text()}"
        return found[0]

    def output(self) -> str:
        return self.output_file.read_text(errors="replace")

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 45.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.process is None or self.process.poll() is not None:
                break
            time.sleep(0.05)
        if predicate():
            return
        raise AssertionError(f"timed out waiting for {what}; output:\n{self.output()}")

    def wait_booted(self) -> None:
        self.wait_for(lambda: "[supervisor] boot complete in" in self.output(), what="boot complete")

    def wait_exit(self, timeout: float = 30.0) -> int:
        assert self.process is not None, "a finished run"
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(
                f"supervisor did not exit within {timeout}s; output:\n{self.output()}"
            ) from None

    def healthcheck(self, *components: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(HEALTHCHECK), *components],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )

    def stop(self) -> int:
        assert self.process is not None, "a finished run"
        self.process.send_signal(signal.SIGTERM)
        return self.wait_exit()


class Supervisors:
    """Starts supervisors with the stand-ins on PATH; keyword arguments become environment.

    Every run of one instance shares the stand-in state (``state``: HBase's tables, the running
    master's ZooKeeper registration) and the free ports, like containers sharing a volume and a
    network; each run has its own events and output files.
    """

    def __init__(self, workdir: Path, python: Path) -> None:
        self.workdir = workdir
        self.python = python
        self.state = workdir / "hbase-state"
        self.runs: list[Run] = []
        self.ports = dict(zip(PORT_VARIABLES, map(str, free_ports(len(PORT_VARIABLES))), strict=True))
        for jar in ("pinpoint-collector.jar", "pinpoint-web.jar"):
            (workdir / jar).write_bytes(b"stand-in")

    def launch(self, **env_overrides: str) -> Run:
        index = len(self.runs)
        env = {
            "PATH": f"{STANDINS}:{self.python}:{os.environ['PATH']}",
            "HOME": str(self.workdir),
            "STANDIN_EVENTS": str(self.workdir / f"events-{index}.log"),
            "STANDIN_STATE": str(self.state),
            "HBASE_DATA_DIR": str(self.workdir / "data"),
            "PINPOINT_RUN_DIR": str(self.workdir / f"run-{index}"),
            "PINPOINT_TABLES_FILE": str(TABLES_FILE),
            "PINPOINT_COLLECTOR_JAR": str(self.workdir / "pinpoint-collector.jar"),
            "PINPOINT_WEB_JAR": str(self.workdir / "pinpoint-web.jar"),
            "PINPOINT_LOG_CONFIG": str(IMAGE / "conf" / "log4j2-console.xml"),
            "PINPOINT_HEALTHCHECK": str(HEALTHCHECK),
            "PINPOINT_SUPERVISOR_LIB": str(IMAGE / "bin" / "lib"),
            # The image's layout: HBASE_HOME/conf and conf-network hold the roles' hbase-site.xml.
            "HBASE_HOME": str(IMAGE / "hbase"),
            "CONTAINER_MEMORY_MB": "4096",
            # Fast polls (the defaults are 0.5 s and 2 s): the stand-ins answer at once, so what
            # a test waits for is its scenario's own timing, not the supervisor's sleeps.
            "PINPOINT_POLL_SECONDS": "0.1",
            "PINPOINT_HBASE_POLL_SECONDS": "0.1",
            "STANDIN_MASTER_STOP_SECONDS": "0.1",
            **self.ports,
        }
        env.update(env_overrides)
        output = self.workdir / f"output-{index}.log"
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [str(SUPERVISOR)], env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        run = Run(process, Path(env["STANDIN_EVENTS"]), output, env)
        self.runs.append(run)
        return run

    def trigger(self, name: str) -> None:
        """Create a stand-in event file (master.crash, regionserver.dead, web.broken)."""
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / name).touch()

    def close(self) -> None:
        for run in self.runs:
            if run.process is not None and run.process.poll() is None:
                os.killpg(run.process.pid, signal.SIGKILL)
                run.process.wait()

"""Specification of images/pinpoint/bin/pinpoint-supervisor, run against stand-in binaries.

The real supervisor script runs unchanged; `hbase` and `java` on its PATH are the Python
stand-ins in tests/unit/pinpoint_standins, which log every call to an events file. The
HBase stand-in keeps its tables in a state directory that outlives a supervisor run, so a
second run sees the first run's tables exactly as a restart on a persistent volume would.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE = REPO / "images" / "pinpoint"
SUPERVISOR = IMAGE / "bin" / "pinpoint-supervisor"
TABLES_FILE = IMAGE / "hbase" / "pinpoint-tables.hbase"
STANDINS = Path(__file__).resolve().parent / "pinpoint_standins"

ALL_TABLES = re.findall(r"^create '([^']+)'", TABLES_FILE.read_text(), re.M)


@dataclass
class Event:
    at: float
    actor: str
    name: str
    detail: str


@dataclass
class Run:
    """One supervisor process and the files it and its stand-ins write."""

    process: subprocess.Popen[bytes]
    events_file: Path
    output_file: Path
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

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        if predicate():
            return
        raise AssertionError(f"timed out waiting for {what}; output:\n{self.output()}")

    def wait_started(self) -> None:
        self.wait_for(
            lambda: bool(self.find("collector", "start")) and bool(self.find("web", "start")),
            what="collector and web start",
        )

    def wait_exit(self, timeout: float = 30.0) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(
                f"supervisor did not exit within {timeout}s; output:\n{self.output()}"
            ) from None


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for jar in ("pinpoint-collector.jar", "pinpoint-web.jar"):
        (tmp_path / jar).write_bytes(b"stand-in")
    return tmp_path


@pytest.fixture
def launch(workdir: Path) -> Iterator[Callable[..., Run]]:
    """Start the supervisor with stand-ins; extra keyword arguments become environment."""
    runs: list[Run] = []

    def _launch(**env_overrides: str) -> Run:
        index = len(runs)
        env = {
            "PATH": f"{STANDINS}:{os.environ['PATH']}",
            "HOME": str(workdir),
            "STANDIN_EVENTS": str(workdir / f"events-{index}.log"),
            "STANDIN_STATE": str(workdir / "hbase-state"),
            "HBASE_DATA_DIR": str(workdir / "data"),
            "PINPOINT_RUN_DIR": str(workdir / f"run-{index}"),
            "PINPOINT_TABLES_FILE": str(TABLES_FILE),
            "PINPOINT_HBASE_SCRIPTS_DIR": str(IMAGE / "hbase"),
            "PINPOINT_COLLECTOR_JAR": str(workdir / "pinpoint-collector.jar"),
            "PINPOINT_WEB_JAR": str(workdir / "pinpoint-web.jar"),
            "CONTAINER_MEMORY_MB": "4096",
            "HBASE_BOOTSTRAP_RETRY_SECONDS": "1",
        }
        env.update(env_overrides)
        output = workdir / f"output-{index}.log"
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [str(SUPERVISOR)], env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        run = Run(process, Path(env["STANDIN_EVENTS"]), output)
        runs.append(run)
        return run

    yield _launch
    for run in runs:
        if run.process.poll() is None:
            os.killpg(run.process.pid, signal.SIGKILL)
            run.process.wait()


def test_starts_hbase_then_bootstraps_then_collector_then_web(launch: Callable[..., Run]) -> None:
    run = launch()
    run.wait_started()

    master = run.first("hbase-master", "start").at
    listed = run.first("hbase-shell", "list").at
    last_create = max(e.at for e in run.find("hbase-shell", "create"))
    collector = run.first("collector", "start").at
    web = run.first("web", "start").at
    assert master < listed < last_create < collector
    assert last_create < web
    # The supervisor launches the collector before the web UI (the stand-ins' own start-up
    # time varies, so the launch order is read from the supervisor's log).
    out = run.output()
    assert out.index("starting collector:") < out.index("starting web:")
    run.process.send_signal(signal.SIGTERM)
    assert run.wait_exit() == 0


def test_waits_until_the_master_accepts_ddl_without_a_fixed_sleep(launch: Callable[..., Run]) -> None:
    run = launch(STANDIN_MASTER_READY_AFTER="3")
    run.wait_started()

    master = run.first("hbase-master", "start").at
    not_ready = run.find("hbase-shell", "not-ready")
    assert not_ready, "the supervisor never found the master still initialising"
    # Polling starts right away, not after a guessed delay...
    assert not_ready[0].at - master < 2.0
    # ...and nothing Pinpoint starts before the master served `list` and the tables exist.
    assert run.first("hbase-shell", "list").at - master >= 3.0
    assert run.first("collector", "start").at > max(e.at for e in run.find("hbase-shell", "create"))
    assert "HBase master not ready yet: ERROR: org.apache.hadoop.hbase.PleaseHoldException" in run.output()


def test_creates_every_table_once_with_ttls_from_the_environment(
    launch: Callable[..., Run], workdir: Path
) -> None:
    run = launch(PINPOINT_TTL_TRACE_SECONDS="86400", PINPOINT_HBASE_UNIFORM_SPLIT_REGIONS="8")
    run.wait_started()

    created = [e.detail for e in run.find("hbase-shell", "create")]
    assert sorted(created) == sorted(ALL_TABLES)
    assert len(ALL_TABLES) == 22
    tables = workdir / "hbase-state" / "tables"
    trace = (tables / "TraceV2").read_text()
    assert "TTL => 86400" in trace
    assert "NUMREGIONS => 8" in trace
    # Unset variables fall back to the upstream default written in the table list.
    assert "TTL => 31536000" in (tables / "AgentInfo").read_text()
    assert "${" not in "".join(p.read_text() for p in tables.iterdir())


def test_restart_on_existing_data_creates_nothing_and_starts_normally(launch: Callable[..., Run]) -> None:
    first = launch()
    first.wait_started()
    first.process.send_signal(signal.SIGTERM)
    assert first.wait_exit() == 0

    second = launch()
    second.wait_started()

    assert len(first.find("hbase-shell", "create")) == 22
    assert second.find("hbase-shell", "create") == []
    assert second.find("hbase-shell", "create-existing") == []
    assert "all Pinpoint tables exist; nothing to create" in second.output()


def test_partial_schema_gets_only_the_missing_tables(launch: Callable[..., Run], workdir: Path) -> None:
    tables = workdir / "hbase-state" / "tables"
    tables.mkdir(parents=True)
    for existing in ALL_TABLES[:5]:
        (tables / existing).write_text("created earlier")

    run = launch()
    run.wait_started()

    assert sorted(e.detail for e in run.find("hbase-shell", "create")) == sorted(ALL_TABLES[5:])
    assert (tables / ALL_TABLES[0]).read_text() == "created earlier"


def test_invalid_ttl_fails_before_hbase_starts(launch: Callable[..., Run]) -> None:
    run = launch(PINPOINT_TTL_TRACE_SECONDS="60d")

    assert run.wait_exit(timeout=10) == 1
    assert "PINPOINT_TTL_TRACE_SECONDS must be a positive integer, got '60d'" in run.output()
    assert run.find("hbase-master", "start") == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"CONTAINER_MEMORY_MB": "1024"},
            "container memory 1024 MB (CONTAINER_MEMORY_MB) is below the 2048 MB",
        ),
        ({"HBASE_HEAP_MB": "4000"}, "do not fit in 4096 MB"),
        ({"PINPOINT_WEB_PORT": "9991"}, "ports must differ"),
        ({"PINPOINT_COLLECTOR_SPAN_PORT": "70000"}, "PINPOINT_COLLECTOR_SPAN_PORT must be a TCP port"),
        ({"HBASE_DATA_DIR": "relative/dir"}, "HBASE_DATA_DIR must be an absolute path"),
    ],
)
def test_bad_configuration_is_refused_with_a_clear_message(
    launch: Callable[..., Run], env: dict[str, str], message: str
) -> None:
    run = launch(**env)

    assert run.wait_exit(timeout=10) == 1
    assert message in run.output()
    assert run.find("hbase-master", "start") == []


def test_heaps_are_explicit_and_derived_from_the_memory_limit(launch: Callable[..., Run]) -> None:
    run = launch(CONTAINER_MEMORY_MB="8192", WEB_HEAP_MB="1000")
    run.wait_started()

    master = run.first("hbase-master", "start").detail
    assert "heap=3276m" in master  # 40 %
    assert "master_opts=-Xms3276m" in master
    collector = run.first("collector", "start").detail
    assert "-Xms1638m -Xmx1638m" in collector  # 20 %
    assert "-Xms1000m -Xmx1000m" in run.first("web", "start").detail  # explicit override
    assert "memory limit 8192 MB (CONTAINER_MEMORY_MB)" in run.output()


def test_collector_and_web_get_loopback_hbase_ports_and_no_redis(
    launch: Callable[..., Run], workdir: Path
) -> None:
    run = launch(
        PINPOINT_WEB_PORT="18080",
        PINPOINT_COLLECTOR_AGENT_PORT="19991",
        PINPOINT_COLLECTOR_STAT_PORT="19992",
        PINPOINT_COLLECTOR_SPAN_PORT="19993",
        PINPOINT_COLLECTOR_JAVA_OPTS="-Dextra.flag=1",
    )
    run.wait_started()

    collector = run.first("collector", "start").detail.split()
    web = run.first("web", "start").detail.split()
    for args in (collector, web):
        assert "-Dpinpoint.zookeeper.address=127.0.0.1" in args
        assert "-Dhbase.client.host=127.0.0.1" in args
        assert "-Dpinpoint.modules.realtime.enabled=false" in args
        assert "-XX:+ExitOnOutOfMemoryError" in args
    assert "-Dcollector.receiver.grpc.agent.bindaddress.port=19991" in collector
    assert "-Dcollector.receiver.grpc.stat.bindaddress.port=19992" in collector
    assert "-Dcollector.receiver.grpc.span.bindaddress.port=19993" in collector
    assert "-Dextra.flag=1" in collector
    assert collector[-2:] == ["-jar", str(workdir / "pinpoint-collector.jar")]
    assert "-Dserver.port=18080" in web
    assert f"-Dpinpoint.hbase.data.dir={workdir / 'data'}" in run.first("hbase-master", "start").detail


def test_every_process_output_is_prefixed(launch: Callable[..., Run]) -> None:
    run = launch()
    run.wait_started()
    run.wait_for(lambda: "[web] standin web started" in run.output(), what="web output")

    out = run.output()
    assert "[hbase] standin HMaster running" in out
    assert "[collector] standin collector started" in out
    assert "[supervisor] all processes started" in out


@pytest.mark.parametrize("dying", ["collector", "web"])
def test_a_dead_pinpoint_process_stops_the_rest_and_fails_the_container(
    launch: Callable[..., Run], dying: str
) -> None:
    run = launch(**{f"STANDIN_{dying.upper()}_EXIT_AFTER": "1:7"})

    assert run.wait_exit() == 7
    survivor = "web" if dying == "collector" else "collector"
    assert run.find(survivor, "sigterm")
    # HBase is still flushed and stopped cleanly, so a crash loses no acknowledged write.
    assert run.first("hbase-shell", "flush").at < run.first("hbase-master-stop", "run").at
    assert run.find("hbase-master", "stopped")
    assert f"{dying} exited unexpectedly with status 7" in run.output()


def test_a_pinpoint_process_exiting_zero_still_fails_the_container(launch: Callable[..., Run]) -> None:
    run = launch(STANDIN_WEB_EXIT_AFTER="1:0")

    assert run.wait_exit() == 1


def test_hbase_death_stops_collector_and_web(launch: Callable[..., Run]) -> None:
    run = launch(STANDIN_MASTER_CRASH_AFTER="2")

    assert run.wait_exit() == 3
    assert run.find("collector", "sigterm")
    assert run.find("web", "sigterm")
    assert run.find("hbase-shell", "flush") == []  # nothing left to flush


def test_hbase_death_during_bootstrap_fails_without_starting_pinpoint(launch: Callable[..., Run]) -> None:
    run = launch(STANDIN_MASTER_READY_AFTER="60", STANDIN_MASTER_CRASH_AFTER="2")

    assert run.wait_exit() == 3
    assert run.find("collector", "start") == []


def test_sigterm_stops_pinpoint_then_flushes_then_stops_hbase_and_exits_zero(
    launch: Callable[..., Run],
) -> None:
    run = launch()
    run.wait_started()

    sent = time.monotonic()
    run.process.send_signal(signal.SIGTERM)
    assert run.wait_exit() == 0
    elapsed = time.monotonic() - sent

    last_pinpoint_stop = max(run.first("collector", "sigterm").at, run.first("web", "sigterm").at)
    flush = run.first("hbase-shell", "flush").at
    stop = run.first("hbase-master-stop", "run").at
    assert last_pinpoint_stop < flush < stop <= run.first("hbase-master", "stopped").at
    assert elapsed < 10, f"a clean stop with prompt children took {elapsed:.1f}s"
    assert "received SIGTERM; shutting down" in run.output()


def test_sigterm_with_stuck_processes_escalates_within_the_budget(launch: Callable[..., Run]) -> None:
    run = launch(
        STANDIN_COLLECTOR_IGNORES_TERM="1",
        STANDIN_MASTER_IGNORES_STOP="1",
        PINPOINT_STOP_TIMEOUT_SECONDS="2",
        HBASE_SHUTDOWN_TIMEOUT_SECONDS="2",
        HBASE_KILL_GRACE_SECONDS="1",
    )
    run.wait_started()

    sent = time.monotonic()
    run.process.send_signal(signal.SIGTERM)
    assert run.wait_exit() == 0
    elapsed = time.monotonic() - sent

    assert "collector did not stop within 2s; killing it" in run.output()
    assert "hbase did not stop within 1s; killing it" in run.output()
    assert run.find("hbase-master", "sigterm"), "HBase gets SIGTERM (its shutdown hook) before SIGKILL"
    assert 4 <= elapsed < 12


def test_sigterm_while_waiting_for_the_master_exits_zero_promptly(launch: Callable[..., Run]) -> None:
    run = launch(STANDIN_MASTER_READY_AFTER="120")
    run.wait_for(lambda: bool(run.find("hbase-shell", "not-ready")), what="first bootstrap attempt")

    sent = time.monotonic()
    run.process.send_signal(signal.SIGTERM)
    assert run.wait_exit() == 0
    assert time.monotonic() - sent < 8
    assert run.find("collector", "start") == []


def test_default_stop_budget_fits_the_ecs_stop_timeout() -> None:
    """The four shutdown steps run one after the other; together they must fit in 120 s."""
    script = SUPERVISOR.read_text()
    names = [
        "PINPOINT_STOP_TIMEOUT_SECONDS",
        "HBASE_FLUSH_TIMEOUT_SECONDS",
        "HBASE_SHUTDOWN_TIMEOUT_SECONDS",
        "HBASE_KILL_GRACE_SECONDS",
    ]
    defaults = {}
    for name in names:
        match = re.search(rf'^{name}="\${{{name}:-(\d+)}}"$', script, re.M)
        assert match, f"no default for {name}"
        defaults[name] = int(match.group(1))
    # `timeout --kill-after=5` may add 5 s to each of the two HBase helper commands.
    assert sum(defaults.values()) + 2 * 5 <= 120, defaults

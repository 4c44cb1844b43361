"""Specification of images/pinpoint/bin/pinpoint-supervisor and pinpoint-healthcheck, run against
stand-in binaries that behave like HBase 2.6 and Pinpoint 3.1.0 where the supervisor depends on
them (tests/unit/pinpoint_standins: each rule names the HBase/Pinpoint source it was read in).

The real supervisor script runs unchanged; `hbase` and `java` on its PATH are the stand-ins,
which log every call to an events file and serve HTTP on the ports the supervisor names (the
master's JMX, collector and web serverTime), each test on its own free ports. The HBase
stand-in keeps its tables in a state directory that outlives a supervisor run, so a second
run sees the first run's tables exactly as a restart on a persistent volume would.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE = REPO / "images" / "pinpoint"
SUPERVISOR = IMAGE / "bin" / "pinpoint-supervisor"
HEALTHCHECK = IMAGE / "bin" / "pinpoint-healthcheck"
TABLES_FILE = IMAGE / "hbase" / "pinpoint-tables.hbase"
STANDINS = Path(__file__).resolve().parent / "pinpoint_standins"

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
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        if predicate():
            return
        raise AssertionError(f"timed out waiting for {what}; output:\n{self.output()}")

    def wait_booted(self) -> None:
        self.wait_for(lambda: "[supervisor] boot complete in" in self.output(), what="boot complete")

    def wait_exit(self, timeout: float = 30.0) -> int:
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
        self.process.send_signal(signal.SIGTERM)
        return self.wait_exit()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for jar in ("pinpoint-collector.jar", "pinpoint-web.jar"):
        (tmp_path / jar).write_bytes(b"stand-in")
    return tmp_path


@pytest.fixture
def launch(workdir: Path) -> Iterator[Callable[..., Run]]:
    """Start the supervisor with stand-ins; extra keyword arguments become environment."""
    runs: list[Run] = []
    ports = dict(zip(PORT_VARIABLES, map(str, free_ports(len(PORT_VARIABLES))), strict=True))

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
            "PINPOINT_LOG_CONFIG": str(IMAGE / "conf" / "log4j2-console.xml"),
            "PINPOINT_HEALTHCHECK": str(HEALTHCHECK),
            "CONTAINER_MEMORY_MB": "4096",
            "PINPOINT_HBASE_POLL_SECONDS": "1",
            **ports,
        }
        env.update(env_overrides)
        output = workdir / f"output-{index}.log"
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [str(SUPERVISOR)], env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        run = Run(process, Path(env["STANDIN_EVENTS"]), output, env)
        runs.append(run)
        return run

    yield _launch
    for run in runs:
        if run.process.poll() is None:
            os.killpg(run.process.pid, signal.SIGKILL)
            run.process.wait()


# --- start order and readiness ---------------------------------------------------------------


def test_starts_hbase_then_bootstraps_then_collector_and_web_and_boots_when_healthy(
    launch: Callable[..., Run],
) -> None:
    run = launch()
    run.wait_booted()

    master = run.first("hbase-master", "start").at
    last_create = max(e.at for e in run.find("hbase-shell", "create"))
    collector = run.first("collector", "start").at
    web = run.first("web", "start").at
    assert master < last_create < min(collector, web)
    out = run.output()
    assert (
        out.index("every Pinpoint table exists")
        < out.index("starting collector:")
        < out.index("boot complete")
    )
    assert run.healthcheck().returncode == 0
    assert run.stop() == 0


def test_waits_until_the_master_is_initialized_in_one_shell_process(launch: Callable[..., Run]) -> None:
    """`list` answers before the master is initialized; `create` does not (HMaster#checkInitialized)."""
    run = launch(STANDIN_MASTER_SERVICES_AFTER="1", STANDIN_MASTER_READY_AFTER="4")
    run.wait_booted()

    # Not one create was sent before initialization (each would fail with PleaseHoldException).
    assert run.find("hbase-shell", "create-refused") == []
    assert run.find("hbase-shell", "not-initialized"), "the master was never seen initializing"
    # Polling and creating happened inside ONE `hbase shell` process: JRuby starts cost seconds.
    assert [e.detail.split()[0] for e in run.find("hbase-shell", "run")] == ["bootstrap-tables.rb"]
    assert "-Dhbase.client.retries.number=3" in run.first("hbase-shell", "run").detail
    assert sorted(e.detail for e in run.find("hbase-shell", "create")) == sorted(ALL_TABLES)
    assert re.search(
        r"pinpoint-bootstrap:waiting attempt \d+: org.apache.hadoop.hbase.PleaseHoldException", run.output()
    )


def test_restart_waits_for_initialization_before_starting_pinpoint(launch: Callable[..., Run]) -> None:
    first = launch()
    first.wait_booted()
    assert first.stop() == 0

    second = launch(STANDIN_MASTER_SERVICES_AFTER="0", STANDIN_MASTER_READY_AFTER="3")
    second.wait_booted()

    master = second.first("hbase-master", "start").at
    # Every table exists, so `list` alone would let collector and web start at once; they must
    # wait until the master can serve them.
    assert second.first("collector", "start").at - master >= 3.0
    assert second.find("hbase-shell", "create") == []
    assert "all Pinpoint tables exist" in second.output()


def test_creates_every_table_once_with_ttls_and_regions_from_the_environment(
    launch: Callable[..., Run], workdir: Path
) -> None:
    run = launch(PINPOINT_TTL_TRACE_SECONDS="86400", PINPOINT_HBASE_UNIFORM_SPLIT_REGIONS="8")
    run.wait_booted()

    created = [e.detail for e in run.find("hbase-shell", "create")]
    assert sorted(created) == sorted(ALL_TABLES)
    assert len(ALL_TABLES) == 22
    tables = workdir / "hbase-state" / "tables"
    trace = (tables / "TraceV2").read_text()
    assert "TTL => 86400" in trace
    assert "NUMREGIONS => 8" in trace
    # Unset variables fall back to the upstream value written in the table list.
    assert "TTL => 31536000" in (tables / "AgentInfo").read_text()
    assert "${" not in "".join(p.read_text() for p in tables.iterdir())


def test_restart_on_existing_data_creates_nothing(launch: Callable[..., Run]) -> None:
    first = launch()
    first.wait_booted()
    assert first.stop() == 0

    second = launch()
    second.wait_booted()

    assert len(first.find("hbase-shell", "create")) == 22
    assert second.find("hbase-shell", "create") == []
    assert second.find("hbase-shell", "create-existing") == []
    assert "pinpoint-bootstrap:nothing-missing" in second.output()


def test_partial_schema_gets_only_the_missing_tables(launch: Callable[..., Run], workdir: Path) -> None:
    tables = workdir / "hbase-state" / "tables"
    tables.mkdir(parents=True)
    for existing in ALL_TABLES[:5]:
        (tables / existing).write_text("created earlier")

    run = launch()
    run.wait_booted()

    assert sorted(e.detail for e in run.find("hbase-shell", "create")) == sorted(ALL_TABLES[5:])
    assert (tables / ALL_TABLES[0]).read_text() == "created earlier"


# --- boot budget -----------------------------------------------------------------------------


def test_boot_budget_exceeded_while_the_master_initializes_stops_and_fails(
    launch: Callable[..., Run],
) -> None:
    run = launch(STANDIN_MASTER_READY_AFTER="120", PINPOINT_BOOT_TIMEOUT_SECONDS="5")

    assert run.wait_exit(timeout=40) == 1
    out = run.output()
    assert "boot did not complete within 5s (PINPOINT_BOOT_TIMEOUT_SECONDS)" in out
    assert run.find("collector", "start") == []
    assert run.find("hbase-master-stop", "run"), "HBase is still shut down cleanly"


def test_boot_budget_covers_collector_and_web_answering(launch: Callable[..., Run]) -> None:
    run = launch(STANDIN_WEB_READY_AFTER="120", PINPOINT_BOOT_TIMEOUT_SECONDS="8")

    assert run.wait_exit(timeout=40) == 1
    out = run.output()
    assert (
        "boot did not complete within 8s (PINPOINT_BOOT_TIMEOUT_SECONDS): still waiting for collector and web"
        in out
    )
    assert "/api-public/serverTime" in out  # the line says what did not answer
    assert run.find("web", "sigterm")
    assert run.find("collector", "sigterm")
    assert "boot complete" not in out


def test_collector_and_web_start_together_once_the_tables_exist(launch: Callable[..., Run]) -> None:
    run = launch(STANDIN_COLLECTOR_READY_AFTER="3")
    run.wait_booted()

    # The web is not held back until the collector answers.
    assert run.first("web", "start").at - run.first("collector", "start").at < 2.0
    assert re.search(r"boot complete in \d+s", run.output())


# --- validation at container start -----------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"CONTAINER_MEMORY_MB": "1024"},
            "container memory 1024 MB (CONTAINER_MEMORY_MB) is below the 2048 MB",
        ),
        ({"HBASE_HEAP_MB": "4000"}, "do not fit in 4096 MB"),
        ({"PINPOINT_WEB_PORT": "9991", "PINPOINT_COLLECTOR_AGENT_PORT": "9991"}, "ports must differ"),
        ({"PINPOINT_COLLECTOR_SPAN_PORT": "70000"}, "PINPOINT_COLLECTOR_SPAN_PORT must be a TCP port"),
        ({"HBASE_DATA_DIR": "relative/dir"}, "HBASE_DATA_DIR must be an absolute path"),
        (
            {"PINPOINT_TTL_TRACE_SECONDS": "60d"},
            "PINPOINT_TTL_TRACE_SECONDS must be a positive integer, got '60d'",
        ),
        (
            {"PINPOINT_TTL_STATISTICS_SECONDS": "2147483648"},
            "PINPOINT_TTL_STATISTICS_SECONDS must be at most 2147483647 seconds (HBase stores a TTL as a Java int), got '2147483648'",
        ),
        (
            {"PINPOINT_HBASE_UNIFORM_SPLIT_REGIONS": "1"},
            "PINPOINT_HBASE_UNIFORM_SPLIT_REGIONS must be at least 2 (HBase refuses NUMREGIONS <= 1), got '1'",
        ),
        ({"PINPOINT_ZOOKEEPER_SNAPSHOTS_KEPT": "2"}, "PINPOINT_ZOOKEEPER_SNAPSHOTS_KEPT must be at least 3"),
        ({"PINPOINT_BOOT_TIMEOUT_SECONDS": "0"}, "PINPOINT_BOOT_TIMEOUT_SECONDS must be a positive integer"),
    ],
)
def test_bad_configuration_is_refused_before_hbase_starts(
    launch: Callable[..., Run], env: dict[str, str], message: str
) -> None:
    run = launch(**env)

    assert run.wait_exit(timeout=10) == 1
    assert message in run.output()
    assert run.find("hbase-master", "start") == []


# --- JVM options -----------------------------------------------------------------------------


def test_hbase_jvm_options_reach_the_master_only_and_keep_g1_and_a_direct_memory_cap(
    launch: Callable[..., Run],
) -> None:
    # -Xms above the shell's 384 MB heap would stop every `hbase shell` JVM if it leaked into
    # HBASE_OPTS (bin/hbase passes HBASE_OPTS to every command, HBASE_MASTER_OPTS to the master).
    run = launch(CONTAINER_MEMORY_MB="8192", PINPOINT_HBASE_JAVA_OPTS="-Xms1024m -Dextra.master.flag=1")
    run.wait_booted()
    assert run.stop() == 0

    master = run.first("hbase-master", "jvm").detail.split()
    assert "-XX:+UseG1GC" in master  # bin/hbase adds it only when HBASE_OPTS is empty
    assert "-Xmx3276m" in master
    assert "-Xms3276m" in master
    assert "-XX:MaxDirectMemorySize=409m" in master  # 5 % of 8192 MB
    assert "-XX:+ExitOnOutOfMemoryError" in master
    assert "-Dextra.master.flag=1" in master
    clients = [*run.find("hbase-shell", "jvm"), *run.find("hbase-master-stop", "jvm")]
    assert clients
    for client in clients:
        args = client.detail.split()
        assert "-Xmx384m" in args
        assert "-XX:+UseG1GC" in args
        assert not any(a.startswith("-Xms") or a.startswith("-XX:MaxDirectMemorySize") for a in args), args
        assert "-Dextra.master.flag=1" not in args
    assert run.find("hbase-shell", "jvm-refused") == []
    assert "memory limit 8192 MB (CONTAINER_MEMORY_MB); heaps: hbase 3276 MB (+409 MB direct)" in run.output()


def test_heaps_are_explicit_and_derived_from_the_memory_limit(launch: Callable[..., Run]) -> None:
    run = launch(CONTAINER_MEMORY_MB="16384", WEB_HEAP_MB="1000")
    run.wait_booted()

    assert "-XX:MaxDirectMemorySize=819m" in run.first("hbase-master", "jvm").detail
    assert "-Xms3276m -Xmx3276m" in run.first("collector", "start").detail  # 20 %
    assert "-Xms1000m -Xmx1000m" in run.first("web", "start").detail  # explicit override


def test_pinpoint_servers_bind_admin_ports_to_loopback_and_log_to_the_console(
    launch: Callable[..., Run], workdir: Path
) -> None:
    run = launch(PINPOINT_COLLECTOR_JAVA_OPTS="-Dextra.flag=1")
    run.wait_booted()

    collector = run.first("collector", "start").detail.split()
    web = run.first("web", "start").detail.split()
    for args in (collector, web):
        assert "-Dpinpoint.zookeeper.address=127.0.0.1" in args
        assert "-Dhbase.client.host=127.0.0.1" in args
        assert "-Dpinpoint.modules.realtime.enabled=false" in args
        assert "-XX:+ExitOnOutOfMemoryError" in args
        assert f"-Dlogging.config={IMAGE / 'conf' / 'log4j2-console.xml'}" in args
    env = run.env
    # Collector: HTTP (serverTime, actuator) on loopback, gRPC ports on every interface.
    assert f"-Dserver.port={env['PINPOINT_COLLECTOR_HTTP_PORT']}" in collector
    assert "-Dserver.address=127.0.0.1" in collector
    assert not any("bindaddress.ip" in a for a in collector)
    assert (
        f"-Dcollector.receiver.grpc.span.bindaddress.port={env['PINPOINT_COLLECTOR_SPAN_PORT']}" in collector
    )
    assert "-Dextra.flag=1" in collector
    assert collector[-2:] == ["-jar", str(workdir / "pinpoint-collector.jar")]
    # Web: UI on every interface, management (actuator) on loopback, no usage data sent.
    assert f"-Dserver.port={env['PINPOINT_WEB_PORT']}" in web
    assert not any(a.startswith("-Dserver.address") for a in web)
    assert f"-Dmanagement.server.port={env['PINPOINT_WEB_MANAGEMENT_PORT']}" in web
    assert "-Dmanagement.server.address=127.0.0.1" in web
    assert "-Dconfig.sendUsage=false" in web


def test_console_log_configuration_has_no_file_appender() -> None:
    config = (IMAGE / "conf" / "log4j2-console.xml").read_text()
    assert "<Console " in config
    assert "<RollingFile" not in config
    assert "<File " not in config


def test_admin_password_reaches_only_the_web_and_never_a_command_line(launch: Callable[..., Run]) -> None:
    run = launch(PINPOINT_WEB_ADMIN_PASSWORD="s3cret-from-secrets-manager")
    run.wait_booted()

    assert run.first("web", "env").detail == "ADMIN_PASSWORD=s3cret-from-secrets-manager"
    assert run.first("collector", "env").detail == "ADMIN_PASSWORD=<unset>"
    assert "s3cret" not in run.output()
    assert "s3cret" not in run.first("web", "start").detail
    assert "generated a random admin password" not in run.output()


def test_admin_password_is_random_when_not_given_and_never_logged(launch: Callable[..., Run]) -> None:
    run = launch()
    run.wait_booted()

    password = run.first("web", "env").detail.removeprefix("ADMIN_PASSWORD=")
    assert re.fullmatch(r"[A-Za-z0-9]{32}", password), password
    assert password != "admin"
    assert "PINPOINT_WEB_ADMIN_PASSWORD is not set: generated a random admin password" in run.output()
    assert password not in run.output()


# --- health check ----------------------------------------------------------------------------


def test_healthcheck_proves_the_backend_not_the_ui_fallback(launch: Callable[..., Run]) -> None:
    run = launch(PINPOINT_HBASE_CHECK_INTERVAL_SECONDS="3600")
    run.wait_booted()

    healthy = run.healthcheck()
    assert healthy.returncode == 0, healthy.stdout
    assert healthy.stdout.strip() == "healthy: hbase collector web"


def test_healthcheck_fails_when_the_web_backend_is_broken_behind_the_ui_fallback(
    launch: Callable[..., Run],
) -> None:
    """On 3.x web, /serverTime is the UI's index.html (200) even when the controllers fail."""
    run = launch(STANDIN_WEB_BACKEND_BROKEN_AFTER="8", PINPOINT_HBASE_CHECK_INTERVAL_SECONDS="3600")
    run.wait_booted()
    run.wait_for(lambda: "broken" in run.output(), what="web backend breaking")

    result = run.healthcheck()
    assert result.returncode == 1
    assert f"web: GET /api-public/serverTime on port {run.env['PINPOINT_WEB_PORT']} failed" in result.stdout


def test_healthcheck_fails_when_the_region_server_dies_but_the_master_lives(
    launch: Callable[..., Run],
) -> None:
    run = launch(STANDIN_REGIONSERVER_DIES_AFTER="6", PINPOINT_HBASE_CHECK_INTERVAL_SECONDS="3600")
    run.wait_booted()
    run.wait_for(lambda: bool(run.find("hbase-regionserver", "aborted")), what="region server abort")

    result = run.healthcheck()
    assert result.returncode == 1
    assert "hbase: the master reports no live region server (numRegionServers=0)" in result.stdout
    assert run.process.poll() is None  # the master JVM (and the supervisor) still run


def test_supervisor_stops_the_container_when_hbase_no_longer_serves(launch: Callable[..., Run]) -> None:
    run = launch(
        STANDIN_REGIONSERVER_DIES_AFTER="6",
        PINPOINT_HBASE_CHECK_INTERVAL_SECONDS="1",
        PINPOINT_HBASE_CHECK_FAILURES="2",
    )
    run.wait_booted()

    assert run.wait_exit(timeout=40) == 1
    out = run.output()
    assert "HBase no longer serves (no live region server); stopping the container" in out
    assert run.find("collector", "sigterm")
    assert run.find("web", "sigterm")
    # No flush against a dead region server (it would hang for its whole budget).
    assert run.find("hbase-shell", "flush-hangs") == []
    assert run.find("hbase-master-stop", "run")


# --- ZooKeeper growth ------------------------------------------------------------------------


def test_old_zookeeper_snapshots_are_purged_before_hbase_starts(
    launch: Callable[..., Run], workdir: Path
) -> None:
    version2 = workdir / "data" / "zookeeper" / "zookeeper_0" / "version-2"
    version2.mkdir(parents=True)
    for zxid in (0x10, 0x20, 0x30, 0x40, 0x50, 0x60):
        (version2 / f"snapshot.{zxid:x}").write_text("old snapshot")
        (version2 / f"log.{zxid + 1:x}").write_text("old log")

    run = launch()
    run.wait_booted()

    purge = run.first("zookeeper-purge", "run")
    assert purge.detail == f"{version2.parent} -n 3"
    assert purge.at < run.first("hbase-master", "start").at
    snapshots = sorted(p.name for p in version2.glob("snapshot.*"))
    # The three newest old snapshots plus the one this start wrote.
    assert snapshots == ["snapshot.40", "snapshot.50", "snapshot.60", "snapshot.c1"]


# --- failures --------------------------------------------------------------------------------


def test_every_process_output_is_prefixed(launch: Callable[..., Run]) -> None:
    run = launch()
    run.wait_booted()
    run.wait_for(lambda: "[web] standin web started" in run.output(), what="web output")

    out = run.output()
    assert "[hbase] standin HMaster running" in out
    assert "[collector] standin collector started" in out
    assert "[hbase-bootstrap] pinpoint-bootstrap:initialized" in out


@pytest.mark.parametrize("dying", ["collector", "web"])
def test_a_dead_pinpoint_process_stops_the_rest_and_fails_the_container(
    launch: Callable[..., Run], dying: str
) -> None:
    run = launch(**{f"STANDIN_{dying.upper()}_EXIT_AFTER": "3:7"})

    assert run.wait_exit() == 7
    survivor = "web" if dying == "collector" else "collector"
    assert run.find(survivor, "sigterm")
    # HBase is still flushed and shut down cleanly, so a crash loses no acknowledged write.
    assert run.first("hbase-shell", "flush").at < run.first("hbase-master-stop", "run").at
    assert run.find("hbase-master", "stopped")
    assert f"{dying} exited unexpectedly with status 7" in run.output()


def test_a_pinpoint_process_exiting_zero_still_fails_the_container(launch: Callable[..., Run]) -> None:
    run = launch(STANDIN_WEB_EXIT_AFTER="3:0")

    assert run.wait_exit() == 1


def test_hbase_death_stops_collector_and_web(launch: Callable[..., Run]) -> None:
    run = launch(STANDIN_MASTER_CRASH_AFTER="5")

    assert run.wait_exit() == 3
    assert run.find("collector", "sigterm")
    assert run.find("web", "sigterm")
    assert run.find("hbase-shell", "flush") == []  # nothing left to flush


def test_hbase_death_during_bootstrap_fails_without_starting_pinpoint(launch: Callable[..., Run]) -> None:
    run = launch(STANDIN_MASTER_READY_AFTER="60", STANDIN_MASTER_CRASH_AFTER="2")

    assert run.wait_exit() == 3
    assert run.find("collector", "start") == []


# --- stop ------------------------------------------------------------------------------------


def test_sigterm_stops_pinpoint_flushes_and_shuts_the_cluster_down_cleanly(
    launch: Callable[..., Run],
) -> None:
    run = launch()
    run.wait_booted()

    sent = time.monotonic()
    assert run.stop() == 0
    elapsed = time.monotonic() - sent

    last_pinpoint_stop = max(run.first("collector", "sigterm").at, run.first("web", "sigterm").at)
    flush = run.first("hbase-shell", "flush").at
    stop = run.first("hbase-master-stop", "run").at
    assert last_pinpoint_stop < flush < stop <= run.first("hbase-master", "stopped").at
    # `hbase master stop` without --shutDownCluster is refused by HBase 2.x: never sent.
    assert run.find("hbase-master-stop", "refused") == []
    assert run.find("hbase-master", "sigterm") == []  # the clean path, not the kill path
    out = run.output()
    assert "HBase stopped cleanly (cluster shutdown)" in out
    assert "sending SIGTERM" not in out
    assert "killing" not in out
    assert elapsed < 15, f"a clean stop with prompt children took {elapsed:.1f}s"
    assert "received SIGTERM; shutting down" in out


def test_sigterm_with_stuck_processes_escalates_within_the_budget(launch: Callable[..., Run]) -> None:
    run = launch(
        STANDIN_COLLECTOR_IGNORES_TERM="1",
        STANDIN_MASTER_IGNORES_STOP="1",
        PINPOINT_STOP_TIMEOUT_SECONDS="2",
        HBASE_SHUTDOWN_TIMEOUT_SECONDS="3",
        HBASE_KILL_GRACE_SECONDS="1",
    )
    run.wait_booted()

    sent = time.monotonic()
    assert run.stop() == 0
    elapsed = time.monotonic() - sent

    out = run.output()
    assert "collector did not stop within 2s; killing it" in out
    assert "HBase did not stop within 3s of the shutdown request; sending SIGTERM" in out
    assert "hbase did not stop within 1s; killing it" in out
    assert run.find("hbase-master", "sigterm"), "HBase gets SIGTERM (its shutdown hook) before SIGKILL"
    assert 5 <= elapsed < 20


def test_sigterm_while_waiting_for_the_master_exits_zero_promptly(launch: Callable[..., Run]) -> None:
    run = launch(STANDIN_MASTER_READY_AFTER="120")
    run.wait_for(lambda: bool(run.find("hbase-shell", "not-initialized")), what="first bootstrap attempt")

    sent = time.monotonic()
    assert run.stop() == 0
    assert time.monotonic() - sent < 15
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


def test_default_boot_budget_leaves_margin_inside_the_grace_period() -> None:
    match = re.search(
        r'^PINPOINT_BOOT_TIMEOUT_SECONDS="\$\{PINPOINT_BOOT_TIMEOUT_SECONDS:-(\d+)\}"$',
        SUPERVISOR.read_text(),
        re.M,
    )
    assert match
    assert int(match.group(1)) + 30 <= 300  # the ALB/ECS health-check grace period

"""Specification of images/pinpoint/bin/pinpoint-supervisor and pinpoint-healthcheck, run against
stand-in binaries that behave like HBase 2.6 and Pinpoint 3.1.0 where the supervisor depends on
them (tests/unit/pinpoint_standins: each rule names the HBase/Pinpoint source it was read in).

The real supervisor script runs unchanged; `hbase` and `java` on its PATH are the stand-ins,
which log every call to an events file and serve HTTP on the ports the supervisor names (the
master's JMX, collector and web serverTime), each test on its own free ports. The HBase
stand-in keeps its tables in a state directory that outlives a supervisor run, so a second
run sees the first run's tables exactly as a restart on a persistent volume would; several
supervisors of one test share it like containers share a network (PINPOINT_ROLE tests).

Speed: the supervisor's polls are set small (PINPOINT_POLL_SECONDS), events a scenario needs
after boot are triggered by the test (files, not timers), and the assertions that only read
one boot's events share one run (``reference``).
"""

from __future__ import annotations

import fcntl
import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.pinpoint_standins.harness import (
    ALL_TABLES,
    IMAGE,
    SUPERVISOR,
    Run,
    Supervisors,
)

# --- one boot, many readers -------------------------------------------------------------------

REFERENCE_ENV = {
    "CONTAINER_MEMORY_MB": "8192",
    "WEB_HEAP_MB": "1000",
    # -Xms above the clients' 256 MB heap would stop every table tool JVM if it leaked into
    # HBASE_OPTS (pinpoint-hbase passes HBASE_OPTS to every command, HBASE_MASTER_OPTS to the master).
    "PINPOINT_HBASE_JAVA_OPTS": "-Xms1024m -Dextra.master.flag=1",
    "PINPOINT_COLLECTOR_JAVA_OPTS": "-Dextra.flag=1",
    "PINPOINT_TTL_TRACE_SECONDS": "86400",
    "PINPOINT_HBASE_UNIFORM_SPLIT_REGIONS": "8",
    "PINPOINT_WEB_ADMIN_PASSWORD": "s3cret-from-secrets-manager",
    "PINPOINT_HBASE_CHECK_INTERVAL_SECONDS": "3600",
}


# What the reference run asks the booted web, as the UI and a user would (v3.1.0 paths):
# FrontendConfigController's GET /api/configuration, and an error page: ActiveThreadDumpController
# answers 500 whatever its switch says (realtime is off).
WEB_REQUESTS = ("/api/configuration", "/api/agent/activeThreadDump?applicationName=app&agentId=agent-1")


def http_get(port: str, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


class Reference:
    """One all-in-one boot with REFERENCE_ENV, its health check and WEB_REQUESTS, then a SIGTERM
    stop: run once per session by whichever xdist worker asks first (under a lock, like the shared
    synth in conftest.py), read from its files by the others."""

    def __init__(self, directory: Path, python: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        summary = directory / "summary.json"
        with (directory / "lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not summary.exists():
                summary.write_text(json.dumps(self._boot_and_stop(directory / "run", python)))
        facts = json.loads(summary.read_text())
        self.workdir = Path(facts["workdir"])
        self.run = Run(None, Path(facts["events"]), Path(facts["output"]), facts["env"])
        self.healthy = subprocess.CompletedProcess([], facts["healthy_code"], facts["healthy_stdout"], "")
        self.booted_output = facts["booted_output"]
        self.exit_code = facts["exit_code"]
        self.stop_seconds = facts["stop_seconds"]
        self.web_answers = {path: tuple(answer) for path, answer in facts["web_answers"].items()}
        self.tables = Path(facts["state"]) / "tables"
        self.zookeeper = self.workdir / "data" / "zookeeper" / "zookeeper_0" / "version-2"

    @staticmethod
    def _boot_and_stop(workdir: Path, python: Path) -> dict[str, object]:
        workdir.mkdir()
        supervisors = Supervisors(workdir, python)
        try:
            version2 = workdir / "data" / "zookeeper" / "zookeeper_0" / "version-2"
            version2.mkdir(parents=True)
            for zxid in (0x10, 0x20, 0x30, 0x40, 0x50, 0x60):
                (version2 / f"snapshot.{zxid:x}").write_text("old snapshot")
                (version2 / f"log.{zxid + 1:x}").write_text("old log")
            run = supervisors.launch(**REFERENCE_ENV)
            run.wait_booted()
            run.wait_for(lambda: "[web] standin web started" in run.output(), what="web output")
            healthy = run.healthcheck()
            web_answers = {path: http_get(run.env["PINPOINT_WEB_PORT"], path) for path in WEB_REQUESTS}
            booted_output = run.output()
            sent = time.monotonic()
            exit_code = run.stop()
            return {
                "workdir": str(workdir),
                "state": str(supervisors.state),
                "events": str(run.events_file),
                "output": str(run.output_file),
                "env": run.env,
                "healthy_code": healthy.returncode,
                "healthy_stdout": healthy.stdout,
                "booted_output": booted_output,
                "web_answers": web_answers,
                "exit_code": exit_code,
                "stop_seconds": time.monotonic() - sent,
            }
        finally:
            supervisors.close()


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory, worker_id: str, python: Path) -> Reference:
    # xdist workers' base temp dirs share a parent: the session's; without xdist, the base itself.
    base = tmp_path_factory.getbasetemp()
    return Reference((base.parent if worker_id != "master" else base) / "pinpoint-reference", python)


# --- start order and readiness ---------------------------------------------------------------


def test_starts_hbase_then_bootstraps_then_collector_and_web_and_boots_when_healthy(
    reference: Reference,
) -> None:
    run = reference.run
    # The master's clock starts before the stand-in binds its info server and records "start":
    # the bootstrap may legitimately create tables between the two.
    master = run.first("hbase-master", "clock-started").at
    last_create = max(e.at for e in run.find("hbase-tables", "create"))
    collector = run.first("collector", "start").at
    web = run.first("web", "start").at
    assert master < last_create < min(collector, web)
    out = reference.booted_output
    assert (
        out.index("every Pinpoint table exists")
        < out.index("starting collector:")
        < out.index("boot complete")
    )
    assert reference.healthy.returncode == 0
    assert reference.exit_code == 0


def test_waits_until_the_master_is_initialized_in_one_client_process(launch: Callable[..., Run]) -> None:
    """listTableNames answers before the master is initialized; createTable does not
    (HMaster#checkInitialized)."""
    run = launch(STANDIN_MASTER_SERVICES_AFTER="0.3", STANDIN_MASTER_READY_AFTER="1.5")
    run.wait_booted()

    # Not one create was sent before initialization (each would fail with PleaseHoldException).
    assert run.find("hbase-tables", "create-refused") == []
    assert run.find("hbase-tables", "not-initialized"), "the master was never seen initializing"
    # Polling and creating happened inside ONE table tool process: each JVM start costs seconds.
    assert [e.detail.split()[0] for e in run.find("hbase-tables", "run")] == ["bootstrap"]
    assert "-Dhbase.client.retries.number=3" in run.first("hbase-tables", "run").detail
    assert sorted(e.detail for e in run.find("hbase-tables", "create")) == sorted(ALL_TABLES)
    assert re.search(
        r"pinpoint-bootstrap:waiting attempt \d+: org.apache.hadoop.hbase.PleaseHoldException", run.output()
    )


def test_restart_on_existing_data_waits_for_initialization_and_creates_nothing(
    launch: Callable[..., Run],
) -> None:
    first = launch()
    first.wait_booted()
    assert first.stop() == 0

    second = launch(STANDIN_MASTER_SERVICES_AFTER="0", STANDIN_MASTER_READY_AFTER="1.5")
    second.wait_booted()

    assert len(first.find("hbase-tables", "create")) == 22
    assert second.find("hbase-tables", "create") == []
    assert second.find("hbase-tables", "create-existing") == []
    assert "pinpoint-bootstrap:nothing-missing all Pinpoint tables exist with their TTLs" in second.output()
    # Every table exists, so listing tables alone would let collector and web start at once; they must
    # wait until the master can serve them.
    master = second.first("hbase-master", "clock-started").at
    assert second.first("collector", "start").at - master >= 1.5


def test_creates_every_table_once_with_ttls_and_regions_from_the_environment(reference: Reference) -> None:
    created = [e.detail for e in reference.run.find("hbase-tables", "create")]
    assert sorted(created) == sorted(ALL_TABLES)
    assert len(ALL_TABLES) == 22
    trace = (reference.tables / "TraceV2").read_text()
    assert "TTL => 86400" in trace
    assert "NUMREGIONS => 8" in trace
    # Unset variables fall back to the upstream value written in the table list.
    assert "TTL => 31536000" in (reference.tables / "AgentInfo").read_text()
    assert "${" not in "".join(p.read_text() for p in reference.tables.iterdir())


def test_partial_schema_gets_only_the_missing_tables(launch: Callable[..., Run], workdir: Path) -> None:
    tables = workdir / "hbase-state" / "tables"
    tables.mkdir(parents=True)
    for existing in ALL_TABLES[:5]:
        (tables / existing).write_text("created earlier")

    run = launch()
    run.wait_booted()

    assert sorted(e.detail for e in run.find("hbase-tables", "create")) == sorted(ALL_TABLES[5:])
    assert (tables / ALL_TABLES[0]).read_text() == "created earlier"


# --- boot budget -----------------------------------------------------------------------------


def test_boot_budget_exceeded_while_the_master_initializes_stops_and_fails(
    launch: Callable[..., Run],
) -> None:
    # 4 s: the reason asserted below is the table tool's report, so HBase and that tool must
    # get to start within the budget even with every xdist worker busy.
    run = launch(STANDIN_MASTER_READY_AFTER="120", PINPOINT_BOOT_TIMEOUT_SECONDS="4")

    assert run.wait_exit(timeout=40) == 1
    out = run.output()
    assert "boot did not complete within 4s (PINPOINT_BOOT_TIMEOUT_SECONDS)" in out
    assert "still waiting for the HBase master to be initialized" in out
    assert "PleaseHoldException" in out.split("boot did not complete", 1)[1]  # the last reason
    assert run.find("collector", "start") == []
    assert run.find("hbase-master-stop", "run"), "HBase is still shut down cleanly"


def test_boot_budget_covers_collector_and_web_answering(launch: Callable[..., Run]) -> None:
    run = launch(STANDIN_WEB_READY_AFTER="120", PINPOINT_BOOT_TIMEOUT_SECONDS="5")

    assert run.wait_exit(timeout=40) == 1
    out = run.output()
    assert (
        "boot did not complete within 5s (PINPOINT_BOOT_TIMEOUT_SECONDS): still waiting for collector and web"
        in out
    )
    assert "/api-public/serverTime" in out  # the line says what did not answer
    assert run.find("web", "sigterm")
    assert run.find("collector", "sigterm")
    assert "boot complete" not in out


def test_collector_and_web_start_together_once_the_tables_exist(launch: Callable[..., Run]) -> None:
    run = launch(STANDIN_COLLECTOR_READY_AFTER="2.5")
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
            "container memory 1024 MB (CONTAINER_MEMORY_MB) is below the 2048 MB the all-in-one role needs",
        ),
        (
            {"HBASE_HEAP_MB": "4000"},
            "heaps and direct memory (hbase 4000 + 256 direct, collector 819 + 204 direct, web 614 + 81 direct, "
            "hbase client 256 MB; the hbase client runs only while collector and web do not) peak at 5974 MB and "
            "do not fit in 4096 MB",
        ),
        ({"COLLECTOR_DIRECT_MB": "2500"}, "collector 819 + 2500 direct"),
        ({"WEB_DIRECT_MB": "0"}, "WEB_DIRECT_MB must be a positive integer, got '0'"),
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
        ({"PINPOINT_POLL_SECONDS": "0"}, "PINPOINT_POLL_SECONDS must be a positive number of seconds"),
        ({"PINPOINT_POLL_SECONDS": "1s"}, "PINPOINT_POLL_SECONDS must be a positive number of seconds"),
        ({"PINPOINT_POLL_SECONDS": "10.5"}, "PINPOINT_POLL_SECONDS must be at most 10 seconds, got '10.5'"),
        ({"PINPOINT_HBASE_POLL_SECONDS": "0.0001"}, "PINPOINT_HBASE_POLL_SECONDS must be a positive number"),
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
    reference: Reference,
) -> None:
    run = reference.run
    master = run.first("hbase-master", "jvm").detail.split()
    assert "-XX:+UseG1GC" in master  # from HBASE_OPTS: pinpoint-hbase implies no GC of its own
    assert "-Xmx3276m" in master
    assert "-Xms3276m" in master
    assert "-XX:MaxDirectMemorySize=409m" in master  # 5 % of 8192 MB
    assert "-XX:+ExitOnOutOfMemoryError" in master
    assert "-Dextra.master.flag=1" in master
    clients = [*run.find("hbase-tables", "jvm"), *run.find("hbase-master-stop", "jvm")]
    assert len(clients) >= 3  # bootstrap, flush, stop
    for client in clients:
        args = client.detail.split()
        assert "-Xmx256m" in args
        assert "-XX:+UseG1GC" in args
        assert not any(a.startswith("-Xms") or a.startswith("-XX:MaxDirectMemorySize") for a in args), args
        assert "-Dextra.master.flag=1" not in args
    assert run.find("hbase-tables", "jvm-refused") == []
    assert "memory limit 8192 MB (CONTAINER_MEMORY_MB); heaps: hbase 3276 MB (+409 MB direct)" in run.output()


def test_heaps_are_explicit_and_derived_from_the_memory_limit(reference: Reference) -> None:
    run = reference.run
    assert "-Xms1638m -Xmx1638m" in run.first("collector", "start").detail  # 20 % of 8192
    assert "-Xms1000m -Xmx1000m" in run.first("web", "start").detail  # explicit override
    assert (
        "heaps: hbase 3276 MB (+409 MB direct), collector 1638 MB (+409 MB direct), web 1000 MB (+163 MB direct)"
        in run.output()
    )


def test_collector_and_web_direct_memory_is_capped_from_the_memory_limit(reference: Reference) -> None:
    """Without -XX:MaxDirectMemorySize a JVM allows as much direct memory as heap: the three JVMs
    could outgrow the container together (lib/memory.sh)."""
    collector = reference.run.first("collector", "start").detail.split()
    web = reference.run.first("web", "start").detail.split()
    assert [a for a in collector if a.startswith("-XX:MaxDirectMemorySize")] == [
        "-XX:MaxDirectMemorySize=409m"
    ]  # 5 %
    assert [a for a in web if a.startswith("-XX:MaxDirectMemorySize")] == [
        "-XX:MaxDirectMemorySize=163m"
    ]  # 2 %


def test_the_minimum_memory_fits_because_the_hbase_clients_never_run_beside_collector_and_web(
    launch: Callable[..., Run],
) -> None:
    """At 2048 MB the heaps and caps of HBase, collector and web plus a 256 MB HBase client would
    not fit; the client JVMs run before collector and web start and after they stopped."""
    run = launch(CONTAINER_MEMORY_MB="2048", STANDIN_MASTER_READY_AFTER="120")
    run.wait_for(lambda: bool(run.find("hbase-master", "start")), what="HBase start")
    assert run.stop() == 0
    assert (
        "heaps: hbase 819 MB (+256 MB direct), collector 409 MB (+128 MB direct), web 307 MB (+64 MB direct)"
        in run.output()
    )  # 1075 + 908 = 1983 < 2048 (the caps' floors: 128 and 64 MB)


# The all-in-one's sizes with no override (lib/memory.sh): heaps of 40 / 20 / 15 % of the limit;
# direct memory of 5 / 5 / 2 %, capped at 1024 / 1024 / 512 MB, so that large tasks give the
# heaps what the caps hold back. 8-30 GiB are the Fargate sizes of cpu 4096 (the default 16 GiB
# among them), 120 GiB the largest of cpu 16384.
SIZES_WITHOUT_OVERRIDES = {
    8192: ((3276, 409), (1638, 409), (1228, 163)),
    16384: ((6553, 819), (3276, 819), (2457, 327)),
    30720: ((12288, 1024), (6144, 1024), (4608, 512)),  # every direct share above its ceiling
    122880: ((49152, 1024), (24576, 1024), (18432, 512)),
}


@pytest.mark.parametrize("memory_mb", sorted(SIZES_WITHOUT_OVERRIDES))
def test_heap_shares_and_direct_memory_ceilings_without_overrides(
    launch: Callable[..., Run], memory_mb: int
) -> None:
    """The sizing is printed before HBase starts: the test ends as soon as the master's JVM is up
    (its options are the ones the sizing gave it; the fixture kills the run, a clean stop is
    tested elsewhere); collector and web take theirs from the same values
    (test_heaps_are_explicit_and_derived_from_the_memory_limit)."""
    (hbase, collector, web) = SIZES_WITHOUT_OVERRIDES[memory_mb]
    run = launch(CONTAINER_MEMORY_MB=str(memory_mb), STANDIN_MASTER_READY_AFTER="120")
    run.wait_for(lambda: bool(run.find("hbase-master", "jvm")), what="the HBase master's JVM")
    assert (
        f"[supervisor] memory limit {memory_mb} MB (CONTAINER_MEMORY_MB); heaps: "
        f"hbase {hbase[0]} MB (+{hbase[1]} MB direct), collector {collector[0]} MB (+{collector[1]} MB direct), "
        f"web {web[0]} MB (+{web[1]} MB direct)"
    ) in run.output().splitlines()
    master = run.first("hbase-master", "jvm").detail.split()
    assert sorted(a for a in master if a.startswith(("-Xmx", "-Xms", "-XX:MaxDirectMemorySize"))) == [
        f"-XX:MaxDirectMemorySize={hbase[1]}m",
        f"-Xms{hbase[0]}m",
        f"-Xmx{hbase[0]}m",
    ]


# --- what the web offers without MySQL, Redis or Pinot ------------------------------------------


def test_web_ui_switches_without_a_backend_are_off(reference: Reference) -> None:
    """GET /api/configuration, which the UI reads (v3.1.0 FrontendConfigController)."""
    status, body = reference.web_answers["/api/configuration"]
    assert status == 200
    configuration = json.loads(body)
    # pinpoint.modules.web.webhook=false: WebhookFacadeModule (with the exporter of this key) is out.
    assert "webhookEnable" not in configuration
    assert configuration["editUserInfo"] is False  # config.editUserInfo=false
    assert configuration["showActiveThread"] is False  # pinpoint.modules.realtime.enabled=false
    assert configuration["showActiveThreadDump"] is False
    assert configuration["sendUsage"] is False  # config.sendUsage=false
    # Read by ConfigProperties only (logged; the keys above come from RealtimeConfig): set so that
    # every switch agrees.
    web = reference.run.first("web", "start").detail.split()
    assert "-Dconfig.show.activeThread=false" in web
    assert "-Dconfig.show.activeThreadDump=false" in web


def test_active_thread_dump_is_refused_with_its_reason_and_error_pages_carry_no_stack_trace(
    reference: Reference,
) -> None:
    status, body = reference.web_answers[WEB_REQUESTS[1]]
    assert status == 500
    problem = json.loads(body)
    # config.enable.activeThreadDump=false (ActiveThreadDumpController#getClusterKey).
    assert problem["detail"] == "Disable activeThreadDump option. 'config.enable.activeThreadDump=false'"
    # server.error.include-stacktrace=never (application.yml: always).
    assert "trace" not in problem


def test_no_background_mysql_retries(reference: Reference) -> None:
    """The datasource module's Hikari pool keeps minimum-idle connections to a MySQL that is
    not there, for ever: the collector gets no pool, the web one that keeps none idle."""
    run = reference.run
    assert run.find("collector", "datasource") == []  # pinpoint.modules.datasource.main-datasource=none
    assert run.first("web", "datasource").detail == "url=jdbc:mysql://localhost:13306/pinpoint minimum-idle=0"
    assert run.find("collector", "mysql-connect") == run.find("web", "mysql-connect") == []


def test_pinpoint_servers_bind_admin_ports_to_loopback_and_log_to_the_console(reference: Reference) -> None:
    run = reference.run
    collector = run.first("collector", "start").detail.split()
    web = run.first("web", "start").detail.split()
    for args in (collector, web):
        assert "-Dpinpoint.zookeeper.address=127.0.0.1" in args
        assert "-Dhbase.client.host=127.0.0.1" in args
        assert "-Dhbase.client.port=2181" in args
        assert not any(a.startswith("-Dhbase.client.znode") for a in args)  # Pinpoint's /hbase
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
    assert collector[-2:] == ["-jar", str(reference.workdir / "pinpoint-collector.jar")]
    # Web: UI on every interface, management (actuator) on loopback, no usage data sent.
    assert f"-Dserver.port={env['PINPOINT_WEB_PORT']}" in web
    assert not any(a.startswith("-Dserver.address") for a in web)
    assert f"-Dmanagement.server.port={env['PINPOINT_WEB_MANAGEMENT_PORT']}" in web
    assert "-Dmanagement.server.address=127.0.0.1" in web
    assert "-Dconfig.sendUsage=false" in web


def test_all_in_one_hbase_stays_on_loopback_and_its_servers_reach_it(reference: Reference) -> None:
    """conf/hbase-site.xml: ZooKeeper, master and info server on loopback, names pinned to localhost."""
    run = reference.run
    master = run.first("hbase-master", "start").detail
    assert "zookeeper=127.0.0.1:2181" in master
    assert "master=localhost:16000 regionserver=localhost:16020" in master
    assert master.startswith("info=127.0.0.1:")
    for server in ("collector", "web"):
        assert run.first(server, "connect").detail == "127.0.0.1:2181 /hbase master=localhost:16000"
    assert run.first("hbase-tables", "connect").detail.startswith("127.0.0.1:2181 /hbase ")


def test_console_log_configuration_has_no_file_appender() -> None:
    config = (IMAGE / "conf" / "log4j2-console.xml").read_text()
    assert "<Console " in config
    assert "<RollingFile" not in config
    assert "<File " not in config


def test_admin_password_reaches_only_the_web_and_never_a_command_line(reference: Reference) -> None:
    run = reference.run
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


def test_healthcheck_proves_the_backend_not_the_ui_fallback(reference: Reference) -> None:
    assert reference.healthy.returncode == 0, reference.healthy.stdout
    assert reference.healthy.stdout.strip() == "healthy: hbase collector web"


def test_healthcheck_follows_the_role_and_fails_for_what_breaks(supervisors: Supervisors) -> None:
    """Without an argument it checks what PINPOINT_ROLE serves; each part fails on its own."""
    run = supervisors.launch(PINPOINT_HBASE_CHECK_INTERVAL_SECONDS="3600")
    run.wait_booted()
    env = dict(run.env)

    def check(role: str) -> tuple[int, str]:
        run.env = {**env, "PINPOINT_ROLE": role}
        result = run.healthcheck()
        return result.returncode, result.stdout.strip()

    assert check("all-in-one") == (0, "healthy: hbase collector web")
    assert check("collector") == (0, "healthy: collector")
    assert check("web") == (0, "healthy: web")
    assert check("hbase") == (0, "healthy: hbase")
    assert check("bootstrap") == (1, "bootstrap: a one-shot job, not a service: nothing to check")
    assert check("worker")[0] == 2

    # On 3.x web, /serverTime is the UI's index.html (200) even when the controllers fail.
    supervisors.trigger("web.broken")
    code, line = check("all-in-one")
    assert code == 1
    assert line.startswith(f"web: GET /api-public/serverTime on port {env['PINPOINT_WEB_PORT']} failed: ")
    assert "500" in line
    assert check("collector") == (0, "healthy: collector")
    assert check("web")[0] == 1

    # The region server (a thread of the master's JVM) dies while the master lives on.
    supervisors.trigger("regionserver.dead")
    code, line = check("hbase")
    assert code == 1
    assert line == "hbase: the master reports no live region server (numRegionServers=0)"
    run.wait_for(lambda: bool(run.find("hbase-regionserver", "aborted")), what="region server abort")
    assert run.process is not None
    assert run.process.poll() is None  # the master JVM (and the supervisor) still run


def test_supervisor_stops_the_container_when_hbase_no_longer_serves(supervisors: Supervisors) -> None:
    run = supervisors.launch(PINPOINT_HBASE_CHECK_INTERVAL_SECONDS="1", PINPOINT_HBASE_CHECK_FAILURES="2")
    run.wait_booted()
    supervisors.trigger("regionserver.dead")

    assert run.wait_exit(timeout=40) == 1
    out = run.output()
    assert "HBase check failed (1/2)" in out
    assert "HBase no longer serves (no live region server); stopping the container" in out
    assert run.find("collector", "sigterm")
    assert run.find("web", "sigterm")
    # No flush against a dead region server (it would hang for its whole budget).
    assert run.find("hbase-tables", "flush-hangs") == []
    assert run.find("hbase-master-stop", "run")


# --- ZooKeeper growth ------------------------------------------------------------------------


def test_old_zookeeper_snapshots_are_purged_before_hbase_starts(reference: Reference) -> None:
    purge = reference.run.first("zookeeper-purge", "run")
    assert purge.detail == f"{reference.zookeeper.parent} -n 3"
    assert purge.at < reference.run.first("hbase-master", "start").at
    snapshots = sorted(p.name for p in reference.zookeeper.glob("snapshot.*"))
    # The three newest old snapshots plus the one this start wrote.
    assert snapshots == ["snapshot.40", "snapshot.50", "snapshot.60", "snapshot.c1"]


# --- failures --------------------------------------------------------------------------------


def test_every_process_output_is_prefixed(reference: Reference) -> None:
    out = reference.booted_output
    assert "[hbase] standin HMaster running" in out
    assert "[collector] standin collector started" in out
    assert "[web] standin web started" in out
    assert "[hbase-bootstrap] pinpoint-bootstrap:initialized" in out


@pytest.mark.parametrize(("dying", "status", "container_status"), [("collector", 7, 7), ("web", 0, 1)])
def test_a_dead_pinpoint_process_stops_the_rest_and_fails_the_container(
    launch: Callable[..., Run], dying: str, status: int, container_status: int
) -> None:
    run = launch(**{f"STANDIN_{dying.upper()}_EXIT_AFTER": f"1:{status}"})

    # Its status, or 1 when it exited 0: a child ending on its own is a failure either way.
    assert run.wait_exit() == container_status
    survivor = "web" if dying == "collector" else "collector"
    assert run.find(survivor, "sigterm")
    # HBase is still flushed and shut down cleanly, so a crash loses no acknowledged write.
    assert run.first("hbase-tables", "flush").at < run.first("hbase-master-stop", "run").at
    assert run.find("hbase-master", "stopped")
    assert f"{dying} exited unexpectedly with status {status}" in run.output()


def test_a_pinpoint_jvm_that_cannot_start_says_why(launch: Callable[..., Run]) -> None:
    """Not a Spring failure: the JVM's own refusal (-Xms above -Xmx) is its last word."""
    run = launch(PINPOINT_WEB_JAVA_OPTS="-Xms4g")

    assert run.wait_exit() == 1
    assert (
        "[supervisor] web exited unexpectedly with status 1 (last error: Initial heap size set to a larger "
        "value than the maximum heap size); stopping the others"
    ) in run.output()


def test_hbase_death_stops_collector_and_web(supervisors: Supervisors) -> None:
    run = supervisors.launch()
    run.wait_booted()
    supervisors.trigger("master.crash")

    assert run.wait_exit() == 3
    assert run.find("collector", "sigterm")
    assert run.find("web", "sigterm")
    assert run.find("hbase-tables", "flush") == []  # nothing left to flush


def test_hbase_death_during_bootstrap_fails_without_starting_pinpoint(supervisors: Supervisors) -> None:
    run = supervisors.launch(STANDIN_MASTER_READY_AFTER="60")
    run.wait_for(lambda: bool(run.find("hbase-tables", "not-initialized")), what="first bootstrap attempt")
    supervisors.trigger("master.crash")

    assert run.wait_exit() == 3
    assert run.find("collector", "start") == []


# --- stop ------------------------------------------------------------------------------------


def test_sigterm_stops_pinpoint_flushes_and_shuts_the_cluster_down_cleanly(reference: Reference) -> None:
    run = reference.run
    assert reference.exit_code == 0
    last_pinpoint_stop = max(run.first("collector", "sigterm").at, run.first("web", "sigterm").at)
    flush = run.first("hbase-tables", "flush").at
    stop = run.first("hbase-master-stop", "run").at
    assert last_pinpoint_stop < flush < stop <= run.first("hbase-master", "stopped").at
    # `hbase master stop` without --shutDownCluster is refused by HBase 2.x: never sent.
    assert run.find("hbase-master-stop", "refused") == []
    assert run.find("hbase-master", "sigterm") == []  # the clean path, not the kill path
    out = run.output()
    assert "HBase stopped cleanly (cluster shutdown)" in out
    assert "sending SIGTERM" not in out
    assert "killing" not in out
    assert reference.stop_seconds < 15, (
        f"a clean stop with prompt children took {reference.stop_seconds:.1f}s"
    )
    assert "received SIGTERM; shutting down" in out


def test_sigterm_with_stuck_processes_escalates_within_the_budget(launch: Callable[..., Run]) -> None:
    run = launch(
        STANDIN_COLLECTOR_IGNORES_TERM="1",
        STANDIN_MASTER_IGNORES_STOP="1",
        PINPOINT_STOP_TIMEOUT_SECONDS="1",
        HBASE_SHUTDOWN_TIMEOUT_SECONDS="2",
        HBASE_KILL_GRACE_SECONDS="1",
    )
    run.wait_booted()

    sent = time.monotonic()
    assert run.stop() == 0
    elapsed = time.monotonic() - sent

    out = run.output()
    assert "collector did not stop within 1s; killing it" in out
    assert "HBase did not stop within 2s of the shutdown request; sending SIGTERM" in out
    assert "hbase did not stop within 1s; killing it" in out
    assert run.find("hbase-master", "sigterm"), "HBase gets SIGTERM (its shutdown hook) before SIGKILL"
    # In order: the shutdown request, its budget, then SIGTERM (budgets count whole seconds on
    # bash's SECONDS clock, so only the order is exact).
    assert run.first("hbase-master-stop", "run").at < run.first("hbase-master", "sigterm").at
    assert elapsed < 15


def test_sigterm_while_waiting_for_the_master_exits_zero_promptly(launch: Callable[..., Run]) -> None:
    run = launch(STANDIN_MASTER_READY_AFTER="120")
    run.wait_for(lambda: bool(run.find("hbase-tables", "not-initialized")), what="first bootstrap attempt")

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

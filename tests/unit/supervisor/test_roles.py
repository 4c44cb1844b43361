"""Specification of PINPOINT_ROLE (hbase, bootstrap, collector, web) in
images/pinpoint/bin/pinpoint-supervisor: several supervisors of one test share the stand-ins'
state like containers share a network (the all-in-one role: test_all_in_one.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import hbase_reasons
from tests.unit.pinpoint_standins.harness import (
    ALL_TABLES,
    SUPERVISOR,
    Run,
    Supervisors,
)

ADVERTISED = "hbase-standin.test"  # the hbase role's PINPOINT_HBASE_ADVERTISED_HOSTNAME
QUORUM = f"{ADVERTISED}:2181"


# --- roles (PINPOINT_ROLE) -------------------------------------------------------------------


def hbase_role(supervisors: Supervisors, **env: str) -> Run:
    """A booted PINPOINT_ROLE=hbase supervisor, the "hbase container" of a distributed test."""
    run = supervisors.launch(
        PINPOINT_ROLE="hbase",
        PINPOINT_HBASE_ADVERTISED_HOSTNAME=ADVERTISED,
        CONTAINER_MEMORY_MB="4096",
        **env,
    )
    run.wait_booted()
    return run


def bootstrap_lines(run: Run) -> list[str]:
    return [line for line in run.output().splitlines() if line.startswith("bootstrap failed:")]


def test_an_unknown_role_is_refused_with_one_line() -> None:
    result = subprocess.run(
        [str(SUPERVISOR)],
        env={"PATH": "/usr/bin:/bin", "PINPOINT_ROLE": "worker"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "[supervisor] ERROR: PINPOINT_ROLE must be one of: all-in-one, collector, web, bootstrap, hbase; got 'worker'\n"
    )


def test_hbase_role_serves_other_containers_by_name_and_nothing_else(supervisors: Supervisors) -> None:
    run = hbase_role(supervisors, PINPOINT_HBASE_CHECK_INTERVAL_SECONDS="3600")

    # conf-network/hbase-site.xml: every socket on all interfaces, the advertised name in ZooKeeper.
    master = run.first("hbase-master", "start").detail
    assert "zookeeper=0.0.0.0:2181" in master
    assert f"master={ADVERTISED}:16000 regionserver={ADVERTISED}:16020" in master
    assert master.startswith("info=0.0.0.0:")
    assert f"-Dpinpoint.hbase.hostname={ADVERTISED}" in run.first("hbase-master", "jvm").detail
    # HBase only: no tables (the bootstrap role makes them), no Pinpoint server.
    assert run.find("hbase-tables", "run") == []
    assert run.find("collector", "start") == run.find("web", "start") == []
    assert "heaps: hbase 2048 MB (+256 MB direct)" in run.output()  # 50 % of 4096
    assert "boot complete in" in run.output() and "HBase serves" in run.output()  # noqa: PT018
    healthy = run.healthcheck()  # no argument: what PINPOINT_ROLE=hbase serves
    assert (healthy.returncode, healthy.stdout.strip()) == (0, "healthy: hbase")

    # The all-in-one's clean stop: flush through its own (loopback) quorum, then the cluster
    # shutdown.
    assert run.stop() == 0
    assert run.first("hbase-tables", "flush").at < run.first("hbase-master-stop", "run").at
    assert run.first("hbase-tables", "connect").detail == f"127.0.0.1:2181 /hbase master={ADVERTISED}:16000"
    assert "HBase stopped cleanly (cluster shutdown)" in run.output()


def test_hbase_role_stops_the_container_when_its_region_server_dies(supervisors: Supervisors) -> None:
    run = hbase_role(
        supervisors, PINPOINT_HBASE_CHECK_INTERVAL_SECONDS="1", PINPOINT_HBASE_CHECK_FAILURES="1"
    )
    supervisors.trigger("regionserver.dead")

    assert run.wait_exit() == 1
    assert "HBase no longer serves (no live region server); stopping the container" in run.output()
    assert run.find("hbase-tables", "flush-hangs") == []


def test_bootstrap_creates_the_missing_tables_in_the_named_hbase_and_exits_zero(
    supervisors: Supervisors,
) -> None:
    hbase = hbase_role(supervisors)
    tables = supervisors.state / "tables"
    tables.mkdir(exist_ok=True)
    for existing in ALL_TABLES[:7]:  # an HBase that already has some of the tables
        (tables / existing).write_text("created earlier")

    first = supervisors.launch(
        PINPOINT_ROLE="bootstrap",
        PINPOINT_HBASE_ZOOKEEPER_QUORUM=QUORUM,
        PINPOINT_TTL_TRACE_SECONDS="86400",
        CONTAINER_MEMORY_MB="512",
    )
    assert first.wait_exit() == 0, first.output()

    assert sorted(e.detail for e in first.find("hbase-tables", "create")) == sorted(ALL_TABLES[7:])
    assert (tables / ALL_TABLES[0]).read_text() == "created earlier"
    assert "TTL => 86400" in (tables / "TraceV2").read_text()
    # It went through the quorum and the znode it was given, to the master registered there.
    run_detail = first.first("hbase-tables", "run").detail
    assert f"-Dhbase.zookeeper.quorum={QUORUM}" in run_detail
    assert "-Dhbase.zookeeper.property.clientPort=2181" in run_detail
    assert "-Dzookeeper.znode.parent=/hbase" in run_detail
    assert first.first("hbase-tables", "connect").detail == f"{QUORUM} /hbase master={ADVERTISED}:16000"
    assert "[supervisor] bootstrap complete in" in first.output()
    assert "heaps: hbase client 256 MB" in first.output()
    assert first.find("hbase-master", "start") == []  # a client only
    assert bootstrap_lines(first) == []

    second = supervisors.launch(
        PINPOINT_ROLE="bootstrap", PINPOINT_HBASE_ZOOKEEPER_QUORUM=QUORUM, PINPOINT_TTL_TRACE_SECONDS="86400"
    )
    assert second.wait_exit() == 0
    assert second.find("hbase-tables", "create") == []
    assert second.find("hbase-tables", "ttl-change") == []
    assert "pinpoint-bootstrap:nothing-missing all Pinpoint tables exist with their TTLs" in second.output()
    assert hbase.process.poll() is None  # the HBase it used keeps running


def test_bootstrap_brings_existing_tables_to_changed_ttls(supervisors: Supervisors) -> None:
    """hbase_ttl_days changes re-run the bootstrap: existing tables take the new TTLs, and only
    the families whose TTL differs are touched."""
    hbase_role(supervisors)
    first = supervisors.launch(PINPOINT_ROLE="bootstrap", PINPOINT_HBASE_ZOOKEEPER_QUORUM=QUORUM)
    assert first.wait_exit() == 0, first.output()

    second = supervisors.launch(
        PINPOINT_ROLE="bootstrap", PINPOINT_HBASE_ZOOKEEPER_QUORUM=QUORUM, PINPOINT_TTL_TRACE_SECONDS="86400"
    )
    assert second.wait_exit() == 0, second.output()

    changed = sorted(e.detail for e in second.find("hbase-tables", "ttl-change"))
    # TraceV2 (S), TraceIndex and ApplicationTraceIndex (I and M): the trace TTL's families.
    assert changed == sorted(
        [
            "ApplicationTraceIndex:I 86400",
            "ApplicationTraceIndex:M 86400",
            "TraceIndex:I 86400",
            "TraceIndex:M 86400",
            "TraceV2:S 86400",
        ]
    )
    assert second.find("hbase-tables", "create") == []
    assert "pinpoint-bootstrap:changed TraceV2:S ttl 5184000 -> 86400" in second.output()
    assert "pinpoint-bootstrap:done created 0 table(s), changed 5 families" in second.output()


def test_bootstrap_waits_for_a_master_that_is_still_initializing(supervisors: Supervisors) -> None:
    supervisors.launch(
        PINPOINT_ROLE="hbase",
        PINPOINT_HBASE_ADVERTISED_HOSTNAME=ADVERTISED,
        STANDIN_MASTER_READY_AFTER="1.5",
    )
    bootstrap = supervisors.launch(PINPOINT_ROLE="bootstrap", PINPOINT_HBASE_ZOOKEEPER_QUORUM=QUORUM)

    assert bootstrap.wait_exit() == 0, bootstrap.output()
    assert bootstrap.find("hbase-tables", "not-initialized")
    assert bootstrap.find("hbase-tables", "create-refused") == []
    assert len(bootstrap.find("hbase-tables", "create")) == 22


def test_a_bootstrap_whose_last_attempt_reports_nothing_keeps_the_reason_reported_before(
    supervisors: Supervisors,
) -> None:
    # The final attempt is usually killed at the deadline (status 124), on a loaded host before its
    # JVM got to report: the line must still say why the HBase was not ready.
    run = supervisors.launch(
        PINPOINT_ROLE="bootstrap",
        PINPOINT_BOOT_TIMEOUT_SECONDS="3",
        PINPOINT_HBASE_ZOOKEEPER_QUORUM=QUORUM,
        STANDIN_BOOTSTRAP_RUN_1="dies-after-first-report",
        STANDIN_BOOTSTRAP_RUN_2="never-reports",
    )

    assert run.wait_exit() == 1
    (line,) = bootstrap_lines(run)
    assert line.endswith(
        f"(last: waiting attempt 1: {hbase_reasons.quorum_refused(QUORUM)}; "
        "then the table tool exited with status 124 before it reported anything)"
    )


@pytest.mark.parametrize(
    ("hbase", "env", "reason"),
    [
        # Nothing answers at the quorum: ZooKeeper is never reached.
        (
            False,
            {"PINPOINT_HBASE_ZOOKEEPER_QUORUM": QUORUM},
            hbase_reasons.quorum_refused(QUORUM),
        ),
        # Reached, but HBase lives under another znode parent.
        (
            True,
            {"PINPOINT_HBASE_ZOOKEEPER_QUORUM": QUORUM, "PINPOINT_HBASE_ZNODE_PARENT": "/hbase-unsecure"},
            hbase_reasons.wrong_parent_znode("/hbase-unsecure"),
        ),
    ],
)
def test_bootstrap_that_cannot_reach_the_master_fails_with_one_line(
    supervisors: Supervisors, hbase: bool, env: dict[str, str], reason: str
) -> None:
    if hbase:
        hbase_role(supervisors)
    # 5 s, not 2: the reason is the table tool's last report, and on a loaded machine (4 xdist
    # workers on 2 cores) the first tool could still be starting when a 2 s budget ran out (124).
    run = supervisors.launch(PINPOINT_ROLE="bootstrap", PINPOINT_BOOT_TIMEOUT_SECONDS="5", **env)

    assert run.wait_exit() == 1
    (line,) = bootstrap_lines(run)
    assert line.startswith(f"bootstrap failed: the HBase at {QUORUM} (znode ")
    assert "was not ready within 5s (PINPOINT_BOOT_TIMEOUT_SECONDS)" in line
    assert reason in line
    assert run.output().rstrip().endswith(line)  # the last thing it says
    assert run.find("hbase-tables", "create") == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "PINPOINT_HBASE_ZOOKEEPER_QUORUM is required for role bootstrap: comma-separated host:port"),
        (
            {"PINPOINT_HBASE_ZOOKEEPER_QUORUM": "zk1"},
            "PINPOINT_HBASE_ZOOKEEPER_QUORUM must be comma-separated host:port",
        ),
        (
            {"PINPOINT_HBASE_ZOOKEEPER_QUORUM": "zk1:2181;zk2:2181"},
            "PINPOINT_HBASE_ZOOKEEPER_QUORUM must be comma-separated host:port entries",
        ),
        (
            {"PINPOINT_HBASE_ZOOKEEPER_QUORUM": "zk1:2181,zk2:99999"},
            "PINPOINT_HBASE_ZOOKEEPER_QUORUM entry 'zk2:99999' has no valid port (1-65535)",
        ),
        ({"PINPOINT_HBASE_ZOOKEEPER_QUORUM": "zk1:2181,"}, "got 'zk1:2181,'"),
        (
            {"PINPOINT_HBASE_ZOOKEEPER_QUORUM": "tcp://zk1:2181"},
            "(no spaces, no scheme), got 'tcp://zk1:2181'",
        ),
        (
            {"PINPOINT_HBASE_ZOOKEEPER_QUORUM": QUORUM, "PINPOINT_HBASE_ZNODE_PARENT": "hbase"},
            "PINPOINT_HBASE_ZNODE_PARENT must be an absolute ZooKeeper path like /hbase",
        ),
        (
            {"PINPOINT_HBASE_ZOOKEEPER_QUORUM": QUORUM, "PINPOINT_HBASE_ZNODE_PARENT": "/hbase/"},
            "got '/hbase/'",
        ),
        (
            {"PINPOINT_HBASE_ZOOKEEPER_QUORUM": QUORUM, "PINPOINT_HBASE_ZNODE_PARENT": "/hbase/../x"},
            "must not contain '.' or '..' segments",
        ),
        (
            {"PINPOINT_HBASE_ZOOKEEPER_QUORUM": QUORUM, "PINPOINT_TTL_TRACE_SECONDS": "-1"},
            "PINPOINT_TTL_TRACE_SECONDS must be a positive integer, got '-1'",
        ),
        (
            {"PINPOINT_HBASE_ZOOKEEPER_QUORUM": QUORUM, "CONTAINER_MEMORY_MB": "400"},
            "container memory 400 MB (CONTAINER_MEMORY_MB) is below the 512 MB the bootstrap role needs",
        ),
    ],
)
def test_bootstrap_refuses_bad_settings_with_one_line(
    launch: Callable[..., Run], env: dict[str, str], message: str
) -> None:
    run = launch(PINPOINT_ROLE="bootstrap", **env)

    assert run.wait_exit(timeout=10) == 1
    (line,) = bootstrap_lines(run)
    assert message in line
    assert run.find("hbase-tables", "run") == []


@pytest.mark.parametrize("role", ["collector", "web"])
def test_server_roles_refuse_a_missing_or_bad_quorum(launch: Callable[..., Run], role: str) -> None:
    missing = launch(PINPOINT_ROLE=role)
    assert missing.wait_exit(timeout=10) == 1
    assert (
        f"[supervisor] ERROR: PINPOINT_HBASE_ZOOKEEPER_QUORUM is required for role {role}" in missing.output()
    )
    bad = launch(PINPOINT_ROLE=role, PINPOINT_HBASE_ZOOKEEPER_QUORUM="zk1:2181 zk2:2181")
    assert bad.wait_exit(timeout=10) == 1
    assert "PINPOINT_HBASE_ZOOKEEPER_QUORUM must be comma-separated host:port entries" in bad.output()
    assert missing.find(role, "start") == bad.find(role, "start") == []


@pytest.fixture(scope="module")
def shared_hbase(tmp_path_factory: pytest.TempPathFactory, python: Path) -> Iterator[Supervisors]:
    """A running hbase role for the server-role tests of this module (they only read from it)."""
    supervisors = Supervisors(tmp_path_factory.mktemp("shared-hbase"), python)
    try:
        hbase_role(supervisors)
        yield supervisors
    finally:
        supervisors.close()


def test_collector_role_runs_the_collector_alone_against_the_named_hbase(shared_hbase: Supervisors) -> None:
    supervisors = shared_hbase
    # The first entry answers nothing and has another port: HBase keeps each entry's own port
    # (ZKConfig#buildZKQuorumServerString), so the second entry must be tried on 2181, not 2999.
    quorum = f"zk-gone.invalid:2999,{QUORUM}"
    run = supervisors.launch(
        PINPOINT_ROLE="collector",
        PINPOINT_HBASE_ZOOKEEPER_QUORUM=quorum,
        PINPOINT_HBASE_ZNODE_PARENT="/hbase",
        PINPOINT_WEB_ADMIN_PASSWORD="not-for-the-collector",
    )
    run.wait_booted()

    args = run.first("collector", "start").detail.split()
    assert f"-Dhbase.client.host={quorum}" in args
    assert f"-Dpinpoint.zookeeper.address={quorum}" in args
    assert "-Dhbase.client.port=2999" in args  # only for entries without a port: there are none
    assert "-Dhbase.client.znode=/hbase" in args
    assert "-Xms2048m" in args and "-Xmx2048m" in args  # noqa: PT018 - 50 % of 4096 MB
    assert "-XX:MaxDirectMemorySize=819m" in args  # 20 % of 4096 MB
    assert "heaps: collector 2048 MB (+819 MB direct)" in run.output()
    assert "-Dserver.address=127.0.0.1" in args
    run.wait_for(lambda: bool(run.find("collector", "connect")), what="the collector reaching HBase")
    assert run.first("collector", "connect").detail == f"{QUORUM} /hbase master={ADVERTISED}:16000"
    assert run.first("collector", "env").detail == "ADMIN_PASSWORD=<unset>"
    assert (
        run.find("web", "start") == run.find("hbase-master", "start") == run.find("hbase-tables", "run") == []
    )
    assert "boot complete in" in run.output()
    healthy = run.healthcheck()
    assert (healthy.returncode, healthy.stdout.strip()) == (0, "healthy: collector")
    assert run.stop() == 0
    assert run.find("collector", "sigterm")
    assert "flushing" not in run.output()


def test_web_role_runs_the_web_alone_with_the_admin_password(shared_hbase: Supervisors) -> None:
    supervisors = shared_hbase
    run = supervisors.launch(
        PINPOINT_ROLE="web",
        PINPOINT_HBASE_ZOOKEEPER_QUORUM=QUORUM,
        PINPOINT_WEB_ADMIN_PASSWORD="s3cret-web",
        CONTAINER_MEMORY_MB="2048",
    )
    run.wait_booted()

    args = run.first("web", "start").detail.split()
    assert f"-Dhbase.client.host={QUORUM}" in args
    assert "-Dhbase.client.znode=/hbase" in args
    assert "-Xms1228m" in args  # 60 % of 2048 MB
    assert "-XX:MaxDirectMemorySize=204m" in args  # 10 % of 2048 MB
    assert "-Dmanagement.server.address=127.0.0.1" in args
    assert run.first("web", "env").detail == "ADMIN_PASSWORD=s3cret-web"
    assert "s3cret" not in run.output()
    run.wait_for(lambda: bool(run.find("web", "connect")), what="the web reaching HBase")
    assert run.find("collector", "start") == run.find("hbase-master", "start") == []
    healthy = run.healthcheck()
    assert (healthy.returncode, healthy.stdout.strip()) == (0, "healthy: web")
    supervisors.trigger("web.broken")
    try:
        assert run.healthcheck().returncode == 1
    finally:
        (supervisors.state / "web.broken").unlink()
    assert run.stop() == 0


def test_server_role_boot_budget_and_its_dead_server(supervisors: Supervisors) -> None:
    never = supervisors.launch(
        PINPOINT_ROLE="collector",
        PINPOINT_HBASE_ZOOKEEPER_QUORUM=QUORUM,
        STANDIN_COLLECTOR_READY_AFTER="120",
        PINPOINT_BOOT_TIMEOUT_SECONDS="2",
    )
    assert never.wait_exit() == 1
    assert "boot did not complete within 2s (PINPOINT_BOOT_TIMEOUT_SECONDS): still waiting for collector" in (
        never.output()
    )

    dying = supervisors.launch(
        PINPOINT_ROLE="web", PINPOINT_HBASE_ZOOKEEPER_QUORUM=QUORUM, STANDIN_WEB_EXIT_AFTER="1:9"
    )
    assert dying.wait_exit() == 9
    assert "web exited unexpectedly with status 9" in dying.output()


@pytest.mark.parametrize("role", ["collector", "web"])
def test_a_server_started_while_hbase_is_unreachable_ends_with_one_line_saying_why(
    supervisors: Supervisors, role: str
) -> None:
    """Pinpoint 3.1 does not wait for HBase: the Spring context fails at start-up and the JVM
    exits 0 (real web 3.0.1, same code: 53-76 s after its start; the stand-in waits 1 s)."""
    run = supervisors.launch(
        PINPOINT_ROLE=role,
        PINPOINT_HBASE_ZOOKEEPER_QUORUM=QUORUM,
        **{f"STANDIN_{role.upper()}_HBASE_TIMEOUT": "1"},
    )

    assert run.wait_exit() == 1
    assert run.find(role, "context-failed")
    out = run.output()
    assert (
        f"[supervisor] {role} exited unexpectedly with status 0 (last error: creating bean "
        "'hbaseAsyncConnection': java.util.concurrent.TimeoutException); stopping the others"
    ) in out
    assert "boot complete" not in out
    assert "boot did not complete" not in out  # it ended on its own, long before the budget


@pytest.mark.parametrize(
    ("role", "memory", "message"),
    [
        ("collector", "1000", "is below the 1024 MB the collector role needs"),
        ("web", "1000", "is below the 1024 MB the web role needs"),
        ("hbase", "2000", "is below the 2048 MB the hbase role needs"),
    ],
)
def test_each_role_has_its_memory_floor(
    launch: Callable[..., Run], role: str, memory: str, message: str
) -> None:
    run = launch(PINPOINT_ROLE=role, PINPOINT_HBASE_ZOOKEEPER_QUORUM=QUORUM, CONTAINER_MEMORY_MB=memory)
    assert run.wait_exit(timeout=10) == 1
    assert message in run.output()

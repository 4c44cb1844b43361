"""PINPOINT_ROLE on the local engine: the distributed topology in miniature, one image.

Three long-running containers on one user-defined Docker network — ``hbase`` (standalone, real
HBase reachable by name), ``collector`` and ``web`` — plus ``bootstrap`` runs to completion, all
from the image tests/integration/pinpoint_harness.py builds. Every HBase client here is the real
one (the table tool; the stand-in servers load the image's HBase jars), going the way the real
servers go: hbase.client.* -> the ZooKeeper quorum -> the master and region server at the names
registered in ZooKeeper, resolved on the network. Only the hbase container runs HBase, so the
tables it then holds came through the network.
"""

from __future__ import annotations

import json
import re
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import docker.models.networks
import pytest

from tests import hbase_reasons
from tests.integration.pinpoint_harness import (
    TABLES,
    Container,
    data_dir,
    hbase_role,
    probe_classes,
    removed_after,
    stand_in_image,
    stand_in_mirror,
)

RUN_ID = uuid.uuid4().hex[:8]
HBASE_NAME = f"pp-roles-hbase-{RUN_ID}"  # container name = host name = advertised name
QUORUM = f"{HBASE_NAME}:2181"
ECS_STOP_TIMEOUT = 120


@pytest.fixture(scope="module")
def pinpoint_image(
    docker_client: docker.DockerClient,
    jre_base_image: str,
    jdk_base_image: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    with (
        stand_in_mirror(tmp_path_factory) as (root, url),
        stand_in_image(docker_client, jre_base_image, root, url) as image,
    ):
        yield image


@dataclass
class Cluster:
    client: docker.DockerClient
    image: str
    network: docker.models.networks.Network
    hbase: Container
    started: list[Container]

    def run(self, role: str, **environment: str) -> Container:
        """A container of ``role`` on the cluster's network, pointed at the hbase container."""
        container = Container(
            self.client,
            self.image,
            environment={"PINPOINT_ROLE": role, "PINPOINT_HBASE_ZOOKEEPER_QUORUM": QUORUM, **environment},
            network=self.network.name,
            name=f"pp-roles-{role}-{RUN_ID}-{uuid.uuid4().hex[:4]}",
            mem_limit="1g",
            ports={"8080/tcp": ("127.0.0.1", None)} if role == "web" else {},
        )
        self.started.append(container)
        return container


@pytest.fixture(scope="module")
def cluster(
    docker_client: docker.DockerClient, pinpoint_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    network = docker_client.networks.create(f"pp-roles-{RUN_ID}", driver="bridge")
    try:
        with removed_after() as started:
            hbase = hbase_role(
                docker_client,
                pinpoint_image,
                network=network.name,
                name=HBASE_NAME,
                data=data_dir(tmp_path_factory.mktemp("roles")),
                probe_dir=probe_classes(tmp_path_factory.mktemp("probe")),
            )
            started.append(hbase)
            hbase.wait_healthy(timeout=300)
            yield Cluster(docker_client, pinpoint_image, network, hbase, started)
    finally:
        network.remove()


def test_hbase_role_listens_for_other_containers_and_advertises_its_name(cluster: Cluster) -> None:
    hbase = cluster.hbase
    logs = hbase.logs()
    assert "[supervisor] role hbase" in logs
    assert f"advertised as {HBASE_NAME}" in logs
    assert "heaps: hbase 1024 MB (+256 MB direct)" in logs  # 50 % of the 2 GB limit
    # conf-network/hbase-site.xml: ZooKeeper, master and region server RPC and the info
    # server on every interface; the name in ZooKeeper is the container's (resolvable) name.
    listening = hbase.listening()
    for port in (2181, 16000, 16010, 16020):
        assert listening.get(port) == {"0.0.0.0"}, (port, listening)
    query = "http://127.0.0.1:16010/jmx?qry=Hadoop:service=HBase,name=Master,sub=Server"
    (master,) = json.loads(hbase.exec("curl", "-s", query)[1])["beans"]
    assert master["tag.serverName"].startswith(f"{HBASE_NAME},16000,"), master
    assert master["tag.liveRegionServers"].startswith(f"{HBASE_NAME},16020,"), master
    # HBase only: no Pinpoint server, no table made by this container.
    assert "starting collector" not in logs and "starting web" not in logs  # noqa: PT018
    assert hbase.tables() == {}
    assert hbase.exec("/usr/local/bin/pinpoint-healthcheck") == (0, "healthy: hbase\n")


def test_bootstrap_creates_the_tables_through_the_network_once_and_then_changes_ttls(
    cluster: Cluster,
) -> None:
    first = cluster.run(
        "bootstrap", PINPOINT_TTL_TRACE_SECONDS="86400", PINPOINT_HBASE_UNIFORM_SPLIT_REGIONS="4"
    )
    assert first.wait_exit(timeout=300) == 0, first.logs()
    logs = first.logs()
    assert "[supervisor] bootstrap complete in" in logs
    assert "bootstrap failed" not in logs
    assert "pinpoint-bootstrap:done created 22 table(s), changed 0 families" in logs
    # The tables are in the hbase container's HBase: the bootstrap has none of its own.
    tables = cluster.hbase.tables()
    assert {name.split(":")[0] for name in tables} == set(TABLES)
    assert tables["TraceV2:S"]["ttl"] == "86400"
    assert tables["TraceV2:S"]["regions"] == "4"

    # Run again (a re-run of the custom resource): nothing to do.
    second = cluster.run(
        "bootstrap", PINPOINT_TTL_TRACE_SECONDS="86400", PINPOINT_HBASE_UNIFORM_SPLIT_REGIONS="4"
    )
    assert second.wait_exit(timeout=300) == 0, second.logs()
    assert "pinpoint-bootstrap:nothing-missing all Pinpoint tables exist with their TTLs" in second.logs()

    # hbase_ttl_days changed: the existing tables take the new TTLs; the pre-split of existing
    # tables stays as created.
    third = cluster.run(
        "bootstrap", PINPOINT_TTL_TRACE_SECONDS="172800", PINPOINT_HBASE_UNIFORM_SPLIT_REGIONS="8"
    )
    assert third.wait_exit(timeout=300) == 0, third.logs()
    assert "pinpoint-bootstrap:done created 0 table(s), changed 5 families" in third.logs()
    tables = cluster.hbase.tables()
    assert tables["TraceV2:S"]["ttl"] == "172800"
    assert tables["ApplicationTraceIndex:M"]["ttl"] == "172800"
    assert tables["TraceV2:S"]["regions"] == "4"


def test_collector_and_web_reach_hbase_by_name(cluster: Cluster) -> None:
    # The first quorum entry is gone and names another port: HBase keeps each entry's own port,
    # so the client falls through to the second entry on 2181.
    collector = cluster.run("collector", PINPOINT_HBASE_ZOOKEEPER_QUORUM=f"zk-gone-{RUN_ID}:2999,{QUORUM}")
    web = cluster.run("web", PINPOINT_WEB_ADMIN_PASSWORD="roles-secret")
    collector.wait_healthy()
    web.wait_healthy()

    for server, container, quorum in (
        ("collector", collector, f"zk-gone-{RUN_ID}:2999,{QUORUM}"),
        ("web", web, QUORUM),
    ):
        # v3.1.0's start-up check through the real client: ZooKeeper by the quorum, the master
        # and then the region server (hbase:meta) at the names they registered.
        container.wait_log(
            rf"\[{server}\] standin {server} reached HBase \S+: ZooKeeper {re.escape(quorum)} \(znode /hbase\), "
            r"1 live region server\(s\), hbase:meta read",
            timeout=60,
        )
        assert container.exec("/usr/local/bin/pinpoint-healthcheck") == (0, f"healthy: {server}\n")
    assert "starting web" not in collector.logs() and "starting hbase" not in collector.logs()  # noqa: PT018
    assert "starting collector" not in web.logs()
    # The web UI answers on its published port (the load balancer's view).
    url = f"http://127.0.0.1:{web.host_port('8080/tcp')}/api-public/serverTime"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert "currentServerTime" in json.loads(response.read())
    # The collector's agent port takes connections from the network (the agents' view).
    with socket.create_connection((collector.ip_address(cluster.network.name), 9991), timeout=5):
        pass

    for container in (collector, web):
        container.inner.stop(timeout=ECS_STOP_TIMEOUT)
        assert container.wait_exit(timeout=10) == 0, container.logs()


@pytest.mark.parametrize(
    ("quorum", "znode", "reason"),
    [
        # A name nothing resolves: the table tool says so, within seconds of each attempt.
        (f"zk-gone-{RUN_ID}:2181", "/hbase", hbase_reasons.quorum_unresolved(f"zk-gone-{RUN_ID}:2181")),
        # The host is there, nothing listens on that port.
        (f"{HBASE_NAME}:2999", "/hbase", hbase_reasons.quorum_refused(f"{HBASE_NAME}:2999")),
        # The HBase answers, under another parent znode.
        (QUORUM, "/hbase-unsecure", hbase_reasons.wrong_parent_znode("/hbase-unsecure")),
    ],
)
def test_bootstrap_without_a_reachable_hbase_fails_with_one_line(
    cluster: Cluster, quorum: str, znode: str, reason: str
) -> None:
    failed = cluster.run(
        "bootstrap",
        PINPOINT_HBASE_ZOOKEEPER_QUORUM=quorum,
        PINPOINT_HBASE_ZNODE_PARENT=znode,
        PINPOINT_BOOT_TIMEOUT_SECONDS="20",
    )
    assert failed.wait_exit(timeout=120) == 1
    lines = [line for line in failed.logs().splitlines() if line.startswith("bootstrap failed:")]
    assert len(lines) == 1, failed.logs()
    print(f"\nreal bootstrap failure line: {lines[0]}")
    assert lines[0].startswith(
        f"bootstrap failed: the HBase at {quorum} (znode {znode}) was not ready within 20s"
    )
    assert reason in lines[0]
    assert failed.logs().rstrip().endswith(lines[0])  # the last thing it says


def test_a_server_started_while_hbase_is_unreachable_ends_within_the_boot_budget(cluster: Cluster) -> None:
    """v3.1.0's collector and web do not wait for HBase: the start-up check ends the Spring
    context, the supervisor ends the container with one line naming why."""
    collector = cluster.run("collector", PINPOINT_HBASE_ZOOKEEPER_QUORUM=f"zk-gone-{RUN_ID}:2181")
    assert collector.wait_exit(timeout=240) == 1
    logs = collector.logs()
    (line,) = [line for line in logs.splitlines() if "exited unexpectedly" in line]
    print(f"\nserver failure line (stand-in collector, real HBase client): {line}")
    # The root cause the client logged (the supervisor's exit reason), not a bare exit status.
    assert line.startswith("[supervisor] collector exited unexpectedly with status 1 (last error: ")
    assert f"UnknownHostException: zk-gone-{RUN_ID}" in line
    assert "standin collector: Application run failed: HbaseVersionCheckBean" in logs


def test_hbase_role_stops_cleanly(cluster: Cluster) -> None:
    cluster.hbase.inner.stop(timeout=ECS_STOP_TIMEOUT)
    assert cluster.hbase.wait_exit(timeout=10) == 0, cluster.hbase.logs()
    logs = cluster.hbase.logs()
    assert (
        logs.index("[supervisor] flush complete")
        < logs.index("[supervisor] stopping HBase (master stop --shutDownCluster)")
        < logs.index("[supervisor] HBase stopped cleanly (cluster shutdown)")
    )


def test_unknown_role_is_refused(
    docker_client: docker.DockerClient, pinpoint_image: str, tmp_path: Path
) -> None:
    output = docker_client.containers.run(
        pinpoint_image,
        environment={"PINPOINT_ROLE": "worker"},
        remove=False,
        detach=True,
        network_mode="none",
    )
    try:
        assert output.wait(timeout=60)["StatusCode"] == 2
        assert "PINPOINT_ROLE must be one of: all-in-one, collector, web, bootstrap, hbase; got 'worker'" in (
            output.logs().decode()
        )
    finally:
        output.remove(force=True)

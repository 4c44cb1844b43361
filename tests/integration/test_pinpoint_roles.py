"""PINPOINT_ROLE on the local engine: the distributed topology in miniature, one image.

Three long-running containers on one user-defined Docker network — ``hbase`` (standalone HBase
reachable by name), ``collector`` and ``web`` — plus ``bootstrap`` runs to completion, all from
the image tests/integration/pinpoint_harness.py builds from stand-ins. The stand-ins connect the
way the real servers do (hbase.client.* -> ZooKeeper quorum -> the master and region server at
the names registered in ZooKeeper, resolved by the client), so the test proves the wiring:
the hbase container notes every request with the caller's address, and the test asserts that
the collector's, web's and bootstrap's own addresses reached its ZooKeeper and RPC ports.
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

from tests.integration.pinpoint_harness import (
    TABLES,
    Container,
    data_dir,
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
    docker_client: docker.DockerClient, jre_base_image: str, tmp_path_factory: pytest.TempPathFactory
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

    def requests_from(self, container: Container, *, since: int = 0) -> list[str]:
        """What the hbase container noted from ``container``'s address: '<kind> <request>'
        (from line ``since`` of its log on: an exited job's address is handed out again).

        The address is the container's on the network, or (a job that has exited and given its
        address back) the one its stand-in HBase client reported connecting from.
        """
        reported = re.search(
            r"stand-in hbase client: ZooKeeper \S+ \(znode \S+\) from (\S+),", container.logs()
        )
        address = reported.group(1) if reported else container.ip_address(self.network.name)
        return [
            f"{fields[1]} {' '.join(fields[3:])}"
            for fields in (line.split() for line in self.hbase.ddl_log()[since:])
            if len(fields) > 3 and fields[2] == address
        ]


@pytest.fixture(scope="module")
def cluster(
    docker_client: docker.DockerClient, pinpoint_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    network = docker_client.networks.create(f"pp-roles-{RUN_ID}", driver="bridge")
    try:
        with removed_after() as started:
            hbase = Container(
                docker_client,
                pinpoint_image,
                data=data_dir(tmp_path_factory.mktemp("roles")),
                environment={"PINPOINT_ROLE": "hbase"},
                network=network.name,
                name=HBASE_NAME,
                hostname=HBASE_NAME,
                mem_limit="2g",
            )
            started.append(hbase)
            hbase.wait_healthy()
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
    (listen,) = [line for line in hbase.ddl_log() if line.split()[1] == "master-listen"]
    assert f"advertised={HBASE_NAME},{HBASE_NAME} znode=/hbase" in listen
    # HBase only: no Pinpoint server, no table made by this container.
    assert "starting collector" not in logs and "starting web" not in logs  # noqa: PT018
    assert hbase.events("create") == []
    assert hbase.exec("/usr/local/bin/pinpoint-healthcheck") == (0, "healthy: hbase\n")


def test_bootstrap_creates_the_tables_through_the_network_once(cluster: Cluster) -> None:
    first = cluster.run("bootstrap", PINPOINT_TTL_TRACE_SECONDS="86400")
    assert first.wait_exit(timeout=180) == 0, first.logs()
    logs = first.logs()
    assert "[supervisor] bootstrap complete in" in logs
    assert "bootstrap failed" not in logs
    created = sorted(line.split()[2] for line in cluster.hbase.events("create"))
    assert created == sorted(TABLES)
    # The creates came from the bootstrap container, through the quorum it was given.
    assert f"stand-in hbase client: ZooKeeper {QUORUM} (znode /hbase) from " in logs
    requests = cluster.requests_from(first)
    assert "zk get /hbase/master" in requests
    assert requests.count("master-rpc create") == len(TABLES)
    tables = cluster.hbase.data / "standin-tables"  # type: ignore[operator]
    assert "TTL => 86400" in (tables / "TraceV2").read_text()

    before = len(cluster.hbase.ddl_log())
    second = cluster.run("bootstrap")
    assert second.wait_exit(timeout=180) == 0, second.logs()
    assert "pinpoint-bootstrap:nothing-missing all Pinpoint tables exist" in second.logs()
    assert len(cluster.hbase.events("create")) == len(TABLES)
    requests = cluster.requests_from(second, since=before)
    assert "master-rpc list" in requests
    assert "master-rpc create" not in requests


def test_collector_and_web_reach_hbase_by_name(cluster: Cluster) -> None:
    # The first quorum entry is gone and names another port: HBase keeps each entry's own port,
    # so the client falls through to the second entry on 2181.
    collector = cluster.run("collector", PINPOINT_HBASE_ZOOKEEPER_QUORUM=f"zk-gone-{RUN_ID}:2999,{QUORUM}")
    web = cluster.run("web", PINPOINT_WEB_ADMIN_PASSWORD="roles-secret")
    collector.wait_healthy()
    web.wait_healthy()

    for server, container in (("collector", collector), ("web", web)):
        container.wait_log(
            rf"\[{server}\] standin {server} reached HBase: ZooKeeper {QUORUM} \(znode /hbase\), "
            rf"master {HBASE_NAME}:16000, meta on {HBASE_NAME}:16020",
            timeout=30,
        )
        # Seen from the hbase container: the server's own address asked ZooKeeper, then
        # connected to the region server at the advertised name.
        requests = cluster.requests_from(container)
        assert "zk get /hbase/meta-region-server" in requests, requests
        assert "rs-rpc ping" in requests, requests
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


def test_bootstrap_without_a_reachable_hbase_fails_with_one_line(cluster: Cluster) -> None:
    failed = cluster.run(
        "bootstrap",
        PINPOINT_HBASE_ZOOKEEPER_QUORUM=f"zk-gone-{RUN_ID}:2181",
        PINPOINT_BOOT_TIMEOUT_SECONDS="5",
    )
    assert failed.wait_exit(timeout=120) == 1
    lines = [line for line in failed.logs().splitlines() if line.startswith("bootstrap failed:")]
    assert len(lines) == 1, failed.logs()
    assert lines[0].startswith(
        f"bootstrap failed: the HBase at zk-gone-{RUN_ID}:2181 (znode /hbase) was not ready"
    )
    assert "ConnectionLoss for /hbase/master" in lines[0]
    assert failed.logs().rstrip().endswith(lines[0])  # the last thing it says


def test_hbase_role_stops_cleanly(cluster: Cluster) -> None:
    cluster.hbase.inner.stop(timeout=ECS_STOP_TIMEOUT)
    assert cluster.hbase.wait_exit(timeout=10) == 0, cluster.hbase.logs()
    events = [line.split()[1] for line in cluster.hbase.ddl_log()]
    assert events.index("flush") < events.index("master-stop") < events.index("master-exit")
    assert "[supervisor] HBase stopped cleanly (cluster shutdown)" in cluster.hbase.logs()


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

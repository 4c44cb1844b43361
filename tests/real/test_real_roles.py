"""The distributed roles with the real web: ``hbase``, ``bootstrap`` and ``web`` (the real 3.0.1 web)
as three containers of the real image on one Docker network, the way ``hbase_mode=emr|external``
runs them (stacks/constructs/pinpoint_service.py: PINPOINT_ROLE plus the quorum and znode).

The integration tier proves the same network path with the real HBase client inside the web
stand-in (tests/integration/test_pinpoint_roles.py); here the real web's own HBase connection
(hbaseAsyncConnection, HbaseVersionCheckBean) resolves the names HBase registered in ZooKeeper
and reads what the bootstrap role created, and the web role stops cleanly by SIGTERM. No Pinpoint
collector of any 3.x version is on Maven Central, so the collector role stays with the integration
tier.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.integration.pinpoint_harness import Container, data_dir, hbase_role, removed_after
from tests.real.conftest import REAL_VERSION

RUN_ID = uuid.uuid4().hex[:8]
HBASE_NAME = f"pp-real-roles-hbase-{RUN_ID}"  # container name = host name = advertised name
QUORUM = f"{HBASE_NAME}:2181"
APPLICATION = "real-roles-app"
STAND_ALONE = 1000  # commons/.../trace/ServiceType.java (v3.0.1): 1000 STAND_ALONE
STOP_BUDGET = 20  # the supervisor's PINPOINT_STOP_TIMEOUT_SECONDS default (web and collector)


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        return json.loads(response.read().decode())


@pytest.fixture(scope="module")
def network(docker_client: docker.DockerClient) -> Iterator[str]:
    created = docker_client.networks.create(f"pp-real-roles-{RUN_ID}", driver="bridge")
    try:
        yield created.name
    finally:
        created.remove()


def test_the_real_web_role_reads_what_the_bootstrap_role_created_in_the_hbase_role(
    docker_client: docker.DockerClient,
    real_image: str,
    probe: Path,
    network: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with removed_after() as started:
        hbase = hbase_role(
            docker_client,
            real_image,
            network=network,
            name=HBASE_NAME,
            data=data_dir(tmp_path_factory.mktemp("real-roles")),
            probe_dir=probe,
        )
        started.append(hbase)
        hbase.wait_healthy(timeout=300)

        def role(name: str, **environment: str) -> Container:
            container = Container(
                docker_client,
                real_image,
                environment={
                    "PINPOINT_ROLE": name,
                    "PINPOINT_HBASE_ZOOKEEPER_QUORUM": QUORUM,
                    "PINPOINT_BOOT_TIMEOUT_SECONDS": "240",
                    **environment,
                },
                network=network,
                name=f"pp-real-roles-{name}-{RUN_ID}",
                mem_limit="2g",
                ports={"8080/tcp": ("127.0.0.1", None)} if name == "web" else {},
            )
            started.append(container)
            return container

        bootstrap = role("bootstrap", PINPOINT_HBASE_UNIFORM_SPLIT_REGIONS="4")
        assert bootstrap.wait_exit(timeout=300) == 0, bootstrap.logs()
        assert "pinpoint-bootstrap:done created 22 table(s)" in bootstrap.logs()
        # An application registered as the collector registers one (ApplicationIndex: row = name,
        # family Agents, qualifier = agent id, value = service type; v3.0.1 ApplicationNameMapper).
        hbase.probe("put-short", "ApplicationIndex", APPLICATION, "Agents", "real-agent-1", str(STAND_ALONE))

        web = role("web", PINPOINT_WEB_ADMIN_PASSWORD="real-tier-secret")
        boot = web.wait_healthy(timeout=300)
        print(f"\nreal web {REAL_VERSION} as role web, HBase by name on the network: healthy in {boot:.0f}s")
        logs = web.logs()
        assert f"ZooKeeper quorum {QUORUM}" in logs
        web.wait_log(r"\[supervisor\] boot complete in \d+s: web answers", timeout=30)
        base = f"http://127.0.0.1:{web.host_port('8080/tcp')}"
        applications = get_json(f"{base}/api/applications")
        assert isinstance(applications, list)
        assert {"applicationName": APPLICATION, "serviceType": "STAND_ALONE"}.items() <= next(
            app for app in applications if app["applicationName"] == APPLICATION
        ).items()
        # The web role has no HBase of its own: nothing listens on ZooKeeper's port in it.
        assert 2181 not in web.listening()

        # SIGTERM (ECS stopping the web service's task): the web stops within the supervisor's
        # budget, exit 0, without being killed.
        stopping = time.monotonic()
        web.inner.stop(timeout=120)
        assert web.wait_exit(timeout=10) == 0, web.logs()
        seconds = time.monotonic() - stopping
        print(f"real web {REAL_VERSION} as role web: stopped by SIGTERM in {seconds:.1f}s")
        assert seconds < STOP_BUDGET + 5, web.logs()[-3000:]
        assert "did not stop within" not in web.logs()

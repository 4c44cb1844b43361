"""The real Pinpoint web (3.0.1, the newest Maven Central serves) on real HBase, in the image, with
the supervisor's options: what issue-level facts the stand-ins assume, seen on the real code.

The all-in-one runs the real web and HBase and the stand-in collector (no Pinpoint collector of
any 3.x version is on Maven Central). What 3.0.1 does differently from the 3.1.0 the image ships
(read in both tags) is said where it matters: images/pinpoint/README.md "Collector and web".
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from tests.integration.conftest import free_port, wait_for_http
from tests.integration.pinpoint_harness import Container, data_dir, removed_after, standin_jar
from tests.real.conftest import REAL_VERSION
from tests.unit.pinpoint_standins.harness import STANDINS

UNIT_STANDIN = STANDINS / "java"

ECS_STOP_TIMEOUT = 120
# What the deployment passes (stacks/constructs/pinpoint_service.py), with fewer pre-split regions
# (boot time) and faster HBase checks.
CONTAINER_ENV = {
    "PINPOINT_BOOT_TIMEOUT_SECONDS": "240",
    "PINPOINT_WEB_ADMIN_PASSWORD": "real-tier-secret",
    "PINPOINT_HBASE_UNIFORM_SPLIT_REGIONS": "8",
    "PINPOINT_HBASE_CHECK_INTERVAL_SECONDS": "5",
    # 3.0.1 only: its server.error.path (/api/error) has no handler, so every error page is an
    # empty 404; 3.1.0 serves /api/error (CustomExceptionHandler). The experiment's path shows
    # what the error page carries.
    "PINPOINT_WEB_JAVA_OPTS": "-Dserver.error.path=/api-public/error",
}
APPLICATION = "real-tier-app"
# commons/.../trace/ServiceType.java (v3.0.1): 1000 STAND_ALONE.
STAND_ALONE = 1000


@pytest.fixture
def containers() -> Iterator[list[Container]]:
    with removed_after() as started:
        yield started


def request(url: str) -> tuple[int, str, str]:
    """(status, content type, body) whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read().decode()


def all_in_one(client: docker.DockerClient, image: str, data: Path, probe: Path) -> Container:
    return Container(
        client,
        image,
        data=data,
        environment=CONTAINER_ENV,
        mem_limit="4g",
        probe_dir=probe,
        ports={"8080/tcp": ("127.0.0.1", None)},
    )


@dataclass
class RealWeb:
    client: docker.DockerClient
    image: str
    probe: Path
    data: Path
    container: Container

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.container.host_port('8080/tcp')}"


@pytest.fixture(scope="module")
def real_web(
    request: pytest.FixtureRequest, real_image: str, probe: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealWeb]:
    """One all-in-one with the real web, booted once for the module (its last test stops it)."""
    client: docker.DockerClient = request.getfixturevalue("docker_client")
    data = data_dir(tmp_path_factory.mktemp("real-web"))
    with removed_after() as started:
        container = all_in_one(client, real_image, data, probe)
        started.append(container)
        boot = container.wait_healthy(timeout=420)
        print(f"\nboot time (real HBase + real web {REAL_VERSION}, first start, 22 tables): {boot:.1f}s")
        yield RealWeb(client, real_image, probe, data, container)


def test_the_real_web_on_real_hbase_serves_the_ui_the_api_and_our_options(real_web: RealWeb) -> None:
    base = real_web.base
    first = real_web.container
    assert "[web] " in first.logs()

    # The 2.x health-check path is the UI now (VersionPrefixRewriter: identical in v3.0.1 and
    # v3.1.0): 200 with index.html whatever the app's state. The JSON is /api-public/serverTime,
    # what the ALB checks.
    status, kind, body = request(f"{base}/serverTime")
    assert status == 200
    assert kind.startswith("text/html")
    assert "<title>PINPOINT</title>" in body
    status, kind, body = request(f"{base}/api-public/serverTime")
    assert status == 200
    assert kind.startswith("application/json")
    assert isinstance(json.loads(body)["currentServerTime"], int)

    # UI switches of features without a backend are off (pinpoint.sh's options).
    status, _, body = request(f"{base}/api/configuration")
    assert status == 200
    configuration = json.loads(body)
    assert "webhookEnable" not in configuration  # the webhook module is not installed
    assert configuration["editUserInfo"] is False
    assert configuration["showActiveThread"] is False
    assert configuration["showActiveThreadDump"] is False
    assert configuration["sendUsage"] is False
    assert "Install WebhookModule" not in first.logs()

    # The web reads the tables the table tool created: an application registered the way the
    # collector registers one (ApplicationIndex: row = name, family Agents, qualifier = agent id,
    # value = service type code; v3.0.1 web ApplicationNameMapper) is listed by its API.
    first.probe("put-short", "ApplicationIndex", APPLICATION, "Agents", "real-agent-1", str(STAND_ALONE))
    status, _, body = request(f"{base}/api/applications")
    assert status == 200, body
    assert {"applicationName": APPLICATION, "serviceType": "STAND_ALONE"}.items() <= next(
        app for app in json.loads(body) if app["applicationName"] == APPLICATION
    ).items()

    # No MySQL pool retrying in the background (minimum-idle 0): nothing connects where the
    # release profile's jdbc-url points (jdbc:mysql://localhost:13306/pinpoint) for 30 s; the
    # stock pool made one connection every 5 s there (seen by hand: 24 in 80 s).
    assert first.probe("13306", "30", program="PortCounter") == "probe: connections 0"

    # An error page without a stack trace (server.error.include-stacktrace=never), even when
    # the request asks for one.
    status, _, body = request(f"{base}/api/transactionInfo?traceId=not-a-trace-id&trace=true")
    assert status >= 400
    problem = json.loads(body)
    assert "trace" not in problem  # the stack trace's key (the request's own parameters are echoed)
    assert "\tat " not in body


# The calls every web stand-in must answer as the real web does: path -> what is compared.
SAME_ANSWERS = ("/serverTime", "/api-public/serverTime", "/api/configuration")


# The configuration switches the project sets and its tests rely on ("absent": not exported).
SWITCHES = ("webhookEnable", "editUserInfo", "showActiveThread", "showActiveThreadDump", "sendUsage")


def answer(status: int, kind: str, body: str) -> tuple[int, str, object]:
    """What must agree: the status, the media type, and the JSON's keys (the configuration: the
    project's switches), or for the UI, that it is the index page."""
    media = kind.split(";", maxsplit=1)[0].strip()
    if media != "application/json":
        return status, media, "index.html" if "<html" in body.lower() else body[:40]
    data = json.loads(body)
    if "editUserInfo" in data:
        return status, media, {key: data.get(key, "absent") for key in SWITCHES}
    return status, media, sorted(data)


def test_the_web_stand_ins_answer_as_the_real_web_does(real_web: RealWeb, tmp_path: Path) -> None:
    """The unit tier's stand-in (tests/unit/pinpoint_standins/java) and the image tests'
    (StandinPinpoint.java), given the options the supervisor gave the real web, answer the same
    calls the same way: they cannot drift from the real thing unnoticed."""
    real = {path: answer(*request(f"{real_web.base}{path}")) for path in SAME_ANSWERS}
    options = [
        arg
        for arg in real_web.container.command_line("/opt/pinpoint/pinpoint-web.jar")
        if arg.startswith("-D")
    ]
    assert "-Dpinpoint.modules.web.webhook=false" in options  # the supervisor's own options

    # The unit tier's stand-in, on this machine, with a stand-in HBase it can reach.
    port, management = free_port(), free_port()
    moved = [o for o in options if not o.startswith(("-Dserver.port=", "-Dmanagement.server.port="))]
    state = tmp_path / "state"
    state.mkdir()
    (state / "zookeeper.json").write_text(
        json.dumps(
            {
                "names": ["127.0.0.1", "localhost"],
                "port": 2181,
                "znode": "/hbase",
                "master": "localhost:16000",
            }
        )
    )
    (state / "master.started").write_text(str(time.time()))
    python_dir = tmp_path / "bin"
    python_dir.mkdir()
    (python_dir / "python3").symlink_to(sys.executable)
    unit = subprocess.Popen(
        [
            str(UNIT_STANDIN),
            *moved,
            f"-Dserver.port={port}",
            f"-Dmanagement.server.port={management}",
            "-jar",
            str(tmp_path / "pinpoint-web.jar"),
        ],
        env={
            "PATH": f"{python_dir}:{os.environ['PATH']}",
            "STANDIN_EVENTS": str(tmp_path / "events.log"),
            "STANDIN_STATE": str(state),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api-public/serverTime", timeout=30)
        unit_answers = {path: answer(*request(f"http://127.0.0.1:{port}{path}")) for path in SAME_ANSWERS}
    finally:
        unit.terminate()
        unit.wait(timeout=10)
    assert unit_answers == real

    # The image tests' stand-in, in the real container beside the real web (it checks the
    # container's HBase at start-up, as the real one does).
    container = real_web.container
    jar = standin_jar(tmp_path / "standin")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        tar.add(jar, arcname="standin.jar")
    container.inner.put_archive("/tmp", archive.getvalue())
    integration_port = 18080
    container.inner.exec_run(
        [
            "java",
            *moved,
            f"-Dserver.port={integration_port}",
            "-Dmanagement.server.port=18443",
            "-jar",
            "/tmp/standin.jar",
        ],
        detach=True,
    )
    integration: dict[str, tuple[int, str, object]] = {}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(integration) < len(SAME_ANSWERS):
        for path in SAME_ANSWERS:
            status, output = container.exec(
                "curl",
                "-s",
                "-o",
                "/tmp/body",
                "-w",
                "%{http_code} %{content_type}",
                f"http://127.0.0.1:{integration_port}{path}",
            )
            code, _, kind = output.partition(" ")
            if status == 0 and code != "000":
                integration[path] = answer(int(code), kind, container.exec("cat", "/tmp/body")[1])
        time.sleep(1)
    assert integration == real


def test_a_clean_stop_and_a_restart_on_the_same_data_keep_what_the_web_shows(real_web: RealWeb) -> None:
    first = real_web.container
    first.inner.stop(timeout=ECS_STOP_TIMEOUT)
    assert first.wait_exit(timeout=10) == 0, first.logs()
    assert "[supervisor] HBase stopped cleanly (cluster shutdown)" in first.logs()
    with removed_after() as started:
        second = all_in_one(real_web.client, real_web.image, real_web.data, real_web.probe)
        started.append(second)
        restart = second.wait_healthy(timeout=420)
        print(f"\nboot time (real HBase + real web {REAL_VERSION}, restart): {restart:.1f}s")
        status, _, body = request(f"http://127.0.0.1:{second.host_port('8080/tcp')}/api/applications")
        assert status == 200
        assert APPLICATION in [app["applicationName"] for app in json.loads(body)]
    image = real_web.client.images.get(real_web.image)
    print(f"image size (real HBase + real web {REAL_VERSION}): {image.attrs['Size'] / 2**20:.0f} MiB")


def test_the_real_web_started_while_hbase_is_unreachable_ends_within_the_boot_budget(
    docker_client: docker.DockerClient, real_image: str, containers: list[Container]
) -> None:
    """v3.0.1 and v3.1.0 web do not wait for HBase (the async connection and HbaseVersionCheckBean
    end the Spring context): the container ends, in budget, with one line saying why."""
    web = Container(
        docker_client,
        real_image,
        environment={
            "PINPOINT_ROLE": "web",
            # A host that takes no connection on 2181: the client's ZooKeeper retries run out.
            "PINPOINT_HBASE_ZOOKEEPER_QUORUM": "127.0.0.1:2181",
            "PINPOINT_BOOT_TIMEOUT_SECONDS": "240",
        },
        mem_limit="2g",
        network_mode="none",
    )
    containers.append(web)
    started = time.monotonic()
    assert web.wait_exit(timeout=300) == 1
    seconds = time.monotonic() - started
    logs = web.logs()
    (line,) = [line for line in logs.splitlines() if "exited unexpectedly" in line]
    print(f"\nreal web, HBase unreachable: ended after {seconds:.0f}s: {line}")
    assert seconds < 240
    assert line.startswith("[supervisor] web exited unexpectedly with status 0 (last error: ")
    assert "Application run failed" in logs

"""`make local` on the real components: the real agent (3.0.1, the newest Maven Central serves)
laid out by the deploy's own distributor, loaded by the sample app with the stack's APM_OPTS from
a read-only mount, next to the image built from real HBase and the real web.

The trace cannot travel further here: no Pinpoint collector of any 3.x version is on Maven
Central, so the image's collector is the stand-in (it takes TCP connections on 9991-9993 and
speaks no gRPC). What the real agent shows is its configuration as the distributor wrote it,
and that it reaches for the collector at the Service Connect name.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from tests.integration.conftest import free_port
from tests.integration.pinpoint_harness import remove_image
from tests.integration.test_local import Local
from tests.real.conftest import REAL_VERSION

NAME = f"pp-real-{int(time.time()) % 100000}"


@pytest.fixture(scope="module")
def local(request: pytest.FixtureRequest, real_mirror: tuple[Path, str]) -> Iterator[Local]:
    client: docker.DockerClient = request.getfixturevalue("docker_client")
    jre = request.getfixturevalue("jre_base_image")
    jdk = request.getfixturevalue("jdk_base_image")
    _, url = real_mirror
    workdir = Path(tempfile.mkdtemp(prefix="make-local-real-"))
    config_dir = workdir / "config"
    config_dir.mkdir()
    # As a user of a mirror writes it; `make local` pins every checksum on first use.
    (config_dir / "default.json").write_text(
        json.dumps(
            {
                "pinpoint_version": REAL_VERSION,
                "agent_download_base_url": f"{url}/github",
                "image_build_args": {"PINPOINT_BASE_URL": f"{url}/github", "HBASE_BASE_URL": f"{url}/hbase"},
            }
        )
    )
    setup = Local(
        config_dir=config_dir,
        state_dir=workdir / "state",
        web_port=free_port(),
        app_port=free_port(),
        args=[],
    )
    setup.args = [
        "--config-dir", str(config_dir),
        "--name", NAME,
        "--state-dir", str(setup.state_dir),
        "--web-port", str(setup.web_port),
        "--app-port", str(setup.app_port),
        "--no-collector-ports",
        "--build-network", "host",
        "--memory-mb", "4096",
        "--build-arg", f"BASE_IMAGE={jre}",
        "--build-arg", f"JDK_IMAGE={jdk}",
        "--app-build-arg", f"JDK_IMAGE={jdk}",
        "--app-build-arg", f"BASE_IMAGE={jre}",
    ]  # fmt: skip
    try:
        yield setup
    finally:
        setup.run("down", "--name", NAME, "--state-dir", str(setup.state_dir), "--volumes")
        for image in (f"{NAME}/pinpoint:latest", f"{NAME}/sample-app:latest"):
            remove_image(client, image)
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            client.volumes.get(f"{NAME}-hbase-data").remove(force=True)
        shutil.rmtree(workdir, ignore_errors=True)


def test_the_real_agent_runs_in_the_sample_app_with_the_deploys_settings(
    docker_client: docker.DockerClient, local: Local
) -> None:
    started = local.up()
    assert started.returncode == 0, started.stderr[-5000:]
    assert "[supervisor] boot complete in" in started.stderr

    with urllib.request.urlopen(f"http://127.0.0.1:{local.app_port}/hello", timeout=10) as response:
        hello = response.read().decode()
    assert hello.startswith("hello from sample-app (agentId ")

    # Give the agent time to report to the collector (its first agent-info send is immediate,
    # then retried every few seconds).
    app = docker_client.containers.get(f"{NAME}-sample-app")
    deadline = time.monotonic() + 60
    logs = ""
    while time.monotonic() < deadline:
        logs = app.logs().decode(errors="replace")
        if "pinpoint agent started normally" in logs and "AgentInfoSender" in logs:
            break
        time.sleep(2)
    print("\n".join(line for line in logs.splitlines() if "INFO  " not in line or "started" in line)[-3000:])
    # The real agent started from the distributor's versioned bundle, read-only, with our
    # logging (no file appender error on the read-only volume).
    assert "pinpoint agent started normally" in logs, logs[-5000:]
    assert "logPath:file:///pinpoint-agent/" in logs and "/log4j2-agent.properties" in logs  # noqa: PT018
    assert "StatusConsoleListener" not in logs
    assert "Unable to create file" not in logs
    # The agent's own banner: the release profile, the collector's Service Connect name and
    # ports (the release profile's own 127.0.0.1 overridden), the deploy's sampling.
    banner = {
        key.strip(): value.strip()
        for key, _, value in (
            line.strip(" :").partition(" :: ") for line in logs.splitlines() if " :: " in line
        )
    }
    assert banner["Pinpoint Version"] == REAL_VERSION
    assert banner["pinpoint.profiler.profiles.active"] == "release"
    assert banner["pinpoint.applicationName"] == "sample-app"
    assert banner["profiler.transport.grpc.collector.ip"] == "pinpoint"
    assert banner["profiler.transport.grpc.agent.collector.port"] == "9991"
    assert banner["profiler.transport.grpc.stat.collector.port"] == "9992"
    assert banner["profiler.transport.grpc.span.collector.port"] == "9993"
    assert banner["profiler.sampling.type"] == "PERCENT"
    # It reached the name over TCP: the stand-in collector takes the connection and closes it
    # (it speaks no gRPC), which the agent reports as a closed network, not as an unknown host
    # or a refused connection.
    assert "UNAVAILABLE: Network closed for unknown reason" in logs
    assert "UnknownHostException" not in logs
    assert "Connection refused" not in logs

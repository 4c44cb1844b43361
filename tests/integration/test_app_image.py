"""images/app on the local Docker engine: agent from a mounted "EFS" tree, or no agent at all.

The chain under test is the production one with stand-ins only at the edges:

* the agent tree is made by the real distributor (``handler.distribute``) from a stand-in
  release tarball whose bootstrap jar is a premain agent reporting what it was given;
* the Dockerfile is the template rendered by scripts/inject_apm_opts.py with a hostile value;
* the app jar is the sample app compiled here; the base image is the local JRE 17 stand-in;
* ECS's task metadata endpoint is a local HTTP server answering ``/task``.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
from docker.models.containers import Container

from stacks.constructs.agent_distribution import BOOTSTRAP_JAR, apm_opts
from stacks.versions import PINPOINT_VERSION as VERSION
from tests.integration.builds import BuildFailed, build
from tests.integration.conftest import free_port, wait_for_http
from tests.unit.test_agent_distribution_handler import SETTINGS, h, make_agent_tarball, sha512

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_DIR = REPO_ROOT / "images" / "app"
STANDINS = Path(__file__).with_name("standins") / "app"
TASK_ID = "0123456789abcdef0123456789abcdef"  # 32 hex chars, like a Fargate task id
HOSTILE_JAVA_OPTS = "-Dsample.note=a|b&c\\d -Dsample.other=x"
# What the stack's ApmOpts output says: the version-less jar, container mode.
APM_OPTS = apm_opts("/pinpoint-agent", "it-app")


def _javac_jar(sources: list[Path], out: Path, manifest: dict[str, str]) -> None:
    classes = out.parent / f"{out.stem}-classes"
    subprocess.run(["javac", "--release", "17", "-d", str(classes), *map(str, sources)], check=True)
    manifest_file = out.parent / f"{out.stem}.mf"
    manifest_file.write_text("".join(f"{key}: {value}\n" for key, value in manifest.items()))
    subprocess.run(
        ["jar", "--create", "--file", str(out), "--manifest", str(manifest_file), "-C", str(classes), "."],
        check=True,
    )


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    # World-readable: the container runs as uid 1000 and reads the bind-mounted agent tree.
    path = Path(tempfile.mkdtemp(prefix="app-image-it-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def agent_root(workdir: Path) -> Path:
    """An agent volume laid out by the real distributor from a stand-in release."""
    if shutil.which("javac") is None:
        pytest.fail("javac is needed to build the stand-in agent (apt-get install openjdk-17-jdk-headless)")
    jar = workdir / "build" / "standin-agent.jar"
    jar.parent.mkdir()
    _javac_jar([STANDINS / "StandinAgent.java"], jar, {"Premain-Class": "StandinAgent"})
    # The stand-in premain agent as the release's version-less bootstrap jar (APM_OPTS names it).
    tarball = make_agent_tarball(VERSION, extra={BOOTSTRAP_JAR: jar.read_bytes()})

    def fetch(url: str, destination: Path) -> None:
        destination.write_bytes(tarball)

    root = workdir / "efs"
    root.mkdir()
    spec = h.BundleSpec(
        version=VERSION, sha512=sha512(tarball), download_base_url="http://mirror.invalid", settings=SETTINGS
    )
    h.distribute(root, spec, fetch=fetch)
    for directory, _, files in os.walk(root):
        Path(directory).chmod(0o755)
        for name in files:
            (Path(directory) / name).chmod(0o644)
    return root


@pytest.fixture(scope="module")
def app_image(docker_client: docker.DockerClient, jre_base_image: str, workdir: Path) -> Iterator[str]:
    context = workdir / "context"
    context.mkdir()
    _javac_jar([APP_DIR / "sample" / "SampleApp.java"], context / "app.jar", {"Main-Class": "SampleApp"})
    shutil.copy2(APP_DIR / "entrypoint.sh", context / "entrypoint.sh")
    subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / "inject_apm_opts.py"),
            "--template", str(APP_DIR / "Dockerfile"),
            "--out", str(context / "Dockerfile"),
            "--set", "JAR_FILE=app.jar",
            "--set", f"JAVA_OPTS={HOSTILE_JAVA_OPTS}",
            "--set", "APM_FILE=",
            "--set", f"APM_OPTS={APM_OPTS}",
        ],
        check=True,
    )  # fmt: skip
    tag = f"local/app-image-it:{os.getpid()}"
    try:
        image = build(docker_client, context, {"BASE_IMAGE": jre_base_image}, tag=tag)
    except BuildFailed as error:
        pytest.fail(f"app image build failed: {error}\n{error.log[-3000:]}")
    yield tag
    docker_client.images.remove(image.id, force=True)


class TaskMetadata:
    """ECS task metadata endpoint v4 stand-in: ``<uri>/task`` answers the task's ARN."""

    def __init__(self) -> None:
        body = json.dumps(
            {"Cluster": "pinpoint", "TaskARN": f"arn:aws:ecs:eu-west-1:123456789012:task/pinpoint/{TASK_ID}"}
        ).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200 if self.path.endswith("/task") else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}/v4/{TASK_ID}-1234567890"


@pytest.fixture(scope="module")
def metadata() -> Iterator[TaskMetadata]:
    server = TaskMetadata()
    yield server
    server.server.shutdown()
    server.server.server_close()


def run_app(
    client: docker.DockerClient, image: str, *, environment: dict[str, str], agent_root: Path | None = None
) -> tuple[Container, int]:
    """Start the app on the host network (to reach the metadata stand-in); wait until it serves."""
    port = free_port()
    volumes = {str(agent_root): {"bind": "/pinpoint-agent", "mode": "ro"}} if agent_root else {}
    container = client.containers.run(
        image,
        detach=True,
        network_mode="host",
        environment={"PORT": str(port), **environment},
        volumes=volumes,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", timeout=60)
    except TimeoutError:
        logs = container.logs().decode(errors="replace")
        container.remove(force=True)
        pytest.fail(f"the app did not start:\n{logs}")
    return container, port


def stop_and_logs(container: Container) -> tuple[str, float, int]:
    """SIGTERM as ECS does; returns the logs, the seconds the stop took and the exit code."""
    started = time.monotonic()
    container.stop(timeout=20)
    elapsed = time.monotonic() - started
    exit_code = container.wait(timeout=30)["StatusCode"]
    logs = container.logs().decode(errors="replace")
    container.remove(force=True)
    return logs, elapsed, exit_code


def test_app_starts_with_the_agent_from_the_mounted_volume(
    docker_client: docker.DockerClient, app_image: str, agent_root: Path, metadata: TaskMetadata
) -> None:
    container, port = run_app(
        docker_client,
        app_image,
        environment={"ECS_CONTAINER_METADATA_URI_V4": metadata.uri},
        agent_root=agent_root,
    )
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello", timeout=5) as response:
        hello = response.read().decode()
    command_lines = [process[-1] for process in container.top()["Processes"]]
    logs, elapsed, exit_code = stop_and_logs(container)

    bundle = os.readlink(agent_root / "current")
    # The JVM is started with the resolved, versioned path, never the switchable link, so an
    # update during its start cannot mix two agent versions.
    jar = f"/pinpoint-agent/{bundle}/{BOOTSTRAP_JAR}"
    assert any(f"-javaagent:{jar} " in line for line in command_lines), command_lines
    assert f"standin-agent: loaded {jar}" in logs, logs
    # agentId from the ECS task id (<= 24 chars); the collector from the distributed config.
    assert f"agentId={TASK_ID[:24]} applicationName=it-app container=true collector=pinpoint:9993" in logs, (
        logs
    )
    assert f"(agentId {TASK_ID[:24]})" in hello
    # The JVM received SIGTERM itself (shutdown hook ran) instead of waiting for SIGKILL.
    assert "sample-app: stopping" in logs, logs
    assert elapsed < 15
    assert exit_code == 143


def test_hostile_java_opts_reach_the_jvm_unchanged(
    docker_client: docker.DockerClient, app_image: str
) -> None:
    config = docker_client.images.get(app_image).attrs["Config"]
    environment = dict(item.split("=", 1) for item in config["Env"])
    assert environment["JAVA_OPTS"] == HOSTILE_JAVA_OPTS
    assert environment["APM_OPTS"] == APM_OPTS


def test_app_starts_without_the_agent_when_apm_opts_is_empty(
    docker_client: docker.DockerClient, app_image: str
) -> None:
    container, _ = run_app(docker_client, app_image, environment={"APM_OPTS": ""})
    logs, _, _ = stop_and_logs(container)
    assert "sample-app: listening" in logs
    assert "standin-agent" not in logs
    assert "agentId=-" in logs


def test_app_starts_without_the_agent_when_the_volume_is_missing(
    docker_client: docker.DockerClient, app_image: str
) -> None:
    container, _ = run_app(docker_client, app_image, environment={})
    logs, _, _ = stop_and_logs(container)
    assert "not found" in logs
    assert "starting WITHOUT the agent" in logs
    assert "sample-app: listening" in logs
    assert "standin-agent" not in logs


def test_apm_required_refuses_to_start_without_the_agent(
    docker_client: docker.DockerClient, app_image: str
) -> None:
    output = docker_client.containers.run(
        app_image, environment={"APM_REQUIRED": "true"}, remove=False, detach=True, network_mode="none"
    )
    try:
        assert output.wait(timeout=60)["StatusCode"] == 1
        assert "APM_REQUIRED=true, not starting" in output.logs().decode()
    finally:
        output.remove(force=True)

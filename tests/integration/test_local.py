"""``make local`` / ``make local-down`` on the local engine, with stand-ins at the edges only.

``scripts/local.py`` runs as a user runs it, against a settings file that points every download
at a loopback mirror laid out like the real sources (tests/integration/pinpoint_harness.py's
stand-in jars in the GitHub release layout with no checksum file, as GitHub publishes none; its
HBase with a published ``.sha512`` next to it, as Apache has; and a stand-in agent in the same
release whose bootstrap jar is a premain agent reporting what it loaded). So the real chain runs: the
deploy's checksum pinning on first use, the image build with the deploy's build args, the agent
distributor laying out the agent, the all-in-one and the sample app on the engine. Base images
are the local Debian JRE (and a JDK on it for the sample app's build stage): no registry here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import pytest

from stacks.versions import PINPOINT_VERSION
from tests.integration.conftest import REPO_ROOT, free_port
from tests.integration.pinpoint_harness import (
    HBASE_TARBALL,
    HBASE_VERSION,
    jar_path,
    remove_image,
    stand_in_mirror,
)
from tests.unit.test_agent_distribution_handler import make_agent_tarball

STANDIN_AGENT = Path(__file__).with_name("standins") / "app" / "StandinAgent.java"
NAME = f"pp-local-it-{uuid.uuid4().hex[:8]}"
JARS = [jar_path(component) for component in ("collector", "web")]
HBASE = f"hbase/{HBASE_VERSION}/{HBASE_TARBALL}"
AGENT = f"github/v{PINPOINT_VERSION}/pinpoint-agent-{PINPOINT_VERSION}.tar.gz"


def sha512(path: Path) -> str:
    return hashlib.sha512(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def jdk_image(jdk_base_image: str) -> str:
    """The local JRE plus javac: what the image's and the sample app's build stages compile with
    (JDK_IMAGE) without a registry."""
    return jdk_base_image


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The stand-in mirror plus what `make local` also downloads: published checksums and the agent."""
    with stand_in_mirror(tmp_path_factory) as (root, url):
        path = root / HBASE  # Apache publishes one; the GitHub release (jars, agent) does not
        (root / f"{HBASE}.sha512").write_text(f"{sha512(path)}  {path.name}\n")
        build = tmp_path_factory.mktemp("agent")
        classes = build / "classes"
        subprocess.run(["javac", "--release", "17", "-d", str(classes), str(STANDIN_AGENT)], check=True)
        (build / "manifest").write_text("Premain-Class: StandinAgent\n")
        jar = build / "standin-agent.jar"
        subprocess.run(
            [
                "jar",
                "--create",
                "--file",
                str(jar),
                "--manifest",
                str(build / "manifest"),
                "-C",
                str(classes),
                ".",
            ],
            check=True,
        )
        (root / AGENT).parent.mkdir(parents=True, exist_ok=True)  # the release holds the jars too
        (root / AGENT).write_bytes(
            make_agent_tarball(PINPOINT_VERSION, extra={"pinpoint-bootstrap.jar": jar.read_bytes()})
        )
        yield root, url


@dataclass
class Local:
    """One `make local` setup under a unique name, its settings and host files."""

    config_dir: Path
    state_dir: Path
    web_port: int
    app_port: int
    args: list[str]

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "scripts/local.py", *command],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )

    def up(self) -> subprocess.CompletedProcess[str]:
        return self.run("up", *self.args)

    def down(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.run("down", "--name", NAME, "--state-dir", str(self.state_dir), *extra)

    def settings(self) -> dict[str, object]:
        return json.loads((self.config_dir / "default.json").read_text())


@pytest.fixture(scope="module")
def local(
    docker_client: docker.DockerClient, jre_base_image: str, jdk_image: str, mirror: tuple[Path, str]
) -> Iterator[Local]:
    _, url = mirror
    workdir = Path(tempfile.mkdtemp(prefix="make-local-it-"))
    config_dir = workdir / "config"
    config_dir.mkdir()
    # As a mirror user would write it; no checksum yet: `make local` pins them on first use.
    (config_dir / "default.json").write_text(
        json.dumps(
            {
                "agent_download_base_url": f"{url}/github",
                "image_build_args": {
                    "PINPOINT_BASE_URL": f"{url}/github",
                    "HBASE_BASE_URL": f"{url}/hbase",
                },
            }
        )
    )
    web_port, app_port = free_port(), free_port()
    setup = Local(
        config_dir=config_dir,
        state_dir=workdir / "state",
        web_port=web_port,
        app_port=app_port,
        args=[
            "--config-dir", str(config_dir),
            "--name", NAME,
            "--state-dir", str(workdir / "state"),
            "--web-port", str(web_port),
            "--app-port", str(app_port),
            "--no-collector-ports",  # 9991-9993 may be taken on a shared engine's host
            "--build-network", "host",  # the mirror listens on this machine's loopback
            "--memory-mb", "3072",
            "--build-arg", f"BASE_IMAGE={jre_base_image}",
            "--build-arg", f"JDK_IMAGE={jdk_image}",
            "--app-build-arg", f"JDK_IMAGE={jdk_image}",
            "--app-build-arg", f"BASE_IMAGE={jre_base_image}",
        ],
    )  # fmt: skip
    try:
        yield setup
    finally:
        setup.down("--volumes")
        for image in (f"{NAME}/pinpoint:latest", f"{NAME}/sample-app:latest"):
            remove_image(docker_client, image)
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            docker_client.volumes.get(f"{NAME}-hbase-data").remove(force=True)
        shutil.rmtree(workdir, ignore_errors=True)


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def test_make_local_runs_pinpoint_and_the_traced_sample_app_then_down_keeps_the_data(
    docker_client: docker.DockerClient, local: Local, mirror: tuple[Path, str]
) -> None:
    started = local.up()
    assert started.returncode == 0, started.stderr[-5000:]

    # What it prints: the web on loopback, where the admin password is, the app, the volume.
    out = started.stdout
    assert f"Pinpoint web:    http://127.0.0.1:{local.web_port}/" in out
    password_file = local.state_dir / "admin-password"
    assert f"admin password:  {password_file}" in out
    assert oct(password_file.stat().st_mode & 0o777) == "0o600"
    assert f"HBase data:      docker volume {NAME}-hbase-data (kept by make local-down" in out
    # BuildKit through the docker CLI, as cdk deploy builds (plain lines when not on a terminal),
    # then the supervisor's lines.
    assert "local: builder: BuildKit through " in started.stderr
    assert "local: building images/pinpoint" in started.stderr
    assert "] FROM " in started.stderr and "exporting to image" in started.stderr  # noqa: PT018
    assert "[supervisor] boot complete in" in started.stderr

    # Checksums pinned as `make deploy` pins them: HBase verified against the published .sha512,
    # the release's jars and agent trusted on first download, all written into the settings file
    # the deploy reads.
    root, _ = mirror
    settings = local.settings()
    assert settings["image_build_args"] == {
        "PINPOINT_BASE_URL": f"{mirror[1]}/github",
        "HBASE_BASE_URL": f"{mirror[1]}/hbase",
        "PINPOINT_COLLECTOR_SHA512": sha512(root / JARS[0]),
        "PINPOINT_WEB_SHA512": sha512(root / JARS[1]),
        "HBASE_SHA512": sha512(root / HBASE),
    }
    assert settings["agent_sha512"] == sha512(root / AGENT)
    assert f"matches {mirror[1]}/{HBASE}.sha512" in out
    for name in [path.rsplit("/", 1)[-1] for path in (*JARS, AGENT)]:
        (line,) = [line for line in out.splitlines() if line.startswith(f"  {name}:")]
        assert "trust-on-first-download" in line

    # The web answers on 127.0.0.1, published nowhere else; its data is on the named volume.
    assert "currentServerTime" in get(f"http://127.0.0.1:{local.web_port}/api-public/serverTime")
    pinpoint = docker_client.containers.get(f"{NAME}-pinpoint")
    bindings = [binding for port in pinpoint.attrs["HostConfig"]["PortBindings"].values() for binding in port]
    assert bindings
    assert {binding["HostIp"] for binding in bindings} == {"127.0.0.1"}
    mounts = pinpoint.attrs["Mounts"]
    assert [(m["Type"], m["Name"], m["Destination"]) for m in mounts] == [
        ("volume", f"{NAME}-hbase-data", "/var/lib/pinpoint/hbase")
    ]
    assert "pinpoint" in pinpoint.attrs["NetworkSettings"]["Networks"][NAME]["Aliases"]

    # The agent, laid out by the distributor itself, loaded by the sample app with the stack's
    # APM_OPTS: the resolved versioned jar, the collector under its Service Connect name.
    agent = local.state_dir / "agent"
    bundle = os.readlink(agent / "current")
    manifest = json.loads((agent / bundle / "pinpoint-on-fargate.json").read_text())
    assert manifest["settings"]["collector_host"] == "pinpoint"
    app = docker_client.containers.get(f"{NAME}-sample-app")
    logs = app.logs().decode(errors="replace")
    assert f"standin-agent: loaded /pinpoint-agent/{bundle}/pinpoint-bootstrap.jar" in logs, logs
    assert "applicationName=sample-app container=true collector=pinpoint:9993" in logs, logs
    assert "hello from sample-app" in get(f"http://127.0.0.1:{local.app_port}/hello")
    # ... and that name reaches the collector on the local network.
    reach = app.exec_run(["bash", "-c", "exec 3<>/dev/tcp/pinpoint/9991"])
    assert reach.exit_code == 0, reach.output

    # down: containers and network gone, the data volume kept (and said so).
    stopped = local.down()
    assert stopped.returncode == 0, stopped.stderr
    assert f"kept the HBase data volume {NAME}-hbase-data" in stopped.stderr
    assert (
        docker_client.containers.list(all=True, filters={"label": f"org.pinpoint-on-fargate.local={NAME}"})
        == []
    )
    assert docker_client.networks.list(names=[NAME]) == []
    docker_client.volumes.get(f"{NAME}-hbase-data")

    # The next `make local` starts on the kept data: every table is already there.
    again = local.up()
    assert again.returncode == 0, again.stderr[-5000:]
    assert f"HBase data: reusing volume {NAME}-hbase-data" in again.stderr
    pinpoint = docker_client.containers.get(f"{NAME}-pinpoint")
    assert "nothing-missing all Pinpoint tables exist" in pinpoint.logs().decode(errors="replace")

    removed = local.down("--volumes")
    assert removed.returncode == 0, removed.stderr
    assert f"removed the HBase data volume {NAME}-hbase-data" in removed.stderr
    with pytest.raises(docker.errors.NotFound):
        docker_client.volumes.get(f"{NAME}-hbase-data")

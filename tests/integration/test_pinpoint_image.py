"""Integration test of images/pinpoint: the real Dockerfile and supervisor, stand-in artifacts.

No registry or download site is reachable, so the build runs FROM a locally debootstrapped JRE
image (conftest's ``jre_base_image``) and downloads from a loopback mirror holding stand-ins
laid out under the real URL paths:

* ``pinpoint-{collector,web}-<v>-exec.jar``: one JDK-only program (standins/pinpoint/
  StandinPinpoint.java) that listens on the ports the supervisor's -D options name and answers
  the health path;
* ``hbase-<v>-bin.tar.gz``: a distribution whose bin/hbase is a bash stand-in that records every
  `create`, flush and master start/stop in the data directory.

Checksums of the stand-ins are computed here and passed as build arguments, exactly as a real
build passes the published ones. What this proves and what only AWS can prove is listed in
images/pinpoint/README.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
import subprocess
import tarfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import docker.models.containers
import docker.models.images
import pytest

from tests.integration.mirror import serve_directory

REPO = Path(__file__).resolve().parents[2]
IMAGE_DIR = REPO / "images" / "pinpoint"
STANDINS = Path(__file__).resolve().parent / "standins" / "pinpoint"
DOCKERFILE = (IMAGE_DIR / "Dockerfile").read_text()
PINPOINT_VERSION = re.search(r"^ARG PINPOINT_VERSION=(\S+)$", DOCKERFILE, re.M).group(1)  # type: ignore[union-attr]
HBASE_VERSION = re.search(r"^ARG HBASE_VERSION=(\S+)$", DOCKERFILE, re.M).group(1)  # type: ignore[union-attr]
TABLES = re.findall(r"^create '([^']+)'", (IMAGE_DIR / "hbase" / "pinpoint-tables.hbase").read_text(), re.M)

IMAGE_UID = 10001
DATA_DIR_IN_IMAGE = "/var/lib/pinpoint/hbase"
# ECS stops a task with SIGTERM and kills it this many seconds later (Fargate's maximum).
ECS_STOP_TIMEOUT = 120


def sha512(path: Path) -> str:
    return hashlib.sha512(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def mirror_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stand-in artifacts under the same paths as Maven Central and the Apache archive."""
    root = tmp_path_factory.mktemp("pinpoint-mirror")
    build = tmp_path_factory.mktemp("standin-build")
    subprocess.run(
        ["javac", "--release", "17", "-d", str(build / "classes"), str(STANDINS / "StandinPinpoint.java")],
        check=True,
    )
    jar = build / "standin.jar"
    subprocess.run(
        [
            "jar",
            "--create",
            "--file",
            str(jar),
            "--main-class",
            "StandinPinpoint",
            "-C",
            str(build / "classes"),
            ".",
        ],
        check=True,
    )
    for component in ("collector", "web"):
        target = root / "pinpoint" / f"pinpoint-{component}" / PINPOINT_VERSION
        target.mkdir(parents=True)
        shutil.copy(jar, target / f"pinpoint-{component}-{PINPOINT_VERSION}-exec.jar")
    hbase = root / "hbase" / HBASE_VERSION
    hbase.mkdir(parents=True)
    with tarfile.open(hbase / f"hbase-{HBASE_VERSION}-bin.tar.gz", "w:gz") as archive:
        archive.add(STANDINS / "hbase-dist", arcname=f"hbase-{HBASE_VERSION}")
    return root


@pytest.fixture(scope="module")
def mirror_url(mirror_root: Path) -> Iterator[str]:
    with serve_directory(mirror_root) as url:
        yield url


def build_args(mirror_root: Path, mirror_url: str, base_image: str) -> dict[str, str]:
    jars = mirror_root / "pinpoint"
    return {
        "BASE_IMAGE": base_image,
        "PINPOINT_BASE_URL": f"{mirror_url}/pinpoint",
        "HBASE_BASE_URL": f"{mirror_url}/hbase",
        "HBASE_SHA512": sha512(mirror_root / "hbase" / HBASE_VERSION / f"hbase-{HBASE_VERSION}-bin.tar.gz"),
        "PINPOINT_COLLECTOR_SHA512": sha512(
            jars / "pinpoint-collector" / PINPOINT_VERSION / f"pinpoint-collector-{PINPOINT_VERSION}-exec.jar"
        ),
        "PINPOINT_WEB_SHA512": sha512(
            jars / "pinpoint-web" / PINPOINT_VERSION / f"pinpoint-web-{PINPOINT_VERSION}-exec.jar"
        ),
    }


def build(
    client: docker.DockerClient, args: dict[str, str], *, tag: str, platform: str | None = None
) -> docker.models.images.Image:
    # Host network: the mirror listens on the host's loopback. Classic builder (no BuildKit).
    image, _logs = client.images.build(
        path=str(IMAGE_DIR),
        tag=tag,
        buildargs=args,
        network_mode="host",
        platform=platform,
        rm=True,
        forcerm=True,
    )
    return image


def build_error(client: docker.DockerClient, args: dict[str, str]) -> str:
    """Build that must fail; returns its log."""
    with pytest.raises(docker.errors.BuildError) as failure:
        build(client, args, tag=f"local/pinpoint-aio-broken:{uuid.uuid4().hex[:8]}")
    return "".join(str(chunk.get("stream", chunk.get("error", ""))) for chunk in failure.value.build_log)


@pytest.fixture(scope="module")
def pinpoint_image(
    docker_client: docker.DockerClient, jre_base_image: str, mirror_root: Path, mirror_url: str
) -> str:
    tag = "local/pinpoint-aio-test:latest"
    build(docker_client, build_args(mirror_root, mirror_url, jre_base_image), tag=tag)
    return tag


def data_dir(tmp_path: Path) -> Path:
    """A host directory for HBASE_DATA_DIR, owned by the image's user like a prepared volume."""
    path = tmp_path / "hbase-data"
    path.mkdir()
    shutil.chown(path, IMAGE_UID, IMAGE_UID)
    return path


class Container:
    """A running all-in-one container plus the helpers the scenarios need."""

    def __init__(self, client: docker.DockerClient, image: str, data: Path) -> None:
        self.data = data
        self.inner: docker.models.containers.Container = client.containers.run(
            image,
            detach=True,
            mem_limit="3g",
            volumes={str(data): {"bind": DATA_DIR_IN_IMAGE, "mode": "rw"}},
            ports={"8080/tcp": ("127.0.0.1", None)},
        )

    def logs(self) -> str:
        return self.inner.logs().decode(errors="replace")

    def exec_ok(self, *command: str) -> bool:
        return self.inner.exec_run(list(command)).exit_code == 0

    def wait_healthy(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.inner.reload()
            if self.inner.status != "running":
                raise AssertionError(f"container stopped while starting; logs:\n{self.logs()}")
            if self.exec_ok("/usr/local/bin/pinpoint-healthcheck"):
                return
            time.sleep(1)
        raise AssertionError(f"not healthy within {timeout}s; logs:\n{self.logs()}")

    def host_port(self, container_port: str) -> int:
        self.inner.reload()
        return int(self.inner.ports[container_port][0]["HostPort"])

    def listens(self, port: int) -> bool:
        return self.exec_ok("bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}")

    def wait_exit(self, timeout: float) -> int:
        return int(self.inner.wait(timeout=timeout)["StatusCode"])

    def ddl_log(self) -> list[str]:
        return (self.data / "standin-ddl.log").read_text().splitlines()

    def remove(self) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.inner.remove(force=True)


@pytest.fixture
def containers(docker_client: docker.DockerClient, pinpoint_image: str) -> Iterator[list[Container]]:
    started: list[Container] = []
    yield started
    for container in started:
        container.remove()


def test_build_fails_closed_without_a_pinpoint_checksum(
    docker_client: docker.DockerClient, jre_base_image: str, mirror_root: Path, mirror_url: str
) -> None:
    args = build_args(mirror_root, mirror_url, jre_base_image)
    del args["PINPOINT_WEB_SHA512"]

    log = build_error(docker_client, args)

    assert "set build arg PINPOINT_WEB_SHA512 to the SHA-512 of pinpoint-web-" in log


def test_build_rejects_an_artifact_that_does_not_match_its_checksum(
    docker_client: docker.DockerClient, jre_base_image: str, mirror_root: Path, mirror_url: str
) -> None:
    args = build_args(mirror_root, mirror_url, jre_base_image)
    args["HBASE_SHA512"] = hashlib.sha512(b"some other tarball").hexdigest()

    log = build_error(docker_client, args)

    assert "hbase.tar.gz: FAILED" in log


def test_image_runs_as_non_root_with_only_the_pinpoint_ports_and_a_healthcheck(
    docker_client: docker.DockerClient, pinpoint_image: str
) -> None:
    config = docker_client.images.get(pinpoint_image).attrs["Config"]

    assert config["User"] == f"{IMAGE_UID}:{IMAGE_UID}"
    assert set(config["ExposedPorts"]) == {"8080/tcp", "9991/tcp", "9992/tcp", "9993/tcp"}
    assert config["Healthcheck"]["Test"] == ["CMD", "/usr/local/bin/pinpoint-healthcheck"]
    assert config["Entrypoint"] == ["/usr/bin/tini", "--", "/usr/local/bin/pinpoint-supervisor"]
    listing = docker_client.containers.run(
        pinpoint_image, entrypoint=["bash", "-c", "ls /opt/hbase; ls /opt/pinpoint"], remove=True
    ).decode()
    assert "docs" not in listing.split()
    assert {"pinpoint-collector.jar", "pinpoint-web.jar"} <= set(listing.split())


def test_serves_health_path_and_ports_restarts_idempotently_and_stops_cleanly(
    docker_client: docker.DockerClient, pinpoint_image: str, containers: list[Container], tmp_path: Path
) -> None:
    data = data_dir(tmp_path)
    first = Container(docker_client, pinpoint_image, data)
    containers.append(first)
    first.wait_healthy()

    # The health path answers 200 through the published port, and every Pinpoint port listens.
    url = f"http://127.0.0.1:{first.host_port('8080/tcp')}/serverTime"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
    for port in (8080, 9991, 9992, 9993):
        assert first.listens(port), f"port {port} does not listen"
    logs = first.logs()
    assert re.search(r"\[supervisor\] memory limit 3072 MB \(cgroup v[12] ", logs), logs
    assert "[collector] standin collector started" in logs
    assert sorted(line.split()[2] for line in first.ddl_log() if line.split()[1] == "create") == sorted(
        TABLES
    )

    # SIGTERM (what ECS sends): exit 0, after a flush, well inside the stop timeout.
    started = time.monotonic()
    first.inner.stop(timeout=ECS_STOP_TIMEOUT)
    elapsed = time.monotonic() - started
    assert first.wait_exit(timeout=10) == 0, first.logs()
    assert elapsed < ECS_STOP_TIMEOUT
    events = [line.split()[1] for line in first.ddl_log()]
    assert events.index("flush") < events.index("master-stop") < events.index("master-exit")
    assert "[supervisor] flush complete" in first.logs()

    # Second start on the same data: no table created twice, and it comes up healthy.
    creates_before = sum(1 for event in events if event == "create")
    second = Container(docker_client, pinpoint_image, data)
    containers.append(second)
    second.wait_healthy()
    assert sum(1 for line in second.ddl_log() if line.split()[1] == "create") == creates_before
    assert "all Pinpoint tables exist; nothing to create" in second.logs()


def test_killing_the_collector_makes_the_container_exit_non_zero(
    docker_client: docker.DockerClient, pinpoint_image: str, containers: list[Container], tmp_path: Path
) -> None:
    container = Container(docker_client, pinpoint_image, data_dir(tmp_path))
    containers.append(container)
    container.wait_healthy()

    # Find the collector JVM by its command line inside the container (no procps needed).
    kill = (
        'for p in /proc/[0-9]*; do pid=${p#/proc/}; [ "$pid" = $$ ] && continue; '
        "if tr '\\0' ' ' < $p/cmdline 2>/dev/null | grep -q 'pinpoint-collector.jar'; then kill -KILL $pid; fi; "
        "done"
    )
    container.inner.exec_run(["bash", "-c", kill])

    assert container.wait_exit(timeout=90) != 0
    logs = container.logs()
    assert "collector exited unexpectedly with status 137" in logs
    assert "[supervisor] flush complete" in logs


def test_builds_for_linux_arm64_under_emulation(
    docker_client: docker.DockerClient,
    qemu_arm64: None,
    jre_arm64_base_image: str,
    mirror_root: Path,
    mirror_url: str,
) -> None:
    tag = "local/pinpoint-aio-test:arm64"
    image = build(
        docker_client,
        build_args(mirror_root, mirror_url, jre_arm64_base_image),
        tag=tag,
        platform="linux/arm64",
    )

    assert image.attrs["Architecture"] == "arm64"
    machine = docker_client.containers.run(
        tag, entrypoint=["uname", "-m"], platform="linux/arm64", remove=True
    )
    assert machine.decode().strip() == "aarch64"

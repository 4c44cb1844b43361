"""Integration test of images/pinpoint: the real Dockerfile and supervisor, stand-in artifacts.

No registry or download site is reachable, so the build runs FROM a locally debootstrapped JRE
image (conftest's ``jre_base_image``) and downloads from a loopback mirror holding stand-ins
laid out under the real URL paths:

* ``pinpoint-{collector,web}-<v>-exec.jar``: one JDK-only program (standins/pinpoint/
  StandinPinpoint.java) that listens on the ports the supervisor's -D options name and answers
  the health path;
* ``hbase-<v>-hadoop3-bin.tar.gz``: a distribution whose bin/hbase assembles JVM options as the
  real one does and runs StandinHBase.java in a real JVM: HBase 2.6's rules where the supervisor
  depends on them (stop needs --shutDownCluster, DDL waits for initialization, the master's JMX,
  a region server that can die while the master lives, ZooKeeper snapshots), every event
  recorded in the data directory. It also carries docs/ and lib/shaded-clients/, which the
  Dockerfile must not extract.

Checksums of the stand-ins are computed here and passed as build arguments, exactly as a real
build passes the published ones. What this proves and what only AWS can prove is listed in
images/pinpoint/README.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
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
HBASE_TARBALL = f"hbase-{HBASE_VERSION}-hadoop3-bin.tar.gz"
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
        [
            "javac",
            "--release",
            "17",
            "-d",
            str(build / "classes"),
            str(STANDINS / "StandinPinpoint.java"),
            str(STANDINS / "StandinHBase.java"),
        ],
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
    hbase_jar = build / "standin-hbase.jar"
    subprocess.run(
        [
            "jar",
            "--create",
            "--file",
            str(hbase_jar),
            "-C",
            str(build / "classes"),
            "StandinHBase.class",
            "-C",
            str(build / "classes"),
            "StandinHBase$ShellError.class",
        ],
        check=True,
    )
    hbase = root / "hbase" / HBASE_VERSION
    hbase.mkdir(parents=True)
    with tarfile.open(hbase / HBASE_TARBALL, "w:gz") as archive:
        archive.add(STANDINS / "hbase-dist", arcname=f"hbase-{HBASE_VERSION}")
        archive.add(hbase_jar, arcname=f"hbase-{HBASE_VERSION}/lib/standin-hbase.jar")
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
        "HBASE_SHA512": sha512(mirror_root / "hbase" / HBASE_VERSION / HBASE_TARBALL),
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


# What the deployment passes (stacks/constructs/pinpoint_service.py), with faster HBase checks.
CONTAINER_ENV = {
    "PINPOINT_BOOT_TIMEOUT_SECONDS": "240",
    "PINPOINT_WEB_ADMIN_PASSWORD": "integration-secret",
    "PINPOINT_HBASE_CHECK_INTERVAL_SECONDS": "2",
    "PINPOINT_HBASE_CHECK_FAILURES": "2",
}
# Ports that must listen on every interface, and ports that must stay on loopback (README
# "Runtime contract"): web, collector gRPC; collector HTTP, web management, HBase master info,
# ZooKeeper (the stand-in HBase serves only the info port).
PUBLIC_PORTS = {8080, 9991, 9992, 9993}
LOOPBACK_PORTS = {8081, 8443, 16010}


class Container:
    """A running all-in-one container plus the helpers the scenarios need."""

    def __init__(self, client: docker.DockerClient, image: str, data: Path, *, init: bool = True) -> None:
        self.data = data
        self.started = time.monotonic()
        self.inner: docker.models.containers.Container = client.containers.run(
            image,
            detach=True,
            init=init,  # ECS: initProcessEnabled; without it the supervisor is PID 1
            mem_limit="3g",
            environment=CONTAINER_ENV,
            volumes={str(data): {"bind": DATA_DIR_IN_IMAGE, "mode": "rw"}},
            ports={"8080/tcp": ("127.0.0.1", None)},
        )

    def logs(self) -> str:
        return self.inner.logs().decode(errors="replace")

    def exec(self, *command: str) -> tuple[int, str]:
        result = self.inner.exec_run(list(command))
        return result.exit_code, result.output.decode(errors="replace")

    def wait_healthy(self, timeout: float = 180.0) -> float:
        """Seconds from `docker run` until the image's health check passed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.inner.reload()
            if self.inner.status != "running":
                raise AssertionError(f"container stopped while starting; logs:\n{self.logs()}")
            if self.exec("/usr/local/bin/pinpoint-healthcheck")[0] == 0:
                return time.monotonic() - self.started
            time.sleep(1)
        raise AssertionError(f"not healthy within {timeout}s; logs:\n{self.logs()}")

    def wait_log(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.logs())
            if match:
                return match
            time.sleep(0.5)
        raise AssertionError(f"no log line matching {pattern!r}; logs:\n{self.logs()}")

    def host_port(self, container_port: str) -> int:
        self.inner.reload()
        return int(self.inner.ports[container_port][0]["HostPort"])

    def listening(self) -> dict[int, set[str]]:
        """Listening TCP ports -> local addresses, from /proc/net/tcp{,6} (no netstat in the image)."""
        _, text = self.exec("bash", "-c", "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null")
        result: dict[int, set[str]] = {}
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) < 4 or fields[3] != "0A" or ":" not in fields[1]:
                continue
            address_hex, port_hex = fields[1].split(":")
            raw = bytes.fromhex(address_hex)
            # /proc shows each 32-bit word in host (little-endian) order.
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            address = ipaddress.ip_address(words)
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                address = address.ipv4_mapped
            result.setdefault(int(port_hex, 16), set()).add(str(address))
        return result

    def wait_exit(self, timeout: float) -> int:
        return int(self.inner.wait(timeout=timeout)["StatusCode"])

    def ddl_log(self) -> list[str]:
        return (self.data / "standin-ddl.log").read_text().splitlines()

    def events(self, name: str) -> list[str]:
        return [line for line in self.ddl_log() if line.split()[1] == name]

    def remove(self) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.inner.remove(force=True)


@pytest.fixture
def containers(docker_client: docker.DockerClient, pinpoint_image: str) -> Iterator[list[Container]]:
    started: list[Container] = []
    yield started
    for container in started:
        container.remove()


def test_build_fails_closed_without_a_checksum(
    docker_client: docker.DockerClient, jre_base_image: str, mirror_root: Path, mirror_url: str
) -> None:
    args = build_args(mirror_root, mirror_url, jre_base_image)
    del args["HBASE_SHA512"]

    log = build_error(docker_client, args)

    assert f"set build arg HBASE_SHA512 to the SHA-512 of {HBASE_TARBALL}" in log


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

    assert "/opt/hbase.tar.gz: FAILED" in log


def test_image_contract_and_no_build_leftovers(
    docker_client: docker.DockerClient, pinpoint_image: str, jre_base_image: str
) -> None:
    image = docker_client.images.get(pinpoint_image)
    config = image.attrs["Config"]

    assert config["User"] == f"{IMAGE_UID}:{IMAGE_UID}"
    assert set(config["ExposedPorts"]) == {f"{port}/tcp" for port in PUBLIC_PORTS}
    assert config["Healthcheck"]["Test"] == ["CMD", "/usr/local/bin/pinpoint-healthcheck"]
    # No tini: ECS's init (initProcessEnabled) or `docker run --init` is PID 1.
    assert config["Entrypoint"] == ["/usr/local/bin/pinpoint-supervisor"]
    # Layers this Dockerfile adds (above the base image's) run no package manager.
    ours = image.history()[: len(image.history()) - len(docker_client.images.get(jre_base_image).history())]
    assert ours
    assert not [layer["CreatedBy"] for layer in ours if "apt-get" in layer["CreatedBy"]]
    listing = docker_client.containers.run(
        pinpoint_image,
        entrypoint=[
            "bash",
            "-c",
            "ls /opt /opt/hbase /opt/hbase/lib /opt/pinpoint; find / -xdev -name '*.tar.gz' | wc -l",
        ],
        remove=True,
    ).decode()
    names = listing.split()
    assert "docs" not in names
    assert "shaded-clients" not in names
    assert "hbase.tar.gz" not in names
    assert {"pinpoint-collector.jar", "pinpoint-web.jar", "conf", "hbase"} <= set(names)
    assert listing.split()[-1] == "0", "a tarball was left in the image"


def test_boots_serves_restarts_as_pid_1_and_stops_cleanly(
    docker_client: docker.DockerClient, pinpoint_image: str, containers: list[Container], tmp_path: Path
) -> None:
    data = data_dir(tmp_path)
    first = Container(docker_client, pinpoint_image, data)
    containers.append(first)
    boot_seconds = first.wait_healthy()
    reported = first.wait_log(r"\[supervisor\] boot complete in (\d+)s")
    logs = first.logs()
    print(
        f"\nboot time (first start, 22 tables): {boot_seconds:.1f}s to healthy; supervisor: {reported.group(1)}s"
    )
    assert boot_seconds < 240

    # Public ports on every interface; the admin surfaces on loopback only.
    listening = first.listening()
    for port in PUBLIC_PORTS:
        assert listening.get(port) & {"0.0.0.0", "::"}, (port, listening)  # type: ignore[operator]
    for port in LOOPBACK_PORTS:
        assert listening.get(port) == {"127.0.0.1"}, (port, listening)
    # The load balancer's path answers through the published port.
    url = f"http://127.0.0.1:{first.host_port('8080/tcp')}/serverTime"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
    assert re.search(r"\[supervisor\] memory limit 3072 MB \(cgroup v[12] ", logs), logs
    assert sorted(line.split()[2] for line in first.events("create")) == sorted(TABLES)
    assert first.events("create-refused") == []  # no DDL before the master was initialized
    # JVM options as HBase's bin/hbase assembled them: G1, pinned heap and capped direct
    # memory for the master; the shell keeps its small heap.
    master_jvm = first.events("master-start")[0]
    assert "-XX:+UseG1GC" in master_jvm
    assert "-Xms1228m" in master_jvm and "-Xmx1228m" in master_jvm  # noqa: PT018 - one JVM line
    assert "-XX:MaxDirectMemorySize=256m" in master_jvm
    assert all("-Xmx384m" in line and "-Xms" not in line for line in first.events("shell"))
    # Admin password from the secret, reaching the web without being logged; console logs only.
    expected = hashlib.sha256(b"integration-secret").hexdigest()
    assert f"[web] standin web admin.password from environment: sha256 {expected}" in logs
    assert "integration-secret" not in logs
    assert first.exec("test", "-e", "/var/lib/pinpoint/logs")[0] != 0, "a log file was written"

    # SIGTERM (what ECS sends): the clean path — flush, cluster shutdown, exit 0 — in budget.
    started = time.monotonic()
    first.inner.stop(timeout=ECS_STOP_TIMEOUT)
    stop_seconds = time.monotonic() - started
    assert first.wait_exit(timeout=10) == 0, first.logs()
    logs = first.logs()
    print(f"clean stop: {stop_seconds:.1f}s")
    assert stop_seconds < ECS_STOP_TIMEOUT
    events = [line.split()[1] for line in first.ddl_log()]
    assert events.index("flush") < events.index("master-stop") < events.index("master-exit")
    assert "master-stop-refused" not in events
    assert "master-sigterm" not in events
    assert "[supervisor] HBase stopped cleanly (cluster shutdown)" in logs
    assert "sending SIGTERM" not in logs
    assert "killing" not in logs

    # Second start on the same data, WITHOUT an init (the supervisor is PID 1): no table
    # created twice, old ZooKeeper snapshots purged, healthy, and again a clean stop.
    creates_before = len(first.events("create"))
    second = Container(docker_client, pinpoint_image, data, init=False)
    containers.append(second)
    restart_seconds = second.wait_healthy()
    print(f"boot time (restart, tables exist): {restart_seconds:.1f}s")
    assert second.exec("cat", "/proc/1/cmdline")[1].startswith("bash\0/usr/local/bin/pinpoint-supervisor")
    assert len(second.events("create")) == creates_before
    assert "all Pinpoint tables exist" in second.logs()
    assert second.events("zookeeper-purge")
    second.inner.stop(timeout=ECS_STOP_TIMEOUT)
    assert second.wait_exit(timeout=10) == 0, second.logs()
    assert "[supervisor] HBase stopped cleanly (cluster shutdown)" in second.logs()


def test_a_dead_region_server_fails_the_health_check_and_the_container(
    docker_client: docker.DockerClient, pinpoint_image: str, containers: list[Container], tmp_path: Path
) -> None:
    container = Container(docker_client, pinpoint_image, data_dir(tmp_path))
    containers.append(container)
    container.wait_healthy()

    # The region server "thread" dies; the master JVM keeps running.
    container.exec("touch", f"{DATA_DIR_IN_IMAGE}/standin-regionserver.dead")
    status, output = container.exec("/usr/local/bin/pinpoint-healthcheck")
    assert status == 1
    assert "no live region server (numRegionServers=0)" in output

    assert container.wait_exit(timeout=90) == 1
    logs = container.logs()
    assert "HBase no longer serves (no live region server); stopping the container" in logs
    assert "flush-hangs" not in [line.split()[1] for line in container.ddl_log()]


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

"""images/pinpoint built from stand-in artifacts and run on the local engine: what the image
tests share (test_pinpoint_image, test_pinpoint_roles, test_local). Each module builds through
:func:`stand_in_image`; the engine's layer cache makes every build after the first take seconds.

The build runs as ``cdk deploy`` runs it: BuildKit through the docker CLI
(scripts.ops.build), plain progress captured. No registry or download site is reachable, so it
runs FROM a locally debootstrapped JRE image (conftest's ``jre_base_image``; the amd64 one for
the fetch stages, ``FETCH_IMAGE``) and downloads from a loopback mirror holding stand-ins laid
out under the real URL paths:

* ``github/v<v>/pinpoint-{collector,web}-<v>-exec.jar`` (the GitHub release's layout): one
  JDK-only program (standins/pinpoint/StandinPinpoint.java) that listens on the ports the
  supervisor's -D options name, answers the health path and reaches HBase through the ZooKeeper
  quorum it is given;
* ``hbase/<v>/hbase-<v>-hadoop3-bin.tar.gz``: a distribution under the real tarball's top-level
  directory ``hbase-<v>-hadoop3/`` whose bin/hbase assembles JVM options and the class path as
  the real one does and runs StandinHBase.java in a real JVM: HBase 2.6's rules where the
  supervisor and Pinpoint depend on them, listening where hbase-site.xml says and advertising
  the names it says. It also carries docs/ and lib/shaded-clients/, which the Dockerfile must
  not extract.

Checksums of the stand-ins are computed here and passed as build arguments, exactly as a real
build passes the published ones. Images get a tag unique to the session, removed after use.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import ipaddress
import re
import shutil
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.models.containers
import docker.models.images
import pytest

from tests.integration import base_images, builds
from tests.integration.mirror import serve_directory

REPO = Path(__file__).resolve().parents[2]
IMAGE_DIR = REPO / "images" / "pinpoint"
STANDINS = Path(__file__).resolve().parent / "standins" / "pinpoint"
DOCKERFILE = (IMAGE_DIR / "Dockerfile").read_text()
PINPOINT_VERSION = re.search(r"^ARG PINPOINT_VERSION=(\S+)$", DOCKERFILE, re.M).group(1)  # type: ignore[union-attr]
HBASE_VERSION = re.search(r"^ARG HBASE_VERSION=(\S+)$", DOCKERFILE, re.M).group(1)  # type: ignore[union-attr]
# The real tarball unpacks to hbase-<v>-hadoop3/ (apache/hbase branch-2.6 hbase-assembly/pom.xml:
# finalName hbase-${project.version}, the hadoop3 build's version being <v>-hadoop3).
HBASE_TOP_DIR = f"hbase-{HBASE_VERSION}-hadoop3"
HBASE_TARBALL = f"{HBASE_TOP_DIR}-bin.tar.gz"
TABLES = re.findall(r"^create '([^']+)'", (IMAGE_DIR / "hbase" / "pinpoint-tables.hbase").read_text(), re.M)
IMAGE_UID = 10001
DATA_DIR_IN_IMAGE = "/var/lib/pinpoint/hbase"
# One suffix per session for every image the image tests build.
SESSION_TAG = uuid.uuid4().hex[:8]


def sha512(path: Path) -> str:
    return hashlib.sha512(path.read_bytes()).hexdigest()


def jar_path(component: str) -> str:
    """Where the GitHub release layout puts an exec jar, relative to the mirror root."""
    return f"github/v{PINPOINT_VERSION}/pinpoint-{component}-{PINPOINT_VERSION}-exec.jar"


def lay_out_mirror(root: Path, build: Path) -> Path:
    """Stand-in artifacts under ``root`` at the same paths as the GitHub release and the Apache archive."""
    classes = build / "classes"
    subprocess.run(
        [
            "javac",
            "--release",
            "17",
            "-d",
            str(classes),
            str(STANDINS / "StandinPinpoint.java"),
            str(STANDINS / "StandinHBase.java"),
        ],
        check=True,
    )
    jar = build / "standin.jar"
    subprocess.run(
        ["jar", "--create", "--file", str(jar), "--main-class", "StandinPinpoint", "-C", str(classes), "."],
        check=True,
    )
    for component in ("collector", "web"):
        target = root / jar_path(component)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(jar, target)
    hbase_jar = build / "standin-hbase.jar"
    hbase_classes = [p.name for p in classes.glob("StandinHBase*.class")]
    subprocess.run(
        ["jar", "--create", "--file", str(hbase_jar)]
        + [arg for name in hbase_classes for arg in ("-C", str(classes), name)],
        check=True,
    )
    hbase = root / "hbase" / HBASE_VERSION
    hbase.mkdir(parents=True)
    with tarfile.open(hbase / HBASE_TARBALL, "w:gz") as archive:
        archive.add(STANDINS / "hbase-dist", arcname=HBASE_TOP_DIR)
        archive.add(hbase_jar, arcname=f"{HBASE_TOP_DIR}/lib/standin-hbase.jar")
    return root


def build_args(mirror_root: Path, mirror_url: str, base_image: str) -> dict[str, str]:
    """The build args for the stand-in mirror: base URLs, base images, pinned checksums."""
    return {
        "BASE_IMAGE": base_image,
        # The fetch stages run on the build platform (this engine's): its own JRE image.
        "FETCH_IMAGE": base_images.jre_tag(base_images.host_arch()),
        "PINPOINT_BASE_URL": f"{mirror_url}/github",
        "HBASE_BASE_URL": f"{mirror_url}/hbase",
        "HBASE_SHA512": sha512(mirror_root / "hbase" / HBASE_VERSION / HBASE_TARBALL),
        "PINPOINT_COLLECTOR_SHA512": sha512(mirror_root / jar_path("collector")),
        "PINPOINT_WEB_SHA512": sha512(mirror_root / jar_path("web")),
    }


def build(
    client: docker.DockerClient,
    args: dict[str, str],
    *,
    tag: str,
    platform: str | None = None,
    context: Path = IMAGE_DIR,
    log: io.StringIO | None = None,
) -> docker.models.images.Image:
    """images/pinpoint (or ``context``) built as tests.integration.builds builds; raises BuildFailed."""
    return builds.build(client, context, args, tag=tag, platform=platform, log=log)


def remove_image(client: docker.DockerClient, tag: str) -> None:
    with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
        client.images.remove(tag, force=True)


@contextlib.contextmanager
def stand_in_mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The stand-in artifacts, served on loopback: yields (directory, base URL)."""
    root = lay_out_mirror(
        tmp_path_factory.mktemp("pinpoint-mirror"), tmp_path_factory.mktemp("standin-build")
    )
    with serve_directory(root) as url:
        yield root, url


@contextlib.contextmanager
def stand_in_image(
    client: docker.DockerClient, base_image: str, mirror_root: Path, mirror_url: str
) -> Iterator[str]:
    """images/pinpoint built for the engine's architecture from the mirror; yields the image ID
    (containers run by ID: another session's build cannot swap the image under a test)."""
    tag = f"local/pinpoint-it:{SESSION_TAG}-{uuid.uuid4().hex[:4]}"
    image = build(client, build_args(mirror_root, mirror_url, base_image), tag=tag)
    try:
        yield str(image.id)
    finally:
        remove_image(client, tag)


def data_dir(tmp_path: Path) -> Path:
    """A host directory for HBASE_DATA_DIR, owned by the image's user like a prepared volume."""
    path = tmp_path / "hbase-data"
    path.mkdir()
    shutil.chown(path, IMAGE_UID, IMAGE_UID)
    return path


class Container:
    """A running container of the image plus the helpers the scenarios need.

    ``data``: a host directory mounted as HBASE_DATA_DIR (the stand-in HBase writes its event
    log there); other keyword arguments go to ``containers.run`` as they are.
    """

    def __init__(
        self,
        client: docker.DockerClient,
        image: str,
        *,
        data: Path | None = None,
        environment: dict[str, str] | None = None,
        init: bool = True,
        mem_limit: str = "3g",
        **run: Any,
    ) -> None:
        self.data = data
        self.started = time.monotonic()
        volumes = {str(data): {"bind": DATA_DIR_IN_IMAGE, "mode": "rw"}} if data else {}
        self.inner: docker.models.containers.Container = client.containers.run(
            image,
            detach=True,
            init=init,  # ECS: initProcessEnabled; without it the supervisor is PID 1
            mem_limit=mem_limit,
            environment=environment or {},
            volumes=volumes,
            **run,
        )

    def logs(self) -> str:
        return self.inner.logs().decode(errors="replace")

    def exec(self, *command: str) -> tuple[int, str]:
        result = self.inner.exec_run(list(command))
        return result.exit_code, result.output.decode(errors="replace")

    def wait_healthy(self, timeout: float = 180.0) -> float:
        """Seconds from `docker run` until the image's health check (for its role) passed."""
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

    def ip_address(self, network: str) -> str:
        self.inner.reload()
        return str(self.inner.attrs["NetworkSettings"]["Networks"][network]["IPAddress"])

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
        if self.data is None:
            raise ValueError("no data directory mounted")
        return (self.data / "standin-ddl.log").read_text().splitlines()

    def events(self, name: str) -> list[str]:
        return [line for line in self.ddl_log() if line.split()[1] == name]

    def remove(self) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.inner.remove(force=True, v=True)


@contextlib.contextmanager
def removed_after() -> Iterator[list[Container]]:
    """A list to put started containers in; each is removed (forced) on the way out."""
    started: list[Container] = []
    try:
        yield started
    finally:
        for container in started:
            container.remove()

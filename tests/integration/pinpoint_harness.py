"""images/pinpoint built from real HBase and stand-in Pinpoint servers and run on the local
engine: what the image tests share (test_pinpoint_image, test_pinpoint_roles, test_local and the
real-component tier in tests/real). Each module builds through :func:`pinpoint_image`; the
engine's layer cache makes every build after the first take seconds.

The build runs as ``cdk deploy`` runs it: BuildKit through the docker CLI
(scripts.ops.build), plain progress captured. No registry or release site is reachable, so it
runs FROM locally debootstrapped images (conftest's ``jre_base_image``; the host's JRE for the
fetch stages, ``FETCH_IMAGE``; the host's JDK for the table tool, ``JDK_IMAGE``) and downloads
from a loopback mirror laid out under the real URL paths:

* ``hbase/<v>/hbase-<v>-hadoop3-bin.tar.gz``: REAL HBase — the release tarball's layout
  assembled from the real jars on Maven Central (tests/maven_artifacts.py says what is real and
  what is a placeholder). The image's launcher, table tool, health check and supervisor run it
  for real;
* ``github/v<v>/pinpoint-{collector,web}-<v>-exec.jar`` (the GitHub release's layout): one
  JDK-only program (standins/pinpoint/StandinPinpoint.java) that reads the supervisor's -D
  options, listens where they say and checks HBase at start-up through the real HBase client,
  as v3.1.0's HbaseVersionCheckBean does. The real-component tier replaces the web with the
  real web 3.0.1 (``web=`` of :func:`lay_out_mirror`).

Checksums are computed here and passed as build arguments, exactly as a real build passes the
published ones. Images get a tag unique to the session, removed after use.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import os
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

from tests import maven_artifacts
from tests.integration import base_images, builds
from tests.integration.mirror import serve_directory

REPO = Path(__file__).resolve().parents[2]
IMAGE_DIR = REPO / "images" / "pinpoint"
STANDINS = Path(__file__).resolve().parent / "standins" / "pinpoint"
PROBES = REPO / "tests" / "real" / "probes"
DOCKERFILE = (IMAGE_DIR / "Dockerfile").read_text()
PINPOINT_VERSION = re.search(r"^ARG PINPOINT_VERSION=(\S+)$", DOCKERFILE, re.M).group(1)  # type: ignore[union-attr]
HBASE_VERSION = re.search(r"^ARG HBASE_VERSION=(\S+)$", DOCKERFILE, re.M).group(1)  # type: ignore[union-attr]
# The tests run the HBase the image ships: the Dockerfile's default is what Maven Central serves.
assert HBASE_VERSION == maven_artifacts.HBASE_VERSION, (HBASE_VERSION, maven_artifacts.HBASE_VERSION)
# The real tarball unpacks to hbase-<v>-hadoop3/ (apache/hbase branch-2.6 hbase-assembly/pom.xml:
# finalName hbase-${project.version}, the hadoop3 build's version being <v>-hadoop3).
HBASE_TOP_DIR = f"hbase-{HBASE_VERSION}-hadoop3"
HBASE_TARBALL = f"{HBASE_TOP_DIR}-bin.tar.gz"
TABLES = re.findall(r"^create '([^']+)'", (IMAGE_DIR / "hbase" / "pinpoint-tables.hbase").read_text(), re.M)
IMAGE_UID = 10001
DATA_DIR_IN_IMAGE = "/var/lib/pinpoint/hbase"
# One suffix per session for every image the image tests build.
SESSION_TAG = uuid.uuid4().hex[:8]
# What bin/pinpoint-hbase passes every HBase JVM on Java 17 (bin/hbase's add_jdk11_jvm_flags).
JDK11_FLAGS = [
    "-Dorg.apache.hbase.thirdparty.io.netty.tryReflectionSetAccessible=true",
    *("--add-modules", "jdk.unsupported"),
    *(
        flag
        for package in ("java.io", "java.nio", "sun.nio.ch", "java.lang", "java.lang.reflect", "java.util")
        for flag in ("--add-opens", f"java.base/{package}=ALL-UNNAMED")
    ),
]


sha512 = maven_artifacts.sha512


def jar_path(component: str, version: str = PINPOINT_VERSION) -> str:
    """Where the GitHub release layout puts an exec jar, relative to the mirror root."""
    return f"github/v{version}/pinpoint-{component}-{version}-exec.jar"


def hbase_path(version: str = HBASE_VERSION) -> str:
    return f"hbase/{version}/hbase-{version}-hadoop3-bin.tar.gz"


def compile_java(sources: list[Path], out: Path, classpath: str = "") -> Path:
    out.mkdir(parents=True, exist_ok=True)
    command = ["javac", "--release", "17", "-nowarn", "-d", str(out)]
    if classpath:
        command += ["-cp", classpath]
    subprocess.run([*command, *map(str, sources)], check=True, capture_output=True)
    return out


def standin_jar(build: Path) -> Path:
    classes = compile_java([STANDINS / "StandinPinpoint.java"], build / "classes")
    jar = build / "standin.jar"
    subprocess.run(
        ["jar", "--create", "--file", str(jar), "--main-class", "StandinPinpoint", "-C", str(classes), "."],
        check=True,
    )
    return jar


def probe_classes(build: Path) -> Path:
    """tests/real/probes/*.java compiled against the HBase jars the image runs."""
    lib = maven_artifacts.hbase_lib()
    return compile_java(
        sorted(PROBES.glob("*.java")), build / "probe", f"{lib}/*:{lib}/client-facing-thirdparty/*"
    )


def _link(source: Path, target: Path) -> None:
    """Serve ``source`` at ``target`` without copying hundreds of MB per session."""
    target.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(source, target)


def lay_out_mirror(
    root: Path, build: Path, *, version: str = PINPOINT_VERSION, web: Path | None = None
) -> Path:
    """Real HBase and the stand-in collector (and web, unless ``web`` names the real jar) under
    ``root`` at the paths of the Apache archive and the GitHub release."""
    _link(maven_artifacts.hbase_tarball(), root / hbase_path())
    jar = standin_jar(build)
    _link(jar, root / jar_path("collector", version))
    _link(web or jar, root / jar_path("web", version))
    return root


def build_args(
    mirror_root: Path, mirror_url: str, base_image: str, *, version: str = PINPOINT_VERSION
) -> dict[str, str]:
    """The build args for the mirror: base URLs, base images, pinned checksums."""
    args = {
        "BASE_IMAGE": base_image,
        # The build stages run on the build platform (this engine's): its own JRE and JDK.
        "FETCH_IMAGE": base_images.jre_tag(base_images.host_arch()),
        "JDK_IMAGE": base_images.jdk_tag(base_images.host_arch()),
        "PINPOINT_BASE_URL": f"{mirror_url}/github",
        "HBASE_BASE_URL": f"{mirror_url}/hbase",
        "HBASE_SHA512": sha512(mirror_root / hbase_path()),
        "PINPOINT_COLLECTOR_SHA512": sha512(mirror_root / jar_path("collector", version)),
        "PINPOINT_WEB_SHA512": sha512(mirror_root / jar_path("web", version)),
    }
    if version != PINPOINT_VERSION:
        args["PINPOINT_VERSION"] = version
    return args


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
def stand_in_mirror(
    tmp_path_factory: pytest.TempPathFactory, *, version: str = PINPOINT_VERSION, web: Path | None = None
) -> Iterator[tuple[Path, str]]:
    """The artifacts (see :func:`lay_out_mirror`), served on loopback: yields (directory, base URL)."""
    root = lay_out_mirror(
        tmp_path_factory.mktemp("pinpoint-mirror"),
        tmp_path_factory.mktemp("standin-build"),
        version=version,
        web=web,
    )
    with serve_directory(root) as url:
        yield root, url


@contextlib.contextmanager
def stand_in_image(
    client: docker.DockerClient,
    base_image: str,
    mirror_root: Path,
    mirror_url: str,
    *,
    version: str = PINPOINT_VERSION,
) -> Iterator[str]:
    """images/pinpoint built for the engine's architecture from the mirror; yields the image ID
    (containers run by ID: another session's build cannot swap the image under a test)."""
    tag = f"local/pinpoint-it:{SESSION_TAG}-{uuid.uuid4().hex[:4]}"
    image = build(client, build_args(mirror_root, mirror_url, base_image, version=version), tag=tag)
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

    ``data``: a host directory mounted as HBASE_DATA_DIR; ``probe_dir``: HBaseProbe's classes
    (:func:`probe_classes`); other keyword arguments go to ``containers.run`` as they are.
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
        probe_dir: Path | None = None,
        **run: Any,
    ) -> None:
        self.data = data
        self.environment = environment
        self.probe_dir = probe_dir
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

    def hbase_conf(self) -> str:
        """The hbase-site.xml directory this container's HBase clients read (supervisor's rule)."""
        role = (self.environment or {}).get("PINPOINT_ROLE", "all-in-one")
        return "/opt/hbase/conf-network" if role == "hbase" else "/opt/hbase/conf"

    def tables(self) -> dict[str, dict[str, str]]:
        """``pinpoint-hbase tables describe``: table:family -> its regions, ttl, versions, encoding."""
        status, output = self.inner.exec_run(
            ["pinpoint-hbase", "tables", "describe"],
            environment={"HBASE_CONF_DIR": self.hbase_conf(), "HBASE_HEAPSIZE": "256"},
            demux=True,
        )
        stdout = (output[0] or b"").decode()
        assert status == 0, (output[1] or b"").decode()[-2000:]
        result: dict[str, dict[str, str]] = {}
        for line in stdout.splitlines():
            name, *fields = line.split()
            result[name] = dict(field.split("=", 1) for field in fields)
        return result

    def probe(self, *command: str, program: str = "HBaseProbe") -> str:
        """Run a program of tests/real/probes (HBaseProbe: against this container's HBase) in this
        container; its last "probe:" line."""
        if self.probe_dir is None:
            raise ValueError("no probe classes given")
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for path in self.probe_dir.rglob("*.class"):
                tar.add(path, arcname=f"probe/{path.relative_to(self.probe_dir)}")
        self.inner.put_archive("/tmp", archive.getvalue())
        classpath = (
            f"{self.hbase_conf()}:/opt/hbase/lib/*:/opt/hbase/lib/client-facing-thirdparty/*:/tmp/probe"
        )
        status, output = self.exec("java", "-Xmx256m", *JDK11_FLAGS, "-cp", classpath, program, *command)
        lines = [line for line in output.splitlines() if line.startswith("probe:")]
        assert status == 0, output[-3000:]
        assert lines, output[-3000:]
        return lines[-1]

    def command_line(self, marker: str) -> list[str]:
        """The arguments of the process whose command line contains ``marker`` (from /proc)."""
        script = (
            'for p in /proc/[0-9]*; do pid=${p#/proc/}; [ "$pid" = $$ ] && continue; '
            f"if tr '\\0' '\\n' < $p/cmdline 2>/dev/null | grep -qx -- '{marker}'; then "
            "tr '\\0' '\\n' < $p/cmdline; exit 0; fi; done; exit 1"
        )
        status, output = self.exec("bash", "-c", script)
        assert status == 0, f"no process with {marker!r} on its command line"
        return output.splitlines()

    def remove(self) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.inner.remove(force=True, v=True)


def hbase_role(
    client: docker.DockerClient, image: str, *, network: str, name: str, data: Path, probe_dir: Path
) -> Container:
    """The image as ``PINPOINT_ROLE=hbase`` on ``network``, named and host-named ``name``: the
    name HBase advertises in ZooKeeper, which the other roles resolve on the network."""
    return Container(
        client,
        image,
        data=data,
        environment={"PINPOINT_ROLE": "hbase"},
        network=network,
        name=name,
        hostname=name,
        mem_limit="2g",
        probe_dir=probe_dir,
    )


@contextlib.contextmanager
def removed_after() -> Iterator[list[Container]]:
    """A list to put started containers in; each is removed (forced) on the way out."""
    started: list[Container] = []
    try:
        yield started
    finally:
        for container in started:
            container.remove()

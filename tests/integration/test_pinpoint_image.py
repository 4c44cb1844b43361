"""Integration test of images/pinpoint: the real Dockerfile, supervisor and HBase, stand-in
collector and web.

The image is built by tests.integration.pinpoint_harness.py (shared with the role, `make local`
and real-component tests) from a loopback mirror laid out under the real URL paths: real HBase
2.6 jars from Maven Central in the release tarball's layout, and one stand-in for the Pinpoint
servers (its docstring says what it does). Here the all-in-one (the default PINPOINT_ROLE) runs
as ECS runs it. What this proves and what only AWS can prove is listed in images/pinpoint/README.md.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import docker.models.containers
import pytest

from tests.integration.builds import BuildFailed, vertices
from tests.integration.pinpoint_harness import (
    HBASE_TARBALL,
    HBASE_VERSION,
    IMAGE_UID,
    SESSION_TAG,
    TABLES,
    Container,
    build,
    build_args,
    data_dir,
    hbase_path,
    probe_classes,
    remove_image,
    removed_after,
    stand_in_image,
    stand_in_mirror,
)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    with stand_in_mirror(tmp_path_factory) as served:
        yield served


@pytest.fixture(scope="module")
def mirror_root(mirror: tuple[Path, str]) -> Path:
    return mirror[0]


@pytest.fixture(scope="module")
def mirror_url(mirror: tuple[Path, str]) -> str:
    return mirror[1]


@pytest.fixture(scope="module")
def pinpoint_image(
    docker_client: docker.DockerClient,
    jre_base_image: str,
    jdk_base_image: str,
    mirror_root: Path,
    mirror_url: str,
) -> Iterator[str]:
    with stand_in_image(docker_client, jre_base_image, mirror_root, mirror_url) as image:
        yield image


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return probe_classes(tmp_path_factory.mktemp("probe"))


@pytest.fixture
def containers(pinpoint_image: str) -> Iterator[list[Container]]:
    with removed_after() as started:
        yield started


# ECS stops a task with SIGTERM and kills it this many seconds later (Fargate's maximum).
ECS_STOP_TIMEOUT = 120


def build_error(client: docker.DockerClient, args: dict[str, str]) -> str:
    """A build that must fail: the one line make push-image / make local would print."""
    tag = f"local/pinpoint-it-broken:{uuid.uuid4().hex[:8]}"
    try:
        with pytest.raises(BuildFailed) as failure:
            build(client, args, tag=tag)
    finally:
        remove_image(client, tag)  # a build that wrongly succeeded leaves no tag behind
    return str(failure.value)


# What the deployment passes (stacks/constructs/pinpoint_service.py), with faster HBase checks.
CONTAINER_ENV = {
    "PINPOINT_BOOT_TIMEOUT_SECONDS": "240",
    "PINPOINT_WEB_ADMIN_PASSWORD": "integration-secret",
    "PINPOINT_HBASE_CHECK_INTERVAL_SECONDS": "2",
    "PINPOINT_HBASE_CHECK_FAILURES": "2",
}
# Ports that must listen on every interface, and ports that must stay on loopback (README
# "Runtime contract"): web, collector gRPC; collector HTTP, web management, and HBase's
# ZooKeeper, master RPC, master info, region server RPC and info (real HBase binds what
# conf/hbase-site.xml says).
PUBLIC_PORTS = {8080, 9991, 9992, 9993}
LOOPBACK_PORTS = {8081, 8443, 2181, 16000, 16010, 16020, 16030}
HMASTER = "org.apache.hadoop.hbase.master.HMaster"


def all_in_one(
    client: docker.DockerClient, image: str, data: Path, probe: Path, *, init: bool = True, **env: str
) -> Container:
    return Container(
        client,
        image,
        data=data,
        environment={**CONTAINER_ENV, **env},
        init=init,
        probe_dir=probe,
        ports={"8080/tcp": ("127.0.0.1", None)},
    )


def test_build_fails_closed_without_a_checksum(
    docker_client: docker.DockerClient, jre_base_image: str, mirror_root: Path, mirror_url: str
) -> None:
    args = build_args(mirror_root, mirror_url, jre_base_image)
    del args["HBASE_SHA512"]

    line = build_error(docker_client, args)

    assert line.startswith("build failed: [fetch-hbase 1/1] RUN "), line
    assert line.endswith(f"HBASE_SHA512: set build arg HBASE_SHA512 to the SHA-512 of {HBASE_TARBALL}"), line


def test_build_fails_closed_without_a_pinpoint_checksum(
    docker_client: docker.DockerClient, jre_base_image: str, mirror_root: Path, mirror_url: str
) -> None:
    args = build_args(mirror_root, mirror_url, jre_base_image)
    del args["PINPOINT_WEB_SHA512"]

    line = build_error(docker_client, args)

    assert line.startswith("build failed: [fetch-pinpoint 1/1] RUN "), line
    assert line.endswith("set build arg PINPOINT_WEB_SHA512 to the SHA-512 of pinpoint-web-3.1.0-exec.jar"), (
        line
    )


def test_build_rejects_an_artifact_that_does_not_match_its_checksum(
    docker_client: docker.DockerClient, jre_base_image: str, mirror_root: Path, mirror_url: str
) -> None:
    args = build_args(mirror_root, mirror_url, jre_base_image)
    args["HBASE_SHA512"] = hashlib.sha512(b"some other tarball").hexdigest()

    line = build_error(docker_client, args)

    url = f"{mirror_url}/{hbase_path()}"
    assert line.endswith(f"{url} does not match its pinned SHA-512 {args['HBASE_SHA512']}"), line


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
            "ls /opt /opt/hbase /opt/hbase/lib /opt/pinpoint /opt/pinpoint/lib /usr/local/lib/pinpoint-supervisor "
            "/opt/hbase/conf /opt/hbase/conf-network /usr/local/bin; find / -xdev -name '*.tar.gz' | wc -l; "
            "command -v javac || echo no-javac",
        ],
        remove=True,
    ).decode()
    names = listing.split()
    # From the HBase tarball only the jars, the info server's web app and the licences.
    assert {"lib", "hbase-webapps", "LICENSE.txt", "NOTICE.txt", "conf", "conf-network"} <= set(names)
    assert not {"bin", "docs", "shaded-clients", "ruby", "trace", "hbase.tar.gz"} & set(names), names
    assert {"pinpoint-collector.jar", "pinpoint-web.jar", "pinpoint-hbase-tables.jar"} <= set(names)
    assert {"pinpoint-supervisor", "pinpoint-healthcheck", "pinpoint-hbase"} <= set(names)
    # The supervisor's libraries, and each role's hbase-site.xml (nothing else: no hbase-env.sh).
    assert {"process.sh", "checks.sh", "memory.sh", "hbase.sh", "pinpoint.sh", "hbase-site.xml"} <= set(names)
    assert "hbase-env.sh" not in names
    assert names[-2] == "0", "a tarball was left in the image"
    assert names[-1] == "no-javac", "the JDK of the build stage reached the image"


def layers_above(client: docker.DockerClient, image_id: str, base: str, scratch: Path) -> list[set[str]]:
    """The file names in each layer the Dockerfile added above ``base``, from ``docker save``."""
    saved = scratch / "image.tar"
    with saved.open("wb") as out:
        for chunk in client.images.get(image_id).save(named=False):
            out.write(chunk)
    skip = len(client.images.get(base).attrs["RootFS"]["Layers"])
    with tarfile.open(saved) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
        result = []
        for name in manifest[0]["Layers"][skip:]:
            with tarfile.open(fileobj=archive.extractfile(name)) as layer:
                result.append({member.name for member in layer.getmembers() if not member.isdir()})
    return result


def test_each_artifact_is_stored_once_and_no_tarball_at_all(
    docker_client: docker.DockerClient, pinpoint_image: str, jre_base_image: str, tmp_path: Path
) -> None:
    """The fetch stages download, verify and unpack; the image gets each finished tree once."""
    layers = layers_above(docker_client, pinpoint_image, jre_base_image, tmp_path)
    for path in (
        f"opt/hbase/lib/hbase-server-{HBASE_VERSION}-hadoop3.jar",
        "opt/pinpoint/lib/pinpoint-hbase-tables.jar",
        "opt/pinpoint/pinpoint-collector.jar",
        "opt/pinpoint/pinpoint-web.jar",
    ):
        assert sum(path in files for files in layers) == 1, path
    assert not [name for files in layers for name in files if name.endswith((".tar.gz", ".tgz"))]
    # The downloader stays in the fetch stages.
    assert not [name for files in layers for name in files if name.endswith("fetch-verified")]


def test_boots_serves_restarts_as_pid_1_and_stops_cleanly(
    docker_client: docker.DockerClient,
    pinpoint_image: str,
    probe: Path,
    containers: list[Container],
    tmp_path: Path,
) -> None:
    data = data_dir(tmp_path)
    first = all_in_one(docker_client, pinpoint_image, data, probe)
    containers.append(first)
    boot_seconds = first.wait_healthy(timeout=300)
    reported = first.wait_log(r"\[supervisor\] boot complete in (\d+)s")
    logs = first.logs()
    print(
        f"\nboot time (real HBase, first start, 22 tables): {boot_seconds:.1f}s to healthy; "
        f"supervisor: {reported.group(1)}s"
    )
    assert boot_seconds < 240

    # Public ports on every interface; the admin surfaces on loopback only.
    listening = first.listening()
    for port in PUBLIC_PORTS:
        assert listening.get(port) & {"0.0.0.0", "::"}, (port, listening)  # type: ignore[operator]
    for port in LOOPBACK_PORTS:
        assert listening.get(port) == {"127.0.0.1"}, (port, listening)
    # The load balancer's path answers through the published port.
    url = f"http://127.0.0.1:{first.host_port('8080/tcp')}/api-public/serverTime"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
    assert re.search(r"\[supervisor\] memory limit 3072 MB \(cgroup v[12] ", logs), logs
    # Every table, as the table list declares it (upstream TTLs, the deployment's pre-split).
    tables = first.tables()
    assert {name.split(":")[0] for name in tables} == set(TABLES)
    assert tables["TraceV2:S"]["ttl"] == "5184000"
    assert tables["TraceV2:S"]["regions"] == "32"
    assert tables["TraceIndex:M"]["encoding"] == "PREFIX"
    assert tables["ApplicationIndex:Agents"]["encoding"] == "NONE"  # as upstream
    assert tables["StringMetaData:Str"]["regions"] == "8"  # the explicit SPLITS
    assert "pinpoint-bootstrap:done created 22 table(s), changed 0 families" in logs
    assert " failed: " not in logs  # no create refused: nothing was sent before the master was ready
    # The master JVM as pinpoint-hbase started it: G1, pinned heap and capped direct memory.
    master = first.command_line(HMASTER)
    assert "-XX:+UseG1GC" in master
    assert {"-Xms1228m", "-Xmx1228m", "-XX:MaxDirectMemorySize=256m", "-XX:+ExitOnOutOfMemoryError"} <= set(
        master
    )
    assert master[-1] == "start"
    # Admin password from the secret, reaching the web without being logged; console logs only.
    expected = hashlib.sha256(b"integration-secret").hexdigest()
    assert f"[web] standin web admin.password from environment: sha256 {expected}" in logs
    assert "integration-secret" not in logs
    assert first.exec("test", "-e", "/var/lib/pinpoint/logs")[0] != 0, "a log file was written"
    assert (
        first.exec("bash", "-c", "find / -xdev -name '*.log' -newer /proc/1 2>/dev/null | grep -v ^/proc")[1]
        == ""
    )
    # Collector and web passed v3.1.0's start-up check of HBase through the real client,
    # through the loopback ZooKeeper the all-in-one's hbase-site.xml names.
    for server in ("collector", "web"):
        assert re.search(
            rf"\[{server}\] standin {server} reached HBase {HBASE_VERSION}-hadoop3: ZooKeeper 127\.0\.0\.1 "
            r"\(znode /hbase\), 1 live region server\(s\), hbase:meta read",
            logs,
        ), logs
    # A cell written through the region server (WAL + memstore), to find again after the stop.
    assert (
        first.probe("put", "AgentInfo", "kept-row", "Info", "q", "survives-a-clean-stop")
        == "probe: put AgentInfo/kept-row"
    )

    # SIGTERM (what ECS sends): the clean path — flush, cluster shutdown, exit 0 — in budget.
    started = time.monotonic()
    first.inner.stop(timeout=ECS_STOP_TIMEOUT)
    stop_seconds = time.monotonic() - started
    assert first.wait_exit(timeout=10) == 0, first.logs()
    logs = first.logs()
    print(f"clean stop (real HBase): {stop_seconds:.1f}s")
    assert stop_seconds < ECS_STOP_TIMEOUT
    assert (
        logs.index("[supervisor] flushing all HBase tables")
        < logs.index("[hbase-flush] pinpoint-flushed:AgentInfo")
        < logs.index("[supervisor] flush complete")
        < logs.index("[supervisor] stopping HBase (master stop --shutDownCluster)")
        < logs.index("[supervisor] HBase stopped cleanly (cluster shutdown)")
    )
    assert "sending SIGTERM" not in logs
    assert "killing" not in logs

    # Second start on the same data, WITHOUT an init (the supervisor is PID 1) and with another
    # trace TTL: no table created twice, the trace families changed in place, old ZooKeeper
    # snapshots purged, the cell still there, healthy, and again a clean stop.
    second = all_in_one(
        docker_client, pinpoint_image, data, probe, init=False, PINPOINT_TTL_TRACE_SECONDS="86400"
    )
    containers.append(second)
    restart_seconds = second.wait_healthy(timeout=300)
    print(f"boot time (real HBase, restart, tables exist, 5 TTLs changed): {restart_seconds:.1f}s")
    assert second.exec("cat", "/proc/1/cmdline")[1].startswith("bash\0/usr/local/bin/pinpoint-supervisor")
    logs = second.logs()
    assert "pinpoint-bootstrap:done created 0 table(s), changed 5 families" in logs
    assert "pinpoint-bootstrap:changed TraceV2:S ttl 5184000 -> 86400" in logs
    tables = second.tables()
    assert tables["TraceV2:S"]["ttl"] == "86400"
    assert tables["TraceIndex:I"]["ttl"] == tables["TraceIndex:M"]["ttl"] == "86400"
    assert tables["AgentInfo:Info"]["ttl"] == "31536000"
    assert "[supervisor] purging old ZooKeeper snapshots" in logs
    assert second.probe("get", "AgentInfo", "kept-row", "Info", "q") == "probe: value survives-a-clean-stop"
    second.inner.stop(timeout=ECS_STOP_TIMEOUT)
    assert second.wait_exit(timeout=10) == 0, second.logs()
    assert "[supervisor] HBase stopped cleanly (cluster shutdown)" in second.logs()


def test_a_dead_region_server_fails_the_health_check_and_the_container(
    docker_client: docker.DockerClient,
    pinpoint_image: str,
    probe: Path,
    containers: list[Container],
    tmp_path: Path,
) -> None:
    container = all_in_one(
        docker_client, pinpoint_image, data_dir(tmp_path), probe, PINPOINT_HBASE_UNIFORM_SPLIT_REGIONS="2"
    )
    containers.append(container)
    container.wait_healthy(timeout=300)

    # The region server thread stops (Admin#stopRegionServer); the master JVM keeps running.
    assert container.probe("stop-region-server").startswith("probe: stopped region server localhost,16020,")
    deadline = time.monotonic() + 60
    while (result := container.exec("/usr/local/bin/pinpoint-healthcheck"))[
        0
    ] == 0 and time.monotonic() < deadline:
        time.sleep(1)
    status, output = result
    assert status == 1
    assert "no live region server (numRegionServers=0)" in output

    # Detection (2 x 2 s here) plus the stop path, which the supervisor bounds by the ECS stop timeout.
    assert container.wait_exit(timeout=ECS_STOP_TIMEOUT + 30) == 1
    logs = container.logs()
    assert "HBase no longer serves (no live region server); stopping the container" in logs
    # Nothing to flush with: the flush is skipped instead of hanging on regions nobody serves.
    assert "skipping the flush: HBase has no live region server to flush" in logs


def test_killing_the_collector_makes_the_container_exit_non_zero(
    docker_client: docker.DockerClient,
    pinpoint_image: str,
    probe: Path,
    containers: list[Container],
    tmp_path: Path,
) -> None:
    container = all_in_one(
        docker_client, pinpoint_image, data_dir(tmp_path), probe, PINPOINT_HBASE_UNIFORM_SPLIT_REGIONS="2"
    )
    containers.append(container)
    container.wait_healthy(timeout=300)

    # Find the collector JVM by its command line inside the container (no procps needed).
    kill = (
        'for p in /proc/[0-9]*; do pid=${p#/proc/}; [ "$pid" = $$ ] && continue; '
        "if tr '\\0' ' ' < $p/cmdline 2>/dev/null | grep -q 'pinpoint-collector.jar'; then kill -KILL $pid; fi; "
        "done"
    )
    container.inner.exec_run(["bash", "-c", kill])

    assert container.wait_exit(timeout=ECS_STOP_TIMEOUT + 30) != 0
    logs = container.logs()
    assert "collector exited unexpectedly with status 137" in logs
    assert "[supervisor] flush complete" in logs
    assert "[supervisor] HBase stopped cleanly (cluster shutdown)" in logs


@pytest.mark.usefixtures("qemu_arm64")
def test_builds_for_linux_arm64_with_the_fetch_stages_on_the_build_platform(
    docker_client: docker.DockerClient,
    jre_arm64_base_image: str,
    pinpoint_image: str,
    mirror_root: Path,
    mirror_url: str,
) -> None:
    """The fetch stages run on the build machine's platform: the arm64 build reuses what the
    amd64 build (``pinpoint_image``, built first) downloaded, verified and unpacked; only the
    target stage runs under QEMU."""
    tag = f"local/pinpoint-it:{SESSION_TAG}-arm64"
    log = io.StringIO()
    try:
        image = build(
            docker_client,
            build_args(mirror_root, mirror_url, jre_arm64_base_image),
            tag=tag,
            platform="linux/arm64",
            log=log,
        )

        assert image.attrs["Architecture"] == "arm64"
        machine = docker_client.containers.run(
            image.id, entrypoint=["uname", "-m"], platform="linux/arm64", remove=True
        )
        assert machine.decode().strip() == "aarch64"
        steps = vertices(log.getvalue())
        for stage in ("fetch-hbase 1/1", "fetch-pinpoint 1/1", "tables 4/4"):
            (state,) = [state for name, state in steps.items() if name.startswith(f"[{stage}] RUN")]
            assert state == "CACHED", (stage, log.getvalue())
        listing = docker_client.containers.run(
            image.id,
            entrypoint=["ls", "/opt/hbase", "/opt/pinpoint", "/opt/pinpoint/lib"],
            platform="linux/arm64",
            remove=True,
        ).decode()
        assert {
            "conf",
            "conf-network",
            "lib",
            "hbase-webapps",
            "pinpoint-collector.jar",
            "pinpoint-web.jar",
            "pinpoint-hbase-tables.jar",
        } <= set(listing.split())
    finally:
        remove_image(docker_client, tag)

"""``make local``'s objects on the Docker engine: names and labels, image builds for the engine's
own platform, the network, the HBase data volume and the two containers (see scripts.ops.local).

Every object is named from one prefix and labelled ``org.pinpoint-on-fargate.local=<prefix>``,
so ``make local-down`` finds exactly what ``make local`` made. Published ports bind 127.0.0.1.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

import docker
import docker.errors
import docker.models.containers
import docker.models.volumes

from scripts.ops.build import BuildSpec, build_image
from scripts.ops.docker_cli import DockerCli
from scripts.ops.engine import Platform, normalize_arch, verify_built_image
from scripts.ops.errors import EXIT_USAGE, ScriptError
from scripts.ops.output import Reporter

LABEL = "org.pinpoint-on-fargate.local"
NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")
HEALTHCHECK = "/usr/local/bin/pinpoint-healthcheck"
APP_PORT_IN_CONTAINER = 8080  # SampleApp's default PORT
STOP_TIMEOUT_SECONDS = 120  # the supervisor's stop budget fits ECS's 120 s: so here


def say(out: Reporter, text: str) -> None:
    out.note(f"local: {text}")


@dataclass(frozen=True)
class Names:
    """Every engine object of one local setup, named from one prefix and labelled with it."""

    prefix: str

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.prefix):
            raise ScriptError(
                f"--name {self.prefix!r} is invalid; allowed: 1-40 of a-z 0-9 _ . - starting with a letter or digit",
                exit_code=EXIT_USAGE,
            )

    @property
    def network(self) -> str:
        return self.prefix

    @property
    def pinpoint(self) -> str:
        return f"{self.prefix}-pinpoint"

    @property
    def app(self) -> str:
        return f"{self.prefix}-sample-app"

    @property
    def volume(self) -> str:
        return f"{self.prefix}-hbase-data"

    @property
    def pinpoint_image(self) -> str:
        return f"{self.prefix}/pinpoint:latest"

    @property
    def app_image(self) -> str:
        return f"{self.prefix}/sample-app:latest"

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL: self.prefix}


# --- images -----------------------------------------------------------------------------------


def engine_platform(client: docker.DockerClient) -> Platform:
    """The engine's own platform: what `make local` builds and runs (no emulation)."""
    info = client.info()
    return Platform(
        os=str(info.get("OSType", "linux")), architecture=normalize_arch(str(info.get("Architecture", "")))
    )


def build(
    client: docker.DockerClient,
    out: Reporter,
    *,
    what: str,
    spec: BuildSpec,
    cli: DockerCli,
) -> str:
    """Build with BuildKit (its display on a terminal, plain lines elsewhere); return the image ID."""
    say(out, f"building {what} for {spec.platform} as {spec.tag}")
    started = time.monotonic()
    image_id = build_image(spec, out, cli=cli)
    verify_built_image(client, image_id, spec.platform)
    say(out, f"built {what} in {time.monotonic() - started:.0f}s")
    return image_id


# --- network, volume, containers --------------------------------------------------------------


def published(port: int) -> tuple[str, int]:
    return ("127.0.0.1", port)  # never on the machine's other interfaces


def port_bindings(ports: Mapping[int, int]) -> dict[str, tuple[str, int]]:
    """The docker SDK's ``ports`` for container port -> host port, each on 127.0.0.1 only."""
    return {f"{container}/tcp": published(host) for container, host in ports.items()}


def ensure_network(client: docker.DockerClient, names: Names) -> None:
    if not client.networks.list(names=[names.network]):
        client.networks.create(names.network, driver="bridge", labels=names.labels)


def find_volume(client: docker.DockerClient, names: Names) -> docker.models.volumes.Volume | None:
    try:
        return client.volumes.get(names.volume)
    except docker.errors.NotFound:
        return None


def ensure_volume(client: docker.DockerClient, names: Names, out: Reporter) -> None:
    if find_volume(client, names) is not None:
        say(out, f"HBase data: reusing volume {names.volume}")
    else:
        client.volumes.create(names.volume, labels=names.labels)
        say(out, f"HBase data: new volume {names.volume}")


def stop_and_remove(container: docker.models.containers.Container) -> None:
    if container.status == "running":
        container.stop(timeout=STOP_TIMEOUT_SECONDS)  # SIGTERM: the supervisor's clean stop
    container.remove(force=True)


def remove_container(client: docker.DockerClient, name: str) -> bool:
    try:
        container = client.containers.get(name)
    except docker.errors.NotFound:
        return False
    stop_and_remove(container)
    return True


def labelled(client: docker.DockerClient, names: Names) -> list[docker.models.containers.Container]:
    return client.containers.list(all=True, filters={"label": f"{LABEL}={names.prefix}"})


def remove_network(client: docker.DockerClient, names: Names) -> None:
    for network in client.networks.list(names=[names.network]):
        if (network.attrs.get("Labels") or {}).get(LABEL) == names.prefix:
            network.remove()


def run_container(
    client: docker.DockerClient,
    names: Names,
    image: str,
    *,
    name: str,
    aliases: list[str],
    ports: Mapping[int, int],
    **run: object,
) -> docker.models.containers.Container:
    """``image`` detached on the setup's network under ``aliases``, labelled, each of ``ports``
    (container port -> host port) published on 127.0.0.1 only."""
    endpoint = client.api.create_endpoint_config(aliases=aliases) if aliases else None
    return client.containers.run(
        image,
        name=name,
        detach=True,
        network=names.network,
        networking_config={names.network: endpoint} if endpoint else None,
        labels=names.labels,
        ports=port_bindings(ports),
        **run,
    )


BOOT_COMPLETE = "[supervisor] boot complete in"


def wait_healthy(container: docker.models.containers.Container, timeout: int, out: Reporter) -> float:
    """Until the image's health check passes and the supervisor has said its boot is complete
    (it polls on its own clock, so the health check can pass a few seconds before the supervisor
    says so); the supervisor's own lines show the progress."""
    started = time.monotonic()
    shown = 0
    while time.monotonic() - started < timeout:
        text = container.logs().decode(errors="replace")
        lines = [line for line in text.splitlines() if "[supervisor]" in line]
        for line in lines[shown:]:
            out.note(f"  {line}")
        shown = len(lines)
        container.reload()
        if container.status != "running":
            tail = " | ".join(container.logs(tail=5).decode(errors="replace").splitlines())
            raise ScriptError(f"the Pinpoint container stopped while starting ({container.status}): {tail}")
        booted = any(BOOT_COMPLETE in line for line in lines)
        if booted and container.exec_run([HEALTHCHECK]).exit_code == 0:
            return time.monotonic() - started
        time.sleep(2)
    raise ScriptError(
        f"Pinpoint did not become healthy within {timeout}s; see `docker logs {container.name}`"
    )


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(1)
    raise ScriptError(f"{url} did not answer within {timeout:.0f}s")

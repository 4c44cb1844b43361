"""``make local`` / ``make local-down``: Pinpoint and the sample app on this machine's Docker
engine, no AWS account needed.

``up`` does what a deploy does, on the local engine, from the same settings (``-c`` arguments
and the settings file, exactly as ``make deploy`` reads them):

1. pin the SHA-512 of every download not pinned yet, as ``make deploy`` does on first use
   (:mod:`scripts.ops.preflight`; ``strict_checksums`` refuses instead);
2. build images/pinpoint for the engine's own architecture with the deploy's build args
   (``image_build_args``, ``pinpoint_version``; ``--build-arg`` on top), and the sample app
   (images/app/sample);
3. lay the agent out with the agent distributor itself (``agent_distribution/handler.py``'s
   ``distribute``: download, verify, render our settings, switch ``current``) into a host
   directory the app mounts read-only where the deploy mounts EFS;
4. run the all-in-one container (PINPOINT_ROLE default) on a private network under the
   collector's Service Connect name, its HBase data on a named volume, the web (and, unless
   ``--no-collector-ports``, the collector's gRPC ports) published on 127.0.0.1 only; wait
   until its health check passes;
5. run the sample app with the stack's APM_OPTS; print the URLs and where the admin password is.

``down`` stops and removes the containers and the network, and keeps the HBase data volume
(``--volumes`` removes it, with the agent directory and the admin password file).
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import docker
import docker.errors
import docker.models.containers
import docker.models.volumes
import requests

from scripts.ops.build import build_image, check_checksum_args
from scripts.ops.engine import Platform, api_error, docker_client, normalize_arch, verify_image_platform
from scripts.ops.errors import EXIT_USAGE, ScriptError
from scripts.ops.output import Reporter
from scripts.ops.pinning import artifacts
from scripts.ops.pinning import build_args as deploy_build_args
from scripts.ops.preflight import PINPOINT_DOCKERFILE, hidden_pins, pin_first_use
from scripts.ops.preflight import Request as PreflightRequest
from scripts.ops.settings import config_error, context_overrides
from stacks.config import CONFIG_DIR, REPO_ROOT, ConfigError, PlatformConfig, load_config

# What the deployment does is read from the constructs themselves (agent settings, APM_OPTS, the
# container's environment). They import aws_cdk, whose jsii runtime starts Node: imported where
# `up` needs them, so `--help` and `down` stay instant.

LABEL = "org.pinpoint-on-fargate.local"
PINPOINT_CONTEXT = PINPOINT_DOCKERFILE.parent
APP_CONTEXT = REPO_ROOT / "images" / "app"
APP_DOCKERFILE = "sample/Dockerfile"
APP_PORT_IN_CONTAINER = 8080  # SampleApp's default PORT
HEALTHCHECK = "/usr/local/bin/pinpoint-healthcheck"
NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")
# What the image needs at least (the all-in-one's three JVMs; images/pinpoint README).
MIN_MEMORY_MB = 2048
STOP_TIMEOUT_SECONDS = 120  # the supervisor's stop budget fits in ECS's 120 s; so here


def state_root(name: str) -> Path:
    """Where ``make local`` keeps its host files (agent tree, admin password): build/local/<name>."""
    return REPO_ROOT / "build" / "local" / name


@dataclass(frozen=True)
class Names:
    """Every engine object of one local setup, named from one prefix and labelled with it."""

    prefix: str

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


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ScriptError(
            f"--name {name!r} is invalid; allowed: 1-40 of a-z 0-9 _ . - starting with a letter or digit",
            exit_code=EXIT_USAGE,
        )
    return name


@dataclass(frozen=True)
class UpRequest:
    cdk_args: list[str]
    name: str = "pinpoint-local"
    config_dir: Path = CONFIG_DIR
    web_port: int = 8080
    app_port: int = 8081
    collector_ports: bool = True
    memory_mb: int = 4096
    build_args: Mapping[str, str] = field(default_factory=dict)
    app_build_args: Mapping[str, str] = field(default_factory=dict)
    build_network: str | None = None  # e.g. "host": a download mirror on this machine's loopback
    state_dir: Path | None = None  # default: build/local/<name>

    @property
    def state(self) -> Path:
        """Host files: agent/ (the agent tree) and admin-password."""
        return self.state_dir or state_root(self.name)


@dataclass(frozen=True)
class DownRequest:
    name: str = "pinpoint-local"
    volumes: bool = False
    state_dir: Path | None = None  # default: build/local/<name>

    @property
    def state(self) -> Path:
        return self.state_dir or state_root(self.name)


def say(out: Reporter, text: str) -> None:
    out.note(f"local: {text}")


# --- settings and checksums --------------------------------------------------------------------


def load_settings(request: UpRequest) -> PlatformConfig:
    try:
        return load_config(context_overrides(request.cdk_args), config_dir=request.config_dir)
    except ConfigError as error:
        raise config_error(error) from None


def pin_checksums(request: UpRequest, config: PlatformConfig, out: Reporter) -> PlatformConfig:
    """Pin unpinned downloads into the settings file exactly as ``make deploy`` does on first use.

    Checksums given with ``--build-arg`` count as pinned for this run (the build sees them).
    """
    items = [
        item
        for item in artifacts(config, PINPOINT_DOCKERFILE, image=True)
        if not item.pinned and not (item.build_arg and request.build_args.get(item.setting))
    ]
    if not items:
        return config
    if config.strict_checksums:
        names = ", ".join(f"{item.where} ({item.name})" for item in items)
        raise ScriptError(
            f"strict_checksums=true refuses unpinned downloads: no SHA-512 for {names}; pin them with "
            "`make pin-checksums` and check them out of band, or set them in the settings file",
            exit_code=EXIT_USAGE,
        )
    preflight = PreflightRequest(action="deploy", cdk_args=request.cdk_args, config_dir=request.config_dir)
    hidden = hidden_pins(preflight, items)
    if hidden:
        raise ScriptError(
            f"{', '.join(hidden)} would be pinned in the settings file, but -c arguments or cdk.json override "
            "it: move those settings into the file, or pin with `make pin-checksums` and pass the values",
            exit_code=EXIT_USAGE,
        )
    pin_first_use(preflight, items, out)
    return load_settings(request)


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
    context: Path,
    dockerfile: str,
    tag: str,
    platform: Platform,
    args: Mapping[str, str],
    network: str | None,
) -> str:
    say(out, f"building {what} for {platform} as {tag}")
    started = time.monotonic()
    with out.build_progress() as on_event:
        image_id = build_image(
            client,
            context=context,
            dockerfile=dockerfile,
            platform=platform,
            tag=tag,
            build_args=args,
            on_event=on_event,
            network_mode=network,
        )
    verify_image_platform(client.images.get(image_id).attrs, platform)
    say(out, f"built {what} in {time.monotonic() - started:.0f}s")
    return image_id


# --- the agent --------------------------------------------------------------------------------


def load_distributor() -> ModuleType:
    """The agent distributor's code, the Lambda's own file (loaded by path as its runtime does:
    it is Lambda code, not a package of the CDK app)."""
    from stacks.constructs.agent_distribution import HANDLER_DIR  # noqa: PLC0415 - see the imports

    name = "agent_distribution_handler"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HANDLER_DIR / "handler.py")
    if spec is None or spec.loader is None:
        raise ScriptError(f"cannot load the agent distributor from {HANDLER_DIR / 'handler.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def lay_out_agent(config: PlatformConfig, agent_dir: Path, out: Reporter) -> str:
    """The agent tree exactly as the deploy's distributor lays it out; returns the bundle id."""
    from stacks.constructs.agent_distribution import KEEP_VERSIONS, agent_settings  # noqa: PLC0415

    distributor = load_distributor()
    if config.agent_sha512 is None:  # pin_checksums pinned it unless strict mode refused
        raise ScriptError("agent_sha512 is not set: the agent cannot be verified (see docs/agent.md)")
    spec = distributor.BundleSpec(
        version=config.pinpoint_version,
        sha512=config.agent_sha512,
        download_base_url=config.agent_download_base_url,
        settings=distributor.AgentSettings.from_mapping(agent_settings(config)),
        keep_versions=KEEP_VERSIONS,
    )
    agent_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = distributor.distribute(agent_dir, spec)
    except distributor.DistributionError as error:
        raise ScriptError(f"agent distribution failed: {error}") from None
    # The app runs as uid 1000; EFS serves the tree through an access point owned by it. Here
    # the tree belongs to whoever ran `make local`: let every uid read it.
    for directory, _, files in os.walk(agent_dir):
        Path(directory).chmod(0o755)
        for name in files:
            path = Path(directory) / name
            if not path.is_symlink():
                path.chmod(0o644)
    verb = "installed" if result.changed else "already current:"
    say(out, f"agent {verb} {result.agent_path} in {agent_dir}")
    return result.bundle_id


# --- containers -------------------------------------------------------------------------------


def admin_password(state: Path) -> Path:
    """The web's admin password, kept in a 0600 file so it is the same on every run."""
    path = state / "admin-password"
    if not path.exists():
        state.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(24) + "\n")
    return path


def remove_container(client: docker.DockerClient, name: str) -> bool:
    try:
        container = client.containers.get(name)
    except docker.errors.NotFound:
        return False
    if container.status == "running":
        container.stop(timeout=STOP_TIMEOUT_SECONDS)
    container.remove(force=True)
    return True


def ensure_network(client: docker.DockerClient, names: Names) -> None:
    if not client.networks.list(names=[names.network]):
        client.networks.create(names.network, driver="bridge", labels=names.labels)


def ensure_volume(client: docker.DockerClient, names: Names, out: Reporter) -> None:
    try:
        client.volumes.get(names.volume)
        say(out, f"HBase data: reusing volume {names.volume}")
    except docker.errors.NotFound:
        client.volumes.create(names.volume, labels=names.labels)
        say(out, f"HBase data: new volume {names.volume}")


def published(port: int) -> tuple[str, int]:
    return ("127.0.0.1", port)  # never on the machine's other interfaces


def run_pinpoint(
    client: docker.DockerClient,
    names: Names,
    *,
    request: UpRequest,
    config: PlatformConfig,
    image: str,
    password_file: Path,
) -> docker.models.containers.Container:
    from stacks.constructs.pinpoint_service import HBASE_DATA_DIR, container_environment  # noqa: PLC0415

    ports: dict[str, tuple[str, int]] = {f"{config.web_port}/tcp": published(request.web_port)}
    if request.collector_ports:
        for port in (config.collector_agent_port, config.collector_stat_port, config.collector_span_port):
            ports[f"{port}/tcp"] = published(port)
    environment = {
        **container_environment(config),  # what the deployment passes
        "CONTAINER_MEMORY_MB": str(request.memory_mb),  # this container's limit, not the task's
        "PINPOINT_WEB_ADMIN_PASSWORD": password_file.read_text().strip(),
    }
    # Agents find the collector under its Service Connect name, as in the deployment.
    endpoint = client.api.create_endpoint_config(aliases=[config.collector_dns_name])
    return client.containers.run(
        image,
        name=names.pinpoint,
        detach=True,
        init=True,  # the deployment's initProcessEnabled
        mem_limit=f"{request.memory_mb}m",
        environment=environment,
        volumes={names.volume: {"bind": HBASE_DATA_DIR, "mode": "rw"}},
        network=names.network,
        networking_config={names.network: endpoint},
        ports=ports,
        labels=names.labels,
    )


def wait_healthy(container: docker.models.containers.Container, timeout: int, out: Reporter) -> float:
    """Until the image's health check passes; the supervisor's own lines show the progress."""
    started = time.monotonic()
    shown = 0
    while time.monotonic() - started < timeout:
        lines = [
            line for line in container.logs().decode(errors="replace").splitlines() if "[supervisor]" in line
        ]
        for line in lines[shown:]:
            out.note(f"  {line}")
        shown = len(lines)
        container.reload()
        if container.status != "running":
            tail = " | ".join(container.logs(tail=5).decode(errors="replace").splitlines())
            raise ScriptError(f"the Pinpoint container stopped while starting ({container.status}): {tail}")
        if container.exec_run([HEALTHCHECK]).exit_code == 0:
            return time.monotonic() - started
        time.sleep(2)
    raise ScriptError(
        f"Pinpoint did not become healthy within {timeout}s; see `docker logs {container.name}`"
    )


def run_app(
    client: docker.DockerClient,
    names: Names,
    *,
    request: UpRequest,
    config: PlatformConfig,
    image: str,
    agent_dir: Path,
) -> docker.models.containers.Container:
    from stacks.constructs.agent_distribution import apm_opts  # noqa: PLC0415 - see the imports

    return client.containers.run(
        image,
        name=names.app,
        detach=True,
        # The stack's APM_OPTS, the agent where the deployment mounts EFS (read-only).
        environment={"APM_OPTS": apm_opts(config.agent_mount_path, config.sample_app_name)},
        volumes={str(agent_dir.resolve()): {"bind": config.agent_mount_path, "mode": "ro"}},
        network=names.network,
        ports={f"{APP_PORT_IN_CONTAINER}/tcp": published(request.app_port)},
        labels=names.labels,
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


# --- the two commands -------------------------------------------------------------------------


def up(request: UpRequest, out: Reporter) -> int:
    names = Names(check_name(request.name))
    if request.memory_mb < MIN_MEMORY_MB:
        raise ScriptError(
            f"--memory-mb {request.memory_mb} is too small: the all-in-one needs at least {MIN_MEMORY_MB}",
            exit_code=EXIT_USAGE,
        )
    config = load_settings(request)
    client = docker_client()
    platform = engine_platform(client)
    config = pin_checksums(request, config, out)
    args = {**deploy_build_args(config, PINPOINT_DOCKERFILE), **request.build_args}
    check_checksum_args(PINPOINT_DOCKERFILE, args)
    agent_dir = request.state / "agent"
    try:
        pinpoint_image = build(
            client,
            out,
            what=f"images/pinpoint (Pinpoint {config.pinpoint_version})",
            context=PINPOINT_CONTEXT,
            dockerfile="Dockerfile",
            tag=names.pinpoint_image,
            platform=platform,
            args=args,
            network=request.build_network,
        )
        app_image = build(
            client,
            out,
            what="the sample app",
            context=APP_CONTEXT,
            dockerfile=APP_DOCKERFILE,
            tag=names.app_image,
            platform=platform,
            args=request.app_build_args,
            network=request.build_network,
        )
        bundle = lay_out_agent(config, agent_dir, out)
        for name in (names.app, names.pinpoint):
            if remove_container(client, name):
                say(out, f"replaced the previous {name} container")
        ensure_network(client, names)
        ensure_volume(client, names, out)
        password_file = admin_password(request.state)
        say(out, f"starting {names.pinpoint} (boot budget {config.boot_timeout_seconds}s)")
        pinpoint = run_pinpoint(
            client, names, request=request, config=config, image=pinpoint_image, password_file=password_file
        )
        seconds = wait_healthy(pinpoint, config.boot_timeout_seconds + 60, out)
        say(out, f"Pinpoint is healthy after {seconds:.0f}s")
        run_app(client, names, request=request, config=config, image=app_image, agent_dir=agent_dir)
        app_url = f"http://127.0.0.1:{request.app_port}/"
        wait_http(app_url, 120)
    except (docker.errors.APIError, requests.RequestException) as error:
        raise ScriptError(f"the Docker engine refused: {api_error(error)}") from error
    collector = (
        f"127.0.0.1:{config.collector_agent_port}-{config.collector_span_port} (agents on this machine)"
        if request.collector_ports
        else "not published (--no-collector-ports)"
    )
    for line in (
        f"Pinpoint web:    http://127.0.0.1:{request.web_port}/",
        f"admin password:  {password_file} (the web's admin.password, for /api/admin)",
        f"sample app:      {app_url}hello (traced as {config.sample_app_name}; agent versions/{bundle})",
        f"collector:       {collector}",
        f"HBase data:      docker volume {names.volume} (kept by make local-down; ARGS=--volumes removes it)",
        "stop:            make local-down",
    ):
        print(line, flush=True)
    return 0


def down(request: DownRequest, out: Reporter) -> int:
    names = Names(check_name(request.name))
    client = docker_client()
    try:
        containers = client.containers.list(all=True, filters={"label": f"{LABEL}={names.prefix}"})
        for container in containers:
            say(out, f"stopping and removing {container.name}")
            if container.status == "running":
                container.stop(timeout=STOP_TIMEOUT_SECONDS)
            container.remove(force=True)
        for network in client.networks.list(names=[names.network]):
            if network.attrs.get("Labels", {}).get(LABEL) == names.prefix:
                network.remove()
        volume = _volume(client, names)
        if volume is not None and request.volumes:
            volume.remove()
            shutil.rmtree(request.state, ignore_errors=True)
            say(out, f"removed the HBase data volume {names.volume} and {request.state}")
        elif volume is not None:
            say(
                out,
                f"kept the HBase data volume {names.volume}: the next make local starts with its data "
                "(make local-down ARGS=--volumes removes it)",
            )
    except (docker.errors.APIError, requests.RequestException) as error:
        raise ScriptError(f"the Docker engine refused: {api_error(error)}") from error
    if not containers:
        say(out, f"no {names.prefix} containers were running")
    return 0


def _volume(client: docker.DockerClient, names: Names) -> docker.models.volumes.Volume | None:
    try:
        return client.volumes.get(names.volume)
    except docker.errors.NotFound:
        return None

"""``make local`` / ``make local-down``: Pinpoint and the sample app on this machine's Docker
engine, no AWS account needed.

``up`` does what a deploy does, on the local engine, from the same settings (``-c`` arguments
and the settings file, exactly as ``make deploy`` reads them):

1. pin the SHA-512 of every download not pinned yet, as ``make deploy`` does on first use
   (:mod:`scripts.ops.preflight`; ``strict_checksums`` refuses instead);
2. build images/pinpoint for the engine's own architecture with the deploy's build args
   (``image_build_args``, ``pinpoint_version``; ``--build-arg`` on top), and the sample app
   (images/app/sample), with BuildKit through the docker CLI as ``cdk deploy`` builds;
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

import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
import requests

from scripts.ops.build import BuildSpec, check_checksum_args
from scripts.ops.docker_cli import find_buildkit_cli
from scripts.ops.engine import api_error, docker_client
from scripts.ops.errors import EXIT_USAGE, ScriptError
from scripts.ops.local_agent import lay_out_agent
from scripts.ops.local_engine import (
    APP_PORT_IN_CONTAINER,
    Names,
    build,
    engine_platform,
    ensure_network,
    ensure_volume,
    find_volume,
    labelled,
    remove_container,
    remove_network,
    run_container,
    say,
    stop_and_remove,
    wait_healthy,
    wait_http,
)
from scripts.ops.output import Reporter
from scripts.ops.pinning import artifacts, deploy_build_args
from scripts.ops.preflight import PINPOINT_DOCKERFILE, hidden_pins, pin_first_use
from scripts.ops.preflight import Request as PreflightRequest
from scripts.ops.settings import config_from_cdk_args
from stacks.config import CONFIG_DIR, REPO_ROOT, PlatformConfig

APP_CONTEXT = REPO_ROOT / "images" / "app"
APP_DOCKERFILE = "sample/Dockerfile"
# What the all-in-one needs at least (its three JVMs; images/pinpoint README "Memory sizing").
MIN_MEMORY_MB = 2048


def state_root(name: str) -> Path:
    """Where ``make local`` keeps its host files (agent tree, admin password): build/local/<name>."""
    return REPO_ROOT / "build" / "local" / name


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


# --- settings and checksums --------------------------------------------------------------------


def load_settings(request: UpRequest) -> PlatformConfig:
    return config_from_cdk_args(request.cdk_args, request.config_dir)


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


def pinpoint_ports(request: UpRequest, config: PlatformConfig) -> dict[int, int]:
    """The all-in-one's published ports, container -> host (run_container binds them to
    127.0.0.1): the web, and unless --no-collector-ports the collector's gRPC ports as they are."""
    ports = {config.web_port: request.web_port}
    if request.collector_ports:
        ports.update({port: port for port in config.collector_ports})
    return ports


def app_ports(request: UpRequest) -> dict[int, int]:
    """The sample app's published port, container -> host (on 127.0.0.1, as every port)."""
    return {APP_PORT_IN_CONTAINER: request.app_port}


def admin_password(state: Path) -> Path:
    """The web's admin password, kept in a 0600 file so it is the same on every run."""
    path = state / "admin-password"
    if not path.exists():
        state.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(24) + "\n")
    return path


# --- the two commands -------------------------------------------------------------------------


def up(request: UpRequest, out: Reporter) -> int:
    names = Names(request.name)
    if request.memory_mb < MIN_MEMORY_MB:
        raise ScriptError(
            f"--memory-mb {request.memory_mb} is too small: the all-in-one needs at least {MIN_MEMORY_MB}",
            exit_code=EXIT_USAGE,
        )
    config = load_settings(request)
    client = docker_client()
    platform = engine_platform(client)
    cli = find_buildkit_cli()
    say(out, f"builder: BuildKit through {cli}")
    config = pin_checksums(request, config, out)
    args = {**deploy_build_args(config), **request.build_args}
    check_checksum_args(PINPOINT_DOCKERFILE, args)
    agent_dir = request.state / "agent"
    # The deployment's own definitions. They import aws_cdk (its jsii runtime starts Node), so
    # they are imported here and not at module level: --help and `down` stay instant.
    from stacks.constructs.agent_distribution import apm_opts  # noqa: PLC0415
    from stacks.constructs.pinpoint_service import HBASE_DATA_DIR, container_environment  # noqa: PLC0415

    try:
        pinpoint_image = build(
            client,
            out,
            what=f"images/pinpoint (Pinpoint {config.pinpoint_version})",
            spec=BuildSpec(
                context=PINPOINT_DOCKERFILE.parent,
                dockerfile=PINPOINT_DOCKERFILE.name,
                tag=names.pinpoint_image,
                platform=platform,
                build_args=args,
                network=request.build_network,
            ),
            cli=cli,
        )
        app_image = build(
            client,
            out,
            what="the sample app",
            spec=BuildSpec(
                context=APP_CONTEXT,
                dockerfile=APP_DOCKERFILE,
                tag=names.app_image,
                platform=platform,
                build_args=request.app_build_args,
                network=request.build_network,
            ),
            cli=cli,
        )
        bundle = lay_out_agent(config, agent_dir, out)
        for name in (names.app, names.pinpoint):
            if remove_container(client, name):
                say(out, f"replaced the previous {name} container")
        ensure_network(client, names)
        ensure_volume(client, names, out)
        password_file = admin_password(request.state)
        say(out, f"starting {names.pinpoint} (boot budget {config.boot_timeout_seconds}s)")
        pinpoint = run_container(
            client,
            names,
            pinpoint_image,
            name=names.pinpoint,
            # Agents find the collector under its Service Connect name, as in the deployment.
            aliases=[config.collector_dns_name],
            init=True,  # the deployment's initProcessEnabled
            mem_limit=f"{request.memory_mb}m",
            environment={
                **container_environment(config),  # what the deployment passes
                "CONTAINER_MEMORY_MB": str(request.memory_mb),  # this container's limit, not the task's
                "PINPOINT_WEB_ADMIN_PASSWORD": password_file.read_text().strip(),
            },
            volumes={names.volume: {"bind": HBASE_DATA_DIR, "mode": "rw"}},
            ports=pinpoint_ports(request, config),
        )
        seconds = wait_healthy(pinpoint, config.boot_timeout_seconds + 60, out)
        say(out, f"Pinpoint is healthy after {seconds:.0f}s")
        run_container(
            client,
            names,
            app_image,
            name=names.app,
            aliases=[],
            # The stack's APM_OPTS, the agent where the deployment mounts EFS (read-only).
            environment={"APM_OPTS": apm_opts(config.agent_mount_path, config.sample_app_name)},
            volumes={str(agent_dir.resolve()): {"bind": config.agent_mount_path, "mode": "ro"}},
            ports=app_ports(request),
        )
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
    names = Names(request.name)
    client = docker_client()
    try:
        containers = labelled(client, names)
        for container in containers:
            say(out, f"stopping and removing {container.name}")
            stop_and_remove(container)
        remove_network(client, names)
        volume = find_volume(client, names)
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

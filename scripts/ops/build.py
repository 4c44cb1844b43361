"""Image builds with the classic builder, and the build args a Dockerfile declares.

The docker SDK does not raise when a build fails: the failure arrives as a stream line with an
``error`` key, so every build stream is read through :func:`read_build_stream`.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import docker
import docker.errors
import requests

from scripts.ops.engine import Platform, StreamEvent, api_error, stream_error
from scripts.ops.errors import EXIT_USAGE, ScriptError
from stacks.config import BUILD_ARG_NAME


def parse_build_arg(text: str) -> tuple[str, str]:
    """argparse type of ``--build-arg NAME=VALUE`` (NAME as a Dockerfile ARG name)."""
    name, separator, value = text.partition("=")
    if not separator or not BUILD_ARG_NAME.fullmatch(name):
        raise argparse.ArgumentTypeError(f"invalid build arg {text!r}: expected NAME=VALUE")
    return name, value


def read_build_stream(
    events: Iterable[StreamEvent], on_event: Callable[[StreamEvent], None] | None = None
) -> str:
    """Consume a build stream; return the built image ID or raise ``ScriptError`` on an error line."""
    image_id = ""
    for event in events:
        if on_event is not None:
            on_event(event)
        message = stream_error(event)
        if message is not None:
            raise ScriptError(f"build failed: {message}")
        aux = event.get("aux")
        if isinstance(aux, Mapping) and aux.get("ID"):
            image_id = str(aux["ID"])
    if not image_id:
        raise ScriptError("build failed: the engine reported no image ID")
    return image_id


def build_image(
    client: docker.DockerClient,
    *,
    context: Path,
    platform: Platform,
    tag: str,
    on_event: Callable[[StreamEvent], None] | None = None,
    dockerfile: str = "Dockerfile",
    build_args: Mapping[str, str] | None = None,
    network_mode: str | None = None,
) -> str:
    """Build ``context`` for ``platform`` with the classic builder, tag it, return the image ID.

    ``pull=False``: base images come from the local engine when present (our CI has no public
    registry); a missing base is still pulled by the engine. ``network_mode`` (e.g. ``host``)
    is the network of the RUN steps, for a download mirror on this machine's loopback.
    """
    if not (context / dockerfile).is_file():
        raise ScriptError(f"no {dockerfile} in build context {context}", exit_code=EXIT_USAGE)
    try:
        events = client.api.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=tag,
            platform=str(platform),
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            buildargs=dict(build_args or {}),
            network_mode=network_mode,
        )
        return read_build_stream(events, on_event)
    except (docker.errors.APIError, docker.errors.BuildError, requests.RequestException) as error:
        raise ScriptError(f"build failed: {api_error(error)}") from error


_EMPTY_CHECKSUM_ARG = re.compile(r"^ARG (\w+_SHA512)=\s*$", re.MULTILINE)


def required_checksum_args(dockerfile: Path) -> list[str]:
    """``*_SHA512`` build args a Dockerfile declares without a default.

    Such a build fails closed half-way through (after the base image and downloads); checking
    up front turns that into one line before anything is built or created.
    """
    return _EMPTY_CHECKSUM_ARG.findall(dockerfile.read_text())


def check_checksum_args(dockerfile: Path, build_args: Mapping[str, str]) -> None:
    missing = [name for name in required_checksum_args(dockerfile) if not build_args.get(name)]
    if missing:
        raise ScriptError(
            f"{dockerfile} needs build args {', '.join(missing)} (the SHA-512 of each download): "
            'run `make pin-checksums ARGS="--config ENV"` and pass --config ENV, or pass --build-arg NAME=SHA512',
            exit_code=EXIT_USAGE,
        )


def dockerfile_defaults(dockerfile: Path) -> dict[str, str]:
    """``ARG NAME=value`` defaults; the first wins (the fetch stage, which downloads the jars)."""
    defaults: dict[str, str] = {}
    for name, value in re.findall(r"^ARG (\w+)=(\S*)\s*$", dockerfile.read_text(), flags=re.MULTILINE):
        defaults.setdefault(name, value)
    return defaults

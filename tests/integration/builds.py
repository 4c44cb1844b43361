"""Image builds in tests, the way ``cdk deploy`` builds: BuildKit through the docker CLI.

Every test image is built by the project's own :func:`scripts.ops.build.build_image` (the code
``make push-image`` and ``make local`` run), in plain-progress mode with the log captured, on the
host network (download mirrors listen on this machine's loopback).
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path

import docker
import docker.models.images

from scripts.ops.build import BuildSpec, build_image
from scripts.ops.engine import Platform
from scripts.ops.errors import ScriptError
from scripts.ops.output import Reporter
from tests.integration import base_images


class BuildFailed(Exception):
    """A build that failed: the one line users see (``str``) and the whole plain log."""

    def __init__(self, summary: str, log: str) -> None:
        super().__init__(summary)
        self.log = log


def build(
    client: docker.DockerClient,
    context: Path,
    args: Mapping[str, str],
    *,
    tag: str,
    platform: str | None = None,
    no_cache: bool = False,
    log: io.StringIO | None = None,
) -> docker.models.images.Image:
    """Build ``context`` for ``platform`` (default: this machine's); the plain progress goes to
    ``log``. Raises :class:`BuildFailed`."""
    spec = BuildSpec(
        context=context,
        platform=Platform.parse(platform or f"linux/{base_images.host_arch()}"),
        tag=tag,
        build_args=dict(args),
        network="host",
        no_cache=no_cache,
    )
    log = io.StringIO() if log is None else log
    try:
        image_id = build_image(spec, Reporter(stream=log, interactive=False))
    except ScriptError as error:
        raise BuildFailed(str(error), log.getvalue()) from None
    return client.images.get(image_id)


def vertices(log: str) -> dict[str, str]:
    """BuildKit plain progress: step name (``[stage n/m] INSTRUCTION ...``) -> how it ended
    (``DONE``, ``CACHED`` or ``ERROR``)."""
    names: dict[str, str] = {}
    ended: dict[str, str] = {}
    for line in log.splitlines():
        if match := re.match(r"^#(\d+) (\[.*)$", line):
            names.setdefault(match.group(1), match.group(2))
        elif match := re.match(r"^#(\d+) (DONE|CACHED|ERROR)\b", line):
            ended[match.group(1)] = match.group(2)
    return {name: ended.get(vertex, "") for vertex, name in names.items()}

"""What the deploy downloads, and pinning the SHA-512 of each into the settings.

* ``image_build_args.PINPOINT_COLLECTOR_SHA512`` and ``image_build_args.PINPOINT_WEB_SHA512``:
  the collector and web jars ``images/pinpoint/Dockerfile`` fetches from Maven Central;
* ``agent_sha512``: the agent tarball the agent-distribution Lambda fetches from GitHub releases.

Each artifact is streamed once, from the same URL the build or the Lambda will use (the
Dockerfile's defaults, overridden by the project config, so mirrors work). When the repository
publishes a checksum next to the file (``.sha512``, else ``.sha1``: Maven Central always has
the latter) the download must match it; otherwise the value is trust-on-first-download.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from scripts.ops.build import dockerfile_defaults
from scripts.ops.downloads import PUBLISHED_DIGESTS, download_digests, published_checksum
from scripts.ops.errors import ScriptError
from scripts.ops.output import Reporter
from stacks.config import PlatformConfig
from stacks.versions import AGENT_VERSION


@dataclass(frozen=True)
class Artifact:
    """One pinned download and where its SHA-512 goes in the settings."""

    setting: str  # "agent_sha512" or an image build argument name
    url: str
    build_arg: bool

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Pinned:
    artifact: Artifact
    sha512: str
    verified_by: str | None  # the companion URL the download matched, None: trust on first download


def artifacts(config: PlatformConfig, dockerfile: Path) -> list[Artifact]:
    """The jars the image build fetches and the agent tarball the Lambda fetches, as they will."""
    # The build passes image_build_args as --build-arg, so they win over the Dockerfile's defaults.
    build_args = {**dockerfile_defaults(dockerfile), **config.image_build_args}
    missing = [name for name in ("PINPOINT_VERSION", "PINPOINT_BASE_URL") if not build_args.get(name)]
    if missing:
        raise ScriptError(f"no ARG {'/'.join(missing)} default in {dockerfile} nor in image_build_args")
    jar_version = build_args["PINPOINT_VERSION"]
    base = build_args["PINPOINT_BASE_URL"].rstrip("/")
    jars = [
        Artifact(
            setting=f"PINPOINT_{component.upper()}_SHA512",
            url=f"{base}/pinpoint-{component}/{jar_version}/pinpoint-{component}-{jar_version}-exec.jar",
            build_arg=True,
        )
        for component in ("collector", "web")
    ]
    # Same layout as BundleSpec.url in stacks/constructs/agent_distribution/handler.py.
    agent = AGENT_VERSION
    agent_url = f"{config.agent_download_base_url}/v{agent}/pinpoint-agent-{agent}.tar.gz"
    return [*jars, Artifact(setting="agent_sha512", url=agent_url, build_arg=False)]


def merged_settings(raw: dict[str, Any], pinned: list[Pinned]) -> dict[str, Any]:
    """``raw`` with the pinned values set; other keys and other build args are kept as they are."""
    settings = dict(raw)
    build_args = settings.get("image_build_args") or {}
    if isinstance(build_args, str):  # stacks.config also accepts the JSON-string form
        build_args = json.loads(build_args)
    build_args = dict(build_args)
    for item in pinned:
        if item.artifact.build_arg:
            build_args[item.artifact.setting] = item.sha512
        else:
            settings[item.artifact.setting] = item.sha512
    settings["image_build_args"] = build_args
    return settings


def pin(session: requests.Session, artifact: Artifact, out: Reporter) -> Pinned:
    """Download ``artifact`` and return its SHA-512, checked against the published checksum if any."""
    published = published_checksum(session, artifact.url)
    # One pass computes every candidate digest: SHA-1 is cheap next to the network.
    digests = download_digests(session, artifact.url, tuple(PUBLISHED_DIGESTS), out)
    if published is None:
        return Pinned(artifact, digests["sha512"], verified_by=None)
    actual = digests[published.algorithm]
    if actual != published.digest:
        raise ScriptError(
            f"checksum mismatch for {artifact.name}: {published.url} says {published.algorithm} "
            f"{published.digest}, the download from {artifact.url} has {actual}; nothing was written"
        )
    return Pinned(artifact, digests["sha512"], verified_by=published.url)

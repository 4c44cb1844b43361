"""What the deploy downloads, and pinning the SHA-512 of each into the settings.

* ``image_build_args.<NAME>_SHA512``: each download of ``images/pinpoint/Dockerfile`` whose
  checksum build arg is declared without a default (``ARG NAME_SHA512=``, fail closed): the
  collector and web exec jars from the GitHub release and the HBase tarball from the Apache
  archive;
* ``agent_sha512``: the agent tarball the agent-distribution Lambda fetches from the same release.

URLs are built from the same values the build and the Lambda use: the Dockerfile's ``ARG``
defaults, ``PINPOINT_VERSION`` from the ``pinpoint_version`` setting (the stack passes it as a
build arg), then ``image_build_args`` on top (mirrors, other versions). A download is verified
against the checksum its repository publishes next to it (``.sha512``, else ``.sha1``: Apache
publishes the former, Maven repositories and artifact servers used as mirrors the latter);
where nothing is published (GitHub releases publish no checksum files) the value is
trust-on-first-download and the report says how to check it out of band.

The exec jars are not on Maven Central: pinpoint-apm/pinpoint's root pom.xml gives the
``maven.central.release`` profile ``spring-boot.repackage.skip=true`` from v3.0.5 on, and
``.github/workflows/upload-release-assets.yml`` (v3.1.0) attaches ``pinpoint-{collector,web}-*-exec.jar``
to the GitHub release only.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from scripts.ops.build import dockerfile_defaults, required_checksum_args
from scripts.ops.downloads import PUBLISHED_DIGESTS, Probe, download_digests, probe, published_checksum
from scripts.ops.errors import EXIT_USAGE, ScriptError
from scripts.ops.output import Reporter
from stacks.config import PlatformConfig

# Checksum build args of images/pinpoint/Dockerfile and the URL each one verifies, in the
# Dockerfile's own ${VAR} syntax (the contract with images/pinpoint: each appears verbatim in its
# fetch stages, which a unit test checks). The jars follow the GitHub release layout, as the agent.
DOCKERFILE_DOWNLOADS = {
    "PINPOINT_COLLECTOR_SHA512": "${PINPOINT_BASE_URL}/v${PINPOINT_VERSION}/pinpoint-collector-${PINPOINT_VERSION}-exec.jar",
    "PINPOINT_WEB_SHA512": "${PINPOINT_BASE_URL}/v${PINPOINT_VERSION}/pinpoint-web-${PINPOINT_VERSION}-exec.jar",
    "HBASE_SHA512": "${HBASE_BASE_URL}/${HBASE_VERSION}/hbase-${HBASE_VERSION}-hadoop3-bin.tar.gz",
}
AGENT_SETTING = "agent_sha512"


@dataclass(frozen=True)
class Artifact:
    """One download the deploy verifies, where its SHA-512 goes, and what it is pinned to now."""

    setting: str  # "agent_sha512" or an image build argument name
    url: str
    build_arg: bool
    version: str = ""  # the settings that chose the version, for "does not exist" messages
    pinned: str | None = None
    # The file the current pin was taken from, when that is not this artifact's file (a version or
    # file name change since pinning): the pin is then stale and counts as not pinned.
    stale_from: str | None = None

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def where(self) -> str:
        """Where the value lives in the settings, as a user would write it."""
        return f"image_build_args.{self.setting}" if self.build_arg else self.setting


@dataclass(frozen=True)
class Pinned:
    artifact: Artifact
    sha512: str
    verified_by: str | None  # the companion URL the download matched, None: trust on first download


def deploy_build_args(config: PlatformConfig) -> dict[str, str]:
    """The build args ``cdk deploy`` passes (stacks/constructs/pinpoint_image.py): PINPOINT_VERSION
    from pinpoint_version (the schema refuses it in image_build_args), image_build_args on top."""
    return {"PINPOINT_VERSION": config.pinpoint_version, **config.image_build_args}


def build_args(config: PlatformConfig, dockerfile: Path) -> dict[str, str]:
    """The values the image build sees: Dockerfile defaults < :func:`deploy_build_args`. For
    computing URLs only: a default may refer to another ARG (``${BASE_IMAGE}``), unexpanded here."""
    return {**dockerfile_defaults(dockerfile), **deploy_build_args(config)}


def _version_hint(template: str, args: dict[str, str], config: PlatformConfig) -> str:
    names = [name for name in string.Template(template).get_identifiers() if name.endswith("VERSION")]
    hints = []
    for name in names:
        if name == "PINPOINT_VERSION":
            hints.append(f"pinpoint_version={config.pinpoint_version}")
        else:
            hints.append(f"{name}={args.get(name, '')}")
    return ", ".join(hints)


def _current_pin(config: PlatformConfig, setting: str, name: str, value: str | None) -> dict[str, Any]:
    """``pinned``/``stale_from`` of an artifact: a value pinned for another file is not a pin of this one.

    Values without a record in ``checksums_pinned_for`` (set by hand) are taken as they are.
    """
    pinned_for = config.checksums_pinned_for.get(setting)
    if value and pinned_for and pinned_for != name:
        return {"pinned": None, "stale_from": pinned_for}
    return {"pinned": value or None}


def artifacts(config: PlatformConfig, dockerfile: Path, *, image: bool = True) -> list[Artifact]:
    """What a deploy downloads: the image's pinned downloads (``image``: the build runs) and the agent."""
    found: list[Artifact] = []
    if image:
        args = build_args(config, dockerfile)
        for setting in required_checksum_args(dockerfile):
            template = DOCKERFILE_DOWNLOADS.get(setting)
            if template is None:
                if not args.get(setting):
                    raise ScriptError(
                        f"{dockerfile} needs build arg {setting}, a download make deploy does not know how to "
                        f"pin: set image_build_args.{setting} to its SHA-512",
                        exit_code=EXIT_USAGE,
                    )
                continue
            try:
                url = string.Template(template).substitute(args)
            except KeyError as missing:
                raise ScriptError(
                    f"no ARG {missing.args[0]} default in {dockerfile} nor in image_build_args "
                    f"(needed for the download {setting} verifies)",
                    exit_code=EXIT_USAGE,
                ) from None
            hint = _version_hint(template, args, config)
            current = _current_pin(config, setting, url.rsplit("/", 1)[-1], args.get(setting))
            found.append(Artifact(setting, url, build_arg=True, version=hint, **current))
    # Same layout as BundleSpec.url in stacks/constructs/agent_distribution/handler.py.
    version = config.pinpoint_version
    agent_url = f"{config.agent_download_base_url}/v{version}/pinpoint-agent-{version}.tar.gz"
    agent = Artifact(
        AGENT_SETTING,
        agent_url,
        build_arg=False,
        version=f"pinpoint_version={version}",
        **_current_pin(config, AGENT_SETTING, agent_url.rsplit("/", 1)[-1], config.agent_sha512),
    )
    return [*found, agent]


def probe_problem(artifact: Artifact, answer: Probe) -> str | None:
    """One line when ``artifact`` cannot be downloaded, naming the URL and the likely setting."""
    if answer.exists:
        return None
    if answer.missing:
        return (
            f"{artifact.name} does not exist: {answer.url} answered {answer.detail} "
            f"(check {artifact.version} and the download base URL)"
        )
    if answer.status is None:
        return f"cannot reach {answer.url} to download {artifact.name}: {answer.detail}"
    return f"cannot download {answer.url}: {answer.detail}"


def probe_all(session: requests.Session, items: list[Artifact]) -> list[tuple[Artifact, Probe]]:
    return [(item, probe(session, item.url)) for item in items]


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


def merged_settings(raw: dict[str, Any], pinned: list[Pinned]) -> dict[str, Any]:
    """``raw`` with the pinned values set; other keys and other build args are kept as they are."""
    settings = dict(raw)
    build_args = settings.get("image_build_args") or {}
    if isinstance(build_args, str):  # stacks.config also accepts the JSON-string form
        build_args = json.loads(build_args)
    build_args = dict(build_args)
    pinned_for = dict(settings.get("checksums_pinned_for") or {})
    for item in pinned:
        if item.artifact.build_arg:
            build_args[item.artifact.setting] = item.sha512
        else:
            settings[item.artifact.setting] = item.sha512
        pinned_for[item.artifact.setting] = item.artifact.name
    if build_args:
        settings["image_build_args"] = build_args
    settings["checksums_pinned_for"] = pinned_for
    return settings


def report_lines(pinned: list[Pinned]) -> list[str]:
    """The values and how each was verified; trust-on-first-download ones say how to check them."""
    lines = []
    for item in pinned:
        lines.append(f"{item.artifact.setting}={item.sha512}")
        if item.verified_by:
            lines.append(f"  {item.artifact.name}: matches {item.verified_by}")
        else:
            lines.append(
                f"  {item.artifact.name}: trust-on-first-download: no .sha512/.sha1 is published next to "
                f"{item.artifact.url}, so this is the hash of what was downloaded just now; check it out of "
                f"band before relying on it: download the file over another network (or from the release "
                f"page) and compare `sha512sum {item.artifact.name}` with the value above"
            )
    return lines

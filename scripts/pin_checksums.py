#!/usr/bin/env python3
"""Pin the SHA-512 of every artifact the deploy downloads into ``config/<ENV>.json``.

``make deploy`` refuses to run until three checksums are set (``scripts/preflight.py``):

* ``image_build_args.PINPOINT_COLLECTOR_SHA512`` and ``image_build_args.PINPOINT_WEB_SHA512``:
  the collector and web jars ``images/pinpoint/Dockerfile`` fetches from Maven Central;
* ``agent_sha512``: the agent tarball the agent-distribution Lambda fetches from GitHub releases.

Each artifact is streamed once, from the same URL the build or the Lambda will use (the
Dockerfile's defaults, overridden by the project config, so mirrors work). When the repository
publishes a checksum next to the file (``.sha512``, else ``.sha1``: Maven Central always has
the latter) the download must match it; otherwise the value is trust-on-first-download and the
output says so. Any failure writes nothing. Progress goes to stderr; the values, the notices and
the ``make deploy`` command go to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# `python scripts/pin_checksums.py` puts scripts/ on sys.path, not the repository root that
# holds the `scripts` and `stacks` packages; make the direct invocation work like `python -m`.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import requests  # noqa: E402
from rich.progress import (  # noqa: E402
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)

from scripts.common import EXIT_USAGE, Reporter, ScriptError, one_line, run_script  # noqa: E402
from stacks.config import (  # noqa: E402
    CONFIG_DIR,
    ConfigError,
    PlatformConfig,
    load_config,
    load_environment_file,
    parse_settings,
)
from stacks.versions import AGENT_VERSION  # noqa: E402

PROG = "pin-checksums"
DOCKERFILE = REPO_ROOT / "images" / "pinpoint" / "Dockerfile"
# The rule stacks.config.load_environment_file applies to `-c config=<name>`; needed here only
# to tell "file not created yet" (we create it) from "bad name" (its own error is re-raised).
ENVIRONMENT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Connect, then per-read: an unreachable mirror fails in seconds, a slow one is not cut off.
TIMEOUT = (10.0, 60.0)
CHUNK = 1 << 20
# A companion file is one hex digest, optionally followed by the file name (sha1sum format).
COMPANION_MAX_BYTES = 4096
# Companion checksums a repository may publish next to a file, preferred first, with hex length.
PUBLISHED_DIGESTS = {"sha512": 128, "sha1": 40}
MISSING = (404, 410)


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
class Published:
    """A checksum the repository publishes next to the artifact."""

    algorithm: str
    digest: str
    url: str


@dataclass(frozen=True)
class Pinned:
    artifact: Artifact
    sha512: str
    verified_by: str | None  # the companion URL the download matched, None: trust on first download


# --------------------------------------------------------------------------------------------
# What to download
# --------------------------------------------------------------------------------------------


def dockerfile_defaults(dockerfile: Path = DOCKERFILE) -> dict[str, str]:
    """``ARG NAME=value`` defaults; the first wins (the fetch stage, which downloads the jars)."""
    defaults: dict[str, str] = {}
    for name, value in re.findall(r"^ARG (\w+)=(\S*)\s*$", dockerfile.read_text(), flags=re.MULTILINE):
        defaults.setdefault(name, value)
    return defaults


def artifacts(config: PlatformConfig, dockerfile: Path = DOCKERFILE) -> list[Artifact]:
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


# --------------------------------------------------------------------------------------------
# Settings file
# --------------------------------------------------------------------------------------------


def read_environment(name: str, config_dir: Path) -> tuple[dict[str, Any], PlatformConfig]:
    """The file's own settings (``{}`` if it does not exist yet) and the config a deploy would see."""
    create = ENVIRONMENT_NAME.fullmatch(name) is not None and not (config_dir / f"{name}.json").exists()
    try:
        if create:
            return {}, load_config({}, config_dir=config_dir)
        # Bad names and invalid files fail here with stacks.config's own message.
        return load_environment_file(name, config_dir), load_config({"config": name}, config_dir=config_dir)
    except ConfigError as error:
        raise ScriptError(str(error).replace("\n", "; "), exit_code=EXIT_USAGE) from None


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


def write_settings(path: Path, settings: dict[str, Any]) -> None:
    """Replace ``path`` in one rename(2): a reader sees the old file or the new one, never half."""
    try:
        parse_settings(settings)  # never write a file the deploy would then refuse
    except ConfigError as error:
        raise ScriptError(f"not writing {path}: {one_line(error)}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(settings, indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; keep the existing file's mode, or the usual one for a new file.
        if path.exists():
            shutil.copymode(path, temporary)
        else:
            temporary.chmod(0o644)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise ScriptError(f"cannot write {path}: {error.strerror or error}") from None


# --------------------------------------------------------------------------------------------
# Downloads
# --------------------------------------------------------------------------------------------


def _http_error(url: str, error: Exception) -> ScriptError:
    # Connection errors wrap urllib3's MaxRetryError, whose text repeats the URL: keep its cause.
    cause = getattr(error.args[0], "reason", None) if error.args else None
    return ScriptError(f"cannot download {url}: {one_line(cause or error)}")


def _check_status(url: str, response: requests.Response) -> None:
    # requests' own HTTPError repeats the URL; the one line names it once.
    if not response.ok:
        raise ScriptError(f"cannot download {url}: HTTP {response.status_code} {response.reason}")


def published_checksum(session: requests.Session, url: str) -> Published | None:
    """The checksum the repository publishes next to ``url`` (``.sha512``, else ``.sha1``), if any."""
    for algorithm, length in PUBLISHED_DIGESTS.items():
        companion = f"{url}.{algorithm}"
        try:
            with session.get(companion, timeout=TIMEOUT, stream=True) as response:
                if response.status_code in MISSING:
                    continue
                _check_status(companion, response)
                text = response.raw.read(COMPANION_MAX_BYTES, decode_content=True).decode("ascii", "replace")
        except requests.RequestException as error:
            raise _http_error(companion, error) from None
        fields = text.split()
        digest = fields[0].lower() if fields else ""
        if not re.fullmatch(rf"[0-9a-f]{{{length}}}", digest):
            raise ScriptError(f"{companion} does not hold a {algorithm} digest: {text[:80]!r}")
        return Published(algorithm, digest, companion)
    return None


@contextlib.contextmanager
def download_progress(out: Reporter, url: str) -> Iterator[Callable[[int, int | None], None]]:
    """Yield ``advance(bytes, total)``: a bar on a terminal, one line per download elsewhere.

    ``Reporter`` has bars only for builds and pushes, so this uses its console the same way.
    """
    if not out.interactive:
        out.note(f"downloading {url}")
        yield lambda _size, _total: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=out.console, transient=False) as progress:
        task = progress.add_task(url.rsplit("/", 1)[-1], total=None)
        yield lambda size, total: progress.update(task, advance=size, total=total)


def download_digests(
    session: requests.Session, url: str, algorithms: tuple[str, ...], out: Reporter
) -> dict[str, str]:
    """Stream ``url`` once, hashing with every algorithm in ``algorithms`` on the way."""
    digests = {algorithm: hashlib.new(algorithm) for algorithm in algorithms}
    try:
        with session.get(url, timeout=TIMEOUT, stream=True) as response:
            _check_status(url, response)
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with download_progress(out, url) as advance:
                for chunk in response.iter_content(CHUNK):
                    for digest in digests.values():
                        digest.update(chunk)
                    advance(len(chunk), total)
    except requests.RequestException as error:
        raise _http_error(url, error) from None
    return {algorithm: digest.hexdigest() for algorithm, digest in digests.items()}


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


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pin_checksums.py",
        description=(
            "Download the Pinpoint collector and web jars and the agent tarball the deploy uses, "
            "verify each against the checksum its repository publishes (if any), and record their "
            "SHA-512 in config/ENV.json (agent_sha512, image_build_args)."
        ),
        epilog=(
            "Download URLs follow the settings a deploy would use: PINPOINT_VERSION/PINPOINT_BASE_URL "
            "from image_build_args (default: images/pinpoint/Dockerfile) and agent_download_base_url. "
            "Exit status: 0 pinned (or dry run), 1 download or verification failed, 2 bad arguments "
            "or configuration."
        ),
    )
    parser.add_argument(
        "--config",
        metavar="ENV",
        required=True,
        help="settings file config/ENV.json to update (created if missing), as `-c config=ENV` reads it",
    )
    parser.add_argument(
        "--config-dir",
        type=Path,
        default=CONFIG_DIR,
        metavar="DIR",
        help="directory of the settings files (default: config/, the one the CDK app reads)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="download, verify and print the values; write nothing"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    environment: str = args.config
    config_dir: Path = args.config_dir
    raw, config = read_environment(environment, config_dir)
    out = Reporter()

    with requests.Session() as session:
        pinned = [pin(session, artifact, out) for artifact in artifacts(config)]

    for item in pinned:
        print(f"{item.artifact.setting}={item.sha512}")
        if item.verified_by:
            print(f"  {item.artifact.name}: matches {item.verified_by}")
        else:
            print(
                f"  {item.artifact.name}: trust-on-first-download: no .sha512/.sha1 is published next to "
                f"{item.artifact.url}, so this is the hash of what was downloaded just now; check it out of band "
                "(e.g. against the release page or a second network) before deploying"
            )

    path = config_dir / f"{environment}.json"
    if args.dry_run:
        print(f"dry run: {path} not changed")
        return 0
    write_settings(path, merged_settings(raw, pinned))
    print(f"wrote {path}")
    if config_dir.resolve() != CONFIG_DIR.resolve():
        print(f"note: the CDK app reads settings from {CONFIG_DIR} only; move the file there to deploy it")
    print(f'next: make deploy CDK_ARGS="-c config={environment}"')
    return 0


if __name__ == "__main__":
    run_script(main, prog=PROG)

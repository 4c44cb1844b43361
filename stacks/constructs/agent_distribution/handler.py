"""Deploy-time distributor of the Pinpoint Java agent onto the agent EFS access point.

A CloudFormation custom resource (plain Lambda-backed, answering CloudFormation itself) runs
this during ``cdk deploy``. For the pinned agent release it:

1. returns at once when ``current`` already points at the bundle for this version + config
   (re-deploying the same bundle changes nothing); switches back without downloading when that
   bundle is still on the volume (a rollback);
2. downloads ``pinpoint-agent-<v>.tar.gz`` to local /tmp and verifies its SHA-512 before
   anything is unpacked; a missing or wrong checksum fails the deploy and leaves ``current``
   untouched (fail closed);
3. unpacks into ``.staging/`` on the volume (tar "data" filter: no absolute paths, ``..``,
   devices or links out of the tree), checks the layout (the version-less
   ``pinpoint-bootstrap.jar`` APM_OPTS names, the root config, the active profile), writes our
   settings into
   ``pinpoint-root.config`` and every ``profiles/*/pinpoint.config`` (a profile file overrides
   the root config, and the release profile sets collector ip 127.0.0.1 and 20 % sampling) and
   our console-only ``log4j2-agent.properties`` (the volume is read-only to the applications,
   so the stock file logs cannot be written), then renames the finished tree to
   ``versions/<version>-<config hash>/``;
4. switches ``current`` atomically: a new relative symlink under a temporary name, then
   ``rename(2)`` over the old one. A task starting at any moment sees the old or the new
   complete tree, never a partial one;
5. keeps the newest ``keep_versions`` bundles (tasks resolve ``current`` once at start and
   keep using that versioned path) and removes older ones and stale staging leftovers.

Plain stdlib: the Lambda runtime has no extra packages and tests run it against a temporary
directory and a local HTTP server.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

LOG = logging.getLogger(__name__)
LOG.setLevel(logging.INFO)

CURRENT = "current"
VERSIONS = "versions"
STAGING = ".staging"
MANIFEST = "pinpoint-on-fargate.json"
ROOT_CONFIG = "pinpoint-root.config"
# The agent's logging (see the file): looked up before the stock log4j2-agent.xml/.yaml.
LOG_CONFIG = "log4j2-agent.properties"
LOG_CONFIG_TEXT = (Path(__file__).with_name(LOG_CONFIG)).read_text(encoding="utf-8")
MANAGED_HEADER = "# --- pinpoint-on-fargate: managed settings (a later key overrides an earlier one) ---"
PHYSICAL_RESOURCE_ID = "pinpoint-agent-distribution"

SHA512_HEX = re.compile(r"^[0-9a-f]{128}$")
VERSION = re.compile(r"^\d+\.\d+\.\d+$")
MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024  # the 3.x agent is ~40 MB; fits Lambda's 512 MB /tmp
DOWNLOAD_ATTEMPTS = 3
DOWNLOAD_TIMEOUT_SECONDS = 60
STALE_STAGING_SECONDS = 3600
CHUNK = 1024 * 1024


class DistributionError(Exception):
    """A deploy-failing problem; ``str()`` is the one line CloudFormation shows."""


@dataclass(frozen=True)
class AgentSettings:
    """What the agent config says; rendered into Java properties by :func:`agent_properties`."""

    collector_host: str
    agent_port: int
    stat_port: int
    span_port: int
    profile: str
    sampling_percent: float
    excluded_urls: tuple[str, ...]
    recorded_headers: tuple[str, ...]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> AgentSettings:
        return cls(
            collector_host=str(data["collector_host"]),
            agent_port=int(data["agent_port"]),
            stat_port=int(data["stat_port"]),
            span_port=int(data["span_port"]),
            profile=str(data["profile"]),
            sampling_percent=float(data["sampling_percent"]),
            excluded_urls=tuple(data["excluded_urls"]),
            recorded_headers=tuple(data["recorded_headers"]),
        )


@dataclass(frozen=True)
class BundleSpec:
    """One agent bundle: the release, how to verify it, and the settings written into it."""

    version: str
    sha512: str
    download_base_url: str
    settings: AgentSettings
    keep_versions: int = 3

    @classmethod
    def from_properties(cls, properties: Mapping[str, Any]) -> BundleSpec:
        """From the custom resource's properties (CloudFormation passes every scalar as text)."""
        return cls(
            version=str(properties["Version"]),
            sha512=str(properties.get("Sha512", "")).strip().lower(),
            download_base_url=str(properties["DownloadBaseUrl"]).rstrip("/"),
            settings=AgentSettings.from_mapping(json.loads(properties["Settings"])),
            keep_versions=int(properties.get("KeepVersions", 3)),
        )

    @property
    def archive_name(self) -> str:
        return f"pinpoint-agent-{self.version}.tar.gz"

    @property
    def url(self) -> str:
        # GitHub release layout: <base>/v<version>/pinpoint-agent-<version>.tar.gz
        return f"{self.download_base_url}/v{self.version}/{self.archive_name}"

    @property
    def bootstrap_jar(self) -> str:
        """The version-less copy APM_OPTS names (-javaagent:<mount>/current/pinpoint-bootstrap.jar).

        The release's assembly writes the bootstrap jar twice, as pinpoint-bootstrap-<v>.jar and,
        via outputFileNameMapping, as pinpoint-bootstrap.jar (agent-module/agent/src/assembly/
        component/core.xml, v3.1.0). A bundle without it would start every app without the agent.
        """
        return "pinpoint-bootstrap.jar"

    @property
    def config_hash(self) -> str:
        """Changes with anything that changes the bundle's bytes: release, checksum, settings."""
        canonical = json.dumps(
            {
                "version": self.version,
                "sha512": self.sha512,
                "properties": agent_properties(self.settings),
                "log_config": hashlib.sha256(LOG_CONFIG_TEXT.encode()).hexdigest(),
            },
            sort_keys=True,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def bundle_id(self) -> str:
        return f"{self.version}-{self.config_hash[:12]}"

    def validate(self) -> None:
        if not VERSION.fullmatch(self.version):
            raise DistributionError(f"agent version {self.version!r} is not MAJOR.MINOR.PATCH")
        if not self.sha512:
            raise DistributionError(
                f"agent_sha512 is not set, so {self.archive_name} cannot be verified and is not installed: "
                f"set -c agent_sha512=<SHA-512 of {self.url}> (see docs/agent.md)"
            )
        if not SHA512_HEX.fullmatch(self.sha512):
            raise DistributionError(f"agent_sha512 is not 128 hex digits: {self.sha512[:20]!r}...")
        if self.keep_versions < 1:
            raise DistributionError(f"keep_versions must be at least 1, got {self.keep_versions}")


def _format_percent(percent: float) -> str:
    # Pinpoint parses a double with 0.01 % resolution; "100" rather than "100.0" for readers.
    return f"{percent:.2f}".rstrip("0").rstrip(".")


COLLECTOR_IP = "profiler.transport.grpc.collector.ip"


def agent_properties(settings: AgentSettings) -> dict[str, str]:
    """Our agent settings as Pinpoint 3.x property keys (pinpoint-root.config names).

    Every channel's host is ``${profiler.transport.grpc.collector.ip}``, as in the stock root
    config, and that one key is set in every file: the agent resolves placeholders against the
    merged properties (root config < profile < -Dpinpoint.config < environment < -D;
    ValueAnnotationProcessor/PropertyPlaceholderHelper in commons-config, v3.1.0), so an agent
    outside Service Connect redirects all four channels with one
    ``-Dprofiler.transport.grpc.collector.ip=<CollectorNlbDnsName>``. Ports are explicit.
    """
    host = settings.collector_host
    follow = "${" + COLLECTOR_IP + "}"
    return {
        "profiler.transport.module": "GRPC",
        COLLECTOR_IP: host,
        "profiler.transport.grpc.agent.collector.ip": follow,
        "profiler.transport.grpc.agent.collector.port": str(settings.agent_port),
        "profiler.transport.grpc.metadata.collector.ip": follow,
        "profiler.transport.grpc.metadata.collector.port": str(settings.agent_port),
        "profiler.transport.grpc.stat.collector.ip": follow,
        "profiler.transport.grpc.stat.collector.port": str(settings.stat_port),
        "profiler.transport.grpc.span.collector.ip": follow,
        "profiler.transport.grpc.span.collector.port": str(settings.span_port),
        "profiler.sampling.enable": "true",
        "profiler.sampling.type": "PERCENT",
        "profiler.sampling.percent.sampling-rate": _format_percent(settings.sampling_percent),
        # The server-wide default every web plugin (Tomcat, Jetty, Undertow, ...) falls back to
        # when its own profiler.<server>.excludeurl is empty, as it is in the stock profiles.
        "profiler.server.excludeurl": ",".join(settings.excluded_urls),
        "profiler.http.record.request.headers": ",".join(settings.recorded_headers),
    }


def _properties_line(key: str, value: str) -> str:
    """``key=value`` in java.util.Properties syntax (backslash escapes, no line breaks)."""
    if any(char in value for char in "\r\n"):
        raise DistributionError(f"agent setting {key} holds a line break")
    escaped = value.replace("\\", "\\\\")
    if escaped[:1] in {" ", "\t"}:
        escaped = "\\" + escaped
    return f"{key}={escaped}"


def managed_block(properties: Mapping[str, str]) -> str:
    lines = [MANAGED_HEADER, *(_properties_line(key, value) for key, value in properties.items())]
    return "\n" + "\n".join(lines) + "\n"


def render_bundle(tree: Path, spec: BundleSpec) -> None:
    """Write our settings into an unpacked agent tree (root config and every profile)."""
    missing = [
        name
        for name in (spec.bootstrap_jar, ROOT_CONFIG, f"profiles/{spec.settings.profile}/pinpoint.config")
        if not (tree / name).is_file()
    ]
    if missing:
        raise DistributionError(
            f"{spec.archive_name} does not look like a Pinpoint {spec.version} agent: missing {', '.join(missing)}"
        )
    properties = agent_properties(spec.settings)
    # Java Properties keeps the last value of a repeated key, so appending overrides the stock
    # values while leaving the vendor's file (and its comments) intact above our block.
    root_properties = {"pinpoint.profiler.profiles.active": spec.settings.profile, **properties}
    with (tree / ROOT_CONFIG).open("a", encoding="utf-8") as handle:
        handle.write(managed_block(root_properties))
    # Every profile, not just the active one: -Dpinpoint.profiler.profiles.active=local on one
    # service must not silently send its data to 127.0.0.1.
    for profile_config in sorted((tree / "profiles").glob("*/pinpoint.config")):
        with profile_config.open("a", encoding="utf-8") as handle:
            handle.write(managed_block(properties))
    (tree / LOG_CONFIG).write_text(LOG_CONFIG_TEXT, encoding="utf-8")
    manifest = {
        "version": spec.version,
        "sha512": spec.sha512,
        "source": spec.url,
        "config_hash": spec.config_hash,
        "settings": asdict(spec.settings),
        "properties": root_properties,
    }
    (tree / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# --- download -------------------------------------------------------------------------------
Fetcher = Callable[[str, Path], None]


def http_fetch(url: str, destination: Path) -> None:
    """Download ``url`` to ``destination``, retrying transient failures a bounded number of times."""
    last_error = ""
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        try:
            with (
                urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response,
                destination.open("wb") as out,
            ):
                size = 0
                while chunk := response.read(CHUNK):
                    size += len(chunk)
                    if size > MAX_DOWNLOAD_BYTES:
                        raise DistributionError(f"{url} is larger than {MAX_DOWNLOAD_BYTES} bytes")
                    out.write(chunk)
            return
        except urllib.error.HTTPError as error:
            last_error = f"HTTP {error.code}"
            if error.code < 500 and error.code != 429:
                break  # 404 & co will not get better
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            last_error = str(getattr(error, "reason", error))
        if attempt < DOWNLOAD_ATTEMPTS:
            time.sleep(2**attempt)
    raise DistributionError(f"cannot download {url}: {last_error}")


def sha512_of(path: Path) -> str:
    digest = hashlib.sha512()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- the volume -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Result:
    bundle_id: str
    changed: bool
    removed: tuple[str, ...] = ()

    @property
    def agent_path(self) -> str:
        return f"{VERSIONS}/{self.bundle_id}"


def current_target(root: Path) -> str | None:
    try:
        return os.readlink(root / CURRENT)
    except (FileNotFoundError, OSError):
        return None


def switch_current(root: Path, bundle_id: str) -> None:
    """Point ``current`` at ``versions/<bundle_id>`` in one rename(2).

    The link is relative so it resolves the same at the distributor's mount point and at
    every application's (the access point is mounted at different paths).
    """
    temporary = root / f".{CURRENT}.{uuid.uuid4().hex}"
    os.symlink(f"{VERSIONS}/{bundle_id}", temporary)
    try:
        os.replace(temporary, root / CURRENT)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise DistributionError(f"cannot switch {root / CURRENT}: {error.strerror}") from None


def _unpack(archive: Path, staging: Path) -> Path:
    """Unpack into ``staging`` and return the agent's top directory inside it."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(staging, filter="data")
    except (tarfile.TarError, OSError, EOFError) as error:
        raise DistributionError(f"cannot unpack the agent archive: {error}") from None
    entries = list(staging.iterdir())
    # Release tarballs hold one top directory (pinpoint-agent-<v>/); accept a flat one too.
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return staging


def _prune(root: Path, keep: int, current_bundle: str) -> tuple[str, ...]:
    """Remove all but the ``keep`` newest bundles (never the current one) and stale staging."""
    removed: list[str] = []
    versions = [entry for entry in (root / VERSIONS).iterdir() if entry.is_dir() and not entry.is_symlink()]
    others = sorted(
        (entry for entry in versions if entry.name != current_bundle),
        key=lambda entry: entry.stat().st_mtime,
        reverse=True,
    )
    for entry in others[max(keep - 1, 0) :]:
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry.name)
    now = time.time()
    for entry in [*(root / STAGING).iterdir(), *root.glob(f".{CURRENT}.*")]:
        try:
            stale = now - entry.lstat().st_mtime > STALE_STAGING_SECONDS
        except FileNotFoundError:
            continue
        if stale:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    return tuple(removed)


def distribute(
    root: Path, spec: BundleSpec, *, fetch: Fetcher = http_fetch, tmp_dir: Path | None = None
) -> Result:
    """Make ``root/current`` the agent bundle ``spec`` describes (see the module docstring)."""
    spec.validate()
    bundle_id = spec.bundle_id
    bundle = root / VERSIONS / bundle_id
    (root / VERSIONS).mkdir(parents=True, exist_ok=True)
    (root / STAGING).mkdir(exist_ok=True)

    if current_target(root) == f"{VERSIONS}/{bundle_id}" and bundle.is_dir():
        LOG.info("agent bundle %s is already current: nothing to do", bundle_id)
        return Result(bundle_id=bundle_id, changed=False)

    if not bundle.is_dir():
        with tempfile.TemporaryDirectory(dir=tmp_dir) as scratch:
            archive = Path(scratch) / spec.archive_name
            LOG.info("downloading %s", spec.url)
            fetch(spec.url, archive)
            actual = sha512_of(archive)
            if actual != spec.sha512:
                before = current_target(root) or "nothing (first install)"
                raise DistributionError(
                    f"SHA-512 mismatch for {spec.url}: expected {spec.sha512[:16]}..., got {actual[:16]}...; "
                    f"nothing was unpacked and current still points at {before}"
                )
            staging = root / STAGING / f"{bundle_id}.{uuid.uuid4().hex}"
            staging.mkdir()
            try:
                tree = _unpack(archive, staging)
                render_bundle(tree, spec)
                try:
                    tree.rename(bundle)
                except OSError:
                    if not bundle.is_dir():  # a concurrent run finished first: use its tree
                        raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)

    # Pruning keeps the newest bundles by mtime; unpacked trees carry the tarball's old mtime.
    os.utime(bundle)
    switch_current(root, bundle_id)
    LOG.info("current -> %s/%s", VERSIONS, bundle_id)
    removed = _prune(root, spec.keep_versions, bundle_id)
    return Result(bundle_id=bundle_id, changed=True, removed=removed)


# --- CloudFormation custom resource protocol ------------------------------------------------
class _Responder:
    """Sends exactly one response to CloudFormation's pre-signed URL, whoever calls first."""

    def __init__(self, event: Mapping[str, Any]) -> None:
        self._event = event
        self._lock = threading.Lock()
        self._sent = False

    def send(self, status: str, reason: str, data: Mapping[str, str] | None = None) -> None:
        with self._lock:
            if self._sent:
                return
            self._sent = True
        body = json.dumps(
            {
                "Status": status,
                "Reason": reason[:1000],
                "PhysicalResourceId": self._event.get("PhysicalResourceId", PHYSICAL_RESOURCE_ID),
                "StackId": self._event["StackId"],
                "RequestId": self._event["RequestId"],
                "LogicalResourceId": self._event["LogicalResourceId"],
                "Data": dict(data or {}),
            }
        ).encode()
        request = urllib.request.Request(
            self._event["ResponseURL"],
            data=body,
            method="PUT",
            headers={"Content-Type": "", "Content-Length": str(len(body))},
        )
        for attempt in range(1, 4):
            try:
                with urllib.request.urlopen(request, timeout=30):
                    return
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                LOG.warning("response to CloudFormation failed (attempt %d): %s", attempt, error)
                time.sleep(attempt)


@contextmanager
def _watchdog(responder: _Responder, context: Any) -> Iterator[None]:
    """Answer FAILED shortly before the Lambda times out, instead of leaving the stack waiting."""
    remaining = context.get_remaining_time_in_millis() / 1000 if context else 900
    timer = threading.Timer(
        max(remaining - 15, 1),
        responder.send,
        args=("FAILED", "agent distribution timed out (see the function's log group)"),
    )
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def handler(event: Mapping[str, Any], context: Any) -> None:
    """Lambda entry point for Create/Update/Delete of the custom resource."""
    responder = _Responder(event)
    LOG.info("%s request for %s", event.get("RequestType"), event.get("LogicalResourceId"))
    with _watchdog(responder, context):
        try:
            if event["RequestType"] == "Delete":
                # The EFS file system is retained and running tasks may still use the agent.
                responder.send("SUCCESS", "agent files are kept on the retained file system")
                return
            spec = BundleSpec.from_properties(event["ResourceProperties"])
            result = distribute(Path(os.environ["AGENT_ROOT"]), spec)
            verb = "installed" if result.changed else "already current:"
            responder.send(
                "SUCCESS",
                f"{verb} {result.agent_path}",
                {"BundleId": result.bundle_id, "AgentPath": result.agent_path},
            )
        except DistributionError as error:
            LOG.error("%s", error)
            responder.send("FAILED", str(error))
        except Exception as error:  # answer CloudFormation whatever happened
            LOG.exception("unexpected failure")
            responder.send("FAILED", f"unexpected {type(error).__name__}: {error}")

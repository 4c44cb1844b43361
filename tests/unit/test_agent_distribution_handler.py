"""The agent distributor (Lambda handler) against a temporary directory standing in for EFS.

The "release" is a stand-in agent tarball laid out like pinpoint-agent-<v>.tar.gz, including the
stock values the release profile is known to override (collector ip 127.0.0.1, 20 % sampling),
served by a local HTTP server so the real download path runs.
"""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import io
import json
import os
import re
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from stacks.versions import PINPOINT_VERSION as VERSION

REPO_ROOT = Path(__file__).resolve().parents[2]
HANDLER_PATH = REPO_ROOT / "stacks" / "constructs" / "agent_distribution" / "handler.py"


def _load_handler() -> ModuleType:
    # Lambda code, not a package of the CDK app: load it by path as the runtime does.
    spec = importlib.util.spec_from_file_location("agent_distribution_handler", HANDLER_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


h = _load_handler()

STOCK_ROOT_CONFIG = """\
pinpoint.profiler.profiles.active=release
profiler.transport.module=GRPC
profiler.transport.grpc.collector.ip=127.0.0.1
profiler.transport.grpc.agent.collector.ip=${profiler.transport.grpc.collector.ip}
profiler.transport.grpc.agent.collector.port=9991
profiler.transport.grpc.span.collector.port=9993
profiler.sampling.type=COUNTING
profiler.sampling.counting.sampling-rate=1
profiler.server.excludeurl=
#profiler.http.record.request.headers=
"""
STOCK_RELEASE_PROFILE = """\
profiler.transport.grpc.collector.ip=127.0.0.1
profiler.collector.ip=127.0.0.1
profiler.sampling.type=COUNTING
profiler.sampling.counting.sampling-rate=20
profiler.sampling.percent.sampling-rate=5
profiler.tomcat.excludeurl=
"""
STOCK_LOCAL_PROFILE = (
    "profiler.transport.grpc.collector.ip=127.0.0.1\nprofiler.sampling.counting.sampling-rate=1\n"
)


def make_agent_tarball(
    version: str = VERSION,
    *,
    top_dir: bool = True,
    extra: dict[str, bytes] | None = None,
    without: tuple[str, ...] = (),
) -> bytes:
    """Laid out like the release: the bootstrap jar twice, versioned and version-less
    (agent-module/agent/src/assembly/component/core.xml, v3.1.0)."""
    files = {
        f"pinpoint-bootstrap-{version}.jar": b"PK\x03\x04 stand-in bootstrap jar",
        "pinpoint-bootstrap.jar": b"PK\x03\x04 stand-in bootstrap jar",
        "pinpoint-root.config": STOCK_ROOT_CONFIG.encode(),
        "profiles/release/pinpoint.config": STOCK_RELEASE_PROFILE.encode(),
        "profiles/local/pinpoint.config": STOCK_LOCAL_PROFILE.encode(),
        "lib/pinpoint-profiler.jar": b"lib",
        "plugin/pinpoint-tomcat-plugin.jar": b"plugin",
        **(extra or {}),
    }
    files = {name: data for name, data in files.items() if name not in without}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"pinpoint-agent-{version}/{name}" if top_dir else name)
            info.size, info.mtime, info.mode = len(data), 1_600_000_000, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


class Mirror:
    """A release mirror on 127.0.0.1 serving <base>/v<version>/<archive>; counts downloads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        mirror = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(mirror.root), **kwargs)

            def do_GET(self) -> None:
                mirror.requests.append(self.path)
                super().do_GET()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/releases"

    def publish(self, data: bytes, version: str = VERSION) -> None:
        path = self.root / "releases" / f"v{version}" / f"pinpoint-agent-{version}.tar.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirror]:
    server = Mirror(tmp_path_factory.mktemp("mirror"))
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture(scope="module")
def tarball(mirror: Mirror) -> bytes:
    data = make_agent_tarball()
    mirror.publish(data)
    return data


SETTINGS = h.AgentSettings(
    collector_host="pinpoint",
    agent_port=9991,
    stat_port=9992,
    span_port=9993,
    profile="release",
    sampling_percent=100.0,
    excluded_urls=("/", "/actuator/prometheus"),
    recorded_headers=("Origin", "User-Agent"),
)


@pytest.fixture
def spec(mirror: Mirror, tarball: bytes) -> Any:
    return h.BundleSpec(
        version=VERSION, sha512=sha512(tarball), download_base_url=mirror.base_url, settings=SETTINGS
    )


def read_properties(path: Path) -> dict[str, str]:
    """java.util.Properties for the subset the files use: key=value lines, later keys win."""
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().replace("\\\\", "\\")
    return values


PLACEHOLDER = re.compile(r"\$\{([^}:]+)(?::([^}]*))?\}")


def resolve(properties: dict[str, str]) -> dict[str, str]:
    """``${key}`` / ``${key:default}`` resolved against the merged properties, recursively, as the
    agent's PropertyPlaceholderHelper does (commons-config, v3.1.0)."""

    def value(key: str, depth: int = 0) -> str:
        assert depth < 10, f"placeholder cycle at {key}"
        return PLACEHOLDER.sub(
            lambda m: (
                value(m.group(1), depth + 1) if m.group(1) in properties else (m.group(2) or m.group(0))
            ),
            properties[key],
        )

    return {key: value(key) for key in properties}


def effective_config(
    agent_dir: Path, profile: str | None = None, system_properties: dict[str, str] | None = None
) -> dict[str, str]:
    """What the agent reads: root config, the active profile's file on top, then -D options,
    placeholders resolved last against the merged result."""
    root = read_properties(agent_dir / "pinpoint-root.config")
    active = profile or root["pinpoint.profiler.profiles.active"]
    merged = {**root, **read_properties(agent_dir / "profiles" / active / "pinpoint.config")}
    return resolve({**merged, **(system_properties or {})})


# --- rendering --------------------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["release", "local"])
def test_effective_config_points_at_the_collector_dns_name_and_ports(
    tmp_path: Path, spec: Any, profile: str
) -> None:
    spec = replace(spec, settings=replace(SETTINGS, profile=profile, sampling_percent=12.5))
    h.distribute(tmp_path, spec)
    config = effective_config(tmp_path / "current")
    assert config["pinpoint.profiler.profiles.active"] == profile
    assert config["profiler.transport.module"] == "GRPC"
    for channel, port in [("agent", "9991"), ("metadata", "9991"), ("stat", "9992"), ("span", "9993")]:
        assert config[f"profiler.transport.grpc.{channel}.collector.ip"] == "pinpoint"
        assert config[f"profiler.transport.grpc.{channel}.collector.port"] == port
    assert config["profiler.transport.grpc.collector.ip"] == "pinpoint"
    # The release profile's COUNTING/20 and 127.0.0.1 are overridden on purpose.
    assert config["profiler.sampling.type"] == "PERCENT"
    assert config["profiler.sampling.percent.sampling-rate"] == "12.5"
    assert config["profiler.server.excludeurl"] == "/,/actuator/prometheus"
    assert config["profiler.http.record.request.headers"] == "Origin,User-Agent"


def test_one_system_property_redirects_every_channel(tmp_path: Path, spec: Any) -> None:
    """Agents outside Service Connect point the bundle at the collector NLB with one -D option."""
    h.distribute(tmp_path, spec)
    nlb = "internal-pinpoint-collector-0123.elb.eu-west-1.amazonaws.com"
    config = effective_config(
        tmp_path / "current", system_properties={"profiler.transport.grpc.collector.ip": nlb}
    )
    for channel in ("agent", "metadata", "stat", "span"):
        assert config[f"profiler.transport.grpc.{channel}.collector.ip"] == nlb
    assert config["profiler.transport.grpc.span.collector.port"] == "9993"


def test_a_profile_switched_at_run_time_still_reaches_the_collector(tmp_path: Path, spec: Any) -> None:
    h.distribute(tmp_path, spec)  # release is active in the bundle
    local = effective_config(tmp_path / "current", profile="local")
    assert local["profiler.transport.grpc.collector.ip"] == "pinpoint"
    assert local["profiler.sampling.percent.sampling-rate"] == "100"


def test_stock_files_are_kept_above_the_managed_block(tmp_path: Path, spec: Any) -> None:
    h.distribute(tmp_path, spec)
    text = (tmp_path / "current" / "profiles" / "release" / "pinpoint.config").read_text()
    assert text.startswith(STOCK_RELEASE_PROFILE)
    assert text.count(h.MANAGED_HEADER) == 1


def test_the_agent_logs_to_the_console_not_into_its_read_only_volume(tmp_path: Path, spec: Any) -> None:
    """Applications mount the agent read-only: the stock file appenders (logs/<agentId>/...)
    failed at every start. Ours is looked up first by 3.0.x and 3.1.x (log4j2-agent.properties
    precedes .xml/.yaml in Log4j2LoggingSystem's LOOKUP) and has no file appender."""
    h.distribute(tmp_path, spec)
    rendered = (tmp_path / "current" / "log4j2-agent.properties").read_text()
    assert rendered == h.LOG_CONFIG_TEXT
    keys = dict(line.split(" = ", 1) for line in rendered.splitlines() if line and not line.startswith("#"))
    assert {value for key, value in keys.items() if key.endswith(".type")} <= {
        "Console",
        "PatternLayout",
        "ThresholdFilter",
    }
    assert keys["appender.console.target"] == "SYSTEM_OUT"
    assert keys["rootLogger.appenderRef.console.ref"] == "console"
    assert "RollingFile" not in rendered


def test_a_new_log_configuration_makes_a_new_bundle(spec: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    before = spec.bundle_id
    monkeypatch.setattr(h, "LOG_CONFIG_TEXT", h.LOG_CONFIG_TEXT + "# changed\n")
    assert spec.bundle_id != before


def test_manifest_records_source_and_checksum(tmp_path: Path, spec: Any) -> None:
    h.distribute(tmp_path, spec)
    manifest = json.loads((tmp_path / "current" / h.MANIFEST).read_text())
    assert manifest["sha512"] == spec.sha512
    assert manifest["source"] == f"{spec.download_base_url}/v{VERSION}/pinpoint-agent-{VERSION}.tar.gz"


def test_sampling_percent_is_written_with_pinpoint_resolution() -> None:
    rendered = [
        h.agent_properties(replace(SETTINGS, sampling_percent=p))["profiler.sampling.percent.sampling-rate"]
        for p in (100.0, 20.0, 12.5, 0.01)
    ]
    assert rendered == ["100", "20", "12.5", "0.01"]


def test_a_line_break_in_a_value_is_refused() -> None:
    with pytest.raises(h.DistributionError, match="line break"):
        h.managed_block({"profiler.server.excludeurl": "/a\nprofiler.enable=false"})


# --- verification (fail closed) -----------------------------------------------------------------
def test_bad_checksum_fails_and_leaves_current_untouched(tmp_path: Path, spec: Any) -> None:
    first = h.distribute(tmp_path, spec)
    changed = replace(spec, settings=replace(SETTINGS, sampling_percent=50.0), sha512="0" * 128)
    with pytest.raises(
        h.DistributionError, match=r"SHA-512 mismatch for http://127\.0\.0\.1:\d+/.*nothing was unpacked"
    ):
        h.distribute(tmp_path, changed)
    assert os.readlink(tmp_path / "current") == first.agent_path
    assert sorted(p.name for p in (tmp_path / "versions").iterdir()) == [first.bundle_id]
    assert list((tmp_path / ".staging").iterdir()) == []


def test_missing_checksum_fails_with_one_line_naming_the_setting(tmp_path: Path, spec: Any) -> None:
    with pytest.raises(h.DistributionError) as error:
        h.distribute(tmp_path, replace(spec, sha512=""))
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("agent_sha512 is not set")
    assert f"pinpoint-agent-{VERSION}.tar.gz" in message
    assert not (tmp_path / "current").exists()


def test_download_failure_names_the_url(tmp_path: Path, spec: Any) -> None:
    missing = replace(spec, version="9.9.9")
    with pytest.raises(
        h.DistributionError, match=r"cannot download .*/v9\.9\.9/pinpoint-agent-9\.9\.9\.tar\.gz: HTTP 404"
    ):
        h.distribute(tmp_path, missing)


def test_archive_without_the_version_less_bootstrap_jar_is_refused(tmp_path: Path, spec: Any) -> None:
    """APM_OPTS names <mount>/current/pinpoint-bootstrap.jar: a bundle without it is not installed."""
    data = make_agent_tarball(without=("pinpoint-bootstrap.jar",))
    fetch_calls: list[str] = []

    def fetch(url: str, destination: Path) -> None:
        fetch_calls.append(url)
        destination.write_bytes(data)

    wrong = replace(spec, sha512=sha512(data))
    with pytest.raises(h.DistributionError, match=r"missing pinpoint-bootstrap\.jar$"):
        h.distribute(tmp_path, wrong, fetch=fetch)
    assert not (tmp_path / "current").exists()
    assert list((tmp_path / "versions").iterdir()) == []
    assert list((tmp_path / ".staging").iterdir()) == []


def test_path_traversal_in_the_archive_is_refused(tmp_path: Path, spec: Any) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../../escaped")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    data = buffer.getvalue()
    root = tmp_path / "efs"
    root.mkdir()

    def fetch(url: str, destination: Path) -> None:
        destination.write_bytes(data)

    with pytest.raises(h.DistributionError, match="cannot unpack"):
        h.distribute(root, replace(spec, sha512=sha512(data)), fetch=fetch)
    assert not (tmp_path / "escaped").exists()


# --- idempotence and atomic switching -------------------------------------------------------------
def test_same_bundle_twice_is_a_no_op_without_download(tmp_path: Path, spec: Any, mirror: Mirror) -> None:
    first = h.distribute(tmp_path, spec)
    downloads = len(mirror.requests)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "versions").rglob("*")}
    second = h.distribute(tmp_path, spec)
    assert first.changed
    assert not second.changed
    assert second.bundle_id == first.bundle_id
    assert len(mirror.requests) == downloads
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "versions").rglob("*")} == before


def test_current_is_a_relative_link_into_versions(tmp_path: Path, spec: Any) -> None:
    result = h.distribute(tmp_path, spec)
    assert os.readlink(tmp_path / "current") == f"versions/{result.bundle_id}"
    assert result.bundle_id.startswith(f"{VERSION}-")
    assert (tmp_path / "current" / "pinpoint-bootstrap.jar").is_file()


def test_config_change_makes_a_new_bundle_and_rollback_needs_no_download(
    tmp_path: Path, spec: Any, mirror: Mirror
) -> None:
    a = h.distribute(tmp_path, spec)
    b = h.distribute(tmp_path, replace(spec, settings=replace(SETTINGS, sampling_percent=10.0)))
    assert a.bundle_id != b.bundle_id
    assert (tmp_path / "versions" / a.bundle_id).is_dir()  # kept for tasks pinned to it
    downloads = len(mirror.requests)
    back = h.distribute(tmp_path, spec)
    assert back.changed
    assert os.readlink(tmp_path / "current") == a.agent_path
    assert len(mirror.requests) == downloads


def test_only_the_newest_bundles_are_kept(tmp_path: Path, spec: Any) -> None:
    results = []
    for percent in (10.0, 20.0, 30.0, 40.0, 50.0):
        results.append(
            h.distribute(tmp_path, replace(spec, settings=replace(SETTINGS, sampling_percent=percent)))
        )
    kept = sorted(p.name for p in (tmp_path / "versions").iterdir())
    assert kept == sorted(r.bundle_id for r in results[-3:])
    assert os.readlink(tmp_path / "current") == results[-1].agent_path


def test_a_reader_never_sees_a_partial_agent_while_bundles_switch(
    tmp_path: Path, spec: Any, tarball: bytes
) -> None:
    """Tasks starting during updates: every resolution of current is a complete bundle."""

    def fetch(url: str, destination: Path) -> None:
        destination.write_bytes(tarball)

    h.distribute(tmp_path, spec, fetch=fetch)
    stop = threading.Event()
    problems: list[str] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline:
            resolved = Path(os.path.realpath(tmp_path / "current"))
            for name in ("pinpoint-bootstrap.jar", h.MANIFEST, "profiles/release/pinpoint.config"):
                if not (resolved / name).is_file():
                    problems.append(f"{resolved.name} lacks {name}")
            reads += 1

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for round_number in range(12):
            settings = replace(SETTINGS, sampling_percent=float(round_number % 4 + 1))
            h.distribute(tmp_path, replace(spec, settings=settings, keep_versions=5), fetch=fetch)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert reads > 0
    assert problems == []


# --- the CloudFormation protocol ------------------------------------------------------------------
class CloudFormation:
    """Captures the response the handler PUTs to the pre-signed URL."""

    def __init__(self) -> None:
        self.responses: list[dict[str, Any]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers["Content-Length"])
                outer.responses.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def event(self, request_type: str, properties: dict[str, Any]) -> dict[str, Any]:
        return {
            "RequestType": request_type,
            "ResponseURL": f"http://127.0.0.1:{self.server.server_address[1]}/response",
            "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/s/1",
            "RequestId": "r-1",
            "LogicalResourceId": "AgentDistribution",
            "ResourceType": "Custom::PinpointAgent",
            "ResourceProperties": {"ServiceToken": "arn", **properties},
        }


class FakeContext:
    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def resource_properties(spec: Any) -> dict[str, Any]:
    settings = {
        "collector_host": "pinpoint",
        "agent_port": "9991",  # CloudFormation turns numbers into strings
        "stat_port": "9992",
        "span_port": "9993",
        "profile": "release",
        "sampling_percent": "100",
        "excluded_urls": ["/"],
        "recorded_headers": [],
    }
    return {
        "Version": VERSION,
        "Sha512": spec.sha512.upper(),
        "DownloadBaseUrl": spec.download_base_url + "/",
        "Settings": json.dumps(settings),
        "KeepVersions": "3",
    }


def test_handler_answers_success_with_the_bundle(
    tmp_path: Path, spec: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_ROOT", str(tmp_path))
    cfn = CloudFormation()
    h.handler(cfn.event("Create", resource_properties(spec)), FakeContext())
    h.handler(cfn.event("Update", resource_properties(spec)), FakeContext())
    first, second = cfn.responses
    assert first["Status"] == "SUCCESS"
    assert first["PhysicalResourceId"] == h.PHYSICAL_RESOURCE_ID
    assert os.readlink(tmp_path / "current") == first["Data"]["AgentPath"]
    assert second["Reason"].startswith("already current:")


def test_handler_answers_failed_with_the_reason(
    tmp_path: Path, spec: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_ROOT", str(tmp_path))
    cfn = CloudFormation()
    h.handler(cfn.event("Create", {**resource_properties(spec), "Sha512": "ab" * 64}), FakeContext())
    (response,) = cfn.responses
    assert response["Status"] == "FAILED"
    assert response["Reason"].startswith("SHA-512 mismatch")
    assert not (tmp_path / "current").exists()


def test_handler_delete_keeps_the_files(tmp_path: Path, spec: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_ROOT", str(tmp_path))
    h.distribute(tmp_path, spec)
    cfn = CloudFormation()
    h.handler({**cfn.event("Delete", {}), "PhysicalResourceId": h.PHYSICAL_RESOURCE_ID}, FakeContext())
    assert cfn.responses[0]["Status"] == "SUCCESS"
    assert (tmp_path / "current").is_dir()

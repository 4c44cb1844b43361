"""`make local` without an engine (scripts/ops/local.py, local_engine.py): the ports it publishes
and the checksum pinning it does before building. The whole chain on a real engine is
tests/integration/test_local.py; these hold the same promises in the unit tier."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import docker.types
import pytest

from scripts.ops.errors import EXIT_USAGE, ScriptError
from scripts.ops.local import UpRequest, app_ports, load_settings, pin_checksums, pinpoint_ports
from scripts.ops.local_engine import Names, run_container, wait_healthy
from scripts.ops.output import Reporter
from scripts.ops.pinning import artifacts
from scripts.ops.preflight import PINPOINT_DOCKERFILE
from stacks.config import parse_settings
from tests.unit.release_stub import ReleaseStub, release_stub

# --- published ports: 127.0.0.1 only ----------------------------------------------------------


class RecordingEngine:
    """Just enough of a DockerClient for run_container: the endpoint config and containers.run,
    whose keyword arguments are recorded instead of sent."""

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []
        self.api = self
        self.containers = self

    def create_endpoint_config(self, aliases: list[str]) -> dict[str, Any]:
        return {"Aliases": aliases}

    def run(self, image: str, **kwargs: Any) -> str:
        self.runs.append({"image": image, **kwargs})
        return kwargs["name"]


def engine_port_bindings(run: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """The HostConfig.PortBindings the docker SDK sends the engine for these run arguments (what
    `docker inspect` shows and tests/integration/test_local.py reads back)."""
    return docker.types.HostConfig(version="1.41", port_bindings=run["ports"])["PortBindings"]


def loopback(host_port: int) -> list[dict[str, str]]:
    return [{"HostIp": "127.0.0.1", "HostPort": str(host_port)}]


def run_both(request: UpRequest, settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Start the all-in-one and the sample app as `up` does, against the recording engine."""
    config = parse_settings(settings)
    engine = RecordingEngine()
    names = Names("pp-local")
    run_container(
        engine,  # type: ignore[arg-type]
        names,
        "pp-local/pinpoint:latest",
        name=names.pinpoint,
        aliases=[config.collector_dns_name],
        ports=pinpoint_ports(request, config),
    )
    run_container(
        engine,  # type: ignore[arg-type]
        names,
        "pp-local/sample-app:latest",
        name=names.app,
        aliases=[],
        ports=app_ports(request),
    )
    return engine.runs


def test_every_port_make_local_publishes_is_on_127_0_0_1() -> None:
    request = UpRequest(cdk_args=[], web_port=28080, app_port=28081)
    pinpoint, app = run_both(request, {"web_port": 18080, "collector_agent_port": 19991})
    assert engine_port_bindings(pinpoint) == {
        "18080/tcp": loopback(28080),  # the web, on the host port asked for
        "19991/tcp": loopback(19991),  # the collector's gRPC ports, as they are
        "9992/tcp": loopback(9992),
        "9993/tcp": loopback(9993),
    }
    assert engine_port_bindings(app) == {"8080/tcp": loopback(28081)}


def test_without_collector_ports_only_the_web_is_published() -> None:
    request = UpRequest(cdk_args=[], collector_ports=False)
    pinpoint, _ = run_both(request, {})
    assert engine_port_bindings(pinpoint) == {"8080/tcp": loopback(8080)}


# --- checksums: pinned on first use, or refused with strict_checksums --------------------------


def quiet() -> Reporter:
    return Reporter(stream=io.StringIO(), interactive=False)


@pytest.fixture(scope="module")
def release() -> Any:
    with release_stub() as stub:
        yield stub


def up_request(tmp_path: Path, settings: dict[str, Any], *cdk_args: str) -> tuple[UpRequest, Path]:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    path = config_dir / "default.json"
    path.write_text(json.dumps(settings, indent=2) + "\n")
    return UpRequest(cdk_args=list(cdk_args), config_dir=config_dir, state_dir=tmp_path / "state"), path


@pytest.mark.parametrize("where", ["settings file", "-c"])
def test_strict_checksums_refuse_to_pin_and_leave_the_settings_file_unchanged(
    tmp_path: Path, release: ReleaseStub, where: str
) -> None:
    settings = release.settings()
    if where == "settings file":
        request, path = up_request(tmp_path, {**settings, "strict_checksums": True})
    else:
        request, path = up_request(tmp_path, settings, "-c", "strict_checksums=true")
    before = path.read_bytes()
    config = load_settings(request)
    unpinned = artifacts(config, PINPOINT_DOCKERFILE, image=True)
    assert {item.setting for item in unpinned} == {
        "HBASE_SHA512",
        "PINPOINT_COLLECTOR_SHA512",
        "PINPOINT_WEB_SHA512",
        "agent_sha512",
    }
    asked = len(release.requests)

    with pytest.raises(ScriptError) as refused:
        pin_checksums(request, config, quiet())

    names = ", ".join(f"{item.where} ({item.name})" for item in unpinned)
    assert str(refused.value) == (
        f"strict_checksums=true refuses unpinned downloads: no SHA-512 for {names}; pin them with "
        "`make pin-checksums` and check them out of band, or set them in the settings file"
    )
    assert refused.value.exit_code == EXIT_USAGE
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["default.json"]
    assert release.requests[asked:] == []  # refused before any download


def test_without_strict_checksums_the_same_downloads_are_pinned_into_the_settings_file(
    tmp_path: Path, release: ReleaseStub
) -> None:
    """The control of the test above: the refusal, not the setup, is what kept the file as it was."""
    request, path = up_request(tmp_path, release.settings())
    config = load_settings(request)
    urls = {item.setting: item.url for item in artifacts(config, PINPOINT_DOCKERFILE, image=True)}

    pinned = pin_checksums(request, config, quiet())

    written = json.loads(path.read_text())
    assert written["agent_sha512"] == release.sha512(urls["agent_sha512"])
    for setting in ("HBASE_SHA512", "PINPOINT_COLLECTOR_SHA512", "PINPOINT_WEB_SHA512"):
        assert written["image_build_args"][setting] == release.sha512(urls[setting])
    assert pinned.image_build_args == written["image_build_args"]  # what the build then gets


def test_checksums_given_as_build_args_count_as_pinned_under_strict_checksums(
    tmp_path: Path, release: ReleaseStub
) -> None:
    settings = {**release.settings(), "strict_checksums": True, "agent_sha512": "ab" * 64}
    request, path = up_request(tmp_path, settings)
    given = {name: "cd" * 64 for name in ("HBASE_SHA512", "PINPOINT_COLLECTOR_SHA512", "PINPOINT_WEB_SHA512")}
    request = UpRequest(cdk_args=[], config_dir=request.config_dir, build_args=given)
    before = path.read_bytes()
    config = load_settings(request)
    assert pin_checksums(request, config, quiet()) == config
    assert path.read_bytes() == before


# --- waiting for the all-in-one ---------------------------------------------------------------


class BootingContainer:
    """A running container whose health check passes from the first poll while the supervisor's
    log gains one line per poll: the order seen on a loaded CI machine, where the image's
    health check answered a poll before the supervisor said `boot complete`."""

    name = "pp-local-pinpoint"
    status = "running"

    def __init__(self, lines: list[str]) -> None:
        self.pending = list(lines)
        self.logged: list[str] = []

    def logs(self, tail: int | None = None) -> bytes:
        if self.pending:
            self.logged.append(self.pending.pop(0))
        return "".join(f"{line}\n" for line in self.logged).encode()

    def reload(self) -> None:
        pass

    def exec_run(self, command: list[str]) -> Any:
        return type("ExecResult", (), {"exit_code": 0})()


def test_healthy_waits_for_the_supervisors_boot_complete_and_shows_every_line_before_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("scripts.ops.local_engine.time.sleep", lambda _seconds: None)
    lines = [
        "[supervisor] starting HBase",
        "[supervisor] tables ready",
        "[supervisor] boot complete in 41s: HBase serves, collector and web answer",
    ]
    stream = io.StringIO()
    wait_healthy(BootingContainer(lines), 60, Reporter(stream=stream, interactive=False))  # type: ignore[arg-type]
    assert [line.strip() for line in stream.getvalue().splitlines()] == lines

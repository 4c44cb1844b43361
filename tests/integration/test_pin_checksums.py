"""`make pin-checksums`: the script run for real against a loopback mirror of Maven Central and
GitHub releases serving small stand-in artifacts (no network beyond 127.0.0.1)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.ops.build import dockerfile_defaults, required_checksum_args
from scripts.ops.pinning import Artifact, Pinned, merged_settings
from scripts.ops.settings import write_settings
from scripts.preflight import PINPOINT_DOCKERFILE
from stacks.config import load_config
from stacks.versions import AGENT_VERSION
from tests.integration.conftest import run_repo_script
from tests.integration.mirror import serve_directory

ENVIRONMENT = "prod"
JAR_VERSION = dockerfile_defaults(PINPOINT_DOCKERFILE)["PINPOINT_VERSION"]

COLLECTOR = f"maven/pinpoint-collector/{JAR_VERSION}/pinpoint-collector-{JAR_VERSION}-exec.jar"
WEB = f"maven/pinpoint-web/{JAR_VERSION}/pinpoint-web-{JAR_VERSION}-exec.jar"
AGENT = f"github/v{AGENT_VERSION}/pinpoint-agent-{AGENT_VERSION}.tar.gz"


@dataclass(frozen=True)
class Mirror:
    root: Path
    base_url: str

    def sha512(self, relative: str) -> str:
        return hashlib.sha512((self.root / relative).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """One loopback server for the module: stopping one costs its 0.5 s poll interval."""
    root = tmp_path_factory.mktemp("mirror")
    with serve_directory(root) as base_url:
        yield root, base_url


@pytest.fixture
def mirror(server: tuple[Path, str], request: pytest.FixtureRequest) -> Mirror:
    """A fresh tree per test (tests break files in it) under the shared server.

    Collector with a `.sha1` (Maven Central's usual), web with `.sha512` and a wrong `.sha1`
    (the `.sha512` must win), agent with no checksum at all (GitHub releases).
    """
    server_root, server_url = server
    root = server_root / request.node.name
    contents = {COLLECTOR: b"collector jar\n" * 1000, WEB: b"web jar\n" * 3000, AGENT: b"agent tarball\n"}
    for relative, data in contents.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    (root / f"{COLLECTOR}.sha1").write_text(hashlib.sha1(contents[COLLECTOR]).hexdigest() + "\n")
    (root / f"{WEB}.sha512").write_text(
        f"{hashlib.sha512(contents[WEB]).hexdigest()}  pinpoint-web-{JAR_VERSION}-exec.jar\n"
    )
    (root / f"{WEB}.sha1").write_text("0" * 40 + "\n")
    return Mirror(root, f"{server_url}/{request.node.name}")


@pytest.fixture
def config_dir(tmp_path: Path, mirror: Mirror) -> Path:
    """config/prod.json pointing both download bases at the mirror, with settings to preserve."""
    directory = tmp_path / "config"
    directory.mkdir()
    settings = {
        "stack_name": "PinpointOnFargateProd",
        "log_retention_days": 90,
        "agent_download_base_url": f"{mirror.base_url}/github",
        "image_build_args": {"PINPOINT_BASE_URL": f"{mirror.base_url}/maven", "HBASE_BASE_URL": "https://x"},
    }
    (directory / f"{ENVIRONMENT}.json").write_text(json.dumps(settings, indent=2) + "\n")
    return directory


def pin_checksums(*args: str) -> subprocess.CompletedProcess[str]:
    # No CI annotation format (GitHub Actions) and no proxy between the script and 127.0.0.1.
    env = {key: value for key, value in os.environ.items() if key != "GITHUB_ACTIONS"}
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    return run_repo_script("pin_checksums.py", *args, env=env, timeout=30)


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one ``error:`` line, last on stderr (progress lines may precede it)."""
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("pin-checksums: error: "), errors[0]
    assert result.stderr.rstrip().endswith(errors[0])
    return errors[0]


def test_pins_verified_values_and_keeps_other_settings(mirror: Mirror, config_dir: Path) -> None:
    path = config_dir / f"{ENVIRONMENT}.json"
    result = pin_checksums("--config", ENVIRONMENT, "--config-dir", str(config_dir))

    assert result.returncode == 0, result.stderr
    written = json.loads(path.read_text())
    assert written["agent_sha512"] == mirror.sha512(AGENT)
    assert written["image_build_args"] == {
        "PINPOINT_BASE_URL": f"{mirror.base_url}/maven",
        "HBASE_BASE_URL": "https://x",
        "PINPOINT_COLLECTOR_SHA512": mirror.sha512(COLLECTOR),
        "PINPOINT_WEB_SHA512": mirror.sha512(WEB),
    }
    assert written["stack_name"] == "PinpointOnFargateProd"
    assert written["log_retention_days"] == 90
    assert not list(config_dir.glob(".*"))  # no temporary file left behind

    assert f"matches {mirror.base_url}/{COLLECTOR}.sha1" in result.stdout
    assert f"matches {mirror.base_url}/{WEB}.sha512" in result.stdout
    agent_lines = [line for line in result.stdout.splitlines() if f"pinpoint-agent-{AGENT_VERSION}" in line]
    assert len(agent_lines) == 1
    assert "trust-on-first-download" in agent_lines[0]
    assert "out of band" in agent_lines[0]
    assert result.stdout.rstrip().endswith(f'make deploy CDK_ARGS="-c config={ENVIRONMENT}"')

    # What make deploy's preflight checks now passes.
    config = load_config({"config": ENVIRONMENT}, config_dir=config_dir)
    assert config.agent_sha512 == mirror.sha512(AGENT)
    missing = required_checksum_args(PINPOINT_DOCKERFILE)
    assert missing  # the Dockerfile still fails closed without them
    assert all(config.image_build_args.get(name) for name in missing)


def test_wrong_published_checksum_fails_and_writes_nothing(mirror: Mirror, config_dir: Path) -> None:
    path = config_dir / f"{ENVIRONMENT}.json"
    before = path.read_bytes()
    (mirror.root / f"{COLLECTOR}.sha1").write_text("f" * 40 + "\n")

    result = pin_checksums("--config", ENVIRONMENT, "--config-dir", str(config_dir))

    assert result.returncode == 1
    line = error_line(result)
    assert f"checksum mismatch for pinpoint-collector-{JAR_VERSION}-exec.jar" in line
    assert "f" * 40 in line
    assert hashlib.sha1((mirror.root / COLLECTOR).read_bytes()).hexdigest() in line
    assert path.read_bytes() == before


def test_missing_artifact_names_the_url(mirror: Mirror, config_dir: Path) -> None:
    path = config_dir / f"{ENVIRONMENT}.json"
    before = path.read_bytes()
    (mirror.root / AGENT).unlink()

    result = pin_checksums("--config", ENVIRONMENT, "--config-dir", str(config_dir))

    assert result.returncode == 1
    line = error_line(result)
    assert line == f"pin-checksums: error: cannot download {mirror.base_url}/{AGENT}: HTTP 404 File not found"
    assert path.read_bytes() == before


def test_dry_run_prints_values_and_writes_nothing(mirror: Mirror, config_dir: Path) -> None:
    path = config_dir / f"{ENVIRONMENT}.json"
    before = path.read_bytes()

    result = pin_checksums("--config", ENVIRONMENT, "--config-dir", str(config_dir), "--dry-run")

    assert result.returncode == 0, result.stderr
    assert f"agent_sha512={mirror.sha512(AGENT)}" in result.stdout.splitlines()
    assert f"PINPOINT_WEB_SHA512={mirror.sha512(WEB)}" in result.stdout.splitlines()
    assert path.read_bytes() == before
    assert sorted(p.name for p in config_dir.iterdir()) == [f"{ENVIRONMENT}.json"]


def test_bad_environment_name_is_refused_by_the_config_rules(tmp_path: Path) -> None:
    result = pin_checksums("--config", "../prod", "--config-dir", str(tmp_path))

    assert result.returncode == 2
    assert error_line(result) == (
        "pin-checksums: error: Invalid setting config='../prod': allowed: a file name in config/ without .json"
    )


def test_a_missing_settings_file_is_created(tmp_path: Path) -> None:
    # Downloads need the mirror URLs from the file itself, so this covers the write half alone.
    path = tmp_path / "config" / "staging.json"
    pinned = [
        Pinned(Artifact("PINPOINT_WEB_SHA512", "http://m/web.jar", build_arg=True), "cd" * 64, None),
        Pinned(Artifact("agent_sha512", "http://m/agent.tar.gz", build_arg=False), "ab" * 64, None),
    ]

    write_settings(path, merged_settings({}, pinned))

    assert json.loads(path.read_text()) == {
        "agent_sha512": "ab" * 64,
        "image_build_args": {"PINPOINT_WEB_SHA512": "cd" * 64},
    }
    assert path.stat().st_mode & 0o777 == 0o644

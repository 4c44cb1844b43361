"""`make pin-checksums`: the script run for real against a loopback mirror of the GitHub release
(jars and agent, no checksum files), the Apache archive and a checksum-publishing jar mirror,
serving small stand-in artifacts (no network beyond 127.0.0.1), with a Dockerfile that declares
the image's downloads as images/pinpoint's contract says (tests/integration/release_mirror.py)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.ops.build import dockerfile_defaults, required_checksum_args
from scripts.ops.pinning import Artifact, Pinned, merged_settings
from scripts.ops.settings import write_settings
from stacks.config import load_config
from tests.integration.conftest import run_repo_script
from tests.integration.mirror import serve_directory
from tests.integration.release_mirror import (
    AGENT,
    COLLECTOR,
    HBASE,
    HBASE_VERSION,
    PINPOINT_VERSION,
    WEB,
    ChecksumStyle,
    ReleaseMirror,
    lay_out,
    write_dockerfile,
)

ENVIRONMENT = "prod"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """One loopback server for the module: stopping one costs its 0.5 s poll interval."""
    root = tmp_path_factory.mktemp("mirror")
    with serve_directory(root) as base_url:
        yield root, base_url


def fresh_mirror(
    server: tuple[Path, str], name: str, style: ChecksumStyle = "gpg", *, jar_checksums: bool = False
) -> ReleaseMirror:
    """A fresh tree per test (tests break files in it) under the shared server."""
    server_root, server_url = server
    return lay_out(
        server_root / name, f"{server_url}/{name}", hbase_checksum=style, jar_checksums=jar_checksums
    )


@pytest.fixture
def mirror(server: tuple[Path, str], request: pytest.FixtureRequest) -> ReleaseMirror:
    return fresh_mirror(server, request.node.name.replace("[", "-").replace("]", ""))


@pytest.fixture
def dockerfile(tmp_path: Path) -> Path:
    return write_dockerfile(tmp_path / "image" / "Dockerfile")


@pytest.fixture
def config_dir(tmp_path: Path, mirror: ReleaseMirror) -> Path:
    """config/prod.json pointing every download base at the mirror, with settings to preserve."""
    directory = tmp_path / "config"
    directory.mkdir()
    settings = {"stack_name": "PinpointOnFargateProd", "log_retention_days": 90, **mirror.settings()}
    (directory / f"{ENVIRONMENT}.json").write_text(json.dumps(settings, indent=2) + "\n")
    return directory


def pin_checksums(*args: str, dockerfile: Path) -> subprocess.CompletedProcess[str]:
    # No CI annotation format (GitHub Actions) and no proxy between the script and 127.0.0.1.
    env = {key: value for key, value in os.environ.items() if key != "GITHUB_ACTIONS"}
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    return run_repo_script("pin_checksums.py", "--dockerfile", str(dockerfile), *args, env=env, timeout=30)


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one ``error:`` line, last on stderr (progress lines may precede it)."""
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("pin-checksums: error: "), errors[0]
    assert result.stderr.rstrip().endswith(errors[0])
    assert "Traceback" not in result.stderr
    return errors[0]


def test_pins_the_release_on_first_download_verifies_hbase_and_keeps_other_settings(
    mirror: ReleaseMirror, config_dir: Path, dockerfile: Path
) -> None:
    path = config_dir / f"{ENVIRONMENT}.json"
    result = pin_checksums("--config", ENVIRONMENT, "--config-dir", str(config_dir), dockerfile=dockerfile)

    assert result.returncode == 0, result.stderr
    written = json.loads(path.read_text())
    assert written["agent_sha512"] == mirror.sha512(AGENT)
    assert written["image_build_args"] == {
        **mirror.settings()["image_build_args"],
        "PINPOINT_COLLECTOR_SHA512": mirror.sha512(COLLECTOR),
        "PINPOINT_WEB_SHA512": mirror.sha512(WEB),
        "HBASE_SHA512": mirror.sha512(HBASE),
    }
    assert written["stack_name"] == "PinpointOnFargateProd"
    assert written["log_retention_days"] == 90
    assert not list(config_dir.glob(".*"))  # no temporary file left behind

    assert f"matches {mirror.url(HBASE)}.sha512" in result.stdout
    # The GitHub release publishes no checksum: jars and agent alike are trusted on first
    # download, each with the same advice to check it out of band.
    for name in (
        f"pinpoint-collector-{PINPOINT_VERSION}-exec.jar",
        f"pinpoint-web-{PINPOINT_VERSION}-exec.jar",
        f"pinpoint-agent-{PINPOINT_VERSION}.tar.gz",
    ):
        (line,) = [line for line in result.stdout.splitlines() if line.startswith(f"  {name}:")]
        assert "trust-on-first-download" in line
        assert "out of band" in line
        assert f"sha512sum {name}" in line
    assert result.stdout.rstrip().endswith(f'make deploy CDK_ARGS="-c config={ENVIRONMENT}"')

    # What the deploy reads now carries every checksum the Dockerfile requires.
    config = load_config({"config": ENVIRONMENT}, config_dir=config_dir)
    assert config.agent_sha512 == mirror.sha512(AGENT)
    required = required_checksum_args(dockerfile)
    assert sorted(required) == ["HBASE_SHA512", "PINPOINT_COLLECTOR_SHA512", "PINPOINT_WEB_SHA512"]
    assert all(config.image_build_args.get(name) for name in required)


@pytest.mark.parametrize("style", ["gpg", "sha512sum"])
def test_apache_sha512_is_read_in_both_published_formats(
    style: ChecksumStyle, server: tuple[Path, str], tmp_path: Path, dockerfile: Path
) -> None:
    mirror = fresh_mirror(server, f"apache-{style}", style)
    companion = (mirror.root / f"{HBASE}.sha512").read_text()
    assert (": " in companion and companion.count("\n") > 1) if style == "gpg" else "  hbase-" in companion
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "default.json").write_text(json.dumps(mirror.settings()))

    result = pin_checksums("--config-dir", str(tmp_path / "config"), "--dry-run", dockerfile=dockerfile)

    assert result.returncode == 0, result.stderr
    assert f"HBASE_SHA512={mirror.sha512(HBASE)}" in result.stdout.splitlines()
    assert f"matches {mirror.url(HBASE)}.sha512" in result.stdout


def test_wrong_apache_checksum_in_gpg_format_fails_and_writes_nothing(
    mirror: ReleaseMirror, config_dir: Path, dockerfile: Path
) -> None:
    path = config_dir / f"{ENVIRONMENT}.json"
    before = path.read_bytes()
    name = HBASE.rsplit("/", 1)[-1]
    (mirror.root / f"{HBASE}.sha512").write_text(f"{name}: " + " ".join(["ABCDEF01"] * 16) + "\n")

    result = pin_checksums("--config", ENVIRONMENT, "--config-dir", str(config_dir), dockerfile=dockerfile)

    assert result.returncode == 1
    line = error_line(result)
    assert f"checksum mismatch for {name}" in line
    assert "abcdef01" * 16 in line
    assert mirror.sha512(HBASE) in line
    assert path.read_bytes() == before


def test_a_jar_mirror_that_publishes_checksums_is_verified_against_them(
    server: tuple[Path, str], tmp_path: Path, dockerfile: Path
) -> None:
    mirror = fresh_mirror(server, "jar-mirror", jar_checksums=True)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "default.json").write_text(json.dumps(mirror.settings()))

    result = pin_checksums("--config-dir", str(tmp_path / "config"), "--dry-run", dockerfile=dockerfile)

    assert result.returncode == 0, result.stderr
    assert f"PINPOINT_COLLECTOR_SHA512={mirror.sha512(COLLECTOR)}" in result.stdout.splitlines()
    assert f"matches {mirror.url(COLLECTOR)}.sha1" in result.stdout
    assert f"matches {mirror.url(WEB)}.sha512" in result.stdout  # preferred over its (wrong) .sha1


def test_wrong_published_checksum_fails_and_writes_nothing(
    server: tuple[Path, str], tmp_path: Path, dockerfile: Path
) -> None:
    mirror = fresh_mirror(server, "wrong-jar-checksum", jar_checksums=True)
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    path = config_dir / f"{ENVIRONMENT}.json"
    path.write_text(json.dumps(mirror.settings()))
    before = path.read_bytes()
    (mirror.root / f"{COLLECTOR}.sha1").write_text("f" * 40 + "\n")

    result = pin_checksums("--config", ENVIRONMENT, "--config-dir", str(config_dir), dockerfile=dockerfile)

    assert result.returncode == 1
    line = error_line(result)
    assert f"checksum mismatch for pinpoint-collector-{PINPOINT_VERSION}-exec.jar" in line
    assert "f" * 40 in line
    assert hashlib.sha1((mirror.root / COLLECTOR).read_bytes()).hexdigest() in line
    assert path.read_bytes() == before


def test_a_version_that_does_not_exist_fails_early_naming_the_url(
    mirror: ReleaseMirror, config_dir: Path, dockerfile: Path
) -> None:
    path = config_dir / f"{ENVIRONMENT}.json"
    settings = json.loads(path.read_text()) | {"pinpoint_version": "3.1.9"}
    path.write_text(json.dumps(settings))
    before = path.read_bytes()

    result = pin_checksums("--config", ENVIRONMENT, "--config-dir", str(config_dir), dockerfile=dockerfile)

    assert result.returncode == 1
    url = f"{mirror.base_url}/github/v3.1.9/pinpoint-collector-3.1.9-exec.jar"
    assert error_line(result) == (
        f"pin-checksums: error: pinpoint-collector-3.1.9-exec.jar does not exist: {url} answered "
        "HTTP 404 File not found (check pinpoint_version=3.1.9 and the download base URL) (and 2 more)"
    )
    assert "downloading" not in result.stderr  # refused before any download
    assert path.read_bytes() == before


def test_missing_artifact_names_the_url(mirror: ReleaseMirror, config_dir: Path, dockerfile: Path) -> None:
    path = config_dir / f"{ENVIRONMENT}.json"
    before = path.read_bytes()
    (mirror.root / AGENT).unlink()

    result = pin_checksums("--config", ENVIRONMENT, "--config-dir", str(config_dir), dockerfile=dockerfile)

    assert result.returncode == 1
    assert error_line(result) == (
        f"pin-checksums: error: pinpoint-agent-{PINPOINT_VERSION}.tar.gz does not exist: {mirror.url(AGENT)} "
        f"answered HTTP 404 File not found (check pinpoint_version={PINPOINT_VERSION} and the download base URL)"
    )
    assert path.read_bytes() == before


def test_dry_run_prints_values_and_writes_nothing(
    mirror: ReleaseMirror, config_dir: Path, dockerfile: Path
) -> None:
    path = config_dir / f"{ENVIRONMENT}.json"
    before = path.read_bytes()

    result = pin_checksums(
        "--config", ENVIRONMENT, "--config-dir", str(config_dir), "--dry-run", dockerfile=dockerfile
    )

    assert result.returncode == 0, result.stderr
    assert f"agent_sha512={mirror.sha512(AGENT)}" in result.stdout.splitlines()
    assert f"PINPOINT_WEB_SHA512={mirror.sha512(WEB)}" in result.stdout.splitlines()
    assert path.read_bytes() == before
    assert sorted(p.name for p in config_dir.iterdir()) == [f"{ENVIRONMENT}.json"]


def test_without_config_the_default_settings_file_is_written(mirror: ReleaseMirror, dockerfile: Path) -> None:
    # The mirror comes from cdk.json-free settings: write them where `make deploy` reads without -c.
    config_dir = mirror.root.parent / f"{mirror.root.name}-config"
    config_dir.mkdir()
    (config_dir / "default.json").write_text(json.dumps(mirror.settings()))

    result = pin_checksums("--config-dir", str(config_dir), dockerfile=dockerfile)

    assert result.returncode == 0, result.stderr
    written = json.loads((config_dir / "default.json").read_text())
    assert written["agent_sha512"] == mirror.sha512(AGENT)
    assert written["image_build_args"]["HBASE_SHA512"] == mirror.sha512(HBASE)
    assert result.stdout.rstrip().endswith("next: make deploy")


def test_bad_environment_name_is_refused_by_the_config_rules(tmp_path: Path, dockerfile: Path) -> None:
    result = pin_checksums("--config", "../prod", "--config-dir", str(tmp_path), dockerfile=dockerfile)

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
        "checksums_pinned_for": {"PINPOINT_WEB_SHA512": "web.jar", "agent_sha512": "agent.tar.gz"},
    }
    assert path.stat().st_mode & 0o777 == 0o644


def test_the_first_arg_default_wins(dockerfile: Path) -> None:
    assert dockerfile_defaults(dockerfile)["HBASE_VERSION"] == HBASE_VERSION

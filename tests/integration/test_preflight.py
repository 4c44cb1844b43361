"""`make deploy|diff|destroy` preflight: one clear line before anything reaches AWS."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.common import required_checksum_args
from scripts.preflight import PINPOINT_DOCKERFILE, context_overrides

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_preflight(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "scripts/preflight.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def isolated_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_REGION="eu-west-1",
        **extra,
    )
    return env


def test_context_overrides_are_read_from_cdk_args() -> None:
    assert context_overrides(["-c", "a=1", "--context", "b=x=y", "--context=c=", "--verbose"]) == {
        "a": "1",
        "b": "x=y",
        "c": "",
    }


def test_deploy_without_credentials_fails_with_one_line(tmp_path: Path) -> None:
    result = run_preflight(
        "deploy", "-c", f"agent_sha512={SHA512}", "-c", IMAGE_SUMS, env=isolated_env(tmp_path)
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "preflight: error: make deploy needs AWS credentials: no AWS credentials found"
    )
    assert "AWS_PROFILE" in lines[0]


def test_bad_setting_fails_before_credentials_are_checked(tmp_path: Path) -> None:
    result = run_preflight("diff", "-c", "ephemeral_storage_gib=500", env=isolated_env(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "preflight: error: Invalid setting ephemeral_storage_gib='500': allowed: 21 to 200"
    )


SHA512 = "ab" * 64
IMAGE_SUMS = (
    'image_build_args={"PINPOINT_COLLECTOR_SHA512": "'
    + "cd" * 64
    + '", "PINPOINT_WEB_SHA512": "'
    + "ef" * 64
    + '"}'
)


def test_unpinned_checksums_are_read_from_the_dockerfile() -> None:
    assert required_checksum_args(PINPOINT_DOCKERFILE) == ["PINPOINT_COLLECTOR_SHA512", "PINPOINT_WEB_SHA512"]


def test_asset_deploy_without_jar_checksums_fails_before_aws_with_one_line(tmp_path: Path) -> None:
    result = run_preflight("deploy", "-c", f"agent_sha512={SHA512}", env=isolated_env(tmp_path))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        "preflight: error: Invalid setting image_build_args={}: allowed: a mapping that sets "
        "PINPOINT_COLLECTOR_SHA512, PINPOINT_WEB_SHA512"
    )


def test_deploy_without_agent_checksum_fails_before_aws_with_one_line(tmp_path: Path) -> None:
    result = run_preflight("deploy", env=isolated_env(tmp_path))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        "preflight: error: Invalid setting agent_sha512=None: allowed: the SHA-512 of pinpoint-agent-"
    )
    assert "sha512sum" in line


@pytest.mark.usefixtures("docker_client", "qemu_arm64")
def test_deploy_with_credentials_checks_engine_and_arm64_emulation(tmp_path: Path, moto_server: str) -> None:
    env = isolated_env(
        tmp_path, AWS_ENDPOINT_URL=moto_server, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing"
    )
    result = run_preflight("deploy", "-c", f"agent_sha512={SHA512}", "-c", IMAGE_SUMS, env=env)
    assert result.returncode == 0, result.stderr
    assert "preflight: AWS account 123456789012 in eu-west-1" in result.stdout
    assert "builds images/pinpoint for linux/arm64" in result.stdout


def test_deploy_without_docker_daemon_fails_with_one_line(tmp_path: Path, moto_server: str) -> None:
    env = isolated_env(
        tmp_path,
        AWS_ENDPOINT_URL=moto_server,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        DOCKER_HOST=f"unix://{tmp_path}/no-docker.sock",
    )
    result = run_preflight("deploy", "-c", f"agent_sha512={SHA512}", "-c", IMAGE_SUMS, env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("preflight: error: cannot reach the Docker daemon")
    assert len(result.stderr.strip().splitlines()) == 1

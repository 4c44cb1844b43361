"""`make deploy|diff|destroy` preflight: one clear line before anything reaches AWS."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from scripts.ops.build import required_checksum_args
from scripts.ops.settings import context_overrides
from scripts.preflight import BOOTSTRAP_VERSION_PARAMETER, PINPOINT_DOCKERFILE
from tests.integration.conftest import run_repo_script


def run_preflight(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_repo_script("preflight.py", *args, env=env)


def isolated_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_REGION="eu-west-1",
    )
    env.update(extra)
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
    assert 'make pin-checksums ARGS="--config ENV"' in line


def moto_env(tmp_path: Path, moto_server: str, region: str = "eu-west-1", **extra: str) -> dict[str, str]:
    return isolated_env(
        tmp_path,
        AWS_ENDPOINT_URL=moto_server,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        **{"AWS_REGION": region, **extra},
    )


@pytest.fixture
def bootstrapped(moto_server: str) -> Iterator[None]:
    """eu-west-1 of moto's account looks like `cdk bootstrap` ran there."""
    ssm = boto3.client(
        "ssm",
        endpoint_url=moto_server,
        region_name="eu-west-1",
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )
    ssm.put_parameter(Name=BOOTSTRAP_VERSION_PARAMETER, Value="30", Type="String", Overwrite=True)
    yield
    ssm.delete_parameter(Name=BOOTSTRAP_VERSION_PARAMETER)


def test_diff_in_an_unbootstrapped_region_says_make_bootstrap(tmp_path: Path, moto_server: str) -> None:
    result = run_preflight("diff", env=moto_env(tmp_path, moto_server, region="eu-central-1"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "preflight: error: account 123456789012 in eu-central-1 is not bootstrapped for the CDK: "
        "run `make bootstrap` once (cdk bootstrap aws://123456789012/eu-central-1)"
    ]


@pytest.mark.usefixtures("bootstrapped")
def test_bootstrap_action_needs_only_credentials(tmp_path: Path, moto_server: str) -> None:
    result = run_preflight("bootstrap", env=moto_env(tmp_path, moto_server, region="ap-northeast-2"))
    assert result.returncode == 0, result.stderr
    assert "CDK bootstrap version" not in result.stdout


@pytest.mark.usefixtures("docker_client", "qemu_arm64", "bootstrapped")
def test_deploy_with_credentials_checks_engine_and_arm64_emulation(tmp_path: Path, moto_server: str) -> None:
    env = moto_env(tmp_path, moto_server)
    result = run_preflight("deploy", "-c", f"agent_sha512={SHA512}", "-c", IMAGE_SUMS, env=env)
    assert result.returncode == 0, result.stderr
    assert "preflight: AWS account 123456789012 in eu-west-1" in result.stdout
    assert "preflight: CDK bootstrap version 30" in result.stdout
    assert "builds images/pinpoint for linux/arm64" in result.stdout


@pytest.mark.usefixtures("bootstrapped")
def test_deploy_without_docker_daemon_fails_with_one_line(tmp_path: Path, moto_server: str) -> None:
    env = moto_env(tmp_path, moto_server, DOCKER_HOST=f"unix://{tmp_path}/no-docker.sock")
    result = run_preflight("deploy", "-c", f"agent_sha512={SHA512}", "-c", IMAGE_SUMS, env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("preflight: error: cannot reach the Docker daemon")
    assert len(result.stderr.strip().splitlines()) == 1

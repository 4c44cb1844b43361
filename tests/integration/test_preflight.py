"""`make deploy|diff|destroy|bootstrap` preflight: every problem at once, one line each, named right;
then the first-run steps (bootstrap with the pinned CDK CLI, checksum pinning on first use).

AWS is a moto server (and, for rejected credentials, a loopback STS that rejects); downloads come
from a loopback release mirror; the Dockerfile is a fixture written to the image's contract; the
settings files live in a scratch directory (``--config-dir``), never in the repository's config/.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from scripts.ops.bootstrap import BOOTSTRAP_VERSION_PARAMETER, CDK_CLI, MIN_BOOTSTRAP_VERSION
from scripts.ops.settings import context_overrides
from tests.integration.aws_stubs import INVALID_TOKEN_MESSAGE, closed_port, rejecting_sts
from tests.integration.conftest import moto_credentials, run_repo_script, skip_or_fail
from tests.integration.mirror import serve_directory
from tests.integration.release_mirror import (
    AGENT,
    COLLECTOR,
    HBASE,
    WEB,
    ReleaseMirror,
    lay_out,
    write_dockerfile,
)
from tests.script_env import isolated_aws_env

ACCOUNT = "123456789012"  # moto's
PREFIX = "preflight: error: "
ECR_IMAGE = ("-c", "image_source=ecr", "-c", "image_tag=v1")  # no build: only the agent is downloaded


# --------------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    root = tmp_path_factory.mktemp("releases")
    with serve_directory(root) as base_url:
        yield root, base_url


@pytest.fixture
def mirror(server: tuple[Path, str], request: pytest.FixtureRequest) -> ReleaseMirror:
    root, url = server
    name = request.node.name.replace("[", "-").replace("]", "")
    return lay_out(root / name, f"{url}/{name}")


@dataclass
class Preflight:
    """One user: a scratch settings directory, a fixture Dockerfile, an environment without AWS."""

    env: dict[str, str]
    config_dir: Path
    dockerfile: Path

    def settings(self, name: str = "default", **settings: Any) -> Path:
        path = self.config_dir / f"{name}.json"
        path.write_text(json.dumps(settings, indent=2) + "\n")
        return path

    def use_moto(self, endpoint: str, region: str | None) -> None:
        self.env.update(moto_credentials(endpoint))
        if region is None:
            self.env.pop("AWS_REGION", None)
        else:
            self.env["AWS_REGION"] = region

    def __call__(self, action: str, *cdk_args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        options = ["--config-dir", str(self.config_dir), "--dockerfile", str(self.dockerfile)]
        return run_repo_script("preflight.py", *options, action, *cdk_args, env=self.env, timeout=timeout)


@pytest.fixture
def preflight(tmp_path: Path) -> Preflight:
    env = isolated_aws_env(tmp_path, AWS_REGION="eu-west-1")
    (tmp_path / "config").mkdir()
    return Preflight(env, tmp_path / "config", write_dockerfile(tmp_path / "image" / "Dockerfile"))


def problems(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The problem lines (prefix removed): one line each, the last lines on stderr, no traceback."""
    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr, report
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(PREFIX)]
    assert errors, report
    assert lines[-len(errors) :] == errors, report  # progress before, problems last
    assert not any("error" in line for line in lines[: -len(errors)]), report
    return [line.removeprefix(PREFIX) for line in errors]


def ssm(moto_server: str, region: str) -> Any:
    return boto3.client(
        "ssm", endpoint_url=moto_server, region_name=region, aws_access_key_id="t", aws_secret_access_key="t"
    )


@pytest.fixture
def bootstrapped(moto_server: str) -> Iterator[None]:
    """eu-west-1 of moto's account looks like `cdk bootstrap` ran there."""
    client = ssm(moto_server, "eu-west-1")
    client.put_parameter(Name=BOOTSTRAP_VERSION_PARAMETER, Value="30", Type="String", Overwrite=True)
    yield
    client.delete_parameter(Name=BOOTSTRAP_VERSION_PARAMETER)


@pytest.fixture
def pinned_cdk_cli() -> Path:
    if not CDK_CLI.exists():
        skip_or_fail(f"the pinned CDK CLI is not installed ({CDK_CLI}): run make setup")
    return CDK_CLI


def test_context_overrides_are_read_from_cdk_args() -> None:
    assert context_overrides(["-c", "a=1", "--context", "b=x=y", "--context=c=", "--verbose"]) == {
        "a": "1",
        "b": "x=y",
        "c": "",
    }


# --------------------------------------------------------------------------------------------
# AWS problems, each named for what it is
# --------------------------------------------------------------------------------------------


def test_no_credentials(preflight: Preflight) -> None:
    result = preflight("destroy")
    assert result.returncode == 1
    (line,) = problems(result)
    assert line.startswith("no AWS credentials found: set AWS_PROFILE")


def test_a_missing_region_is_not_a_credentials_problem(preflight: Preflight, moto_server: str) -> None:
    preflight.use_moto(moto_server, region=None)
    result = preflight("destroy")
    assert result.returncode == 1
    assert problems(result) == [
        "no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION), or a region for the profile"
    ]


def test_an_unreachable_sts_endpoint_is_not_a_credentials_rejection(
    preflight: Preflight, moto_server: str
) -> None:
    preflight.use_moto(moto_server, region="eu-west-1")
    port = closed_port()
    preflight.env["AWS_ENDPOINT_URL_STS"] = f"http://127.0.0.1:{port}"
    result = preflight("destroy")
    assert result.returncode == 1
    (line,) = problems(result)
    assert line.startswith(
        f"cannot reach the AWS STS endpoint http://127.0.0.1:{port} to check the credentials:"
    )
    assert "rejected" not in line
    assert "accept" not in line


def test_rejected_credentials_say_so(preflight: Preflight) -> None:
    preflight.env.update(AWS_ACCESS_KEY_ID="AKIAEXAMPLEUNKNOWN00", AWS_SECRET_ACCESS_KEY="wrong")
    with rejecting_sts() as sts:
        preflight.env["AWS_ENDPOINT_URL_STS"] = sts
        result = preflight("destroy")
    assert result.returncode == 1
    assert problems(result) == [
        f"AWS rejected the credentials from env: InvalidClientTokenId: {INVALID_TOKEN_MESSAGE}"
    ]


def test_bad_settings_and_missing_credentials_are_reported_together(preflight: Preflight) -> None:
    result = preflight("diff", "-c", "ephemeral_storage_gib=500")
    assert result.returncode == 2  # a settings problem is among them
    lines = problems(result)
    assert lines[0] == "Invalid setting ephemeral_storage_gib='500': allowed: 21 to 200"
    assert lines[1].startswith("no AWS credentials found")
    assert len(lines) == 2


@pytest.mark.usefixtures("docker_client")
def test_several_problems_are_reported_at_once(
    preflight: Preflight, moto_server: str, mirror: ReleaseMirror, tmp_path: Path
) -> None:
    """No region, no Docker engine, a Pinpoint version that does not exist, strict checksums."""
    preflight.use_moto(moto_server, region=None)
    preflight.env["DOCKER_HOST"] = f"unix://{tmp_path}/no-docker.sock"
    preflight.settings(**mirror.settings(), pinpoint_version="3.1.9", strict_checksums=True)

    result = preflight("deploy")

    assert result.returncode == 2
    lines = problems(result)
    collector = f"{mirror.base_url}/github/v3.1.9/pinpoint-collector-3.1.9-exec.jar"
    agent = f"{mirror.base_url}/github/v3.1.9/pinpoint-agent-3.1.9.tar.gz"
    assert lines[0].startswith("no AWS region configured")
    assert lines[1].startswith(f"cannot reach the Docker daemon at unix://{tmp_path}/no-docker.sock")
    assert (
        f"pinpoint-collector-3.1.9-exec.jar does not exist: {collector} answered HTTP 404 File not found "
        "(check pinpoint_version=3.1.9 and the download base URL)"
    ) in lines
    assert any(line.startswith("pinpoint-web-3.1.9-exec.jar does not exist: ") for line in lines)
    assert any(
        line.startswith(f"pinpoint-agent-3.1.9.tar.gz does not exist: {agent} answered HTTP 404")
        for line in lines
    )
    assert lines[-1].startswith(
        "strict_checksums=true refuses unpinned downloads: no SHA-512 for image_build_args.HBASE_SHA512 "
        "(hbase-2.6.4-hadoop3-bin.tar.gz), image_build_args.PINPOINT_COLLECTOR_SHA512"
    )
    assert "agent_sha512 (pinpoint-agent-3.1.9.tar.gz)" in lines[-1]
    assert len(lines) == 6, lines
    assert sorted(p.name for p in preflight.config_dir.iterdir()) == ["default.json"]  # nothing pinned


# --------------------------------------------------------------------------------------------
# CDK bootstrap: automatic on deploy, refused when auto_bootstrap=false
# --------------------------------------------------------------------------------------------


def test_diff_in_an_unbootstrapped_region_says_make_bootstrap(preflight: Preflight, moto_server: str) -> None:
    preflight.use_moto(moto_server, region="eu-central-1")
    result = preflight("diff")
    assert result.returncode == 1
    assert problems(result) == [
        f"account {ACCOUNT} in eu-central-1 is not bootstrapped for the CDK: "
        f"run `make bootstrap` once (cdk bootstrap aws://{ACCOUNT}/eu-central-1)"
    ]


def test_deploy_refuses_to_bootstrap_when_auto_bootstrap_is_off(
    preflight: Preflight, moto_server: str, mirror: ReleaseMirror
) -> None:
    preflight.use_moto(moto_server, region="eu-north-1")
    preflight.settings(**mirror.pinned_settings(), auto_bootstrap=False)
    result = preflight("deploy", *ECR_IMAGE)
    assert result.returncode == 1
    assert problems(result) == [
        f"account {ACCOUNT} in eu-north-1 is not bootstrapped for the CDK and auto_bootstrap=false: "
        f"run `make bootstrap` once (cdk bootstrap aws://{ACCOUNT}/eu-north-1)"
    ]
    assert "bootstrapping" not in result.stdout
    with pytest.raises(ssm(moto_server, "eu-north-1").exceptions.ParameterNotFound):
        ssm(moto_server, "eu-north-1").get_parameter(Name=BOOTSTRAP_VERSION_PARAMETER)


@pytest.mark.usefixtures("pinned_cdk_cli")
def test_deploy_bootstraps_an_unbootstrapped_region_with_the_pinned_cdk_cli(
    preflight: Preflight, moto_server: str, mirror: ReleaseMirror
) -> None:
    """The real `cdk bootstrap aws://ACCOUNT/REGION` (CDK CLI from package.json) against moto."""
    region = "ap-southeast-2"
    preflight.use_moto(moto_server, region=region)
    preflight.settings(**mirror.pinned_settings())

    result = preflight("deploy", *ECR_IMAGE, timeout=300)

    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, report
    assert f"preflight: bootstrapping aws://{ACCOUNT}/{region} for the CDK" in result.stdout
    assert f"Environment aws://{ACCOUNT}/{region} bootstrapped" in result.stderr  # the CLI's own words
    version = int(
        ssm(moto_server, region).get_parameter(Name=BOOTSTRAP_VERSION_PARAMETER)["Parameter"]["Value"]
    )
    assert version >= MIN_BOOTSTRAP_VERSION
    assert f"preflight: aws://{ACCOUNT}/{region} bootstrapped (version {version})" in result.stdout
    cfn = boto3.client("cloudformation", endpoint_url=moto_server, region_name=region)
    assert cfn.describe_stacks(StackName="CDKToolkit")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"

    again = preflight("deploy", *ECR_IMAGE)  # now bootstrapped: nothing to do
    assert again.returncode == 0, again.stderr
    assert f"preflight: CDK bootstrap version {version}" in again.stdout
    assert "bootstrapping" not in again.stdout


@pytest.mark.usefixtures("pinned_cdk_cli")
def test_make_bootstrap_runs_the_pinned_cdk_cli(preflight: Preflight, moto_server: str) -> None:
    region = "sa-east-1"
    preflight.use_moto(moto_server, region=region)
    result = preflight("bootstrap", timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"bootstrapping aws://{ACCOUNT}/{region}" in result.stdout
    assert ssm(moto_server, region).get_parameter(Name=BOOTSTRAP_VERSION_PARAMETER)["Parameter"]["Value"]


# --------------------------------------------------------------------------------------------
# Checksums: pinned on first use (trust on first download where nothing is published), or refused
# --------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("docker_client", "qemu_arm64", "bootstrapped")
def test_first_deploy_pins_every_download_into_the_settings_file(
    preflight: Preflight, moto_server: str, mirror: ReleaseMirror
) -> None:
    preflight.use_moto(moto_server, region="eu-west-1")
    path = preflight.settings(**mirror.settings(), log_retention_days=90)

    result = preflight("deploy")

    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, report
    written = json.loads(path.read_text())
    assert written["log_retention_days"] == 90  # other settings kept
    assert written["agent_sha512"] == mirror.sha512(AGENT)
    assert written["image_build_args"] == {
        **mirror.settings()["image_build_args"],
        "HBASE_SHA512": mirror.sha512(HBASE),
        "PINPOINT_COLLECTOR_SHA512": mirror.sha512(COLLECTOR),
        "PINPOINT_WEB_SHA512": mirror.sha512(WEB),
    }
    assert written["checksums_pinned_for"] == {
        "HBASE_SHA512": "hbase-2.6.4-hadoop3-bin.tar.gz",
        "PINPOINT_COLLECTOR_SHA512": "pinpoint-collector-3.1.0-exec.jar",
        "PINPOINT_WEB_SHA512": "pinpoint-web-3.1.0-exec.jar",
        "agent_sha512": "pinpoint-agent-3.1.0.tar.gz",
    }
    assert sorted(p.name for p in preflight.config_dir.iterdir()) == ["default.json"]  # atomic: no temp file
    stdout = result.stdout.splitlines()
    # Where each download comes from, named before anything is pinned.
    for relative in (HBASE, COLLECTOR, WEB, AGENT):
        assert any(
            line.startswith(f"preflight: download {mirror.url(relative)} (HTTP 2") for line in stdout
        ), stdout
    assert f"preflight: pinning the SHA-512 of 4 download(s) on first use into {path}" in stdout
    assert f"HBASE_SHA512={mirror.sha512(HBASE)}" in stdout
    assert f"  hbase-2.6.4-hadoop3-bin.tar.gz: matches {mirror.url(HBASE)}.sha512" in stdout
    # The GitHub release publishes no checksum: the jars are pinned on first download like the agent.
    for name in (
        "pinpoint-collector-3.1.0-exec.jar",
        "pinpoint-web-3.1.0-exec.jar",
        "pinpoint-agent-3.1.0.tar.gz",
    ):
        (line,) = [line for line in stdout if line.startswith(f"  {name}:")]
        assert "trust-on-first-download" in line
        assert "out of band" in line

    again = preflight("deploy")  # the deploy now reads them: nothing left to pin
    assert again.returncode == 0, again.stderr
    assert "pinning" not in again.stdout
    assert "preflight: checksums pinned for" in again.stdout


@pytest.mark.usefixtures("bootstrapped")
def test_first_deploy_of_a_named_environment_pins_into_its_file(
    preflight: Preflight, moto_server: str, mirror: ReleaseMirror
) -> None:
    preflight.use_moto(moto_server, region="eu-west-1")
    path = preflight.settings("prod", **mirror.settings())
    result = preflight("deploy", "-c", "config=prod", *ECR_IMAGE)
    assert result.returncode == 0, result.stderr
    assert json.loads(path.read_text())["agent_sha512"] == mirror.sha512(AGENT)
    assert not (preflight.config_dir / "default.json").exists()


@pytest.mark.usefixtures("bootstrapped")
def test_strict_checksums_refuse_unpinned_downloads(
    preflight: Preflight, moto_server: str, mirror: ReleaseMirror
) -> None:
    preflight.use_moto(moto_server, region="eu-west-1")
    path = preflight.settings(**mirror.settings(), strict_checksums=True)
    before = path.read_bytes()
    result = preflight("deploy", *ECR_IMAGE)
    assert result.returncode == 2
    assert problems(result) == [
        "strict_checksums=true refuses unpinned downloads: no SHA-512 for agent_sha512 "
        "(pinpoint-agent-3.1.0.tar.gz); pin them with `make pin-checksums` and check them out of band, "
        "or set them in the settings file"
    ]
    assert path.read_bytes() == before


STALE_AGENT = {
    "agent_sha512": "ab" * 64,
    "checksums_pinned_for": {"agent_sha512": "pinpoint-agent-3.0.9.tar.gz"},
}


@pytest.mark.usefixtures("bootstrapped")
def test_a_pin_from_an_older_version_is_pinned_again(
    preflight: Preflight, moto_server: str, mirror: ReleaseMirror
) -> None:
    """pinpoint_version moved on since the agent was pinned: the old value would fail the install."""
    preflight.use_moto(moto_server, region="eu-west-1")
    path = preflight.settings(**mirror.settings(), **STALE_AGENT)
    result = preflight("deploy", *ECR_IMAGE)
    assert result.returncode == 0, result.stderr
    assert (
        "preflight: agent_sha512 was pinned for pinpoint-agent-3.0.9.tar.gz, not pinpoint-agent-3.1.0.tar.gz "
        "(a version changed): pinning it again"
    ) in result.stdout.splitlines()
    written = json.loads(path.read_text())
    assert written["agent_sha512"] == mirror.sha512(AGENT)
    assert written["checksums_pinned_for"] == {"agent_sha512": "pinpoint-agent-3.1.0.tar.gz"}


@pytest.mark.usefixtures("bootstrapped")
def test_strict_checksums_refuse_a_pin_from_an_older_version(
    preflight: Preflight, moto_server: str, mirror: ReleaseMirror
) -> None:
    preflight.use_moto(moto_server, region="eu-west-1")
    path = preflight.settings(**mirror.settings(), **STALE_AGENT, strict_checksums=True)
    before = path.read_bytes()
    result = preflight("deploy", *ECR_IMAGE)
    assert result.returncode == 2
    assert problems(result) == [
        "strict_checksums=true refuses unpinned downloads: agent_sha512 was pinned for "
        "pinpoint-agent-3.0.9.tar.gz, not pinpoint-agent-3.1.0.tar.gz; pin them with `make pin-checksums` "
        "and check them out of band, or set them in the settings file"
    ]
    assert path.read_bytes() == before


@pytest.mark.usefixtures("docker_client", "bootstrapped")
def test_pins_hidden_by_a_command_line_override_are_reported(
    preflight: Preflight, moto_server: str, mirror: ReleaseMirror
) -> None:
    """-c image_build_args replaces the file's mapping as a whole: the pins would never reach the build."""
    preflight.use_moto(moto_server, region="eu-west-1")
    path = preflight.settings(
        agent_sha512=mirror.sha512(AGENT), agent_download_base_url=f"{mirror.base_url}/github"
    )
    build_args = json.dumps(mirror.settings()["image_build_args"])
    # X86_64: built natively here, so no emulation is involved.
    before = path.read_bytes()
    result = preflight("deploy", "-c", f"image_build_args={build_args}", "-c", "cpu_architecture=X86_64")
    assert result.returncode == 2
    (line,) = problems(result)
    assert line.startswith(
        "image_build_args.HBASE_SHA512, image_build_args.PINPOINT_COLLECTOR_SHA512, "
        f"image_build_args.PINPOINT_WEB_SHA512 would be pinned in {path}, but -c arguments or cdk.json "
        "override that file's value"
    )
    assert "downloading" not in result.stderr  # refused before any download
    assert path.read_bytes() == before


@pytest.mark.usefixtures("docker_client", "qemu_arm64", "bootstrapped")
def test_deploy_with_everything_in_place_checks_engine_and_arm64_emulation(
    preflight: Preflight, moto_server: str, mirror: ReleaseMirror
) -> None:
    preflight.use_moto(moto_server, region="eu-west-1")
    path = preflight.settings(**mirror.pinned_settings())
    before = path.read_bytes()
    result = preflight("deploy")
    assert result.returncode == 0, result.stderr
    assert f"preflight: AWS account {ACCOUNT} in eu-west-1" in result.stdout
    assert "preflight: CDK bootstrap version 30" in result.stdout
    assert "builds images/pinpoint for linux/arm64" in result.stdout
    assert "; BuildKit through " in result.stdout  # the docker CLI make deploy hands cdk deploy
    assert path.read_bytes() == before


@pytest.mark.usefixtures("bootstrapped")
def test_deploy_without_docker_daemon_fails_with_one_line(
    preflight: Preflight, moto_server: str, mirror: ReleaseMirror, tmp_path: Path
) -> None:
    preflight.use_moto(moto_server, region="eu-west-1")
    preflight.env["DOCKER_HOST"] = f"unix://{tmp_path}/no-docker.sock"
    preflight.settings(**mirror.pinned_settings())
    result = preflight("deploy")
    assert result.returncode == 1
    (line,) = problems(result)
    assert line.startswith("cannot reach the Docker daemon")


def docker_cli_28_without_buildx(directory: Path) -> Path:
    """A `docker` that answers as a CLI 28 whose buildx plugin is missing (what /usr/local/bin/docker
    is on the development machine), and fails any build: the classic builder's fallback."""
    path = directory / "docker"
    path.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        '  --version) echo "Docker version 28.2.2, build e6534b4" ;;\n'
        '  buildx) echo "docker: unknown command: docker buildx" >&2; exit 1 ;;\n'
        '  *) echo "this stand-in builds nothing" >&2; exit 1 ;;\n'
        "esac\n"
    )
    path.chmod(0o755)
    return path


@pytest.mark.usefixtures("docker_client", "qemu_arm64", "bootstrapped")
def test_deploy_without_a_buildkit_docker_cli_fails_with_one_line(
    preflight: Preflight, moto_server: str, mirror: ReleaseMirror, tmp_path: Path
) -> None:
    """CDK_DOCKER is the CLI `cdk deploy` builds with: one that cannot do BuildKit is refused."""
    preflight.use_moto(moto_server, region="eu-west-1")
    preflight.env["CDK_DOCKER"] = str(docker_cli_28_without_buildx(tmp_path))
    preflight.settings(**mirror.pinned_settings())
    result = preflight("deploy")
    assert result.returncode == 1
    assert problems(result) == [
        f"no docker CLI here builds with BuildKit (CDK_DOCKER={tmp_path}/docker: {tmp_path}/docker 28.2.2 "
        "needs the buildx plugin for BuildKit, which is missing): install the buildx plugin (Docker's "
        "docker-buildx-plugin package, or Docker Desktop), or use a docker CLI before 23 such as Debian 12's "
        "docker.io (/usr/bin/docker); CDK_DOCKER names the one to use"
    ]


@pytest.mark.usefixtures("bootstrapped")
def test_a_deploy_of_a_pushed_image_needs_no_buildkit(
    preflight: Preflight, moto_server: str, mirror: ReleaseMirror, tmp_path: Path
) -> None:
    preflight.use_moto(moto_server, region="eu-west-1")
    preflight.env["CDK_DOCKER"] = str(docker_cli_28_without_buildx(tmp_path))
    preflight.settings(**mirror.pinned_settings())
    result = preflight("deploy", *ECR_IMAGE)
    assert result.returncode == 0, result.stderr
    assert "BuildKit" not in result.stdout


# --------------------------------------------------------------------------------------------
# hbase_mode=emr: what EMR offers (scripts/ops/emr_prerequisites.py; its cases in the unit tier)
# --------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("bootstrapped")
def test_emr_instance_types_are_checked_against_what_emr_offers(
    preflight: Preflight, moto_server: str
) -> None:
    """moto answers ListSupportedInstanceTypes from AWS's own per-release lists."""
    preflight.use_moto(moto_server, region="eu-west-1")
    refused = preflight("diff", "-c", "hbase_mode=emr", "-c", "emr_core_instance_type=m7g.large")
    assert refused.returncode == 1
    (line,) = problems(refused)
    assert line.startswith(
        "emr_core_instance_type='m7g.large' is not supported by emr-7.13.0 in eu-west-1 "
        "(EMR ListSupportedInstanceTypes); allowed: a Graviton type it lists, e.g. m7g.xlarge"
    )
    accepted = preflight("diff", "-c", "hbase_mode=emr")
    assert accepted.returncode == 0, accepted.stderr
    assert "preflight: EMR offers emr-7.13.0 with m7g.xlarge and m7g.xlarge in eu-west-1" in accepted.stdout

"""``scripts/push_image.py`` run as users run it, against real endpoints on loopback.

* AWS: a moto server (ECR control plane + STS) reached through ``AWS_ENDPOINT_URL``.
* Registry: Debian's ``docker-registry`` whose htpasswd holds the token moto hands out, passed
  to the script as ``--registry``; a ``FaultProxy`` in front of it injects 5xx answers.
* Docker: the real engine builds a small image from the local Debian base images, with BuildKit
  through the docker CLI (as ``cdk deploy`` builds).

Each test uses its own repository name so runs sharing the engine and moto do not collide,
and asserts the exit code, the single ``error:`` line, what reached the registry, the ECR
settings in moto, and that no local tag is left behind by a failed run.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import docker
import docker.errors
import pytest

from scripts.ops.ecr import ensure_ecr_repository
from scripts.ops.push import PUSH_RETRY
from stacks.config import load_config
from tests.integration.conftest import REPO_ROOT, moto_credentials, skip_or_fail
from tests.integration.registry import FaultProxy, FaultRule, LocalRegistry, run_registry
from tests.script_env import isolated_aws_env

SCRIPT = REPO_ROOT / "scripts" / "push_image.py"
REGION = "us-east-1"
PREFIX = "push-image: error: "
EcrClient = Any  # boto3 clients are generated at run time
TIMEOUT = 600  # seconds for one script run; a small arm64 build under QEMU takes seconds
BUILDING = "] FROM "  # BuildKit's first build step: the build started


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ecr(moto_server: str) -> EcrClient:
    return boto3.client(
        "ecr",
        endpoint_url=moto_server,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="x",
    )


@pytest.fixture(scope="module")
def moto_token(ecr: EcrClient) -> tuple[str, str]:
    """The (user, password) moto's get_authorization_token hands out: what the registry must accept."""
    data = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return user, password


@pytest.fixture(scope="module")
def registry(
    tmp_path_factory: pytest.TempPathFactory, moto_token: tuple[str, str]
) -> Iterator[LocalRegistry]:
    user, password = moto_token
    with run_registry(tmp_path_factory.mktemp("ecr-registry"), username=user, password=password) as running:
        yield running


@pytest.fixture(scope="module")
def arm64_context(tmp_path_factory: pytest.TempPathFactory, debian_arm64_base_image: str) -> Path:
    """A tiny arm64 build: a RUN step (proves QEMU runs it) and a COPY."""
    context = tmp_path_factory.mktemp("arm64-context")
    (context / "marker").write_text(f"push-image test {uuid.uuid4()}\n")
    (context / "Dockerfile").write_text(
        f"FROM {debian_arm64_base_image}\nRUN uname -m > /built-on\nCOPY marker /marker\n"
    )
    return context


@pytest.fixture(scope="module")
def amd64_context(tmp_path_factory: pytest.TempPathFactory, debian_base_image: str) -> Path:
    """A last stage pinned to another platform (e.g. ``--platform=$BUILDPLATFORM`` on the wrong
    stage): BuildKit builds it, and the result is amd64 whatever ``--platform`` asked for."""
    context = tmp_path_factory.mktemp("amd64-context")
    (context / "marker").write_text(f"push-image test {uuid.uuid4()}\n")
    (context / "Dockerfile").write_text(
        f"FROM --platform=linux/amd64 {debian_base_image}\nCOPY marker /marker\n"
    )
    return context


@dataclass
class Pusher:
    """One test's user: a fresh repository name, an environment whose AWS is moto, the engine."""

    repository: str
    env: dict[str, str]
    docker: docker.DockerClient
    ecr: EcrClient
    root: Path  # scratch directory of the test

    def argv(self, context: Path, *args: str, registry: str | None = None) -> list[str]:
        options = ["--context", str(context), "--repository", self.repository]
        if registry is not None:
            options += ["--registry", registry]
        return [sys.executable, str(SCRIPT), *options, *args]

    def run(
        self, context: Path, *args: str, registry: str | None = None, wrapper: Sequence[str] = ()
    ) -> subprocess.CompletedProcess[str]:
        """Run the script as a user would, from the repository root; ``wrapper`` prefixes the command."""
        return subprocess.run(
            [*wrapper, *self.argv(context, *args, registry=registry)],
            env=self.env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    def local_tags(self, registry: str) -> list[str]:
        """Local tags of this test's repository under ``registry``."""
        prefix = f"{registry}/{self.repository}:"
        return sorted(
            tag for image in self.docker.images.list() for tag in image.tags if tag.startswith(prefix)
        )

    def ecr_repository_exists(self) -> bool:
        names = {repo["repositoryName"] for repo in self.ecr.describe_repositories()["repositories"]}
        return self.repository in names


@pytest.fixture
def pusher(
    moto_server: str, ecr: EcrClient, docker_client: docker.DockerClient, tmp_path: Path
) -> Iterator[Pusher]:
    env = isolated_aws_env(tmp_path, AWS_REGION=REGION, **moto_credentials(moto_server))
    user = Pusher(
        repository=f"it-{uuid.uuid4().hex[:10]}/pinpoint",
        env=env,
        docker=docker_client,
        ecr=ecr,
        root=tmp_path,
    )
    yield user
    # Successful pushes leave their local tags (as they should): remove them after the test.
    for image in docker_client.images.list():
        for tag in image.tags:
            if f"/{user.repository}:" in tag:
                docker_client.images.remove(tag, noprune=True)


def assert_one_error_line(result: subprocess.CompletedProcess[str], exit_code: int, *fragments: str) -> str:
    """Exit code as given, no traceback, exactly one error line, and it is the last line."""
    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == exit_code, report
    assert "Traceback" not in result.stderr, report
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, report
    assert result.stderr.rstrip("\n").splitlines()[-1] == errors[0], report
    assert errors[0].startswith(PREFIX), report
    for fragment in fragments:
        assert fragment in errors[0], report
    return errors[0]


# --------------------------------------------------------------------------------------------
# The pairing the other tests rely on
# --------------------------------------------------------------------------------------------


def test_registry_accepts_exactly_the_token_moto_hands_out(
    registry: LocalRegistry, moto_token: tuple[str, str]
) -> None:
    import requests  # noqa: PLC0415 - only this test speaks to the registry directly

    user, password = moto_token
    assert user == "AWS"  # what ECR tokens decode to, so the script's decoding is exercised for real
    assert requests.get(f"{registry.url}/v2/", auth=(user, password), timeout=5).status_code == 200
    assert requests.get(f"{registry.url}/v2/", auth=(user, password + "x"), timeout=5).status_code == 401


# --------------------------------------------------------------------------------------------
# The happy path
# --------------------------------------------------------------------------------------------


def test_push_arm64_image_with_version_and_latest(
    registry: LocalRegistry, arm64_context: Path, pusher: Pusher, tmp_path: Path
) -> None:
    outputs = tmp_path / "github-output"
    pusher.env["GITHUB_OUTPUT"] = str(outputs)  # the CI hand-off, without GitHub's log format
    tag = f"t{uuid.uuid4().hex[:8]}"
    result = pusher.run(arm64_context, "--tag", tag, "--latest", registry=registry.address)
    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, report
    repository = pusher.repository

    # The registry holds both tags, on the same arm64 manifest.
    assert registry.tags(repository) == sorted([tag, "latest"])
    digest = registry.manifest_digest(repository, tag)
    assert registry.manifest_digest(repository, "latest") == digest
    config = registry.image_config(repository, tag)
    assert (config["os"], config["architecture"]) == ("linux", "arm64")

    # The result on stdout: the digest the registry has, and the exact deploy command.
    assert f"digest {digest}" in result.stdout.splitlines()
    deploy = f'make deploy CDK_ARGS="-c image_source=ecr -c image_repository={repository} -c image_tag={tag}"'
    assert f"  {deploy}" in result.stdout.splitlines()
    assert f"digest={digest}" in outputs.read_text().splitlines()
    assert "emulated by QEMU" in result.stderr or "native" in result.stderr
    assert "builder: BuildKit through " in result.stderr  # as cdk deploy builds

    # ECR repository settings in moto.
    (repo,) = pusher.ecr.describe_repositories(repositoryNames=[repository])["repositories"]
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert repo["imageTagMutabilityExclusionFilters"] == [{"filterType": "WILDCARD", "filter": "latest"}]
    assert repo["encryptionConfiguration"]["encryptionType"] == "AES256"
    policy = json.loads(pusher.ecr.get_lifecycle_policy(repositoryName=repository)["lifecyclePolicyText"])
    (rule,) = policy["rules"]
    assert rule["selection"]["countType"] == "imageCountMoreThan"
    assert rule["selection"]["countNumber"] == load_config().ecr_keep_images
    assert rule["action"] == {"type": "expire"}

    # Locally, the pushed references stay: that is what `docker images` should show.
    prefix = f"{registry.address}/{repository}:"
    assert pusher.local_tags(registry.address) == sorted([prefix + tag, prefix + "latest"])


def test_dry_run_checks_everything_and_changes_nothing(
    registry: LocalRegistry, arm64_context: Path, pusher: Pusher
) -> None:
    result = pusher.run(arm64_context, "--tag", "dry1", "--latest", "--dry-run", registry=registry.address)
    assert result.returncode == 0, result.stderr
    assert "dry run: ECR would create repository" in result.stderr
    assert "accepted the ECR token" in result.stderr
    assert BUILDING not in result.stderr
    assert not pusher.ecr_repository_exists()
    assert registry.tags(pusher.repository) == []
    assert pusher.local_tags(registry.address) == []


def test_existing_repository_is_brought_in_line_idempotently(ecr: EcrClient) -> None:
    name = f"it-{uuid.uuid4().hex[:10]}/legacy"
    ecr.create_repository(repositoryName=name, imageTagMutability="MUTABLE")

    planned = ensure_ecr_repository(ecr, name, keep_images=3, apply=False)
    assert len(planned.changes) == 3, planned.changes  # scan on push, immutability, lifecycle
    assert (
        ecr.describe_repositories(repositoryNames=[name])["repositories"][0]["imageTagMutability"]
        == "MUTABLE"
    )

    applied = ensure_ecr_repository(ecr, name, keep_images=3)
    assert applied.changes == planned.changes
    (repo,) = ecr.describe_repositories(repositoryNames=[name])["repositories"]
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    policy = json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])
    assert policy["rules"][0]["selection"]["countNumber"] == 3

    assert ensure_ecr_repository(ecr, name, keep_images=3).changes == ()


# --------------------------------------------------------------------------------------------
# Faults: one clear line, non-zero exit, nothing half-tagged
# --------------------------------------------------------------------------------------------


def test_no_docker_daemon(arm64_context: Path, pusher: Pusher, tmp_path: Path) -> None:
    pusher.env["DOCKER_HOST"] = f"unix://{tmp_path}/no-such-docker.sock"
    result = pusher.run(arm64_context, "--tag", "x1")
    assert_one_error_line(result, 1, "cannot reach the Docker daemon", "no-such-docker.sock")
    assert not pusher.ecr_repository_exists()  # it stopped before touching AWS


def test_no_buildkit_docker_cli(arm64_context: Path, pusher: Pusher, tmp_path: Path) -> None:
    """CDK_DOCKER names a CLI 28 without buildx (its classic fallback cannot build images/pinpoint)."""
    cli = tmp_path / "docker"
    cli.write_text(
        '#!/bin/sh\ncase "$1" in --version) echo "Docker version 28.2.2, build e6534b4" ;; *) exit 1 ;; esac\n'
    )
    cli.chmod(0o755)
    pusher.env["CDK_DOCKER"] = str(cli)
    result = pusher.run(arm64_context, "--tag", "x1")
    assert_one_error_line(
        result, 1, "no docker CLI here builds with BuildKit", f"{cli} 28.2.2 needs the buildx plugin"
    )
    assert not pusher.ecr_repository_exists()  # it stopped before touching AWS


def test_no_aws_credentials(registry: LocalRegistry, arm64_context: Path, pusher: Pusher) -> None:
    del pusher.env["AWS_ACCESS_KEY_ID"], pusher.env["AWS_SECRET_ACCESS_KEY"]
    result = pusher.run(arm64_context, "--tag", "x1", registry=registry.address)
    assert_one_error_line(result, 1, "no AWS credentials found", "AWS_PROFILE")
    assert not pusher.ecr_repository_exists()
    assert pusher.local_tags(registry.address) == []


@pytest.mark.parametrize("name", ["Pinpoint_UPPER", "trailing-", "a"])
def test_invalid_repository_name(name: str, arm64_context: Path, pusher: Pusher) -> None:
    pusher.repository = name
    result = pusher.run(arm64_context, "--tag", "x1")
    assert_one_error_line(result, 2, f"image_repository={name!r}", "allowed:")
    assert not pusher.ecr_repository_exists()


def test_registry_refuses_auth(
    tmp_path: Path, moto_token: tuple[str, str], arm64_context: Path, pusher: Pusher
) -> None:
    user, _ = moto_token
    with run_registry(tmp_path, username=user, password="not-the-ecr-token") as strict:
        result = pusher.run(arm64_context, "--tag", "x1", "--latest", registry=strict.address)
        assert_one_error_line(result, 1, f"registry {strict.address} refused the login", "401")
        assert strict.tags(pusher.repository) == []
    assert BUILDING not in result.stderr  # refused before building anything
    assert pusher.local_tags(strict.address) == []


def test_registry_5xx_then_recovers(registry: LocalRegistry, arm64_context: Path, pusher: Pusher) -> None:
    # The engine retries failed layer uploads itself, but not a failed manifest upload: the script must.
    fault = FaultRule(method="PUT", path=r"/manifests/", count=2, status=503)
    with FaultProxy(registry.port, [fault]) as proxy:
        result = pusher.run(arm64_context, "--tag", "r1", "--latest", registry=proxy.address)
    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, report
    assert fault.injected == 2, report
    assert result.stderr.count("503 Service Unavailable); retrying in") == 2, report
    assert registry.tags(pusher.repository) == ["latest", "r1"]
    assert registry.manifest_digest(pusher.repository, "latest") == registry.manifest_digest(
        pusher.repository, "r1"
    )
    manifest_puts = [
        status for method, path, status in proxy.requests if method == "PUT" and "/manifests/" in path
    ]
    assert manifest_puts == [503, 503, 201, 201], proxy.requests  # r1 after two failures, then latest


def test_registry_5xx_for_good_leaves_nothing_half_tagged(
    registry: LocalRegistry, arm64_context: Path, pusher: Pusher
) -> None:
    fault = FaultRule(method="PUT", path=r"/manifests/", count=50, status=503)  # more than any retry budget
    with FaultProxy(registry.port, [fault]) as proxy:
        result = pusher.run(arm64_context, "--tag", "f1", "--latest", registry=proxy.address)
        assert_one_error_line(result, 1, f"failed after {PUSH_RETRY.attempts} attempts", "503")
        assert fault.injected == PUSH_RETRY.attempts  # bounded, and `latest` was never attempted
        assert registry.tags(pusher.repository) == []
        assert pusher.local_tags(proxy.address) == []  # the build's tag was undone


def test_latest_failing_keeps_the_pushed_version_and_the_old_latest(
    registry: LocalRegistry, arm64_context: Path, pusher: Pusher
) -> None:
    first = pusher.run(arm64_context, "--tag", "v1", "--latest", registry=registry.address)
    assert first.returncode == 0, first.stderr
    old_latest = registry.manifest_digest(pusher.repository, "latest")
    (pusher.root / "change").mkdir()  # a second, different image on the same base
    (pusher.root / "change" / "Dockerfile").write_text(
        (arm64_context / "Dockerfile").read_text() + "ENV V=2\n"
    )
    (pusher.root / "change" / "marker").write_text("second image\n")

    fault = FaultRule(method="PUT", path=r"/manifests/latest$", count=50, status=503)
    with FaultProxy(registry.port, [fault]) as proxy:
        result = pusher.run(pusher.root / "change", "--tag", "v2", "--latest", registry=proxy.address)
        assert_one_error_line(result, 1, f"{proxy.address}/{pusher.repository}:latest", "503")
        assert pusher.local_tags(proxy.address) == [f"{proxy.address}/{pusher.repository}:v2"]
    assert "v2 was pushed (sha256:" in result.stderr
    assert registry.tags(pusher.repository) == ["latest", "v1", "v2"]
    assert registry.manifest_digest(pusher.repository, "latest") == old_latest  # not moved
    assert registry.manifest_digest(pusher.repository, "v2") != old_latest


def test_platform_not_runnable_without_qemu(
    registry: LocalRegistry, arm64_context: Path, pusher: Pusher, tmp_path: Path
) -> None:
    """A host without QEMU for arm64, made by hiding binfmt_misc in a private mount namespace.

    Only the script's view changes (``unshare -m``): the kernel's emulators stay registered for
    everyone else sharing this machine.
    """
    if pusher.docker.info()["Architecture"] in {"aarch64", "arm64"}:
        pytest.skip("the engine is arm64: linux/arm64 runs natively, there is no emulation to take away")
    if shutil.which("unshare") is None:
        skip_or_fail("unshare (util-linux) is needed to hide binfmt_misc from the script")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        skip_or_fail(f"cannot create a mount namespace here: {probe.stderr.strip()}")
    empty = tmp_path / "binfmt_misc"
    empty.mkdir()
    (empty / "status").write_text("enabled\n")  # mounted, but no emulator registered
    hide = 'mount --bind "$0" /proc/sys/fs/binfmt_misc && exec "$@"'
    result = pusher.run(
        arm64_context,
        "--tag",
        "q1",
        registry=registry.address,
        wrapper=["unshare", "-m", "sh", "-c", hide, str(empty)],
    )
    line = assert_one_error_line(result, 1, "cannot run linux/arm64", "no QEMU emulator is registered")
    assert "update-binfmts --enable qemu-aarch64" in line  # the fix is printed
    assert BUILDING not in result.stderr
    assert registry.tags(pusher.repository) == []


def test_platform_of_another_os_is_not_runnable(arm64_context: Path, pusher: Pusher) -> None:
    result = pusher.run(arm64_context, "--tag", "w1", "--platform", "windows/amd64")
    assert_one_error_line(result, 1, "runs linux containers, it cannot build windows/amd64")


def test_image_architecture_mismatch(registry: LocalRegistry, amd64_context: Path, pusher: Pusher) -> None:
    result = pusher.run(amd64_context, "--tag", "m1", "--latest", registry=registry.address)
    # dockerd 20.10's BuildKit labels it linux/arm64 anyway: the programs in it tell.
    assert_one_error_line(
        result, 1, "the built image is labelled linux/arm64 but /usr/bin/dash in it is amd64 code"
    )
    assert "exporting to image" in result.stderr  # the build "succeeded": only the check caught it
    assert registry.tags(pusher.repository) == []
    assert pusher.local_tags(registry.address) == []  # the build's tag was undone


def test_immutable_tag_already_in_ecr_fails_before_building(
    registry: LocalRegistry, arm64_context: Path, pusher: Pusher
) -> None:
    pusher.ecr.create_repository(repositoryName=pusher.repository)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 2,
            "digest": "sha256:" + "0" * 64,
        },
        "layers": [],
    }
    pusher.ecr.put_image(
        repositoryName=pusher.repository, imageManifest=json.dumps(manifest), imageTag="taken1"
    )
    result = pusher.run(arm64_context, "--tag", "taken1", registry=registry.address)
    assert_one_error_line(result, 1, "tag taken1 already exists", "immutable")
    assert BUILDING not in result.stderr


# --------------------------------------------------------------------------------------------
# Build args: the Pinpoint Dockerfile fails closed without its jar checksums
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checksum_context(tmp_path_factory: pytest.TempPathFactory, debian_arm64_base_image: str) -> Path:
    """Like images/pinpoint: a checksum build arg without a default that the build needs."""
    context = tmp_path_factory.mktemp("checksum-context")
    (context / "Dockerfile").write_text(
        f"FROM {debian_arm64_base_image}\nARG STANDIN_SHA512=\n"
        'RUN test -n "$STANDIN_SHA512" && echo "$STANDIN_SHA512" > /pinned-checksum\n'
    )
    return context


def test_missing_checksum_build_arg_fails_before_anything_is_created(
    registry: LocalRegistry, checksum_context: Path, pusher: Pusher
) -> None:
    result = pusher.run(checksum_context, "--tag", "v1", registry=registry.address)
    assert_one_error_line(result, 2, "needs build args STANDIN_SHA512", "make pin-checksums")
    assert not pusher.ecr_repository_exists()
    assert pusher.local_tags(registry.address) == []


def test_build_args_reach_the_build(registry: LocalRegistry, checksum_context: Path, pusher: Pusher) -> None:
    checksum = "ab" * 64
    result = pusher.run(
        checksum_context,
        "--tag",
        "v1",
        "--build-arg",
        f"STANDIN_SHA512={checksum}",
        registry=registry.address,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert registry.tags(pusher.repository) == ["v1"]
    built = pusher.docker.containers.run(
        f"{registry.address}/{pusher.repository}:v1", ["cat", "/pinned-checksum"], remove=True
    )
    assert built.decode().strip() == checksum

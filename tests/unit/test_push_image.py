"""Pure-logic tests of ``make push-image``: arguments, tags, push stream errors, retries, names.

No Docker engine, AWS endpoint or registry is involved; ``tests/integration/test_push_image.py``
runs the script against real ones.
"""

from __future__ import annotations

import base64
import json
import os
import platform
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts import push_image
from scripts.ops import push
from scripts.ops.aws import aws_session
from scripts.ops.build import check_checksum_args, required_checksum_args
from scripts.ops.ecr import ecr_lifecycle_policy, ecr_registry_auth
from scripts.ops.engine import (
    Platform,
    check_platform_runnable,
    elf_architecture,
    normalize_arch,
    verify_image_platform,
)
from scripts.ops.errors import EXIT_USAGE, ScriptError, TransientError, die, run_script
from scripts.ops.git import git_revision_tag
from scripts.ops.registry import is_transient_registry_error, read_push_stream
from scripts.ops.retry import RetryPolicy
from scripts.ops.tags import split_reference

# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------


def parse(*argv: str) -> Any:
    return push_image.build_parser().parse_args(list(argv))


def test_defaults_target_arm64_and_the_pinpoint_context() -> None:
    args = parse()
    assert args.context == push_image.REPO_ROOT / "images" / "pinpoint"
    assert args.platform == Platform("linux", "arm64")
    assert (args.tag, args.repository, args.registry, args.config) == (None, None, None, None)
    assert args.latest is False
    assert args.dry_run is False


def test_all_flags_parse() -> None:
    args = parse(
        "--context", "some/dir", "--repository", "team/pinpoint", "--platform", "linux/amd64",
        "--tag", "v1.2.3", "--latest", "--registry", "127.0.0.1:5000", "--dry-run", "--config", "prod",
    )  # fmt: skip
    assert args.context == Path("some/dir")
    assert args.repository == "team/pinpoint"
    assert args.platform == Platform("linux", "amd64")
    assert args.tag == "v1.2.3"
    assert args.latest is True
    assert args.registry == "127.0.0.1:5000"
    assert args.dry_run is True
    assert args.config == "prod"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/arm64", Platform("linux", "arm64")),
        ("linux/aarch64", Platform("linux", "arm64")),  # the kernel's name for it
        ("LINUX/X86_64", Platform("linux", "amd64")),
        ("linux/arm64/v8", Platform("linux", "arm64", "v8")),
    ],
)
def test_platform_names_are_normalized_to_docker_names(text: str, expected: Platform) -> None:
    assert parse("--platform", text).platform == expected
    assert str(expected) == "/".join(p for p in (expected.os, expected.architecture, expected.variant) if p)


@pytest.mark.parametrize(
    ("flag", "value", "complaint"),
    [
        ("--platform", "arm64", "expected os/arch"),
        ("--platform", "linux/arm64/v8/x", "expected os/arch"),
        ("--tag", "-leading-dash", "invalid tag"),
        ("--tag", "x" * 129, "invalid tag"),
        ("--tag", "has/slash", "invalid tag"),
        ("--tag", "latest", "pass --latest"),
        ("--registry", "https://123.dkr.ecr.eu-west-1.amazonaws.com", "HOST[:PORT]"),
        ("--registry", "registry.example/path", "HOST[:PORT]"),
        ("--registry", "host:port", "HOST[:PORT]"),
    ],
)
def test_bad_values_are_usage_errors(
    flag: str, value: str, complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse(f"{flag}={value}")  # '=' so that values starting with '-' reach the validator
    assert exit_info.value.code == EXIT_USAGE
    assert complaint in capsys.readouterr().err


@pytest.mark.parametrize(
    "registry", ["127.0.0.1:5000", "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "localhost"]
)
def test_registry_accepts_host_and_port(registry: str) -> None:
    assert parse("--registry", registry).registry == registry


# --------------------------------------------------------------------------------------------
# Config: repository name and images to keep come from stacks.config
# --------------------------------------------------------------------------------------------


def test_settings_default_from_the_config_schema(tmp_path: Path) -> None:
    settings = push.load_settings(None, None, cdk_json=tmp_path / "absent.json")
    assert settings == push.Settings(
        repository="pinpoint-all-in-one", keep_images=10, environment=None, build_args={}
    )


def test_build_args_come_from_the_config_with_command_line_on_top(tmp_path: Path) -> None:
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text('{"context": {"image_build_args": {"A_SHA512": "from-config", "B": "kept"}}}')
    settings = push.load_settings(None, None, cdk_json=cdk_json, build_args={"A_SHA512": "from-flag"})
    assert settings.build_args == {"A_SHA512": "from-flag", "B": "kept"}


def test_build_arg_flag_needs_name_equals_value() -> None:
    args = push_image.build_parser().parse_args(["--build-arg", "X_SHA512=ab=c", "--build-arg", "Y="])
    assert args.build_args == [("X_SHA512", "ab=c"), ("Y", "")]
    with pytest.raises(SystemExit):
        push_image.build_parser().parse_args(["--build-arg", "no-equals"])


def test_missing_checksum_args_fail_before_any_build(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM x\nARG A_SHA512=\nARG B_SHA512=\nARG C_SHA512=abc\n")
    assert required_checksum_args(dockerfile) == ["A_SHA512", "B_SHA512"]
    check_checksum_args(dockerfile, {"A_SHA512": "1", "B_SHA512": "2"})
    with pytest.raises(ScriptError, match=r"needs build args B_SHA512 \(the SHA-512"):
        check_checksum_args(dockerfile, {"A_SHA512": "1"})


def test_settings_read_cdk_json_context(tmp_path: Path) -> None:
    cdk_json = tmp_path / "cdk.json"
    cdk_json.write_text(json.dumps({"context": {"image_repository": "apm/pinpoint", "ecr_keep_images": 3}}))
    settings = push.load_settings(None, None, cdk_json=cdk_json)
    assert (settings.repository, settings.keep_images) == ("apm/pinpoint", 3)
    # --repository wins over cdk.json, like -c on the cdk command line
    assert push.load_settings("other", None, cdk_json=cdk_json).repository == "other"


@pytest.mark.parametrize("name", ["Pinpoint", "bad_name_", "a", "x/", "under score/UP", "with space"])
def test_invalid_repository_names_fail_as_usage_errors_in_one_line(name: str, tmp_path: Path) -> None:
    with pytest.raises(ScriptError) as error:
        push.load_settings(name, None, cdk_json=tmp_path / "absent.json")
    assert error.value.exit_code == EXIT_USAGE
    assert "image_repository" in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name", ["pinpoint-all-in-one", "team/apm/pinpoint", "a1", "p.p_p-p"])
def test_valid_repository_names_pass(name: str, tmp_path: Path) -> None:
    assert push.load_settings(name, None, cdk_json=tmp_path / "absent.json").repository == name


def test_deploy_command_names_exactly_what_stacks_config_reads() -> None:
    settings = push.Settings(repository="apm/pinpoint", keep_images=10, environment=None, build_args={})
    assert push.deploy_command(settings, "abc1234") == (
        'make deploy CDK_ARGS="-c image_source=ecr -c image_repository=apm/pinpoint -c image_tag=abc1234"'
    )
    prod = push.Settings(repository="apm/pinpoint", keep_images=10, environment="prod", build_args={})
    assert push.deploy_command(prod, "abc1234").startswith('make deploy CDK_ARGS="-c config=prod ')


# --------------------------------------------------------------------------------------------
# Tag derivation from git
# --------------------------------------------------------------------------------------------


@pytest.fixture
def git_repo(tmp_path: Path) -> Iterator[Path]:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@example.com"
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    subprocess.run(["git", "-C", str(tmp_path), "add", "."], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-qm", "init"], check=True)
    yield tmp_path
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def short_sha(repo: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_clean_tree_is_tagged_with_the_short_sha(git_repo: Path) -> None:
    tag = git_revision_tag(git_repo)
    assert tag == short_sha(git_repo)
    assert len(tag) >= 7


def test_modified_tracked_file_marks_the_tag_dirty(git_repo: Path) -> None:
    (git_repo / "Dockerfile").write_text("FROM scratch\nCOPY x /x\n")
    assert git_revision_tag(git_repo) == f"{short_sha(git_repo)}-dirty"


def test_untracked_file_marks_the_tag_dirty_but_ignored_files_do_not(git_repo: Path) -> None:
    (git_repo / ".gitignore").write_text("*.log\n")
    subprocess.run(["git", "-C", str(git_repo), "add", ".gitignore"], check=True)
    subprocess.run(["git", "-C", str(git_repo), "commit", "-qm", "ignore"], check=True)
    (git_repo / "build.log").write_text("ignored\n")
    assert git_revision_tag(git_repo) == short_sha(git_repo)
    (git_repo / "new-file").write_text("would be in the build context\n")
    assert git_revision_tag(git_repo).endswith("-dirty")


def test_no_git_repository_asks_for_an_explicit_tag(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match="pass --tag") as error:
        git_revision_tag(tmp_path / "nowhere")
    assert error.value.exit_code == EXIT_USAGE


# --------------------------------------------------------------------------------------------
# Stream parsing: the docker SDK reports failures only as stream lines
# --------------------------------------------------------------------------------------------

DIGEST = "sha256:" + "ab" * 32


def error_line(message: str) -> dict[str, Any]:
    return {"errorDetail": {"message": message}, "error": message}


@pytest.mark.parametrize(
    "message",
    [
        "received unexpected HTTP status: 503 Service Unavailable",
        "received unexpected HTTP status: 500 Internal Server Error",
        "received unexpected HTTP status: 502 Bad Gateway",
        "toomanyrequests: Rate exceeded",
        "Put https://1.dkr.ecr.eu-west-1.amazonaws.com/v2/x/manifests/a: net/http: TLS handshake timeout",
        "read tcp 10.0.0.1:5000->10.0.0.2:443: read: connection reset by peer",
        "Patch https://registry/v2/x/blobs/uploads/y: unexpected EOF",
    ],
)
def test_retryable_registry_errors(message: str) -> None:
    assert is_transient_registry_error(message)


@pytest.mark.parametrize(
    "message",
    [
        "unauthorized: authentication required",
        "denied: requested access to the resource is denied",
        "tag invalid: The image tag 'abc' already exists in the 'x' repository and cannot be overwritten "
        "because the repository is immutable.",
        "manifest invalid: manifest invalid",
        "name unknown: The repository with name 'x' does not exist in the registry with id '5000'",
        "login attempt to http://127.0.0.1:5000/v2/ failed with status: 401 Unauthorized",
    ],
)
def test_final_registry_errors(message: str) -> None:
    assert not is_transient_registry_error(message)


def test_push_stream_yields_the_digest_and_reports_every_line() -> None:
    lines = [
        {"status": "The push refers to repository [r/x]"},
        {"status": "Pushed", "progressDetail": {}, "id": "aaa"},
        {"status": f"v1: digest: {DIGEST} size: 527"},
        {"progressDetail": {}, "aux": {"Tag": "v1", "Digest": DIGEST, "Size": 527}},
    ]
    seen: list[Any] = []
    result = read_push_stream(lines, seen.append)
    assert (result.reference, result.digest, result.size) == ("v1", DIGEST, 527)
    assert seen == lines


def test_push_stream_error_line_is_raised_and_classified() -> None:
    with pytest.raises(TransientError, match="503 Service Unavailable"):
        read_push_stream(
            [
                {"status": "Preparing", "id": "a"},
                error_line("received unexpected HTTP status: 503 Service Unavailable"),
            ]
        )
    with pytest.raises(ScriptError, match="unauthorized") as final:
        read_push_stream([error_line("unauthorized: authentication required")])
    assert not isinstance(final.value, TransientError)


def test_push_stream_error_stops_before_a_later_digest() -> None:
    # An error line is final even if something digest-like followed (it must not be read as success).
    lines = [error_line("denied: no"), {"aux": {"Tag": "v1", "Digest": DIGEST, "Size": 1}}]
    with pytest.raises(ScriptError, match="denied"):
        read_push_stream(lines)


def test_push_stream_without_digest_is_a_failure() -> None:
    with pytest.raises(TransientError, match="without a digest"):
        read_push_stream([{"status": "Preparing", "id": "a"}])


def test_multiline_error_messages_become_one_line() -> None:
    with pytest.raises(ScriptError) as error:
        read_push_stream([error_line("manifest invalid:\n  details\tfollow")])
    assert str(error.value) == "registry refused the push: manifest invalid: details follow"


# --------------------------------------------------------------------------------------------
# Retry policy
# --------------------------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(attempts=6, base_delay=1.0, max_delay=5.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_jitter_stays_within_its_bounds() -> None:
    policy = RetryPolicy(base_delay=2.0, jitter=0.25)
    assert policy.delay(1, rand=lambda: 0.0) == pytest.approx(1.5)
    assert policy.delay(1, rand=lambda: 0.5) == pytest.approx(2.0)
    assert policy.delay(1, rand=lambda: 1.0) == pytest.approx(2.5)


def flaky(failures: int, error: Exception) -> tuple[Callable[[], str], list[int]]:
    calls: list[int] = []

    def operation() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise error
        return "done"

    return operation, calls


def test_transient_errors_are_retried_with_backoff_until_success() -> None:
    policy = RetryPolicy(attempts=4, base_delay=1.0, jitter=0.0)
    operation, calls = flaky(2, TransientError("503"))
    slept: list[float] = []
    retries: list[int] = []
    result = policy.call(
        operation, what="push", sleep=slept.append, on_retry=lambda n, _w, _e: retries.append(n)
    )
    assert result == "done"
    assert len(calls) == 3
    assert slept == [1.0, 2.0]
    assert retries == [1, 2]


def test_retries_are_bounded_and_the_last_error_is_final() -> None:
    policy = RetryPolicy(attempts=3, base_delay=0.5, jitter=0.0)
    operation, calls = flaky(10, TransientError("received unexpected HTTP status: 503"))
    slept: list[float] = []
    with pytest.raises(ScriptError, match="push failed after 3 attempts: received unexpected") as error:
        policy.call(operation, what="push", sleep=slept.append)
    assert not isinstance(error.value, TransientError)  # an outer retry loop must not retry it again
    assert len(calls) == 3
    assert slept == [0.5, 1.0]


def test_final_errors_are_not_retried() -> None:
    operation, calls = flaky(10, ScriptError("unauthorized"))
    with pytest.raises(ScriptError, match="unauthorized"):
        RetryPolicy().call(operation, what="push", sleep=lambda _s: pytest.fail("must not sleep"))
    assert len(calls) == 1


@pytest.mark.parametrize(
    "kwargs", [{"attempts": 0}, {"base_delay": -1}, {"base_delay": 5, "max_delay": 1}, {"jitter": 1.0}]
)
def test_nonsensical_policies_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"invalid retry policy|jitter"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Platform checks
# --------------------------------------------------------------------------------------------


class FakeEngine:
    """Just enough of a DockerClient for the platform check: ``info()`` and ``api.base_url``."""

    def __init__(self, architecture: str, *, base_url: str = "http+docker://localhost", **info: str) -> None:
        self._info = {
            "OSType": "linux",
            "Architecture": architecture,
            "KernelVersion": os.uname().release,
            **info,
        }
        self.api = type("Api", (), {"base_url": base_url})()

    def info(self) -> dict[str, str]:
        return self._info


ARM64 = Platform("linux", "arm64")
QEMU_ENTRY = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\noffset 0\n"


@pytest.fixture
def binfmt(tmp_path: Path) -> Path:
    (tmp_path / "status").write_text("enabled\n")
    return tmp_path


def test_native_platform_needs_no_emulation(binfmt: Path) -> None:
    assert "native" in check_platform_runnable(FakeEngine("aarch64"), ARM64, binfmt_misc=binfmt)  # type: ignore[arg-type]


def test_registered_qemu_makes_arm64_runnable_on_x86(binfmt: Path) -> None:
    (binfmt / "qemu-aarch64").write_text(QEMU_ENTRY)
    how = check_platform_runnable(FakeEngine("x86_64"), ARM64, binfmt_misc=binfmt)  # type: ignore[arg-type]
    assert "QEMU" in how


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        (None, "no QEMU emulator is registered"),
        (QEMU_ENTRY.replace("enabled", "disabled"), "is disabled"),
        (QEMU_ENTRY.replace("flags: PF", "flags: P"), "lacks the F (fix-binary) flag"),
    ],
)
def test_missing_emulation_fails_with_the_fix(binfmt: Path, entry: str | None, complaint: str) -> None:
    if entry is not None:
        (binfmt / "qemu-aarch64").write_text(entry)
    with pytest.raises(ScriptError, match=re.escape(complaint)) as error:
        check_platform_runnable(FakeEngine("x86_64"), ARM64, binfmt_misc=binfmt)  # type: ignore[arg-type]
    if entry is None:
        assert "update-binfmts --enable qemu-aarch64" in str(error.value)


def test_unmounted_binfmt_misc_says_how_to_mount_it(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match="binfmt_misc is not mounted"):
        check_platform_runnable(FakeEngine("x86_64"), ARM64, binfmt_misc=tmp_path)  # type: ignore[arg-type]


def test_remote_engine_emulation_is_left_to_the_architecture_check(tmp_path: Path) -> None:
    engine = FakeEngine("x86_64", base_url="https://build-host:2376")
    how = check_platform_runnable(engine, ARM64, binfmt_misc=tmp_path)  # type: ignore[arg-type]
    assert "cannot be inspected" in how


def test_windows_engine_cannot_build_linux_images(binfmt: Path) -> None:
    with pytest.raises(ScriptError, match="runs windows containers"):
        check_platform_runnable(FakeEngine("x86_64", OSType="windows"), ARM64, binfmt_misc=binfmt)  # type: ignore[arg-type]


def test_built_architecture_must_match_the_requested_platform() -> None:
    verify_image_platform({"Os": "linux", "Architecture": "arm64"}, ARM64)
    verify_image_platform({"Os": "linux", "Architecture": "arm64", "Variant": "v8"}, ARM64)
    verify_image_platform({"Os": "linux", "Architecture": "aarch64"}, Platform("linux", "arm64", "v8"))
    with pytest.raises(ScriptError, match=r"the built image is linux/amd64, not linux/arm64: .* amd64-only"):
        verify_image_platform({"Os": "linux", "Architecture": "amd64"}, ARM64)
    with pytest.raises(ScriptError, match="not linux/arm/v7"):
        verify_image_platform(
            {"Os": "linux", "Architecture": "arm", "Variant": "v6"}, Platform("linux", "arm", "v7")
        )


def elf_header(machine: int, *, big_endian: bool = False) -> bytes:
    ident = b"\x7fELF" + bytes([2, 2 if big_endian else 1, 1]) + bytes(9)
    return ident + bytes(2) + machine.to_bytes(2, "big" if big_endian else "little") + bytes(44)


def test_the_code_in_an_image_is_told_by_its_elf_header() -> None:
    assert elf_architecture(elf_header(0xB7)) == "arm64"
    assert elf_architecture(elf_header(0x3E)) == "amd64"
    assert elf_architecture(elf_header(0x16, big_endian=True)) == "s390x"
    assert elf_architecture(elf_header(0x1234)) == "ELF machine 0x1234"
    assert elf_architecture(b"#!/bin/sh\n" + bytes(20)) is None
    assert elf_architecture(b"\x7fELF") is None
    # This machine's own shell, read as the check reads the image's.
    assert elf_architecture(Path("/bin/sh").resolve().read_bytes()[:64]) == normalize_arch(platform.machine())


# --------------------------------------------------------------------------------------------
# ECR pieces that need no endpoint
# --------------------------------------------------------------------------------------------


def test_region_comes_from_aws_region_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    with pytest.raises(ScriptError, match="no AWS region configured"):
        aws_session()
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert aws_session().region_name == "eu-west-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-northeast-2")  # boto3's own variable wins
    assert aws_session().region_name == "ap-northeast-2"


def test_lifecycle_policy_keeps_the_last_n_images_of_any_tag_state() -> None:
    (rule,) = ecr_lifecycle_policy(7)["rules"]
    assert rule["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 7}
    assert rule["action"] == {"type": "expire"}
    with pytest.raises(ValueError, match="at least 1"):
        ecr_lifecycle_policy(0)


class FakeEcr:
    def get_authorization_token(self) -> dict[str, Any]:
        token = base64.b64encode(b"AWS:secret:with:colons").decode()
        return {
            "authorizationData": [
                {"authorizationToken": token, "proxyEndpoint": "https://1.dkr.ecr.x.amazonaws.com"}
            ]
        }


def test_authorization_token_decodes_to_user_password_and_endpoint() -> None:
    auth = ecr_registry_auth(FakeEcr())
    assert (auth.registry, auth.username, auth.password) == (
        "1.dkr.ecr.x.amazonaws.com",
        "AWS",
        "secret:with:colons",
    )
    assert "secret" not in repr(auth)
    assert ecr_registry_auth(FakeEcr(), registry="127.0.0.1:5000").registry == "127.0.0.1:5000"


def test_references_split_at_the_tag_not_the_registry_port() -> None:
    assert split_reference("127.0.0.1:5000/team/app:v1") == ("127.0.0.1:5000/team/app", "v1")
    with pytest.raises(ValueError, match="without a tag"):
        split_reference("127.0.0.1:5000/team/app")


# --------------------------------------------------------------------------------------------
# One line, non-zero exit
# --------------------------------------------------------------------------------------------


def test_die_prints_one_line_and_exits_non_zero(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        die("first\nsecond", prog="push-image", exit_code=3)
    assert exit_info.value.code == 3
    assert capsys.readouterr().err == "push-image: error: first second\n"


def test_run_script_turns_script_errors_into_their_exit_code(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)

    def failing() -> int:
        raise ScriptError("bad config", exit_code=EXIT_USAGE)

    with pytest.raises(SystemExit) as exit_info:
        run_script(failing, prog="x")
    assert exit_info.value.code == EXIT_USAGE
    assert capsys.readouterr().err == "x: error: bad config\n"
    with pytest.raises(SystemExit) as exit_info:
        run_script(lambda: 0, prog="x")
    assert exit_info.value.code == 0


def test_github_actions_gets_an_error_annotation(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with pytest.raises(SystemExit):
        die("no AWS credentials found", prog="push-image")
    assert capsys.readouterr().err == "::error title=push-image::no AWS credentials found\n"

"""Shared AWS and Docker plumbing for the project's scripts and CI steps.

Every script in ``scripts/`` talks to AWS and the Docker engine through this module, so the
same failure reads the same way everywhere: one line on stderr, a non-zero exit code, no
traceback (see ``ScriptError`` and ``run_script``). Tracebacks are kept for real bugs.

What lives here, and why:

* AWS: a boto3 session from the standard credential chain and region (``AWS_PROFILE``,
  environment, config files, instance roles). boto3 itself honours ``AWS_ENDPOINT_URL`` and
  ``AWS_ENDPOINT_URL_<SERVICE>``, which is how tests point every client at a moto server; we
  never pass ``endpoint_url`` so that keeps working. Never use the boto3 ``pinpoint`` client:
  that is Amazon Pinpoint, an unrelated service.
* ECR: repository reconciliation (scan on push, immutable tags except ``latest``, encryption,
  a keep-last-N lifecycle policy) and registry login with ``get_authorization_token``.
* Docker: connecting with a clear error, checking that the engine can run the target platform
  (QEMU binfmt for foreign architectures), building and verifying the built architecture, and
  pushing with stream-error detection and retry. The docker SDK does not raise when a build or
  push fails: the failure arrives as a stream line with an ``error`` key, so every stream is read
  through ``read_build_stream``/``read_push_stream``.
* Output: ``Reporter`` draws progress bars on a terminal and plain, greppable lines in CI logs.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TextIO, TypeVar
from urllib.parse import urlparse

import boto3
import botocore.config
import botocore.exceptions
import docker
import docker.errors
import requests
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

T = TypeVar("T")
# boto3 clients are generated at run time; without boto3-stubs the honest static type is Any.
BotoClient = Any
StreamEvent = Mapping[str, Any]

EXIT_FAILURE = 1
EXIT_USAGE = 2  # same as argparse: the invocation or configuration is wrong, nothing was attempted
EXIT_INTERRUPTED = 130


# --------------------------------------------------------------------------------------------
# Errors: one line, non-zero exit
# --------------------------------------------------------------------------------------------


def one_line(text: object) -> str:
    """Collapse a (library) message to a single line: log scrapers and humans read line one."""
    return " ".join(str(text).split())


class ScriptError(Exception):
    """A failure the user can act on. Reported as one ``error:`` line, exits with ``exit_code``."""

    def __init__(self, message: str, *, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(one_line(message))
        self.exit_code = exit_code


class TransientError(ScriptError):
    """A failure worth retrying (registry 5xx, throttling, dropped connection)."""


def die(message: str, *, exit_code: int = EXIT_FAILURE, prog: str | None = None) -> NoReturn:
    """Print ``[prog: ]error: <message>`` as one line on stderr and exit with ``exit_code``.

    On GitHub Actions the line is also emitted as an ``::error::`` workflow command, so the
    failure shows up in the run summary, not only in the log.
    """
    text = one_line(message)
    prefix = f"{prog}: " if prog else ""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        print(f"::error title={prog or 'error'}::{text}", file=sys.stderr, flush=True)
    else:
        print(f"{prefix}error: {text}", file=sys.stderr, flush=True)
    raise SystemExit(exit_code)


def run_script(main: Callable[[], int], *, prog: str) -> NoReturn:
    """Run a script's ``main`` and turn ``ScriptError``/Ctrl-C into one line and an exit code."""
    try:
        code = main()
    except ScriptError as error:
        die(str(error), exit_code=error.exit_code, prog=prog)
    except KeyboardInterrupt:
        die("interrupted", exit_code=EXIT_INTERRUPTED, prog=prog)
    raise SystemExit(code)


def set_ci_output(name: str, value: str) -> None:
    """Expose ``name=value`` to later CI steps (GitHub Actions ``$GITHUB_OUTPUT``); no-op elsewhere."""
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with Path(output).open("a", encoding="utf-8") as handle:
            handle.write(f"{name}={value}\n")


# --------------------------------------------------------------------------------------------
# Retry with exponential backoff
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Retry ``TransientError`` with capped exponential backoff and jitter.

    Delay before retry ``n`` (1-based) is ``min(max_delay, base_delay * 2**(n-1))`` scaled by a
    random factor in ``[1 - jitter, 1 + jitter]`` so that parallel CI jobs do not retry in step.
    Anything that is not a ``TransientError`` propagates at once: retrying "unauthorized" or
    "tag already exists" only delays the same answer.
    """

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 20.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError(f"invalid retry policy: {self}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1): {self.jitter}")

    def delay(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``retry`` (1 = the first retry)."""
        if retry < 1:
            raise ValueError("retry numbers start at 1")
        nominal = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return nominal * (1 + self.jitter * (2 * rand() - 1))

    def call(
        self,
        operation: Callable[[], T],
        *,
        what: str,
        on_retry: Callable[[int, float, TransientError], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> T:
        """Run ``operation`` until it succeeds, raises a non-transient error, or attempts run out."""
        for attempt in range(1, self.attempts + 1):
            try:
                return operation()
            except TransientError as error:
                if attempt == self.attempts:
                    raise ScriptError(f"{what} failed after {self.attempts} attempts: {error}") from error
                wait = self.delay(attempt)
                if on_retry is not None:
                    on_retry(attempt, wait, error)
                sleep(wait)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


# Registry failures that say "try again later", as the engine words them, e.g.
# "received unexpected HTTP status: 503 Service Unavailable", "toomanyrequests: ...",
# "read tcp ...: connection reset by peer", "net/http: TLS handshake timeout".
_TRANSIENT_STATUS = re.compile(r"\b(?:status(?: code)?:?\s*|HTTP\s+)(5\d\d|429)\b", re.IGNORECASE)
_TRANSIENT_TEXT = re.compile(
    r"toomanyrequests|too many requests|throttl|service unavailable|bad gateway|gateway time-?out"
    r"|internal server error|connection reset|connection refused|broken pipe|i/o timeout"
    r"|handshake timeout|timeout exceeded|unexpected EOF|: EOF$",
    re.IGNORECASE,
)


def is_transient_registry_error(message: str) -> bool:
    """True when a registry/engine error message describes a failure a retry can fix."""
    return bool(_TRANSIENT_STATUS.search(message) or _TRANSIENT_TEXT.search(message))


# --------------------------------------------------------------------------------------------
# AWS
# --------------------------------------------------------------------------------------------

# Bounded, "standard" mode retries (throttling and 5xx) with timeouts that fail fast when an
# endpoint is unreachable instead of hanging a CI job.
AWS_CLIENT_CONFIG = botocore.config.Config(
    retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=60
)


def aws_error(error: Exception) -> str:
    """``Code: message`` for AWS API errors, the plain message for transport errors."""
    if isinstance(error, botocore.exceptions.ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code', 'Error')}: {details.get('Message', str(error))}"
    return one_line(error)


def aws_session(*, profile: str | None = None, region: str | None = None) -> boto3.Session:
    """A boto3 session from the standard chain; fails with one line if no region is configured.

    boto3 reads only ``AWS_DEFAULT_REGION``; ``AWS_REGION`` (what the CDK CLI, the other SDKs and
    CI credential actions set) is honoured as a fallback so both spellings work.
    """
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        if not session.region_name and os.environ.get("AWS_REGION"):
            session = boto3.Session(profile_name=profile, region_name=os.environ["AWS_REGION"])
    except botocore.exceptions.ProfileNotFound as error:
        raise ScriptError(f"{error} (check AWS_PROFILE and ~/.aws/config)") from error
    if not session.region_name:
        raise ScriptError(
            "no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION), or a region for the profile"
        )
    return session


def aws_client(session: boto3.Session, service: str) -> BotoClient:
    """A client for ``service``; ``AWS_ENDPOINT_URL[_SERVICE]`` is applied by boto3 itself."""
    return session.client(service, config=AWS_CLIENT_CONFIG)  # type: ignore[call-overload]


@dataclass(frozen=True)
class AwsIdentity:
    account: str
    arn: str
    region: str


def require_credentials(session: boto3.Session) -> AwsIdentity:
    """Prove the credential chain yields credentials AWS accepts (``sts:GetCallerIdentity``).

    Done before any build so a missing or expired login costs seconds, not a 10-minute build.
    """
    try:
        credentials = session.get_credentials()
    except botocore.exceptions.BotoCoreError as error:  # e.g. an SSO profile whose login expired
        raise ScriptError(f"cannot load AWS credentials: {aws_error(error)}") from error
    if credentials is None:
        raise ScriptError(
            "no AWS credentials found: set AWS_PROFILE (after `aws sso login` or `aws configure`) "
            "or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run with an instance/task role"
        )
    try:
        identity = aws_client(session, "sts").get_caller_identity()
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        raise ScriptError(f"AWS did not accept the credentials: {aws_error(error)}") from error
    return AwsIdentity(account=identity["Account"], arn=identity["Arn"], region=session.region_name or "")


# --------------------------------------------------------------------------------------------
# ECR
# --------------------------------------------------------------------------------------------

# Tags are immutable so a deployed tag always means the same bytes; ``latest`` is the one
# exception, because ``--latest`` exists to move it (IMMUTABLE_WITH_EXCLUSION, ECR 2025-07).
ECR_TAG_MUTABILITY = "IMMUTABLE_WITH_EXCLUSION"
ECR_MUTABLE_TAGS = ("latest",)
ECR_ENCRYPTION = {"encryptionType": "AES256"}


def ecr_lifecycle_policy(keep_images: int) -> dict[str, Any]:
    """A lifecycle policy that expires all but the newest ``keep_images`` images (any tag state)."""
    if keep_images < 1:
        raise ValueError(f"keep_images must be at least 1, got {keep_images}")
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Keep only the last {keep_images} images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": keep_images,
                },
                "action": {"type": "expire"},
            }
        ]
    }


def _mutability_exclusions() -> list[dict[str, str]]:
    return [{"filterType": "WILDCARD", "filter": tag} for tag in ECR_MUTABLE_TAGS]


@dataclass(frozen=True)
class EcrRepository:
    name: str
    uri: str
    registry_id: str
    changes: tuple[str, ...]  # what was (or, in a dry run, would be) created or changed


def ensure_ecr_repository(
    ecr: BotoClient, name: str, *, keep_images: int, apply: bool = True
) -> EcrRepository:
    """Create ``name`` or bring its settings in line; with ``apply=False`` only report the plan.

    Reconciles scan on push, tag immutability (except ``latest``) and the lifecycle policy.
    Encryption can only be chosen at creation: an existing repository keeps its own (any ECR
    repository is encrypted at rest), which is reported rather than treated as an error.
    """
    changes: list[str] = []
    policy = ecr_lifecycle_policy(keep_images)
    try:
        try:
            repository = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        except ecr.exceptions.RepositoryNotFoundException:
            changes.append(
                f"create repository {name} (scan on push, immutable tags except "
                f"{', '.join(ECR_MUTABLE_TAGS)}, {ECR_ENCRYPTION['encryptionType']} encryption)"
            )
            changes.append(f"lifecycle policy: keep the last {keep_images} images")
            if not apply:
                return EcrRepository(name=name, uri="", registry_id="", changes=tuple(changes))
            repository = ecr.create_repository(
                repositoryName=name,
                imageScanningConfiguration={"scanOnPush": True},
                imageTagMutability=ECR_TAG_MUTABILITY,
                imageTagMutabilityExclusionFilters=_mutability_exclusions(),
                encryptionConfiguration=ECR_ENCRYPTION,
            )["repository"]
            ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(policy))
            return EcrRepository(
                name=name,
                uri=repository["repositoryUri"],
                registry_id=repository["registryId"],
                changes=tuple(changes),
            )

        if not repository.get("imageScanningConfiguration", {}).get("scanOnPush"):
            changes.append("turn on scan on push")
            if apply:
                ecr.put_image_scanning_configuration(
                    repositoryName=name, imageScanningConfiguration={"scanOnPush": True}
                )
        exclusions = repository.get("imageTagMutabilityExclusionFilters") or []
        if (
            repository.get("imageTagMutability") != ECR_TAG_MUTABILITY
            or exclusions != _mutability_exclusions()
        ):
            changes.append(f"make tags immutable except {', '.join(ECR_MUTABLE_TAGS)}")
            if apply:
                ecr.put_image_tag_mutability(
                    repositoryName=name,
                    imageTagMutability=ECR_TAG_MUTABILITY,
                    imageTagMutabilityExclusionFilters=_mutability_exclusions(),
                )
        try:
            current = json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])
        except ecr.exceptions.LifecyclePolicyNotFoundException:
            current = None
        if current != policy:
            changes.append(f"lifecycle policy: keep the last {keep_images} images")
            if apply:
                ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(policy))
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        raise ScriptError(f"ECR repository {name}: {aws_error(error)}") from error
    return EcrRepository(
        name=name,
        uri=repository["repositoryUri"],
        registry_id=repository["registryId"],
        changes=tuple(changes),
    )


def ecr_tag_exists(ecr: BotoClient, repository: str, tag: str) -> bool:
    """True when ``repository:tag`` is already in ECR (an immutable tag cannot be pushed again)."""
    try:
        ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except (ecr.exceptions.ImageNotFoundException, ecr.exceptions.RepositoryNotFoundException):
        return False
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        raise ScriptError(f"ECR repository {repository}: {aws_error(error)}") from error
    return True


@dataclass(frozen=True)
class RegistryAuth:
    """Credentials for one registry endpoint (``host[:port]``, no scheme)."""

    registry: str
    username: str
    password: str = field(repr=False)

    def auth_config(self) -> dict[str, str]:
        """The ``auth_config`` mapping the docker SDK sends to the engine for push/pull."""
        return {"username": self.username, "password": self.password, "serveraddress": self.registry}


def ecr_registry_auth(ecr: BotoClient, *, registry: str | None = None) -> RegistryAuth:
    """Registry credentials from ``ecr:GetAuthorizationToken`` (valid 12 hours).

    The token decodes to ``user:password``; its ``proxyEndpoint`` names the registry to push
    to unless ``registry`` overrides it (a pull-through proxy, or a local registry in tests).
    """
    try:
        data = ecr.get_authorization_token()["authorizationData"][0]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        raise ScriptError(f"cannot get an ECR authorization token: {aws_error(error)}") from error
    username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    endpoint = registry or urlparse(data["proxyEndpoint"]).netloc
    return RegistryAuth(registry=endpoint, username=username, password=password)


# --------------------------------------------------------------------------------------------
# Docker engine
# --------------------------------------------------------------------------------------------


def docker_client(*, timeout: int = 600) -> docker.DockerClient:
    """A client for the engine named by ``DOCKER_HOST`` (default socket), proven reachable.

    ``timeout`` is per HTTP read; builds and pushes stream, so it bounds silence, not duration.
    """
    where = os.environ.get("DOCKER_HOST", "the default socket (unix:///var/run/docker.sock)")
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as error:
        raise ScriptError(
            f"cannot reach the Docker daemon at {where}: {_root_cause(error)} "
            "(start the engine or point DOCKER_HOST at a running one)"
        ) from error
    return client


def _root_cause(error: BaseException) -> str:
    """The innermost meaningful reason, e.g. 'No such file or directory' for a missing socket."""
    text = one_line(error)
    for pattern in (r"(No such file or directory)", r"(Connection refused)", r"(Permission denied)"):
        if match := re.search(pattern, text):
            return match.group(1)
    return text


# Docker/OCI architecture names (GOARCH) for the names kernels and engines report.
_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "i386": "386",
    "i686": "386",
}
# binfmt_misc entry names registered by qemu-user-static (Debian) and tonistiigi/binfmt.
_QEMU_NAMES = {
    "amd64": "x86_64",
    "arm64": "aarch64",
    "arm": "arm",
    "386": "i386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "mips64le": "mips64el",
    "loong64": "loongarch64",
}
BINFMT_MISC = Path("/proc/sys/fs/binfmt_misc")


def normalize_arch(arch: str) -> str:
    return _ARCH_ALIASES.get(arch.lower(), arch.lower())


@dataclass(frozen=True)
class Platform:
    """An ``os/arch[/variant]`` build platform, e.g. ``linux/arm64``."""

    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.strip().lower().split("/")
        if len(parts) not in (2, 3) or not all(re.fullmatch(r"[a-z0-9_]+", part) for part in parts):
            raise ValueError(f"invalid platform {text!r}: expected os/arch[/variant], e.g. linux/arm64")
        variant = parts[2] if len(parts) == 3 else None
        return cls(os=parts[0], architecture=normalize_arch(parts[1]), variant=variant)

    def __str__(self) -> str:
        return "/".join(part for part in (self.os, self.architecture, self.variant) if part)


def qemu_fix(platform: Platform) -> str:
    qemu = _QEMU_NAMES.get(platform.architecture, platform.architecture)
    return (
        f"register QEMU for {platform.architecture}: `sudo apt-get install qemu-user-static binfmt-support "
        f"&& sudo update-binfmts --enable qemu-{qemu}` (Debian/Ubuntu), or "
        f"`docker run --privileged --rm tonistiigi/binfmt --install {platform.architecture}`"
    )


def _engine_shares_our_kernel(client: docker.DockerClient, info: Mapping[str, Any]) -> bool:
    """True when the engine runs on this kernel, so our /proc shows its binfmt_misc table.

    binfmt_misc is kernel-wide, so a CI job in a container talking to the host's socket still
    qualifies; Docker Desktop (a VM) and remote engines (tcp://, ssh://) do not.
    """
    local_socket = str(client.api.base_url).startswith("http+docker://local")
    return (
        sys.platform == "linux"
        and local_socket
        and info.get("KernelVersion") == os.uname().release
        and "docker desktop" not in str(info.get("OperatingSystem", "")).lower()
    )


def check_platform_runnable(
    client: docker.DockerClient, platform: Platform, *, binfmt_misc: Path = BINFMT_MISC
) -> str:
    """Fail before a build the engine cannot run; return how ``platform`` runs (for the log).

    A foreign architecture needs a QEMU binfmt_misc entry with the F (fix-binary) flag, so the
    emulator is opened by the kernel and need not exist inside the build's root filesystem.
    """
    info = client.info()
    engine_os = str(info.get("OSType", "linux"))
    engine_arch = normalize_arch(str(info.get("Architecture", "")))
    if platform.os != engine_os:
        raise ScriptError(f"the Docker engine runs {engine_os} containers, it cannot build {platform}")
    if platform.architecture == engine_arch:
        return f"native ({engine_arch} engine)"
    if not _engine_shares_our_kernel(client, info):
        return (
            f"emulated on a remote or VM engine ({engine_arch}); its QEMU setup cannot be inspected "
            "from here, the built image's architecture is checked instead"
        )
    if not (binfmt_misc / "status").exists():
        raise ScriptError(
            f"the engine ({engine_arch}) cannot run {platform}: binfmt_misc is not mounted "
            f"(`sudo mount -t binfmt_misc binfmt_misc {binfmt_misc}`), then {qemu_fix(platform)}"
        )
    entry = binfmt_misc / f"qemu-{_QEMU_NAMES.get(platform.architecture, platform.architecture)}"
    cannot = f"the engine ({engine_arch}) cannot run {platform}"
    try:
        text = entry.read_text()
    except OSError:
        raise ScriptError(f"{cannot}: no QEMU emulator is registered; {qemu_fix(platform)}") from None
    if not text.startswith("enabled"):
        raise ScriptError(f"{cannot}: {entry} is disabled; {qemu_fix(platform)}")
    flags = re.search(r"^flags:\s*(\S*)", text, re.MULTILINE)
    if flags is None or "F" not in flags.group(1):
        raise ScriptError(
            f"{cannot} in containers: {entry} lacks the F (fix-binary) flag, so the emulator is not "
            "visible inside builds; reinstall qemu-user-static (Debian registers it with F) "
            "or use tonistiigi/binfmt"
        )
    return f"emulated by QEMU ({entry.name})"


def image_platform(attrs: Mapping[str, Any]) -> Platform:
    """The platform an image's config declares (``docker image inspect`` attributes)."""
    return Platform(
        os=str(attrs.get("Os", "")),
        architecture=normalize_arch(str(attrs.get("Architecture", ""))),
        variant=attrs.get("Variant") or None,
    )


def verify_image_platform(attrs: Mapping[str, Any], expected: Platform) -> None:
    """Fail when a build produced another platform than asked for.

    The classic builder keeps a local base image's architecture whatever ``--platform`` says,
    so an amd64-only base silently yields an amd64 image that Fargate ARM64 cannot start.
    A variant is compared only when both sides name one (arm64 images often omit ``v8``).
    """
    actual = image_platform(attrs)
    variant_differs = bool(expected.variant and actual.variant and expected.variant != actual.variant)
    if actual.os != expected.os or actual.architecture != expected.architecture or variant_differs:
        raise ScriptError(
            f"the built image is {actual}, not {expected}: its base image (FROM) is probably "
            f"{actual.architecture}-only; use a multi-arch or {expected.architecture} base image"
        )


@dataclass(frozen=True)
class PushResult:
    reference: str
    digest: str
    size: int | None


def _stream_error(event: StreamEvent) -> str | None:
    """The error message carried by a build/push stream line, if it carries one."""
    if "errorDetail" in event or "error" in event:
        detail = event.get("errorDetail") or {}
        return one_line(detail.get("message") or event.get("error") or "unknown error")
    return None


def read_push_stream(
    events: Iterable[StreamEvent], on_event: Callable[[StreamEvent], None] | None = None
) -> PushResult:
    """Consume a push stream; return the pushed digest or raise on an ``error`` line.

    The docker SDK reports push failures only in the stream. Errors a retry can fix raise
    ``TransientError``; the others ``ScriptError``.
    """
    tag = digest = ""
    size: int | None = None
    for event in events:
        if on_event is not None:
            on_event(event)
        message = _stream_error(event)
        if message is not None:
            error_class = TransientError if is_transient_registry_error(message) else ScriptError
            raise error_class(f"registry refused the push: {message}")
        aux = event.get("aux")
        if isinstance(aux, Mapping) and aux.get("Digest"):
            tag, digest = str(aux.get("Tag", "")), str(aux["Digest"])
            size = int(aux["Size"]) if aux.get("Size") is not None else None
    if not digest:
        raise TransientError("the push stream ended without a digest (connection to the engine dropped?)")
    return PushResult(reference=tag, digest=digest, size=size)


def read_build_stream(
    events: Iterable[StreamEvent], on_event: Callable[[StreamEvent], None] | None = None
) -> str:
    """Consume a build stream; return the built image ID or raise ``ScriptError`` on an error line."""
    image_id = ""
    for event in events:
        if on_event is not None:
            on_event(event)
        message = _stream_error(event)
        if message is not None:
            raise ScriptError(f"build failed: {message}")
        aux = event.get("aux")
        if isinstance(aux, Mapping) and aux.get("ID"):
            image_id = str(aux["ID"])
    if not image_id:
        raise ScriptError("build failed: the engine reported no image ID")
    return image_id


def build_image(
    client: docker.DockerClient,
    *,
    context: Path,
    platform: Platform,
    tag: str,
    on_event: Callable[[StreamEvent], None] | None = None,
    dockerfile: str = "Dockerfile",
    build_args: Mapping[str, str] | None = None,
) -> str:
    """Build ``context`` for ``platform`` with the classic builder, tag it, return the image ID.

    ``pull=False``: base images come from the local engine when present (our CI has no public
    registry); a missing base is still pulled by the engine.
    """
    if not (context / dockerfile).is_file():
        raise ScriptError(f"no {dockerfile} in build context {context}", exit_code=EXIT_USAGE)
    try:
        events = client.api.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=tag,
            platform=str(platform),
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            buildargs=dict(build_args or {}),
        )
        return read_build_stream(events, on_event)
    except (docker.errors.APIError, docker.errors.BuildError, requests.RequestException) as error:
        raise ScriptError(f"build failed: {_api_error(error)}") from error


_EMPTY_CHECKSUM_ARG = re.compile(r"^ARG (\w+_SHA512)=\s*$", re.MULTILINE)


def required_checksum_args(dockerfile: Path) -> list[str]:
    """``*_SHA512`` build args a Dockerfile declares without a default.

    Such a build fails closed half-way through (after the base image and downloads); checking
    up front turns that into one line before anything is built or created.
    """
    return _EMPTY_CHECKSUM_ARG.findall(dockerfile.read_text())


def check_checksum_args(dockerfile: Path, build_args: Mapping[str, str]) -> None:
    missing = [name for name in required_checksum_args(dockerfile) if not build_args.get(name)]
    if missing:
        raise ScriptError(
            f"{dockerfile} needs build args {', '.join(missing)} (the SHA-512 of each download): "
            'run `make pin-checksums ARGS="--config ENV"` and pass --config ENV, or pass --build-arg NAME=SHA512',
            exit_code=EXIT_USAGE,
        )


def _api_error(error: Exception) -> str:
    if isinstance(error, docker.errors.APIError) and error.explanation:
        return one_line(error.explanation)
    return one_line(error)


def registry_login(client: docker.DockerClient, auth: RegistryAuth, *, retry: RetryPolicy) -> None:
    """Have the engine verify ``auth`` against the registry before anything is built.

    ``reauth=True``: always ask the registry, never trust credentials cached in the client.
    Nothing is written to ``~/.docker/config.json``; pushes pass the credentials explicitly.
    """

    def attempt() -> None:
        try:
            client.login(username=auth.username, password=auth.password, registry=auth.registry, reauth=True)
        except (docker.errors.APIError, requests.RequestException) as error:
            message = _api_error(error)
            if is_transient_registry_error(message) and "401" not in message:
                raise TransientError(f"registry {auth.registry} login: {message}") from error
            raise ScriptError(f"registry {auth.registry} refused the login: {message}") from error

    retry.call(attempt, what=f"login to {auth.registry}")


def push_image(
    client: docker.DockerClient,
    *,
    repository: str,
    tag: str,
    auth: RegistryAuth,
    retry: RetryPolicy,
    on_event: Callable[[StreamEvent], None] | None = None,
    on_retry: Callable[[int, float, TransientError], None] | None = None,
) -> PushResult:
    """Push ``repository:tag``, retrying transient registry errors; return the manifest digest.

    Layers that reached the registry before a failure are not sent again on retry ("Layer
    already exists"), so a retry costs little more than the manifest upload that failed.
    """

    def attempt() -> PushResult:
        try:
            events = client.api.push(
                repository, tag=tag, stream=True, decode=True, auth_config=auth.auth_config()
            )
            result = read_push_stream(events, on_event)
        except docker.errors.APIError as error:
            message = _api_error(error)
            if is_transient_registry_error(message):
                raise TransientError(f"push {repository}:{tag}: {message}") from error
            raise ScriptError(f"push {repository}:{tag}: {message}") from error
        except requests.RequestException as error:
            raise TransientError(
                f"push {repository}:{tag}: lost the engine connection: {one_line(error)}"
            ) from error
        return PushResult(reference=f"{repository}:{tag}", digest=result.digest, size=result.size)

    return retry.call(attempt, what=f"push of {repository}:{tag}", on_retry=on_retry)


def remove_tag(client: docker.DockerClient, reference: str) -> bool:
    """Untag ``reference`` locally, keeping build-cache parents; True if it existed."""
    try:
        client.images.remove(reference, noprune=True)
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.APIError:
        # In use by a container, or already gone: the run's outcome does not depend on it.
        return False
    return True


def split_reference(reference: str) -> tuple[str, str]:
    """``registry:5000/repo:tag`` -> (``registry:5000/repo``, ``tag``); the tag is required."""
    repository, sep, tag = reference.rpartition(":")
    if not sep or "/" in tag:
        raise ValueError(f"image reference without a tag: {reference!r}")
    return repository, tag


class LocalTags:
    """Local tags set by one run, undone if the run fails, so nothing is left half-tagged.

    ``claim`` records what a reference pointed at before (if anything) and must be called
    before the build or tag that moves it; ``rollback`` restores those images (or removes the
    tags that did not exist); ``commit`` keeps everything claimed so far.
    """

    def __init__(self, client: docker.DockerClient) -> None:
        self._client = client
        self._claimed: list[tuple[str, str | None]] = []

    def claim(self, reference: str) -> None:
        try:
            previous: str | None = self._client.images.get(reference).id
        except docker.errors.ImageNotFound:
            previous = None
        self._claimed.append((reference, previous))

    def tag(self, image_id: str, reference: str) -> None:
        self.claim(reference)
        repository, tag = split_reference(reference)
        if not self._client.api.tag(image_id, repository, tag, force=True):
            raise ScriptError(f"the engine refused to tag {image_id[:19]} as {reference}")

    def commit(self) -> None:
        self._claimed.clear()

    def rollback(self) -> list[str]:
        """Undo every claim (newest first); return the references that were touched."""
        undone = []
        for reference, previous in reversed(self._claimed):
            if previous is None:
                remove_tag(self._client, reference)
            else:
                repository, tag = split_reference(reference)
                with contextlib.suppress(docker.errors.APIError):
                    self._client.api.tag(previous, repository, tag, force=True)
            undone.append(reference)
        self._claimed.clear()
        return undone


# --------------------------------------------------------------------------------------------
# Git
# --------------------------------------------------------------------------------------------


def git_revision_tag(repo_dir: Path) -> str:
    """``<short sha>`` of HEAD, or ``<short sha>-dirty`` when the work tree differs from it.

    Untracked (not ignored) files count as dirty: they may be part of the build context, and
    a tag must never claim to be a commit whose contents it does not hold.
    """

    def git(*args: str) -> str:
        try:
            result = subprocess.run(
                ["git", "-C", str(repo_dir), *args], capture_output=True, text=True, check=True, timeout=30
            )
        except FileNotFoundError as error:
            raise ScriptError(
                "git is not installed: pass --tag to name the image", exit_code=EXIT_USAGE
            ) from error
        except subprocess.CalledProcessError as error:
            raise ScriptError(
                f"cannot derive the image tag from git in {repo_dir}: {one_line(error.stderr)} (pass --tag)",
                exit_code=EXIT_USAGE,
            ) from error
        return result.stdout

    sha = git("rev-parse", "--short", "HEAD").strip()
    dirty = bool(git("status", "--porcelain").strip())
    return f"{sha}-dirty" if dirty else sha


# --------------------------------------------------------------------------------------------
# Human output
# --------------------------------------------------------------------------------------------

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_LAYER_DONE = (
    "Pushed",
    "Layer already exists",
    "Mounted from",
    "Already exists",
    "Pull complete",
    "Download complete",
)


class Reporter:
    """Progress and notes on stderr (stdout stays for results a caller may capture).

    On a terminal, rich progress bars: one for the build's Dockerfile steps, one per layer for
    pushes and base-image pulls. Elsewhere (CI logs, pipes) plain lines, one per step and per
    layer state change, so logs stay readable and greppable.
    """

    def __init__(self, *, stream: TextIO | None = None, interactive: bool | None = None) -> None:
        self.console = Console(file=stream or sys.stderr, highlight=False, soft_wrap=True)
        self.interactive = self.console.is_terminal if interactive is None else interactive
        self._layer_status: dict[str, str] = {}  # plain mode: last status printed per layer

    def note(self, message: str) -> None:
        self.console.print(message, markup=False)

    def warn(self, message: str) -> None:
        self.console.print(f"warning: {one_line(message)}", markup=False, style="yellow")

    @contextlib.contextmanager
    def build_progress(self) -> Iterator[Callable[[StreamEvent], None]]:
        """Yield a stream callback rendering ``Step N/M`` as a bar and the build output as text."""
        with self._progress(MofNCompleteColumn()) as progress:
            task: TaskID | None = None
            layers: dict[str, TaskID] = {}

            def on_event(event: StreamEvent) -> None:
                nonlocal task
                text = event.get("stream")
                if isinstance(text, str):
                    for line in text.rstrip("\n").splitlines():
                        step = _STEP.match(line)
                        if step and progress is not None:
                            done, total = int(step.group(1)) - 1, int(step.group(2))
                            if task is None:
                                task = progress.add_task("build", total=total)
                            progress.update(task, completed=done, description=f"build: {step.group(3)[:60]}")
                        if line.strip():
                            self.console.print(line, markup=False, style="dim" if not step else None)
                    if text.startswith("Successfully built") and progress is not None and task is not None:
                        progress.update(task, completed=progress.tasks[task].total, description="build: done")
                elif "status" in event:
                    self._layer_event(progress, layers, event)

            yield on_event

    @contextlib.contextmanager
    def push_progress(self, reference: str) -> Iterator[Callable[[StreamEvent], None]]:
        """Yield a stream callback rendering one bar per pushed layer."""
        self.note(f"pushing {reference}")
        with self._progress(DownloadColumn()) as progress:
            layers: dict[str, TaskID] = {}

            def on_event(event: StreamEvent) -> None:
                if "status" in event:
                    self._layer_event(progress, layers, event)

            yield on_event

    @contextlib.contextmanager
    def _progress(self, counter: Any) -> Iterator[Progress | None]:
        if not self.interactive:
            yield None
            return
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            counter,
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        with progress:
            yield progress

    def _layer_event(self, progress: Progress | None, layers: dict[str, TaskID], event: StreamEvent) -> None:
        status = str(event.get("status", ""))
        layer = event.get("id")
        if not layer:  # repository-level lines: "The push refers to ...", "<tag>: digest: ..."
            self.console.print(status, markup=False)
            return
        layer = str(layer)
        if progress is None:
            # Plain mode: one line per layer state change, not one per chunk uploaded.
            if self._layer_status.get(layer) != status:
                self.console.print(f"  {layer}: {status}", markup=False)
                self._layer_status[layer] = status
            return
        detail = event.get("progressDetail") or {}
        if layer not in layers:
            layers[layer] = progress.add_task(f"{layer} {status}", total=None)
        task = layers[layer]
        if status.startswith(_LAYER_DONE):
            total = progress.tasks[task].total or detail.get("total") or 1
            progress.update(task, description=f"{layer} {status}", total=total, completed=total)
        elif detail.get("current") is not None:
            # The engine's "total" for pushes is the uncompressed size and can be smaller than
            # "current" (compressed bytes sent); never let the bar overflow.
            current = int(detail["current"])
            total = max(int(detail.get("total") or 0), current)
            progress.update(task, description=f"{layer} {status}", completed=current, total=total)
        else:
            progress.update(task, description=f"{layer} {status}")

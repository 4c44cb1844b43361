"""The ``make push-image`` flow: check everything, build for the target platform, push to ECR.

Steps, each failing with one ``error:`` line before anything is left half-done:

1. read the project config (repository name, images to keep, build args);
2. check the Docker engine is reachable and can run the target platform (QEMU on x86), and
   find a docker CLI that builds with BuildKit;
3. check AWS credentials, create/reconcile the ECR repository and log in with a token;
4. build with BuildKit through the docker CLI (as ``cdk deploy`` does), then verify the image's
   architecture by its config and by its code (a last stage pinned to another platform gives
   that platform's programs under the requested label);
5. push the versioned tag (retrying transient registry errors), and only then ``latest``;
6. print the digest and the ``make deploy`` command that deploys this tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from scripts.ops.aws import aws_client, aws_session, require_credentials
from scripts.ops.build import BuildSpec, build_image, check_checksum_args
from scripts.ops.docker_cli import find_buildkit_cli
from scripts.ops.ecr import ecr_registry_auth, ecr_tag_exists, ensure_ecr_repository
from scripts.ops.engine import (
    Platform,
    check_platform_runnable,
    docker_client,
    verify_built_image,
)
from scripts.ops.errors import EXIT_USAGE, ScriptError, TransientError, set_ci_output
from scripts.ops.output import Reporter
from scripts.ops.registry import PushResult, push_image, registry_login
from scripts.ops.retry import RetryPolicy
from scripts.ops.settings import config_error
from scripts.ops.tags import LocalTags
from stacks.config import REPO_ROOT, ConfigError, load_config

MUTABLE_TAG = "latest"
# Registry pushes are retried on 5xx/throttling: 4 attempts, about 1 s, 2 s, 4 s apart.
PUSH_RETRY = RetryPolicy(attempts=4, base_delay=1.0, max_delay=20.0)


@dataclass(frozen=True)
class Settings:
    """What the run needs from the project config (``stacks.config``), validated there."""

    repository: str
    keep_images: int
    environment: str | None
    build_args: dict[str, str]


def load_settings(
    repository: str | None,
    environment: str | None,
    cdk_json: Path = REPO_ROOT / "cdk.json",
    build_args: Mapping[str, str] | None = None,
) -> Settings:
    """Read the project config as a deploy would, so ``--repository`` obeys the same rules."""
    overrides = {"image_repository": repository} if repository is not None else {}
    if environment is not None:
        overrides["config"] = environment
    try:
        config = load_config(overrides, cdk_json=cdk_json)
    except ConfigError as error:
        raise config_error(error) from None
    return Settings(
        repository=config.image_repository,
        keep_images=config.ecr_keep_images,
        environment=environment,
        # The same build args `cdk deploy` would pass (image_build_args), --build-arg on top.
        build_args={**config.image_build_args, **(build_args or {})},
    )


def deploy_command(settings: Settings, tag: str) -> str:
    """The command that deploys ``tag``: the context keys ``stacks.config`` reads."""
    context = [f"-c config={settings.environment}"] if settings.environment else []
    context += ["-c image_source=ecr", f"-c image_repository={settings.repository}", f"-c image_tag={tag}"]
    return f'make deploy CDK_ARGS="{" ".join(context)}"'


@dataclass(frozen=True)
class PushRequest:
    """One ``make push-image`` run, as the command line asked for it."""

    settings: Settings
    context: Path
    platform: Platform
    tag: str
    latest: bool
    registry: str | None
    dry_run: bool


def check_context(context: Path, build_args: Mapping[str, str]) -> None:
    """Fail before anything is created when the build could only fail half-way."""
    if not (context / "Dockerfile").is_file():
        raise ScriptError(f"no Dockerfile in build context {context}", exit_code=EXIT_USAGE)
    check_checksum_args(context / "Dockerfile", build_args)


def push(request: PushRequest, out: Reporter) -> int:
    """Run the flow; results on stdout, progress on stderr (``out``)."""
    settings, platform, tag, context = request.settings, request.platform, request.tag, request.context
    client = docker_client()
    out.note(f"engine: {check_platform_runnable(client, platform)} for {platform}")
    cli = find_buildkit_cli()
    out.note(f"builder: BuildKit through {cli}")

    session = aws_session()
    identity = require_credentials(session)
    out.note(f"aws: account {identity.account} in {identity.region} as {identity.arn}")
    ecr = aws_client(session, "ecr")
    # A dry run only reads: it reports what the reconciliation would change.
    repository = ensure_ecr_repository(
        ecr, settings.repository, keep_images=settings.keep_images, apply=not request.dry_run
    )
    for change in repository.changes:
        out.note(f"dry run: ECR would {change}" if request.dry_run else f"ecr: {change}")
    # Checked before building: an immutable tag already in ECR would only fail at the very end.
    if ecr_tag_exists(ecr, settings.repository, tag):
        raise ScriptError(
            f"tag {tag} already exists in ECR repository {settings.repository} and tags are immutable: "
            "commit your changes for a new sha, or pass another --tag"
        )
    auth = ecr_registry_auth(ecr, registry=request.registry)
    registry_login(client, auth, retry=PUSH_RETRY)
    out.note(f"registry: {auth.registry} accepted the ECR token")

    image = f"{auth.registry}/{settings.repository}"
    if request.dry_run:
        tags = " and ".join(f"{image}:{name}" for name in ([tag, MUTABLE_TAG] if request.latest else [tag]))
        out.note(f"dry run: would build {context} for {platform} and push {tags}")
        print(f"dry run passed for {image}:{tag}: nothing was created, built or pushed")
        return 0

    def on_retry(attempt: int, wait: float, error: TransientError) -> None:
        out.warn(f"attempt {attempt} of {PUSH_RETRY.attempts} failed ({error}); retrying in {wait:.1f}s")

    def push_tag(name: str) -> PushResult:
        with out.push_progress(f"{image}:{name}") as on_push_event:
            return push_image(
                client,
                repository=image,
                tag=name,
                auth=auth,
                retry=PUSH_RETRY,
                on_event=on_push_event,
                on_retry=on_retry,
            )

    local = LocalTags(client)
    pushed: PushResult | None = None
    try:
        local.claim(f"{image}:{tag}")
        out.note(f"building {context} for {platform} as {image}:{tag}")
        spec = BuildSpec(
            context=context, platform=platform, tag=f"{image}:{tag}", build_args=settings.build_args
        )
        image_id = build_image(spec, out, cli=cli)
        built = verify_built_image(client, image_id, platform)
        out.note(f"built {image_id[:19]} for {built}")

        pushed = push_tag(tag)
        local.commit()  # the versioned tag is in the registry: keep it whatever happens next
        if request.latest:
            local.tag(image_id, f"{image}:{MUTABLE_TAG}")
            push_tag(MUTABLE_TAG)
            local.commit()
    except BaseException:
        for reference in local.rollback():
            out.note(f"undid local tag {reference}")
        if pushed is not None:
            out.warn(f"{image}:{tag} was pushed ({pushed.digest}); {MUTABLE_TAG} was not moved")
        raise

    set_ci_output("image", f"{image}:{tag}")
    set_ci_output("digest", pushed.digest)
    set_ci_output("tag", tag)
    print(f"pushed {image}:{tag} ({platform})")
    if request.latest:
        print(f"moved  {image}:{MUTABLE_TAG} to the same image")
    print(f"digest {pushed.digest}")
    print("deploy this tag with:")
    print(f"  {deploy_command(settings, tag)}")
    return 0

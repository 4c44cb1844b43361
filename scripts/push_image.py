#!/usr/bin/env python3
"""Build the Pinpoint all-in-one image for linux/arm64 and push it to ECR (``make push-image``).

Steps, each failing with one ``error:`` line and a non-zero exit before anything is left
half-done:

1. read the project config (repository name, images to keep) and derive the tag from git;
2. check the Docker engine is reachable and can run the target platform (QEMU on x86);
3. check AWS credentials, create/reconcile the ECR repository (scan on push, immutable tags
   except ``latest``, encryption, keep-last-N lifecycle policy) and log in with a token;
4. build, then verify the image's architecture (an amd64 base silently gives an amd64 image);
5. push the versioned tag (retrying transient registry errors), and only then ``latest``;
6. print the digest and the ``make deploy`` command that deploys this tag.

AWS access uses boto3's standard chain (AWS_PROFILE, environment, config files, roles) and
honours AWS_ENDPOINT_URL. Progress goes to stderr; the result goes to stdout.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# `python scripts/push_image.py` puts scripts/ on sys.path, not the repository root that holds
# the `scripts` and `stacks` packages; make the direct invocation work like `python -m`.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from scripts.common import (  # noqa: E402
    EXIT_USAGE,
    LocalTags,
    Platform,
    PushResult,
    Reporter,
    RetryPolicy,
    ScriptError,
    TransientError,
    aws_client,
    aws_session,
    build_image,
    check_checksum_args,
    check_platform_runnable,
    docker_client,
    ecr_registry_auth,
    ecr_tag_exists,
    ensure_ecr_repository,
    git_revision_tag,
    image_platform,
    push_image,
    registry_login,
    require_credentials,
    run_script,
    set_ci_output,
    verify_image_platform,
)
from stacks.config import BUILD_ARG_NAME, ConfigError, load_config, validate_image_tag  # noqa: E402

PROG = "push-image"
DEFAULT_CONTEXT = REPO_ROOT / "images" / "pinpoint"
DEFAULT_PLATFORM = "linux/arm64"  # Fargate ARM64 (Graviton), see stacks/
MUTABLE_TAG = "latest"
REGISTRY_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?")
# Registry pushes are retried on 5xx/throttling: 4 attempts, about 1 s, 2 s, 4 s apart.
PUSH_RETRY = RetryPolicy(attempts=4, base_delay=1.0, max_delay=20.0)


def _platform(text: str) -> Platform:
    try:
        return Platform.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _tag(text: str) -> str:
    try:
        validate_image_tag(text)  # the rule the deploy applies to image_tag
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"invalid tag {text!r}: {error}") from error
    if text == MUTABLE_TAG:
        raise argparse.ArgumentTypeError(f"'{MUTABLE_TAG}' is not a version: pass --latest to move it")
    return text


def _registry(text: str) -> str:
    if not REGISTRY_HOST.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"invalid registry {text!r}: expected HOST[:PORT], no scheme or path"
        )
    return text


def _build_arg(text: str) -> tuple[str, str]:
    name, separator, value = text.partition("=")
    if not separator or not BUILD_ARG_NAME.fullmatch(name):
        raise argparse.ArgumentTypeError(f"invalid build arg {text!r}: expected NAME=VALUE")
    return name, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="push_image.py",
        description="Build the Pinpoint all-in-one image and push it to ECR.",
        epilog=(
            "AWS credentials and region come from boto3's standard chain (AWS_PROFILE, AWS_REGION, "
            "environment, ~/.aws); AWS_ENDPOINT_URL redirects the AWS APIs. The Docker engine is "
            "the one DOCKER_HOST names. Exit status: 0 pushed (or dry run passed), 1 failed, "
            "2 bad arguments or configuration."
        ),
    )
    parser.add_argument(
        "--context",
        type=Path,
        default=DEFAULT_CONTEXT,
        metavar="DIR",
        help="Docker build context holding the Dockerfile (default: images/pinpoint)",
    )
    parser.add_argument(
        "--config",
        metavar="ENV",
        help="settings file config/ENV.json to read, as `-c config=ENV` does for make deploy",
    )
    parser.add_argument(
        "--repository",
        metavar="NAME",
        help="ECR repository name (default: image_repository from the project config)",
    )
    parser.add_argument(
        "--platform",
        type=_platform,
        default=_platform(DEFAULT_PLATFORM),
        help=f"target platform os/arch[/variant] (default: {DEFAULT_PLATFORM})",
    )
    parser.add_argument(
        "--tag",
        type=_tag,
        help="image tag (default: git short sha of HEAD, with -dirty when the work tree has changes)",
    )
    parser.add_argument(
        "--latest",
        action="store_true",
        help=f"also move '{MUTABLE_TAG}' to this image, after the versioned tag pushed successfully",
    )
    parser.add_argument(
        "--registry",
        type=_registry,
        metavar="HOST[:PORT]",
        help="push to this registry endpoint instead of the ECR endpoint named by the auth token",
    )
    parser.add_argument(
        "--build-arg",
        dest="build_args",
        type=_build_arg,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="docker build arg, repeatable; added to image_build_args from the project config "
        "(where make pin-checksums records the jar checksums)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="run every check (engine, platform, credentials, registry login) and print the plan; "
        "create, build and push nothing",
    )
    return parser


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
        raise ScriptError(str(error), exit_code=EXIT_USAGE) from error
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    platform: Platform = args.platform
    context: Path = args.context.resolve()
    settings = load_settings(args.repository, args.config, build_args=dict(args.build_args))
    if not (context / "Dockerfile").is_file():
        raise ScriptError(f"no Dockerfile in build context {context}", exit_code=EXIT_USAGE)
    check_checksum_args(context / "Dockerfile", settings.build_args)
    tag: str = args.tag or git_revision_tag(REPO_ROOT)
    out = Reporter()

    client = docker_client()
    out.note(f"engine: {check_platform_runnable(client, platform)} for {platform}")

    session = aws_session()
    identity = require_credentials(session)
    out.note(f"aws: account {identity.account} in {identity.region} as {identity.arn}")
    ecr = aws_client(session, "ecr")
    # A dry run only reads: it reports what the reconciliation would change.
    repository = ensure_ecr_repository(
        ecr, settings.repository, keep_images=settings.keep_images, apply=not args.dry_run
    )
    for change in repository.changes:
        out.note(f"dry run: ECR would {change}" if args.dry_run else f"ecr: {change}")
    # Checked before building: an immutable tag already in ECR would only fail at the very end.
    if ecr_tag_exists(ecr, settings.repository, tag):
        raise ScriptError(
            f"tag {tag} already exists in ECR repository {settings.repository} and tags are immutable: "
            "commit your changes for a new sha, or pass another --tag"
        )
    auth = ecr_registry_auth(ecr, registry=args.registry)
    registry_login(client, auth, retry=PUSH_RETRY)
    out.note(f"registry: {auth.registry} accepted the ECR token")

    image = f"{auth.registry}/{settings.repository}"
    if args.dry_run:
        tags = " and ".join(f"{image}:{name}" for name in ([tag, MUTABLE_TAG] if args.latest else [tag]))
        out.note(f"dry run: would build {context} for {platform} and push {tags}")
        print(f"dry run passed for {image}:{tag}: nothing was created, built or pushed")
        return 0

    local = LocalTags(client)
    pushed: PushResult | None = None
    try:
        local.claim(f"{image}:{tag}")
        with out.build_progress() as on_build_event:
            image_id = build_image(
                client,
                context=context,
                platform=platform,
                tag=f"{image}:{tag}",
                on_event=on_build_event,
                build_args=settings.build_args,
            )
        attrs = client.images.get(image_id).attrs
        verify_image_platform(attrs, platform)
        out.note(f"built {image_id[:19]} for {image_platform(attrs)}")

        def on_retry(attempt: int, wait: float, error: TransientError) -> None:
            out.warn(f"attempt {attempt} of {PUSH_RETRY.attempts} failed ({error}); retrying in {wait:.1f}s")

        with out.push_progress(f"{image}:{tag}") as on_push_event:
            pushed = push_image(
                client,
                repository=image,
                tag=tag,
                auth=auth,
                retry=PUSH_RETRY,
                on_event=on_push_event,
                on_retry=on_retry,
            )
        local.commit()  # the versioned tag is in the registry: keep it whatever happens next

        if args.latest:
            local.tag(image_id, f"{image}:{MUTABLE_TAG}")
            with out.push_progress(f"{image}:{MUTABLE_TAG}") as on_push_event:
                push_image(
                    client,
                    repository=image,
                    tag=MUTABLE_TAG,
                    auth=auth,
                    retry=PUSH_RETRY,
                    on_event=on_push_event,
                    on_retry=on_retry,
                )
            local.commit()
    except BaseException:
        for reference in local.rollback():
            out.note(f"undid local tag {reference}")
        if pushed is not None:
            out.warn(f"{image}:{tag} was pushed ({pushed.digest}); {MUTABLE_TAG} was not moved")
        raise
    assert pushed is not None  # for type checkers: the try block either pushed or raised

    set_ci_output("image", f"{image}:{tag}")
    set_ci_output("digest", pushed.digest)
    set_ci_output("tag", tag)
    print(f"pushed {image}:{tag} ({platform})")
    if args.latest:
        print(f"moved  {image}:{MUTABLE_TAG} to the same image")
    print(f"digest {pushed.digest}")
    print("deploy this tag with:")
    print(f"  {deploy_command(settings, tag)}")
    return 0


if __name__ == "__main__":
    run_script(main, prog=PROG)

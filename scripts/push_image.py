#!/usr/bin/env python3
"""Build the Pinpoint all-in-one image for linux/arm64 and push it to ECR (``make push-image``).

Argument parsing only; the flow is :mod:`scripts.ops.push`. AWS access uses boto3's standard
chain (AWS_PROFILE, environment, config files, roles) and honours AWS_ENDPOINT_URL. Progress
goes to stderr; the result goes to stdout.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

# `python scripts/push_image.py` puts scripts/ on sys.path, not the repository root that holds
# the `scripts` and `stacks` packages; make the direct invocation work like `python -m`.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from scripts.ops.build import parse_build_arg  # noqa: E402
from scripts.ops.engine import Platform  # noqa: E402
from scripts.ops.errors import run_script  # noqa: E402
from scripts.ops.git import git_revision_tag  # noqa: E402
from scripts.ops.output import Reporter  # noqa: E402
from scripts.ops.push import MUTABLE_TAG, PushRequest, check_context, load_settings, push  # noqa: E402
from stacks.config import validate_image_tag  # noqa: E402

PROG = "push-image"
DEFAULT_CONTEXT = REPO_ROOT / "images" / "pinpoint"
DEFAULT_PLATFORM = "linux/arm64"  # Fargate ARM64 (Graviton), see stacks/
REGISTRY_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?")


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
        type=parse_build_arg,
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    context: Path = args.context.resolve()
    settings = load_settings(args.repository, args.config, build_args=dict(args.build_args))
    check_context(context, settings.build_args)
    request = PushRequest(
        settings=settings,
        context=context,
        platform=args.platform,
        tag=args.tag or git_revision_tag(REPO_ROOT),
        latest=args.latest,
        registry=args.registry,
        dry_run=args.dry_run,
    )
    return push(request, Reporter())


if __name__ == "__main__":
    run_script(main, prog=PROG)

#!/usr/bin/env python3
"""Checks before `make deploy|diff|destroy` calls the CDK CLI, each failing with one line.

The settings are validated first (the same schema `cdk synth` uses), then the AWS credentials,
then (deploy with ``image_source=asset``) the Docker engine and its ability to build the task's
architecture. A missing login costs a second here instead of a failed CloudFormation run.

Usage: ``preflight.py deploy|diff|destroy [CDK CLI args...]`` — ``-c key=value`` pairs among the
CDK args are read as setting overrides, exactly as the CDK app will see them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import botocore.exceptions

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.ops.aws import AwsIdentity, aws_client, aws_error, aws_session, require_credentials
from scripts.ops.build import required_checksum_args
from scripts.ops.engine import Platform, check_platform_runnable, docker_client
from scripts.ops.errors import EXIT_USAGE, ScriptError, run_script
from scripts.ops.settings import config_error, context_overrides
from stacks.config import ConfigError, load_config
from stacks.versions import AGENT_VERSION

ACTIONS = ("deploy", "diff", "destroy", "bootstrap")
# Where `cdk bootstrap` (default qualifier) records its version; the synthesized template's
# CheckBootstrapVersion rule wants at least 6.
BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/hnb659fds/version"
MIN_BOOTSTRAP_VERSION = 6
PINPOINT_DOCKERFILE = Path(__file__).resolve().parents[1] / "images" / "pinpoint" / "Dockerfile"
PLATFORMS = {"ARM64": "linux/arm64", "X86_64": "linux/amd64"}


def require_cdk_bootstrap(session: Any, identity: AwsIdentity) -> int:
    """The account/region's CDK bootstrap version; one line saying `make bootstrap` when missing."""
    where = f"account {identity.account} in {identity.region}"
    fix = f"run `make bootstrap` once (cdk bootstrap aws://{identity.account}/{identity.region})"
    try:
        value = aws_client(session, "ssm").get_parameter(Name=BOOTSTRAP_VERSION_PARAMETER)["Parameter"][
            "Value"
        ]
    except botocore.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ParameterNotFound":
            raise ScriptError(f"{where} is not bootstrapped for the CDK: {fix}") from None
        raise ScriptError(
            f"cannot read {BOOTSTRAP_VERSION_PARAMETER} in {where}: {aws_error(error)}"
        ) from None
    version = int(value) if value.isdigit() else 0
    if version < MIN_BOOTSTRAP_VERSION:
        raise ScriptError(
            f"{where} has CDK bootstrap version {value}, at least {MIN_BOOTSTRAP_VERSION} is needed: {fix}"
        )
    return version


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ACTIONS:
        raise ScriptError(f"usage: preflight.py {{{','.join(ACTIONS)}}} [CDK args]", exit_code=EXIT_USAGE)
    action, cdk_args = sys.argv[1], sys.argv[2:]
    try:
        config = load_config(context_overrides(cdk_args))
    except ConfigError as error:
        raise config_error(error) from None

    if action == "deploy" and config.agent_sha512 is None:
        # Fail here, not half-way through a CloudFormation run that would then roll back.
        url = f"{config.agent_download_base_url}/v{AGENT_VERSION}/pinpoint-agent-{AGENT_VERSION}.tar.gz"
        raise ScriptError(
            f"Invalid setting agent_sha512=None: allowed: the SHA-512 of pinpoint-agent-{AGENT_VERSION}.tar.gz "
            f'({url}); `make pin-checksums ARGS="--config ENV"` records it in config/ENV.json, '
            "or set -c agent_sha512=<hex>",
            exit_code=EXIT_USAGE,
        )

    if action == "deploy" and config.image_source == "asset":
        missing = [
            arg for arg in required_checksum_args(PINPOINT_DOCKERFILE) if not config.image_build_args.get(arg)
        ]
        if missing:
            raise ScriptError(
                f"Invalid setting image_build_args={config.image_build_args!r}: allowed: a mapping that sets "
                f"{', '.join(missing)} (the SHA-512 of each Pinpoint jar; images/pinpoint/README.md), "
                "or image_source=ecr with a tag pushed by make push-image",
                exit_code=EXIT_USAGE,
            )

    try:
        session = aws_session(region=config.region)
        identity = require_credentials(session)
    except ScriptError as error:
        raise ScriptError(f"make {action} needs AWS credentials: {error}") from None
    print(f"preflight: AWS account {identity.account} in {identity.region} as {identity.arn}")
    if action in ("deploy", "diff"):
        version = require_cdk_bootstrap(session, identity)
        print(f"preflight: CDK bootstrap version {version}")

    if action == "deploy" and config.image_source == "asset":
        platform = Platform.parse(PLATFORMS[config.cpu_architecture])
        how = check_platform_runnable(docker_client(), platform)
        print(f"preflight: cdk deploy builds images/pinpoint for {platform}: {how}")
    return 0


if __name__ == "__main__":
    run_script(main, prog="preflight")

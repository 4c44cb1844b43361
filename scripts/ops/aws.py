"""AWS sessions and clients from the standard credential chain, with one-line failures.

boto3 reads ``AWS_PROFILE``, the environment, the config files and instance/task roles, and
honours ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>`` itself: that is how tests point
every client at a moto server. Nothing here passes ``endpoint_url``, so that keeps working.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from scripts.ops.errors import ScriptError, one_line

# boto3 clients are generated at run time; without boto3-stubs the honest static type is Any.
BotoClient = Any

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

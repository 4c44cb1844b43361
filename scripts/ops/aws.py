"""AWS sessions and clients from the standard credential chain, and checks that name the cause.

boto3 reads ``AWS_PROFILE``, the environment, the config files and instance/task roles, and
honours ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>`` itself: that is how tests point
every client at a moto server. Nothing here passes ``endpoint_url``, so that keeps working.

The checks tell apart what a user fixes differently: no region (a setting), no profile, no
credentials, credentials that cannot be loaded (an expired SSO login), an STS endpoint that
cannot be reached (network, proxy, endpoint override) and credentials AWS rejects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
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
# The credential check is a single cheap call: one retry, so an unreachable endpoint costs
# seconds, not the standard mode's backoff over five attempts.
CHECK_CLIENT_CONFIG = botocore.config.Config(
    retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5, read_timeout=20
)
# STS answers GetCallerIdentity in every region; without a configured region the credentials
# are still checked (against this one) so that both problems are reported together.
CHECK_REGION_FALLBACK = "us-east-1"
# Error codes with which AWS says "these credentials are not valid" (as opposed to throttling,
# outages or a missing permission); GetCallerIdentity needs no permission at all.
REJECTED_CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "IncompleteSignature",
        "AuthFailure",
    }
)
NO_REGION = "no AWS region configured: set AWS_REGION (or AWS_DEFAULT_REGION), or a region for the profile"
NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_PROFILE (after `aws sso login` or `aws configure`) "
    "or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run with an instance/task role"
)


def aws_error(error: Exception) -> str:
    """``Code: message`` for AWS API errors, the plain message for transport errors."""
    if isinstance(error, botocore.exceptions.ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code', 'Error')}: {details.get('Message', str(error))}"
    return one_line(error)


def error_code(error: Exception) -> str:
    if isinstance(error, botocore.exceptions.ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def base_session(*, profile: str | None = None, region: str | None = None) -> boto3.Session:
    """A boto3 session from the standard chain; its region may be unset.

    boto3 reads only ``AWS_DEFAULT_REGION``; ``AWS_REGION`` (what the CDK CLI, the other SDKs and
    CI credential actions set) is honoured as a fallback so both spellings work.
    """
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        if not session.region_name and os.environ.get("AWS_REGION"):
            session = boto3.Session(profile_name=profile, region_name=os.environ["AWS_REGION"])
    except botocore.exceptions.ProfileNotFound as error:
        raise ScriptError(f"{error} (check AWS_PROFILE and ~/.aws/config)") from error
    return session


def aws_session(*, profile: str | None = None, region: str | None = None) -> boto3.Session:
    """A boto3 session from the standard chain; fails with one line if no region is configured."""
    session = base_session(profile=profile, region=region)
    if not session.region_name:
        raise ScriptError(NO_REGION)
    return session


def aws_client(session: boto3.Session, service: str) -> BotoClient:
    """A client for ``service``; ``AWS_ENDPOINT_URL[_SERVICE]`` is applied by boto3 itself."""
    return session.client(service, config=AWS_CLIENT_CONFIG)  # type: ignore[call-overload]


@dataclass(frozen=True)
class AwsIdentity:
    account: str
    arn: str
    region: str


def caller_identity(session: boto3.Session, *, region: str | None = None) -> AwsIdentity:
    """Prove the credential chain yields credentials AWS accepts (``sts:GetCallerIdentity``).

    Done before any build so a missing or expired login costs seconds, not a 10-minute build.
    Raises one line that names the cause (see the module docstring).
    """
    try:
        credentials = session.get_credentials()
    except botocore.exceptions.BotoCoreError as error:  # e.g. an SSO profile whose login expired
        raise ScriptError(f"cannot load AWS credentials: {aws_error(error)}") from error
    if credentials is None:
        raise ScriptError(NO_CREDENTIALS)
    sts = session.client(  # type: ignore[call-overload]
        "sts", region_name=region or session.region_name or CHECK_REGION_FALLBACK, config=CHECK_CLIENT_CONFIG
    )
    source = getattr(credentials, "method", None) or "the credential chain"
    try:
        identity = sts.get_caller_identity()
    except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as error:
        raise ScriptError(
            f"cannot reach the AWS STS endpoint {sts.meta.endpoint_url} to check the credentials: "
            f"{one_line(error)} (check the network, HTTPS_PROXY and AWS_ENDPOINT_URL)"
        ) from error
    except botocore.exceptions.ClientError as error:
        if error_code(error) in REJECTED_CREDENTIAL_CODES:
            raise ScriptError(f"AWS rejected the credentials from {source}: {aws_error(error)}") from error
        raise ScriptError(f"STS GetCallerIdentity failed: {aws_error(error)}") from error
    except botocore.exceptions.BotoCoreError as error:
        raise ScriptError(f"cannot check the AWS credentials: {aws_error(error)}") from error
    return AwsIdentity(account=identity["Account"], arn=identity["Arn"], region=session.region_name or "")


def require_credentials(session: boto3.Session) -> AwsIdentity:
    """``caller_identity`` for a session that has a region (see :func:`aws_session`)."""
    return caller_identity(session)


@dataclass
class AwsCheck:
    """Everything wrong with the AWS side at once, for a preflight that reports all problems."""

    session: boto3.Session | None = None
    identity: AwsIdentity | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        """A session with a region and credentials AWS accepted: AWS calls can follow."""
        return self.identity is not None and bool(self.identity.region)


def check_aws(*, profile: str | None = None, region: str | None = None) -> AwsCheck:
    """Region and credentials, each problem named on its own (a missing region is not a
    credentials problem, and an unreachable endpoint is not a rejection)."""
    result = AwsCheck()
    try:
        result.session = base_session(profile=profile, region=region)
    except ScriptError as error:
        result.problems.append(str(error))
        return result
    if not result.session.region_name:
        result.problems.append(NO_REGION)
    try:
        result.identity = caller_identity(result.session)
    except ScriptError as error:
        result.problems.append(str(error))
    return result

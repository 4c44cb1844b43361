"""CloudWatch log groups with the configured retention (one place, one rule)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import LOG_RETENTION_DAYS, PlatformConfig

# The CDK enum lists the same CloudWatch periods in the same order (INFINITE last).
_RETENTION = dict(
    zip(LOG_RETENTION_DAYS, [m for m in logs.RetentionDays if m.name != "INFINITE"], strict=True)
)


def retention(days: int) -> logs.RetentionDays:
    return _RETENTION[days]


def log_group(scope: Construct, construct_id: str, *, config: PlatformConfig) -> logs.LogGroup:
    """A log group that lives and dies with the stack and keeps ``log_retention_days``."""
    return logs.LogGroup(
        scope,
        construct_id,
        retention=retention(config.log_retention_days),
        removal_policy=RemovalPolicy.DESTROY,
    )

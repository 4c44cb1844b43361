"""Task-level building blocks every Fargate service here shares: platform and container logs."""

from __future__ import annotations

from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.config import PlatformConfig
from stacks.constructs.log_groups import log_group


def runtime_platform(config: PlatformConfig) -> ecs.RuntimePlatform:
    """Linux on the configured CPU architecture (ARM64 by default: Graviton Fargate)."""
    return ecs.RuntimePlatform(
        cpu_architecture=ecs.CpuArchitecture.of(config.cpu_architecture),
        operating_system_family=ecs.OperatingSystemFamily.LINUX,
    )


def container_logs(
    scope: Construct,
    construct_id: str,
    *,
    config: PlatformConfig,
    task_definition: ecs.TaskDefinition,
    stream_prefix: str,
) -> ecs.LogDriver:
    """awslogs into a retained-for-``log_retention_days`` group this stack owns.

    The seed's gotcha: tasks fail to start when the execution role cannot create its log group
    (awslogs-create-group). Grant it, scoped to this group only.
    """
    group = log_group(scope, construct_id, config=config)
    task_definition.add_to_execution_role_policy(
        iam.PolicyStatement(actions=["logs:CreateLogGroup"], resources=[group.log_group_arn])
    )
    return ecs.LogDrivers.aws_logs(stream_prefix=stream_prefix, log_group=group)

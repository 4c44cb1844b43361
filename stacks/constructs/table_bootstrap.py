"""Pinpoint's HBase tables, created before the collectors and the web start (distributed topology).

A custom resource (CDK Provider framework, ``table_bootstrap/handler.py``) runs the image's
``bootstrap`` role as a one-off Fargate task against the configured HBase and waits for it. What
the deployment relies on from the image (images/pinpoint/README.md, role ``bootstrap``): it waits
for the master, creates the missing tables with the TTLs and pre-split of its environment, applies
a changed TTL to existing tables, all within ``PINPOINT_BOOT_TIMEOUT_SECONDS`` (here
``bootstrap_timeout_seconds``: on EMR 1800 s by default, pre-split tables on S3 are slow to
create), and exits 0; or prints ``bootstrap failed: <reason>`` and exits non-zero. A failure
fails the deploy with the exit code, ECS's stopped reason and that line. The collector and web
services depend on the resource, so CloudFormation starts them only after the tables exist.

It runs on create and on every update of its properties: the task definition (a new image,
another HBase endpoint such as a replaced EMR cluster) and, named in the properties themselves
so that the template changes with them, every TTL and the pre-split. The role is idempotent: a
re-run creates only what is missing and changes only the TTLs that differ. When CloudFormation
rolls an update back it sends the old properties again; that run restores the old TTLs where it
can, and a failure of it is logged, not reported, so it never blocks the rollback.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CustomResource, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources as cr
from constructs import Construct

from stacks.config import PlatformConfig
from stacks.constructs.fargate import (
    CONTAINER_NAME,
    HBaseEndpoint,
    acknowledge_pinpoint_task,
    hbase_client_task,
    selected_subnets,
    table_environment,
)
from stacks.constructs.log_groups import log_group
from stacks.nag import acknowledge

HANDLER_DIR = Path(__file__).with_name("table_bootstrap")
ROLE = "bootstrap"
# The bootstrap is one JVM creating tables (HBase shell): one vCPU and 2 GiB are plenty.
BOOTSTRAP_CPU = 1024
BOOTSTRAP_MEMORY_MIB = 2048
# How often the framework asks is_complete, and the whole wait: the bootstrap's budget plus
# time to pull the image and place the task, inside CloudFormation's one-hour limit for a
# custom resource (ServiceTimeout, at most 3600 s). The schema caps the budget at 2400 s.
QUERY_INTERVAL = Duration.seconds(15)
START_ALLOWANCE_SECONDS = 15 * 60
MAX_WAIT_SECONDS = 55 * 60


def total_timeout(config: PlatformConfig) -> Duration:
    return Duration.seconds(min(config.bootstrap_budget_seconds + START_ALLOWANCE_SECONDS, MAX_WAIT_SECONDS))


def bootstrap_environment(config: PlatformConfig) -> dict[str, str]:
    """The role's own settings: the tables' TTLs and pre-split, and its budget."""
    return {
        **table_environment(config),
        "PINPOINT_BOOT_TIMEOUT_SECONDS": str(config.bootstrap_budget_seconds),
    }


class TableBootstrap(Construct):
    """Exposes ``resource`` (depend on it to start after the tables exist), ``task_definition``,
    ``security_group``, ``log_group``, ``on_event_function`` and ``is_complete_function``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        cluster: ecs.ICluster,
        subnets: ec2.SubnetSelection,
        hbase: HBaseEndpoint,
    ) -> None:
        super().__init__(scope, construct_id)
        task = hbase_client_task(
            self,
            config=config,
            role=ROLE,
            cpu=BOOTSTRAP_CPU,
            memory_mib=BOOTSTRAP_MEMORY_MIB,
            hbase=hbase,
            vpc=cluster.vpc,
            description="Pinpoint table bootstrap task: HBase client, nothing in",
            environment=bootstrap_environment(config),
            health_check=False,  # a one-off task: its exit code is the verdict
        )
        self.task_definition, self.security_group = task.task_definition, task.security_group
        container_logs = self.node.find_child("Logs")
        assert isinstance(container_logs, logs.LogGroup)
        self.log_group = container_logs

        self.on_event_function = self._function(config, "OnEvent", "handler.on_event")
        self.is_complete_function = self._function(config, "IsComplete", "handler.is_complete")
        self._grant(cluster)

        # The framework's own functions: roles that may only log (the framework adds invoking the
        # handlers and starting its waiter), instead of AWSLambdaBasicExecutionRole.
        framework_logs = log_group(self, "ProviderLogs", config=config)
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.on_event_function,
            is_complete_handler=self.is_complete_function,
            query_interval=QUERY_INTERVAL,
            total_timeout=total_timeout(config),
            log_group=framework_logs,
            framework_on_event_role=self._logging_role("FrameworkOnEventRole", framework_logs),
            framework_complete_and_timeout_role=self._logging_role("FrameworkWaiterRole", framework_logs),
            disable_waiter_state_machine_logging=False,
            waiter_state_machine_log_options=cr.LogOptions(
                destination=log_group(self, "WaiterLogs", config=config),
                level=sfn.LogLevel.ALL,
                include_execution_data=False,
            ),
        )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type="Custom::PinpointTableBootstrap",
            service_timeout=Duration.seconds(MAX_WAIT_SECONDS + 5 * 60),
            properties={
                "ClusterName": cluster.cluster_name,
                # A new revision (image, HBase endpoint, TTLs, split) is an Update: it runs again.
                "TaskDefinitionArn": self.task_definition.task_definition_arn,
                # The TTLs and split again, literally: the template itself changes with any of them
                # (the task definition's ARN is the same token before and after).
                "TableSettings": table_environment(config),
                "Subnets": [subnet.subnet_id for subnet in selected_subnets(cluster.vpc, subnets)],
                "SecurityGroups": [self.security_group.security_group_id],
                "ContainerName": CONTAINER_NAME,
                "LogGroupName": self.log_group.log_group_name,
                "LogStreamPrefix": "pinpoint",
            },
        )
        acknowledge_pinpoint_task(
            self.task_definition,
            "The environment holds the role, the HBase endpoint, sizes, TTLs, the pre-split and the boot "
            "budget; the bootstrap needs no secret.",
        )
        self._acknowledge(provider)

    def _logging_role(self, name: str, group: logs.ILogGroup) -> iam.Role:
        """A Lambda role that may write to ``group`` and nothing else (yet)."""
        role = iam.Role(
            self,
            name,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Pinpoint table bootstrap: {name}",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[group.log_group_arn]
            )
        )
        return role

    def _function(self, config: PlatformConfig, name: str, handler: str) -> lambda_.Function:
        """A handler with its own role: its log group and, added by ``_grant``, its ECS calls."""
        group = log_group(self, f"{name}Logs", config=config)
        role = self._logging_role(f"{name}Role", group)
        return lambda_.Function(
            self,
            name,
            description=f"Pinpoint table bootstrap ({handler})",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler=handler,
            code=lambda_.Code.from_asset(str(HANDLER_DIR), exclude=["__pycache__", "*.pyc"]),
            timeout=Duration.minutes(1),
            memory_size=256,
            role=role,
            log_group=group,
        )

    def _grant(self, cluster: ecs.ICluster) -> None:
        """on_event may run this one task definition in this cluster (and pass its two roles to
        ECS); is_complete may describe this cluster's tasks and read the task's log group."""
        in_cluster = {"ArnEquals": {"ecs:cluster": cluster.cluster_arn}}
        self.on_event_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ecs:RunTask"],
                resources=[self.task_definition.task_definition_arn],
                conditions=in_cluster,
            )
        )
        # Is this Update a rollback? The handler reads its own stack's status.
        self.on_event_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["cloudformation:DescribeStacks"], resources=[Stack.of(self).stack_id]
            )
        )
        self.on_event_function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[
                    self.task_definition.task_role.role_arn,
                    self.task_definition.obtain_execution_role().role_arn,
                ],
                conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            )
        )
        # Task ids exist only after RunTask: any task, but only in this cluster (the condition).
        self.is_complete_function.add_to_role_policy(
            iam.PolicyStatement(actions=["ecs:DescribeTasks"], resources=["*"], conditions=in_cluster)
        )
        self.is_complete_function.add_to_role_policy(
            iam.PolicyStatement(actions=["logs:GetLogEvents"], resources=[self.log_group.log_group_arn])
        )

    def _acknowledge(self, provider: cr.Provider) -> None:
        stack = Stack.of(self)

        def arn_of(function: Construct) -> str:
            assert function.node.default_child is not None
            return f"<{stack.get_logical_id(function.node.default_child)}.Arn>"  # type: ignore[arg-type]

        assert self.is_complete_function.role is not None
        acknowledge(
            self.is_complete_function.role,
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "ecs:DescribeTasks on any task id (ids exist only after RunTask) but conditioned on ecs:cluster "
            "being this stack's cluster.",
        )
        for handler in (self.on_event_function, self.is_complete_function):
            acknowledge(
                self,
                f"AwsSolutions::AwsSolutions-IAM5[Resource::{arn_of(handler)}:*]",
                "Added by the CDK Provider framework: its functions may invoke this handler function in any "
                "version (<arn>:*); no other function.",
            )
        for framework_function in ("framework-isComplete", "framework-onTimeout"):
            acknowledge(
                provider,
                f"AwsSolutions::AwsSolutions-IAM5[Resource::{arn_of(provider.node.find_child(framework_function))}:*]",
                "Added by the CDK Provider framework: its waiter state machine may invoke its own "
                "is-complete and timeout functions in any version (<arn>:*); no other function.",
            )
        acknowledge(
            provider,
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "Added by the CDK Provider framework for the waiter's logging: Step Functions log delivery "
            "(logs:CreateLogDelivery, PutResourcePolicy, DescribeLogGroups ...) has no resource-level "
            "permissions (Step Functions developer guide, logging to CloudWatch Logs).",
        )
        acknowledge(
            provider,
            "AwsSolutions::AwsSolutions-L1",
            "The Provider framework's Node.js functions use the runtime aws-cdk-lib pins for them "
            "(determineLatestNodeRuntime); the handlers themselves run Python 3.14.",
        )
        acknowledge(
            provider,
            "AwsSolutions::AwsSolutions-SF2",
            "The waiter state machine only polls is_complete every 15 s during one deploy; its executions "
            "are logged (level ALL) to CloudWatch Logs, X-Ray would add nothing.",
        )

"""The distributed topology's web: ``web_count`` Fargate tasks of the image's ``web`` role,
behind the same internal ALB as the all-in-one (``health_check_path``, the same grace period),
with the generated admin password as an ECS secret. Stateless: rolling deploys."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from constructs import Construct, IDependable

from stacks.config import PlatformConfig
from stacks.constructs.fargate import (
    HBaseEndpoint,
    acknowledge_pinpoint_task,
    admin_password_secret,
    admin_password_secrets,
    hbase_client_task,
    rolling_service,
    web_port_environment,
    web_port_mapping,
)

ROLE = "web"


class WebService(Construct):
    """Exposes ``service``, ``task_definition``, ``container``, ``security_group`` and
    ``admin_secret``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        cluster: ecs.ICluster,
        subnets: ec2.SubnetSelection,
        hbase: HBaseEndpoint,
        tables: IDependable,
    ) -> None:
        super().__init__(scope, construct_id)
        self.admin_secret = admin_password_secret(self)
        task = hbase_client_task(
            self,
            config=config,
            role=ROLE,
            cpu=config.web_cpu,
            memory_mib=config.web_memory_mib,
            hbase=hbase,
            vpc=cluster.vpc,
            description="Pinpoint web tasks: HTTP from the ALB, HBase client",
            environment=web_port_environment(config),
            port_mappings=[web_port_mapping(config)],
            secrets=admin_password_secrets(self.admin_secret),
        )
        self.task_definition, self.container, self.security_group = (
            task.task_definition,
            task.container,
            task.security_group,
        )
        self.service = rolling_service(
            self,
            config=config,
            cluster=cluster,
            task=task,
            service_name=f"{config.name_prefix}-web",
            desired_count=config.web_count,
            subnets=subnets,
            after=tables,
        )

        acknowledge_pinpoint_task(
            self.task_definition,
            "The environment holds the role, the HBase endpoint, the port, the memory size and the boot "
            "budget; the admin password comes from Secrets Manager as an ECS secret, not from the "
            "environment.",
        )

"""The distributed topology's web: ``web_count`` Fargate tasks of the image's ``web`` role,
behind the same internal ALB as the all-in-one (``health_check_path``, the same grace period),
with the generated admin password as an ECS secret. Stateless: rolling deploys."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from constructs import Construct, IDependable

from stacks.config import PlatformConfig
from stacks.constructs.emr_hbase import HBaseEndpoint
from stacks.constructs.fargate import (
    acknowledge_pinpoint_task,
    add_pinpoint_container,
    admin_password_secret,
    admin_password_secrets,
    hbase_client_environment,
    pinpoint_task_definition,
    task_security_group,
    web_port_environment,
    web_port_mapping,
)

ROLE = "web"


def web_environment(config: PlatformConfig, hbase: HBaseEndpoint) -> dict[str, str]:
    return {
        **hbase_client_environment(
            config,
            role=ROLE,
            zookeeper_quorum=hbase.zookeeper_quorum,
            znode_parent=hbase.znode_parent,
            memory_mib=config.web_memory_mib,
        ),
        **web_port_environment(config),
    }


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
        self.task_definition = pinpoint_task_definition(
            self, config=config, cpu=config.web_cpu, memory_mib=config.web_memory_mib
        )
        self.admin_secret = admin_password_secret(self)
        self.container = add_pinpoint_container(
            self,
            self.task_definition,
            config=config,
            environment=web_environment(config, hbase),
            secrets=admin_password_secrets(self.admin_secret),
            port_mappings=[web_port_mapping(config)],
        )
        self.security_group = task_security_group(
            self, vpc=cluster.vpc, description="Pinpoint web tasks: HTTP from the ALB, HBase client"
        )
        hbase.allow_client(self.security_group, "Pinpoint web")

        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=cluster,
            task_definition=self.task_definition,
            service_name=f"{config.name_prefix}-web",
            desired_count=config.web_count,
            min_healthy_percent=100,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            health_check_grace_period=Duration.seconds(config.health_check_grace_seconds),
            assign_public_ip=False,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
        )
        # The web reads tables the bootstrap creates first.
        self.service.node.add_dependency(tables)

        acknowledge_pinpoint_task(
            self.task_definition,
            "The environment holds the role, the HBase endpoint, the port, the memory size and the boot "
            "budget; the admin password comes from Secrets Manager as an ECS secret, not from the "
            "environment.",
        )

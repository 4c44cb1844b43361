"""The distributed topology's collectors: N stateless ARM64 Fargate tasks of the image's
``collector`` role, registered in Service Connect exactly as the all-in-one is.

Agents see no difference: the same client DNS name (``collector_dns_name``) on the same three
ports, the same port and discovery names, plain TCP with the same idle timeout. The collectors
keep nothing locally (HBase is elsewhere), so they get Fargate's default disk instead of 200 GiB,
rolling deploys (min 100 % / max 200 %) with the circuit breaker, and CPU target tracking between
``collector_min_count`` and ``collector_max_count``.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct, IDependable

from stacks.config import PlatformConfig
from stacks.constructs.fargate import (
    HBaseEndpoint,
    acknowledge_pinpoint_task,
    collector_port_environment,
    collector_port_mappings,
    collector_service_connect,
    hbase_client_task,
    rolling_service,
)

ROLE = "collector"
# Scale out quickly on a traffic burst, in slowly: agents reconnect to other tasks when one goes.
SCALE_OUT_COOLDOWN = Duration.seconds(60)
SCALE_IN_COOLDOWN = Duration.seconds(300)


class CollectorService(Construct):
    """Exposes ``service``, ``task_definition``, ``container``, ``security_group`` and
    ``scaling`` (the service's scalable task count)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        cluster: ecs.ICluster,
        namespace: servicediscovery.INamespace,
        subnets: ec2.SubnetSelection,
        hbase: HBaseEndpoint,
        tables: IDependable,
    ) -> None:
        super().__init__(scope, construct_id)
        self.collector_ports = config.collector_ports
        task = hbase_client_task(
            self,
            config=config,
            role=ROLE,
            cpu=config.collector_cpu,
            memory_mib=config.collector_memory_mib,
            hbase=hbase,
            vpc=cluster.vpc,
            description="Pinpoint collector tasks: gRPC from agents, HBase client",
            environment=collector_port_environment(config),
            port_mappings=collector_port_mappings(config),
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
            service_name=f"{config.name_prefix}-collector",
            # Autoscaling owns the count: a template value would reset it to the minimum on every
            # deploy (CloudFormation omits an unset DesiredCount on updates, and starts a new
            # service with one task, which the scalable target's minimum then raises).
            desired_count=None,
            subnets=subnets,
            after=tables,
            service_connect=collector_service_connect(
                self, config=config, task_definition=self.task_definition, namespace=namespace
            ),
        )

        self.scaling = self.service.auto_scale_task_count(
            min_capacity=config.collector_min_count, max_capacity=config.collector_max_count
        )
        self.scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=config.collector_target_cpu_percent,
            scale_out_cooldown=SCALE_OUT_COOLDOWN,
            scale_in_cooldown=SCALE_IN_COOLDOWN,
        )

        acknowledge_pinpoint_task(
            self.task_definition,
            "The environment holds the role, the HBase endpoint, ports, the memory size and the boot "
            "budget; the collector needs no secret.",
        )

    def allow_collector_from(self, peer: ec2.IPeer, description: str) -> None:
        """Open the three collector gRPC ports (and nothing else) to ``peer``."""
        for port in self.collector_ports:
            self.security_group.add_ingress_rule(peer, ec2.Port.tcp(port), description)

"""The distributed topology's collectors: N stateless ARM64 Fargate tasks of the image's
``collector`` role, registered in Service Connect exactly as the all-in-one is.

Agents see no difference: the same client DNS name (``collector_dns_name``) on the same three
ports, the same port and discovery names, plain TCP with the same idle timeout. The collectors
keep nothing locally (HBase is elsewhere), so they get Fargate's default disk instead of 200 GiB,
rolling deploys (min 100 % / max 200 %) with the circuit breaker, and CPU target tracking between
``collector_min_count`` and ``collector_max_count``.

Sharing the load. Service Connect (and the collector NLB) balance *connections*; an agent opens
one gRPC connection per port at start and keeps it (keepalive every 30 s, agent-module
pinpoint-root.config at v3.1.0), so new collectors would stay idle. The collectors therefore end
every connection after ``collector_max_connection_age_seconds`` (gRPC's server-side max connection
age, the collector's ``collector.receiver.grpc.{agent,stat,span}.max_connection_age``: upstream 3 h
in pinpoint-collector-grpc-root.properties, bound by Spring to GrpcPropertiesServerOptionBuilder
and handed to Netty by grpc/.../ServerFactory at v3.1.0): GOAWAY, then after the upstream grace of
10 s (``max_connection_age_grace_millis``) the streams still open are closed. The agent restarts a
closed stream after an exponential, randomized backoff from 3 s (ExponentialBackoffReconnectJob),
on a new connection that the balancer places among the collectors running then. Within one age
after a scale-out the new tasks carry their share; the scale-out cooldown is that long, so CPU,
the scaling signal, is measured on the rebalanced tasks before the next step.

The setting reaches the collector JVM as system properties through the image's
``PINPOINT_COLLECTOR_JAVA_OPTS`` (images/pinpoint/README.md): a -D property outranks the
properties files Pinpoint loads with @PropertySource (CollectorAppPropertySources at v3.1.0), and
the underscore key binds from any property source (upstream's GrpcStatConfigurationTest sets
``collector.receiver.grpc.stat.max_connection_age=5h`` inline and reads 5 h back).
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
# The collector's gRPC receivers (pinpoint-collector-grpc-root.properties at v3.1.0).
GRPC_RECEIVERS = ("agent", "stat", "span")
# Upstream's collector.receiver.grpc.*.max_connection_age_grace_millis (10000), left as is.
MAX_CONNECTION_AGE_GRACE_SECONDS = 10
MIN_SCALE_OUT_COOLDOWN_SECONDS = 60
# Scale in slowly: the agents of a stopped task reconnect to the others.
SCALE_IN_COOLDOWN = Duration.seconds(300)


def collector_java_opts(config: PlatformConfig) -> str:
    """-D options for the collector JVM: the max connection age of every gRPC receiver (a Spring
    Duration: ``300s``)."""
    age = config.collector_max_connection_age_seconds
    return " ".join(
        f"-Dcollector.receiver.grpc.{receiver}.max_connection_age={age}s" for receiver in GRPC_RECEIVERS
    )


def scale_out_cooldown(config: PlatformConfig) -> Duration:
    """No further scale-out before the connections have been re-placed once (age + grace)."""
    seconds = config.collector_max_connection_age_seconds + MAX_CONNECTION_AGE_GRACE_SECONDS
    return Duration.seconds(max(MIN_SCALE_OUT_COOLDOWN_SECONDS, seconds))


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
            environment={
                **collector_port_environment(config),
                "PINPOINT_COLLECTOR_JAVA_OPTS": collector_java_opts(config),
            },
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
            scale_out_cooldown=scale_out_cooldown(config),
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

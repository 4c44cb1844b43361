"""The Pinpoint all-in-one Fargate service: task definition, Service Connect, security group.

One task runs HBase, the collector and the web. HBase is a single writer on the task's
ephemeral storage, so the service never runs two tasks at once (min 0 % / max 100 %).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from stacks.config import PlatformConfig
from stacks.constructs.efs_volume import AccessPointSpec, EncryptedVolume
from stacks.constructs.fargate import container_logs, runtime_platform
from stacks.constructs.pinpoint_image import pinpoint_container_image
from stacks.nag import acknowledge

CONTAINER_NAME = "pinpoint"
WEB_PORT_NAME = "web"
# Port-mapping names and Cloud Map discovery names must be unique; the client DNS name is shared.
COLLECTOR_PORT_NAMES = ("collector-agent", "collector-stat", "collector-span")
HEALTH_CHECK_COMMAND = "/usr/local/bin/pinpoint-healthcheck"
# The image's HBase data directory and the uid its processes run as (images/pinpoint/README.md).
HBASE_DATA_DIR = "/var/lib/pinpoint/hbase"
IMAGE_UID = "10001"
HBASE_VOLUME_NAME = "hbase-data"


def container_environment(config: PlatformConfig) -> dict[str, str]:
    """The image's runtime settings (each is documented in images/pinpoint/README.md)."""
    ttl_seconds = str(config.hbase_ttl_days * 86400)
    return {
        "PINPOINT_WEB_PORT": str(config.web_port),
        "PINPOINT_COLLECTOR_AGENT_PORT": str(config.collector_agent_port),
        "PINPOINT_COLLECTOR_STAT_PORT": str(config.collector_stat_port),
        "PINPOINT_COLLECTOR_SPAN_PORT": str(config.collector_span_port),
        "PINPOINT_HEALTH_PATH": config.health_check_path,
        "HBASE_DATA_DIR": HBASE_DATA_DIR,
        # The task's memory, stated rather than read from a cgroup Fargate may leave unlimited
        # at container level; the supervisor splits it between the three JVMs.
        "CONTAINER_MEMORY_MB": str(config.memory_mib),
        # Bulk data (traces, statistics, agent events); metadata keeps the image's longer TTLs.
        "PINPOINT_TTL_TRACE_SECONDS": ttl_seconds,
        "PINPOINT_TTL_STATISTICS_SECONDS": ttl_seconds,
        "PINPOINT_TTL_AGENT_EVENT_SECONDS": ttl_seconds,
    }


class PinpointService(Construct):
    """Exposes ``service``, ``task_definition``, ``security_group`` and ``container``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        cluster: ecs.ICluster,
        namespace: servicediscovery.INamespace,
        subnets: ec2.SubnetSelection,
    ) -> None:
        super().__init__(scope, construct_id)
        self.collector_ports = config.collector_ports
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "TaskDefinition",
            cpu=config.cpu,
            memory_limit_mib=config.memory_mib,
            ephemeral_storage_gib=config.ephemeral_storage_gib,
            runtime_platform=runtime_platform(config),
        )
        self.container = self.task_definition.add_container(
            CONTAINER_NAME,
            image=pinpoint_container_image(self, config),
            essential=True,
            environment=container_environment(config),
            stop_timeout=Duration.seconds(config.stop_timeout_seconds),
            logging=container_logs(
                self, "Logs", config=config, task_definition=self.task_definition, stream_prefix="pinpoint"
            ),
            port_mappings=[
                ecs.PortMapping(container_port=config.web_port, name=WEB_PORT_NAME),
                *(
                    ecs.PortMapping(container_port=port, name=name)  # no app protocol: plain TCP
                    for name, port in zip(COLLECTOR_PORT_NAMES, config.collector_ports, strict=True)
                ),
            ],
            health_check=ecs.HealthCheck(
                # The image's check: the web answers PINPOINT_HEALTH_PATH with 200 and the
                # collector accepts gRPC connections. CMD form: nothing passes through a shell.
                command=["CMD", HEALTH_CHECK_COMMAND],
                interval=Duration.seconds(30),
                timeout=Duration.seconds(10),
                retries=10,
                start_period=Duration.seconds(300),
            ),
        )

        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=cluster.vpc,
            description="Pinpoint all-in-one task: web from the ALB, gRPC from agents",
            allow_all_outbound=False,
        )
        # Image pulls (ECR, S3), CloudWatch Logs and the ECS/Service Connect agents are HTTPS.
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "AWS APIs over HTTPS")

        self.hbase_volume = (
            self._keep_hbase_data_on_efs(cluster.vpc, subnets) if config.hbase_storage == "efs" else None
        )

        idle = Duration.seconds(config.service_connect_idle_timeout_seconds)
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=cluster,
            task_definition=self.task_definition,
            service_name=f"{config.name_prefix}-all-in-one",
            desired_count=1,
            min_healthy_percent=0,
            max_healthy_percent=100,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            health_check_grace_period=Duration.seconds(config.health_check_grace_seconds),
            assign_public_ip=False,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            service_connect_configuration=ecs.ServiceConnectProps(
                namespace=namespace.namespace_arn,
                log_driver=container_logs(
                    self,
                    "ServiceConnectLogs",
                    config=config,
                    task_definition=self.task_definition,
                    stream_prefix="service-connect",
                ),
                services=[
                    ecs.ServiceConnectService(
                        port_mapping_name=name,
                        discovery_name=f"{config.collector_dns_name}-{name.removeprefix('collector-')}",
                        dns_name=config.collector_dns_name,
                        port=port,
                        # TCP has no per-request timeout, so the agents' long-lived gRPC streams
                        # are never cut at 15 s; the idle timeout is set on purpose.
                        idle_timeout=idle,
                    )
                    for name, port in zip(COLLECTOR_PORT_NAMES, config.collector_ports, strict=True)
                ],
            ),
        )

        acknowledge(
            self.task_definition,
            "AwsSolutions::AwsSolutions-ECS2",
            "The environment holds only ports, the memory size and the HBase TTL; no secrets.",
        )
        acknowledge(
            self.task_definition.obtain_execution_role(),
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions; every other statement of the "
            "execution role is scoped to this stack's repository and log groups.",
        )

    def _keep_hbase_data_on_efs(self, vpc: ec2.IVpc, subnets: ec2.SubnetSelection) -> EncryptedVolume:
        """Mount an encrypted EFS access point over the HBase data directory, read-write.

        The service never runs two tasks at once (min 0 % / max 100 %), so there is one writer.
        """
        volume = EncryptedVolume(
            self,
            "HBaseData",
            vpc=vpc,
            subnets=subnets,
            access_point=AccessPointSpec(path="/hbase", uid=IMAGE_UID, gid=IMAGE_UID, permissions="750"),
            purpose="Pinpoint HBase data",
        )
        self.task_definition.add_volume(
            name=HBASE_VOLUME_NAME,
            efs_volume_configuration=volume.volume(HBASE_VOLUME_NAME).efs_volume_configuration,
        )
        self.container.add_mount_points(
            ecs.MountPoint(source_volume=HBASE_VOLUME_NAME, container_path=HBASE_DATA_DIR, read_only=False)
        )
        self.task_definition.add_to_task_role_policy(volume.read_write_mount_statement())
        volume.allow_mount_from(self.security_group, "HBase data mount from the Pinpoint task")
        return volume

    def allow_collector_from(self, peer: ec2.IPeer, description: str) -> None:
        """Open the three collector gRPC ports (and nothing else) to ``peer``."""
        for port in self.collector_ports:
            self.security_group.add_ingress_rule(peer, ec2.Port.tcp(port), description)

"""The Pinpoint all-in-one Fargate service: task definition, Service Connect, security group,
and the web's admin password.

One task runs HBase, the collector and the web. HBase is a single writer on the task's
ephemeral storage, so the service never runs two tasks at once (min 0 % / max 100 %).
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from stacks.config import BOOT_MARGIN_SECONDS, PlatformConfig
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
# ECS refuses a container health check start period above 300 s (HealthCheck.startPeriod).
MAX_START_PERIOD_SECONDS = 300
# The web's admin.password (guards /api/admin/**, passed as a query parameter; default "admin"):
# the image reads it from this variable, which ECS fills from Secrets Manager.
ADMIN_PASSWORD_VARIABLE = "PINPOINT_WEB_ADMIN_PASSWORD"


def container_environment(config: PlatformConfig) -> dict[str, str]:
    """The image's runtime settings (each is documented in images/pinpoint/README.md)."""
    ttl_seconds = str(config.hbase_ttl_days * 86400)
    return {
        "PINPOINT_WEB_PORT": str(config.web_port),
        "PINPOINT_COLLECTOR_AGENT_PORT": str(config.collector_agent_port),
        "PINPOINT_COLLECTOR_STAT_PORT": str(config.collector_stat_port),
        "PINPOINT_COLLECTOR_SPAN_PORT": str(config.collector_span_port),
        "HBASE_DATA_DIR": HBASE_DATA_DIR,
        # The task's memory, stated rather than read from a cgroup Fargate may leave unlimited
        # at container level; the supervisor splits it between the three JVMs.
        "CONTAINER_MEMORY_MB": str(config.memory_mib),
        # Bulk data (traces, statistics, agent events); metadata keeps the image's longer TTLs.
        "PINPOINT_TTL_TRACE_SECONDS": ttl_seconds,
        "PINPOINT_TTL_STATISTICS_SECONDS": ttl_seconds,
        "PINPOINT_TTL_AGENT_EVENT_SECONDS": ttl_seconds,
        "PINPOINT_HBASE_UNIFORM_SPLIT_REGIONS": str(config.hbase_split_regions),
        # The image's whole boot (HBase, tables, collector and web) must end in this; the schema
        # keeps it BOOT_MARGIN_SECONDS inside the service's health-check grace period.
        "PINPOINT_BOOT_TIMEOUT_SECONDS": str(config.boot_timeout_seconds),
    }


def health_check_start_period(config: PlatformConfig) -> int:
    """The container check counts failures only after the boot budget, capped at ECS's 300 s
    (API HealthCheck.startPeriod: 0-300). A longer boot is still covered: the service's grace
    period makes the scheduler ignore "unhealthy Elastic Load Balancing, VPC Lattice, and
    container health checks after a task has first started" (API CreateService)."""
    return min(MAX_START_PERIOD_SECONDS, config.boot_timeout_seconds + BOOT_MARGIN_SECONDS)


class PinpointService(Construct):
    """Exposes ``service``, ``task_definition``, ``security_group``, ``container``,
    ``admin_secret`` and ``hbase_volume`` (None with ephemeral HBase data)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        cluster: ecs.ICluster,
        namespace: servicediscovery.INamespace,
        subnets: ec2.SubnetSelection,
        one_per_az: ec2.SubnetSelection,
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
            task_role=self._task_role(config),
        )
        self.admin_secret = secretsmanager.Secret(
            self,
            "WebAdminPassword",
            description="Pinpoint web admin.password (the /api/admin/** query parameter)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                # Sent as a query parameter: letters and digits only, nothing to URL-encode.
                exclude_punctuation=True,
                include_space=False,
                password_length=32,
            ),
        )
        self.container = self.task_definition.add_container(
            CONTAINER_NAME,
            image=pinpoint_container_image(self, config),
            essential=True,
            environment=container_environment(config),
            # Grants the execution role read on this secret only.
            secrets={ADMIN_PASSWORD_VARIABLE: ecs.Secret.from_secrets_manager(self.admin_secret)},
            # ECS's init is PID 1 (the image carries no tini): it reaps the JVMs' and HBase
            # scripts' children and forwards SIGTERM to the supervisor.
            linux_parameters=ecs.LinuxParameters(self, "LinuxParameters", init_process_enabled=True),
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
                # The image's check proves the backend on loopback (not /serverTime, which the
                # UI's index fallback answers even when the backend is down) and that the
                # collector accepts gRPC connections. CMD form: nothing passes through a shell.
                command=["CMD", HEALTH_CHECK_COMMAND],
                interval=Duration.seconds(30),
                timeout=Duration.seconds(10),
                retries=10,
                start_period=Duration.seconds(health_check_start_period(config)),
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
            self._keep_hbase_data_on_efs(config, cluster.vpc, one_per_az)
            if config.hbase_storage == "efs"
            else None
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

        if self.hbase_volume is not None:
            # A task started before its mount targets are available fails to mount.
            self.service.node.add_dependency(self.hbase_volume.mount_targets)

        acknowledge(
            self.task_definition,
            "AwsSolutions::AwsSolutions-ECS2",
            "The environment holds only ports, sizes, TTLs and the boot budget; the admin password "
            "comes from Secrets Manager as an ECS secret, not from the environment.",
        )
        acknowledge(
            self.admin_secret,
            "AwsSolutions::AwsSolutions-SMG4",
            "Pinpoint web reads admin.password once at start and AWS offers no rotation function for it; "
            "rotating means putting a new value and forcing a new deployment (README), which a rotation "
            "schedule would not do.",
        )
        acknowledge(
            self.task_definition.obtain_execution_role(),
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions; every other statement of the "
            "execution role is scoped to this stack's repository and log groups.",
        )

    def _task_role(self, config: PlatformConfig) -> iam.Role:
        """The task role. With HBase on EFS it has a fixed name: the file system policy admits the
        role by ARN (EncryptedVolume.restrict_to), and a file system retained after ``make destroy``
        keeps that policy, so a later stack's role must have the same ARN to mount it again."""
        return iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            role_name=(
                f"{config.name_prefix}-{Stack.of(self).region}-hbase-task"
                if config.hbase_storage == "efs"
                else None
            ),
            description="Pinpoint all-in-one task (ECS exec is off; with HBase on EFS: its only mounter)",
        )

    def _keep_hbase_data_on_efs(
        self, config: PlatformConfig, vpc: ec2.IVpc, one_per_az: ec2.SubnetSelection
    ) -> EncryptedVolume:
        """Mount an encrypted EFS access point over the HBase data directory, read-write.

        The service never runs two tasks at once (min 0 % / max 100 %), so there is one writer,
        and the file system policy lets no other principal mount it at all.
        """
        volume = EncryptedVolume(
            self,
            "HBaseData",
            vpc=vpc,
            subnets=one_per_az,
            access_point=AccessPointSpec(path="/hbase", uid=IMAGE_UID, gid=IMAGE_UID, permissions="750"),
            purpose="Pinpoint HBase data",
            existing_file_system_id=config.hbase_efs_file_system_id,
        )
        volume.restrict_to(self.task_definition.task_role, others_may_read=False)
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

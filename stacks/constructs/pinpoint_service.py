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
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from stacks.config import PlatformConfig
from stacks.constructs.efs_volume import AccessPointSpec, EncryptedVolume
from stacks.constructs.fargate import (
    ADMIN_PASSWORD_VARIABLE,
    COLLECTOR_PORT_NAMES,
    CONTAINER_NAME,
    HEALTH_CHECK_COMMAND,
    MAX_START_PERIOD_SECONDS,
    acknowledge_pinpoint_task,
    add_pinpoint_container,
    admin_password_secret,
    admin_password_secrets,
    boot_environment,
    collector_port_environment,
    collector_port_mappings,
    collector_service_connect,
    health_check_start_period,
    pinpoint_task_definition,
    table_environment,
    task_security_group,
    web_port_environment,
    web_port_mapping,
)

# Re-exported: the load balancers and the tests name them from here.
__all__ = [
    "ADMIN_PASSWORD_VARIABLE",
    "COLLECTOR_PORT_NAMES",
    "CONTAINER_NAME",
    "HEALTH_CHECK_COMMAND",
    "MAX_START_PERIOD_SECONDS",
    "PinpointService",
    "container_environment",
    "health_check_start_period",
]

# The image's HBase data directory and the uid its processes run as (images/pinpoint/README.md).
HBASE_DATA_DIR = "/var/lib/pinpoint/hbase"
IMAGE_UID = "10001"
HBASE_VOLUME_NAME = "hbase-data"


def container_environment(config: PlatformConfig) -> dict[str, str]:
    """The all-in-one's runtime settings (each is documented in images/pinpoint/README.md); no
    PINPOINT_ROLE: the image's default role is all-in-one."""
    return {
        **web_port_environment(config),
        **collector_port_environment(config),
        "HBASE_DATA_DIR": HBASE_DATA_DIR,
        # The task's memory, stated rather than read from a cgroup Fargate may leave unlimited
        # at container level; the supervisor splits it between the three JVMs.
        "CONTAINER_MEMORY_MB": str(config.memory_mib),
        **table_environment(config),
        # The whole boot (HBase, tables, collector and web) must end in this.
        **boot_environment(config),
    }


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
        # HBase lives on the task's ephemeral storage (ephemeral_storage_gib, 200 by default).
        self.task_definition = pinpoint_task_definition(
            self,
            config=config,
            cpu=config.cpu,
            memory_mib=config.memory_mib,
            ephemeral_storage_gib=config.ephemeral_storage_gib,
            task_role=self._task_role(config),
        )
        self.admin_secret = admin_password_secret(self)
        # The image's check proves the backend on loopback (not /serverTime, which the UI's index
        # fallback answers even when the backend is down) and that the collector accepts gRPC.
        self.container = add_pinpoint_container(
            self,
            self.task_definition,
            config=config,
            environment=container_environment(config),
            secrets=admin_password_secrets(self.admin_secret),
            port_mappings=[web_port_mapping(config), *collector_port_mappings(config)],
        )
        self.security_group = task_security_group(
            self, vpc=cluster.vpc, description="Pinpoint all-in-one task: web from the ALB, gRPC from agents"
        )

        self.hbase_volume = (
            self._keep_hbase_data_on_efs(config, cluster.vpc, one_per_az)
            if config.hbase_storage == "efs"
            else None
        )

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
            service_connect_configuration=collector_service_connect(
                self, config=config, task_definition=self.task_definition, namespace=namespace
            ),
        )

        if self.hbase_volume is not None:
            # A task started before its mount targets are available fails to mount.
            self.service.node.add_dependency(self.hbase_volume.mount_targets)

        acknowledge_pinpoint_task(
            self.task_definition,
            "The environment holds only ports, sizes, TTLs and the boot budget; the admin password "
            "comes from Secrets Manager as an ECS secret, not from the environment.",
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

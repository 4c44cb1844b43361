"""EFS file system that distributes the Pinpoint Java agent to application containers."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_efs as efs
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.config import PlatformConfig

# The directory on the file system that the access point exposes, and the POSIX identity every
# client acts as through it (so files written by the distributor are readable by all apps).
AGENT_ROOT = "/pinpoint-agent"
AGENT_UID = "1000"
AGENT_GID = "1000"


class AgentVolume(Construct):
    """Exposes ``file_system``, ``access_point``, ``security_group`` and ``mount_policy``.

    Encrypted at rest, retained on stack deletion (agents of running apps depend on it), NFS
    open only to what calls :meth:`allow_mount_from`. Clients must mount with transit
    encryption and IAM authorization; :attr:`mount_policy` grants read-only mounting through the
    access point and is what a user attaches to their own services' task roles.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Pinpoint agent EFS: NFS from mounting services only",
            allow_all_outbound=False,
        )
        self.file_system = efs.FileSystem(
            self,
            "FileSystem",
            vpc=vpc,
            vpc_subnets=subnets,
            security_group=self.security_group,
            encrypted=True,
            enable_automatic_backups=True,
            performance_mode=efs.PerformanceMode.GENERAL_PURPOSE,
            throughput_mode=efs.ThroughputMode.ELASTIC,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.access_point = self.file_system.add_access_point(
            "AgentAccessPoint",
            path=AGENT_ROOT,
            create_acl=efs.Acl(owner_uid=AGENT_UID, owner_gid=AGENT_GID, permissions="755"),
            posix_user=efs.PosixUser(uid=AGENT_UID, gid=AGENT_GID),
        )
        self.mount_policy = iam.ManagedPolicy(
            self,
            "ReadOnlyMountPolicy",
            description="Mount the Pinpoint agent access point read-only (attach to app task roles)",
            statements=[self.read_only_mount_statement()],
        )

    def read_only_mount_statement(self) -> iam.PolicyStatement:
        return self._mount_statement(["elasticfilesystem:ClientMount"])

    def read_write_mount_statement(self) -> iam.PolicyStatement:
        return self._mount_statement(["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"])

    def _mount_statement(self, actions: list[str]) -> iam.PolicyStatement:
        # Only through our access point and a mount target: never the file system's root.
        return iam.PolicyStatement(
            actions=actions,
            resources=[self.file_system.file_system_arn],
            conditions={
                "StringEquals": {"elasticfilesystem:AccessPointArn": self.access_point.access_point_arn},
                "Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"},
            },
        )

    def allow_mount_from(self, peer: ec2.IConnectable, description: str) -> None:
        self.file_system.connections.allow_default_port_from(peer, description)

    def volume(self, name: str = "pinpoint-agent") -> ecs.Volume:
        """An ECS task volume for the access point with transit encryption and IAM auth."""
        return ecs.Volume(
            name=name,
            efs_volume_configuration=ecs.EfsVolumeConfiguration(
                file_system_id=self.file_system.file_system_id,
                transit_encryption="ENABLED",
                authorization_config=ecs.AuthorizationConfig(
                    access_point_id=self.access_point.access_point_id, iam="ENABLED"
                ),
            ),
        )

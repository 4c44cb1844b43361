"""An encrypted EFS file system exposed through exactly one access point.

The shared shape of the agent volume and the (optional) HBase data volume: encrypted at rest,
automatic backups, retained on stack deletion, NFS open only to what calls
:meth:`EncryptedVolume.allow_mount_from`, and clients that mount with TLS and IAM authorization
through the access point, which pins the directory and the POSIX identity they act as.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_efs as efs
from aws_cdk import aws_iam as iam
from constructs import Construct


@dataclass(frozen=True)
class AccessPointSpec:
    """Directory the access point exposes and the identity every client acts as through it."""

    path: str
    uid: str
    gid: str
    permissions: str


class EncryptedVolume(Construct):
    """Exposes ``file_system``, ``access_point`` and ``security_group``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        access_point: AccessPointSpec,
        purpose: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description=f"{purpose} EFS: NFS from mounting services only",
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
            "AccessPoint",
            path=access_point.path,
            create_acl=efs.Acl(
                owner_uid=access_point.uid, owner_gid=access_point.gid, permissions=access_point.permissions
            ),
            posix_user=efs.PosixUser(uid=access_point.uid, gid=access_point.gid),
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

    def volume(self, name: str) -> ecs.Volume:
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

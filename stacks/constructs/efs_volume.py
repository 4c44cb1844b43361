"""An encrypted EFS file system exposed through exactly one access point.

The shared shape of the agent volume and the (optional) HBase data volume: encrypted at rest,
retained on stack deletion, mount targets one per AZ, NFS open only to what
calls :meth:`EncryptedVolume.allow_mount_from`, and clients that mount with TLS and IAM
authorization through the access point, which pins the directory and the POSIX identity they
act as.

Who may write is decided by IAM, not by a mount flag. With ``@aws-cdk/aws-efs:denyAnonymousAccess``
aws-cdk-lib 2.275 appends ``Allow AWS:* ClientWrite + ClientRootAccess`` (condition: via a mount
target) to the file system policy unless ``allowAnonymousAccess`` is set (aws-efs/lib/
efs-file-system.js, the ``fileSystemPolicy`` of ``CfnFileSystem``), and EFS grants an action that
either the file system policy or the identity policy allows (EFS user guide, "Using IAM to
control file system data access"). So every IAM principal in the account could write. Here the
statement is not appended (``allow_anonymous_access=True`` only switches that off: the policy
below has no Allow at all, so anonymous clients get nothing), grants are identity policies, and
:meth:`EncryptedVolume.restrict_to` denies what the one writer alone may do to everybody else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_efs as efs
from aws_cdk import aws_iam as iam
from constructs import Construct, DependencyGroup

from stacks.constructs.fargate import selected_subnets

CLIENT_MOUNT = "elasticfilesystem:ClientMount"
CLIENT_WRITE = "elasticfilesystem:ClientWrite"
CLIENT_ROOT_ACCESS = "elasticfilesystem:ClientRootAccess"


@dataclass(frozen=True)
class AccessPointSpec:
    """Directory the access point exposes and the identity every client acts as through it."""

    path: str
    uid: str
    gid: str
    permissions: str


class EncryptedVolume(Construct):
    """Exposes ``file_system``, ``access_point``, ``security_group`` and ``mount_targets`` (depend
    on it before mounting: a task started before its mount target is available fails).

    ``subnets`` must select at most one subnet per AZ (Network.one_per_az): EFS allows one mount
    target per AZ, and a second fails the deploy with MountTargetConflict.

    ``automatic_backups`` turns on EFS automatic backups (EFS's own daily AWS Backup plan, 35 days)
    for a file system this stack creates; off for a volume another backup plan covers (backup.py).

    ``existing_file_system_id`` mounts a file system this stack does not own (e.g. one a destroyed
    stack retained): its mount targets and access point went with that stack (separate
    resources), so they are created here; its file system policy is left as it is.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        access_point: AccessPointSpec,
        purpose: str,
        automatic_backups: bool = False,
        existing_file_system_id: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description=f"{purpose} EFS: NFS from mounting services only",
            allow_all_outbound=False,
        )
        self.mount_targets = DependencyGroup()
        self.owned = existing_file_system_id is None
        if existing_file_system_id is None:
            file_system = efs.FileSystem(
                self,
                "FileSystem",
                vpc=vpc,
                vpc_subnets=subnets,
                security_group=self.security_group,
                encrypted=True,
                enable_automatic_backups=automatic_backups,
                performance_mode=efs.PerformanceMode.GENERAL_PURPOSE,
                throughput_mode=efs.ThroughputMode.ELASTIC,
                removal_policy=RemovalPolicy.RETAIN,
                # Not "anonymous access": only stops CDK appending Allow AWS:* ClientWrite +
                # ClientRootAccess (module docstring); restrict_to() writes the policy.
                allow_anonymous_access=True,
            )
            if not automatic_backups:
                # Stated, not omitted: removing the property from a file system that had it
                # ENABLED (earlier versions) would leave EFS's backup plan running.
                resource = cast(efs.CfnFileSystem, file_system.node.default_child)
                resource.backup_policy = efs.CfnFileSystem.BackupPolicyProperty(status="DISABLED")
            self.mount_targets.add(file_system.mount_targets_available)
            self.file_system: efs.IFileSystem = file_system
        else:
            self.file_system = efs.FileSystem.from_file_system_attributes(
                self, "FileSystem", file_system_id=existing_file_system_id, security_group=self.security_group
            )
            for index, subnet in enumerate(selected_subnets(vpc, subnets), start=1):
                self.mount_targets.add(
                    efs.CfnMountTarget(
                        self,
                        f"MountTarget{index}",
                        file_system_id=existing_file_system_id,
                        subnet_id=subnet.subnet_id,
                        security_groups=[self.security_group.security_group_id],
                    )
                )
        # Under the file system when it is ours, as before: the access point's logical id (and so
        # its id, which users copied into their task definitions) stays the same on update.
        self.access_point = efs.AccessPoint(
            self.file_system if self.owned else self,
            "AccessPoint",
            file_system=self.file_system,
            path=access_point.path,
            create_acl=efs.Acl(
                owner_uid=access_point.uid, owner_gid=access_point.gid, permissions=access_point.permissions
            ),
            posix_user=efs.PosixUser(uid=access_point.uid, gid=access_point.gid),
        )

    def restrict_to(self, writer: iam.IRole, *, others_may_read: bool) -> None:
        """File system policy: only ``writer`` may write (and, unless ``others_may_read``, mount);
        nobody gets root; nothing without TLS. Deny statements, so no identity policy anywhere in
        the account can grant more. (An existing file system keeps the policy it has.)"""
        others_denied = [CLIENT_WRITE, CLIENT_ROOT_ACCESS]
        if not others_may_read:
            others_denied.insert(0, CLIENT_MOUNT)
        statements = [
            iam.PolicyStatement(
                sid="OnlyTheWriter",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=others_denied,
                resources=["*"],
                # The ARN string, not a Principal element: a Principal is stored as the role's unique
                # id, which a re-created role (same name) would not match (EFS user guide).
                conditions={"ArnNotEquals": {"aws:PrincipalArn": writer.role_arn}},
            ),
            iam.PolicyStatement(
                sid="NoRootAccess",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=[CLIENT_ROOT_ACCESS],
                resources=["*"],
            ),
            iam.PolicyStatement(
                sid="TlsOnly",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=[CLIENT_MOUNT, CLIENT_WRITE, CLIENT_ROOT_ACCESS],
                resources=["*"],
                conditions={"Bool": {"aws:SecureTransport": "false"}},
            ),
        ]
        for statement in statements:
            self.file_system.add_to_resource_policy(statement)

    def read_only_mount_statement(self) -> iam.PolicyStatement:
        return self._mount_statement([CLIENT_MOUNT])

    def read_write_mount_statement(self) -> iam.PolicyStatement:
        return self._mount_statement([CLIENT_MOUNT, CLIENT_WRITE])

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

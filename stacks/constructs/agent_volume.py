"""EFS volume that distributes the Pinpoint Java agent to application containers."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.constructs.efs_volume import AccessPointSpec, EncryptedVolume

# The directory on the file system that the access point exposes, and the POSIX identity every
# client acts as through it (so files written by the distributor are readable by all apps).
AGENT_ROOT = "/pinpoint-agent"
AGENT_UID = "1000"
AGENT_GID = "1000"


class AgentVolume(EncryptedVolume):
    """The agent volume plus ``mount_policy``: read-only mounting through the access point,
    which a user attaches to their own services' task roles. Retained on stack deletion because
    running applications load their agent from it.

    Read-only by IAM, not only by the mount flag: the distributor is made the one writer with
    ``restrict_to(<its role>, others_may_read=True)`` (efs_volume.py), so no app task can replace
    the jar every JVM loads."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            vpc=vpc,
            subnets=subnets,
            access_point=AccessPointSpec(path=AGENT_ROOT, uid=AGENT_UID, gid=AGENT_GID, permissions="755"),
            purpose="Pinpoint agent",
            # A few small bundles, cents a month: a restore gives back the exact bytes every app
            # loads, without a redeploy that would have to re-run the distributor.
            automatic_backups=True,
        )
        self.mount_policy = iam.ManagedPolicy(
            self,
            "ReadOnlyMountPolicy",
            description="Mount the Pinpoint agent access point read-only (attach to app task roles)",
            statements=[self.read_only_mount_statement()],
        )

"""Daily AWS Backup of the HBase data file system (``hbase_storage=efs``) into an encrypted vault.

One backup of the HBase data, not two: the HBase volume is created without EFS automatic backups
(efs_volume.py ``automatic_backups``), which would otherwise run EFS's own daily AWS Backup plan
(35 days, the default EFS vault; EFS user guide, "Backing up EFS file systems") next to this one.
A file system given by ``hbase_efs_file_system_id`` is selected here too; its EFS backup policy
is not this stack's to change (README "Backups": turn it off there to avoid paying twice).

The vault and its key are retained when the stack is deleted: the recovery points are the point
of a backup, and each one expires on its own after ``backup_retention_days``.

The vault's access policy refuses to delete a recovery point or shorten its lifecycle. It does not
refuse ``PutBackupVaultAccessPolicy``/``DeleteBackupVaultAccessPolicy``: denying those to everyone
would also fail every later stack update that changes the policy, and still would not guarantee
anything -- only AWS Backup Vault Lock in compliance mode does (README "Backups"). A failed,
aborted or expired backup job is notified on the alarm topic (notifications.py backup_jobs).

Restores run as ``restore_role`` (AWS Backup's AWSBackupServiceRolePolicyForRestores): the backup
role does not restore (``allow_restores=False``), and a restore needs a role to pass.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, Fn, RemovalPolicy
from aws_cdk import aws_backup as backup
from aws_cdk import aws_efs as efs
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.config import PlatformConfig
from stacks.nag import acknowledge

# 03:00 UTC, usually the quietest hour for an APM; EFS backups are not atomic snapshots (files
# written during the backup may be caught half-way, EFS user guide "Backup consistency").
BACKUP_HOUR_UTC = "3"
START_WINDOW = Duration.hours(1)
COMPLETION_WINDOW = Duration.hours(8)


class HBaseBackup(Construct):
    """Exposes ``vault``, ``key``, ``plan``, ``selection`` and ``restore_role``."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: PlatformConfig, file_system: efs.IFileSystem
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "VaultKey",
            description=f"Encrypts the {config.name_prefix} HBase data backups (AWS Backup vault)",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,  # the retained recovery points need it
        )
        self.vault = backup.BackupVault(
            self,
            "Vault",
            backup_vault_name=_vault_name(config),
            encryption_key=self.key,
            removal_policy=RemovalPolicy.RETAIN,
            # Nobody deletes a recovery point or shortens its lifecycle by hand; AWS Backup still
            # expires each one after backup_retention_days.
            block_recovery_point_deletion=True,
        )
        self.plan = backup.BackupPlan(self, "Plan", backup_plan_name=f"{config.name_prefix}-hbase-data")
        self.plan.add_rule(
            backup.BackupPlanRule(
                rule_name="daily",
                backup_vault=self.vault,
                schedule_expression=events.Schedule.cron(minute="0", hour=BACKUP_HOUR_UTC),
                start_window=START_WINDOW,
                completion_window=COMPLETION_WINDOW,
                delete_after=Duration.days(config.backup_retention_days),
            )
        )
        self.selection = self.plan.add_selection(
            "HBaseData",
            resources=[backup.BackupResource.from_arn(file_system.file_system_arn)],
            allow_restores=False,
        )
        acknowledge(
            self.selection,
            "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSBackupServiceRolePolicyForBackup]",
            "AWS Backup's own policy for the role it assumes to back up: it lists exactly the calls each "
            "supported service's backup needs and AWS keeps it current; the plan selects one file system.",
        )
        self.restore_role = iam.Role(
            self,
            "RestoreRole",
            assumed_by=iam.ServicePrincipal("backup.amazonaws.com"),
            description=f"AWS Backup restores of the {config.name_prefix} HBase data (pass it to start-restore-job)",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AWSBackupServiceRolePolicyForRestores"
                )
            ],
        )
        acknowledge(
            self.restore_role,
            "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSBackupServiceRolePolicyForRestores]",
            "AWS Backup's own policy for the role it assumes to restore (README Backups, restore step 1): "
            "it lists the calls a restore of each supported service needs and AWS keeps it current; only "
            "backup.amazonaws.com may assume the role, and a person must be allowed iam:PassRole to use it.",
        )


def _vault_name(config: PlatformConfig) -> str:
    """``<name_prefix>-hbase-<first part of the stack's UUID>``: stable across updates, new for a
    stack deployed again after ``make destroy`` (a name CDK derives from the construct path would
    collide with the retained vault). 2-50 of letters, digits, - and _ (AWS::Backup::BackupVault)."""
    stack_uuid = Fn.select(2, Fn.split("/", Aws.STACK_ID))
    return f"{config.name_prefix}-hbase-{Fn.select(0, Fn.split('-', stack_uuid))}"

"""Backups of HBase data on EFS (stacks/constructs/backup.py) and who runs EFS automatic backups."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

from stacks.config import PlatformConfig
from stacks.constructs.backup import BACKUP_HOUR_UTC
from tests.unit.conftest import (
    CHOSEN_SUBNETS,
    CUSTOMIZED,
    EXISTING_VPC,
    HTTPS_FROM_ECR,
    OPERATIONS,
    RETAINED_HBASE_FILE_SYSTEM_ID,
    SAMPLE_APP,
    synth,
)

EFS_VARIANTS = {
    "efs": CUSTOMIZED,
    "existing-vpc-retained-file-system": EXISTING_VPC,
    "operations": OPERATIONS,
}
EPHEMERAL_VARIANTS = {
    "default": {},
    "sample-app": SAMPLE_APP,
    "https-ecr": HTTPS_FROM_ECR,
    "chosen-subnets": CHOSEN_SUBNETS,
}


def setting(overrides: dict[str, Any], name: str) -> Any:
    return overrides.get(name, PlatformConfig.model_fields[name].default)


def file_systems(template: Template) -> dict[str, dict[str, Any]]:
    """EFS file systems this stack creates, by logical id."""
    return template.find_resources("AWS::EFS::FileSystem")


def agent_file_system(template: Template) -> str:
    (logical_id,) = [name for name in file_systems(template) if name.startswith("AgentVolume")]
    return logical_id


@pytest.mark.parametrize("name", EFS_VARIANTS)
def test_hbase_data_on_efs_is_backed_up_daily_for_the_retention_setting(name: str) -> None:
    overrides = EFS_VARIANTS[name]
    template = synth(**overrides)
    (plan,) = template.find_resources("AWS::Backup::BackupPlan").values()
    (rule,) = plan["Properties"]["BackupPlan"]["BackupPlanRule"]
    assert rule["ScheduleExpression"] == f"cron(0 {BACKUP_HOUR_UTC} * * ? *)"  # every day
    assert rule["Lifecycle"] == {"DeleteAfterDays": setting(overrides, "backup_retention_days")}
    (vault_id,) = template.find_resources("AWS::Backup::BackupVault")
    assert rule["TargetBackupVault"] == {"Fn::GetAtt": [vault_id, "BackupVaultName"]}
    assert (
        plan["Properties"]["BackupPlan"]["BackupPlanName"]
        == f"{setting(overrides, 'name_prefix')}-hbase-data"
    )


@pytest.mark.parametrize("name", EFS_VARIANTS)
def test_the_selection_is_the_hbase_data_file_system_new_or_existing(name: str) -> None:
    overrides = EFS_VARIANTS[name]
    template = synth(**overrides)
    (selection,) = template.find_resources("AWS::Backup::BackupSelection").values()
    resources = selection["Properties"]["BackupSelection"]["Resources"]
    if overrides.get("hbase_efs_file_system_id"):
        assert resources == [
            f"arn:aws:elasticfilesystem:eu-west-1:123456789012:file-system/{RETAINED_HBASE_FILE_SYSTEM_ID}"
        ]
    else:
        (hbase_id,) = [n for n in file_systems(template) if n.startswith("PinpointHBaseData")]
        assert resources == [{"Fn::GetAtt": [hbase_id, "Arn"]}]
    # The role AWS Backup assumes: its managed backup policy (acknowledged in backup.py).
    role_id = selection["Properties"]["BackupSelection"]["IamRoleArn"]["Fn::GetAtt"][0]
    role = template.find_resources("AWS::IAM::Role")[role_id]["Properties"]
    assert "service-role/AWSBackupServiceRolePolicyForBackup" in str(role["ManagedPolicyArns"])


@pytest.mark.parametrize("name", EFS_VARIANTS)
def test_the_vault_is_encrypted_with_a_rotated_key_and_both_outlive_the_stack(name: str) -> None:
    overrides = EFS_VARIANTS[name]
    template = synth(**overrides)
    ((vault_id, vault),) = template.find_resources("AWS::Backup::BackupVault").items()
    key_id = vault["Properties"]["EncryptionKeyArn"]["Fn::GetAtt"][0]
    key = template.find_resources("AWS::KMS::Key")[key_id]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert (vault["DeletionPolicy"], key["DeletionPolicy"]) == ("Retain", "Retain")
    # Recovery points are deleted by their lifecycle only.
    (statement,) = vault["Properties"]["AccessPolicy"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert "backup:DeleteRecoveryPoint" in statement["Action"]
    # A name of its own per stack instance: a redeploy after `make destroy` meets the retained vault.
    name_parts = vault["Properties"]["BackupVaultName"]["Fn::Join"][1]
    assert name_parts[0] == f"{setting(overrides, 'name_prefix')}-hbase-"
    assert "AWS::StackId" in str(name_parts[1])
    assert vault_id.startswith("HBaseBackup")


@pytest.mark.parametrize("name", EPHEMERAL_VARIANTS)
def test_no_backup_plan_without_hbase_data_on_efs(name: str) -> None:
    template = synth(**EPHEMERAL_VARIANTS[name])
    for resource_type in ("BackupPlan", "BackupSelection", "BackupVault"):
        template.resource_count_is(f"AWS::Backup::{resource_type}", 0)


@pytest.mark.parametrize("name", {**EFS_VARIANTS, **EPHEMERAL_VARIANTS})
def test_efs_automatic_backups_only_on_the_agent_volume(name: str) -> None:
    """One backup of HBase data (the plan above), not two: EFS automatic backups would run EFS's own
    daily plan next to it. The agent volume keeps them (small; no other plan covers it)."""
    template = synth(**{**EFS_VARIANTS, **EPHEMERAL_VARIANTS}[name])
    systems = file_systems(template)
    agent = agent_file_system(template)
    assert systems[agent]["Properties"]["BackupPolicy"] == {"Status": "ENABLED"}
    overrides = {**EFS_VARIANTS, **EPHEMERAL_VARIANTS}[name]
    owns_hbase_file_system = setting(overrides, "hbase_storage") == "efs" and not setting(
        overrides, "hbase_efs_file_system_id"
    )
    assert len(systems) == 1 + owns_hbase_file_system
    for logical_id, system in systems.items():
        if logical_id != agent:  # the HBase data file system this stack creates
            assert system["Properties"]["BackupPolicy"] == {"Status": "DISABLED"}


@pytest.mark.parametrize("name", EFS_VARIANTS)
def test_restores_run_as_a_role_with_aws_backups_restore_policy_and_the_stack_names_it(name: str) -> None:
    """The backup role does not restore (allow_restores=False): README's restore steps pass this one."""
    template = synth(**EFS_VARIANTS[name])
    outputs = template.to_json()["Outputs"]
    role_id = outputs["HBaseRestoreRoleArn"]["Value"]["Fn::GetAtt"][0]
    role = template.find_resources("AWS::IAM::Role")[role_id]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}}
    ]
    (policy,) = role["ManagedPolicyArns"]
    assert policy["Fn::Join"][1][-1] == ":iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores"
    assert "Policies" not in role
    (vault_id,) = template.find_resources("AWS::Backup::BackupVault")
    assert outputs["HBaseBackupVaultName"]["Value"] == {"Fn::GetAtt": [vault_id, "BackupVaultName"]}


@pytest.mark.parametrize("name", EPHEMERAL_VARIANTS)
def test_no_backup_outputs_without_backups(name: str) -> None:
    outputs = synth(**EPHEMERAL_VARIANTS[name]).to_json()["Outputs"]
    assert not {"HBaseBackupVaultName", "HBaseRestoreRoleArn"} & set(outputs)

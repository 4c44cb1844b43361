"""Where the all-in-one keeps HBase data: ephemeral storage, a new EFS, or a retained one."""

from __future__ import annotations

from aws_cdk.assertions import Match, Template

from tests.unit.conftest import (
    CUSTOMIZED,
    EXISTING_VPC,
    RETAINED_HBASE_FILE_SYSTEM_ID,
    synth,
)
from tests.unit.efs_access import (
    EFS_WRITE_ACTIONS,
    file_system_id,
    file_system_policy,
    identity_grants,
)
from tests.unit.template_queries import (
    azs,
    container,
    ingress_of,
    logical_id,
    only,
    pinpoint_task,
    security_groups,
)

# --- HBase data storage --------------------------------------------------------------------------


def test_hbase_data_is_on_ephemeral_storage_by_default(template: Template) -> None:
    assert "MountPoints" not in container(template) or container(template)["MountPoints"] == []
    template.resource_count_is("AWS::EFS::FileSystem", 1)  # the agent volume only


def test_hbase_file_system_is_mounted_only_by_the_pinpoint_task_role() -> None:
    template = synth(**CUSTOMIZED)
    file_system = file_system_id(template, "PinpointHBaseData")
    statements = file_system_policy(template, file_system)
    assert [s for s in statements if s["Effect"] == "Allow"] == []
    (only_writer,) = [s for s in statements if s.get("Sid") == "OnlyTheWriter"]
    task_role = logical_id(template, "AWS::IAM::Role", {"RoleName": "pinpoint-eu-west-1-hbase-task"})
    assert only_writer["Effect"] == "Deny"
    assert set(only_writer["Action"]) == EFS_WRITE_ACTIONS | {"elasticfilesystem:ClientMount"}
    assert only_writer["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": [task_role, "Arn"]}}
    }
    assert identity_grants(template, file_system) == {
        task_role: {"elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"}
    }
    task = pinpoint_task(template)
    assert task["Properties"]["TaskRoleArn"] == {"Fn::GetAtt": [task_role, "Arn"]}


def test_retained_hbase_file_system_gets_new_mount_targets_and_access_point() -> None:
    """After destroy the retained file system has no mount targets or access point left (they
    are separate resources of the old stack): the setting mounts it with new ones, same TLS + IAM."""
    template = synth(**EXISTING_VPC)
    assert len(template.find_resources("AWS::EFS::FileSystem")) == 1  # the agent's; HBase's is reused
    targets = [
        r["Properties"]
        for r in template.find_resources("AWS::EFS::MountTarget").values()
        if r["Properties"]["FileSystemId"] == RETAINED_HBASE_FILE_SYSTEM_ID
    ]
    assert azs([t["SubnetId"] for t in targets]) == ["a", "b"]
    (group,) = {t["SecurityGroups"][0]["Fn::GetAtt"][0] for t in targets}
    assert security_groups(template)[group]["Properties"]["GroupDescription"].startswith(
        "Pinpoint HBase data EFS"
    )
    template.has_resource_properties(
        "AWS::EFS::AccessPoint",
        {
            "FileSystemId": RETAINED_HBASE_FILE_SYSTEM_ID,
            "RootDirectory": Match.object_like({"Path": "/hbase"}),
            "PosixUser": {"Uid": "10001", "Gid": "10001"},
        },
    )
    task = pinpoint_task(template)
    (volume,) = task["Properties"]["Volumes"]
    assert volume["EFSVolumeConfiguration"]["FilesystemId"] == RETAINED_HBASE_FILE_SYSTEM_ID
    assert volume["EFSVolumeConfiguration"]["TransitEncryption"] == "ENABLED"
    assert volume["EFSVolumeConfiguration"]["AuthorizationConfig"]["IAM"] == "ENABLED"
    arn = f"arn:aws:elasticfilesystem:eu-west-1:123456789012:file-system/{RETAINED_HBASE_FILE_SYSTEM_ID}"
    assert set(identity_grants(template, arn)) == {
        logical_id(template, "AWS::IAM::Role", {"RoleName": "pinpoint-eu-west-1-hbase-task"})
    }
    # The task starts once its mount targets are available.
    service = only(template, "AWS::ECS::Service", {"ServiceName": "pinpoint-all-in-one"})
    mount_targets = {
        n
        for n, r in template.find_resources("AWS::EFS::MountTarget").items()
        if r["Properties"]["FileSystemId"] == RETAINED_HBASE_FILE_SYSTEM_ID
    }
    assert mount_targets <= set(service["DependsOn"])


def test_hbase_data_on_efs_is_encrypted_retained_and_mounted_read_write_with_iam() -> None:
    template = synth(**CUSTOMIZED)
    file_systems = template.find_resources("AWS::EFS::FileSystem")
    assert len(file_systems) == 2
    assert all(
        fs["Properties"]["Encrypted"] and fs["DeletionPolicy"] == "Retain" for fs in file_systems.values()
    )
    template.has_resource_properties(
        "AWS::EFS::AccessPoint",
        {
            "RootDirectory": Match.object_like({"Path": "/hbase"}),
            "PosixUser": {"Uid": "10001", "Gid": "10001"},
        },
    )
    task = pinpoint_task(template)
    (volume,) = task["Properties"]["Volumes"]
    assert volume["EFSVolumeConfiguration"]["TransitEncryption"] == "ENABLED"
    assert volume["EFSVolumeConfiguration"]["AuthorizationConfig"]["IAM"] == "ENABLED"
    assert container(template)["MountPoints"] == [
        {"ContainerPath": "/var/lib/pinpoint/hbase", "ReadOnly": False, "SourceVolume": volume["Name"]}
    ]
    # NFS into the HBase file system only from the Pinpoint task.
    groups = security_groups(template)
    pinpoint = next(
        k for k, v in groups.items() if v["Properties"]["GroupDescription"].startswith("Pinpoint all-in-one")
    )
    ingress = ingress_of(template, "Pinpoint HBase data EFS")
    assert [(r["SourceSecurityGroupId"]["Fn::GetAtt"][0], r["FromPort"]) for r in ingress] == [
        (pinpoint, 2049)
    ]

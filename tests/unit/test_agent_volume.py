"""The agent file system (EFS): mount targets, policies with one writer, access from applications."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from tests.unit.conftest import (
    ALL_VARIANTS,
    synth,
)
from tests.unit.efs_access import (
    EFS_WRITE_ACTIONS,
    file_system_id,
    file_system_policy,
    identity_grants,
)
from tests.unit.template_queries import (
    as_list,
    ingress_of,
    only,
    security_groups,
)

# --- agent file system -----------------------------------------------------------------------------


def test_agent_file_system_is_encrypted_retained_with_an_access_point(template: Template) -> None:
    file_system = only(template, "AWS::EFS::FileSystem")
    assert file_system["Properties"]["Encrypted"] is True
    assert file_system["DeletionPolicy"] == "Retain"
    assert file_system["UpdateReplacePolicy"] == "Retain"
    template.has_resource_properties(
        "AWS::EFS::AccessPoint",
        {
            "RootDirectory": {
                "Path": "/pinpoint-agent",
                "CreationInfo": Match.object_like({"Permissions": "755"}),
            },
            "PosixUser": {"Uid": "1000", "Gid": "1000"},
        },
    )


def test_nfs_is_open_only_to_the_services_that_mount(template: Template) -> None:
    groups = security_groups(template)
    apps = next(
        k for k, v in groups.items() if v["Properties"]["GroupDescription"].startswith("Attach to services")
    )
    ingress = ingress_of(template, "Pinpoint agent EFS")
    assert ingress
    assert all(r["FromPort"] == r["ToPort"] == 2049 for r in ingress)
    assert all("CidrIp" not in r for r in ingress)
    assert apps in {r["SourceSecurityGroupId"]["Fn::GetAtt"][0] for r in ingress}


def test_read_only_mount_policy_is_scoped_to_the_access_point(template: Template) -> None:
    policy = only(template, "AWS::IAM::ManagedPolicy")
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "elasticfilesystem:ClientMount"
    assert "elasticfilesystem:AccessPointArn" in statement["Condition"]["StringEquals"]


@pytest.mark.parametrize("name", ["default", "sample-app", "existing-vpc-retained-hbase"])
def test_agent_file_system_is_writable_only_by_the_distributor(name: str) -> None:
    """No Allow AWS:* ClientWrite (CDK appends one under denyAnonymousAccess); writes by the
    distributor's identity policy only, and a Deny for every other principal."""
    template = synth(**ALL_VARIANTS[name])
    file_system = file_system_id(template, "AgentVolume")
    statements = file_system_policy(template, file_system)
    assert [s for s in statements if s["Effect"] == "Allow"] == []
    (only_writer,) = [s for s in statements if s.get("Sid") == "OnlyTheWriter"]
    assert only_writer["Effect"] == "Deny"
    assert only_writer["Principal"] == {"AWS": "*"}
    assert set(as_list(only_writer["Action"])) == EFS_WRITE_ACTIONS
    (role,) = [n for n in template.find_resources("AWS::IAM::Role") if n.startswith("AgentDistributionRole")]
    assert only_writer["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": [role, "Arn"]}}}
    writers = {
        r for r, actions in identity_grants(template, file_system).items() if actions & EFS_WRITE_ACTIONS
    }
    assert writers == {role}
    # Apps (the mount policy, the sample app's task role) may only mount.
    readers = {r: a for r, a in identity_grants(template, file_system).items() if r != role}
    assert readers
    assert all(actions == {"elasticfilesystem:ClientMount"} for actions in readers.values())


@pytest.mark.parametrize("name", ["default", "customized-hbase-on-efs-nlb"])
def test_file_systems_deny_clients_without_tls(name: str) -> None:
    template = synth(**ALL_VARIANTS[name])
    for file_system in template.find_resources("AWS::EFS::FileSystem"):
        (tls,) = [s for s in file_system_policy(template, file_system) if s.get("Sid") == "TlsOnly"]
        assert tls["Effect"] == "Deny"
        assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert "elasticfilesystem:ClientMount" in tls["Action"]

"""hbase_mode=emr: the EMR cluster, its data and logs, encryption, roles and network reach.

Sources the expectations come from are named in stacks/constructs/emr_hbase.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Template

from app import create_app
from stacks.config import REPO_ROOT, ConfigError, parse_settings
from stacks.constructs.emr_hbase import hbase_root_dir
from tests.unit.conftest import EMR, EMR_CERTIFICATES, EXTERNAL, ISOLATED_CONFIG_DIR, TEST_ENV, synth
from tests.unit.template_queries import only_with_id

EMR_TAG = {"Key": "for-use-with-amazon-emr-managed-policies", "Value": "true"}


@pytest.fixture(scope="module")
def emr() -> Template:
    return synth(**EMR)


def emr_key(template: Template) -> tuple[str, dict[str, Any]]:
    """The EMR construct's KMS key (the alarm topic has a key of its own)."""
    (found,) = [
        item for item in template.find_resources("AWS::KMS::Key").items() if item[0].startswith("EmrHBase")
    ]
    return found


def cluster(template: Template) -> dict[str, Any]:
    return only_with_id(template, "AWS::EMR::Cluster")[1]["Properties"]


def resources(template: Template) -> dict[str, Any]:
    return template.to_json()["Resources"]


def group_id(template: Template, description_start: str) -> str:
    (name,) = [
        n
        for n, g in template.find_resources("AWS::EC2::SecurityGroup").items()
        if g["Properties"]["GroupDescription"].startswith(description_start)
    ]
    return name


def statements(template: Template, role_prefix: str) -> list[dict[str, Any]]:
    (role,) = [n for n in template.find_resources("AWS::IAM::Role") if n.startswith(role_prefix)]
    return [
        s
        for p in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


# --- the cluster ---------------------------------------------------------------------------------


def test_cluster_runs_hbase_on_s3_in_the_stacks_bucket(emr: Template) -> None:
    properties = cluster(emr)
    assert properties["Applications"] == [{"Name": "HBase"}]
    assert properties["ReleaseLabel"] == "emr-7.13.0"
    classifications = {
        c["Classification"]: c["ConfigurationProperties"] for c in properties["Configurations"]
    }
    assert classifications["hbase"] == {"hbase.emr.storageMode": "s3"}
    data_bucket, _ = only_bucket(emr, "EmrHBaseData")
    generation = hbase_root_dir(parse_settings(EMR))
    assert classifications["hbase-site"]["hbase.rootdir"] == {
        "Fn::Join": ["", ["s3://", {"Ref": data_bucket}, f"/{generation}"]]
    }
    assert re.fullmatch(r"hbase/[0-9a-f]{12}", generation)


def test_a_replacement_cluster_never_shares_the_old_clusters_root_directory() -> None:
    """CloudFormation starts a replacing cluster before it deletes the old one (termination
    protection keeps the old one anyway): each cluster generation gets its own root; settings that
    update the cluster in place keep it."""
    base = hbase_root_dir(parse_settings(EMR))
    replacing = {
        "emr_release_label": "emr-7.12.0",
        "name_prefix": "apm",
        "emr_tls_certificates_s3_uri": "s3://example-pinpoint-certs/emr/rotated.zip",
    }
    for key, value in replacing.items():
        assert hbase_root_dir(parse_settings({**EMR, key: value})) != base, key
    assert (
        hbase_root_dir(parse_settings({**EMR, "emr_core_instance_count": 4, "collector_max_count": 9}))
        == base
    )


def only_bucket(template: Template, prefix: str) -> tuple[str, dict[str, Any]]:
    (item,) = [(n, b) for n, b in template.find_resources("AWS::S3::Bucket").items() if n.startswith(prefix)]
    return item


def test_data_bucket_is_retained_kms_encrypted_private_and_tls_only(emr: Template) -> None:
    name, bucket = only_bucket(emr, "EmrHBaseData")
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["UpdateReplacePolicy"] == "Retain"
    key_name, key = emr_key(emr)
    assert key["DeletionPolicy"] == "Retain"  # the retained data stays readable
    assert key["Properties"]["EnableKeyRotation"] is True
    (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": [key_name, "Arn"]},
    }
    assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "VersioningConfiguration" not in bucket["Properties"]  # compactions delete files constantly
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in emr.find_resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": name}
    ]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for statements_ in policies
        for s in statements_
    )


def test_graviton_nodes_in_one_private_subnet_with_termination_protection_and_logs(emr: Template) -> None:
    properties = cluster(emr)
    instances = properties["Instances"]
    assert instances["MasterInstanceGroup"] == {
        "InstanceCount": 1,
        "InstanceType": "m7g.xlarge",
        "Market": "ON_DEMAND",
        "Name": "primary",
    }
    assert instances["CoreInstanceGroup"] == {
        "InstanceCount": 2,
        "InstanceType": "m7g.xlarge",
        "Market": "ON_DEMAND",
        "Name": "core",
    }
    assert instances["TerminationProtected"] is True
    assert instances["KeepJobFlowAliveWhenNoSteps"] is True
    assert "Ec2KeyName" not in instances
    subnet = instances["Ec2SubnetId"]["Ref"]
    subnet_properties = resources(emr)[subnet]["Properties"]
    assert subnet_properties["MapPublicIpOnLaunch"] is False
    assert {"Key": "aws-cdk:subnet-type", "Value": "Private"} in subnet_properties["Tags"]
    # AmazonEMRServicePolicy_v2 acts only on tagged subnets, groups and clusters.
    assert EMR_TAG in subnet_properties["Tags"]
    assert EMR_TAG in properties["Tags"]
    logs_bucket, bucket = only_bucket(emr, "EmrHBaseLogs")
    assert properties["LogUri"] == {"Fn::Join": ["", ["s3://", {"Ref": logs_bucket}, "/emr-logs/"]]}
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 30


def test_instance_types_counts_and_release_are_settings() -> None:
    config = parse_settings(
        {
            **EMR,
            "emr_primary_instance_type": "r7g.2xlarge",
            "emr_core_instance_type": "m6gd.4xlarge",
            "emr_core_instance_count": 5,
            "emr_release_label": "emr-7.12.0",
        }
    )
    assert (config.emr_core_instance_count, config.emr_release_label) == (5, "emr-7.12.0")
    for key, bad in {"emr_core_instance_type": "m7i.xlarge", "emr_primary_instance_type": "m5.large"}.items():
        with pytest.raises(
            ConfigError, match=f"^Invalid setting {key}='{bad}': allowed: a Graviton instance type"
        ):
            parse_settings({**EMR, key: bad})
    with pytest.raises(ConfigError, match=r"^Invalid setting emr_release_label='emr-5\.36\.0'"):
        parse_settings({**EMR, "emr_release_label": "emr-5.36.0"})


# --- encryption ----------------------------------------------------------------------------------


def test_security_configuration_encrypts_at_rest_and_in_transit(emr: Template) -> None:
    name, configuration = only_with_id(emr, "AWS::EMR::SecurityConfiguration")
    assert cluster(emr)["SecurityConfiguration"] == {"Ref": name}
    key_name, _ = emr_key(emr)
    key = {"Fn::GetAtt": [key_name, "Arn"]}
    # EMR reads everything under EncryptionConfiguration (ManagementGuide emr-create-security-configuration).
    assert configuration["Properties"]["SecurityConfiguration"] == {
        "EncryptionConfiguration": {
            "EnableAtRestEncryption": True,
            "AtRestEncryptionConfiguration": {
                "S3EncryptionConfiguration": {"EncryptionMode": "SSE-KMS", "AwsKmsKey": key},
                "LocalDiskEncryptionConfiguration": {
                    "EncryptionKeyProviderType": "AwsKms",
                    "AwsKmsKey": key,
                    "EnableEbsEncryption": True,
                },
            },
            "EnableInTransitEncryption": True,
            "InTransitEncryptionConfiguration": {
                "TLSCertificateConfiguration": {
                    "CertificateProviderType": "PEM",
                    "S3Object": EMR_CERTIFICATES,
                }
            },
        }
    }


def test_in_transit_encryption_needs_the_users_certificates() -> None:
    """EMR creates no certificates: without the zip the synth stops with one line naming the setting."""
    with pytest.raises(ConfigError) as error:
        parse_settings({"hbase_mode": "emr"})
    assert str(error.value).startswith("Invalid setting emr_tls_certificates_s3_uri=None: allowed: s3://")
    assert "emr_in_transit_encryption=false" in str(error.value)
    with pytest.raises(ConfigError, match=r"^Invalid setting emr_tls_certificates_s3_uri='https://x/c\.zip'"):
        parse_settings({"hbase_mode": "emr", "emr_tls_certificates_s3_uri": "https://x/c.zip"})
    with pytest.raises(ConfigError, match="only with hbase_mode=emr and emr_in_transit_encryption=true"):
        parse_settings({"emr_tls_certificates_s3_uri": EMR_CERTIFICATES})
    with pytest.raises(ConfigError, match="only with hbase_mode=emr and emr_in_transit_encryption=true"):
        parse_settings({**EMR, "emr_in_transit_encryption": False})


def test_in_transit_off_is_explicit_and_warned() -> None:
    """Opting out is possible (no certificates yet) but says so at synth (construction only: the
    warning is recorded when the cluster is built; no second full synth for it)."""
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    _, stack = create_app(
        {**context, "hbase_mode": "emr", "emr_in_transit_encryption": "false"}, TEST_ENV, ISOLATED_CONFIG_DIR
    )
    assert stack.emr is not None
    configuration = stack.resolve(stack.emr.security_configuration.security_configuration)
    assert configuration["EncryptionConfiguration"]["EnableInTransitEncryption"] is False
    assert "InTransitEncryptionConfiguration" not in configuration["EncryptionConfiguration"]
    warnings = [str(entry.data) for entry in stack.emr.node.metadata if entry.type == "aws:cdk:warning"]
    assert [w for w in warnings if w.startswith("emr_in_transit_encryption=false")], warnings


# --- network -------------------------------------------------------------------------------------


def test_only_the_pinpoint_tasks_reach_zookeeper_master_and_regionservers(emr: Template) -> None:
    groups = {
        "primary": group_id(emr, "EMR-managed: HBase primary"),
        "core": group_id(emr, "EMR-managed: HBase core"),
        "service": group_id(emr, "EMR-managed: service access"),
        "primary_clients": group_id(emr, "HBase primary: ZooKeeper"),
        "core_clients": group_id(emr, "HBase core nodes: RegionServers"),
    }
    instances = cluster(emr)["Instances"]
    assert instances["EmrManagedMasterSecurityGroup"] == {"Fn::GetAtt": [groups["primary"], "GroupId"]}
    assert instances["EmrManagedSlaveSecurityGroup"] == {"Fn::GetAtt": [groups["core"], "GroupId"]}
    assert instances["ServiceAccessSecurityGroup"] == {"Fn::GetAtt": [groups["service"], "GroupId"]}
    assert instances["AdditionalMasterSecurityGroups"] == [
        {"Fn::GetAtt": [groups["primary_clients"], "GroupId"]}
    ]
    assert instances["AdditionalSlaveSecurityGroups"] == [{"Fn::GetAtt": [groups["core_clients"], "GroupId"]}]
    tasks = {
        "collector": group_id(emr, "Pinpoint collector tasks"),
        "web": group_id(emr, "Pinpoint web tasks"),
        "bootstrap": group_id(emr, "Pinpoint table bootstrap"),
    }
    by_id = {v: k for k, v in tasks.items()}
    ingress: dict[str, set[tuple[str, int, int]]] = {name: set() for name in groups}
    for rule in emr.find_resources("AWS::EC2::SecurityGroupIngress").values():
        p = rule["Properties"]
        target = p["GroupId"]["Fn::GetAtt"][0]
        for name, group in groups.items():
            if target == group:
                assert "CidrIp" not in p, p
                ingress[name].add(
                    (by_id.get(p["SourceSecurityGroupId"]["Fn::GetAtt"][0], "?"), p["FromPort"], p["ToPort"])
                )
    for name, group in groups.items():  # nothing inline either
        assert "SecurityGroupIngress" not in resources(emr)[group]["Properties"], name
    assert ingress == {
        "primary": set(),  # EMR writes its own node-to-node rules at launch
        "core": set(),
        "service": set(),
        "primary_clients": {(task, port, port) for task in tasks for port in (2181, 16000)},
        "core_clients": {(task, 16020, 16020) for task in tasks},
    }
    # And the task groups may leave only towards those groups on those ports (plus HTTPS to AWS).
    for task, group in tasks.items():
        egress = {
            (r["Properties"]["DestinationSecurityGroupId"]["Fn::GetAtt"][0], r["Properties"]["FromPort"])
            for r in emr.find_resources("AWS::EC2::SecurityGroupEgress").values()
            if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}
        }
        assert egress == {
            (groups["primary_clients"], 2181),
            (groups["primary_clients"], 16000),
            (groups["core_clients"], 16020),
        }, task
        inline = resources(emr)[group]["Properties"]["SecurityGroupEgress"]
        assert [(r["CidrIp"], r["FromPort"]) for r in inline] == [("0.0.0.0/0", 443)], task


def test_emr_groups_are_tagged_for_the_scoped_service_policy(emr: Template) -> None:
    for name, group in emr.find_resources("AWS::EC2::SecurityGroup").items():
        if name.startswith("EmrHBase"):
            assert EMR_TAG in group["Properties"]["Tags"], name


# --- roles ---------------------------------------------------------------------------------------


def test_node_role_reaches_only_the_data_root_the_log_prefix_the_certificates_and_the_key(
    emr: Template,
) -> None:
    data, _ = only_bucket(emr, "EmrHBaseData")
    logs, _ = only_bucket(emr, "EmrHBaseLogs")
    key, _ = emr_key(emr)
    granted = {
        s["Sid"]: (sorted(s["Action"]) if isinstance(s["Action"], list) else [s["Action"]], s["Resource"])
        for s in statements(emr, "EmrHBaseInstanceRole")
    }
    assert granted == {
        "DataBucket": (["s3:GetBucketLocation", "s3:ListBucket"], {"Fn::GetAtt": [data, "Arn"]}),
        "HBaseRootDir": (
            sorted(
                [
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ]
            ),
            {"Fn::Join": ["", [{"Fn::GetAtt": [data, "Arn"]}, "/hbase/*"]]},
        ),
        "Logs": (["s3:PutObject"], {"Fn::Join": ["", [{"Fn::GetAtt": [logs, "Arn"]}, "/emr-logs/*"]]}),
        "TlsCertificates": (
            ["s3:GetObject"],
            "arn:aws:s3:::example-pinpoint-certs/emr/pinpoint-certs.zip",
        ),
        "DataAndDiskKey": (
            ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"],
            {"Fn::GetAtt": [key, "Arn"]},
        ),
    }
    (role,) = [
        r for n, r in emr.find_resources("AWS::IAM::Role").items() if n.startswith("EmrHBaseInstanceRole")
    ]
    assert (
        "ManagedPolicyArns" not in role["Properties"]
    )  # not the deprecated AmazonElasticMapReduceforEC2Role
    profile_name, _ = only_with_id(emr, "AWS::IAM::InstanceProfile")
    assert cluster(emr)["JobFlowRole"] == {"Ref": profile_name}


def test_service_role_is_the_scoped_v2_policy_and_may_pass_only_the_node_role(emr: Template) -> None:
    (name, role) = next(
        (n, r) for n, r in emr.find_resources("AWS::IAM::Role").items() if n.startswith("EmrHBaseServiceRole")
    )
    assert cluster(emr)["ServiceRole"] == {"Fn::GetAtt": [name, "Arn"]}
    assert json.dumps(role["Properties"]["ManagedPolicyArns"]).endswith(
        ':iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"]]}]'
    )
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "elasticmapreduce.amazonaws.com"}
    assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]
    (node_role,) = [n for n in emr.find_resources("AWS::IAM::Role") if n.startswith("EmrHBaseInstanceRole")]
    (pass_role,) = [s for s in statements(emr, "EmrHBaseServiceRole") if s["Action"] == "iam:PassRole"]
    assert pass_role["Resource"] == {"Fn::GetAtt": [node_role, "Arn"]}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    grants = [s for s in statements(emr, "EmrHBaseServiceRole") if "kms:CreateGrant" in s["Action"]]
    assert [g["Condition"] for g in grants] == [{"Bool": {"kms:GrantIsForAWSResource": True}}]


def test_no_wildcard_actions_in_the_emr_roles(emr: Template) -> None:
    for prefix in ("EmrHBaseInstanceRole", "EmrHBaseServiceRole"):
        for statement in statements(emr, prefix):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not [a for a in actions if "*" in a], (prefix, actions)


# --- what applications and scripts see -----------------------------------------------------------


def test_collectors_find_zookeeper_on_the_primary_nodes_private_name(emr: Template) -> None:
    cluster_name, _ = only_with_id(emr, "AWS::EMR::Cluster")
    quorum = {"Fn::Join": ["", [{"Fn::GetAtt": [cluster_name, "MasterPublicDNS"]}, ":2181"]]}
    for name, task in emr.find_resources("AWS::ECS::TaskDefinition").items():
        (container,) = task["Properties"]["ContainerDefinitions"]
        env = {e["Name"]: e["Value"] for e in container["Environment"]}
        if env.get("PINPOINT_ROLE") in {"collector", "web", "bootstrap"}:
            assert env["PINPOINT_HBASE_ZOOKEEPER_QUORUM"] == quorum, name
            assert env["PINPOINT_HBASE_ZNODE_PARENT"] == "/hbase", name
    assert emr.find_outputs("EmrClusterId")["EmrClusterId"]["Value"] == {"Ref": cluster_name}
    assert emr.find_outputs("HBaseMode")["HBaseMode"]["Value"] == "emr"


def test_no_emr_outside_emr_mode(template: Template) -> None:
    for variant in (template, synth(**EXTERNAL)):
        assert not variant.find_resources("AWS::EMR::Cluster")
        assert "EmrClusterId" not in variant.find_outputs("*")


def test_emr_uses_the_default_znode_parent() -> None:
    with pytest.raises(
        ConfigError, match=r"^Invalid setting hbase_znode_parent='/pinpoint': allowed: /hbase with"
    ):
        parse_settings({**EMR, "hbase_znode_parent": "/pinpoint"})

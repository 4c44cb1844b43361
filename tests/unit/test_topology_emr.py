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
from stacks.constructs.emr_hbase import cluster_configurations, generation
from stacks.pinpoint_stack import PinpointStack
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


def constructed(**overrides: Any) -> PinpointStack:
    """The app built (not synthesized: no cdk-nag, no assembly) for cdk.json plus ``overrides``;
    half a second, for settings whose whole template other tests check."""
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    _, stack = create_app({**context, **overrides}, TEST_ENV, ISOLATED_CONFIG_DIR)
    return stack


def resolved_cluster(stack: PinpointStack) -> dict[str, Any]:
    assert stack.emr is not None
    return stack.resolve(
        stack.emr.cluster._render_properties(stack.resolve(stack.emr.cluster._cfn_properties))
    )


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


def classifications(properties: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["Classification"]: c["ConfigurationProperties"] for c in properties["Configurations"]}


def test_cluster_runs_hbase_on_s3_in_the_stacks_bucket_with_the_wal_in_emr_wal(emr: Template) -> None:
    properties = cluster(emr)
    assert properties["Applications"] == [{"Name": "HBase"}]
    assert properties["ReleaseLabel"] == "emr-7.13.0"
    found = classifications(properties)
    # ReleaseGuide emr-hbase-s3, emr-hbase-wal-enabling: both in the "hbase" classification.
    assert found["hbase"] == {"hbase.emr.storageMode": "s3", "hbase.emr.wal.enabled": "true"}
    assert "hdfs-site" not in found
    data_bucket, _ = only_bucket(emr, "EmrHBaseData")
    root = found["hbase-site"]["hbase.rootdir"]["Fn::Join"][1]
    assert root[:2] == ["s3://", {"Ref": data_bucket}]
    assert re.fullmatch(r"/hbase/[0-9a-f]{12}", root[2])
    assert emr.find_outputs("EmrHBaseRootDir")["EmrHBaseRootDir"]["Value"] == {"Fn::Join": ["", root]}


def test_without_emr_wal_the_wal_keeps_two_hdfs_copies_on_two_core_nodes() -> None:
    """EMR sets dfs.replication=1 below four core nodes (ReleaseGuide emr-hdfs-config)."""
    config = parse_settings({**EMR, "emr_wal": "false"})
    found = {
        c["Classification"]: c["ConfigurationProperties"] for c in cluster_configurations(config, "s3://b/r")
    }
    assert found == {
        "hbase": {"hbase.emr.storageMode": "s3"},
        "hbase-site": {"hbase.rootdir": "s3://b/r", "hbase.server.netty.tls.supportplaintext": "true"},
        "hdfs-site": {"dfs.replication": "2"},
    }
    with pytest.raises(
        ConfigError, match=r"^Invalid setting emr_core_instance_count=1: allowed with emr_wal=false: 2"
    ):
        parse_settings({**EMR, "emr_wal": "false", "emr_core_instance_count": 1})
    with pytest.raises(
        ConfigError,
        match=r"^Invalid setting emr_release_label='emr-6\.14\.0': allowed with emr_wal=true: emr-6\.15\.0",
    ):
        parse_settings({**EMR, "emr_release_label": "emr-6.14.0"})
    assert parse_settings({**EMR, "emr_release_label": "emr-6.14.0", "emr_wal": "false"}).emr_wal is False


def test_the_root_directory_is_named_after_what_would_replace_the_cluster(emr: Template) -> None:
    """The root is the cluster's replacement fingerprint (stacks/constructs/replacement.py), read
    back from the synthesized template: what the construct saw while building is what deploys."""
    resources_ = resources(emr)
    cluster_id, _ = only_with_id(emr, "AWS::EMR::Cluster")
    root = classifications(cluster(emr))["hbase-site"]["hbase.rootdir"]["Fn::Join"][1][2]
    assert root == f"/hbase/{generation(resources_, cluster_id)}"


@pytest.fixture(scope="module")
def variants() -> dict[str, PinpointStack]:
    """The EMR app under settings that replace the cluster, and settings that update it in place."""
    base = {**EMR, "collector_allowed_cidrs": ""}
    changes: dict[str, dict[str, Any]] = {
        "base": {},
        # AWS::EMR::Cluster InstanceGroupConfig InstanceType: "Update requires: Replacement"
        "core type": {"emr_core_instance_type": "m7g.2xlarge"},
        # Configurations (create-only): the WAL's place
        "wal": {"emr_wal": "false"},
        # through the security configuration the cluster references (its content is create-only)
        "certificates": {"emr_tls_certificates_s3_uri": "s3://example-pinpoint-certs/emr/rotated.zip"},
        # in place: InstanceCount "No interruption"; nothing of the cluster
        "in place": {"emr_core_instance_count": 4, "collector_max_count": 9, "hbase_ttl_days": 30},
    }
    return {name: constructed(**{**base, **change}) for name, change in changes.items()}


def test_each_cluster_that_replaces_another_gets_a_root_of_its_own(
    variants: dict[str, PinpointStack],
) -> None:
    roots = {name: stack.emr.root_dir for name, stack in variants.items() if stack.emr}
    replacing = ["core type", "wal", "certificates"]  # the others: tests/unit/test_emr_replacement.py
    assert len({roots[name] for name in ["base", *replacing]}) == 1 + len(replacing), roots
    assert roots["in place"] == roots["base"]
    core = resolved_cluster(variants["core type"])["Instances"]["CoreInstanceGroup"]
    assert core["InstanceType"] == "m7g.2xlarge"
    assert resolved_cluster(variants["in place"])["Instances"]["CoreInstanceGroup"]["InstanceCount"] == 4


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
    assert instances["TerminationProtected"] is False  # see test_termination_protection_...
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
    for release in ("emr-5.36.0", "emr-8.0.0"):  # HBase 1.x; 8.x's service access is a VPC endpoint
        with pytest.raises(ConfigError, match=rf"^Invalid setting emr_release_label='{re.escape(release)}'"):
            parse_settings({**EMR, "emr_release_label": release})


def test_termination_protection_comes_after_the_tables_and_goes_before_the_cluster(emr: Template) -> None:
    """A protected cluster cannot be deleted by a rollback: protection is a resource of its own that
    depends on the table bootstrap, turns SetTerminationProtection on for this cluster (its id is
    the physical id, so a replaced cluster means a new resource) and off again when deleted."""
    ((_, protection),) = emr.find_resources("Custom::EmrTerminationProtection").items()
    cluster_id, _ = only_with_id(emr, "AWS::EMR::Cluster")
    (bootstrap,) = emr.find_resources("Custom::PinpointTableBootstrap")
    assert bootstrap in protection["DependsOn"]

    def call(kind: str) -> dict[str, Any]:
        parts = protection["Properties"][kind]["Fn::Join"][1]
        assert {"Ref": cluster_id} in parts
        return json.loads("".join(p if isinstance(p, str) else "j-CLUSTER" for p in parts))

    for kind, protected in (("Create", True), ("Update", True), ("Delete", False)):
        sdk_call = call(kind)
        assert (sdk_call["service"], sdk_call["action"]) == ("EMR", "setTerminationProtection"), kind
        assert sdk_call["parameters"] == {"JobFlowIds": ["j-CLUSTER"], "TerminationProtected": protected}, (
            kind
        )
        assert sdk_call["physicalResourceId"] == {"id": "j-CLUSTER"}, kind
    assert "ignoreErrorCodesMatching" not in call("Create")  # protecting must succeed
    # Its function may call exactly that, on this cluster only, and write its own log group.
    (logs_group,) = [
        n for n in emr.find_resources("AWS::Logs::LogGroup") if n.startswith("EmrHBaseTerminationProtection")
    ]
    granted = {
        json.dumps(s["Action"]): s["Resource"]
        for p in emr.find_resources("AWS::IAM::Policy").values()
        if p["Properties"]["PolicyName"].startswith("EmrHBaseTerminationProtection")
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    }
    assert granted == {
        json.dumps(["logs:CreateLogStream", "logs:PutLogEvents"]): {"Fn::GetAtt": [logs_group, "Arn"]},
        json.dumps("elasticmapreduce:SetTerminationProtection"): {
            "Fn::Join": [
                "",
                ["arn:aws:elasticmapreduce:eu-west-1:123456789012:cluster/", {"Ref": cluster_id}],
            ]
        },
    }


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
    # Whatever TLS EMR turns on for HBase RPC, Pinpoint's plaintext HBase 2.5 client still connects
    # (HBase 2.6 NettyRpcServer: hbase.server.netty.tls.supportplaintext, default true).
    assert classifications(cluster(emr))["hbase-site"]["hbase.server.netty.tls.supportplaintext"] == "true"


def test_in_transit_encryption_is_on_exactly_when_certificates_are_given() -> None:
    """EMR creates no certificates, so `hbase_mode=emr` alone deploys without in-transit encryption;
    the certificate zip turns it on; asking for one without the other is one clear line."""
    assert parse_settings({"hbase_mode": "emr"}).emr_in_transit is False
    assert parse_settings(EMR).emr_in_transit is True
    with pytest.raises(ConfigError) as error:
        parse_settings({"hbase_mode": "emr", "emr_in_transit_encryption": "true"})
    assert str(error.value).startswith("Invalid setting emr_tls_certificates_s3_uri=None: allowed: s3://")
    assert "leave emr_in_transit_encryption unset" in str(error.value)
    with pytest.raises(ConfigError, match=r"^Invalid setting emr_tls_certificates_s3_uri='https://x/c\.zip'"):
        parse_settings({"hbase_mode": "emr", "emr_tls_certificates_s3_uri": "https://x/c.zip"})
    for settings in (
        {"emr_tls_certificates_s3_uri": EMR_CERTIFICATES},
        {**EMR, "emr_in_transit_encryption": False},
    ):
        with pytest.raises(ConfigError, match="only with hbase_mode=emr and in-transit encryption"):
            parse_settings(settings)


def test_without_certificates_in_transit_is_off_and_warned() -> None:
    """Construction only: the warning is recorded when the cluster is built (no second full synth)."""
    stack = constructed(hbase_mode="emr")
    assert stack.emr is not None
    configuration = stack.resolve(stack.emr.security_configuration.security_configuration)
    assert configuration["EncryptionConfiguration"]["EnableInTransitEncryption"] is False
    assert "InTransitEncryptionConfiguration" not in configuration["EncryptionConfiguration"]
    assert (
        "hbase.server.netty.tls.supportplaintext"
        not in classifications(resolved_cluster(stack))["hbase-site"]
    )
    warnings = [str(entry.data) for entry in stack.emr.node.metadata if entry.type == "aws:cdk:warning"]
    assert [w for w in warnings if w.startswith("EMR in-transit encryption is off")], warnings


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
    by_id = {v: k for k, v in tasks.items()} | {v: k for k, v in groups.items()}
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
        # EMR writes its own node-to-node rules at launch, and adds missing inbound rules; these are
        # the service-access ones (ManagementGuide emr-man-sec-groups, private subnets, 5.30.0-7.x).
        "primary": {("service", 8443, 8443)},
        "core": {("service", 8443, 8443)},
        "service": {("primary", 9443, 9443)},
        "primary_clients": {(task, port, port) for task in tasks for port in (2181, 16000)},
        "core_clients": {(task, 16020, 16020) for task in tasks},
    }
    # EMR writes no outbound rule into the service-access group: 8443 to the primary and core groups.
    service_egress = {
        (by_id[r["Properties"]["DestinationSecurityGroupId"]["Fn::GetAtt"][0]], r["Properties"]["FromPort"])
        for r in emr.find_resources("AWS::EC2::SecurityGroupEgress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [groups["service"], "GroupId"]}
    }
    assert service_egress == {("primary", 8443), ("core", 8443)}
    inline = resources(emr)[groups["service"]]["Properties"].get("SecurityGroupEgress", [])
    assert [r for r in inline if r.get("CidrIp") != "255.255.255.255/32"] == []  # nothing else leaves
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


def test_node_role_reaches_only_the_data_root_the_log_prefix_the_certificates_the_key_and_emr_wal(
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
            [
                {"Fn::Join": ["", [{"Fn::GetAtt": [data, "Arn"]}, "/hbase/*"]]},
                # EMRFS's marker for the hbase/ directory (AWS knowledge center emr-s3-empty-files)
                {"Fn::Join": ["", [{"Fn::GetAtt": [data, "Arn"]}, "/hbase_$folder$"]]},
            ],
        ),
        "Logs": (["s3:PutObject"], {"Fn::Join": ["", [{"Fn::GetAtt": [logs, "Arn"]}, "/emr-logs/*"]]}),
        # ReleaseGuide emr-hbase-wal-permissions: exactly the documented actions.
        "EmrWal": (
            sorted(
                f"emrwal:{action}"
                for action in [
                    *("DeleteWal", "CreateWal", "CreateWorkspace", "AppendEdit", "ReplayEdits"),
                    *("GetCurrentWalTime", "CompleteWalFlush", "ListWALs", "DescribeWAL", "TrimWAL"),
                    *("ArchiveWAL", "ArchiveWALCheckPoint"),
                ]
            ),
            "*",
        ),
        "EmrWalServiceLinkedRole": (
            ["iam:CreateServiceLinkedRole", "iam:PutRolePolicy"],
            {
                "Fn::Join": [
                    "",
                    [
                        "arn:",
                        {"Ref": "AWS::Partition"},
                        ":iam::",
                        {"Ref": "AWS::AccountId"},
                        ":role/aws-service-role/emrwal.amazonaws.com/AWSServiceRoleForEMRWAL*",
                    ],
                ]
            },
        ),
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
    (slr,) = [s for s in statements(emr, "EmrHBaseInstanceRole") if s["Sid"] == "EmrWalServiceLinkedRole"]
    assert slr["Condition"] == {"StringLike": {"iam:AWSServiceName": ["emrwal.amazonaws.com"]}}


def test_instance_profile_carries_its_roles_name(emr: Template) -> None:
    """Otherwise EMR fails with "invalid instance profile" (ManagementGuide emr-iam-roles-custom)."""
    profile_name, profile = only_with_id(emr, "AWS::IAM::InstanceProfile")
    assert cluster(emr)["JobFlowRole"] == {"Ref": profile_name}
    (role,) = [n for n in emr.find_resources("AWS::IAM::Role") if n.startswith("EmrHBaseInstanceRole")]
    assert profile["Properties"] == {"InstanceProfileName": {"Ref": role}, "Roles": [{"Ref": role}]}


def test_without_emr_wal_the_node_role_has_no_wal_permissions() -> None:
    stack = constructed(**EMR, emr_wal="false")
    assert stack.emr is not None
    document = stack.resolve(stack.emr.instance_role.node.find_child("DefaultPolicy").document)
    assert {s["Sid"] for s in document["Statement"]} == {
        "DataBucket",
        "HBaseRootDir",
        "Logs",
        "TlsCertificates",
        "DataAndDiskKey",
    }


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


def test_no_wildcard_actions_in_the_emr_roles(emr: Template) -> None:  # emrwal:* included
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

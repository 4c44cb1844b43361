"""The agent distribution construct: the custom resource, its Lambda, and the settings it carries."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match, Template

from stacks.config import ConfigError, parse_settings
from stacks.constructs.agent_distribution import AGENT_VERSION, HANDLER_DIR, LAMBDA_MOUNT_PATH, agent_jar_path
from tests.unit.conftest import SAMPLE_APP, synth, synth_stack
from tests.unit.test_agent_distribution_handler import h

REPO_ROOT = Path(__file__).resolve().parents[2]


def only(template: Template, resource_type: str) -> tuple[str, dict[str, Any]]:
    resources = template.find_resources(resource_type)
    assert len(resources) == 1, f"{len(resources)} {resource_type}"
    return next(iter(resources.items()))


def distribution_properties(template: Template) -> dict[str, Any]:
    return only(template, "Custom::PinpointAgent")[1]["Properties"]


def test_agent_version_matches_the_collector_image() -> None:
    dockerfile = (REPO_ROOT / "images" / "pinpoint" / "Dockerfile").read_text()
    match = re.search(r"^ARG PINPOINT_VERSION=(\S+)$", dockerfile, re.M)
    assert match, "images/pinpoint/Dockerfile has no ARG PINPOINT_VERSION default"
    assert match.group(1) == AGENT_VERSION


def test_custom_resource_pins_the_release(template: Template) -> None:
    properties = distribution_properties(template)
    assert properties["Version"] == AGENT_VERSION
    assert properties["DownloadBaseUrl"] == "https://github.com/pinpoint-apm/pinpoint/releases/download"
    assert properties["KeepVersions"] == "3"


def test_bundle_config_points_at_the_collector_dns_name_and_ports(template: Template) -> None:
    """What the template hands the handler renders to the Service Connect name and ports."""
    settings = h.AgentSettings.from_mapping(json.loads(distribution_properties(template)["Settings"]))
    properties = h.agent_properties(settings)
    expected = {"agent": 9991, "metadata": 9991, "stat": 9992, "span": 9993}
    for channel, port in expected.items():
        assert properties[f"profiler.transport.grpc.{channel}.collector.ip"] == "pinpoint"
        assert properties[f"profiler.transport.grpc.{channel}.collector.port"] == str(port)
    assert settings.profile == "release"
    assert properties["profiler.sampling.type"] == "PERCENT"
    assert properties["profiler.sampling.percent.sampling-rate"] == "100"
    assert properties["profiler.server.excludeurl"] == "/,/actuator/prometheus"


def test_missing_checksum_is_passed_empty_and_warned_about_at_synth(template: Template) -> None:
    assert distribution_properties(template)["Sha512"] == ""
    Annotations.from_stack(synth_stack()).has_warning(
        "/PinpointOnFargate/AgentDistribution", Match.string_like_regexp("agent_sha512 is not set")
    )


def test_lambda_runs_arm64_in_the_private_subnets_with_the_access_point(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Architectures": ["arm64"],
            "Runtime": Match.string_like_regexp(r"^python3\.1[2-9]$"),
            "Handler": "handler.handler",
            "Environment": {"Variables": {"AGENT_ROOT": LAMBDA_MOUNT_PATH}},
            "FileSystemConfigs": [
                {
                    "Arn": Match.any_value(),
                    "LocalMountPath": LAMBDA_MOUNT_PATH,
                }
            ],
            "VpcConfig": {
                "SubnetIds": [{"Ref": Match.string_like_regexp("privateSubnet1")}, Match.any_value()],
                "SecurityGroupIds": [
                    {"Fn::GetAtt": [Match.string_like_regexp("^AgentDistributionSecurityGroup"), "GroupId"]}
                ],
            },
        },
    )
    # One attempt: a retry after a timeout would race the answer already sent to CloudFormation.
    template.has_resource_properties("AWS::Lambda::EventInvokeConfig", {"MaximumRetryAttempts": 0})


def test_lambda_may_write_only_through_the_agent_access_point(template: Template) -> None:
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": Match.string_like_regexp("^AgentDistributionRole")}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                            "Effect": "Allow",
                            "Resource": {
                                "Fn::GetAtt": [Match.string_like_regexp("^AgentVolumeFileSystem"), "Arn"]
                            },
                            "Condition": {
                                "StringEquals": {"elasticfilesystem:AccessPointArn": Match.any_value()},
                                "Bool": {"elasticfilesystem:AccessedViaMountTarget": "true"},
                            },
                        }
                    ]
                )
            },
        },
    )


def test_lambda_network_reach_is_https_and_nfs_only(template: Template) -> None:
    _, group = next(
        (name, r)
        for name, r in template.find_resources("AWS::EC2::SecurityGroup").items()
        if name.startswith("AgentDistributionSecurityGroup")
    )
    assert group["Properties"]["SecurityGroupEgress"] == [
        {"CidrIp": "0.0.0.0/0", "Description": "HTTPS", "FromPort": 443, "IpProtocol": "tcp", "ToPort": 443}
    ]
    egress = [
        r["Properties"]
        for name, r in template.find_resources("AWS::EC2::SecurityGroupEgress").items()
        if name.startswith("AgentDistributionSecurityGroup")
    ]
    assert [(e["FromPort"], e["ToPort"]) for e in egress] == [(2049, 2049)]
    template.has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        {
            "FromPort": 2049,
            "ToPort": 2049,
            "GroupId": {"Fn::GetAtt": [Match.string_like_regexp("^AgentVolumeSecurityGroup"), "GroupId"]},
            "SourceSecurityGroupId": {
                "Fn::GetAtt": [Match.string_like_regexp("^AgentDistributionSecurityGroup"), "GroupId"]
            },
        },
    )


def test_lambda_asset_is_the_handler_alone() -> None:
    assert sorted(p.name for p in HANDLER_DIR.iterdir() if p.name != "__pycache__") == ["handler.py"]
    # Stdlib only: the Lambda runtime has nothing else.
    imports = re.findall(r"^(?:from|import) (\w+)", (HANDLER_DIR / "handler.py").read_text(), re.M)
    assert set(imports) <= {
        "__future__", "hashlib", "json", "logging", "os", "re", "shutil", "tarfile", "tempfile",
        "threading", "time", "urllib", "uuid", "collections", "contextlib", "dataclasses", "pathlib", "typing",
    }  # fmt: skip


def test_outputs_name_the_javaagent_path(template: Template) -> None:
    template.has_output("AgentJavaagentPath", {"Value": agent_jar_path("/pinpoint-agent")})
    assert (
        agent_jar_path("/pinpoint-agent") == f"/pinpoint-agent/current/pinpoint-bootstrap-{AGENT_VERSION}.jar"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"agent_sha512": "abc"},
            "Invalid setting agent_sha512='abc': allowed: 128 hex digits, the sha512sum of the agent release tarball",
        ),
        (
            {"agent_sampling_percent": 0.001},
            "Invalid setting agent_sampling_percent=0.001: allowed: 0.01 to 100 in steps of 0.01 "
            "(the agent's sampling resolution)",
        ),
    ],
)
def test_agent_setting_errors_are_one_line(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_settings(raw)
    assert str(error.value) == message


def test_checksum_is_normalised_and_passed_to_the_deploy() -> None:
    assert parse_settings({"agent_sha512": "AB" * 64}).agent_sha512 == "ab" * 64
    properties = distribution_properties(synth(**SAMPLE_APP))
    assert properties["Sha512"] == "ab" * 64

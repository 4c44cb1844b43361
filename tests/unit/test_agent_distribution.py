"""The agent distribution construct: the custom resource, its Lambda, and the settings it carries."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from stacks.config import ConfigError, parse_settings
from stacks.constructs.agent_distribution import (
    HANDLER_DIR,
    LAMBDA_MOUNT_PATH,
    LAMBDA_TIMEOUT,
    SERVICE_TIMEOUT,
    agent_jar_path,
    apm_opts,
)
from stacks.versions import PINPOINT_VERSION
from tests.unit.conftest import CUSTOMIZED, EXISTING_VPC, HTTPS_FROM_ECR, SAMPLE_APP, synth, synthesized
from tests.unit.template_queries import only_with_id
from tests.unit.test_agent_distribution_handler import h, resolve

REPO_ROOT = Path(__file__).resolve().parents[2]


def distribution_properties(template: Template) -> dict[str, Any]:
    return only_with_id(template, "Custom::PinpointAgent")[1]["Properties"]


def test_agent_version_matches_the_collector_image() -> None:
    dockerfile = (REPO_ROOT / "images" / "pinpoint" / "Dockerfile").read_text()
    match = re.search(r"^ARG PINPOINT_VERSION=(\S+)$", dockerfile, re.M)
    assert match, "images/pinpoint/Dockerfile has no ARG PINPOINT_VERSION default"
    assert match.group(1) == PINPOINT_VERSION == parse_settings({}).pinpoint_version == "3.1.0"


def test_custom_resource_pins_the_release(template: Template) -> None:
    properties = distribution_properties(template)
    assert properties["Version"] == PINPOINT_VERSION
    assert properties["DownloadBaseUrl"] == "https://github.com/pinpoint-apm/pinpoint/releases/download"
    assert properties["KeepVersions"] == "3"


def test_bundle_config_points_at_the_collector_dns_name_and_ports(template: Template) -> None:
    """What the template hands the handler renders to the Service Connect name and ports."""
    settings = h.AgentSettings.from_mapping(json.loads(distribution_properties(template)["Settings"]))
    properties = resolve(h.agent_properties(settings))
    expected = {"agent": 9991, "metadata": 9991, "stat": 9992, "span": 9993}
    for channel, port in expected.items():
        assert properties[f"profiler.transport.grpc.{channel}.collector.ip"] == "pinpoint"
        assert properties[f"profiler.transport.grpc.{channel}.collector.port"] == str(port)
    assert settings.profile == "release"
    assert properties["profiler.sampling.type"] == "PERCENT"
    assert properties["profiler.sampling.percent.sampling-rate"] == "100"
    assert properties["profiler.server.excludeurl"] == "/,/actuator/prometheus"


def warnings_at(path: str, **overrides: Any) -> list[str]:
    return [entry["data"] for at, entry in synthesized(**overrides).entries("aws:cdk:warning") if at == path]


def test_missing_checksum_is_passed_empty_and_warned_about_at_synth(template: Template) -> None:
    assert distribution_properties(template)["Sha512"] == ""
    (warning,) = warnings_at("/PinpointOnFargate/AgentDistribution")
    assert warning.startswith("agent_sha512 is not set")
    assert warnings_at("/PinpointOnFargate/AgentDistribution", **SAMPLE_APP) == []  # checksum set


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


def test_lambda_asset_is_the_handler_and_the_agents_log_configuration_alone() -> None:
    assert sorted(p.name for p in HANDLER_DIR.iterdir() if p.name != "__pycache__") == [
        "handler.py",
        "log4j2-agent.properties",
    ]
    # Stdlib only: the Lambda runtime has nothing else.
    imports = re.findall(r"^(?:from|import) (\w+)", (HANDLER_DIR / "handler.py").read_text(), re.M)
    assert set(imports) <= {
        "__future__", "hashlib", "json", "logging", "os", "re", "shutil", "tarfile", "tempfile",
        "threading", "time", "urllib", "uuid", "collections", "contextlib", "dataclasses", "pathlib", "typing",
    }  # fmt: skip


def test_outputs_name_the_version_less_javaagent_path(template: Template) -> None:
    """A version bump must never leave APM_OPTS naming a jar the new bundle lacks."""
    template.has_output("AgentJavaagentPath", {"Value": "/pinpoint-agent/current/pinpoint-bootstrap.jar"})
    assert agent_jar_path("/apm") == "/apm/current/pinpoint-bootstrap.jar"


def test_apm_opts_output_marks_the_agent_as_a_container_with_a_placeholder_name(template: Template) -> None:
    # -Dpinpoint.container: ContainerResolver.CONTAINER_PROPERTY_KEY (agent-module/profiler, v3.1.0);
    # without it a Fargate task (no /.dockerenv, no KUBERNETES_SERVICE_HOST) is not a container.
    expected = (
        "-javaagent:/pinpoint-agent/current/pinpoint-bootstrap.jar "
        "-Dpinpoint.applicationName=<application-name> -Dpinpoint.container=true"
    )
    template.has_output("ApmOpts", {"Value": expected})
    assert apm_opts("/pinpoint-agent", "<application-name>") == expected


def test_the_configured_release_reaches_the_image_build_and_the_distribution() -> None:
    """pinpoint_version decides both: the asset's PINPOINT_VERSION build arg and the agent."""
    assert _docker_build_args() == {"PINPOINT_VERSION": PINPOINT_VERSION}
    # image_build_args (mirrors, checksums) come on top; the version stays the setting's.
    assert _docker_build_args(**CUSTOMIZED)["PINPOINT_VERSION"] == PINPOINT_VERSION
    with pytest.raises(ConfigError, match=r"build arg PINPOINT_VERSION comes from pinpoint_version"):
        parse_settings({"image_build_args": {"PINPOINT_VERSION": "3.0.1"}})


def test_lambda_description_and_warning_name_the_configured_release(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Description": f"Installs the Pinpoint agent {PINPOINT_VERSION} on the agent EFS access point"},
    )
    (warning,) = warnings_at("/PinpointOnFargate/AgentDistribution")
    assert f"unverified pinpoint-agent-{PINPOINT_VERSION}.tar.gz" in warning


def test_custom_resource_gives_up_after_minutes_not_the_default_hour() -> None:
    """An EFS mount error fails the Lambda before the handler can answer: CloudFormation waits
    ServiceTimeout (default 3600 s), longer than the Lambda may run, far below an hour."""
    for overrides in ({}, SAMPLE_APP, EXISTING_VPC, HTTPS_FROM_ECR):
        properties = distribution_properties(synth(**overrides))
        assert properties["ServiceTimeout"] == str(SERVICE_TIMEOUT.to_seconds())
    assert LAMBDA_TIMEOUT.to_seconds() < SERVICE_TIMEOUT.to_seconds() <= 20 * 60
    synth().has_resource_properties("AWS::Lambda::Function", {"Timeout": LAMBDA_TIMEOUT.to_seconds()})


def _docker_build_args(**overrides: Any) -> dict[str, str]:
    """Build args of the stack's one Docker asset (the Pinpoint image cdk deploy builds)."""
    (image,) = synthesized(**overrides).docker_images()
    return image["source"]["dockerBuildArgs"]

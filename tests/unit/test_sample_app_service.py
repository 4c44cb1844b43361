"""The optional sample service: agent mounted read-only over TLS with IAM, APM_OPTS, network reach."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from stacks.config import ConfigError, parse_settings
from tests.unit.conftest import SAMPLE_APP, synth

REPO_ROOT = Path(__file__).resolve().parents[2]
SHA = "ab" * 64


@pytest.fixture(scope="module")
def sample() -> Template:
    # The same overrides as test_agent_distribution.py: one synth shared by both files.
    return synth(**SAMPLE_APP)


def sample_task_definition(template: Template) -> dict[str, Any]:
    (definition,) = [
        r["Properties"]
        for name, r in template.find_resources("AWS::ECS::TaskDefinition").items()
        if name.startswith("SampleApp")
    ]
    return definition


def logical_id(template: Template, resource_type: str, prefix: str) -> str:
    (name,) = [name for name in template.find_resources(resource_type) if name.startswith(prefix)]
    return name


def test_disabled_by_default(template: Template) -> None:
    assert not [name for name in template.to_json()["Resources"] if name.startswith("SampleApp")]


def test_task_is_arm64_fargate(sample: Template) -> None:
    definition = sample_task_definition(sample)
    assert definition["RuntimePlatform"] == {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}
    assert definition["RequiresCompatibilities"] == ["FARGATE"]
    assert (definition["Cpu"], definition["Memory"]) == ("512", "1024")


def test_agent_volume_uses_transit_encryption_and_iam_through_the_access_point(sample: Template) -> None:
    (volume,) = sample_task_definition(sample)["Volumes"]
    configuration = volume["EFSVolumeConfiguration"]
    assert configuration["TransitEncryption"] == "ENABLED"
    assert configuration["AuthorizationConfig"]["IAM"] == "ENABLED"
    assert configuration["AuthorizationConfig"]["AccessPointId"] == {
        "Ref": logical_id(sample, "AWS::EFS::AccessPoint", "AgentVolume")
    }
    assert volume["Name"] == "pinpoint-agent"


def test_agent_is_mounted_read_only_at_the_configured_path(sample: Template) -> None:
    (container,) = sample_task_definition(sample)["ContainerDefinitions"]
    assert container["MountPoints"] == [
        {"ContainerPath": "/pinpoint-agent", "ReadOnly": True, "SourceVolume": "pinpoint-agent"}
    ]


def test_apm_opts_load_the_agent_and_name_the_application(sample: Template) -> None:
    (container,) = sample_task_definition(sample)["ContainerDefinitions"]
    environment = {item["Name"]: item["Value"] for item in container["Environment"]}
    assert environment["APM_OPTS"] == (
        "-javaagent:/pinpoint-agent/current/pinpoint-bootstrap.jar -Dpinpoint.applicationName=sample-app"
        " -Dpinpoint.container=true"
    )
    # The agentId is per task, derived by the image's entrypoint, never a shared constant.
    assert "agentId" not in environment["APM_OPTS"]


def test_task_role_may_only_mount_read_only(sample: Template) -> None:
    policy_id = logical_id(sample, "AWS::IAM::ManagedPolicy", "AgentVolumeReadOnlyMountPolicy")
    role_id = logical_id(sample, "AWS::IAM::Role", "SampleAppTaskDefinitionTaskRole")
    role = sample.to_json()["Resources"][role_id]["Properties"]
    assert role["ManagedPolicyArns"] == [{"Ref": policy_id}]
    (statement,) = sample.to_json()["Resources"][policy_id]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "elasticfilesystem:ClientMount"
    # No inline policy gives the task role anything else on EFS.
    for policy in sample.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            assert "elasticfilesystem" not in str(policy["Properties"]["PolicyDocument"])


def test_service_is_a_service_connect_client_in_the_application_group(sample: Template) -> None:
    service_id = logical_id(sample, "AWS::ECS::Service", "SampleAppService")
    service = sample.to_json()["Resources"][service_id]
    properties = service["Properties"]
    connect = properties["ServiceConnectConfiguration"]
    assert connect["Enabled"] is True
    namespace = logical_id(sample, "AWS::ServiceDiscovery::HttpNamespace", "")
    assert connect["Namespace"] == {"Fn::GetAtt": [namespace, "Arn"]}
    assert "Services" not in connect  # client only: publishes nothing
    network = properties["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["SecurityGroups"] == [
        {"Fn::GetAtt": [logical_id(sample, "AWS::EC2::SecurityGroup", "ApplicationSecurityGroup"), "GroupId"]}
    ]
    assert network["AssignPublicIp"] == "DISABLED"
    # Tasks start after the agent is on the volume.
    assert logical_id(sample, "Custom::PinpointAgent", "AgentDistribution") in service["DependsOn"]


def test_sample_service_starts_after_the_collector_service(sample: Template) -> None:
    """A task resolves only the Service Connect endpoints that existed when it started: the
    client created in the same deploy must wait for the collector's service."""
    service = sample.to_json()["Resources"][logical_id(sample, "AWS::ECS::Service", "SampleAppService")]
    assert logical_id(sample, "AWS::ECS::Service", "PinpointService") in service["DependsOn"]


def test_application_group_reaches_the_collector_ports_and_nfs_only(sample: Template) -> None:
    app_group = logical_id(sample, "AWS::EC2::SecurityGroup", "ApplicationSecurityGroup")
    reach: dict[str, set[tuple[int, int]]] = {}
    for rule in sample.find_resources("AWS::EC2::SecurityGroupIngress").values():
        properties = rule["Properties"]
        if properties.get("SourceSecurityGroupId") == {"Fn::GetAtt": [app_group, "GroupId"]}:
            target = properties["GroupId"]["Fn::GetAtt"][0]
            reach.setdefault(re.sub(r"[0-9A-F]{8}$", "", target), set()).add(
                (properties["FromPort"], properties["ToPort"])
            )
    assert reach == {
        "PinpointSecurityGroup": {(9991, 9991), (9992, 9992), (9993, 9993)},
        "AgentVolumeSecurityGroup": {(2049, 2049)},
    }
    # Nothing may connect to the sample service: no ingress into the application group.
    group = sample.to_json()["Resources"][app_group]["Properties"]
    assert "SecurityGroupIngress" not in group
    assert not [
        r
        for r in sample.find_resources("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [app_group, "GroupId"]}
    ]


def test_sample_application_name_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"^Invalid setting sample_app_name='my app!': allowed: 1-24 chars"):
        parse_settings({"sample_app_name": "my app!"})


def test_sample_image_runtime_stage_matches_the_template() -> None:
    """The sample Dockerfile repeats the template's runtime stage; keep them in step."""

    def runtime_lines(path: Path) -> list[str]:
        text = path.read_text()
        stage = text[text.rindex("\nFROM ") :]
        keep = ("ENTRYPOINT", "USER", "EXPOSE", "WORKDIR", "COPY entrypoint.sh")
        return [line for line in stage.splitlines() if line.startswith(keep)]

    assert runtime_lines(REPO_ROOT / "images" / "app" / "sample" / "Dockerfile") == runtime_lines(
        REPO_ROOT / "images" / "app" / "Dockerfile"
    )

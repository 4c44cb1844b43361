"""The platform stack's synthesized template, requirement by requirement (aws_cdk.assertions)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Validations
from aws_cdk.assertions import Match, Template

from stacks.config import REPO_ROOT, parse_settings
from stacks.constructs.pinpoint_service import HEALTH_CHECK_COMMAND, container_environment
from tests.unit.conftest import (
    CERTIFICATE_ARN,
    CUSTOMIZED,
    EXISTING_VPC,
    HTTPS_FROM_ECR,
    synth,
    synth_stack,
)


def only(template: Template, resource_type: str, props: dict[str, Any] | None = None) -> dict[str, Any]:
    found = template.find_resources(resource_type, {"Properties": props} if props else None)
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return next(iter(found.values()))


def logical_id(template: Template, resource_type: str, props: dict[str, Any]) -> str:
    found = template.find_resources(resource_type, {"Properties": props})
    assert len(found) == 1, f"expected one {resource_type} matching {props}, found {len(found)}"
    return next(iter(found))


def container(template: Template) -> dict[str, Any]:
    task = only(template, "AWS::ECS::TaskDefinition", {"Family": Match.string_like_regexp("Pinpoint")})
    (definition,) = task["Properties"]["ContainerDefinitions"]
    return definition


# --- network -------------------------------------------------------------------------------------


def test_new_vpc_has_two_azs_private_subnets_with_egress_and_flow_logs(template: Template) -> None:
    template.has_resource_properties("AWS::EC2::VPC", {"CidrBlock": "10.40.0.0/16"})
    private = template.find_resources(
        "AWS::EC2::Subnet",
        {
            "Properties": {
                "MapPublicIpOnLaunch": False,
                "Tags": Match.array_with([{"Key": "aws-cdk:subnet-type", "Value": "Private"}]),
            }
        },
    )
    assert len(private) == 2
    template.resource_count_is("AWS::EC2::NatGateway", 1)
    template.has_resource_properties(
        "AWS::EC2::FlowLog", {"TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"}
    )
    # No subnet hands out public IPs, public ones included (they only hold the NAT gateway).
    for subnet in template.find_resources("AWS::EC2::Subnet").values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False


def test_existing_vpc_is_looked_up_not_created() -> None:
    template = synth(**EXISTING_VPC)
    template.resource_count_is("AWS::EC2::VPC", 0)
    template.resource_count_is("AWS::EC2::FlowLog", 0)
    template.resource_count_is("AWS::ECS::Service", 1)


# --- cluster ---------------------------------------------------------------------------------------


def test_cluster_has_container_insights_and_a_service_connect_namespace(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ECS::Cluster",
        {"ClusterName": "pinpoint", "ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]},
    )
    template.has_resource_properties("AWS::ServiceDiscovery::HttpNamespace", {"Name": "pinpoint.local"})
    template.has_resource_properties(
        "AWS::ECS::Cluster", {"ServiceConnectDefaults": {"Namespace": Match.any_value()}}
    )


# --- task definition -------------------------------------------------------------------------------


def test_task_is_arm64_linux_with_200_gib_ephemeral_storage_and_sized_for_all_in_one(
    template: Template,
) -> None:
    template.has_resource_properties(
        "AWS::ECS::TaskDefinition",
        {
            "RuntimePlatform": {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"},
            "EphemeralStorage": {"SizeInGiB": 200},
            "Cpu": "4096",
            "Memory": "16384",
            "RequiresCompatibilities": ["FARGATE"],
            "NetworkMode": "awsvpc",
        },
    )


def test_container_ports_stop_timeout_health_check_and_logs(template: Template) -> None:
    definition = container(template)
    assert definition["StopTimeout"] == 120
    assert {(m["Name"], m["ContainerPort"]) for m in definition["PortMappings"]} == {
        ("web", 8080),
        ("collector-agent", 9991),
        ("collector-stat", 9992),
        ("collector-span", 9993),
    }
    # Plain TCP for gRPC: an app protocol would put Envoy's 15 s per-request timeout on the streams.
    assert all("AppProtocol" not in m for m in definition["PortMappings"])
    health = definition["HealthCheck"]
    # The image's own check (web health path + collector port), no shell involved.
    assert health["Command"] == ["CMD", "/usr/local/bin/pinpoint-healthcheck"]
    assert health["StartPeriod"] == 300
    assert definition["LogConfiguration"]["LogDriver"] == "awslogs"
    environment = {item["Name"]: item["Value"] for item in definition["Environment"]}
    assert environment == {
        "PINPOINT_WEB_PORT": "8080",
        "PINPOINT_COLLECTOR_AGENT_PORT": "9991",
        "PINPOINT_COLLECTOR_STAT_PORT": "9992",
        "PINPOINT_COLLECTOR_SPAN_PORT": "9993",
        "PINPOINT_HEALTH_PATH": "/serverTime",
        "HBASE_DATA_DIR": "/var/lib/pinpoint/hbase",
        "CONTAINER_MEMORY_MB": "16384",
        "PINPOINT_TTL_TRACE_SECONDS": str(60 * 86400),
        "PINPOINT_TTL_STATISTICS_SECONDS": str(60 * 86400),
        "PINPOINT_TTL_AGENT_EVENT_SECONDS": str(60 * 86400),
    }


def test_environment_names_are_the_ones_the_image_reads() -> None:
    """The stack and images/pinpoint must agree on every variable the stack sets."""
    supervisor = (REPO_ROOT / "images/pinpoint/bin/pinpoint-supervisor").read_text()
    tables = (REPO_ROOT / "images/pinpoint/hbase/pinpoint-tables.hbase").read_text()
    healthcheck = (REPO_ROOT / "images/pinpoint/bin/pinpoint-healthcheck").read_text()
    for name in container_environment(parse_settings({})):
        assert f"${{{name}" in supervisor + tables + healthcheck, f"the image never reads {name}"
    assert (REPO_ROOT / "images/pinpoint" / HEALTH_CHECK_COMMAND.removeprefix("/usr/local/")).exists()


def test_log_groups_have_the_configured_retention(template: Template) -> None:
    groups = template.find_resources("AWS::Logs::LogGroup")
    assert len(groups) >= 3  # flow logs, pinpoint, service connect
    assert {g["Properties"]["RetentionInDays"] for g in groups.values()} == {30}
    assert {
        g["Properties"]["RetentionInDays"]
        for g in synth(**CUSTOMIZED).find_resources("AWS::Logs::LogGroup").values()
    } == {90}


def test_execution_role_may_create_its_log_group_and_nothing_wider(template: Template) -> None:
    policies = template.find_resources(
        "AWS::IAM::Policy", {"Properties": {"PolicyName": Match.string_like_regexp("ExecutionRole")}}
    )
    statements = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    create = [s for s in statements if "logs:CreateLogGroup" in _as_list(s["Action"])]
    assert create, "the execution role must be able to create its log group (the seed's gotcha)"
    resources = [
        r for s in create for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    ]
    log_groups = set(template.find_resources("AWS::Logs::LogGroup"))
    granted = {r["Fn::GetAtt"][0] for r in resources}
    # Scoped to the task's own container and Service Connect log groups, never "*".
    assert granted <= log_groups
    assert {g for g in granted if g.startswith("Pinpoint")} == granted
    assert len(granted) == 2


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


# --- service ---------------------------------------------------------------------------------------


def test_service_is_a_single_private_writer_with_rollback_and_grace(template: Template) -> None:
    template.has_resource_properties(
        "AWS::ECS::Service",
        {
            "ServiceName": "pinpoint-all-in-one",
            "LaunchType": "FARGATE",
            "DesiredCount": 1,
            "HealthCheckGracePeriodSeconds": 300,
            "DeploymentConfiguration": {
                "MinimumHealthyPercent": 0,
                "MaximumPercent": 100,
                "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
            },
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {"AssignPublicIp": "DISABLED", "Subnets": Match.any_value()}
            },
        },
    )


def test_service_connect_exposes_three_collector_ports_under_one_dns_name(template: Template) -> None:
    service = only(template, "AWS::ECS::Service", {"ServiceName": "pinpoint-all-in-one"})
    connect = service["Properties"]["ServiceConnectConfiguration"]
    assert connect["Enabled"] is True
    services = connect["Services"]
    assert len(services) == 3
    assert {s["PortName"] for s in services} == {"collector-agent", "collector-stat", "collector-span"}
    assert len({s["DiscoveryName"] for s in services}) == 3
    aliases = {(a["DnsName"], a["Port"]) for s in services for a in s["ClientAliases"]}
    assert aliases == {("pinpoint", 9991), ("pinpoint", 9992), ("pinpoint", 9993)}
    for entry in services:
        assert entry["Timeout"] == {"IdleTimeoutSeconds": 3600}, "no per-request timeout on gRPC streams"


def test_private_ports_are_configurable_end_to_end() -> None:
    template = synth(**CUSTOMIZED)
    service = only(template, "AWS::ECS::Service", {"ServiceName": "pinpoint-all-in-one"})
    aliases = {
        a["Port"]
        for s in service["Properties"]["ServiceConnectConfiguration"]["Services"]
        for a in s["ClientAliases"]
    }
    assert aliases == {19991, 19992, 19993}
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::TargetGroup", {"Port": 18080})


# --- load balancer ---------------------------------------------------------------------------------


def test_alb_is_internal_in_private_subnets_and_checks_server_time(template: Template) -> None:
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::LoadBalancer", {"Scheme": "internal"})
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {
            "Port": 8080,
            "Protocol": "HTTP",
            "TargetType": "ip",
            "HealthCheckPath": "/serverTime",
            "Matcher": {"HttpCode": "200"},
        },
    )
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener", {"Port": 80, "Protocol": "HTTP"}
    )
    template.resource_count_is("AWS::ElasticLoadBalancingV2::Listener", 1)


def test_health_check_path_comes_from_config() -> None:
    template = synth(**CUSTOMIZED)
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup", {"HealthCheckPath": "/api-public/serverTime"}
    )
    template.has_resource_properties("AWS::ECS::Service", {"HealthCheckGracePeriodSeconds": 600})


def test_https_listener_with_certificate_redirects_http() -> None:
    arn = CERTIFICATE_ARN
    template = synth(**HTTPS_FROM_ECR)
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {"Port": 443, "Protocol": "HTTPS", "Certificates": [{"CertificateArn": arn}]},
    )
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {"Port": 80, "DefaultActions": [Match.object_like({"Type": "redirect"})]},
    )
    ingress = _ingress_of(template, "Pinpoint web ALB")
    assert {(r.get("CidrIp"), r["FromPort"]) for r in ingress} == {("10.9.0.0/16", 80), ("10.9.0.0/16", 443)}


# --- security groups ---------------------------------------------------------------------------------


def _security_groups(template: Template) -> dict[str, dict[str, Any]]:
    return template.find_resources("AWS::EC2::SecurityGroup")


def _ingress_of(template: Template, description_prefix: str) -> list[dict[str, Any]]:
    groups = _security_groups(template)
    (group_id,) = [
        k for k, v in groups.items() if v["Properties"]["GroupDescription"].startswith(description_prefix)
    ]
    inline = groups[group_id]["Properties"].get("SecurityGroupIngress", [])
    separate = [
        r["Properties"]
        for r in template.find_resources("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    ]
    return inline + separate


def test_nothing_is_open_to_the_internet(template: Template) -> None:
    rules = [
        r
        for g in _security_groups(template).values()
        for r in g["Properties"].get("SecurityGroupIngress", [])
    ]
    rules += [r["Properties"] for r in template.find_resources("AWS::EC2::SecurityGroupIngress").values()]
    assert rules, "expected some ingress rules"
    assert not [r for r in rules if r.get("CidrIp") == "0.0.0.0/0" or r.get("CidrIpv6") == "::/0"]


def test_alb_is_reachable_only_from_the_vpc_by_default(template: Template) -> None:
    ingress = _ingress_of(template, "Pinpoint web ALB")
    assert [(r.get("CidrIp"), r["FromPort"], r["ToPort"]) for r in ingress] == [("10.40.0.0/16", 80, 80)]


def test_pinpoint_task_takes_web_only_from_alb_and_grpc_only_from_applications(template: Template) -> None:
    groups = _security_groups(template)
    alb = next(
        k for k, v in groups.items() if v["Properties"]["GroupDescription"].startswith("Pinpoint web ALB")
    )
    apps = next(
        k for k, v in groups.items() if v["Properties"]["GroupDescription"].startswith("Attach to services")
    )
    ingress = _ingress_of(template, "Pinpoint all-in-one task")
    sources = {(r["SourceSecurityGroupId"]["Fn::GetAtt"][0], r["FromPort"], r["ToPort"]) for r in ingress}
    assert sources == {(alb, 8080, 8080), (apps, 9991, 9991), (apps, 9992, 9992), (apps, 9993, 9993)}


def test_configured_collector_sources_are_added_port_by_port() -> None:
    template = synth(**CUSTOMIZED)
    ingress = _ingress_of(template, "Pinpoint all-in-one task")
    assert {(r.get("CidrIp"), r["FromPort"]) for r in ingress if r.get("CidrIp")} == {
        ("10.50.0.0/16", 19991),
        ("10.50.0.0/16", 19992),
        ("10.50.0.0/16", 19993),
    }
    assert {r["FromPort"] for r in ingress if r.get("SourceSecurityGroupId") == "sg-0123456789abcdef0"} == {
        19991,
        19992,
        19993,
    }


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
    groups = _security_groups(template)
    apps = next(
        k for k, v in groups.items() if v["Properties"]["GroupDescription"].startswith("Attach to services")
    )
    ingress = _ingress_of(template, "Pinpoint agent EFS")
    assert ingress
    assert all(r["FromPort"] == r["ToPort"] == 2049 for r in ingress)
    assert all("CidrIp" not in r for r in ingress)
    assert apps in {r["SourceSecurityGroupId"]["Fn::GetAtt"][0] for r in ingress}


def test_read_only_mount_policy_is_scoped_to_the_access_point(template: Template) -> None:
    policy = only(template, "AWS::IAM::ManagedPolicy")
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "elasticfilesystem:ClientMount"
    assert "elasticfilesystem:AccessPointArn" in statement["Condition"]["StringEquals"]


# --- outputs, images -------------------------------------------------------------------------------


def test_outputs_tell_users_how_to_connect(template: Template) -> None:
    outputs = template.find_outputs("*")
    for name in (
        "WebUrl",
        "CollectorDnsName",
        "CollectorPorts",
        "NamespaceName",
        "AgentFileSystemId",
        "AgentAccessPointId",
        "ApplicationSecurityGroupId",
        "AgentMountPolicyArn",
    ):
        assert name in outputs, name
    assert outputs["CollectorDnsName"]["Value"] == "pinpoint"
    assert outputs["CollectorPorts"]["Value"] == "9991,9992,9993"


def test_image_from_ecr_tag_when_configured() -> None:
    template = synth(**HTTPS_FROM_ECR)
    image = container(template)["Image"]
    rendered = str(image)
    assert "team/pinpoint" in rendered
    assert "abc1234" in rendered
    assert "cdk-hnb659fds-container-assets" not in rendered


def test_image_is_a_local_asset_by_default(template: Template) -> None:
    assert "container-assets" in str(container(template)["Image"])


# --- cdk-nag -------------------------------------------------------------------------------------


def test_every_acknowledged_finding_carries_a_specific_reason() -> None:
    stack = synth_stack()
    reasons: dict[str, str] = {}
    for construct in stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                reasons.update(
                    {
                        f"{construct.node.path}:{rule}": reason
                        for rule, reason in entry.data.items()
                        if rule.startswith("AwsSolutions")
                    }
                )
    assert reasons, "expected acknowledged cdk-nag findings to inspect"
    for rule, reason in reasons.items():
        assert len(reason) >= 40, f"{rule}: reason too thin: {reason!r}"


def test_cdk_nag_fails_synth_on_an_unacknowledged_finding() -> None:
    """Proves the nag check can fail: an open security group is caught at synth."""
    from aws_cdk import App  # noqa: PLC0415
    from aws_cdk import aws_ec2 as ec2  # noqa: PLC0415

    from stacks.config import parse_settings, resolve_environment  # noqa: PLC0415
    from stacks.nag import enable_nag  # noqa: PLC0415
    from stacks.pinpoint_stack import PinpointStack  # noqa: PLC0415

    app = App()
    stack = PinpointStack(app, "Nagged", config=resolve_environment(parse_settings({}), {}))
    group = ec2.SecurityGroup(stack, "Open", vpc=stack.network.vpc)
    group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(22))
    enable_nag(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()


# --- HBase data storage --------------------------------------------------------------------------


def test_hbase_data_is_on_ephemeral_storage_by_default(template: Template) -> None:
    assert "MountPoints" not in container(template) or container(template)["MountPoints"] == []
    template.resource_count_is("AWS::EFS::FileSystem", 1)  # the agent volume only


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
    task = only(template, "AWS::ECS::TaskDefinition", {"Family": Match.string_like_regexp("Pinpoint")})
    (volume,) = task["Properties"]["Volumes"]
    assert volume["EFSVolumeConfiguration"]["TransitEncryption"] == "ENABLED"
    assert volume["EFSVolumeConfiguration"]["AuthorizationConfig"]["IAM"] == "ENABLED"
    assert container(template)["MountPoints"] == [
        {"ContainerPath": "/var/lib/pinpoint/hbase", "ReadOnly": False, "SourceVolume": volume["Name"]}
    ]
    # NFS into the HBase file system only from the Pinpoint task.
    groups = _security_groups(template)
    pinpoint = next(
        k for k, v in groups.items() if v["Properties"]["GroupDescription"].startswith("Pinpoint all-in-one")
    )
    ingress = _ingress_of(template, "Pinpoint HBase data EFS")
    assert [(r["SourceSecurityGroupId"]["Fn::GetAtt"][0], r["FromPort"]) for r in ingress] == [
        (pinpoint, 2049)
    ]

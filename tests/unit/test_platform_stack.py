"""The platform stack's synthesized template, requirement by requirement (aws_cdk.assertions)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Match, Template

from stacks.config import BOOT_MARGIN_SECONDS, REPO_ROOT, parse_settings
from stacks.constructs.pinpoint_service import (
    ADMIN_PASSWORD_VARIABLE,
    HEALTH_CHECK_COMMAND,
    container_environment,
)
from stacks.nag import enable_nag
from tests.unit.conftest import (
    ALL_VARIANTS,
    CERTIFICATE_ARN,
    CHOSEN_SUBNETS,
    CUSTOMIZED,
    EMR,
    EXISTING_VPC,
    EXTERNAL,
    HTTPS_FROM_ECR,
    RETAINED_HBASE_FILE_SYSTEM_ID,
    SAMPLE_APP,
    SUBNETS,
    VPC_ID,
    synth,
    synthesized,
)

# Every named override set, for requirements that hold in every variant.
VARIANTS = {
    "default": {},
    "customized": CUSTOMIZED,
    "https-ecr": HTTPS_FROM_ECR,
    "sample-app": SAMPLE_APP,
    "existing-vpc": EXISTING_VPC,
    "chosen-subnets": CHOSEN_SUBNETS,
}


def only(template: Template, resource_type: str, props: dict[str, Any] | None = None) -> dict[str, Any]:
    found = template.find_resources(resource_type, {"Properties": props} if props else None)
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return next(iter(found.values()))


def logical_id(template: Template, resource_type: str, props: dict[str, Any]) -> str:
    found = template.find_resources(resource_type, {"Properties": props})
    assert len(found) == 1, f"expected one {resource_type} matching {props}, found {len(found)}"
    return next(iter(found))


def pinpoint_task(template: Template) -> dict[str, Any]:
    (task,) = [
        t for n, t in template.find_resources("AWS::ECS::TaskDefinition").items() if n.startswith("Pinpoint")
    ]
    return task


def container(template: Template) -> dict[str, Any]:
    (definition,) = pinpoint_task(template)["Properties"]["ContainerDefinitions"]
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


def _azs(subnet_ids: list[str]) -> list[str]:
    zone_of = {
        SUBNETS["private-a1"]: "a",
        SUBNETS["private-a2"]: "a",
        SUBNETS["private-b"]: "b",
        SUBNETS["isolated-a"]: "a",
        SUBNETS["isolated-c"]: "c",
    }
    return sorted(zone_of[subnet] for subnet in subnet_ids)


def _placements(template: Template) -> dict[str, list[list[str]]]:
    """Subnet lists by what uses them: tasks, the Lambda, load balancers, EFS mount targets."""
    resources = template.to_json()["Resources"].values()
    by_type = {
        t: [r["Properties"] for r in resources if r["Type"] == t] for t in {r["Type"] for r in resources}
    }
    mount_targets: dict[str, list[str]] = {}
    for target in by_type.get("AWS::EFS::MountTarget", []):
        mount_targets.setdefault(json.dumps(target["FileSystemId"]), []).append(target["SubnetId"])
    return {
        "services": [
            s["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"] for s in by_type["AWS::ECS::Service"]
        ],
        "lambda": [f["VpcConfig"]["SubnetIds"] for f in by_type["AWS::Lambda::Function"] if "VpcConfig" in f],
        "load_balancers": [lb["Subnets"] for lb in by_type["AWS::ElasticLoadBalancingV2::LoadBalancer"]],
        "file_systems": list(mount_targets.values()),
    }


def test_imported_vpc_with_two_private_subnets_in_one_az_gets_one_mount_target_and_lb_subnet_per_az() -> None:
    """EFS allows one mount target per AZ (else MountTargetConflict), an ALB one subnet per AZ."""
    placements = _placements(synth(**EXISTING_VPC))
    all_private = [SUBNETS["private-a1"], SUBNETS["private-a2"], SUBNETS["private-b"]]
    assert placements["services"] == [all_private]  # tasks may use every private subnet
    assert placements["lambda"] == [all_private]
    # The ALB and the collector NLB.
    assert [_azs(subnets) for subnets in placements["load_balancers"]] == [["a", "b"], ["a", "b"]]
    # The agent file system and the retained HBase one: one mount target per AZ each.
    assert sorted(_azs(subnets) for subnets in placements["file_systems"]) == [["a", "b"], ["a", "b"]]


def test_chosen_subnets_are_used_everywhere_and_nothing_else() -> None:
    template = synth(**CHOSEN_SUBNETS)
    placements = _placements(template)
    chosen = [SUBNETS["private-a2"], SUBNETS["isolated-c"]]
    for kind in ("services", "lambda", "load_balancers", "file_systems"):
        assert placements[kind], kind
        assert all(sorted(subnets) == sorted(chosen) for subnets in placements[kind]), (
            kind,
            placements[kind],
        )


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


def test_container_insights_can_be_turned_off_and_synth_stays_nag_clean() -> None:
    # synth() raises when cdk-nag reports an unacknowledged finding (ECS4 flags the setting).
    template = synth(**HTTPS_FROM_ECR)
    template.has_resource_properties(
        "AWS::ECS::Cluster", {"ClusterSettings": [{"Name": "containerInsights", "Value": "disabled"}]}
    )
    assert "ECS/ContainerInsights" not in json.dumps(template.to_json())


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
    # The image's own check (backend on loopback + collector port), no shell involved.
    assert health["Command"] == ["CMD", "/usr/local/bin/pinpoint-healthcheck"]
    assert health["StartPeriod"] == 240 + BOOT_MARGIN_SECONDS
    assert definition["LogConfiguration"]["LogDriver"] == "awslogs"
    environment = {item["Name"]: item["Value"] for item in definition["Environment"]}
    assert environment == {
        "PINPOINT_WEB_PORT": "8080",
        "PINPOINT_COLLECTOR_AGENT_PORT": "9991",
        "PINPOINT_COLLECTOR_STAT_PORT": "9992",
        "PINPOINT_COLLECTOR_SPAN_PORT": "9993",
        "HBASE_DATA_DIR": "/var/lib/pinpoint/hbase",
        "CONTAINER_MEMORY_MB": "16384",
        "PINPOINT_TTL_TRACE_SECONDS": str(60 * 86400),
        "PINPOINT_TTL_STATISTICS_SECONDS": str(60 * 86400),
        "PINPOINT_TTL_AGENT_EVENT_SECONDS": str(60 * 86400),
        "PINPOINT_HBASE_UNIFORM_SPLIT_REGIONS": "32",
        "PINPOINT_BOOT_TIMEOUT_SECONDS": "240",
    }
    # The container check proves the backend itself; the ALB keeps health_check_path.
    assert "PINPOINT_HEALTH_PATH" not in environment


def test_ecs_init_is_pid_one(template: Template) -> None:
    """The image carries no tini: ECS's init reaps the supervisor's children and forwards SIGTERM."""
    for overrides in VARIANTS.values():
        assert container(synth(**overrides))["LinuxParameters"]["InitProcessEnabled"] is True


@pytest.mark.parametrize("name", VARIANTS)
def test_boot_budget_fits_inside_the_grace_period(name: str) -> None:
    template = synth(**VARIANTS[name])
    definition = container(template)
    environment = {item["Name"]: item["Value"] for item in definition["Environment"]}
    service = only(template, "AWS::ECS::Service", {"ServiceName": "pinpoint-all-in-one"})
    grace = service["Properties"]["HealthCheckGracePeriodSeconds"]
    assert int(environment["PINPOINT_BOOT_TIMEOUT_SECONDS"]) + BOOT_MARGIN_SECONDS <= grace
    assert definition["HealthCheck"]["StartPeriod"] <= 300  # ECS's maximum


def test_boot_budget_and_split_regions_come_from_the_config() -> None:
    environment = container_environment(
        parse_settings(
            {"boot_timeout_seconds": 900, "health_check_grace_seconds": 930, "hbase_split_regions": 8}
        )
    )
    assert environment["PINPOINT_BOOT_TIMEOUT_SECONDS"] == "900"
    assert environment["PINPOINT_HBASE_UNIFORM_SPLIT_REGIONS"] == "8"


def test_web_admin_password_is_a_generated_secret_read_only_by_the_execution_role(template: Template) -> None:
    secret_id = logical_id(
        template,
        "AWS::SecretsManager::Secret",
        {"GenerateSecretString": Match.object_like({"ExcludePunctuation": True, "IncludeSpace": False})},
    )
    assert container(template)["Secrets"] == [
        {"Name": ADMIN_PASSWORD_VARIABLE, "ValueFrom": {"Ref": secret_id}}
    ]
    assert ADMIN_PASSWORD_VARIABLE not in {item["Name"] for item in container(template)["Environment"]}
    statements = [
        s
        for p in template.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if any(a.startswith("secretsmanager:") for a in _as_list(s["Action"]))
    ]
    assert statements == [
        {
            "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
            "Effect": "Allow",
            "Resource": {"Ref": secret_id},
        }
    ]
    (policy,) = [
        p
        for p in template.find_resources("AWS::IAM::Policy").values()
        if "secretsmanager" in json.dumps(p["Properties"]["PolicyDocument"])
    ]
    ((role,),) = [[r["Ref"] for r in policy["Properties"]["Roles"]]]
    assert role.startswith("PinpointTaskDefinitionExecutionRole")  # not the task role: ECS fetches it
    template.has_output("WebAdminSecretArn", {"Value": {"Ref": secret_id}})


@pytest.mark.parametrize("overrides", [{}, EMR, EXTERNAL], ids=["embedded", "emr", "external"])
def test_environment_names_are_the_ones_the_image_reads(overrides: dict[str, object]) -> None:
    """The stack and images/pinpoint must agree on every variable (and role) the stack sets, in
    every topology: the all-in-one, and the collector, web and bootstrap tasks."""
    image = REPO_ROOT / "images/pinpoint"
    sources = [
        image / "bin/pinpoint-supervisor",
        image / "bin/pinpoint-healthcheck",
        image / "hbase/pinpoint-tables.hbase",
    ]
    code = "".join(path.read_text() for path in [*sources, *sorted((image / "bin/lib").glob("*.sh"))])
    roles = re.search(r'^readonly ROLES="([^"]+)"', code, re.M)
    assert roles, "the supervisor no longer declares its roles"
    containers = [
        container
        for task in synth(**overrides).find_resources("AWS::ECS::TaskDefinition").values()
        for container in task["Properties"]["ContainerDefinitions"]
        if container["Name"] == "pinpoint"
    ]
    assert containers
    for container in containers:
        variables = {item["Name"]: item.get("Value") for item in container.get("Environment", [])}
        variables |= {item["Name"]: None for item in container.get("Secrets", [])}
        for name in variables:
            assert f"${{{name}" in code, f"the image never reads {name}"
        assert variables.get("PINPOINT_ROLE", "all-in-one") in roles.group(1).split()
    assert ADMIN_PASSWORD_VARIABLE in {
        item["Name"] for container in containers for item in container.get("Secrets", [])
    }
    assert (image / HEALTH_CHECK_COMMAND.removeprefix("/usr/local/")).exists()


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


# --- collector NLB (agents outside Service Connect) ----------------------------------------------


def test_no_collector_nlb_without_outside_sources(template: Template) -> None:
    assert not template.find_resources(
        "AWS::ElasticLoadBalancingV2::LoadBalancer", {"Properties": {"Type": "network"}}
    )
    assert "CollectorNlbDnsName" not in template.find_outputs("*")


def test_outside_sources_get_an_internal_nlb_on_the_collector_ports() -> None:
    template = synth(**CUSTOMIZED)
    nlb_id = logical_id(template, "AWS::ElasticLoadBalancingV2::LoadBalancer", {"Type": "network"})
    nlb = template.to_json()["Resources"][nlb_id]["Properties"]
    assert nlb["Scheme"] == "internal"
    alb = only(template, "AWS::ElasticLoadBalancingV2::LoadBalancer", {"Type": "application"})
    assert nlb["Subnets"] == alb["Properties"]["Subnets"]  # the private subnets, one per AZ
    assert {"Key": "load_balancing.cross_zone.enabled", "Value": "true"} in nlb["LoadBalancerAttributes"]
    listeners = [
        r["Properties"]
        for r in template.find_resources("AWS::ElasticLoadBalancingV2::Listener").values()
        if r["Properties"]["LoadBalancerArn"] == {"Ref": nlb_id}
    ]
    assert sorted((lst["Port"], lst["Protocol"]) for lst in listeners) == [
        (19991, "TCP"),
        (19992, "TCP"),
        (19993, "TCP"),
    ]
    # Each listener forwards to an IP target group on the same container port of the task.
    groups = template.to_json()["Resources"]
    service = only(template, "AWS::ECS::Service", {"ServiceName": "pinpoint-all-in-one"})
    registered = {
        (lb["ContainerPort"], lb["TargetGroupArn"]["Ref"]) for lb in service["Properties"]["LoadBalancers"]
    }
    for listener in listeners:
        (action,) = listener["DefaultActions"]
        group_id = action["TargetGroupArn"]["Ref"]
        group = groups[group_id]["Properties"]
        assert (group["TargetType"], group["Protocol"], group["Port"]) == ("ip", "TCP", listener["Port"])
        assert (listener["Port"], group_id) in registered
    template.has_output("CollectorNlbDnsName", {"Value": {"Fn::GetAtt": [nlb_id, "DNSName"]}})


def test_nlb_admits_only_the_configured_sources_and_the_task_admits_the_nlb() -> None:
    template = synth(**CUSTOMIZED)
    ingress = _ingress_of(template, "Pinpoint collector NLB")
    assert sorted(
        (r.get("CidrIp") or r["SourceSecurityGroupId"], r["FromPort"], r["ToPort"]) for r in ingress
    ) == [
        ("10.50.0.0/16", 19991, 19991),
        ("10.50.0.0/16", 19992, 19992),
        ("10.50.0.0/16", 19993, 19993),
        ("sg-0123456789abcdef0", 19991, 19991),
        ("sg-0123456789abcdef0", 19992, 19992),
        ("sg-0123456789abcdef0", 19993, 19993),
    ]
    nlb_group = next(
        k
        for k, v in _security_groups(template).items()
        if v["Properties"]["GroupDescription"].startswith("Pinpoint collector NLB")
    )
    task_ingress = _ingress_of(template, "Pinpoint all-in-one task")
    # The configured sources reach the task only through the NLB, which reaches the three ports.
    assert not [r for r in task_ingress if r.get("CidrIp") or isinstance(r["SourceSecurityGroupId"], str)]
    assert {
        r["FromPort"]
        for r in task_ingress
        if r["SourceSecurityGroupId"] == {"Fn::GetAtt": [nlb_group, "GroupId"]}
    } == {19991, 19992, 19993}


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


WRITE_ACTIONS = {"elasticfilesystem:ClientWrite", "elasticfilesystem:ClientRootAccess"}


def _file_system_id(template: Template, prefix: str) -> str:
    (name,) = [n for n in template.find_resources("AWS::EFS::FileSystem") if n.startswith(prefix)]
    return name


def _identity_grants(template: Template, file_system: str) -> dict[str, set[str]]:
    """EFS client actions granted on ``file_system`` by identity policies, by role (prefix)."""
    grants: dict[str, set[str]] = {}
    resources = template.to_json()["Resources"]
    for policy in resources.values():
        if policy["Type"] not in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            continue
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        roles = [r["Ref"] for r in policy["Properties"].get("Roles", [])]
        if policy["Type"] == "AWS::IAM::ManagedPolicy":
            roles = [
                name
                for name, role in resources.items()
                if role["Type"] == "AWS::IAM::Role"
                and policy_ref(resources, policy) in role["Properties"].get("ManagedPolicyArns", [])
            ] or ["<unattached managed policy>"]
        for statement in statements:
            resource = json.dumps(statement["Resource"])
            condition = json.dumps(statement.get("Condition", {}))
            # On this file system, or on any one ("*") unless pinned to another's access point.
            on_any = resource == '"*"' and (
                "elasticfilesystem:AccessPointArn" not in condition
                or access_point(template, file_system) in condition
            )
            if statement["Effect"] != "Allow" or (file_system not in resource and not on_any):
                continue
            if not any(a.startswith("elasticfilesystem:Client") for a in _as_list(statement["Action"])):
                continue
            for role in roles:
                grants.setdefault(role, set()).update(_as_list(statement["Action"]))
    return grants


def access_point(template: Template, file_system: str) -> str:
    """The logical id of the access point on ``file_system`` (a logical id or a literal fs- id)."""
    (name,) = [
        n
        for n, r in template.find_resources("AWS::EFS::AccessPoint").items()
        if file_system in json.dumps(r["Properties"]["FileSystemId"])
    ] or [f"<no access point on {file_system}>"]
    return name


def policy_ref(resources: dict[str, Any], policy: dict[str, Any]) -> dict[str, str]:
    (name,) = [n for n, r in resources.items() if r is policy]
    return {"Ref": name}


def _file_system_policy(template: Template, file_system: str) -> list[dict[str, Any]]:
    properties = template.to_json()["Resources"][file_system]["Properties"]
    return properties["FileSystemPolicy"]["Statement"]


@pytest.mark.parametrize("name", ["default", "sample-app", "existing-vpc"])
def test_agent_file_system_is_writable_only_by_the_distributor(name: str) -> None:
    """No Allow AWS:* ClientWrite (CDK appends one under denyAnonymousAccess); writes by the
    distributor's identity policy only, and a Deny for every other principal."""
    template = synth(**VARIANTS[name])
    file_system = _file_system_id(template, "AgentVolume")
    statements = _file_system_policy(template, file_system)
    assert [s for s in statements if s["Effect"] == "Allow"] == []
    (only_writer,) = [s for s in statements if s.get("Sid") == "OnlyTheWriter"]
    assert only_writer["Effect"] == "Deny"
    assert only_writer["Principal"] == {"AWS": "*"}
    assert set(_as_list(only_writer["Action"])) == WRITE_ACTIONS
    (role,) = [n for n in template.find_resources("AWS::IAM::Role") if n.startswith("AgentDistributionRole")]
    assert only_writer["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": [role, "Arn"]}}}
    writers = {r for r, actions in _identity_grants(template, file_system).items() if actions & WRITE_ACTIONS}
    assert writers == {role}
    # Apps (the mount policy, the sample app's task role) may only mount.
    readers = {r: a for r, a in _identity_grants(template, file_system).items() if r != role}
    assert readers
    assert all(actions == {"elasticfilesystem:ClientMount"} for actions in readers.values())


@pytest.mark.parametrize("name", ["default", "customized"])
def test_file_systems_deny_clients_without_tls(name: str) -> None:
    template = synth(**VARIANTS[name])
    for file_system in template.find_resources("AWS::EFS::FileSystem"):
        (tls,) = [s for s in _file_system_policy(template, file_system) if s.get("Sid") == "TlsOnly"]
        assert tls["Effect"] == "Deny"
        assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert "elasticfilesystem:ClientMount" in tls["Action"]


# --- outputs, images -------------------------------------------------------------------------------


def test_outputs_tell_users_how_to_connect(template: Template) -> None:
    outputs = template.find_outputs("*")
    for name in (
        "WebUrl",
        "CollectorDnsName",
        "CollectorPorts",
        "NamespaceName",
        "ClusterName",
        "AgentFileSystemId",
        "AgentAccessPointId",
        "ApplicationSecurityGroupId",
        "AgentMountPolicyArn",
        "AgentJavaagentPath",
        # Read by name by scripts/ after make deploy:
        "PinpointServiceName",
        "ApmOpts",
        "WebAdminSecretArn",
    ):
        assert name in outputs, name
    assert outputs["CollectorDnsName"]["Value"] == "pinpoint"
    assert outputs["CollectorPorts"]["Value"] == "9991,9992,9993"
    service = logical_id(template, "AWS::ECS::Service", {"ServiceName": "pinpoint-all-in-one"})
    assert outputs["PinpointServiceName"]["Value"] == {"Fn::GetAtt": [service, "Name"]}


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


@pytest.mark.parametrize("name", ALL_VARIANTS)
def test_cdk_nag_ran_on_the_variant_and_found_nothing_unacknowledged(name: str) -> None:
    """Synthesis already failed on any unacknowledged finding; this proves cdk-nag was wired
    into the synth (create_app) and ran on the whole variant."""
    reports = {
        r["pluginName"]: r for r in synthesized(**ALL_VARIANTS[name]).validation_report()["pluginReports"]
    }
    assert reports["AwsSolutions"]["conclusion"] == "success"
    assert reports["AwsSolutions"]["violations"] == []


def test_every_acknowledged_finding_carries_a_specific_reason() -> None:
    reasons: dict[str, str] = {}
    for overrides in ALL_VARIANTS.values():
        for path, entry in synthesized(**overrides).entries(Validations.ACKNOWLEDGED_RULES_METADATA_KEY):
            reasons.update(
                {f"{path}:{rule}": r for rule, r in entry["data"].items() if rule.startswith("AwsSolutions")}
            )
    assert reasons, "expected acknowledged cdk-nag findings to inspect"
    for rule, reason in reasons.items():
        assert len(reason) >= 40, f"{rule}: reason too thin: {reason!r}"


def _nagged_app(tmp_path: Path, *, open_to_the_world: bool) -> App:
    """A one-security-group stack with cdk-nag wired exactly as create_app wires it."""
    app = App(context=json.loads((REPO_ROOT / "cdk.json").read_text())["context"], outdir=str(tmp_path))
    stack = Stack(app, "Nagged", env=Environment(account="123456789012", region="eu-west-1"))
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id=VPC_ID,
        availability_zones=["eu-west-1a"],
        private_subnet_ids=[SUBNETS["private-a1"]],
        private_subnet_route_table_ids=["rtb-private-a1"],
    )
    group = ec2.SecurityGroup(stack, "Open", vpc=vpc, description="Opened by the test")
    if open_to_the_world:
        group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(22))
    enable_nag(app)
    return app


def test_cdk_nag_fails_synth_on_an_unacknowledged_finding(tmp_path: Path) -> None:
    """Proves the nag check can fail: an open security group is caught at synth (on a stack of
    its own, so the open rule is the only finding; the same stack without it synthesizes)."""
    _nagged_app(tmp_path / "closed", open_to_the_world=False).synth()
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        _nagged_app(tmp_path / "open", open_to_the_world=True).synth()
    report = json.loads((tmp_path / "open" / "validation-report.json").read_text())
    findings = {
        (violation["ruleName"], construct["constructPath"])
        for plugin in report["pluginReports"]
        if plugin["conclusion"] == "failure"
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    }
    assert findings == {("AwsSolutions-EC23", "Nagged/Open/Resource")}


# --- HBase data storage --------------------------------------------------------------------------


def test_hbase_data_is_on_ephemeral_storage_by_default(template: Template) -> None:
    assert "MountPoints" not in container(template) or container(template)["MountPoints"] == []
    template.resource_count_is("AWS::EFS::FileSystem", 1)  # the agent volume only


def test_hbase_file_system_is_mounted_only_by_the_pinpoint_task_role() -> None:
    template = synth(**CUSTOMIZED)
    file_system = _file_system_id(template, "PinpointHBaseData")
    statements = _file_system_policy(template, file_system)
    assert [s for s in statements if s["Effect"] == "Allow"] == []
    (only_writer,) = [s for s in statements if s.get("Sid") == "OnlyTheWriter"]
    task_role = logical_id(template, "AWS::IAM::Role", {"RoleName": "pinpoint-eu-west-1-hbase-task"})
    assert only_writer["Effect"] == "Deny"
    assert set(only_writer["Action"]) == WRITE_ACTIONS | {"elasticfilesystem:ClientMount"}
    assert only_writer["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": [task_role, "Arn"]}}
    }
    assert _identity_grants(template, file_system) == {
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
    assert _azs([t["SubnetId"] for t in targets]) == ["a", "b"]
    (group,) = {t["SecurityGroups"][0]["Fn::GetAtt"][0] for t in targets}
    assert _security_groups(template)[group]["Properties"]["GroupDescription"].startswith(
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
    assert set(_identity_grants(template, arn)) == {
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
    groups = _security_groups(template)
    pinpoint = next(
        k for k, v in groups.items() if v["Properties"]["GroupDescription"].startswith("Pinpoint all-in-one")
    )
    ingress = _ingress_of(template, "Pinpoint HBase data EFS")
    assert [(r["SourceSecurityGroupId"]["Fn::GetAtt"][0], r["FromPort"]) for r in ingress] == [
        (pinpoint, 2049)
    ]

"""The platform stack's synthesized template, requirement by requirement (aws_cdk.assertions)."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Match, Template

from stacks.config import BOOT_MARGIN_SECONDS, REPO_ROOT, parse_settings
from stacks.constructs.fargate import table_environment
from stacks.constructs.pinpoint_service import (
    ADMIN_PASSWORD_VARIABLE,
    HEALTH_CHECK_COMMAND,
    container_environment,
)
from tests.unit.conftest import (
    CERTIFICATE_ARN,
    CHOSEN_SUBNETS,
    CUSTOMIZED,
    EMR,
    EXISTING_VPC,
    EXTERNAL,
    HTTPS_FROM_ECR,
    SAMPLE_APP,
    SUBNETS,
    synth,
)
from tests.unit.template_queries import (
    as_list,
    azs,
    container,
    ingress_of,
    logical_id,
    only,
    security_groups,
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
    assert [azs(subnets) for subnets in placements["load_balancers"]] == [["a", "b"], ["a", "b"]]
    # The agent file system and the retained HBase one: one mount target per AZ each.
    assert sorted(azs(subnets) for subnets in placements["file_systems"]) == [["a", "b"], ["a", "b"]]


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
        "PINPOINT_TTL_METADATA_SECONDS": "15552000",
        "PINPOINT_TTL_API_METADATA_SECONDS": "31536000",
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
        if any(a.startswith("secretsmanager:") for a in as_list(s["Action"]))
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
        definition
        for task in synth(**overrides).find_resources("AWS::ECS::TaskDefinition").values()
        for definition in task["Properties"]["ContainerDefinitions"]
        if definition["Name"] == "pinpoint"
    ]
    assert containers
    for definition in containers:
        variables = {item["Name"]: item.get("Value") for item in definition.get("Environment", [])}
        variables |= {item["Name"]: None for item in definition.get("Secrets", [])}
        for name in variables:
            assert f"${{{name}" in code, f"the image never reads {name}"
        assert variables.get("PINPOINT_ROLE", "all-in-one") in roles.group(1).split()
    assert ADMIN_PASSWORD_VARIABLE in {
        item["Name"] for definition in containers for item in definition.get("Secrets", [])
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
    create = [s for s in statements if "logs:CreateLogGroup" in as_list(s["Action"])]
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
    ingress = ingress_of(template, "Pinpoint web ALB")
    assert {(r.get("CidrIp"), r["FromPort"]) for r in ingress} == {("10.9.0.0/16", 80), ("10.9.0.0/16", 443)}


# --- security groups ---------------------------------------------------------------------------------


def test_nothing_is_open_to_the_internet(template: Template) -> None:
    rules = [
        r for g in security_groups(template).values() for r in g["Properties"].get("SecurityGroupIngress", [])
    ]
    rules += [r["Properties"] for r in template.find_resources("AWS::EC2::SecurityGroupIngress").values()]
    assert rules, "expected some ingress rules"
    assert not [r for r in rules if r.get("CidrIp") == "0.0.0.0/0" or r.get("CidrIpv6") == "::/0"]


def test_alb_is_reachable_only_from_the_vpc_by_default(template: Template) -> None:
    ingress = ingress_of(template, "Pinpoint web ALB")
    assert [(r.get("CidrIp"), r["FromPort"], r["ToPort"]) for r in ingress] == [("10.40.0.0/16", 80, 80)]


def test_pinpoint_task_takes_web_only_from_alb_and_grpc_only_from_applications(template: Template) -> None:
    groups = security_groups(template)
    alb = next(
        k for k, v in groups.items() if v["Properties"]["GroupDescription"].startswith("Pinpoint web ALB")
    )
    apps = next(
        k for k, v in groups.items() if v["Properties"]["GroupDescription"].startswith("Attach to services")
    )
    ingress = ingress_of(template, "Pinpoint all-in-one task")
    sources = {(r["SourceSecurityGroupId"]["Fn::GetAtt"][0], r["FromPort"], r["ToPort"]) for r in ingress}
    assert sources == {(alb, 8080, 8080), (apps, 9991, 9991), (apps, 9992, 9992), (apps, 9993, 9993)}


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


@pytest.mark.parametrize(
    ("days", "metadata_days", "api_metadata_days"),
    [(60, 180, 365), (180, 180, 365), (181, 181, 365), (400, 400, 400), (3650, 3650, 3650)],
)
def test_metadata_outlives_the_traces_that_refer_to_it(
    days: int, metadata_days: int, api_metadata_days: int
) -> None:
    """A call stack resolves SQL, strings and API names by id from the metadata tables: with
    hbase_ttl_days above upstream's 180 d (365 d for ApiMetaData) they take the trace TTL."""
    environment = table_environment(parse_settings({"hbase_ttl_days": days}))
    assert environment["PINPOINT_TTL_TRACE_SECONDS"] == str(days * 86400)
    assert environment["PINPOINT_TTL_METADATA_SECONDS"] == str(metadata_days * 86400)
    assert environment["PINPOINT_TTL_API_METADATA_SECONDS"] == str(api_metadata_days * 86400)

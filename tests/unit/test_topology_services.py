"""The distributed topology's services (hbase_mode emr and external), requirement by requirement.

Both modes must look exactly like the all-in-one to applications: the Service Connect name and
ports, the ALB with its health check and grace, the collector NLB; and they differ from it where
HBase no longer lives in the task: no 200 GiB, rolling deploys, N collectors on CPU autoscaling.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import Validations
from aws_cdk.assertions import Template

from stacks.constructs.fargate import ADMIN_PASSWORD_VARIABLE, HEALTH_CHECK_COMMAND
from tests.unit.conftest import EMR, EXTERNAL, EXTERNAL_QUORUM, synth, synthesized

MODES = {"emr": EMR, "external": EXTERNAL}


@pytest.fixture(scope="module", params=list(MODES))
def distributed(request: pytest.FixtureRequest) -> Template:
    return synth(**MODES[request.param])


def service(template: Template, name: str) -> tuple[str, dict[str, Any]]:
    found = template.find_resources("AWS::ECS::Service", {"Properties": {"ServiceName": name}})
    assert len(found) == 1, f"expected one service {name}, found {list(found)}"
    return next(iter(found.items()))


def task_definition_of(template: Template, service_name: str) -> dict[str, Any]:
    _, svc = service(template, service_name)
    (name,) = [
        n
        for n in template.find_resources("AWS::ECS::TaskDefinition")
        if svc["Properties"]["TaskDefinition"] == {"Ref": n}
    ]
    return template.to_json()["Resources"][name]


def container_of(task: dict[str, Any]) -> dict[str, Any]:
    (definition,) = task["Properties"]["ContainerDefinitions"]
    return definition


def environment(definition: dict[str, Any]) -> dict[str, Any]:
    return {item["Name"]: item["Value"] for item in definition["Environment"]}


def bootstrap_resource(template: Template) -> str:
    (name,) = template.find_resources("Custom::PinpointTableBootstrap")
    return name


# --- topology ------------------------------------------------------------------------------------


def test_no_all_in_one_service_but_a_collector_and_a_web_service(distributed: Template) -> None:
    names = {s["Properties"]["ServiceName"] for s in distributed.find_resources("AWS::ECS::Service").values()}
    assert "pinpoint-all-in-one" not in names
    assert {"pinpoint-collector", "pinpoint-web"} <= names
    # No task keeps HBase data: no 200 GiB anywhere, no HBase data file system.
    for task in distributed.find_resources("AWS::ECS::TaskDefinition").values():
        assert "EphemeralStorage" not in task["Properties"], task["Properties"].get("EphemeralStorage")
    assert not [n for n in distributed.find_resources("AWS::EFS::FileSystem") if "HBase" in n]


def test_outputs_name_the_services_and_the_mode(distributed: Template) -> None:
    outputs = distributed.find_outputs("*")
    collector, _ = service(distributed, "pinpoint-collector")
    web, _ = service(distributed, "pinpoint-web")
    assert outputs["CollectorServiceName"]["Value"] == {"Fn::GetAtt": [collector, "Name"]}
    assert outputs["WebServiceName"]["Value"] == {"Fn::GetAtt": [web, "Name"]}
    assert outputs["HBaseMode"]["Value"] in {"emr", "external"}
    assert "PinpointServiceName" not in outputs
    # Unchanged for applications and scripts:
    for name in (
        "WebUrl",
        "CollectorDnsName",
        "CollectorPorts",
        "ApmOpts",
        "ClusterName",
        "WebAdminSecretArn",
    ):
        assert name in outputs, name
    assert outputs["CollectorDnsName"]["Value"] == "pinpoint"


def test_external_mode_outputs_the_groups_its_hbase_must_admit() -> None:
    """Your HBase's security groups or firewalls admit the collector, web and bootstrap tasks:
    their groups are outputs (README hbase_mode=external)."""
    template = synth(**EXTERNAL)
    outputs = template.find_outputs("*")
    groups = template.find_resources("AWS::EC2::SecurityGroup")
    for output, description in {
        "CollectorSecurityGroupId": "Pinpoint collector tasks",
        "WebSecurityGroupId": "Pinpoint web tasks",
        "TableBootstrapSecurityGroupId": "Pinpoint table bootstrap task",
    }.items():
        (name,) = [
            n for n, g in groups.items() if g["Properties"]["GroupDescription"].startswith(description)
        ]
        assert outputs[output]["Value"] == {"Fn::GetAtt": [name, "GroupId"]}, output
    assert "CollectorSecurityGroupId" not in synth(**EMR).find_outputs("*")  # EMR's groups are the stack's


def test_hbase_mode_output_is_embedded_by_default(template: Template) -> None:
    assert template.find_outputs("HBaseMode")["HBaseMode"]["Value"] == "embedded"
    assert not {"CollectorServiceName", "WebServiceName", "EmrClusterId"} & set(template.find_outputs("*"))


# --- collectors ----------------------------------------------------------------------------------


def test_collectors_register_in_service_connect_exactly_as_the_all_in_one(
    distributed: Template, template: Template
) -> None:
    _, collectors = service(distributed, "pinpoint-collector")
    _, all_in_one = service(template, "pinpoint-all-in-one")
    connect = collectors["Properties"]["ServiceConnectConfiguration"]
    expected = all_in_one["Properties"]["ServiceConnectConfiguration"]
    assert connect["Enabled"] is True
    assert connect["Services"] == expected["Services"]  # port names, discovery names, DNS, ports, timeout
    assert {(a["DnsName"], a["Port"]) for s in connect["Services"] for a in s["ClientAliases"]} == {
        ("pinpoint", 9991),
        ("pinpoint", 9992),
        ("pinpoint", 9993),
    }
    assert all(s["Timeout"] == {"IdleTimeoutSeconds": 3600} for s in connect["Services"])
    # Plain TCP: no app protocol on the named ports.
    mappings = container_of(task_definition_of(distributed, "pinpoint-collector"))["PortMappings"]
    assert {(m["Name"], m["ContainerPort"]) for m in mappings} == {
        ("collector-agent", 9991),
        ("collector-stat", 9992),
        ("collector-span", 9993),
    }
    assert all("AppProtocol" not in m for m in mappings)


def test_collectors_roll_and_scale_on_cpu_between_min_and_max(distributed: Template) -> None:
    name, collectors = service(distributed, "pinpoint-collector")
    properties = collectors["Properties"]
    # No template count: a deploy must not reset what autoscaling chose to the minimum.
    assert "DesiredCount" not in properties
    assert properties["DeploymentConfiguration"] == {
        "MinimumHealthyPercent": 100,
        "MaximumPercent": 200,
        "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
    }
    assert properties["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"
    (target_name, target) = next(
        iter(distributed.find_resources("AWS::ApplicationAutoScaling::ScalableTarget").items())
    )
    assert len(distributed.find_resources("AWS::ApplicationAutoScaling::ScalableTarget")) == 1
    assert (target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"]) == (2, 6)
    assert target["Properties"]["ScalableDimension"] == "ecs:service:DesiredCount"
    assert name in json.dumps(target["Properties"]["ResourceId"])
    (policy,) = distributed.find_resources("AWS::ApplicationAutoScaling::ScalingPolicy").values()
    tracking = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 60
    assert tracking["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
    }
    assert policy["Properties"]["ScalingTargetId"] == {"Ref": target_name}
    # The next scale-out only after the connections were re-placed once (max connection age + grace).
    assert tracking["ScaleOutCooldown"] == 300 + 10
    assert tracking["ScaleInCooldown"] == 300


def test_collectors_end_agent_connections_so_new_tasks_get_their_share(distributed: Template) -> None:
    """Service Connect and the NLB balance connections and agents keep theirs: each collector closes
    every gRPC connection after the max connection age (collector.receiver.grpc.{agent,stat,span}.
    max_connection_age, pinpoint-collector-grpc-root.properties at v3.1.0: 3h upstream), set as
    system properties through the image's PINPOINT_COLLECTOR_JAVA_OPTS."""
    env = environment(container_of(task_definition_of(distributed, "pinpoint-collector")))
    options = env["PINPOINT_COLLECTOR_JAVA_OPTS"].split()
    assert sorted(options) == sorted(
        f"-Dcollector.receiver.grpc.{receiver}.max_connection_age=300s"
        for receiver in ("agent", "stat", "span")
    )
    web = environment(container_of(task_definition_of(distributed, "pinpoint-web")))
    assert "PINPOINT_COLLECTOR_JAVA_OPTS" not in web


def test_the_max_connection_age_is_a_setting_and_paces_the_scale_out() -> None:
    from stacks.config import ConfigError, parse_settings  # noqa: PLC0415
    from stacks.constructs.collector_service import collector_java_opts, scale_out_cooldown  # noqa: PLC0415

    config = parse_settings({**EXTERNAL, "collector_max_connection_age_seconds": 900})
    assert collector_java_opts(config).count("max_connection_age=900s") == 3
    assert scale_out_cooldown(config).to_seconds() == 910
    shortest = parse_settings({**EXTERNAL, "collector_max_connection_age_seconds": 60})
    assert scale_out_cooldown(shortest).to_seconds() == 70
    with pytest.raises(
        ConfigError, match=r"^Invalid setting collector_max_connection_age_seconds=30: allowed: 60"
    ):
        parse_settings({**EXTERNAL, "collector_max_connection_age_seconds": 30})


def test_collector_and_web_tasks_are_arm64_sized_by_their_settings(distributed: Template) -> None:
    for service_name, (cpu, memory) in {
        "pinpoint-collector": ("2048", "4096"),
        "pinpoint-web": ("1024", "2048"),
    }.items():
        properties = task_definition_of(distributed, service_name)["Properties"]
        assert properties["RuntimePlatform"] == {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}
        assert (properties["Cpu"], properties["Memory"]) == (cpu, memory)


def test_collector_and_web_containers_run_their_role_like_the_all_in_one(distributed: Template) -> None:
    roles = {"pinpoint-collector": "collector", "pinpoint-web": "web"}
    for service_name, role in roles.items():
        definition = container_of(task_definition_of(distributed, service_name))
        env = environment(definition)
        assert env["PINPOINT_ROLE"] == role
        assert env["PINPOINT_HBASE_ZOOKEEPER_QUORUM"]  # the mode's tests check the value
        assert env["PINPOINT_BOOT_TIMEOUT_SECONDS"] == "240"
        assert "HBASE_DATA_DIR" not in env
        assert definition["LinuxParameters"]["InitProcessEnabled"] is True
        assert definition["HealthCheck"]["Command"] == ["CMD", HEALTH_CHECK_COMMAND]
        assert definition["LogConfiguration"]["LogDriver"] == "awslogs"
        assert definition["StopTimeout"] == 120
    collector_env = environment(container_of(task_definition_of(distributed, "pinpoint-collector")))
    assert collector_env["CONTAINER_MEMORY_MB"] == "4096"
    assert collector_env["PINPOINT_COLLECTOR_AGENT_PORT"] == "9991"
    web_env = environment(container_of(task_definition_of(distributed, "pinpoint-web")))
    assert web_env["CONTAINER_MEMORY_MB"] == "2048"
    assert web_env["PINPOINT_WEB_PORT"] == "8080"


def test_external_quorum_reaches_every_hbase_client() -> None:
    template = synth(**EXTERNAL)
    tasks = [task_definition_of(template, n) for n in ("pinpoint-collector", "pinpoint-web")]
    (bootstrap_task,) = [
        t
        for n, t in template.find_resources("AWS::ECS::TaskDefinition").items()
        if n.startswith("TableBootstrap")
    ]
    for task in [*tasks, bootstrap_task]:
        env = environment(container_of(task))
        assert env["PINPOINT_HBASE_ZOOKEEPER_QUORUM"] == ",".join(EXTERNAL_QUORUM)
        assert env["PINPOINT_HBASE_ZNODE_PARENT"] == "/hbase-pinpoint"


# --- web -----------------------------------------------------------------------------------------


def test_web_service_is_behind_the_same_alb_check_and_grace(
    distributed: Template, template: Template
) -> None:
    web_name, web = service(distributed, "pinpoint-web")
    properties = web["Properties"]
    assert properties["DesiredCount"] == 1
    assert properties["HealthCheckGracePeriodSeconds"] == 300
    assert properties["DeploymentConfiguration"]["MinimumHealthyPercent"] == 100
    (balancer,) = properties["LoadBalancers"]
    assert (balancer["ContainerName"], balancer["ContainerPort"]) == ("pinpoint", 8080)
    # The same target group settings as the all-in-one's (path, matcher, port, intervals).
    (group,) = [
        g
        for n, g in distributed.find_resources("AWS::ElasticLoadBalancingV2::TargetGroup").items()
        if n.startswith("Web")
    ]
    (expected,) = template.find_resources("AWS::ElasticLoadBalancingV2::TargetGroup").values()
    assert balancer["TargetGroupArn"]["Ref"].startswith("Web")
    for key in ("HealthCheckPath", "Matcher", "Port", "Protocol", "TargetType", "HealthCheckIntervalSeconds"):
        assert group["Properties"][key] == expected["Properties"][key], key
    assert group["Properties"]["HealthCheckPath"] == "/serverTime"
    # The ALB may reach the web tasks on 8080 only.
    ingress = [
        r["Properties"]
        for r in distributed.find_resources("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [_group_of(distributed, web_name), "GroupId"]}
    ]
    assert [(r["FromPort"], r["SourceSecurityGroupId"]["Fn::GetAtt"][0][:3]) for r in ingress] == [
        (8080, "Web")
    ]


def _group_of(template: Template, service_logical_id: str) -> str:
    (group,) = template.to_json()["Resources"][service_logical_id]["Properties"]["NetworkConfiguration"][
        "AwsvpcConfiguration"
    ]["SecurityGroups"]
    return group["Fn::GetAtt"][0]


def test_web_gets_the_admin_password_as_a_secret(distributed: Template) -> None:
    definition = container_of(task_definition_of(distributed, "pinpoint-web"))
    (secret,) = definition["Secrets"]
    assert secret["Name"] == ADMIN_PASSWORD_VARIABLE
    assert ADMIN_PASSWORD_VARIABLE not in environment(definition)
    assert distributed.find_outputs("WebAdminSecretArn")["WebAdminSecretArn"]["Value"] == secret["ValueFrom"]
    assert "Secrets" not in container_of(task_definition_of(distributed, "pinpoint-collector"))


# --- order of start ------------------------------------------------------------------------------


def test_collectors_and_web_start_after_the_table_bootstrap(distributed: Template) -> None:
    bootstrap = bootstrap_resource(distributed)
    for name in ("pinpoint-collector", "pinpoint-web"):
        _, svc = service(distributed, name)
        assert bootstrap in svc.get("DependsOn", []), name


def test_collector_nlb_and_app_ingress_follow_the_collectors() -> None:
    template = synth(**EMR)  # agents outside Service Connect configured
    name, collectors = service(template, "pinpoint-collector")
    assert len(collectors["Properties"]["LoadBalancers"]) == 3
    assert {b["ContainerPort"] for b in collectors["Properties"]["LoadBalancers"]} == {9991, 9992, 9993}
    group = _group_of(template, name)
    ingress = [
        r["Properties"]
        for r in template.find_resources("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group, "GroupId"]}
    ]
    sources = {(r["SourceSecurityGroupId"]["Fn::GetAtt"][0], r["FromPort"]) for r in ingress}
    kinds = {
        (
            "apps"
            if source.startswith("ApplicationSecurityGroup")
            else "nlb"
            if source.startswith("CollectorNlb")
            else source,
            port,
        )
        for source, port in sources
    }
    # Agents in the application group, and the NLB; the three gRPC ports, nothing else.
    assert kinds == {(kind, port) for kind in ("apps", "nlb") for port in (9991, 9992, 9993)}, sources


def test_sample_app_waits_for_the_collectors() -> None:
    template = synth(**EXTERNAL)  # includes the sample app
    collector, _ = service(template, "pinpoint-collector")
    (sample,) = [
        s for n, s in template.find_resources("AWS::ECS::Service").items() if n.startswith("SampleApp")
    ]
    assert collector in sample["DependsOn"]


# --- cdk-nag ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(MODES))
def test_every_acknowledged_finding_of_the_mode_carries_a_specific_reason(mode: str) -> None:
    """Synthesis already failed on any unacknowledged finding (conftest: app.synth() runs cdk-nag);
    what is acknowledged must say why, per finding."""
    acknowledged = [
        (path, rule, reason)
        for path, entry in synthesized(**MODES[mode]).entries(Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        for rule, reason in entry["data"].items()
        if rule.startswith("AwsSolutions")
    ]
    assert any("/TableBootstrap" in path for path, _, _ in acknowledged)
    if mode == "emr":
        on_cluster = {rule for path, rule, _ in acknowledged if path.endswith("/EmrHBase/Cluster")}
        # EMR4/EMR5: cdk-nag 3.0.2 looks one level above EncryptionConfiguration (test_topology_emr
        # asserts the real configuration); EMR6: no SSH at all.
        assert on_cluster == {f"AwsSolutions::AwsSolutions-EMR{n}" for n in (4, 5, 6)}
    reasons = {f"{path}:{rule}": reason for path, rule, reason in acknowledged}
    for key, reason in reasons.items():
        assert len(reason) >= 40, f"{key}: reason too thin: {reason!r}"

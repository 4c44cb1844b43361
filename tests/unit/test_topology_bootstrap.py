"""The table bootstrap custom resource (synthesized) and the external HBase's network reach."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Template

from stacks.config import ConfigError, parse_settings
from stacks.constructs.emr_hbase import ExternalHBase
from stacks.constructs.fargate import table_environment
from stacks.constructs.table_bootstrap import (
    MAX_WAIT_SECONDS,
    QUERY_INTERVAL,
    START_ALLOWANCE_SECONDS,
    total_timeout,
)
from tests.unit.conftest import EMR, EXTERNAL, synth

MODES = {"emr": EMR, "external": EXTERNAL}


# The bootstrap's budget by default: EMR creates pre-split tables on S3 (slow), external HBase gets
# the boot budget.
DEFAULT_BUDGET = {"emr": 1800, "external": 240}


@pytest.fixture(scope="module", params=list(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def distributed(mode: str) -> Template:
    return synth(**MODES[mode])


def resources(template: Template) -> dict[str, Any]:
    return template.to_json()["Resources"]


def bootstrap(template: Template) -> tuple[str, dict[str, Any]]:
    found = template.find_resources("Custom::PinpointTableBootstrap")
    assert len(found) == 1
    return next(iter(found.items()))


def bootstrap_task(template: Template) -> tuple[str, dict[str, Any]]:
    (item,) = [
        (n, t)
        for n, t in template.find_resources("AWS::ECS::TaskDefinition").items()
        if n.startswith("TableBootstrap")
    ]
    return item


def policy_statements(template: Template, role_prefix: str) -> list[dict[str, Any]]:
    (role,) = [n for n in template.find_resources("AWS::IAM::Role") if n.startswith(role_prefix)]
    return [
        s
        for p in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_no_bootstrap_in_embedded_mode(template: Template) -> None:
    assert not template.find_resources("Custom::PinpointTableBootstrap")


def test_bootstrap_runs_the_bootstrap_role_of_the_same_image_once(distributed: Template, mode: str) -> None:
    _, task = bootstrap_task(distributed)
    (container,) = task["Properties"]["ContainerDefinitions"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert env["PINPOINT_ROLE"] == "bootstrap"
    # The same TTLs and pre-split the all-in-one applies to its own tables.
    for key, value in table_environment(parse_settings({})).items():
        assert env[key] == value, key
    assert env["PINPOINT_BOOT_TIMEOUT_SECONDS"] == str(DEFAULT_BUDGET[mode])
    assert "HealthCheck" not in container  # a one-off task: its exit code is the verdict
    assert container["LinuxParameters"]["InitProcessEnabled"] is True
    assert "PortMappings" not in container or container["PortMappings"] == []
    assert "EphemeralStorage" not in task["Properties"]
    # The image is the collectors' image.
    collector = next(
        t
        for t in distributed.find_resources("AWS::ECS::TaskDefinition").values()
        if {"Name": "PINPOINT_ROLE", "Value": "collector"}
        in t["Properties"]["ContainerDefinitions"][0]["Environment"]
    )
    assert container["Image"] == collector["Properties"]["ContainerDefinitions"][0]["Image"]


def test_custom_resource_names_the_task_and_where_to_run_it(distributed: Template) -> None:
    _, resource = bootstrap(distributed)
    task_name, task = bootstrap_task(distributed)
    properties = resource["Properties"]
    (cluster,) = distributed.find_resources("AWS::ECS::Cluster")
    assert properties["ClusterName"] == {"Ref": cluster}
    assert properties["TaskDefinitionArn"] == {"Ref": task_name}  # a new revision runs it again
    (container,) = task["Properties"]["ContainerDefinitions"]
    options = container["LogConfiguration"]["Options"]
    assert properties["ContainerName"] == container["Name"] == "pinpoint"
    assert properties["LogGroupName"] == options["awslogs-group"]
    assert properties["LogStreamPrefix"] == options["awslogs-stream-prefix"]
    # The collectors' subnets, and the bootstrap's own group.
    collector = next(
        s
        for s in distributed.find_resources("AWS::ECS::Service").values()
        if s["Properties"]["ServiceName"] == "pinpoint-collector"
    )
    assert (
        properties["Subnets"]
        == collector["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"]
    )
    (group,) = properties["SecurityGroups"]
    assert resources(distributed)[group["Fn::GetAtt"][0]]["Properties"]["GroupDescription"].startswith(
        "Pinpoint table bootstrap task"
    )
    # CloudFormation waits at most an hour for a custom resource; the waiter stops before that.
    assert properties["ServiceTimeout"] == "3600"
    assert MAX_WAIT_SECONDS < 3600


def test_every_ttl_and_the_split_are_properties_so_a_change_reruns_the_bootstrap(
    distributed: Template,
) -> None:
    """The task definition's ARN is the same token in every template: without the settings in the
    properties, a TTL change would change the template only in the task definition."""
    _, resource = bootstrap(distributed)
    _, task = bootstrap_task(distributed)
    (container,) = task["Properties"]["ContainerDefinitions"]
    env = {e["Name"]: e["Value"] for e in container["Environment"]}
    table_settings = {k: v for k, v in env.items() if k.startswith("PINPOINT_TTL_") or "SPLIT" in k}
    assert len(table_settings) == 6  # five TTL variables and the split
    assert resource["Properties"]["TableSettings"] == table_settings


def test_the_table_settings_property_follows_every_ttl() -> None:
    base = table_environment(parse_settings({}))
    changed = table_environment(parse_settings({"hbase_ttl_days": 30}))
    assert {k for k in base if base[k] != changed[k]} == {
        "PINPOINT_TTL_TRACE_SECONDS",
        "PINPOINT_TTL_STATISTICS_SECONDS",
        "PINPOINT_TTL_AGENT_EVENT_SECONDS",
    }
    # Above upstream's metadata TTLs the metadata TTLs follow, so they re-run the bootstrap too.
    longer = table_environment(parse_settings({"hbase_ttl_days": 400}))
    assert {k for k in base if base[k] != longer[k]} == {
        "PINPOINT_TTL_TRACE_SECONDS",
        "PINPOINT_TTL_STATISTICS_SECONDS",
        "PINPOINT_TTL_AGENT_EVENT_SECONDS",
        "PINPOINT_TTL_METADATA_SECONDS",
        "PINPOINT_TTL_API_METADATA_SECONDS",
    }
    assert table_environment(parse_settings({"hbase_split_regions": 8})) != base


def test_waiter_polls_every_15_s_and_gives_up_after_the_bootstrap_budget_plus_a_start_allowance(
    distributed: Template, mode: str
) -> None:
    (machine,) = distributed.find_resources("AWS::StepFunctions::StateMachine").values()
    definition = json.dumps(machine["Properties"]["DefinitionString"])
    assert f'\\"IntervalSeconds\\":{QUERY_INTERVAL.to_seconds()}' in definition
    timeout = DEFAULT_BUDGET[mode] + START_ALLOWANCE_SECONDS
    assert total_timeout(parse_settings(MODES[mode])).to_seconds() == timeout
    assert f'\\"MaxAttempts\\":{int(timeout / QUERY_INTERVAL.to_seconds())}' in definition
    assert machine["Properties"]["LoggingConfiguration"]["Level"] == "ALL"


def test_the_bootstrap_budget_is_a_setting_bounded_by_the_waiter() -> None:
    emr = parse_settings({**MODES["emr"], "bootstrap_timeout_seconds": 2400})
    assert emr.bootstrap_budget_seconds == 2400
    assert total_timeout(emr).to_seconds() == 2400 + START_ALLOWANCE_SECONDS <= MAX_WAIT_SECONDS
    external = parse_settings(
        {**MODES["external"], "boot_timeout_seconds": 600, "health_check_grace_seconds": 630}
    )
    assert external.bootstrap_budget_seconds == 600
    longest = parse_settings(
        {**MODES["external"], "boot_timeout_seconds": 3600, "health_check_grace_seconds": 3630}
    )
    assert total_timeout(longest).to_seconds() == MAX_WAIT_SECONDS  # bounded
    with pytest.raises(
        ConfigError, match=r"^Invalid setting bootstrap_timeout_seconds=2401: allowed: 60 to 2400"
    ):
        parse_settings({**MODES["emr"], "bootstrap_timeout_seconds": 2401})
    with pytest.raises(
        ConfigError, match=r"^Invalid setting bootstrap_timeout_seconds=600: allowed: only with"
    ):
        parse_settings({"bootstrap_timeout_seconds": 600})


def test_handlers_are_python_on_arm64_with_the_framework(distributed: Template) -> None:
    functions = {
        f["Properties"]["Handler"]: f["Properties"]
        for n, f in distributed.find_resources("AWS::Lambda::Function").items()
        if n.startswith("TableBootstrap") and "Handler" in f["Properties"]
    }
    for handler in ("handler.on_event", "handler.is_complete"):
        assert functions[handler]["Runtime"] == "python3.14", handler
        assert functions[handler]["Architectures"] == ["arm64"], handler
        assert "VpcConfig" not in functions[handler]  # ECS and Logs APIs only


def test_on_event_may_run_only_this_task_in_this_cluster_and_read_its_stacks_status(
    distributed: Template,
) -> None:
    task_name, task = bootstrap_task(distributed)
    (cluster,) = distributed.find_resources("AWS::ECS::Cluster")
    granted = [
        {**s, "Resource": sorted(s["Resource"], key=json.dumps)} if isinstance(s["Resource"], list) else s
        for s in policy_statements(distributed, "TableBootstrapOnEventRole")
        if s["Action"]
        != [
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        ]
    ]
    assert granted == [
        {
            "Action": "ecs:RunTask",
            "Condition": {"ArnEquals": {"ecs:cluster": {"Fn::GetAtt": [cluster, "Arn"]}}},
            "Effect": "Allow",
            "Resource": {"Ref": task_name},
        },
        # Is this update a rollback? Its own stack only.
        {"Action": "cloudformation:DescribeStacks", "Effect": "Allow", "Resource": {"Ref": "AWS::StackId"}},
        {
            "Action": "iam:PassRole",
            "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            "Effect": "Allow",
            "Resource": sorted(
                [task["Properties"]["TaskRoleArn"], task["Properties"]["ExecutionRoleArn"]], key=json.dumps
            ),
        },
    ]


def test_is_complete_may_describe_this_clusters_tasks_and_read_the_log(distributed: Template) -> None:
    (cluster,) = distributed.find_resources("AWS::ECS::Cluster")
    _, resource = bootstrap(distributed)
    group = resource["Properties"]["LogGroupName"]["Ref"]
    granted = [
        s
        for s in policy_statements(distributed, "TableBootstrapIsCompleteRole")
        if s["Action"] != ["logs:CreateLogStream", "logs:PutLogEvents"]
    ]
    assert granted == [
        {
            "Action": "ecs:DescribeTasks",
            "Condition": {"ArnEquals": {"ecs:cluster": {"Fn::GetAtt": [cluster, "Arn"]}}},
            "Effect": "Allow",
            "Resource": "*",
        },
        {"Action": "logs:GetLogEvents", "Effect": "Allow", "Resource": {"Fn::GetAtt": [group, "Arn"]}},
    ]


def test_no_aws_managed_policies_on_the_bootstrap_roles(distributed: Template) -> None:
    for name, role in distributed.find_resources("AWS::IAM::Role").items():
        if name.startswith("TableBootstrap"):
            assert "ManagedPolicyArns" not in role["Properties"], name


# --- external HBase: egress only to the user's HBase ports -----------------------------------------


def test_external_tasks_may_leave_only_to_the_quorum_master_and_regionserver_ports() -> None:
    template = synth(**EXTERNAL)
    descriptions = ("Pinpoint collector tasks", "Pinpoint web tasks", "Pinpoint table bootstrap task")
    for name, group in template.find_resources("AWS::EC2::SecurityGroup").items():
        if not group["Properties"]["GroupDescription"].startswith(descriptions):
            continue
        egress = {
            (r["CidrIp"], r["FromPort"], r["ToPort"]) for r in group["Properties"]["SecurityGroupEgress"]
        }
        assert egress == {("0.0.0.0/0", 443, 443)} | {
            ("10.40.0.0/16", port, port) for port in (2181, 2182, 16000, 16020)
        }, name
        assert not [
            r
            for r in template.find_resources("AWS::EC2::SecurityGroupEgress").values()
            if r["Properties"]["GroupId"] == {"Fn::GetAtt": [name, "GroupId"]}
        ]


def test_external_hbase_cidrs_replace_the_vpc_cidr() -> None:
    config = parse_settings(
        {
            "hbase_mode": "external",
            "hbase_zookeeper_quorum": "10.9.0.10:2181",
            "hbase_external_cidrs": "10.9.0.0/24,192.168.5.0/24",
        }
    )
    stack = Stack(App(), "Probe")
    group = ec2.SecurityGroup(stack, "Task", vpc=ec2.Vpc(stack, "Vpc"), allow_all_outbound=False)
    hbase = ExternalHBase(config, vpc_cidr="10.40.0.0/16")
    hbase.allow_client(group, "probe")
    assert hbase.zookeeper_quorum == "10.9.0.10:2181"
    (probe,) = Template.from_stack(stack).find_resources("AWS::EC2::SecurityGroup").values()
    assert {(r["CidrIp"], r["FromPort"]) for r in probe["Properties"]["SecurityGroupEgress"]} == {
        (cidr, port) for cidr in ("10.9.0.0/24", "192.168.5.0/24") for port in (2181, 16000, 16020)
    }

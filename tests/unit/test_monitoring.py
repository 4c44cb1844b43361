"""Alarms, their one topic and the dashboard (stacks/constructs/monitoring.py), on real synth."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk.assertions import Annotations, Match, Template

from stacks.config import PlatformConfig
from stacks.constructs.monitoring import (
    HBASE_FAILURE_PERIODS,
    HTTP_5XX_THRESHOLD,
    NO_TASK_MINUTES,
    STORAGE_PERIODS,
    UNHEALTHY_MARGIN_MINUTES,
    UTILIZATION_PERIODS,
    Monitoring,
)
from tests.unit.conftest import CUSTOMIZED, EMR, EXISTING_VPC, EXTERNAL, OPERATIONS, SAMPLE_APP, synth

# Where the alarms apply: every variant (HBase on ephemeral storage or EFS, new or existing VPC),
# and the one with every operations setting away from its default.
VARIANTS = {
    "default": {},
    "sample-app": SAMPLE_APP,
    "efs": CUSTOMIZED,
    "existing-vpc": EXISTING_VPC,
    "operations": OPERATIONS,
}
SIGNALS = (
    "no-running-task",
    "cpu-high",
    "memory-high",
    "ephemeral-storage-high",
    "web-unhealthy-targets",
    "web-5xx",
    "agent-distribution-failed",
)


def setting(overrides: dict[str, Any], name: str) -> Any:
    return overrides.get(name, PlatformConfig.model_fields[name].default)


def resources(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    return template.find_resources(resource_type)


def one(template: Template, resource_type: str, predicate: Any = lambda _props: True) -> str:
    """The logical id of the one resource of a type whose properties satisfy ``predicate``."""
    found = [
        name for name, r in resources(template, resource_type).items() if predicate(r.get("Properties", {}))
    ]
    assert len(found) == 1, f"expected one {resource_type}, found {found}"
    return found[0]


def alarm(template: Template, name: str) -> dict[str, Any]:
    found = [
        r["Properties"]
        for r in resources(template, "AWS::CloudWatch::Alarm").values()
        if r["Properties"]["AlarmName"] == name
    ]
    assert len(found) == 1, f"expected one alarm named {name}, found {len(found)}"
    return found[0]


def metrics(props: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The alarm's metrics by id ("m" for a single-metric alarm): namespace, name, dimensions
    (name -> value), statistic and period; expressions under "expression"."""
    if "MetricName" in props:
        return {
            "m": {
                "Namespace": props["Namespace"],
                "MetricName": props["MetricName"],
                "Dimensions": {d["Name"]: d["Value"] for d in props.get("Dimensions", [])},
                "Stat": props["Statistic"],
                "Period": props["Period"],
            }
        }
    found: dict[str, dict[str, Any]] = {}
    for entry in props["Metrics"]:
        if "Expression" in entry:
            assert entry["ReturnData"] is True
            found["expression"] = {"Expression": entry["Expression"]}
            continue
        stat = entry["MetricStat"]
        found[entry["Id"]] = {
            "Namespace": stat["Metric"]["Namespace"],
            "MetricName": stat["Metric"]["MetricName"],
            "Dimensions": {d["Name"]: d["Value"] for d in stat["Metric"].get("Dimensions", [])},
            "Stat": stat["Stat"],
            "Period": stat["Period"],
        }
    return found


class Refs:
    """Logical ids of what the alarms watch, in one synthesized template."""

    def __init__(self, template: Template, overrides: dict[str, Any]) -> None:
        prefix = setting(overrides, "name_prefix")
        self.cluster = one(template, "AWS::ECS::Cluster")
        self.service = one(
            template, "AWS::ECS::Service", lambda p: p.get("ServiceName") == f"{prefix}-all-in-one"
        )
        self.alb = one(
            template, "AWS::ElasticLoadBalancingV2::LoadBalancer", lambda p: p["Type"] == "application"
        )
        self.target_group = one(
            template, "AWS::ElasticLoadBalancingV2::TargetGroup", lambda p: p["Protocol"] == "HTTP"
        )
        self.listener = one(
            template,
            "AWS::ElasticLoadBalancingV2::Listener",
            lambda p: (
                p["LoadBalancerArn"] == {"Ref": self.alb}
                and p["DefaultActions"][0].get("TargetGroupArn") == {"Ref": self.target_group}
            ),
        )
        self.function = one(
            template,
            "AWS::Lambda::Function",
            lambda p: str(p.get("Description", "")).startswith("Installs the Pinpoint agent"),
        )
        self.topic = one(template, "AWS::SNS::Topic")

    @property
    def service_dimensions(self) -> dict[str, Any]:
        return {"ClusterName": {"Ref": self.cluster}, "ServiceName": {"Fn::GetAtt": [self.service, "Name"]}}


@pytest.fixture(scope="module", params=VARIANTS)
def variant(request: pytest.FixtureRequest) -> tuple[Template, dict[str, Any], Refs]:
    overrides = VARIANTS[request.param]
    template = synth(**overrides)
    return template, overrides, Refs(template, overrides)


# --- every alarm: named <name_prefix>-<signal>, to the one topic --------------------------------
def test_every_signal_has_one_alarm_named_after_the_prefix_and_notifies_the_one_topic(variant) -> None:
    template, overrides, refs = variant
    prefix = setting(overrides, "name_prefix")
    alarms = [r["Properties"] for r in resources(template, "AWS::CloudWatch::Alarm").values()]
    assert sorted(a["AlarmName"] for a in alarms) == sorted(f"{prefix}-{signal}" for signal in SIGNALS)
    for props in alarms:
        assert props["AlarmActions"] == [{"Ref": refs.topic}], props["AlarmName"]
        assert props["OKActions"] == [{"Ref": refs.topic}], props["AlarmName"]
        assert props["DatapointsToAlarm"] == props["EvaluationPeriods"], props["AlarmName"]


def test_no_running_task_counts_running_tasks_and_a_stopped_service_breaches(variant) -> None:
    template, overrides, refs = variant
    props = alarm(template, f"{setting(overrides, 'name_prefix')}-no-running-task")
    assert metrics(props) == {
        "m1": {
            "Namespace": "ECS/ContainerInsights",
            "MetricName": "RunningTaskCount",
            "Dimensions": refs.service_dimensions,
            "Stat": "Maximum",
            "Period": 60,
        }
    }
    assert props["ComparisonOperator"] == "LessThanThreshold"
    assert props["Threshold"] == 1
    # ECS publishes nothing for a service without RUNNING tasks: missing data must alarm.
    assert props["TreatMissingData"] == "breaching"
    assert props["EvaluationPeriods"] == NO_TASK_MINUTES


@pytest.mark.parametrize(
    ("signal", "metric_name", "setting_name"),
    [
        ("cpu-high", "CPUUtilization", "alarm_cpu_percent"),
        ("memory-high", "MemoryUtilization", "alarm_memory_percent"),
    ],
)
def test_cpu_and_memory_alarms_use_the_service_utilization_and_the_threshold_setting(
    variant, signal: str, metric_name: str, setting_name: str
) -> None:
    template, overrides, refs = variant
    props = alarm(template, f"{setting(overrides, 'name_prefix')}-{signal}")
    assert metrics(props) == {
        "m": {
            "Namespace": "AWS/ECS",
            "MetricName": metric_name,
            "Dimensions": refs.service_dimensions,
            "Stat": "Average",
            "Period": 300,
        }
    }
    assert props["Threshold"] == setting(overrides, setting_name)
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert props["TreatMissingData"] == "notBreaching"
    assert props["EvaluationPeriods"] == UTILIZATION_PERIODS


def test_ephemeral_storage_alarm_is_the_used_share_of_the_reserved_storage(variant) -> None:
    template, overrides, refs = variant
    props = alarm(template, f"{setting(overrides, 'name_prefix')}-ephemeral-storage-high")
    found = metrics(props)
    assert found["expression"] == {"Expression": "100 * utilized / reserved"}
    for metric_id, metric_name in (
        ("utilized", "EphemeralStorageUtilized"),
        ("reserved", "EphemeralStorageReserved"),
    ):
        assert found[metric_id] == {
            "Namespace": "ECS/ContainerInsights",
            "MetricName": metric_name,
            "Dimensions": refs.service_dimensions,
            "Stat": "Average",
            "Period": 300,
        }
    assert props["Threshold"] == setting(overrides, "alarm_ephemeral_storage_percent")
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert props["TreatMissingData"] == "notBreaching"
    assert props["EvaluationPeriods"] == STORAGE_PERIODS


def test_unhealthy_targets_alarm_waits_out_the_health_check_grace_period(variant) -> None:
    template, overrides, refs = variant
    props = alarm(template, f"{setting(overrides, 'name_prefix')}-web-unhealthy-targets")
    (metric,) = metrics(props).values()
    assert (metric["Namespace"], metric["MetricName"], metric["Stat"], metric["Period"]) == (
        "AWS/ApplicationELB",
        "UnHealthyHostCount",
        "Maximum",
        60,
    )
    assert metric["Dimensions"]["TargetGroup"] == {"Fn::GetAtt": [refs.target_group, "TargetGroupFullName"]}
    assert refs.listener in json.dumps(metric["Dimensions"]["LoadBalancer"])  # the web ALB's listener
    assert props["Threshold"] == 1
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert props["TreatMissingData"] == "notBreaching"
    grace_minutes = math.ceil(setting(overrides, "health_check_grace_seconds") / 60)
    assert props["EvaluationPeriods"] == grace_minutes + UNHEALTHY_MARGIN_MINUTES


def test_5xx_alarm_adds_the_targets_and_the_load_balancers_own_5xx(variant) -> None:
    template, overrides, refs = variant
    props = alarm(template, f"{setting(overrides, 'name_prefix')}-web-5xx")
    found = metrics(props)
    assert found["expression"] == {"Expression": "FILL(target, 0) + FILL(alb, 0)"}
    target, alb = found["target"], found["alb"]
    assert (target["Namespace"], target["MetricName"], target["Stat"], target["Period"]) == (
        "AWS/ApplicationELB",
        "HTTPCode_Target_5XX_Count",
        "Sum",
        300,
    )
    assert target["Dimensions"]["TargetGroup"] == {"Fn::GetAtt": [refs.target_group, "TargetGroupFullName"]}
    assert alb == {
        "Namespace": "AWS/ApplicationELB",
        "MetricName": "HTTPCode_ELB_5XX_Count",
        "Dimensions": {"LoadBalancer": {"Fn::GetAtt": [refs.alb, "LoadBalancerFullName"]}},
        "Stat": "Sum",
        "Period": 300,
    }
    assert props["Threshold"] == HTTP_5XX_THRESHOLD
    assert props["TreatMissingData"] == "notBreaching"


def test_agent_distribution_alarm_counts_lambda_errors_and_failed_answers(variant) -> None:
    template, overrides, refs = variant
    prefix = setting(overrides, "name_prefix")
    props = alarm(template, f"{prefix}-agent-distribution-failed")
    # A FAILED answer to CloudFormation is logged at ERROR by the handler, which then returns
    # normally: only its log line shows it, so a metric filter on the function's own log group.
    log_group = template.find_resources("AWS::Lambda::Function")[refs.function]["Properties"][
        "LoggingConfig"
    ]["LogGroup"]
    template.has_resource_properties(
        "AWS::Logs::MetricFilter",
        {
            "LogGroupName": log_group,
            "FilterPattern": '"[ERROR]"',
            "MetricTransformations": [
                {
                    "MetricNamespace": "PinpointOnFargate",
                    "MetricName": f"{prefix}-agent-distribution-error-logs",
                    "MetricValue": "1",
                }
            ],
        },
    )
    assert metrics(props) == {
        "expression": {"Expression": "FILL(errors, 0) + FILL(errorlogs, 0)"},
        "errors": {
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": {"FunctionName": {"Ref": refs.function}},
            "Stat": "Sum",
            "Period": 300,
        },
        "errorlogs": {
            "Namespace": "PinpointOnFargate",
            "MetricName": f"{prefix}-agent-distribution-error-logs",
            "Dimensions": {},
            "Stat": "Sum",
            "Period": 300,
        },
    }
    assert props["Threshold"] == 1
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert props["TreatMissingData"] == "notBreaching"


# --- the topic ----------------------------------------------------------------------------------
def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use_and_refuses_plain_http(variant) -> None:
    template, overrides, refs = variant
    prefix = setting(overrides, "name_prefix")
    topic = resources(template, "AWS::SNS::Topic")[refs.topic]["Properties"]
    assert topic["TopicName"] == f"{prefix}-alarms"
    key_id = topic["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key = resources(template, "AWS::KMS::Key")[key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    assert {
        "Sid": "CloudWatchAlarmsUseTheKey",
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
    } in key["KeyPolicy"]["Statement"]
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": refs.topic}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "sns:Publish",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ),
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": "sns:Publish",
                                "Condition": Match.object_like(
                                    {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
                                ),
                            }
                        ),
                    ]
                )
            },
        },
    )
    assert f":alarm:{prefix}-*" in json.dumps(template.find_resources("AWS::SNS::TopicPolicy"))


def test_email_subscription_exists_only_when_alarm_email_is_set(variant) -> None:
    template, overrides, refs = variant
    subscriptions = [r["Properties"] for r in resources(template, "AWS::SNS::Subscription").values()]
    if setting(overrides, "alarm_email") is None:
        assert subscriptions == []
    else:
        assert subscriptions == [
            {"Protocol": "email", "Endpoint": overrides["alarm_email"], "TopicArn": {"Ref": refs.topic}}
        ]


# --- the dashboard and the outputs ------------------------------------------------------------
def dashboard_body(template: Template) -> dict[str, Any]:
    """The body with each CloudFormation reference rendered as ``${<logical id>.<attribute>}``."""
    (dashboard,) = resources(template, "AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]

    def render(part: Any) -> str:
        if isinstance(part, str):
            return part
        if "Ref" in part:
            return f"${{{part['Ref']}}}"
        return "${" + ".".join(part["Fn::GetAtt"]) + "}"

    return json.loads("".join(render(p) for p in parts))


def test_dashboard_graphs_every_alarm_with_its_threshold(variant) -> None:
    template, overrides, _ = variant
    (name,) = [
        r["Properties"]["DashboardName"] for r in resources(template, "AWS::CloudWatch::Dashboard").values()
    ]
    assert name == f"{setting(overrides, 'name_prefix')}-eu-west-1"
    widgets = dashboard_body(template)["widgets"]
    graphed = {
        w["properties"]["title"]: w["properties"]["annotations"]["alarms"]
        for w in widgets
        if w["type"] == "metric"
    }
    alarm_ids = {
        r["Properties"]["AlarmName"]: n for n, r in resources(template, "AWS::CloudWatch::Alarm").items()
    }
    # An alarm widget draws the alarm's own metric (or expression) and its threshold.
    assert graphed == {name: [f"${{{logical_id}.Arn}}"] for name, logical_id in alarm_ids.items()}


def test_outputs_name_the_topic_the_dashboard_and_the_web_target_group(variant) -> None:
    template, _, refs = variant
    outputs = template.to_json()["Outputs"]
    (dashboard,) = resources(template, "AWS::CloudWatch::Dashboard")
    assert outputs["AlarmTopicArn"]["Value"] == {"Ref": refs.topic}
    assert outputs["DashboardName"]["Value"] == {"Ref": dashboard}
    assert outputs["WebTargetGroupArn"]["Value"] == {"Ref": refs.target_group}


# --- the hook, on a small stack: more services, and Container Insights off ----------------------
@pytest.fixture(scope="module")
def hook_stack() -> tuple[Template, Stack]:
    """Two services watched with labels in a cluster without Container Insights."""
    app = App()
    stack = Stack(app, "HookTest", env=Environment(account="123456789012", region="eu-west-1"))
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0)
    cluster = ecs.Cluster(stack, "Cluster", vpc=vpc)
    monitoring = Monitoring(
        stack, "Monitoring", config=PlatformConfig(name_prefix="hook", container_insights="disabled")
    )
    for label, storage in (("collector", True), ("web", False)):
        task = ecs.FargateTaskDefinition(stack, f"{label}Task")
        task.add_container("app", image=ecs.ContainerImage.from_registry("example/app"))
        service = ecs.FargateService(stack, f"{label}Service", cluster=cluster, task_definition=task)
        monitoring.watch_service(service, label=label, ephemeral_storage=storage)
    return Template.from_stack(stack), stack


def test_each_watched_service_gets_its_own_labelled_alarms(hook_stack) -> None:
    template, _ = hook_stack
    names = sorted(
        r["Properties"]["AlarmName"] for r in resources(template, "AWS::CloudWatch::Alarm").values()
    )
    assert names == sorted(
        f"hook-{label}-{signal}"
        for label in ("collector", "web")
        for signal in ("no-running-task", "cpu-high", "memory-high")
    )


def test_without_container_insights_no_alarm_relies_on_its_metrics_and_synth_says_so(hook_stack) -> None:
    template, stack = hook_stack
    assert "ECS/ContainerInsights" not in json.dumps(template.to_json())
    # "No running task" still alarms: ECS publishes CPU samples only while a task is RUNNING.
    for label in ("collector", "web"):
        props = alarm(template, f"hook-{label}-no-running-task")
        (metric,) = metrics(props).values()
        assert (metric["Namespace"], metric["MetricName"], metric["Stat"]) == (
            "AWS/ECS",
            "CPUUtilization",
            "SampleCount",
        )
        assert (props["ComparisonOperator"], props["Threshold"]) == ("LessThanThreshold", 1)
        assert props["TreatMissingData"] == "breaching"
    # One line at synth for the one service that asked for the storage alarm.
    warnings = Annotations.from_stack(stack).find_warning(
        "*", Match.string_like_regexp("container_insights=disabled")
    )
    assert len(warnings) == 1
    text = warnings[0].entry.data
    assert "hook-collector-ephemeral-storage-high" in text
    assert "container_insights=enabled" in text


@pytest.mark.parametrize("overrides", [EMR, EXTERNAL], ids=["emr", "external"])
def test_distributed_topology_watches_the_collector_and_web_services(overrides: dict[str, Any]) -> None:
    template = synth(**overrides)
    names = {
        alarm["Properties"]["AlarmName"]
        for alarm in template.find_resources("AWS::CloudWatch::Alarm").values()
    }
    per_service = {
        f"pinpoint-{label}-{signal}"
        for label in ("collector", "web")
        for signal in ("no-running-task", "cpu-high", "memory-high", "hbase-unreachable")
    }
    assert per_service <= names
    assert {
        "pinpoint-web-unhealthy-targets",
        "pinpoint-web-5xx",
        "pinpoint-agent-distribution-failed",
    } <= names
    # Nothing is stored on the distributed tasks: no storage alarm, and no all-in-one alarms.
    assert not any("ephemeral-storage" in name for name in names)
    assert "pinpoint-no-running-task" not in names


@pytest.mark.parametrize("overrides", [EMR, EXTERNAL], ids=["emr", "external"])
def test_failed_hbase_calls_in_the_collector_and_web_logs_alarm(overrides: dict[str, Any]) -> None:
    """HBase outside the tasks: their health checks do not touch it, so an outage shows in their
    logs (the HBase client's RetriesExhausted), counted by a metric filter on each service's own
    container log group."""
    template = synth(**overrides)
    resources = template.to_json()["Resources"]
    for label in ("collector", "web"):
        ((service_id, service),) = [
            (name, r)
            for name, r in resources.items()
            if r["Type"] == "AWS::ECS::Service" and r["Properties"]["ServiceName"] == f"pinpoint-{label}"
        ]
        task_definition = resources[service["Properties"]["TaskDefinition"]["Ref"]]["Properties"]
        (container,) = task_definition["ContainerDefinitions"]
        log_group = container["LogConfiguration"]["Options"]["awslogs-group"]
        metric_name = f"pinpoint-{label}-hbase-failures"
        template.has_resource_properties(
            "AWS::Logs::MetricFilter",
            {
                "LogGroupName": log_group,
                "FilterPattern": '"RetriesExhausted"',
                "MetricTransformations": [
                    {"MetricNamespace": "PinpointOnFargate", "MetricName": metric_name, "MetricValue": "1"}
                ],
            },
        )
        props = alarm(template, f"pinpoint-{label}-hbase-unreachable")
        assert list(metrics(props).values()) == [
            {
                "Namespace": "PinpointOnFargate",
                "MetricName": metric_name,
                "Dimensions": {},
                "Stat": "Sum",
                "Period": 300,
            }
        ]
        assert (props["Threshold"], props["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
        assert props["EvaluationPeriods"] == props["DatapointsToAlarm"] == HBASE_FAILURE_PERIODS
        assert props["TreatMissingData"] == "notBreaching"  # no failure logged, no data
        assert service_id  # the service the log group belongs to exists


@pytest.mark.parametrize("overrides", [*VARIANTS.values(), EMR, EXTERNAL], ids=[*VARIANTS, "emr", "external"])
def test_the_stack_names_its_alarms_for_make_status(overrides: dict[str, Any]) -> None:
    """`make status` reads exactly these: AlarmNamePrefix would also match another deployment's."""
    template = synth(**overrides)
    names = sorted(
        r["Properties"]["AlarmName"] for r in resources(template, "AWS::CloudWatch::Alarm").values()
    )
    assert sorted(template.to_json()["Outputs"]["AlarmNames"]["Value"].split(",")) == names

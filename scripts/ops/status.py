"""``make status``: the deployed stack on one screen, and whether it is healthy.

Read-only, from boto3: the CloudFormation stack ``config.stack_name`` (status and outputs),
every ECS service of the cluster (output ``ClusterName``, whatever the topology): desired /
running / pending, the primary deployment's rollout state and circuit-breaker failed tasks, the
health of its tasks' containers; the target health of ``WebTargetGroupArn``; the installed agent
bundle (``AgentBundle``); the alarms named ``<name_prefix>-...``; the topology (``HBaseMode``,
``embedded`` for stacks from before it existed).

Unhealthy, one reason per line: a stack not in a ``*_COMPLETE`` state (or ROLLBACK_COMPLETE: it
was never created), a service running fewer tasks than desired, a FAILED rollout, an UNHEALTHY
container, an unhealthy target (or none healthy), an alarm in ALARM. Response shapes are those
of the ECS, ELBv2 and CloudWatch API references (DescribeServices, DescribeTasks,
DescribeTargetHealth, DescribeAlarms).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from scripts.ops.aws import BotoClient, aws_error
from scripts.ops.deployed import CLUSTER, describe_stack, outputs_of
from scripts.ops.errors import ScriptError, one_line

TARGET_GROUP, BUNDLE, MODE = "WebTargetGroupArn", "AgentBundle", "HBaseMode"
DESCRIBE_BATCH = 10  # DescribeServices takes at most 10 services, DescribeTasks 100 tasks
# A target in these states takes no traffic for a reason worth a look; initial/draining are transitions.
BAD_TARGET_STATES = frozenset({"unhealthy", "unused", "unavailable"})


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def aws_call(what: str, call: Any, **kwargs: Any) -> Any:
    try:
        return call(**kwargs)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        raise ScriptError(f"cannot {what}: {aws_error(error)}") from None


def stack_problems(status: str) -> list[str]:
    if not status.endswith("_COMPLETE") or status in {"ROLLBACK_COMPLETE", "DELETE_COMPLETE"}:
        return [f"stack status is {status}, not a *_COMPLETE state of a created stack"]
    return []


def primary_deployment(service: Mapping[str, Any]) -> Mapping[str, Any]:
    return next((d for d in service.get("deployments") or [] if d.get("status") == "PRIMARY"), {})


def service_line(service: Mapping[str, Any], tasks: list[Mapping[str, Any]]) -> str:
    deployment = primary_deployment(service)
    rollout = deployment.get("rolloutState") or "unknown"
    health = Counter(
        str(container.get("healthStatus") or "UNKNOWN")
        for task in tasks
        for container in task.get("containers") or []
    )
    containers = ", ".join(f"{count} {state}" for state, count in sorted(health.items())) or "none"
    return (
        f"service {service.get('serviceName')}: running {service.get('runningCount', 0)}/{service.get('desiredCount', 0)}, "
        f"pending {service.get('pendingCount', 0)}; last deployment {rollout}, failed tasks "
        f"{deployment.get('failedTasks', 0)}; {len(tasks)} task(s), containers {containers}"
    )


def service_problems(service: Mapping[str, Any], tasks: list[Mapping[str, Any]]) -> list[str]:
    """Why a ``DescribeServices`` entry and its ``DescribeTasks`` entries are unhealthy."""
    name = service.get("serviceName")
    problems = []
    running, desired = service.get("runningCount", 0), service.get("desiredCount", 0)
    if running < desired:
        problems.append(f"service {name}: running {running} of {desired} desired task(s)")
    deployment = primary_deployment(service)
    if deployment.get("rolloutState") == "FAILED":
        reason = one_line(deployment.get("rolloutStateReason") or "no reason given")
        problems.append(
            f"service {name}: the last deployment FAILED ({deployment.get('failedTasks', 0)} failed task(s)): {reason}"
        )
    for task in tasks:
        task_id = str(task.get("taskArn", "?")).rsplit("/", 1)[-1]
        sick = [
            str(c.get("name")) for c in task.get("containers") or [] if c.get("healthStatus") == "UNHEALTHY"
        ]
        if sick or task.get("healthStatus") == "UNHEALTHY":
            problems.append(
                f"service {name}: task {task_id} is UNHEALTHY (containers: {', '.join(sick) or 'task health'})"
            )
    return problems


def target_line_and_problems(descriptions: list[Mapping[str, Any]]) -> tuple[str, list[str]]:
    """``DescribeTargetHealth`` entries as one line, and why they are unhealthy."""
    states = Counter(str(d.get("TargetHealth", {}).get("State", "unknown")) for d in descriptions)
    line = "web target group: " + (
        ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "no targets"
    )
    problems = []
    for description in descriptions:
        health = description.get("TargetHealth", {})
        if health.get("State") in BAD_TARGET_STATES:
            target = description.get("Target", {})
            reason = one_line(health.get("Description") or health.get("Reason") or "")
            problems.append(
                f"web target {target.get('Id')}:{target.get('Port')} is {health.get('State')}"
                + (f" ({health.get('Reason')}: {reason})" if reason else "")
            )
    if not states.get("healthy"):
        problems.append("the web target group has no healthy target: the web UI is not served")
    return line, problems


def alarm_line_and_problems(alarms: list[Mapping[str, Any]], prefix: str) -> tuple[str, list[str]]:
    states = Counter(str(a.get("StateValue")) for a in alarms)
    summary = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "none found"
    problems = [
        f"alarm {a.get('AlarmName')} is in ALARM: {one_line(a.get('StateReason') or '')}"
        for a in alarms
        if a.get("StateValue") == "ALARM"
    ]
    return f"alarms {prefix}*: {summary}", problems


def service_tasks(ecs: BotoClient, cluster: str, name: str) -> list[Mapping[str, Any]]:
    """The running tasks of one service (ECS groups a service's tasks as ``service:<name>``)."""
    arns: list[str] = []
    for page in ecs.get_paginator("list_tasks").paginate(
        cluster=cluster, serviceName=name, desiredStatus="RUNNING"
    ):
        arns += page.get("taskArns", [])
    tasks: list[Mapping[str, Any]] = []
    for start in range(0, len(arns), 100):
        tasks += ecs.describe_tasks(cluster=cluster, tasks=arns[start : start + 100]).get("tasks", [])
    return [task for task in tasks if task.get("group") == f"service:{name}"]


def ecs_report(ecs: BotoClient, cluster: str, report: Report) -> None:
    arns: list[str] = []
    try:
        for page in ecs.get_paginator("list_services").paginate(cluster=cluster):
            arns += page.get("serviceArns", [])
        services: list[Mapping[str, Any]] = []
        for start in range(0, len(arns), DESCRIBE_BATCH):
            batch = ecs.describe_services(cluster=cluster, services=arns[start : start + DESCRIBE_BATCH])
            services += batch.get("services", [])
        if not services:
            report.problems.append(f"ECS cluster {cluster} has no service")
        for service in sorted(services, key=lambda s: str(s.get("serviceName"))):
            tasks = service_tasks(ecs, cluster, str(service.get("serviceName")))
            report.lines.append(service_line(service, tasks))
            report.problems += service_problems(service, tasks)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        raise ScriptError(
            f"cannot describe the ECS services of cluster {cluster}: {aws_error(error)}"
        ) from None


def alarms_with_prefix(cloudwatch: BotoClient, prefix: str) -> list[Mapping[str, Any]]:
    alarms: list[Mapping[str, Any]] = []
    pages: Iterable[Mapping[str, Any]] = cloudwatch.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    )
    for page in pages:
        alarms += page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])
    return alarms


def gather(clients: Mapping[str, BotoClient], *, stack_name: str, name_prefix: str, where: str) -> Report:
    """The whole status (``clients``: cloudformation, ecs, elbv2, cloudwatch)."""
    report = Report()
    stack = describe_stack(clients["cloudformation"], stack_name)
    outputs = outputs_of(stack)
    status = str(stack.get("StackStatus"))
    report.lines.append(
        f"stack {stack_name}: {status} ({where}); topology: {outputs.get(MODE) or 'embedded'}"
    )
    if status == "UPDATE_ROLLBACK_COMPLETE":
        report.lines.append("  note: its last update failed and was rolled back; the previous version runs")
    report.problems += stack_problems(status)

    if cluster := outputs.get(CLUSTER):
        ecs_report(clients["ecs"], cluster, report)
    else:
        report.problems.append(f"stack {stack_name} has no output {CLUSTER}: its services cannot be found")

    if target_group := outputs.get(TARGET_GROUP):
        health = aws_call(
            f"read the target health of {target_group}",
            clients["elbv2"].describe_target_health,
            TargetGroupArn=target_group,
        )
        line, problems = target_line_and_problems(health.get("TargetHealthDescriptions", []))
        report.lines.append(line)
        report.problems += problems
    else:
        report.lines.append(
            f"web target group: unknown (no output {TARGET_GROUP}; a stack from an older version)"
        )

    report.lines.append(f"agent bundle: {outputs.get(BUNDLE) or f'unknown (no output {BUNDLE})'}")
    prefix = f"{name_prefix}-"
    try:
        alarms = alarms_with_prefix(clients["cloudwatch"], prefix)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        raise ScriptError(f"cannot read the alarms {prefix}*: {aws_error(error)}") from None
    line, problems = alarm_line_and_problems(alarms, prefix)
    report.lines.append(line)
    report.problems += problems
    return report

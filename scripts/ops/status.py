"""``make status``: the deployed stack on one screen, and whether it is healthy.

Read-only, from boto3, and only this deployment's parts, found through the CloudFormation stack
``config.stack_name``: its status and outputs; the ECS services that are resources of the stack
(ListStackResources; not every service of the cluster): desired / running / pending, the primary
deployment's rollout state and circuit-breaker failed tasks, the health of its tasks' containers;
the target health of ``WebTargetGroupArn`` and of the collector NLB's target groups (the stack's
other target groups); the EMR cluster running HBase (``EmrClusterId``, DescribeCluster); the last
backup job into the HBase backup vault (``HBaseBackupVaultName``, ListBackupJobs); the alarms the
stack names in ``AlarmNames`` (DescribeAlarms by name: a prefix would also match another
deployment's ``<name_prefix>-prod-*``); the installed agent bundle (``AgentBundle``); the topology
(``HBaseMode``, ``embedded`` for stacks from before it existed).

Unhealthy, one reason per line (:attr:`Report.problems`): a stack not in a ``*_COMPLETE`` state
(or ROLLBACK_COMPLETE: it was never created), a service running fewer tasks than desired (1 of 2
as well as 0 of 1), a FAILED rollout, an UNHEALTHY container, an unhealthy target (or none
healthy) behind the web ALB or the collector NLB, an EMR cluster that is not RUNNING/WAITING, a
last backup job that FAILED/ABORTED/EXPIRED/PARTIAL or none for longer than a day's schedule
allows, an alarm in ALARM or one the stack names that does not exist.

A part that cannot be read (access denied, throttled, the network) is not a problem of the
deployment: it is one :attr:`Report.unchecked` line, and the other parts are still checked.
Response shapes are those of the CloudFormation, ECS, ELBv2, EMR, AWS Backup and CloudWatch API
references (ListStackResources, DescribeServices, DescribeTasks, DescribeTargetGroups,
DescribeTargetHealth, DescribeCluster, ListBackupJobs, DescribeAlarms).
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from scripts.ops.aws import BotoClient, aws_error
from scripts.ops.deployed import CLUSTER, describe_stack, outputs_of
from scripts.ops.errors import one_line

TARGET_GROUP, BUNDLE, MODE = "WebTargetGroupArn", "AgentBundle", "HBaseMode"
ALARM_NAMES, EMR_CLUSTER, BACKUP_VAULT = "AlarmNames", "EmrClusterId", "HBaseBackupVaultName"
SERVICE_TYPE, TARGET_GROUP_TYPE = "AWS::ECS::Service", "AWS::ElasticLoadBalancingV2::TargetGroup"
DESCRIBE_BATCH = 10  # DescribeServices takes at most 10 services, DescribeTasks 100 tasks
ALARM_BATCH = 100  # DescribeAlarms takes at most 100 alarm names
# A target in these states takes no traffic for a reason worth a look; initial/draining are transitions.
BAD_TARGET_STATES = frozenset({"unhealthy", "unused", "unavailable"})
# DescribeCluster Status.State values in which the cluster serves HBase (EMR API ClusterStatus).
EMR_SERVING_STATES = frozenset({"RUNNING", "WAITING"})
# ListBackupJobs State values that leave no (complete) recovery point (AWS Backup API BackupJob).
BACKUP_BAD_STATES = frozenset({"FAILED", "ABORTED", "EXPIRED", "PARTIAL"})
# The plan runs daily at 03:00 UTC, may start within 1 h and run 8 h (stacks/constructs/backup.py):
# without a job for longer than this, a day was skipped.
BACKUP_MAX_SILENCE = datetime.timedelta(hours=24 + 1 + 8)
BACKUP_LOOKBACK = datetime.timedelta(days=8)


@dataclass
class Report:
    """``lines`` to print; ``problems``: why the deployment is unhealthy; ``unchecked``: what
    could not be read (so health is unknown for it)."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)

    @contextmanager
    def part(self, what: str) -> Iterator[None]:
        """Check one part; an AWS error reading it becomes one ``unchecked`` line."""
        try:
            yield
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
            self.unchecked.append(f"cannot read {what}: {aws_error(error)}")


# --- evaluations on the documented response shapes --------------------------------------------


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


def target_line_and_problems(
    descriptions: list[Mapping[str, Any]], *, label: str = "web", serves: str = "the web UI"
) -> tuple[str, list[str]]:
    """``DescribeTargetHealth`` entries of the ``label`` target group as one line, and why they
    are unhealthy."""
    states = Counter(str(d.get("TargetHealth", {}).get("State", "unknown")) for d in descriptions)
    line = f"{label} target group: " + (
        ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "no targets"
    )
    problems = []
    for description in descriptions:
        health = description.get("TargetHealth", {})
        if health.get("State") in BAD_TARGET_STATES:
            target = description.get("Target", {})
            why = ": ".join(one_line(health[key]) for key in ("Reason", "Description") if health.get(key))
            problems.append(
                f"{label} target {target.get('Id')}:{target.get('Port')} is {health.get('State')}"
                + (f" ({why})" if why else "")
            )
    if not states.get("healthy"):
        problems.append(f"the {label} target group has no healthy target: {serves} is not served")
    return line, problems


def emr_line_and_problems(cluster: Mapping[str, Any]) -> tuple[str, list[str]]:
    """A ``DescribeCluster`` ``Cluster`` as one line, and why HBase on it is not served."""
    status = cluster.get("Status") or {}
    state = str(status.get("State") or "unknown")
    reason = status.get("StateChangeReason") or {}
    because = one_line(" ".join(str(reason[k]) for k in ("Code", "Message") if reason.get(k)))
    line = f"EMR cluster {cluster.get('Id')} ({cluster.get('Name')}): {state}" + (
        f" ({because})" if because else ""
    )
    if state in EMR_SERVING_STATES:
        return line, []
    return line, [
        f"EMR cluster {cluster.get('Id')} is {state}, not RUNNING or WAITING: HBase is not served"
        + (f" ({because})" if because else "")
    ]


def backup_line_and_problems(
    jobs: list[Mapping[str, Any]], *, vault: str, now: datetime.datetime, stack_created: datetime.datetime
) -> tuple[str, list[str]]:
    """``ListBackupJobs`` entries of the vault (``CreationDate`` as datetimes) as one line about the
    newest job, and why the backups are not working."""
    if not jobs:
        if now - stack_created > BACKUP_MAX_SILENCE:
            return f"last backup job into {vault}: none in the last {BACKUP_LOOKBACK.days} days", [
                f"no backup job into {vault} in the last {BACKUP_LOOKBACK.days} days: the daily plan is not running"
            ]
        return f"last backup job into {vault}: none yet (the plan runs daily at 03:00 UTC)", []
    last = max(jobs, key=lambda job: job["CreationDate"])
    state, created = str(last.get("State")), last["CreationDate"]
    message = one_line(last.get("StatusMessage") or "")
    line = f"last backup job into {vault}: {state}, started {created:%Y-%m-%d %H:%M} UTC" + (
        f" ({message})" if message else ""
    )
    problems = []
    if state in BACKUP_BAD_STATES:
        problems.append(
            f"the last backup job into {vault} ({last.get('BackupJobId')}) is {state}"
            + (f": {message}" if message else "")
        )
    if now - created > BACKUP_MAX_SILENCE:
        hours = int((now - created).total_seconds() // 3600)
        problems.append(f"no backup job into {vault} for {hours} hours: the daily plan skipped a day")
    return line, problems


def alarm_line_and_problems(alarms: list[Mapping[str, Any]], names: list[str]) -> tuple[str, list[str]]:
    """``DescribeAlarms`` entries for the stack's alarm ``names`` as one line, and the problems."""
    states = Counter(str(a.get("StateValue")) for a in alarms)
    summary = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "none found"
    problems = [
        f"alarm {a.get('AlarmName')} is in ALARM: {one_line(a.get('StateReason') or '')}"
        for a in alarms
        if a.get("StateValue") == "ALARM"
    ]
    found = {str(a.get("AlarmName")) for a in alarms}
    problems += [
        f"alarm {name} of the stack does not exist: it watches nothing" for name in names if name not in found
    ]
    return f"alarms of the stack ({len(names)}): {summary}", problems


# --- reading ------------------------------------------------------------------------------------


def stack_resources(cfn: BotoClient, stack_name: str) -> dict[str, list[str]]:
    """Physical ids of the stack's resources by resource type."""
    found: dict[str, list[str]] = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for summary in page.get("StackResourceSummaries", []):
            if summary.get("PhysicalResourceId"):
                found.setdefault(str(summary.get("ResourceType")), []).append(
                    str(summary["PhysicalResourceId"])
                )
    return found


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


def ecs_report(ecs: BotoClient, cluster: str, service_arns: list[str], report: Report) -> None:
    services: list[Mapping[str, Any]] = []
    for start in range(0, len(service_arns), DESCRIBE_BATCH):
        batch = ecs.describe_services(cluster=cluster, services=service_arns[start : start + DESCRIBE_BATCH])
        services += batch.get("services", [])
        for failure in batch.get("failures", []):
            report.problems.append(
                f"service {failure.get('arn')} of the stack cannot be described: {failure.get('reason')}"
            )
    for service in sorted(services, key=lambda s: str(s.get("serviceName"))):
        tasks = service_tasks(ecs, cluster, str(service.get("serviceName")))
        report.lines.append(service_line(service, tasks))
        report.problems += service_problems(service, tasks)


def target_health(elbv2: BotoClient, arn: str) -> list[Mapping[str, Any]]:
    return list(elbv2.describe_target_health(TargetGroupArn=arn).get("TargetHealthDescriptions", []))


def collector_nlb_report(elbv2: BotoClient, arns: list[str], report: Report) -> None:
    """The stack's target groups other than the web's: the collector NLB's, one per port."""
    groups = elbv2.describe_target_groups(TargetGroupArns=arns).get("TargetGroups", [])
    for group in sorted(groups, key=lambda g: int(g.get("Port") or 0)):
        line, problems = target_line_and_problems(
            target_health(elbv2, str(group["TargetGroupArn"])),
            label=f"collector NLB port {group.get('Port')}",
            serves="agents outside Service Connect",
        )
        report.lines.append(line)
        report.problems += problems


def backup_jobs(backup: BotoClient, vault: str, since: datetime.datetime) -> list[Mapping[str, Any]]:
    jobs: list[Mapping[str, Any]] = []
    for page in backup.get_paginator("list_backup_jobs").paginate(
        ByBackupVaultName=vault, ByCreatedAfter=since
    ):
        jobs += page.get("BackupJobs", [])
    return jobs


def alarms_named(cloudwatch: BotoClient, names: list[str]) -> list[Mapping[str, Any]]:
    alarms: list[Mapping[str, Any]] = []
    for start in range(0, len(names), ALARM_BATCH):
        for page in cloudwatch.get_paginator("describe_alarms").paginate(
            AlarmNames=names[start : start + ALARM_BATCH], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        ):
            alarms += page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])
    return alarms


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


# --- the parts of the report --------------------------------------------------------------------


def services_part(
    report: Report,
    ecs: BotoClient,
    stack_name: str,
    cluster: str | None,
    resources: dict[str, list[str]] | None,
) -> None:
    if not cluster:
        report.problems.append(f"stack {stack_name} has no output {CLUSTER}: its services cannot be found")
    elif resources is None:
        return  # the stack's resources could not be read: already one "unchecked" line
    elif not resources.get(SERVICE_TYPE):
        report.problems.append(f"stack {stack_name} has no ECS service")
    else:
        with report.part(f"the ECS services of stack {stack_name} in cluster {cluster}"):
            ecs_report(ecs, cluster, resources[SERVICE_TYPE], report)


def targets_part(
    report: Report, elbv2: BotoClient, web_target_group: str | None, resources: dict[str, list[str]] | None
) -> None:
    if web_target_group:
        with report.part(f"the target health of {web_target_group}"):
            line, problems = target_line_and_problems(target_health(elbv2, web_target_group))
            report.lines.append(line)
            report.problems += problems
    else:
        report.lines.append(
            f"web target group: unknown (no output {TARGET_GROUP}; a stack from an older version)"
        )
    other_groups = (resources or {}).get(TARGET_GROUP_TYPE, [])
    if collector_groups := [arn for arn in other_groups if arn != web_target_group]:
        with report.part("the target health of the collector NLB"):
            collector_nlb_report(elbv2, collector_groups, report)


def emr_part(report: Report, emr: BotoClient, cluster_id: str) -> None:
    with report.part(f"EMR cluster {cluster_id}"):
        line, problems = emr_line_and_problems(emr.describe_cluster(ClusterId=cluster_id)["Cluster"])
        report.lines.append(line)
        report.problems += problems


def backup_part(
    report: Report,
    backup: BotoClient,
    vault: str,
    *,
    now: datetime.datetime,
    stack_created: datetime.datetime,
) -> None:
    with report.part(f"the backup jobs of vault {vault}"):
        jobs = backup_jobs(backup, vault, now - BACKUP_LOOKBACK)
        line, problems = backup_line_and_problems(jobs, vault=vault, now=now, stack_created=stack_created)
        report.lines.append(line)
        report.problems += problems


def alarms_part(report: Report, cloudwatch: BotoClient, stack_name: str, alarm_names: str | None) -> None:
    if alarm_names is None:
        report.lines.append(f"alarms: unknown (no output {ALARM_NAMES}; a stack from an older version)")
        return
    names = [name for name in alarm_names.split(",") if name]
    with report.part(f"the alarms of stack {stack_name}"):
        line, problems = alarm_line_and_problems(alarms_named(cloudwatch, names), names)
        report.lines.append(line)
        report.problems += problems


def gather(
    clients: Mapping[str, BotoClient],
    *,
    stack_name: str,
    where: str,
    now: Callable[[], datetime.datetime] = utc_now,
) -> Report:
    """The whole status (``clients``: cloudformation, ecs, elbv2, emr, backup, cloudwatch). A
    stack that cannot be read raises :class:`~scripts.ops.errors.ScriptError`."""
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

    resources: dict[str, list[str]] | None = None
    with report.part(f"the resources of stack {stack_name}"):
        resources = stack_resources(clients["cloudformation"], stack_name)
    services_part(report, clients["ecs"], stack_name, outputs.get(CLUSTER), resources)
    targets_part(report, clients["elbv2"], outputs.get(TARGET_GROUP), resources)
    if cluster_id := outputs.get(EMR_CLUSTER):
        emr_part(report, clients["emr"], cluster_id)
    if vault := outputs.get(BACKUP_VAULT):
        moment = now()
        backup_part(
            report, clients["backup"], vault, now=moment, stack_created=stack.get("CreationTime") or moment
        )
    report.lines.append(f"agent bundle: {outputs.get(BUNDLE) or f'unknown (no output {BUNDLE})'}")
    alarms_part(report, clients["cloudwatch"], stack_name, outputs.get(ALARM_NAMES))
    return report

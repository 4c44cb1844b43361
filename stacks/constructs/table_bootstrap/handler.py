"""Runs the Pinpoint image's ``bootstrap`` role once per deploy and reports how it ended.

Two handlers of the CDK Provider framework (custom_resources.Provider):

* ``on_event`` starts one Fargate task (RunTask) on Create and Update; Delete does nothing (the
  tables belong to the HBase, not to the stack).
* ``is_complete`` polls the task (DescribeTasks). Running: not complete yet. Stopped with exit
  code 0: complete. Anything else raises, and the framework fails the resource with the message:
  the exit code, ECS's ``stoppedReason`` and the container's reason, and the last line of the
  task's log that starts with ``bootstrap failed:`` (what the image prints before exiting non-zero).

Plain stdlib + boto3 (the Lambda runtime's). Clients are passed in, so tests can use any endpoint.
"""

from __future__ import annotations

import logging
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

LOGGER = logging.getLogger()
LOGGER.setLevel(logging.INFO)

FAILURE_PREFIX = "bootstrap failed:"
# CloudFormation shows at most a few KB of reason; keep each part short.
MAX_PART_CHARS = 600
LOG_LINES_SCANNED = 200


class BootstrapFailed(RuntimeError):
    """The bootstrap task could not start or ended badly; the message is the whole reason."""


# --- Lambda entry points ------------------------------------------------------------------------


def on_event(event: dict[str, Any], _context: object = None) -> dict[str, Any]:
    return start(event, boto3.client("ecs"))


def is_complete(event: dict[str, Any], _context: object = None) -> dict[str, Any]:
    return check(event, boto3.client("ecs"), boto3.client("logs"))


# --- logic --------------------------------------------------------------------------------------


def start(event: dict[str, Any], ecs: Any) -> dict[str, Any]:
    """Create/Update: run the task and hand its ARN to ``is_complete``. Delete: nothing."""
    props = event["ResourceProperties"]
    physical_id = event.get("PhysicalResourceId") or f"{props['ClusterName']}/table-bootstrap"
    if event["RequestType"] == "Delete":
        return {"PhysicalResourceId": physical_id}
    try:
        response = ecs.run_task(
            cluster=props["ClusterName"],
            taskDefinition=props["TaskDefinitionArn"],
            launchType="FARGATE",
            count=1,
            startedBy="pinpoint-table-bootstrap",
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": list(props["Subnets"]),
                    "securityGroups": list(props["SecurityGroups"]),
                    "assignPublicIp": "DISABLED",
                }
            },
        )
    except (ClientError, BotoCoreError) as error:
        raise BootstrapFailed(f"table bootstrap task could not be started: {_short(str(error))}") from None
    failures = response.get("failures") or []
    tasks = response.get("tasks") or []
    if failures or not tasks:
        reasons = "; ".join(
            f"{f.get('arn', '')} {f.get('reason', '')} {f.get('detail', '')}".strip() for f in failures
        )
        raise BootstrapFailed(
            f"table bootstrap task could not be started: {_short(reasons or 'no task returned')}"
        )
    task_arn = tasks[0]["taskArn"]
    LOGGER.info("started %s", task_arn)
    return {"PhysicalResourceId": physical_id, "Data": {"TaskArn": task_arn}}


def check(event: dict[str, Any], ecs: Any, logs: Any) -> dict[str, Any]:
    """Complete when the task stopped with exit code 0; raise with the reason when it failed."""
    if event["RequestType"] == "Delete":
        return {"IsComplete": True}
    props = event["ResourceProperties"]
    task_arn = event["Data"]["TaskArn"]
    response = ecs.describe_tasks(cluster=props["ClusterName"], tasks=[task_arn])
    tasks = response.get("tasks") or []
    if not tasks:
        reasons = "; ".join(f.get("reason", "") for f in response.get("failures") or [])
        raise BootstrapFailed(f"table bootstrap task {task_arn} is gone: {_short(reasons or 'not found')}")
    task = tasks[0]
    if task.get("lastStatus") != "STOPPED":
        LOGGER.info("%s is %s", task_arn, task.get("lastStatus"))
        return {"IsComplete": False}
    container = _container(task, props["ContainerName"])
    exit_code = container.get("exitCode")
    if exit_code == 0:
        return {"IsComplete": True, "Data": {"ExitCode": "0"}}
    raise BootstrapFailed(failure_reason(task, container, last_failure_line(logs, props, task_arn)))


def failure_reason(task: dict[str, Any], container: dict[str, Any], log_line: str | None) -> str:
    """One line: which task, its exit code, ECS's reasons, and the image's own failure line."""
    exit_code = container.get("exitCode")
    parts = [
        f"table bootstrap task {task['taskArn'].rsplit('/', 1)[-1]} failed: "
        + (f"exit code {exit_code}" if exit_code is not None else "no exit code (the container did not run)")
    ]
    if task.get("stoppedReason"):
        parts.append(f"stoppedReason: {_short(task['stoppedReason'])}")
    if container.get("reason"):
        parts.append(f"container: {_short(container['reason'])}")
    if log_line:
        parts.append(_short(log_line))
    return "; ".join(parts)


def last_failure_line(logs: Any, props: dict[str, Any], task_arn: str) -> str | None:
    """The last ``bootstrap failed:`` line of the task's awslogs stream
    (``<prefix>/<container>/<task id>``), or None when there is none or it cannot be read."""
    stream = f"{props['LogStreamPrefix']}/{props['ContainerName']}/{task_arn.rsplit('/', 1)[-1]}"
    try:
        events = logs.get_log_events(
            logGroupName=props["LogGroupName"],
            logStreamName=stream,
            startFromHead=False,
            limit=LOG_LINES_SCANNED,
        )["events"]
    except (ClientError, BotoCoreError) as error:
        LOGGER.warning("cannot read %s: %s", stream, error)
        return None
    for log_event in reversed(events):
        message = log_event.get("message", "").strip()
        if message.startswith(FAILURE_PREFIX):
            return message
    return None


def _container(task: dict[str, Any], name: str) -> dict[str, Any]:
    for container in task.get("containers") or []:
        if container.get("name") == name:
            return container
    return {}


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_PART_CHARS else text[: MAX_PART_CHARS - 3] + "..."

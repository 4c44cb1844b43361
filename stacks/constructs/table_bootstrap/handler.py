"""Runs the Pinpoint image's ``bootstrap`` role once per deploy and reports how it ended.

Two handlers of the CDK Provider framework (custom_resources.Provider):

* ``on_event`` starts one Fargate task (RunTask) on Create and Update; Delete does nothing (the
  tables belong to the HBase, not to the stack).
* ``is_complete`` polls the task (DescribeTasks). Running: not complete yet. Stopped with exit
  code 0: complete. Anything else raises, and the framework fails the resource with the message:
  the exit code, ECS's ``stoppedReason`` and the container's reason, and the last line of the
  task's log that starts with ``bootstrap failed:`` (what the image prints before exiting non-zero).

An Update while the stack is ``UPDATE_ROLLBACK_IN_PROGRESS`` is CloudFormation restoring the
previous properties: the task runs again (it puts the previous TTLs back), but whatever goes
wrong is logged and the resource reports success. A rollback that fails leaves the stack in
UPDATE_ROLLBACK_FAILED, which is worse than a TTL left as the failed update set it.

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
ROLLBACK_STATUS = "UPDATE_ROLLBACK_IN_PROGRESS"


class BootstrapFailed(RuntimeError):
    """The bootstrap task could not start or ended badly; the message is the whole reason."""


# --- Lambda entry points ------------------------------------------------------------------------


def on_event(event: dict[str, Any], _context: object = None) -> dict[str, Any]:
    return start(event, boto3.client("ecs"), boto3.client("cloudformation"))


def is_complete(event: dict[str, Any], _context: object = None) -> dict[str, Any]:
    return check(event, boto3.client("ecs"), boto3.client("logs"))


# --- logic --------------------------------------------------------------------------------------


def start(event: dict[str, Any], ecs: Any, cloudformation: Any) -> dict[str, Any]:
    """Create/Update: run the task and hand its ARN to ``is_complete``. Delete: nothing."""
    props = event["ResourceProperties"]
    physical_id = event.get("PhysicalResourceId") or f"{props['ClusterName']}/table-bootstrap"
    if event["RequestType"] == "Delete":
        return {"PhysicalResourceId": physical_id}
    rollback = event["RequestType"] == "Update" and in_rollback(cloudformation, event.get("StackId"))
    try:
        task_arn = run(ecs, props)
    except BootstrapFailed as failure:
        if not rollback:
            raise
        LOGGER.warning("rolling back, not reported: %s", failure)
        return {"PhysicalResourceId": physical_id, "Data": {"Rollback": "true"}}
    data = {"TaskArn": task_arn, **({"Rollback": "true"} if rollback else {})}
    return {"PhysicalResourceId": physical_id, "Data": data}


def in_rollback(cloudformation: Any, stack_id: str | None) -> bool:
    """Whether the stack is rolling an update back; unknown counts as no (failures then fail)."""
    if not stack_id:
        return False
    try:
        (stack,) = cloudformation.describe_stacks(StackName=stack_id)["Stacks"]
    except (ClientError, BotoCoreError, ValueError) as error:
        LOGGER.warning("cannot read the status of %s: %s", stack_id, error)
        return False
    LOGGER.info("stack %s is %s", stack_id, stack["StackStatus"])
    return stack["StackStatus"] == ROLLBACK_STATUS


def run(ecs: Any, props: dict[str, Any]) -> str:
    """RunTask for the bootstrap task; its ARN."""
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
    return task_arn


def check(event: dict[str, Any], ecs: Any, logs: Any) -> dict[str, Any]:
    """Complete when the task stopped with exit code 0; raise with the reason when it failed
    (during a rollback: log it and complete)."""
    if event["RequestType"] == "Delete":
        return {"IsComplete": True}
    data = event.get("Data") or {}
    if data.get("Rollback") != "true":
        return poll(event, ecs, logs)
    if "TaskArn" not in data:  # the task could not even start; start() logged why
        return {"IsComplete": True}
    try:
        return poll(event, ecs, logs)
    except BootstrapFailed as failure:
        LOGGER.warning("rolling back, not reported: %s", failure)
        return {"IsComplete": True}


def poll(event: dict[str, Any], ecs: Any, logs: Any) -> dict[str, Any]:
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

"""The table bootstrap's Lambda handlers (stacks/constructs/table_bootstrap/handler.py).

Two tiers in one file:

* against moto in server mode (real HTTP on 127.0.0.1, boto3 as the Lambda builds it, through
  ``AWS_ENDPOINT_URL``): RunTask, the DescribeTasks polling to STOPPED, ECS's own errors, and the
  CloudWatch Logs lookup of the ``bootstrap failed:`` line;
* against a small stub ECS client, only for what moto 5.2.5 cannot produce: a container that
  exits non-zero, or never ran (moto reports exit code 0 for every container); and a stub
  CloudFormation client for a stack in UPDATE_ROLLBACK_IN_PROGRESS (moto's stacks reach it only
  through a failing update of its own resources).

moto 5.2.5's ECS RunTask on Fargate, as tried here: a task definition whose container has no
``memory`` (how CDK renders Fargate containers) fails with HTTP 500 (TypeError adding None), and
an awsvpc task in a VPC without DNS hostnames fails with HTTP 500 (the ENI has no
private_dns_name). The moto tests therefore register the container with a memory size and turn
DNS hostnames on (CDK's VPCs have them on); ``lastStatus`` then advances one step per
DescribeTasks (RUNNING, DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED) and exit codes stay 0.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

REPO_ROOT = Path(__file__).resolve().parents[2]
HANDLER_PATH = REPO_ROOT / "stacks" / "constructs" / "table_bootstrap" / "handler.py"
REGION = "eu-west-1"
TASK_ID = "0123456789abcdef0123456789abcdef"
TASK_ARN = f"arn:aws:ecs:{REGION}:123456789012:task/pinpoint/{TASK_ID}"


def _load_handler() -> ModuleType:
    # Lambda code, not a package of the CDK app: load it by path as the runtime does.
    spec = importlib.util.spec_from_file_location("table_bootstrap_handler", HANDLER_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


h = _load_handler()


def props(**overrides: Any) -> dict[str, Any]:
    return {
        "ClusterName": "pinpoint",
        "TaskDefinitionArn": f"arn:aws:ecs:{REGION}:123456789012:task-definition/bootstrap:1",
        "Subnets": ["subnet-0a", "subnet-0b"],
        "SecurityGroups": ["sg-0a"],
        "ContainerName": "pinpoint",
        "LogGroupName": "bootstrap-logs",
        "LogStreamPrefix": "pinpoint",
        **overrides,
    }


def event(request_type: str, properties: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"RequestType": request_type, "ResourceProperties": properties or props(), **extra}


# --- stubs (exit codes moto cannot produce) ------------------------------------------------------


class StubEcs:
    def __init__(self, *, task: dict[str, Any] | None = None, run: dict[str, Any] | None = None) -> None:
        self.task, self.run, self.calls = task, run, []

    def run_task(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("run_task", kwargs))
        return self.run or {"tasks": [{"taskArn": TASK_ARN}], "failures": []}

    def describe_tasks(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("describe_tasks", kwargs))
        return {"tasks": [self.task] if self.task else [], "failures": []}


class StubCloudFormation:
    def __init__(self, status: str = "UPDATE_IN_PROGRESS") -> None:
        self.status, self.calls = status, []

    def describe_stacks(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"Stacks": [{"StackId": kwargs["StackName"], "StackStatus": self.status}]}


STACK_ID = f"arn:aws:cloudformation:{REGION}:123456789012:stack/PinpointOnFargate/0a1b2c3d"
ROLLING_BACK = StubCloudFormation("UPDATE_ROLLBACK_IN_PROGRESS")


class StubLogs:
    def __init__(self, messages: list[str] | None = None, error: Exception | None = None) -> None:
        self.messages, self.error, self.calls = messages or [], error, []

    def get_log_events(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.error:
            raise self.error
        return {"events": [{"message": m} for m in self.messages]}


def stopped(exit_code: int | None, **extra: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "pinpoint", "lastStatus": "STOPPED"}
    if exit_code is not None:
        container["exitCode"] = exit_code
    container.update(extra.pop("container", {}))
    return {"taskArn": TASK_ARN, "lastStatus": "STOPPED", "containers": [container], **extra}


def test_create_runs_one_fargate_task_privately_and_hands_its_arn_on() -> None:
    ecs = StubEcs()
    result = h.start(event("Create"), ecs, StubCloudFormation())
    assert result == {"PhysicalResourceId": "pinpoint/table-bootstrap", "Data": {"TaskArn": TASK_ARN}}
    ((name, call),) = ecs.calls
    assert name == "run_task"
    assert call["cluster"] == "pinpoint"
    assert call["taskDefinition"].endswith("task-definition/bootstrap:1")
    assert (call["launchType"], call["count"]) == ("FARGATE", 1)
    assert call["networkConfiguration"] == {
        "awsvpcConfiguration": {
            "subnets": ["subnet-0a", "subnet-0b"],
            "securityGroups": ["sg-0a"],
            "assignPublicIp": "DISABLED",
        }
    }


def test_update_runs_again_under_the_same_physical_id_and_delete_runs_nothing() -> None:
    ecs = StubEcs()
    assert h.start(event("Update", PhysicalResourceId="pinpoint/table-bootstrap"), ecs, StubCloudFormation())[
        "Data"
    ] == {"TaskArn": TASK_ARN}
    assert len(ecs.calls) == 1
    deleted = StubEcs()
    assert h.start(
        event("Delete", PhysicalResourceId="pinpoint/table-bootstrap"), deleted, StubCloudFormation()
    ) == {"PhysicalResourceId": "pinpoint/table-bootstrap"}
    assert h.check(event("Delete"), deleted, StubLogs()) == {"IsComplete": True}
    assert deleted.calls == []


def test_a_task_that_cannot_start_fails_the_create_with_ecs_reason() -> None:
    ecs = StubEcs(
        run={"tasks": [], "failures": [{"arn": "arn:x", "reason": "RESOURCE:ENI", "detail": "no ENIs"}]}
    )
    with pytest.raises(h.BootstrapFailed, match="could not be started: arn:x RESOURCE:ENI no ENIs"):
        h.start(event("Create"), ecs, StubCloudFormation())


# --- a rollback's re-run: it runs, but never fails the rollback ----------------------------------


def rollback_update(**extra: Any) -> dict[str, Any]:
    return event("Update", PhysicalResourceId="pinpoint/table-bootstrap", StackId=STACK_ID, **extra)


def test_an_update_during_a_rollback_still_runs_the_task_and_is_marked() -> None:
    """CloudFormation sends the old properties again: the old TTLs are put back where possible."""
    ecs, cloudformation = StubEcs(), StubCloudFormation("UPDATE_ROLLBACK_IN_PROGRESS")
    assert h.start(rollback_update(), ecs, cloudformation)["Data"] == {
        "TaskArn": TASK_ARN,
        "Rollback": "true",
    }
    assert cloudformation.calls == [{"StackName": STACK_ID}]
    assert [name for name, _ in ecs.calls] == ["run_task"]
    # A normal update of the same stack is not marked.
    assert h.start(rollback_update(), StubEcs(), StubCloudFormation("UPDATE_IN_PROGRESS"))["Data"] == {
        "TaskArn": TASK_ARN
    }


def test_a_failed_run_during_a_rollback_is_logged_not_reported(caplog: pytest.LogCaptureFixture) -> None:
    failing = StubEcs(task=stopped(1, stoppedReason="Essential container in task exited"))
    marked = rollback_update(Data={"TaskArn": TASK_ARN, "Rollback": "true"})
    assert h.check(marked, failing, StubLogs(["bootstrap failed: HBase unreachable"])) == {"IsComplete": True}
    assert "rolling back, not reported: table bootstrap task" in caplog.text
    assert "bootstrap failed: HBase unreachable" in caplog.text
    # Still running: still waited for.
    running = StubEcs(
        task={"taskArn": TASK_ARN, "lastStatus": "RUNNING", "containers": [{"name": "pinpoint"}]}
    )
    assert h.check(marked, running, StubLogs()) == {"IsComplete": False}
    # Outside a rollback the same failure fails the resource.
    with pytest.raises(h.BootstrapFailed):
        h.check(rollback_update(Data={"TaskArn": TASK_ARN}), failing, StubLogs())


def test_a_task_that_cannot_start_during_a_rollback_completes_at_once() -> None:
    ecs = StubEcs(run={"tasks": [], "failures": [{"arn": "arn:x", "reason": "RESOURCE:ENI"}]})
    started = h.start(rollback_update(), ecs, ROLLING_BACK)
    assert started == {"PhysicalResourceId": "pinpoint/table-bootstrap", "Data": {"Rollback": "true"}}
    assert h.check({**rollback_update(), **started}, StubEcs(), StubLogs()) == {"IsComplete": True}
    with pytest.raises(h.BootstrapFailed, match="could not be started"):
        h.start(rollback_update(), ecs, StubCloudFormation("UPDATE_IN_PROGRESS"))


def test_an_unreadable_stack_status_counts_as_no_rollback() -> None:
    from botocore.exceptions import ClientError  # noqa: PLC0415

    class Denied:
        def describe_stacks(self, **_: Any) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DescribeStacks")

    assert h.start(rollback_update(), StubEcs(), Denied())["Data"] == {"TaskArn": TASK_ARN}
    assert h.in_rollback(Denied(), None) is False


def test_running_is_not_complete_and_carries_no_data() -> None:
    ecs = StubEcs(task={"taskArn": TASK_ARN, "lastStatus": "RUNNING", "containers": [{"name": "pinpoint"}]})
    assert h.check(event("Create", Data={"TaskArn": TASK_ARN}), ecs, StubLogs()) == {"IsComplete": False}


def test_exit_zero_completes() -> None:
    ecs = StubEcs(task=stopped(0))
    result = h.check(event("Create", Data={"TaskArn": TASK_ARN}), ecs, StubLogs())
    assert result == {"IsComplete": True, "Data": {"ExitCode": "0"}}


def test_non_zero_exit_fails_with_exit_code_stopped_reason_and_the_last_failure_line() -> None:
    ecs = StubEcs(task=stopped(3, stoppedReason="Essential container in task exited"))
    logs = StubLogs(
        [
            "bootstrap failed: first attempt",
            "creating table TraceV2",
            "bootstrap failed: HBase master not reachable after 240 s",
            "exiting",
        ]
    )
    with pytest.raises(h.BootstrapFailed) as error:
        h.check(event("Create", Data={"TaskArn": TASK_ARN}), ecs, logs)
    assert str(error.value) == (
        f"table bootstrap task {TASK_ID} failed: exit code 3; stoppedReason: Essential container in task exited; "
        "bootstrap failed: HBase master not reachable after 240 s"
    )
    (call,) = logs.calls
    assert call["logGroupName"] == "bootstrap-logs"
    assert call["logStreamName"] == f"pinpoint/pinpoint/{TASK_ID}"  # awslogs: prefix/container/task id
    assert call["startFromHead"] is False


def test_a_container_that_never_ran_fails_with_its_reason_even_without_logs() -> None:
    from botocore.exceptions import ClientError  # noqa: PLC0415

    ecs = StubEcs(
        task=stopped(
            None,
            stoppedReason="Task failed to start",
            container={"reason": "CannotPullContainerError: pull access denied " + "x" * 2000},
        )
    )
    missing = ClientError(
        {"Error": {"Code": "ResourceNotFoundException", "Message": "no stream"}}, "GetLogEvents"
    )
    with pytest.raises(h.BootstrapFailed) as error:
        h.check(event("Create", Data={"TaskArn": TASK_ARN}), ecs, StubLogs(error=missing))
    message = str(error.value)
    assert message.startswith(
        f"table bootstrap task {TASK_ID} failed: no exit code (the container did not run)"
    )
    assert (
        "stoppedReason: Task failed to start; container: CannotPullContainerError: pull access denied"
        in message
    )
    assert len(message) < 1500  # each part is cut; CloudFormation shows a few KB at most


# --- moto server ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The handler's boto3 clients resolve to moto through the standard environment; each test
    starts from an empty moto (its reset API)."""
    urllib.request.urlopen(
        urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=10
    )
    for key, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    ec2, ecs, logs = (boto3.client(name) for name in ("ec2", "ecs", "logs"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto needs it (see top)
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"bootstrap-{vpc}", Description="bootstrap", VpcId=vpc)[
        "GroupId"
    ]
    ecs.create_cluster(clusterName="pinpoint")
    task_definition = ecs.register_task_definition(
        family="bootstrap",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="1024",
        memory="2048",
        # moto needs a container memory (see top); CDK leaves it to the task on Fargate.
        containerDefinitions=[
            {"name": "pinpoint", "image": "pinpoint:test", "essential": True, "memory": 2048}
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    logs.create_log_group(logGroupName="bootstrap-logs")
    return {
        "ecs": ecs,
        "logs": logs,
        "props": props(TaskDefinitionArn=task_definition, Subnets=[subnet], SecurityGroups=[group]),
    }


def test_moto_update_reads_its_stacks_status_runs_the_task_and_polls_it_to_completion(
    aws: dict[str, Any],
) -> None:
    """The real DescribeStacks of the stack the event names (moto: UPDATE_COMPLETE, not a rollback)."""
    stack_id = boto3.client("cloudformation").create_stack(
        StackName="PinpointOnFargate",
        TemplateBody=json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}),
    )["StackId"]
    started = h.on_event(
        event("Update", aws["props"], StackId=stack_id, PhysicalResourceId="pinpoint/table-bootstrap")
    )
    assert set(started["Data"]) == {"TaskArn"}
    task_arn = started["Data"]["TaskArn"]
    (task,) = aws["ecs"].describe_tasks(cluster="pinpoint", tasks=[task_arn])["tasks"]
    assert task["launchType"] == "FARGATE"
    assert task["startedBy"] == "pinpoint-table-bootstrap"
    polled = {**event("Create", aws["props"]), **started}
    results = []
    for _ in range(10):  # moto moves one state per DescribeTasks; bounded
        results.append(h.is_complete(polled))
        if results[-1]["IsComplete"]:
            break
    assert results[-1] == {"IsComplete": True, "Data": {"ExitCode": "0"}}
    assert all(r == {"IsComplete": False} for r in results[:-1])
    assert len(results) > 1  # it really waited for STOPPED


def test_moto_unknown_task_definition_fails_with_ecs_error(aws: dict[str, Any]) -> None:
    wrong = {
        **aws["props"],
        "TaskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/missing:9",
    }
    with pytest.raises(
        h.BootstrapFailed,
        match=r"^table bootstrap task could not be started: .*\(ClientException\) when calling the RunTask operation",
    ):
        h.on_event(event("Update", wrong, PhysicalResourceId="pinpoint/table-bootstrap"))


def test_moto_failure_line_comes_from_cloudwatch_logs(aws: dict[str, Any]) -> None:
    logs = aws["logs"]
    stream = f"pinpoint/pinpoint/{TASK_ID}"
    logs.create_log_stream(logGroupName="bootstrap-logs", logStreamName=stream)
    now_ms = int(time.time() * 1000)  # CloudWatch (and moto) drop events older than 14 days
    logs.put_log_events(
        logGroupName="bootstrap-logs",
        logStreamName=stream,
        logEvents=[
            {"timestamp": now_ms + i, "message": message}
            for i, message in enumerate(
                ["waiting for the HBase master", "bootstrap failed: table TraceV2 exists with another schema"]
            )
        ],
    )
    ecs = StubEcs(task=stopped(1, stoppedReason="Essential container in task exited"))
    with pytest.raises(h.BootstrapFailed) as error:
        h.check(event("Create", aws["props"], Data={"TaskArn": TASK_ARN}), ecs, logs)
    assert str(error.value).endswith("; bootstrap failed: table TraceV2 exists with another schema")
    # No stream (the container never logged): the reason still names the exit code.
    other = TASK_ARN.replace(TASK_ID, "f" * 32)
    with pytest.raises(h.BootstrapFailed, match="failed: exit code 1; stoppedReason"):
        h.check(
            event("Create", aws["props"], Data={"TaskArn": other}),
            StubEcs(task={**stopped(1), "taskArn": other, "stoppedReason": "x"}),
            logs,
        )

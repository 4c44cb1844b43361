"""`make status`, run as a user runs it, against moto's CloudFormation, ECS, ELBv2 and CloudWatch
over HTTP: a healthy deployment exits 0, an unhealthy one exits 1 with one line per reason.

What moto (5.2.5) can express is used as AWS behaves; what it cannot is said here and checked on
the API's documented response shapes instead (the evaluation functions of scripts/ops/status.py):

* running counts: moto keeps a new service at running 0 / pending <desired> until
  ``update_service(desiredCount=...)`` sets running = desired -- the healthy case does that, the
  unhealthy one does not;
* a circuit breaker's FAILED rollout and an UNHEALTHY container: moto's deployments are never
  FAILED (``rolloutState`` is COMPLETED/IN_PROGRESS) and its containers are always HEALTHY;
* an unhealthy target: moto reports registered IP targets healthy and a stopped instance target
  ``unused`` (Target.InvalidState) -- the unhealthy case stops the instance;
* a stack that is not ``*_COMPLETE``: a CREATE change set leaves a stack in REVIEW_IN_PROGRESS;
* tasks of a service: moto's ``list_tasks`` ignores ``serviceName``; ECS names a service's tasks'
  group ``service:<name>``, which the script checks, so the tests start tasks with that group.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scripts.ops.status import service_problems, target_line_and_problems
from tests.integration.aws_stubs import rejecting_sts
from tests.integration.conftest import moto_credentials, run_repo_script
from tests.integration.test_post_deploy import REGION, client, create_stack
from tests.script_env import isolated_aws_env

BUNDLE = "3.1.0-5f1c0a2b"


@dataclass
class Deployment:
    """A deployment in moto, named for one test: stack, cluster, two services, target group, alarms."""

    moto: str
    stack: str
    prefix: str
    cluster: str
    services: tuple[str, ...]
    target_group: str
    instance: str
    env: dict[str, str]

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        argv = ["-c", f"stack_name={self.stack}", "-c", f"name_prefix={self.prefix}", *args]
        return run_repo_script("status.py", *argv, env=env or self.env, timeout=90)

    def outputs(self, **extra: str) -> dict[str, str]:
        return {
            "ClusterName": self.cluster,
            "WebTargetGroupArn": self.target_group,
            "AgentBundle": BUNDLE,
            "HBaseMode": "external",
            **extra,
        }

    def alarm(self, signal: str, *, state: str = "OK") -> str:
        name = f"{self.prefix}-{signal}"
        cloudwatch = client(self.moto, "cloudwatch")
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            MetricName="CPUUtilization",
            Namespace="AWS/ECS",
            Statistic="Average",
            Period=60,
            EvaluationPeriods=1,
            Threshold=85,
            ComparisonOperator="GreaterThanThreshold",
        )
        cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"set by the test: {state}")
        return name

    def scale_to_desired(self) -> None:
        for service in self.services:
            client(self.moto, "ecs").update_service(cluster=self.cluster, service=service, desiredCount=1)


@pytest.fixture
def deployment(moto_server: str, tmp_path: Path) -> Deployment:
    suffix = uuid.uuid4().hex[:8]
    ecs, ec2, elbv2 = (client(moto_server, name) for name in ("ecs", "ec2", "elbv2"))
    cluster = f"pinpoint-{suffix}"
    ecs.create_cluster(clusterName=cluster)
    services = (f"pinpoint-collector-{suffix}", f"pinpoint-web-{suffix}")
    for service in services:
        task = ecs.register_task_definition(
            family=service, containerDefinitions=[{"name": "pinpoint", "image": "x", "memory": 512}]
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster=cluster, serviceName=service, taskDefinition=task, desiredCount=1)
        ecs.run_task(cluster=cluster, taskDefinition=task, launchType="FARGATE", group=f"service:{service}")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t4g.micro")[
        "Instances"
    ][0]["InstanceId"]
    target_group = elbv2.create_target_group(
        Name=f"web-{suffix}", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=target_group, Targets=[{"Id": instance, "Port": 8080}])
    env = isolated_aws_env(tmp_path, AWS_REGION=REGION, **moto_credentials(moto_server))
    return Deployment(
        moto_server, f"PinpointStatus{suffix}", f"pp{suffix}", cluster, services, target_group, instance, env
    )


def errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr.splitlines()


def test_a_healthy_deployment_exits_0_with_every_part_on_one_screen(deployment: Deployment) -> None:
    create_stack(deployment.moto, deployment.stack, deployment.outputs())
    deployment.scale_to_desired()
    deployment.alarm("no-running-task")
    deployment.alarm("web-5xx")
    client(deployment.moto, "cloudwatch").put_metric_alarm(  # another stack's alarm: not ours
        AlarmName=f"x{deployment.prefix}-cpu",
        MetricName="CPUUtilization",
        Namespace="AWS/ECS",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    result = deployment.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert errors(result) == []
    lines = result.stdout.splitlines()
    assert (
        lines[0]
        == f"stack {deployment.stack}: CREATE_COMPLETE (account 123456789012, {REGION}); topology: external"
    )
    collector, web = sorted(deployment.services)
    for service in (collector, web):
        assert (
            f"service {service}: running 1/1, pending 0; last deployment IN_PROGRESS, failed tasks 0; "
            "1 task(s), containers 1 HEALTHY"
        ) in lines
    assert "web target group: 1 healthy" in lines
    assert f"agent bundle: {BUNDLE}" in lines
    assert f"alarms {deployment.prefix}-*: 2 OK" in lines
    assert lines[-1] == "healthy"


def test_an_unhealthy_deployment_exits_1_with_one_line_per_reason(deployment: Deployment) -> None:
    create_stack(deployment.moto, deployment.stack, deployment.outputs())
    client(deployment.moto, "ec2").stop_instances(InstanceIds=[deployment.instance])
    deployment.alarm("no-running-task")
    alarm = deployment.alarm("cpu-high", state="ALARM")
    result = deployment.run()  # services left at running 0 of 1 (moto's state before update_service)
    assert result.returncode == 1
    collector, web = sorted(deployment.services)
    assert errors(result) == [
        f"status: error: unhealthy: service {collector}: running 0 of 1 desired task(s)",
        f"status: error: unhealthy: service {web}: running 0 of 1 desired task(s)",
        f"status: error: unhealthy: web target {deployment.instance}:8080 is unused "
        "(Target.InvalidState: Target is in the stopped state)",
        "status: error: unhealthy: the web target group has no healthy target: the web UI is not served",
        f"status: error: unhealthy: alarm {alarm} is in ALARM: set by the test: ALARM",
    ]
    lines = result.stdout.splitlines()
    assert lines[1].startswith(f"service {collector}: running 0/1, pending 1; last deployment IN_PROGRESS")
    assert "web target group: 1 unused" in lines
    assert f"alarms {deployment.prefix}-*: 1 ALARM, 1 OK" in lines
    assert "healthy" not in lines


def test_a_stack_that_is_not_complete_is_unhealthy(deployment: Deployment) -> None:
    cloudformation = client(deployment.moto, "cloudformation")
    template = {"Resources": {"Marker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}
    cloudformation.create_change_set(
        StackName=deployment.stack,
        ChangeSetName="first",
        TemplateBody=json.dumps(template),
        ChangeSetType="CREATE",
    )
    result = deployment.run()
    assert result.returncode == 1
    assert errors(result) == [
        "status: error: unhealthy: stack status is REVIEW_IN_PROGRESS, not a *_COMPLETE state of a created stack",
        f"status: error: unhealthy: stack {deployment.stack} has no output ClusterName: its services cannot be found",
    ]
    assert (
        "web target group: unknown (no output WebTargetGroupArn; a stack from an older version)"
        in result.stdout
    )
    assert (
        "topology: embedded" in result.stdout.splitlines()[0]
    )  # no HBaseMode output: a stack from before it


def test_a_missing_stack_is_one_line(deployment: Deployment) -> None:
    result = deployment.run()
    assert result.returncode == 1
    assert errors(result) == [
        f"status: error: stack {deployment.stack} does not exist in this account/region: deploy it with "
        "`make deploy` (same AWS_PROFILE/AWS_REGION and -c settings)"
    ]
    assert result.stdout == ""


def test_no_credentials_no_region_and_rejected_credentials_are_one_line_each(
    deployment: Deployment, tmp_path: Path
) -> None:
    no_credentials = isolated_aws_env(tmp_path, AWS_REGION=REGION, AWS_ENDPOINT_URL=deployment.moto)
    [line] = errors(deployment.run(env=no_credentials))
    assert line.startswith("status: error: no AWS credentials found: set AWS_PROFILE")

    no_region = isolated_aws_env(tmp_path, **moto_credentials(deployment.moto))
    [line] = errors(deployment.run(env=no_region))
    assert line.startswith("status: error: no AWS region configured: set AWS_REGION")

    with rejecting_sts() as sts:
        rejected = {**deployment.env, "AWS_ENDPOINT_URL_STS": sts}
        [line] = errors(deployment.run(env=rejected))
    assert line.startswith("status: error: AWS rejected the credentials from env: InvalidClientTokenId")


# --- what moto cannot express: the same evaluation on the documented response shapes -----------


def service(**extra: Any) -> dict[str, Any]:
    """A DescribeServices entry (ECS API reference, Service / Deployment)."""
    return {
        "serviceName": "pinpoint-web",
        "desiredCount": 1,
        "runningCount": 1,
        "pendingCount": 0,
        "deployments": [
            {
                "status": "PRIMARY",
                "rolloutState": "COMPLETED",
                "rolloutStateReason": "ECS deployment ecs-svc/1 completed.",
                "failedTasks": 0,
            }
        ],
        **extra,
    }


def task(health: str) -> dict[str, Any]:
    """A DescribeTasks entry (ECS API reference, Task / Container.healthStatus)."""
    return {
        "taskArn": "arn:aws:ecs:eu-west-3:123456789012:task/pinpoint/0f1e2d3c",
        "group": "service:pinpoint-web",
        "lastStatus": "RUNNING",
        "healthStatus": health,
        "containers": [{"name": "pinpoint", "healthStatus": health}],
    }


def test_a_rollout_the_circuit_breaker_failed_is_unhealthy() -> None:
    failed = service(
        deployments=[
            {
                "status": "PRIMARY",
                "rolloutState": "FAILED",
                "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start.",
                "failedTasks": 3,
            }
        ]
    )
    assert service_problems(failed, [task("HEALTHY")]) == [
        "service pinpoint-web: the last deployment FAILED (3 failed task(s)): "
        "ECS deployment circuit breaker: tasks failed to start."
    ]
    assert service_problems(service(), [task("HEALTHY")]) == []


def test_an_unhealthy_container_is_unhealthy() -> None:
    assert service_problems(service(), [task("UNHEALTHY")]) == [
        "service pinpoint-web: task 0f1e2d3c is UNHEALTHY (containers: pinpoint)"
    ]
    assert service_problems(service(), [task("UNKNOWN")]) == []  # not known yet: within the grace period


def test_an_unhealthy_target_is_named_and_a_draining_one_is_not() -> None:
    line, problems = target_line_and_problems(
        [
            {"Target": {"Id": "10.40.1.10", "Port": 8080}, "TargetHealth": {"State": "healthy"}},
            {"Target": {"Id": "10.40.2.11", "Port": 8080}, "TargetHealth": {"State": "draining"}},
            {
                "Target": {"Id": "10.40.2.12", "Port": 8080},
                "TargetHealth": {
                    "State": "unhealthy",
                    "Reason": "Target.ResponseCodeMismatch",
                    "Description": "Health checks failed with these codes: [502]",
                },
            },
        ]
    )
    assert line == "web target group: 1 draining, 1 healthy, 1 unhealthy"
    assert problems == [
        "web target 10.40.2.12:8080 is unhealthy (Target.ResponseCodeMismatch: Health checks failed with these "
        "codes: [502])"
    ]

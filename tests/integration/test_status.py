"""`make status`, run as a user runs it, against moto's CloudFormation, ECS, ELBv2, EMR and
CloudWatch over HTTP: a healthy deployment exits 0, an unhealthy one exits 1 with one line per
reason, one that cannot be checked exits 3.

The stack is created in moto from a template with the stack's own kinds of resources that moto's
CloudFormation creates (ECS cluster, task definitions, services, target groups), so ListStackResources
answers as AWS does; next to it, in the same cluster and account, another deployment's service and
alarms that `make status` must not read. What moto (5.2.5) cannot express is said here and checked
in the unit tier on the APIs' documented response shapes (tests/unit/test_ops_status.py):

* running counts: moto keeps a new service at running 0 / pending <desired> until
  ``update_service(desiredCount=...)`` sets running = desired -- the healthy case does that, the
  unhealthy one does not (so a service at 1 of 2 is a unit-tier case);
* a circuit breaker's FAILED rollout and an UNHEALTHY container: moto's deployments are never
  FAILED and its containers are always HEALTHY;
* an unhealthy target: moto reports registered IP targets healthy and a stopped instance target
  ``unused`` (Target.InvalidState) -- the unhealthy case stops the instance;
* a stack that is not ``*_COMPLETE``: a CREATE change set leaves a stack in REVIEW_IN_PROGRESS;
* tasks of a service: moto's ``list_tasks`` ignores ``serviceName``; ECS names a service's tasks'
  group ``service:<name>``, which the script checks, so the tests start tasks with that group;
* AWS Backup: moto has no ListBackupJobs (404), and its CloudFormation no AWS::CloudWatch::Alarm:
  backup jobs come from a loopback endpoint answering ListBackupJobs as the AWS Backup API
  reference documents it (rest-json, GET /backup-jobs/), the alarms are put by API and named by
  the stack's AlarmNames output as the real stack names them.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.integration.aws_stubs import rejecting_sts
from tests.integration.conftest import moto_credentials, run_repo_script
from tests.integration.test_post_deploy import REGION, client
from tests.loopback import QuietRequestLog, loopback_server
from tests.script_env import isolated_aws_env

BUNDLE = "3.1.0-5f1c0a2b"
COLLECTOR_PORT = 9991


@contextmanager
def backup_api(
    jobs: list[dict[str, Any]] | None = None, *, deny: bool = False
) -> Iterator[tuple[str, list[dict[str, list[str]]]]]:
    """ListBackupJobs on 127.0.0.1 as the AWS Backup API reference documents it (rest-json,
    ``GET /backup-jobs/``, ``BackupJobs`` with epoch-second dates), or the AccessDeniedException
    error document for every call. Yields its URL and the query strings it saw."""
    seen: list[dict[str, list[str]]] = []

    class Handler(QuietRequestLog, BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            seen.append(parse_qs(url.query))
            if deny:
                status, headers = 403, {"x-amzn-ErrorType": "AccessDeniedException"}
                body = {"Message": "User is not authorized to perform: backup:ListBackupJobs"}
            elif url.path == "/backup-jobs/":
                status, headers, body = 200, {}, {"BackupJobs": jobs or []}
            else:
                status, headers, body = 404, {}, {"Message": f"no route {url.path}"}
            data = json.dumps(body).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    with loopback_server(Handler, name="backup-api") as url:
        yield url, seen


def backup_job(state: str, hours_ago: float, message: str = "") -> dict[str, Any]:
    """A ListBackupJobs entry (AWS Backup API reference, BackupJob)."""
    return {
        "BackupJobId": f"job-{state.lower()}",
        "BackupVaultName": "",  # filled in by the deployment
        "State": state,
        "StatusMessage": message,
        "CreationDate": time.time() - hours_ago * 3600,
        "ResourceType": "EFS",
    }


@dataclass
class Deployment:
    """A deployment in moto, named for one test: a stack of two services and two target groups,
    an EMR cluster, alarms; beside it another deployment's service and alarm."""

    moto: str
    suffix: str
    env: dict[str, str]
    instance: str = ""
    emr_cluster: str = ""
    alarm_names: list[str] = field(default_factory=list)

    @property
    def stack(self) -> str:
        return f"PinpointStatus{self.suffix}"

    @property
    def prefix(self) -> str:
        return f"pp{self.suffix}"

    @property
    def cluster(self) -> str:
        return f"pinpoint-{self.suffix}"

    @property
    def services(self) -> dict[str, int]:
        """The stack's services and their desired counts."""
        return {f"{self.prefix}-collector": 2, f"{self.prefix}-web": 1}

    @property
    def vault(self) -> str:
        return f"{self.prefix}-hbase-0f1e2d3c"

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        argv = ["-c", f"stack_name={self.stack}", "-c", f"name_prefix={self.prefix}", *args]
        return run_repo_script("status.py", *argv, env=env or self.env, timeout=90)

    def with_backups(self, url: str) -> dict[str, str]:
        return {**self.env, "AWS_ENDPOINT_URL_BACKUP": url}

    def create_stack(self, vpc: str, *, missing_alarm: str | None = None) -> None:
        names = self.alarm_names + ([missing_alarm] if missing_alarm else [])
        container = [{"Name": "pinpoint", "Image": "x", "Memory": 512}]
        resources: dict[str, Any] = {
            "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": self.cluster}},
            "WebTargets": {
                "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
                "Properties": {
                    "Name": f"web-{self.suffix}",
                    "Protocol": "HTTP",
                    "Port": 8080,
                    "VpcId": vpc,
                    "TargetType": "instance",
                },
            },
            "CollectorTargets": {
                "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
                "Properties": {
                    "Name": f"collector-{self.suffix}",
                    "Protocol": "TCP",
                    "Port": COLLECTOR_PORT,
                    "VpcId": vpc,
                    "TargetType": "ip",
                },
            },
        }
        for index, (name, desired) in enumerate(self.services.items()):
            resources[f"Task{index}"] = {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {"Family": name, "ContainerDefinitions": container},
            }
            resources[f"Service{index}"] = {
                "Type": "AWS::ECS::Service",
                "Properties": {
                    "Cluster": {"Ref": "Cluster"},
                    "ServiceName": name,
                    "TaskDefinition": {"Ref": f"Task{index}"},
                    "DesiredCount": desired,
                },
            }
        outputs = {
            "ClusterName": {"Ref": "Cluster"},
            "WebTargetGroupArn": {"Ref": "WebTargets"},
            "AgentBundle": BUNDLE,
            "HBaseMode": "emr",
            "AlarmNames": ",".join(names),
            "EmrClusterId": self.emr_cluster,
            "HBaseBackupVaultName": self.vault,
        }
        template = {"Resources": resources, "Outputs": {k: {"Value": v} for k, v in outputs.items()}}
        client(self.moto, "cloudformation").create_stack(
            StackName=self.stack, TemplateBody=json.dumps(template)
        )

    def target_group(self, name: str) -> str:
        groups = client(self.moto, "elbv2").describe_target_groups(Names=[f"{name}-{self.suffix}"])
        return str(groups["TargetGroups"][0]["TargetGroupArn"])

    def register_targets(self) -> None:
        elbv2 = client(self.moto, "elbv2")
        elbv2.register_targets(
            TargetGroupArn=self.target_group("web"), Targets=[{"Id": self.instance, "Port": 8080}]
        )
        elbv2.register_targets(
            TargetGroupArn=self.target_group("collector"),
            Targets=[{"Id": "10.40.1.10", "Port": COLLECTOR_PORT}],
        )

    def start_tasks(self) -> None:
        ecs = client(self.moto, "ecs")
        for name, desired in self.services.items():
            task = ecs.describe_services(cluster=self.cluster, services=[name])["services"][0][
                "taskDefinition"
            ]
            for _ in range(desired):
                ecs.run_task(
                    cluster=self.cluster, taskDefinition=task, launchType="FARGATE", group=f"service:{name}"
                )

    def scale_to_desired(self) -> None:
        for name, desired in self.services.items():
            client(self.moto, "ecs").update_service(cluster=self.cluster, service=name, desiredCount=desired)

    def alarm(self, name: str, *, state: str = "OK") -> None:
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


@pytest.fixture
def deployment(moto_server: str, tmp_path: Path) -> Deployment:
    """Everything but the stack: the EMR cluster, an instance for the web target, the stack's alarms
    (OK), and another deployment's service in the same cluster and alarm with the same prefix, both
    unhealthy. Tests create the stack (``create_stack``) and bring it to the state they need."""
    suffix = uuid.uuid4().hex[:8]
    env = isolated_aws_env(tmp_path, AWS_REGION=REGION, **moto_credentials(moto_server))
    found = Deployment(moto_server, suffix, env)
    ec2 = client(moto_server, "ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    found.instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t4g.micro")[
        "Instances"
    ][0]["InstanceId"]
    found.emr_cluster = client(moto_server, "emr").run_job_flow(
        Name=f"{found.prefix}-hbase",
        ReleaseLabel="emr-7.13.0",
        Instances={
            "MasterInstanceType": "m7g.xlarge",
            "SlaveInstanceType": "m7g.xlarge",
            "InstanceCount": 3,
            "KeepJobFlowAliveWhenNoSteps": True,
        },
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]
    found.alarm_names = [f"{found.prefix}-collector-cpu-high", f"{found.prefix}-web-5xx"]
    for name in found.alarm_names:
        found.alarm(name)
    # Another deployment, "<name_prefix>-prod": same prefix, same cluster, both unhealthy.
    found.alarm(f"{found.prefix}-prod-cpu-high", state="ALARM")
    return found


def vpc(deployment: Deployment) -> str:
    return str(client(deployment.moto, "ec2").create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"])


def other_deployments_service(deployment: Deployment) -> None:
    """A service of another deployment in the same cluster, at 0 of 1: not this stack's."""
    ecs = client(deployment.moto, "ecs")
    task = ecs.register_task_definition(
        family=f"{deployment.prefix}-prod-web",
        containerDefinitions=[{"name": "x", "image": "x", "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=deployment.cluster,
        serviceName=f"{deployment.prefix}-prod-web",
        taskDefinition=task,
        desiredCount=1,
    )


def healthy(deployment: Deployment) -> None:
    deployment.create_stack(vpc(deployment))
    other_deployments_service(deployment)
    deployment.scale_to_desired()
    deployment.start_tasks()
    deployment.register_targets()


def errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr.splitlines()


def test_a_healthy_deployment_exits_0_with_only_its_own_parts_on_one_screen(deployment: Deployment) -> None:
    healthy(deployment)
    jobs = [backup_job("FAILED", 33, "an older failure"), backup_job("COMPLETED", 9)]
    for job in jobs:
        job["BackupVaultName"] = deployment.vault
    with backup_api(jobs) as (url, seen):
        result = deployment.run(env=deployment.with_backups(url))
    assert result.returncode == 0, result.stdout + result.stderr
    assert errors(result) == []
    assert [query["backupVaultName"] for query in seen] == [[deployment.vault]]
    lines = result.stdout.splitlines()
    assert (
        lines[0]
        == f"stack {deployment.stack}: CREATE_COMPLETE (account 123456789012, {REGION}); topology: emr"
    )
    collector, web = deployment.services
    assert lines[1:3] == [
        f"service {collector}: running 2/2, pending 0; last deployment IN_PROGRESS, failed tasks 0; "
        "2 task(s), containers 2 HEALTHY",
        f"service {web}: running 1/1, pending 0; last deployment IN_PROGRESS, failed tasks 0; "
        "1 task(s), containers 1 HEALTHY",
    ]
    assert not any("prod-web" in line for line in lines)  # another deployment's service, same cluster
    assert "web target group: 1 healthy" in lines
    assert f"collector NLB port {COLLECTOR_PORT} target group: 1 healthy" in lines
    assert f"EMR cluster {deployment.emr_cluster} ({deployment.prefix}-hbase): WAITING" in lines
    (backup_line,) = [line for line in lines if line.startswith("last backup job")]
    assert backup_line.startswith(f"last backup job into {deployment.vault}: COMPLETED, started ")
    assert f"agent bundle: {BUNDLE}" in lines
    # Only the stack's two alarms: not <name_prefix>-prod-cpu-high, in ALARM, of the same prefix.
    assert "alarms of the stack (2): 2 OK" in lines
    assert lines[-1] == "healthy"


def test_an_unhealthy_deployment_exits_1_with_one_line_per_reason(deployment: Deployment) -> None:
    deployment.create_stack(vpc(deployment), missing_alarm=f"{deployment.prefix}-web-unhealthy-targets")
    deployment.register_targets()
    client(deployment.moto, "ec2").stop_instances(InstanceIds=[deployment.instance])
    client(deployment.moto, "emr").terminate_job_flows(JobFlowIds=[deployment.emr_cluster])
    deployment.alarm(deployment.alarm_names[0], state="ALARM")
    job = backup_job("FAILED", 9, "Access denied to the file system")
    job["BackupVaultName"] = deployment.vault
    with backup_api([job]) as (url, _seen):
        result = deployment.run(env=deployment.with_backups(url))  # services left at running 0
    assert result.returncode == 1, result.stdout + result.stderr
    collector, web = deployment.services
    p = deployment.prefix
    assert errors(result) == [
        f"status: error: unhealthy: service {collector}: running 0 of 2 desired task(s)",
        f"status: error: unhealthy: service {web}: running 0 of 1 desired task(s)",
        f"status: error: unhealthy: web target {deployment.instance}:8080 is unused "
        "(Target.InvalidState: Target is in the stopped state)",
        "status: error: unhealthy: the web target group has no healthy target: the web UI is not served",
        f"status: error: unhealthy: EMR cluster {deployment.emr_cluster} is TERMINATED, not RUNNING or WAITING: "
        "HBase is not served",
        f"status: error: unhealthy: the last backup job into {deployment.vault} (job-failed) is FAILED: "
        "Access denied to the file system",
        f"status: error: unhealthy: alarm {p}-collector-cpu-high is in ALARM: set by the test: ALARM",
        f"status: error: unhealthy: alarm {p}-web-unhealthy-targets of the stack does not exist: it watches nothing",
    ]
    lines = result.stdout.splitlines()
    assert lines[1].startswith(f"service {collector}: running 0/2, pending 2; last deployment IN_PROGRESS")
    assert "alarms of the stack (3): 1 ALARM, 1 OK" in lines
    assert "healthy" not in lines


def test_a_part_that_cannot_be_read_exits_3_unless_the_rest_is_unhealthy(deployment: Deployment) -> None:
    healthy(deployment)
    with backup_api(deny=True) as (url, _seen):
        unknown = deployment.run(env=deployment.with_backups(url))
        client(deployment.moto, "emr").terminate_job_flows(JobFlowIds=[deployment.emr_cluster])
        unhealthy = deployment.run(env=deployment.with_backups(url))
    could_not = (
        f"status: error: could not check: cannot read the backup jobs of vault {deployment.vault}: "
        "AccessDeniedException: User is not authorized to perform: backup:ListBackupJobs"
    )
    assert unknown.returncode == 3, unknown.stdout + unknown.stderr
    assert errors(unknown) == [could_not]
    assert "healthy" not in unknown.stdout.splitlines()
    assert "alarms of the stack (2): 2 OK" in unknown.stdout  # the other parts were still read
    assert unhealthy.returncode == 1
    assert errors(unhealthy) == [
        f"status: error: unhealthy: EMR cluster {deployment.emr_cluster} is TERMINATED, not RUNNING or WAITING: "
        "HBase is not served",
        could_not,
    ]


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
    lines = result.stdout.splitlines()
    assert "web target group: unknown (no output WebTargetGroupArn; a stack from an older version)" in lines
    assert "alarms: unknown (no output AlarmNames; a stack from an older version)" in lines
    assert "topology: embedded" in lines[0]  # no HBaseMode output: a stack from before it


def test_a_missing_stack_cannot_be_checked(deployment: Deployment) -> None:
    result = deployment.run()
    assert result.returncode == 3
    assert errors(result) == [
        f"status: error: stack {deployment.stack} does not exist in this account/region: deploy it with "
        "`make deploy` (same AWS_PROFILE/AWS_REGION and -c settings)"
    ]
    assert result.stdout == ""


def test_no_credentials_no_region_and_rejected_credentials_cannot_be_checked(
    deployment: Deployment, tmp_path: Path
) -> None:
    no_credentials = isolated_aws_env(tmp_path, AWS_REGION=REGION, AWS_ENDPOINT_URL=deployment.moto)
    result = deployment.run(env=no_credentials)
    [line] = errors(result)
    assert (result.returncode, line[:56]) == (3, "status: error: no AWS credentials found: set AWS_PROFILE")

    no_region = isolated_aws_env(tmp_path, **moto_credentials(deployment.moto))
    result = deployment.run(env=no_region)
    [line] = errors(result)
    assert result.returncode == 3
    assert line.startswith("status: error: no AWS region configured: set AWS_REGION")

    with rejecting_sts() as sts:
        result = deployment.run(env={**deployment.env, "AWS_ENDPOINT_URL_STS": sts})
    [line] = errors(result)
    assert result.returncode == 3
    assert line.startswith("status: error: AWS rejected the credentials from env: InvalidClientTokenId")


def test_a_bad_setting_is_a_usage_error_not_a_failed_check(deployment: Deployment) -> None:
    result = deployment.run("-c", "alarm_cpu_percent=500")
    assert result.returncode == 2
    [line] = errors(result)
    assert line.startswith("status: error: ")
    assert "alarm_cpu_percent" in line

"""After `cdk deploy` (`make deploy`'s last step): wait for the Pinpoint service to be stable, then
print what to do next — run as a user runs it, against moto's ECS and CloudFormation over HTTP.

The stack is a CloudFormation stack created in moto with the outputs the platform stack
declares; the service is a moto ECS service whose running count moto keeps at 0 until
``update_service(desiredCount=...)``, which is how a test makes it become stable mid-wait.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from scripts.ops.deployed import OUTPUT_NAMES
from tests.integration.conftest import REPO_ROOT, moto_credentials, run_repo_script
from tests.script_env import isolated_aws_env

REGION = "eu-west-3"
WEB_URL = "http://internal-pinpoint-alb-1234.eu-west-3.elb.amazonaws.com"
APM_OPTS = (
    "-javaagent:/pinpoint-agent/current/pinpoint-bootstrap.jar -Dpinpoint.applicationName=<application-name> "
    "-Dpinpoint.container=true"
)
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:pinpoint-web-admin-AbCdEf"


def client(moto_server: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=moto_server,
        region_name=REGION,
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )


@dataclass
class Deployed:
    """A stack in moto with the platform's outputs and an ECS service, named for one test."""

    stack: str
    cluster: str
    service: str
    env: dict[str, str]
    config_dir: Path

    def argv(self, *args: str) -> list[str]:
        return [
            "--config-dir",
            str(self.config_dir),
            "--poll",
            "0.5",
            *args,
            "-c",
            f"stack_name={self.stack}",
        ]

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return run_repo_script("post_deploy.py", *self.argv(*args), env=self.env, timeout=timeout)


def create_stack(moto_server: str, name: str, outputs: dict[str, str]) -> None:
    template = {
        "Resources": {"Marker": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    client(moto_server, "cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))


@pytest.fixture
def deployed(moto_server: str, tmp_path: Path) -> Iterator[Deployed]:
    suffix = uuid.uuid4().hex[:8]
    ecs = client(moto_server, "ecs")
    cluster, service = f"pinpoint-{suffix}", f"pinpoint-{suffix}"
    ecs.create_cluster(clusterName=cluster)
    task = ecs.register_task_definition(
        family=f"pinpoint-{suffix}", containerDefinitions=[{"name": "pinpoint", "image": "x", "memory": 512}]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=cluster, serviceName=service, taskDefinition=task, desiredCount=1)
    stack = f"PinpointWait{suffix}"
    env = isolated_aws_env(tmp_path, AWS_REGION=REGION, **moto_credentials(moto_server))
    (tmp_path / "config").mkdir()
    yield Deployed(stack, cluster, service, env, tmp_path / "config")
    ecs.delete_service(cluster=cluster, service=service, force=True)


def all_outputs(deployed: Deployed) -> dict[str, str]:
    return {
        "WebUrl": WEB_URL,
        "ClusterName": deployed.cluster,
        "PinpointServiceName": deployed.service,
        "ApmOpts": APM_OPTS,
        "WebAdminSecretArn": SECRET_ARN,
        "AgentJavaagentPath": "/pinpoint-agent/current/pinpoint-bootstrap.jar",
    }


def one_error(result: subprocess.CompletedProcess[str]) -> str:
    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 1, report
    assert "Traceback" not in result.stderr, report
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, report
    assert result.stderr.rstrip().splitlines()[-1] == errors[0], report
    assert errors[0].startswith("post-deploy: error: "), report
    return errors[0].removeprefix("post-deploy: error: ")


def test_waits_until_the_service_is_stable_then_prints_the_next_steps(
    deployed: Deployed, moto_server: str
) -> None:
    create_stack(moto_server, deployed.stack, all_outputs(deployed))
    process = subprocess.Popen(
        [sys.executable, "scripts/post_deploy.py", *deployed.argv("--timeout", "60")],
        cwd=REPO_ROOT,
        env=deployed.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        progress = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # read progress until the script is seen waiting
            line = process.stderr.readline()
            progress.append(line)
            if line.startswith(f"waiting for {deployed.service} to be stable: running 0/1"):
                break
        assert progress, "no output"
        assert progress[-1].startswith(f"waiting for {deployed.service} to be stable"), progress
        assert process.poll() is None  # still waiting: the service is not stable yet
        client(moto_server, "ecs").update_service(
            cluster=deployed.cluster, service=deployed.service, desiredCount=1
        )
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 0, stderr
    assert "deployment IN_PROGRESS" in progress[-1]
    lines = stdout.splitlines()
    assert lines[0] == f"Pinpoint is deployed: ECS service {deployed.service} is stable."
    assert f"Web UI: {WEB_URL}" in lines
    assert "internal" in stdout
    assert '    make deploy CDK_ARGS="-c web_allowed_cidrs=<your-cidr>"' in lines
    host = WEB_URL.removeprefix("http://")
    ssm = (
        f"    aws ssm start-session --region {REGION} --target <instance-id> --document-name "
        "AWS-StartPortForwardingSessionToRemoteHost --parameters "
        f'\'{{"host":["{host}"],"portNumber":["80"],"localPortNumber":["8080"]}}\''
    )
    assert ssm in lines
    assert "    then open http://localhost:8080/" in lines
    assert (
        f"    aws secretsmanager get-secret-value --region {REGION} --secret-id {SECRET_ARN} "
        "--query SecretString --output text"
    ) in lines
    assert f'    APM_OPTS="{APM_OPTS}"' in lines
    assert "replace <application-name>" in stdout


def test_a_service_that_never_becomes_stable_fails_in_one_line_after_the_timeout(
    deployed: Deployed, moto_server: str
) -> None:
    create_stack(moto_server, deployed.stack, all_outputs(deployed))
    started = time.monotonic()
    result = deployed.run("--timeout", "2")
    assert time.monotonic() - started < 30  # bounded
    line = one_error(result)
    assert line.startswith(
        f"ECS service {deployed.service} in cluster {deployed.cluster} was not stable within 2s "
        "(running 0/1, pending 1, deployment IN_PROGRESS)"
    )
    assert f"aws ecs describe-services --cluster {deployed.cluster} --services {deployed.service}" in line
    assert result.stderr.count("waiting for") >= 2  # progress while waiting


def test_missing_outputs_are_named_and_the_rest_still_printed(deployed: Deployed, moto_server: str) -> None:
    """A stack from before PinpointServiceName/ApmOpts/WebAdminSecretArn existed."""
    outputs = {key: value for key, value in all_outputs(deployed).items() if key in ("WebUrl", "ClusterName")}
    create_stack(moto_server, deployed.stack, outputs)
    result = deployed.run("--timeout", "5")
    assert result.returncode == 0, result.stderr
    assert (
        f"warning: stack {deployed.stack} has no output PinpointServiceName, ApmOpts, WebAdminSecretArn, "
        "AgentJavaagentPath"
    ) in result.stderr
    assert f"Web UI: {WEB_URL}" in result.stdout.splitlines()
    assert "APM_OPTS" not in result.stdout
    assert "its service was not waited for" in result.stdout
    assert set(OUTPUT_NAMES) >= set(outputs)


def test_a_stack_that_does_not_exist_fails_in_one_line(deployed: Deployed) -> None:
    line = one_error(deployed.run())
    assert line.startswith(f"stack {deployed.stack} does not exist in this account/region")


def test_a_service_that_is_gone_fails_in_one_line(deployed: Deployed, moto_server: str) -> None:
    outputs = all_outputs(deployed) | {"PinpointServiceName": "no-such-service"}
    create_stack(moto_server, deployed.stack, outputs)
    line = one_error(deployed.run("--timeout", "5"))
    assert line == f"ECS service no-such-service in cluster {deployed.cluster}: MISSING"


def test_a_distributed_deployment_waits_for_the_collector_and_web_services(
    deployed: Deployed, moto_server: str
) -> None:
    ecs = client(moto_server, "ecs")
    task = ecs.describe_services(cluster=deployed.cluster, services=[deployed.service])["services"][0][
        "taskDefinition"
    ]
    web = f"{deployed.service}-web"
    ecs.create_service(cluster=deployed.cluster, serviceName=web, taskDefinition=task, desiredCount=1)
    # moto reports a service as running only after update_service: make both stable up front.
    for service in (deployed.service, web):
        ecs.update_service(cluster=deployed.cluster, service=service, desiredCount=1)
    outputs = {key: value for key, value in all_outputs(deployed).items() if key != "PinpointServiceName"}
    outputs |= {"CollectorServiceName": deployed.service, "WebServiceName": web, "HBaseMode": "external"}
    create_stack(moto_server, deployed.stack, outputs)
    try:
        result = deployed.run("--timeout", "20")
    finally:
        ecs.delete_service(cluster=deployed.cluster, service=web, force=True)
    assert result.returncode == 0, result.stderr
    assert "has no output" not in result.stderr
    assert f"waiting for ECS service {deployed.service} in cluster" in result.stderr
    assert f"waiting for ECS service {web} in cluster" in result.stderr
    assert result.stdout.splitlines()[0] == (
        f"Pinpoint is deployed: ECS services {deployed.service}, {web} are stable."
    )

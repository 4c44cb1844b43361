"""`make deploy`'s last step (scripts/post_deploy.py) in process: the stack's outputs and the ECS
services from botocore's Stubber, shaped as the CloudFormation DescribeStacks and ECS
DescribeServices references document them; the real `services_stable` waiter reads them.
tests/integration/test_post_deploy.py runs the script against moto; these hold in the unit tier
that a distributed deployment waits for every service it runs, not only the first."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from scripts import post_deploy
from scripts.ops.errors import ScriptError
from tests.unit.stubbed_aws import REGION, StubbedSession

STACK = "PinpointPostDeploy"
CLUSTER = "pinpoint"
COLLECTOR, WEB = "pinpoint-collector", "pinpoint-web"
OUTPUTS = {
    "WebUrl": "http://internal-pinpoint-alb-1234.eu-north-1.elb.amazonaws.com",
    "ClusterName": CLUSTER,
    "CollectorServiceName": COLLECTOR,
    "WebServiceName": WEB,
    "HBaseMode": "external",
}


def service(name: str, *, running: int) -> dict[str, Any]:
    """A DescribeServices entry with one deployment (stable once ``running`` reaches 1 of 1)."""
    rollout = "COMPLETED" if running == 1 else "IN_PROGRESS"
    return {
        "serviceName": name,
        "status": "ACTIVE",
        "desiredCount": 1,
        "runningCount": running,
        "pendingCount": 1 - running,
        "deployments": [
            {"status": "PRIMARY", "rolloutState": rollout, "desiredCount": 1, "runningCount": running}
        ],
        "events": [],
    }


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> StubbedSession:
    session = StubbedSession(REGION)
    monkeypatch.setattr(post_deploy, "aws_session", lambda **_: session)
    session.stub("cloudformation").add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": STACK,
                    "CreationTime": datetime.datetime(2026, 12, 7, tzinfo=datetime.UTC),
                    "StackStatus": "CREATE_COMPLETE",
                    "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in OUTPUTS.items()],
                }
            ]
        },
        expected_params={"StackName": STACK},
    )
    return session


def answers(session: StubbedSession, name: str, *states: dict[str, Any]) -> None:
    """describe_services of ``name`` answers ``states`` in turn (the waiter asks once per poll,
    and the stable service is described once more)."""
    for state in states:
        session.stub("ecs").add_response(
            "describe_services",
            {"services": [state], "failures": []},
            expected_params={"cluster": CLUSTER, "services": [name]},
        )


def run(tmp_path: Path) -> int:
    # --timeout below --poll: a service that is not stable at the first look fails at once.
    return post_deploy.main(
        ["--config-dir", str(tmp_path), "--timeout", "5", "--poll", "10", "-c", f"stack_name={STACK}"]
    )


def test_a_distributed_deployment_fails_when_its_second_service_never_becomes_stable(
    tmp_path: Path, aws: StubbedSession, capsys: pytest.CaptureFixture[str]
) -> None:
    answers(aws, COLLECTOR, service(COLLECTOR, running=1), service(COLLECTOR, running=1))
    answers(aws, WEB, service(WEB, running=0))

    with aws.answering(), pytest.raises(ScriptError) as failed:
        run(tmp_path)

    assert str(failed.value).startswith(
        f"ECS service {WEB} in cluster {CLUSTER} was not stable within 5s (running 0/1, pending 1, "
        "deployment IN_PROGRESS)"
    )
    progress = capsys.readouterr().err
    assert f"waiting for ECS service {COLLECTOR} in cluster {CLUSTER} to be stable" in progress
    assert f"waiting for ECS service {WEB} in cluster {CLUSTER} to be stable" in progress


def test_a_distributed_deployment_is_stable_when_every_service_is(
    tmp_path: Path, aws: StubbedSession, capsys: pytest.CaptureFixture[str]
) -> None:
    answers(aws, COLLECTOR, service(COLLECTOR, running=1), service(COLLECTOR, running=1))
    answers(aws, WEB, service(WEB, running=1), service(WEB, running=1))

    with aws.answering():  # every service was asked for
        assert run(tmp_path) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"Pinpoint is deployed: ECS services {COLLECTOR}, {WEB} are stable."
    assert f"Web UI: {OUTPUTS['WebUrl']}" in out

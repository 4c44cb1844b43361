"""What `make deploy` prints after the service is stable (scripts/ops/deployed.py)."""

from __future__ import annotations

import json

from scripts.ops.deployed import OUTPUT_NAMES, missing_outputs, next_steps, service_names
from stacks.config import parse_settings

OUTPUTS = {
    "WebUrl": "https://pinpoint.internal.example.com",
    "ClusterName": "pinpoint",
    "PinpointServiceName": "pinpoint",
    "ApmOpts": "-javaagent:/pinpoint-agent/current/pinpoint-bootstrap.jar -Dpinpoint.applicationName=<application-name>",
    "WebAdminSecretArn": "arn:aws:secretsmanager:eu-west-1:1:secret:x",
    "AgentJavaagentPath": "/pinpoint-agent/current/pinpoint-bootstrap.jar",
}


def test_the_stack_outputs_read_are_the_ones_the_platform_stack_declares() -> None:
    assert OUTPUT_NAMES == (
        "WebUrl",
        "ClusterName",
        "PinpointServiceName",
        "ApmOpts",
        "WebAdminSecretArn",
        "AgentJavaagentPath",
    )
    assert missing_outputs(OUTPUTS) == []
    assert missing_outputs({"WebUrl": "http://x", "ApmOpts": ""}) == [
        "ClusterName", "PinpointServiceName", "ApmOpts", "WebAdminSecretArn", "AgentJavaagentPath",
    ]  # fmt: skip


def test_an_https_alb_is_forwarded_on_443_and_the_environment_is_kept() -> None:
    config = parse_settings({"web_allowed_cidrs": ["10.8.0.0/16"]})
    lines = next_steps(OUTPUTS, config, region="eu-west-1", environment="prod")
    text = "\n".join(lines)
    (ssm,) = [line for line in lines if "aws ssm start-session" in line]
    parameters = json.loads(ssm.split("--parameters ", 1)[1].strip("'"))
    assert parameters == {
        "host": ["pinpoint.internal.example.com"],
        "portNumber": ["443"],
        "localPortNumber": ["8080"],
    }
    assert "--region eu-west-1" in ssm
    assert "    then open https://localhost:8080/" in lines
    assert "(now: 10.8.0.0/16)" in text
    assert '    make deploy CDK_ARGS="-c config=prod -c web_allowed_cidrs=<your-cidr>"' in lines
    assert f'    APM_OPTS="{OUTPUTS["ApmOpts"]}"' in lines
    assert "--secret-id arn:aws:secretsmanager:eu-west-1:1:secret:x" in text


def test_steps_whose_outputs_are_missing_are_left_out() -> None:
    lines = next_steps({"WebUrl": "http://alb"}, parse_settings({}), region="us-east-1", environment=None)
    text = "\n".join(lines)
    assert lines[0] == "Web UI: http://alb"
    assert "(now: the VPC's CIDR only)" in text
    assert "APM_OPTS" not in text
    assert "secretsmanager" not in text
    assert next_steps({}, parse_settings({}), region="us-east-1", environment=None) == []


def test_a_distributed_stack_is_waited_for_by_its_collector_and_web_services() -> None:
    distributed = {key: value for key, value in OUTPUTS.items() if key != "PinpointServiceName"} | {
        "CollectorServiceName": "pinpoint-collector",
        "WebServiceName": "pinpoint-web",
    }
    assert missing_outputs(distributed) == []
    assert service_names(distributed) == ["pinpoint-collector", "pinpoint-web"]
    assert service_names(OUTPUTS) == ["pinpoint"]
    # One of the two is not enough to stand for the all-in-one service.
    assert "PinpointServiceName" in missing_outputs(distributed | {"WebServiceName": ""})

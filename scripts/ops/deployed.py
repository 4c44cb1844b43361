"""After ``cdk deploy``: the stack's outputs, and what a user does next.

Outputs are read by name from the CloudFormation stack ``config.stack_name``; one that is
missing (a stack deployed by an older version of this project) is named, and the steps that
need it are left out instead of failing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import botocore.exceptions

from scripts.ops.aws import BotoClient, aws_error, error_code
from scripts.ops.errors import ScriptError
from stacks.config import PlatformConfig

WEB_URL = "WebUrl"
CLUSTER = "ClusterName"
SERVICE = "PinpointServiceName"
APM_OPTS = "ApmOpts"
ADMIN_SECRET = "WebAdminSecretArn"
JAVAAGENT = "AgentJavaagentPath"
OUTPUT_NAMES = (WEB_URL, CLUSTER, SERVICE, APM_OPTS, ADMIN_SECRET, JAVAAGENT)
# hbase_mode=emr/external deploy these two services instead of the all-in-one (SERVICE).
DISTRIBUTED_SERVICES = ("CollectorServiceName", "WebServiceName")
APPLICATION_PLACEHOLDER = "<application-name>"
LOCAL_PORT = 8080


def describe_stack(cfn: BotoClient, stack_name: str) -> Mapping[str, Any]:
    """The stack's description; one line if it does not exist or cannot be read."""
    try:
        return cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except botocore.exceptions.ClientError as error:
        if error_code(error) == "ValidationError" and "does not exist" in aws_error(error):
            raise ScriptError(
                f"stack {stack_name} does not exist in this account/region: deploy it with `make deploy` "
                "(same AWS_PROFILE/AWS_REGION and -c settings)"
            ) from None
        raise ScriptError(f"cannot read stack {stack_name}: {aws_error(error)}") from None
    except botocore.exceptions.BotoCoreError as error:
        raise ScriptError(f"cannot read stack {stack_name}: {aws_error(error)}") from None


def outputs_of(stack: Mapping[str, Any]) -> dict[str, str]:
    """``{OutputKey: OutputValue}`` of a described stack."""
    return {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs") or []}


def stack_outputs(cfn: BotoClient, stack_name: str) -> dict[str, str]:
    """``{OutputKey: OutputValue}`` of ``stack_name``; one line if the stack does not exist."""
    return outputs_of(describe_stack(cfn, stack_name))


def service_names(outputs: dict[str, str]) -> list[str]:
    """The Pinpoint ECS services the stack says it runs: the all-in-one, or collectors and web."""
    names = [outputs[name] for name in (SERVICE, *DISTRIBUTED_SERVICES) if outputs.get(name)]
    return names


def missing_outputs(outputs: dict[str, str]) -> list[str]:
    distributed = all(outputs.get(name) for name in DISTRIBUTED_SERVICES)
    expected = [name for name in OUTPUT_NAMES if not (distributed and name == SERVICE)]
    return [name for name in expected if not outputs.get(name)]


def _make_deploy(environment: str | None, setting: str) -> str:
    context = ([f"-c config={environment}"] if environment else []) + [f"-c {setting}"]
    return f'make deploy CDK_ARGS="{" ".join(context)}"'


def next_steps(
    outputs: dict[str, str], config: PlatformConfig, *, region: str, environment: str | None
) -> list[str]:
    """Human instructions: open the web UI, reach the internal ALB, find the admin password, APM_OPTS."""
    lines: list[str] = []
    if url := outputs.get(WEB_URL):
        parsed = urlparse(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        allowed = ", ".join(config.web_allowed_cidrs) if config.web_allowed_cidrs else "the VPC's CIDR only"
        forward = json.dumps(
            {
                "host": [parsed.hostname or url],
                "portNumber": [str(port)],
                "localPortNumber": [str(LOCAL_PORT)],
            },
            separators=(",", ":"),
        )
        lines += [
            f"Web UI: {url}",
            f"  The load balancer is internal: it answers only inside the VPC, from web_allowed_cidrs "
            f"(now: {allowed}) and web_allowed_security_group_ids.",
            "  From a network routed to the VPC (VPN, Direct Connect, peering, Transit Gateway), allow its CIDR:",
            f"    {_make_deploy(environment, 'web_allowed_cidrs=<your-cidr>')}",
            "  Or forward a local port through an SSM-managed instance in the VPC (Session Manager plugin;",
            "  the instance must be allowed by web_allowed_cidrs, which by default is the whole VPC):",
            f"    aws ssm start-session --region {region} --target <instance-id> "
            f"--document-name AWS-StartPortForwardingSessionToRemoteHost --parameters '{forward}'",
            f"    then open {parsed.scheme or 'http'}://localhost:{LOCAL_PORT}{parsed.path or '/'}",
        ]
    if secret := outputs.get(ADMIN_SECRET):
        lines += [
            "Admin password (Pinpoint's admin pages) is in Secrets Manager:",
            f"    aws secretsmanager get-secret-value --region {region} --secret-id {secret} "
            "--query SecretString --output text",
        ]
    if apm_opts := outputs.get(APM_OPTS):
        lines += [
            f"Agent: start your Java services with these JVM options; replace {APPLICATION_PLACEHOLDER} "
            "(up to 24 of a-z A-Z 0-9 . _ -):",
            f'    APM_OPTS="{apm_opts}"',
        ]
        if javaagent := outputs.get(JAVAAGENT):
            lines.append(
                f"  with the agent volume mounted ({javaagent}) and Service Connect on in the stack's "
                "namespace: README 'Attaching your services', docs/agent.md"
            )
    return lines

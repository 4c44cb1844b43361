#!/usr/bin/env python3
"""After `make deploy`'s cdk deploy: wait for the Pinpoint service to be stable, print what next.

Usage: ``post_deploy.py [--timeout S] [--poll S] [CDK CLI args...]`` — ``-c key=value`` and
``--profile`` among the CDK args select the settings and credentials exactly as the deploy did.
Reads the outputs of stack ``stack_name`` (WebUrl, ClusterName, PinpointServiceName — or
CollectorServiceName and WebServiceName with hbase_mode=emr/external —, ApmOpts,
WebAdminSecretArn, AgentJavaagentPath); names any that are missing instead of failing. Progress
goes to stderr, the next steps to stdout; a failure is one line and exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.ops.aws import aws_client, aws_session
from scripts.ops.deployed import CLUSTER, missing_outputs, next_steps, service_names, stack_outputs
from scripts.ops.errors import OneLineArgumentParser, run_script
from scripts.ops.output import Reporter
from scripts.ops.service import wait_stable
from scripts.ops.settings import cdk_profile, config_error, context_overrides
from stacks.config import CONFIG_DIR, ConfigError, load_config

PROG = "post-deploy"
DEFAULT_TIMEOUT_SECONDS = 900  # CloudFormation has usually waited for the service already
DEFAULT_POLL_SECONDS = 15


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="post_deploy.py", description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, metavar="S")
    parser.add_argument("--poll", type=float, default=DEFAULT_POLL_SECONDS, metavar="S")
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, metavar="DIR", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Everything not ours is a CDK CLI argument (CDK_ARGS): -c key=value, --profile, ...
    args, cdk_args = build_parser().parse_known_args(argv)
    overrides = context_overrides(cdk_args)
    try:
        config = load_config(overrides, config_dir=args.config_dir)
    except ConfigError as error:
        raise config_error(error) from None
    session = aws_session(profile=cdk_profile(cdk_args), region=config.region)
    region = str(session.region_name)
    out = Reporter()

    outputs = stack_outputs(aws_client(session, "cloudformation"), config.stack_name)
    if missing := missing_outputs(outputs):
        out.warn(
            f"stack {config.stack_name} has no output {', '.join(missing)} (deployed by an older version of "
            "this project?): the steps that need it are left out"
        )
    services = service_names(outputs)
    if outputs.get(CLUSTER) and services:
        for service in services:
            out.note(f"waiting for ECS service {service} in cluster {outputs[CLUSTER]} to be stable")
            wait_stable(
                aws_client(session, "ecs"),
                cluster=outputs[CLUSTER],
                service=service,
                timeout=args.timeout,
                poll=args.poll,
                out=out,
            )
        what = (
            f"ECS service {services[0]} is"
            if len(services) == 1
            else f"ECS services {', '.join(services)} are"
        )
        print(f"Pinpoint is deployed: {what} stable.")
    else:
        print(f"Pinpoint is deployed (stack {config.stack_name}); its service was not waited for.")
    for line in next_steps(outputs, config, region=region, environment=overrides.get("config")):
        print(line)
    return 0


if __name__ == "__main__":
    run_script(main, prog=PROG)

#!/usr/bin/env python3
"""`make status`: the deployed stack on one screen; exit status 1 when it is unhealthy.

Usage: ``status.py [CDK CLI args...]`` — ``-c key=value`` and ``--profile`` among the CDK args
select the settings (``stack_name``, ``name_prefix``, ``region``) and credentials exactly as the
deploy did. The report goes to stdout; every reason the deployment is unhealthy is one
``status: error: unhealthy: ...`` line on stderr, then the exit status is 1 (so CI can gate on
it). No region, no credentials or no stack: one ``status: error:`` line. See
:mod:`scripts.ops.status`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.ops.aws import aws_client, aws_session, require_credentials
from scripts.ops.errors import EXIT_FAILURE, OneLineArgumentParser, error_line, run_script
from scripts.ops.settings import cdk_profile, config_from_cdk_args
from scripts.ops.status import gather
from stacks.config import CONFIG_DIR

PROG = "status"
SERVICES = ("cloudformation", "ecs", "elbv2", "cloudwatch")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="status.py", description=__doc__.splitlines()[0])
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, metavar="DIR", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Everything not ours is a CDK CLI argument (CDK_ARGS): -c key=value, --profile, ...
    args, cdk_args = build_parser().parse_known_args(argv)
    config = config_from_cdk_args(cdk_args, args.config_dir)
    session = aws_session(profile=cdk_profile(cdk_args), region=config.region)
    identity = require_credentials(session)
    clients = {name: aws_client(session, name) for name in SERVICES}
    where = f"account {identity.account}, {identity.region}"
    report = gather(clients, stack_name=config.stack_name, name_prefix=config.name_prefix, where=where)
    for line in report.lines:
        print(line, flush=True)
    if not report.problems:
        print("healthy")
        return 0
    for problem in report.problems:
        print(error_line(f"unhealthy: {problem}", prog=PROG), file=sys.stderr, flush=True)
    return EXIT_FAILURE


if __name__ == "__main__":
    run_script(main, prog=PROG)

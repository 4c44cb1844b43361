#!/usr/bin/env python3
"""`make status`: the deployed stack on one screen; the exit status says healthy, unhealthy or unknown.

Usage: ``status.py [CDK CLI args...]`` — ``-c key=value`` and ``--profile`` among the CDK args
select the settings (``stack_name``, ``region``) and credentials exactly as the deploy did. The
report goes to stdout; each reason on stderr, as one line. Exit status (so CI can gate on it):

* 0 healthy;
* 1 unhealthy: one ``status: error: unhealthy: ...`` line per reason (also when some parts could
  not be read: what was read is already unhealthy);
* 2 the invocation or the settings are wrong (one ``status: error:`` line, nothing was asked);
* 3 could not check: no region, no credentials, credentials AWS rejects, no such stack, or a part
  that could not be read while the rest is healthy (one ``status: error: could not check: ...``
  line each).

See :mod:`scripts.ops.status`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.ops.aws import aws_client, aws_session, require_credentials
from scripts.ops.errors import (
    EXIT_FAILURE,
    EXIT_USAGE,
    OneLineArgumentParser,
    ScriptError,
    error_line,
    run_script,
)
from scripts.ops.settings import cdk_profile, config_from_cdk_args
from scripts.ops.status import gather
from stacks.config import CONFIG_DIR

PROG = "status"
SERVICES = ("cloudformation", "ecs", "elbv2", "emr", "backup", "cloudwatch")
EXIT_HEALTHY = 0
EXIT_UNHEALTHY = EXIT_FAILURE  # 1
EXIT_CANNOT_CHECK = 3


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="status.py", description=__doc__.splitlines()[0])
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, metavar="DIR", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Everything not ours is a CDK CLI argument (CDK_ARGS): -c key=value, --profile, ...
    args, cdk_args = build_parser().parse_known_args(argv)
    config = config_from_cdk_args(cdk_args, args.config_dir)
    try:
        session = aws_session(profile=cdk_profile(cdk_args), region=config.region)
        identity = require_credentials(session)
        clients = {name: aws_client(session, name) for name in SERVICES}
        where = f"account {identity.account}, {identity.region}"
        report = gather(clients, stack_name=config.stack_name, where=where)
    except ScriptError as error:
        if error.exit_code == EXIT_USAGE:
            raise
        raise ScriptError(str(error), exit_code=EXIT_CANNOT_CHECK) from None
    for line in report.lines:
        print(line, flush=True)
    for problem in report.problems:
        print(error_line(f"unhealthy: {problem}", prog=PROG), file=sys.stderr, flush=True)
    for part in report.unchecked:
        print(error_line(f"could not check: {part}", prog=PROG), file=sys.stderr, flush=True)
    if report.problems:
        return EXIT_UNHEALTHY
    if report.unchecked:
        return EXIT_CANNOT_CHECK
    print("healthy")
    return EXIT_HEALTHY


if __name__ == "__main__":
    run_script(main, prog=PROG)

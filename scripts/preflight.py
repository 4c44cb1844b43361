#!/usr/bin/env python3
"""Checks and first-run steps before `make deploy|diff|destroy|bootstrap` calls the CDK CLI.

Usage: ``preflight.py [options] deploy|diff|destroy|bootstrap [CDK CLI args...]`` — ``-c
key=value`` pairs and ``--profile`` among the CDK args are read exactly as the CDK app and CLI
will see them. Every problem is reported at once, one ``preflight: error:`` line each (exit 2
when any is in the settings, else 1); then ``deploy`` bootstraps the account/region if needed
(``auto_bootstrap``) and pins unpinned download checksums (``strict_checksums``), and
``bootstrap`` runs ``cdk bootstrap aws://ACCOUNT/REGION``. See :mod:`scripts.ops.preflight`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.ops.bootstrap import CDK_CLI
from scripts.ops.errors import OneLineArgumentParser, run_script
from scripts.ops.output import Reporter
from scripts.ops.preflight import ACTIONS, PINPOINT_DOCKERFILE, Request, run
from stacks.config import CONFIG_DIR

PROG = "preflight"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="preflight.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config-dir", type=Path, default=CONFIG_DIR, metavar="DIR", help="settings files (default: config/)"
    )
    parser.add_argument(
        "--dockerfile",
        type=Path,
        default=PINPOINT_DOCKERFILE,
        metavar="FILE",
        help="the image's Dockerfile, read for its checksum build args (default: images/pinpoint/Dockerfile)",
    )
    parser.add_argument(
        "--cdk", type=Path, default=CDK_CLI, metavar="PATH", help="the CDK CLI (default: the pinned one)"
    )
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("cdk_args", nargs=argparse.REMAINDER, help="the CDK CLI arguments (CDK_ARGS)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    request = Request(
        action=args.action,
        cdk_args=list(args.cdk_args),
        config_dir=args.config_dir,
        dockerfile=args.dockerfile,
        cdk=args.cdk,
    )
    return run(request, Reporter(), prog=PROG)


if __name__ == "__main__":
    run_script(main, prog=PROG)

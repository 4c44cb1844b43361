#!/usr/bin/env python3
"""`make cost`: the configured deployment's monthly list price, line by line, then the total.

Usage: ``cost.py [--source auto|api|table] [CDK CLI args...]`` — ``-c key=value`` and
``--profile`` among the CDK args select the settings exactly as ``cdk synth`` reads them. The
region is the ``region`` setting, else the AWS CLI's, else the stack's fallback. Prices come from
the table shipped in scripts/ops/prices/ (offline) or from the AWS Price List API (``auto``: the
API when credentials work, else the table; the output says which). The last line is
``total: $<amount>/month``. A failure is one ``cost: error:`` line -- among them a deployment
that needs a unit price the source lacks (it names the region and the missing unit prices; no
partial total is printed). See :mod:`scripts.ops.cost`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.ops.cost import report
from scripts.ops.errors import OneLineArgumentParser, run_script
from scripts.ops.prices import TABLE_FILE
from scripts.ops.prices.select import SOURCES
from scripts.ops.settings import cdk_profile, config_from_cdk_args
from stacks.config import CONFIG_DIR

PROG = "cost"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="cost.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        choices=SOURCES,
        default="auto",
        help="auto (default): the Price List API when credentials work, else the shipped table",
    )
    parser.add_argument("--prices", type=Path, default=TABLE_FILE, metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR, metavar="DIR", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Everything not ours is a CDK CLI argument (CDK_ARGS): -c key=value, --profile, ...
    args, cdk_args = build_parser().parse_known_args(argv)
    config = config_from_cdk_args(cdk_args, args.config_dir)
    for line in report(config, source=args.source, profile=cdk_profile(cdk_args), table=args.prices):
        print(line)
    return 0


if __name__ == "__main__":
    run_script(main, prog=PROG)

#!/usr/bin/env python3
"""Pinpoint and the sample app on this machine's Docker engine, no AWS (``make local`` /
``make local-down``).

``local.py up [-c key=value]... [options]`` builds and runs; ``local.py down [--volumes]`` stops
and removes (keeping the HBase data volume unless ``--volumes``). Settings come from the same
``-c`` arguments and settings file as ``make deploy`` (``CDK_ARGS``). Progress goes to stderr;
the URLs go to stdout. The flow is :mod:`scripts.ops.local`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.ops.build import parse_build_arg
from scripts.ops.errors import OneLineArgumentParser, run_script
from scripts.ops.local import DownRequest, UpRequest, down, up
from scripts.ops.output import Reporter
from stacks.config import CONFIG_DIR

PROG = "local"


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: expected 1-65535")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="local.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="build and run Pinpoint and the sample app")
    start.add_argument(
        "-c",
        "--context",
        dest="context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting, as make deploy takes it (CDK_ARGS)",
    )
    start.add_argument(
        "--config-dir", type=Path, default=CONFIG_DIR, metavar="DIR", help="settings files (default: config/)"
    )
    start.add_argument(
        "--name", default="pinpoint-local", help="prefix of every container, network and volume"
    )
    start.add_argument(
        "--web-port", type=_port, default=8080, help="the web on 127.0.0.1:PORT (default 8080)"
    )
    start.add_argument(
        "--app-port", type=_port, default=8081, help="the sample app on 127.0.0.1:PORT (default 8081)"
    )
    start.add_argument(
        "--no-collector-ports",
        dest="collector_ports",
        action="store_false",
        help="do not publish the collector's gRPC ports on 127.0.0.1",
    )
    start.add_argument(
        "--memory-mb", type=int, default=4096, help="the Pinpoint container's memory (default 4096)"
    )
    start.add_argument(
        "--build-arg",
        type=parse_build_arg,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="images/pinpoint build arg on top of the settings' (e.g. BASE_IMAGE, a mirror)",
    )
    start.add_argument(
        "--app-build-arg",
        type=parse_build_arg,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="sample app build arg (JDK_IMAGE, BASE_IMAGE)",
    )
    start.add_argument(
        "--build-network",
        metavar="MODE",
        help="network of the builds' RUN steps, e.g. host to reach a download mirror on 127.0.0.1",
    )
    start.add_argument(
        "--state-dir",
        type=Path,
        help="host files: the agent tree, the admin password (default: build/local/NAME)",
    )
    stop = commands.add_parser("down", help="stop and remove the containers; keep the HBase data volume")
    stop.add_argument("--name", default="pinpoint-local", help="the prefix make local used")
    stop.add_argument(
        "--volumes", action="store_true", help="also remove the HBase data volume and build/local/NAME"
    )
    stop.add_argument(
        "--state-dir", type=Path, help="the state dir make local used (default: build/local/NAME)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "down":
        return down(DownRequest(name=args.name, volumes=args.volumes, state_dir=args.state_dir), Reporter())
    request = UpRequest(
        cdk_args=[arg for pair in args.context for arg in ("-c", pair)],
        name=args.name,
        config_dir=args.config_dir,
        web_port=args.web_port,
        app_port=args.app_port,
        collector_ports=args.collector_ports,
        memory_mb=args.memory_mb,
        build_args=dict(args.build_arg),
        app_build_args=dict(args.app_build_arg),
        build_network=args.build_network,
        state_dir=args.state_dir,
    )
    return up(request, Reporter())


if __name__ == "__main__":
    run_script(main, prog=PROG)

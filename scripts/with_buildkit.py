#!/usr/bin/env python3
"""Run a command with the docker CLI that builds with BuildKit: ``with_buildkit.py CMD [ARG...]``.

``make deploy`` runs ``cdk deploy`` through it. cdk deploy builds images/pinpoint with the CLI
``CDK_DOCKER`` names (default: the first ``docker`` on PATH), and the Dockerfile needs BuildKit.
This sets ``CDK_DOCKER`` to the CLI :mod:`scripts.ops.docker_cli` finds (``CDK_DOCKER`` itself
when set) and ``DOCKER_BUILDKIT=1``, then replaces itself with CMD. Without such a CLI it runs
CMD unchanged: the preflight has already refused a deploy that builds the image.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.ops.docker_cli import CDK_DOCKER, find_buildkit_cli
from scripts.ops.errors import EXIT_USAGE, ScriptError, die

PROG = "with-buildkit"


def main(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        die("usage: with_buildkit.py CMD [ARG...]", exit_code=EXIT_USAGE, prog=PROG)
    environment = dict(os.environ)
    try:
        cli = find_buildkit_cli(environment)
    except ScriptError as error:
        print(f"{PROG}: {error} (running {argv[0]} unchanged)", file=sys.stderr, flush=True)
    else:
        environment = cli.environment(environment) | {CDK_DOCKER: cli.path}
        print(f"{PROG}: {CDK_DOCKER}={cli.path} DOCKER_BUILDKIT=1 ({cli})", file=sys.stderr, flush=True)
    try:
        os.execvpe(argv[0], argv, environment)
    except OSError as error:
        die(f"cannot run {argv[0]}: {error.strerror}", prog=PROG)


if __name__ == "__main__":
    main(sys.argv[1:])

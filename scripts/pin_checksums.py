#!/usr/bin/env python3
"""Pin the SHA-512 of every artifact the deploy downloads into ``config/<ENV>.json`` (default: default).

Argument parsing and the report; what is downloaded and how it is verified is
:mod:`scripts.ops.pinning`. Any failure writes nothing. Progress goes to stderr; the values, the
notices and the ``make deploy`` command go to stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# `python scripts/pin_checksums.py` puts scripts/ on sys.path, not the repository root that
# holds the `scripts` and `stacks` packages; make the direct invocation work like `python -m`.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import requests  # noqa: E402

from scripts.ops.errors import ScriptError, run_script  # noqa: E402
from scripts.ops.output import Reporter  # noqa: E402
from scripts.ops.pinning import artifacts, merged_settings, pin, probe_all, probe_problem, report_lines  # noqa: E402
from scripts.ops.settings import read_environment, write_settings  # noqa: E402
from stacks.config import CONFIG_DIR, DEFAULT_ENVIRONMENT  # noqa: E402

PROG = "pin-checksums"
DOCKERFILE = REPO_ROOT / "images" / "pinpoint" / "Dockerfile"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pin_checksums.py",
        description=(
            "Download what the deploy downloads (the Pinpoint collector and web jars and HBase, as "
            "images/pinpoint/Dockerfile declares them, and the agent tarball), verify each against the "
            "checksum its repository publishes (if any), and record their SHA-512 in the settings file "
            "(agent_sha512, image_build_args.*_SHA512)."
        ),
        epilog=(
            "Download URLs follow the settings a deploy would use: pinpoint_version, "
            "agent_download_base_url, and image_build_args over the Dockerfile's ARG defaults (mirrors). "
            "make deploy does the same on first use; this is the explicit step, e.g. after a version "
            "change or with strict_checksums=true. Exit status: 0 pinned (or dry run), 1 download or "
            "verification failed, 2 bad arguments or configuration."
        ),
    )
    parser.add_argument(
        "--config",
        metavar="ENV",
        default=DEFAULT_ENVIRONMENT,
        help="settings file config/ENV.json to update (created if missing), as `-c config=ENV` reads it "
        f"(default: {DEFAULT_ENVIRONMENT}, what make deploy reads without -c config)",
    )
    parser.add_argument(
        "--config-dir",
        type=Path,
        default=CONFIG_DIR,
        metavar="DIR",
        help="directory of the settings files (default: config/, the one the CDK app reads)",
    )
    parser.add_argument(
        "--dockerfile",
        type=Path,
        default=DOCKERFILE,
        metavar="FILE",
        help="the image's Dockerfile, read for its checksum build args (default: images/pinpoint/Dockerfile)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="download, verify and print the values; write nothing"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    environment: str = args.config
    config_dir: Path = args.config_dir
    raw, config = read_environment(environment, config_dir)
    items = artifacts(config, args.dockerfile)
    out = Reporter()

    with requests.Session() as session:
        # A version that does not exist fails here, naming its URL, before anything is downloaded.
        problems = [
            text for item, answer in probe_all(session, items) if (text := probe_problem(item, answer))
        ]
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise ScriptError(problems[0] + more)
        pinned = [pin(session, item, out) for item in items]

    for line in report_lines(pinned):
        print(line)
    path = config_dir / f"{environment}.json"
    if args.dry_run:
        print(f"dry run: {path} not changed")
        return 0
    write_settings(path, merged_settings(raw, pinned))
    print(f"wrote {path}")
    if config_dir.resolve() != CONFIG_DIR.resolve():
        print(f"note: the CDK app reads settings from {CONFIG_DIR} only; move the file there to deploy it")
    cdk_args = "" if environment == DEFAULT_ENVIRONMENT else f' CDK_ARGS="-c config={environment}"'
    print(f"next: make deploy{cdk_args}")
    return 0


if __name__ == "__main__":
    run_script(main, prog=PROG)

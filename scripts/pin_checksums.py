#!/usr/bin/env python3
"""Pin the SHA-512 of every artifact the deploy downloads into ``config/<ENV>.json``.

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

from scripts.ops.errors import run_script  # noqa: E402
from scripts.ops.output import Reporter  # noqa: E402
from scripts.ops.pinning import artifacts, merged_settings, pin  # noqa: E402
from scripts.ops.settings import read_environment, write_settings  # noqa: E402
from stacks.config import CONFIG_DIR  # noqa: E402

PROG = "pin-checksums"
DOCKERFILE = REPO_ROOT / "images" / "pinpoint" / "Dockerfile"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pin_checksums.py",
        description=(
            "Download the Pinpoint collector and web jars and the agent tarball the deploy uses, "
            "verify each against the checksum its repository publishes (if any), and record their "
            "SHA-512 in config/ENV.json (agent_sha512, image_build_args)."
        ),
        epilog=(
            "Download URLs follow the settings a deploy would use: PINPOINT_VERSION/PINPOINT_BASE_URL "
            "from image_build_args (default: images/pinpoint/Dockerfile) and agent_download_base_url. "
            "Exit status: 0 pinned (or dry run), 1 download or verification failed, 2 bad arguments "
            "or configuration."
        ),
    )
    parser.add_argument(
        "--config",
        metavar="ENV",
        required=True,
        help="settings file config/ENV.json to update (created if missing), as `-c config=ENV` reads it",
    )
    parser.add_argument(
        "--config-dir",
        type=Path,
        default=CONFIG_DIR,
        metavar="DIR",
        help="directory of the settings files (default: config/, the one the CDK app reads)",
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
    out = Reporter()

    with requests.Session() as session:
        pinned = [pin(session, artifact, out) for artifact in artifacts(config, DOCKERFILE)]

    for item in pinned:
        print(f"{item.artifact.setting}={item.sha512}")
        if item.verified_by:
            print(f"  {item.artifact.name}: matches {item.verified_by}")
        else:
            print(
                f"  {item.artifact.name}: trust-on-first-download: no .sha512/.sha1 is published next to "
                f"{item.artifact.url}, so this is the hash of what was downloaded just now; check it out of band "
                "(e.g. against the release page or a second network) before deploying"
            )

    path = config_dir / f"{environment}.json"
    if args.dry_run:
        print(f"dry run: {path} not changed")
        return 0
    write_settings(path, merged_settings(raw, pinned))
    print(f"wrote {path}")
    if config_dir.resolve() != CONFIG_DIR.resolve():
        print(f"note: the CDK app reads settings from {CONFIG_DIR} only; move the file there to deploy it")
    print(f'next: make deploy CDK_ARGS="-c config={environment}"')
    return 0


if __name__ == "__main__":
    run_script(main, prog=PROG)

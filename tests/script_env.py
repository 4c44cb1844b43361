"""The environment a test gives a script it runs: this machine's AWS settings left out."""

from __future__ import annotations

import os
from pathlib import Path


def isolated_aws_env(tmp_path: Path, *, drop: tuple[str, ...] = (), **extra: str) -> dict[str, str]:
    """This process's environment for a script run, minus AWS and CI settings of the machine.

    No ``AWS_*`` variable (nor any with a prefix in ``drop``), no ``~/.aws`` (config files point
    into ``tmp_path``), never the instance metadata address, no proxy between the script and
    127.0.0.1; ``extra`` on top.
    """
    prefixes = ("AWS_", "GITHUB_", *drop)
    env = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    env.update(extra)
    return env

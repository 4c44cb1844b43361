"""CDK bootstrap of an account/region: reading its version, and running the pinned CLI.

``cdk bootstrap`` (default qualifier) records its template version in an SSM parameter; the
synthesized template's ``CheckBootstrapVersion`` rule wants at least 6.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import botocore.exceptions

from scripts.ops.aws import AwsIdentity, aws_client, aws_error, error_code
from scripts.ops.errors import ScriptError, one_line
from scripts.ops.output import Reporter
from stacks.config import REPO_ROOT

BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/hnb659fds/version"
MIN_BOOTSTRAP_VERSION = 6
# The CDK CLI pinned in package.json (make setup installs it with a supported Node beside it).
CDK_CLI = REPO_ROOT / "node_modules" / ".bin" / "cdk"
BOOTSTRAP_TIMEOUT_SECONDS = 1800


def environment(identity: AwsIdentity) -> str:
    return f"aws://{identity.account}/{identity.region}"


def bootstrap_version(session: Any, identity: AwsIdentity) -> int | None:
    """The account/region's CDK bootstrap version, ``None`` when it was never bootstrapped."""
    try:
        value = str(
            aws_client(session, "ssm").get_parameter(Name=BOOTSTRAP_VERSION_PARAMETER)["Parameter"]["Value"]
        )
    except botocore.exceptions.ClientError as error:
        if error_code(error) == "ParameterNotFound":
            return None
        raise ScriptError(
            f"cannot read {BOOTSTRAP_VERSION_PARAMETER} in account {identity.account} in {identity.region}: "
            f"{aws_error(error)}"
        ) from None
    except botocore.exceptions.BotoCoreError as error:
        raise ScriptError(f"cannot read {BOOTSTRAP_VERSION_PARAMETER}: {aws_error(error)}") from None
    return int(value) if value.isdigit() else 0


def _telemetry_context(cdk_json: Path = REPO_ROOT / "cdk.json") -> list[str]:
    try:
        context = json.loads(cdk_json.read_text()).get("context", {})
    except (OSError, ValueError):
        return []
    if "cli-telemetry" not in context:
        return []
    return ["--context", f"cli-telemetry={json.dumps(context['cli-telemetry'])}"]


def bootstrap_needed(version: int | None) -> bool:
    return version is None or version < MIN_BOOTSTRAP_VERSION


def not_bootstrapped(identity: AwsIdentity, version: int | None) -> str:
    where = f"account {identity.account} in {identity.region}"
    if version is None:
        return f"{where} is not bootstrapped for the CDK"
    return f"{where} has CDK bootstrap version {version}, at least {MIN_BOOTSTRAP_VERSION} is needed"


def run_cdk_bootstrap(
    identity: AwsIdentity, out: Reporter, *, cdk: Path = CDK_CLI, extra_args: tuple[str, ...] = ()
) -> None:
    """``cdk bootstrap aws://ACCOUNT/REGION`` with the pinned CLI, its output shown as progress.

    It runs from an empty directory: with the explicit environment the CLI needs nothing of the
    app, and in the project directory it would synthesize the whole app first (about 20 s here)
    and write cdk.context.json. The project's CLI telemetry choice (cdk.json) is passed along.
    """
    if not cdk.exists():
        raise ScriptError(f"the pinned CDK CLI is not installed ({cdk}): run `make setup`")
    command = [
        str(cdk),
        "bootstrap",
        environment(identity),
        "--no-notices",
        *_telemetry_context(),
        *extra_args,
    ]
    # The pinned Node next to the CLI, not an older system one.
    env = {**os.environ, "PATH": f"{cdk.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    tail: collections.deque[str] = collections.deque(maxlen=5)
    with tempfile.TemporaryDirectory(prefix="cdk-bootstrap-") as scratch:
        try:
            process = subprocess.Popen(
                command, cwd=scratch, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        except OSError as error:
            raise ScriptError(f"cannot run {cdk}: {error.strerror or error}") from None
        assert process.stdout is not None
        for line in process.stdout:
            if line.strip():
                out.note(f"  cdk: {line.rstrip()}")
                tail.append(one_line(line))
        try:
            code = process.wait(timeout=BOOTSTRAP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            raise ScriptError(
                f"cdk bootstrap {environment(identity)} did not finish in {BOOTSTRAP_TIMEOUT_SECONDS} s"
            ) from None
    if code != 0:
        last = next(
            (line for line in reversed(tail) if "rror" in line or "fail" in line.lower()),
            tail[-1] if tail else "",
        )
        raise ScriptError(f"cdk bootstrap {environment(identity)} failed (exit {code}): {last}")

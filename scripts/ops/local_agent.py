"""The agent for ``make local``, laid out by the deploy's own distributor
(stacks/constructs/agent_distribution/handler.py ``distribute``: download, verify the pinned
SHA-512, render our settings into every config file, switch ``current`` atomically) into a host
directory that the sample app mounts read-only where the deployment mounts EFS.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from scripts.ops.errors import ScriptError
from scripts.ops.local_engine import say
from scripts.ops.output import Reporter
from stacks.config import PlatformConfig

HANDLER_NAME = "agent_distribution_handler"


def load_distributor() -> ModuleType:
    """The distributor's code, the Lambda's own file, loaded by path as its runtime does (it is
    Lambda code, not a package of the CDK app)."""
    # stacks.constructs imports aws_cdk, whose jsii runtime starts Node: only when needed.
    from stacks.constructs.agent_distribution import HANDLER_DIR  # noqa: PLC0415

    if HANDLER_NAME in sys.modules:
        return sys.modules[HANDLER_NAME]
    spec = importlib.util.spec_from_file_location(HANDLER_NAME, HANDLER_DIR / "handler.py")
    if spec is None or spec.loader is None:
        raise ScriptError(f"cannot load the agent distributor from {HANDLER_DIR / 'handler.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[HANDLER_NAME] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def lay_out_agent(config: PlatformConfig, agent_dir: Path, out: Reporter) -> str:
    """The agent tree exactly as the deploy's distributor lays it out; returns the bundle id."""
    from stacks.constructs.agent_distribution import KEEP_VERSIONS, agent_settings  # noqa: PLC0415

    if config.agent_sha512 is None:  # pinned on first use unless strict_checksums refused
        raise ScriptError("agent_sha512 is not set: the agent cannot be verified (see docs/agent.md)")
    distributor = load_distributor()
    spec = distributor.BundleSpec(
        version=config.pinpoint_version,
        sha512=config.agent_sha512,
        download_base_url=config.agent_download_base_url,
        settings=distributor.AgentSettings.from_mapping(agent_settings(config)),
        keep_versions=KEEP_VERSIONS,
    )
    agent_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = distributor.distribute(agent_dir, spec)
    except distributor.DistributionError as error:
        raise ScriptError(f"agent distribution failed: {error}") from None
    # The app runs as uid 1000; EFS serves the tree through an access point owned by it. Here
    # the tree belongs to whoever ran `make local`: let every uid read it.
    for directory, _, files in os.walk(agent_dir):
        Path(directory).chmod(0o755)
        for name in files:
            path = Path(directory) / name
            if not path.is_symlink():
                path.chmod(0o644)
    verb = "installed" if result.changed else "already current:"
    say(out, f"agent {verb} {result.agent_path} in {agent_dir}")
    return str(result.bundle_id)

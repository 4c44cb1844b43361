"""Where settings come from, lowest precedence first: the schema's defaults, a settings file
``config/<name>.json`` (``-c config=<name>``, else ``config/default.json`` if present), and CDK
context (``cdk.json`` and ``-c key=value``)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stacks.config.errors import ConfigError, parse_settings
from stacks.config.rules import ACM_CERTIFICATE_ARN, NON_SETTING_CONTEXT_KEYS
from stacks.config.schema import PlatformConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "config"
# The settings file read when no `-c config=<name>` is given; it need not exist.
DEFAULT_ENVIRONMENT = "default"


def _is_setting_key(key: str) -> bool:
    return "@" not in key and ":" not in key and key not in NON_SETTING_CONTEXT_KEYS


def load_environment_file(name: str, config_dir: Path = CONFIG_DIR) -> dict[str, Any]:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        raise ConfigError(f"Invalid setting config={name!r}: allowed: a file name in config/ without .json")
    path = config_dir / f"{name}.json"
    if not path.exists():
        choices = ", ".join(sorted(p.stem for p in config_dir.glob("*.json"))) or "none"
        raise ConfigError(
            f"Invalid setting config={name!r}: no {path.name} in {config_dir} (available: {choices})"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(f"Invalid setting config={name!r}: {path} is not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"Invalid setting config={name!r}: {path} must hold a JSON object of settings")
    return data


def environment_name(context: Mapping[str, Any]) -> str:
    """The settings file a run reads: ``-c config=<name>``, else ``default``."""
    return str(context.get("config") or DEFAULT_ENVIRONMENT)


def merge_settings(context: Mapping[str, Any], config_dir: Path = CONFIG_DIR) -> dict[str, Any]:
    """Defaults < config/<name>.json < CDK context (cdk.json ``context`` and ``-c``).

    Without ``-c config=<name>`` the file is ``config/default.json``, which may be absent: a fresh
    clone synthesizes with the defaults, and the first ``make deploy`` records what it pins
    (checksums) there, so later runs read it without any flag.
    """
    merged: dict[str, Any] = {}
    environment = environment_name(context)
    if environment != DEFAULT_ENVIRONMENT or (config_dir / f"{DEFAULT_ENVIRONMENT}.json").exists():
        merged.update(load_environment_file(environment, config_dir))
    merged.update({key: value for key, value in context.items() if _is_setting_key(key)})
    return merged


def load_config(
    overrides: Mapping[str, Any] | None = None,
    cdk_json: Path = REPO_ROOT / "cdk.json",
    config_dir: Path = CONFIG_DIR,
) -> PlatformConfig:
    """Load the config outside CDK (scripts): cdk.json context, then ``overrides`` on top."""
    context: dict[str, Any] = {}
    if cdk_json.exists():
        context.update(json.loads(cdk_json.read_text()).get("context", {}))
    context.update(overrides or {})
    return parse_settings(merge_settings(context, config_dir))


# ALB access logging and other region-specific wiring need a concrete region at synth time. When
# neither the settings nor the CLI (profile/env) name one, `make synth` still works offline for
# this region; `make deploy` always has one from the credentials' profile.
FALLBACK_REGION = "us-east-1"


def resolve_environment(config: PlatformConfig, environ: Mapping[str, str] | None = None) -> PlatformConfig:
    """Fill account/region from the CDK CLI's CDK_DEFAULT_* when not set explicitly."""
    environ = os.environ if environ is None else environ
    account = config.account or environ.get("CDK_DEFAULT_ACCOUNT") or None
    # Offline, a certificate names the region it must be deployed in.
    certificate = ACM_CERTIFICATE_ARN.fullmatch(config.certificate_arn or "")
    region = (
        config.region
        or environ.get("CDK_DEFAULT_REGION")
        or (certificate.group(1) if certificate else None)
        or FALLBACK_REGION
    )
    return parse_settings({**config.model_dump(exclude_defaults=True), "account": account, "region": region})


def config_from_app_context(node: Any, config_dir: Path = CONFIG_DIR) -> PlatformConfig:
    """Load the config inside a CDK app from its node's context (cdk.json + ``-c``)."""
    context = dict(node.get_all_context())
    return parse_settings(merge_settings(context, config_dir))

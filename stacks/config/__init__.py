"""The one configuration schema for the platform: every setting, its default and its limits.

Settings come from, lowest precedence first:

1. the schema's defaults (they reproduce the mission: ARM64, 200 GiB, ``/api-public/serverTime`` (the 3.x path of the seed's ``/serverTime``), 300 s ...);
2. a settings file ``config/<name>.json`` chosen with ``-c config=<name>`` (else
   ``config/default.json`` when it exists);
3. CDK context: the ``context`` block of ``cdk.json`` and ``-c key=value`` on the command line.

Everything is validated once, at synth time, before anything reaches AWS. A bad value raises
:class:`ConfigError` whose message has one line per problem naming the setting, the bad value
and what is allowed.

Modules: ``rules`` (AWS limits, patterns, parsers), ``schema`` (the settings and the rules
across them), ``errors`` (error lines), ``sources`` (files and context). Callers import from
this package.
"""

from stacks.config.errors import SETTING_NAMES, ConfigError, echo, parse_settings
from stacks.config.rules import (
    BOOT_MARGIN_SECONDS,
    BUILD_ARG_NAME,
    FARGATE_CPU_MEMORY,
    LOG_RETENTION_DAYS,
    PUBLIC_SUBNET_MASK,
    RESERVED_CONTAINER_PORTS,
    private_subnet_mask,
    validate_ecr_repository_name,
    validate_image_tag,
)
from stacks.config.schema import PlatformConfig
from stacks.config.sources import (
    CONFIG_DIR,
    DEFAULT_ENVIRONMENT,
    FALLBACK_REGION,
    REPO_ROOT,
    config_from_app_context,
    environment_name,
    load_config,
    load_environment_file,
    merge_settings,
    resolve_environment,
)

__all__ = [
    "BOOT_MARGIN_SECONDS",
    "BUILD_ARG_NAME",
    "CONFIG_DIR",
    "DEFAULT_ENVIRONMENT",
    "FALLBACK_REGION",
    "FARGATE_CPU_MEMORY",
    "LOG_RETENTION_DAYS",
    "PUBLIC_SUBNET_MASK",
    "REPO_ROOT",
    "RESERVED_CONTAINER_PORTS",
    "SETTING_NAMES",
    "ConfigError",
    "PlatformConfig",
    "config_from_app_context",
    "echo",
    "environment_name",
    "load_config",
    "load_environment_file",
    "merge_settings",
    "parse_settings",
    "private_subnet_mask",
    "resolve_environment",
    "validate_ecr_repository_name",
    "validate_image_tag",
]

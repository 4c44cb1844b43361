"""The settings the deploy reads (``stacks.config``), seen from scripts: CDK arguments, the
settings file a run reads, and writing pinned values back atomically.

The settings file is ``config/<name>.json`` for ``-c config=<name>``, else
``config/default.json``, which may be absent until the first ``make deploy`` pins checksums
into it (``stacks.config.environment_name``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from scripts.ops.errors import EXIT_USAGE, ScriptError, one_line
from stacks.config import (
    CONFIG_DIR,
    REPO_ROOT,
    ConfigError,
    PlatformConfig,
    environment_name,
    load_config,
    load_environment_file,
    parse_settings,
)

CDK_JSON = REPO_ROOT / "cdk.json"
# The rule stacks.config.load_environment_file applies to `-c config=<name>`; needed here only
# to tell "file not created yet" (we create it) from "bad name" (its own error is re-raised).
ENVIRONMENT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def config_error(error: ConfigError) -> ScriptError:
    """A ``ConfigError`` (one line per problem) as one usage-error line."""
    return ScriptError(str(error).replace("\n", "; "), exit_code=EXIT_USAGE)


def context_overrides(cdk_args: list[str]) -> dict[str, str]:
    """``-c key=value`` / ``--context key=value`` pairs from CDK CLI arguments."""
    overrides: dict[str, str] = {}
    args = iter(cdk_args)
    for arg in args:
        if arg in ("-c", "--context"):
            pair = next(args, "")
        elif arg.startswith("--context="):
            pair = arg.split("=", 1)[1]
        else:
            continue
        key, separator, value = pair.partition("=")
        if not separator:
            raise ScriptError(
                f"bad CDK context argument {pair!r}: expected -c key=value", exit_code=EXIT_USAGE
            )
        overrides[key] = value
    return overrides


def cdk_profile(cdk_args: list[str]) -> str | None:
    """``--profile NAME`` among CDK CLI arguments: the scripts then use the same credentials."""
    for index, arg in enumerate(cdk_args):
        if arg == "--profile" and index + 1 < len(cdk_args):
            return cdk_args[index + 1]
        if arg.startswith("--profile="):
            return arg.split("=", 1)[1]
    return None


def config_from_cdk_args(cdk_args: list[str], config_dir: Path = CONFIG_DIR) -> PlatformConfig:
    """The settings a ``cdk`` run with these arguments would use; one usage-error line if bad."""
    try:
        return load_config(context_overrides(cdk_args), config_dir=config_dir)
    except ConfigError as error:
        raise config_error(error) from None


def settings_path(
    overrides: dict[str, str], config_dir: Path = CONFIG_DIR, cdk_json: Path = CDK_JSON
) -> Path:
    """The settings file a run with these ``-c`` overrides reads (and where pins are recorded)."""
    context: dict[str, Any] = json.loads(cdk_json.read_text()).get("context", {}) if cdk_json.exists() else {}
    return config_dir / f"{environment_name({**context, **overrides})}.json"


def read_settings_file(path: Path) -> dict[str, Any]:
    """The file's own settings, ``{}`` while it does not exist (it is created on first pin)."""
    if not path.exists():
        return {}
    try:
        return load_environment_file(path.stem, path.parent)
    except ConfigError as error:
        raise config_error(error) from None


def config_with_file(
    name: str, raw: dict[str, Any], overrides: dict[str, str] | None = None, cdk_json: Path = CDK_JSON
) -> PlatformConfig:
    """The config a deploy would see if ``config/<name>.json`` held ``raw``, with ``overrides``.

    The file is written to a scratch directory, so stacks.config merges it exactly as it will
    merge the real one (defaults < file < cdk.json context < -c) and nothing else is read.
    """
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / f"{name}.json").write_text(json.dumps(raw))
        return load_config({**(overrides or {}), "config": name}, cdk_json=cdk_json, config_dir=Path(scratch))


def read_environment(
    name: str, config_dir: Path, cdk_json: Path = CDK_JSON
) -> tuple[dict[str, Any], PlatformConfig]:
    """The file's own settings (``{}`` if it does not exist yet) and the config a deploy would see."""
    try:
        if ENVIRONMENT_NAME.fullmatch(name) and not (config_dir / f"{name}.json").exists():
            return {}, config_with_file(name, {}, cdk_json=cdk_json)
        # Bad names and invalid files fail here with stacks.config's own message.
        raw = load_environment_file(name, config_dir)
        return raw, load_config({"config": name}, cdk_json=cdk_json, config_dir=config_dir)
    except ConfigError as error:
        raise config_error(error) from None


def write_settings(path: Path, settings: dict[str, Any]) -> None:
    """Replace ``path`` in one rename(2): a reader sees the old file or the new one, never half."""
    try:
        parse_settings(settings)  # never write a file the deploy would then refuse
    except ConfigError as error:
        raise ScriptError(f"not writing {path}: {one_line(error)}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(settings, indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; keep the existing file's mode, or the usual one for a new file.
        if path.exists():
            shutil.copymode(path, temporary)
        else:
            temporary.chmod(0o644)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise ScriptError(f"cannot write {path}: {error.strerror or error}") from None

"""The settings the deploy reads (``stacks.config``), seen from scripts: CDK arguments, settings
files, and writing pinned values back atomically."""

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
    ConfigError,
    PlatformConfig,
    load_config,
    load_environment_file,
    parse_settings,
)

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


def read_environment(name: str, config_dir: Path) -> tuple[dict[str, Any], PlatformConfig]:
    """The file's own settings (``{}`` if it does not exist yet) and the config a deploy would see."""
    create = ENVIRONMENT_NAME.fullmatch(name) is not None and not (config_dir / f"{name}.json").exists()
    try:
        if create:
            return {}, load_config({}, config_dir=config_dir)
        # Bad names and invalid files fail here with stacks.config's own message.
        return load_environment_file(name, config_dir), load_config({"config": name}, config_dir=config_dir)
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

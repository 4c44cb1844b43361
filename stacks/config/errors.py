"""From raw settings to a valid ``PlatformConfig``, or one error line per problem.

Every line names the setting, echoes the bad value (cut when long) and says what is allowed;
unknown keys get a did-you-mean.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from stacks.config.rules import MAX_ECHO_CHARS, NOT_A_BOOLEAN, NOT_A_NUMBER
from stacks.config.schema import PlatformConfig, SettingError


class ConfigError(ValueError):
    """Invalid configuration; ``str(error)`` is one line per problem, ready to print."""


SETTING_NAMES = frozenset(PlatformConfig.model_fields)


def _field_range(key: str) -> str | None:
    """'21 to 200' for a field declared with ge/le bounds."""
    field = PlatformConfig.model_fields.get(key)
    if field is None:
        return None
    low = next((m.ge for m in field.metadata if getattr(m, "ge", None) is not None), None)
    high = next((m.le for m in field.metadata if getattr(m, "le", None) is not None), None)
    return f"{low} to {high}" if low is not None and high is not None else None


_RANGE_ERRORS = {"greater_than_equal", "less_than_equal", "int_parsing", "int_type", "int_from_float"}


def _allowed_text(key: str, error_type: str, message: str) -> str:
    message = message.removeprefix("Value error, ")
    if error_type in _RANGE_ERRORS and (bounds := _field_range(key)):
        return f"allowed: {bounds}"
    if message == NOT_A_NUMBER:
        bounds = _field_range(key)
        return f"allowed: {NOT_A_NUMBER}" + (f", {bounds}" if bounds else "")
    if error_type.startswith("bool_") or message == NOT_A_BOOLEAN:
        return f"allowed: {NOT_A_BOOLEAN}"
    message = message.removeprefix("Input should be ")
    return message if "allowed" in message else f"allowed: {message}"


def _cut(text: str, length: int | None = None) -> str:
    if len(text) <= MAX_ECHO_CHARS:
        return text
    return f"{text[: MAX_ECHO_CHARS - 20]}... ({len(text) if length is None else length} chars)"


def echo(value: Any) -> str:
    """``repr(value)``, cut to MAX_ECHO_CHARS with the full length named (a pasted file stays short)."""
    return _cut(repr(value), len(value) if isinstance(value, str) else None)


def _format_error(key: str, value: Any, allowed: str) -> str:
    return f"Invalid setting {key}={echo(value)}: {allowed}"


def _suggestion(key: str) -> str:
    by_lower = {name.lower(): name for name in SETTING_NAMES}
    normalised = key.lower().replace("-", "_")
    if normalised in by_lower:  # wrong case or hyphens: settings are lowercase snake_case
        return f"did you mean {by_lower[normalised]}?"
    close = difflib.get_close_matches(normalised, SETTING_NAMES, n=1)
    return f"did you mean {close[0]}?" if close else "see the README's configuration reference"


def parse_settings(raw: Mapping[str, Any]) -> PlatformConfig:
    """Validate raw settings (already merged); raise ConfigError with one line per problem."""
    unknown = sorted(set(raw) - SETTING_NAMES)
    if unknown:
        lines = [f"Unknown setting {_cut(key)}={echo(raw[key])}: {_suggestion(key)}" for key in unknown]
        raise ConfigError("\n".join(lines))
    try:
        return PlatformConfig.model_validate(dict(raw))
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            context_error = (problem.get("ctx") or {}).get("error")
            if isinstance(context_error, SettingError):
                lines.append(_format_error(context_error.key, context_error.value, context_error.allowed))
                continue
            key = str(problem["loc"][0]) if problem["loc"] else "?"
            value = raw.get(key, problem.get("input"))
            lines.append(_format_error(key, value, _allowed_text(key, problem["type"], problem["msg"])))
        raise ConfigError("\n".join(lines)) from None

"""Failures the user can act on: one line on stderr, a non-zero exit code, no traceback.

A script raises :class:`ScriptError` anywhere and ends with ``run_script(main, prog=...)``.
Tracebacks are kept for real bugs (anything that is not a ``ScriptError``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

EXIT_FAILURE = 1
EXIT_USAGE = 2  # same as argparse: the invocation or configuration is wrong, nothing was attempted
EXIT_INTERRUPTED = 130


def one_line(text: object) -> str:
    """Collapse a (library) message to a single line: log scrapers and humans read line one."""
    return " ".join(str(text).split())


class ScriptError(Exception):
    """A failure the user can act on. Reported as one ``error:`` line, exits with ``exit_code``."""

    def __init__(self, message: str, *, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(one_line(message))
        self.exit_code = exit_code


class TransientError(ScriptError):
    """A failure worth retrying (registry 5xx, throttling, dropped connection)."""


def error_line(message: str, *, prog: str | None = None) -> str:
    """``[prog: ]error: <message>`` as one line, or a GitHub Actions ``::error::`` annotation.

    On GitHub Actions the annotation makes the failure show up in the run summary, not only in
    the log.
    """
    text = one_line(message)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        return f"::error title={prog or 'error'}::{text}"
    prefix = f"{prog}: " if prog else ""
    return f"{prefix}error: {text}"


def die(message: str, *, exit_code: int = EXIT_FAILURE, prog: str | None = None) -> NoReturn:
    """Print ``[prog: ]error: <message>`` as one line on stderr and exit with ``exit_code``."""
    print(error_line(message, prog=prog), file=sys.stderr, flush=True)
    raise SystemExit(exit_code)


def run_script(main: Callable[[], int], *, prog: str) -> NoReturn:
    """Run a script's ``main`` and turn ``ScriptError``/Ctrl-C into one line and an exit code."""
    try:
        code = main()
    except ScriptError as error:
        die(str(error), exit_code=error.exit_code, prog=prog)
    except KeyboardInterrupt:
        die("interrupted", exit_code=EXIT_INTERRUPTED, prog=prog)
    raise SystemExit(code)


def set_ci_output(name: str, value: str) -> None:
    """Expose ``name=value`` to later CI steps (GitHub Actions ``$GITHUB_OUTPUT``); no-op elsewhere."""
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with Path(output).open("a", encoding="utf-8") as handle:
            handle.write(f"{name}={value}\n")


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are one ``error:`` line (with the usage in it), exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise ScriptError(f"{message} ({self.format_usage().strip()})", exit_code=EXIT_USAGE)

#!/usr/bin/env python3
"""Fill the ``"<KEY>"`` placeholders of an application Dockerfile template (the CI step).

    python scripts/inject_apm_opts.py --template images/app/Dockerfile --out build/Dockerfile \\
        --set JAR_FILE=build/libs/app.jar \\
        --set 'JAVA_OPTS=-Duser.timezone=Asia/Seoul -Dspring.profiles.active=prod' \\
        --set 'APM_OPTS=-javaagent:/pinpoint-agent/current/pinpoint-bootstrap.jar -Dpinpoint.applicationName=api -Dpinpoint.container=true'

It replaces the seed's chain of ``sed "s|<KEY>|...|g"`` calls, which broke on any value holding
``|``, ``&`` or ``\\`` (sed syntax) and produced a broken Dockerfile for values holding ``"`` or
``$`` (Dockerfile syntax). Here every value is written as one double-quoted Dockerfile string,
escaped for exactly that context, so the built image's variable holds the value byte for byte.

Rules, each violation an ``error:`` line naming the key and exit status 2:

* keys are JAR_FILE, JAVA_OPTS, APM_FILE and APM_OPTS; each may be set once;
* a placeholder must stand as a whole double-quoted word, ``"<KEY>"`` (e.g. ``ENV APM_OPTS="<APM_OPTS>"``),
  because only there is the escaping below correct;
* every placeholder in the template must be filled and every ``--set`` key must occur in it;
* values are single lines (a newline would end the Dockerfile instruction).

Placeholders inside ``#`` comment lines are documentation and are left untouched.
Stdlib only: it runs in an application repository's CI without this project's dependencies.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

KEYS = ("JAR_FILE", "JAVA_OPTS", "APM_FILE", "APM_OPTS")
EXIT_USAGE = 2

# Anything that looks like a placeholder, known or not, so that a typo in the template
# (``<APM_OPT>``) is reported instead of silently shipping a literal "<APM_OPT>".
PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*)>")
QUOTED_PLACEHOLDER = re.compile(r'"<([A-Z][A-Z0-9_]*)>"')
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class InjectError(ValueError):
    """A problem with the template or the values; ``str()`` is one line."""


def dockerfile_quote(value: str) -> str:
    """``value`` as a double-quoted Dockerfile word that ENV/ARG read back unchanged.

    Inside double quotes the Dockerfile lexer treats ``\\`` as an escape and expands ``$``
    variables; escaping exactly ``\\``, ``"`` and ``$`` leaves every other character literal.
    """
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def parse_assignments(assignments: Sequence[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for assignment in assignments:
        key, separator, value = assignment.partition("=")
        if not separator:
            raise InjectError(f"--set {assignment!r}: expected KEY=VALUE")
        if key not in KEYS:
            raise InjectError(f"unknown key {key!r} in --set; allowed: {', '.join(KEYS)}")
        if key in values:
            raise InjectError(f"key {key} is set twice")
        if CONTROL_CHARACTERS.search(value):
            raise InjectError(f"value of {key} holds a newline or control character; allowed: one line")
        values[key] = value
    return values


def render(template: str, values: Mapping[str, str]) -> str:
    """The template with each ``"<KEY>"`` replaced by the quoted value of KEY."""
    used: set[str] = set()
    lines = template.splitlines(keepends=True)
    for number, line in enumerate(lines, start=1):
        if line.lstrip().startswith("#"):
            continue

        def fill(match: re.Match[str], number: int = number) -> str:
            key = match.group(1)
            if key not in KEYS:
                raise InjectError(
                    f"template line {number}: unknown placeholder <{key}>; allowed: {', '.join(KEYS)}"
                )
            if key not in values:
                raise InjectError(
                    f"template line {number}: placeholder <{key}> left unfilled; pass --set {key}=..."
                )
            used.add(key)
            return dockerfile_quote(values[key])

        # Whatever looks like a placeholder outside a whole quoted word cannot be filled safely.
        leftover = PLACEHOLDER.search(QUOTED_PLACEHOLDER.sub("", line))
        if leftover:
            key = leftover.group(1)
            raise InjectError(
                f"template line {number}: placeholder <{key}> must be a whole double-quoted word, "
                f'e.g. ENV {key}="<{key}>"'
            )
        filled = QUOTED_PLACEHOLDER.sub(fill, line)
        lines[number - 1] = filled
    unused = sorted(set(values) - used)
    if unused:
        raise InjectError(f'--set {unused[0]} given but the template has no "<{unused[0]}>" placeholder')
    return "".join(lines)


def write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a failed run never leaves half a Dockerfile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, encoding="utf-8") as handle:
        handle.write(text)
    os.replace(handle.name, path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inject_apm_opts.py",
        description='Fill the "<KEY>" placeholders of an application Dockerfile template.',
        epilog="Exit status: 0 written, 2 bad arguments, template or value (nothing written).",
    )
    parser.add_argument("--template", type=Path, required=True, metavar="FILE", help="Dockerfile template")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="rendered Dockerfile")
    parser.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"a placeholder value; KEY is one of {', '.join(KEYS)} (repeat per key)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        values = parse_assignments(args.assignments)
        try:
            template = args.template.read_text(encoding="utf-8")
        except OSError as error:
            raise InjectError(f"cannot read template {args.template}: {error.strerror}") from None
        write_atomically(args.out, render(template, values))
    except InjectError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {args.out} ({', '.join(sorted(values))})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Print (or --write into README.md) the configuration reference table, generated from the schema.

The README section between the ``config-reference`` markers is this script's output; a unit test
fails when they drift apart, so the reference can never disagree with the code.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stacks.config import PlatformConfig

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- config-reference:begin -->", "<!-- config-reference:end -->"


def _default(name: str) -> str:
    field = PlatformConfig.model_fields[name]
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "—"
    return f"`{json.dumps(value) if isinstance(value, list | dict | bool) else value}`"


def reference_table() -> str:
    rows = ["| Setting | Default | Meaning and limits |", "|---|---|---|"]
    for name, field in PlatformConfig.model_fields.items():
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{name}` | {_default(name)} | {description} |")
    return "\n".join(rows)


def render_into(text: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{reference_table()}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the section in README.md")
    args = parser.parse_args()
    if args.write:
        README.write_text(render_into(README.read_text()))
    else:
        print(reference_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

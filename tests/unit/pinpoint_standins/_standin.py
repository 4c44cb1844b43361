"""Shared plumbing for the stand-in `hbase` and `java` executables used by
tests/unit/test_pinpoint_entrypoint.py.

Stand-ins append one line per event to the file named by STANDIN_EVENTS:
``<monotonic seconds> <actor> <event> [detail]``. Appends of short lines with O_APPEND are
atomic, so several stand-in processes can share the file. State that must survive a
supervisor restart (created tables, master start time) lives under STANDIN_STATE.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def record(actor: str, event: str, detail: str = "") -> None:
    line = f"{time.monotonic():.3f} {actor} {event} {detail}".rstrip() + "\n"
    with open(os.environ["STANDIN_EVENTS"], "a", encoding="utf-8") as events:
        events.write(line)


def state_dir() -> Path:
    path = Path(os.environ["STANDIN_STATE"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def knob(name: str, default: str = "") -> str:
    return os.environ.get(f"STANDIN_{name}", default)

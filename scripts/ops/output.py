"""Human output: progress bars on a terminal, plain greppable lines in CI logs and pipes.

Progress and notes go to stderr; stdout stays for results a caller may capture.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from scripts.ops.engine import StreamEvent
from scripts.ops.errors import one_line

_LAYER_DONE = (
    "Pushed",
    "Layer already exists",
    "Mounted from",
    "Already exists",
    "Pull complete",
    "Download complete",
)


def running_in_ci(environ: Mapping[str, str] | None = None) -> bool:
    """``CI`` set to a true value, as CI services (GitHub Actions, GitLab, .ci/run) export it."""
    value = (os.environ if environ is None else environ).get("CI", "")
    return value.strip().lower() in {"1", "true", "yes"}


class Reporter:
    """Progress and notes on stderr (stdout stays for results a caller may capture).

    For people (a terminal, not CI): progress bars, one per layer for pushes, one per download,
    and BuildKit's own display for builds (scripts.ops.build). Elsewhere (CI logs, pipes, and
    ``CI=true`` even on a terminal) plain lines, one per build step line and per layer state
    change, so logs stay readable and greppable.
    """

    def __init__(self, *, stream: TextIO | None = None, interactive: bool | None = None) -> None:
        self.console = Console(file=stream or sys.stderr, highlight=False, soft_wrap=True, emoji=False)
        if interactive is None:
            interactive = self.console.is_terminal and not running_in_ci()
        self.interactive = interactive
        self._layer_status: dict[str, str] = {}  # plain mode: last status printed per layer

    def note(self, message: str) -> None:
        self.console.print(message, markup=False)

    def warn(self, message: str) -> None:
        self.console.print(f"warning: {one_line(message)}", markup=False, style="yellow")

    @contextlib.contextmanager
    def push_progress(self, reference: str) -> Iterator[Callable[[StreamEvent], None]]:
        """Yield a stream callback rendering one bar per pushed layer."""
        self.note(f"pushing {reference}")
        with self._progress(DownloadColumn()) as progress:
            layers: dict[str, TaskID] = {}

            def on_event(event: StreamEvent) -> None:
                if "status" in event:
                    self._layer_event(progress, layers, event)

            yield on_event

    @contextlib.contextmanager
    def download_progress(self, url: str) -> Iterator[Callable[[int, int | None], None]]:
        """Yield ``advance(bytes, total)``: a bar on a terminal, one line per download elsewhere."""
        if not self.interactive:
            self.note(f"downloading {url}")
            yield lambda _size, _total: None
            return
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
        with Progress(*columns, console=self.console, transient=False) as progress:
            task = progress.add_task(url.rsplit("/", 1)[-1], total=None)
            yield lambda size, total: progress.update(task, advance=size, total=total)

    @contextlib.contextmanager
    def _progress(self, counter: Any) -> Iterator[Progress | None]:
        if not self.interactive:
            yield None
            return
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            counter,
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        with progress:
            yield progress

    def _layer_event(self, progress: Progress | None, layers: dict[str, TaskID], event: StreamEvent) -> None:
        status = str(event.get("status", ""))
        layer = event.get("id")
        if not layer:  # repository-level lines: "The push refers to ...", "<tag>: digest: ..."
            self.console.print(status, markup=False)
            return
        layer = str(layer)
        if progress is None:
            # Plain mode: one line per layer state change, not one per chunk uploaded.
            if self._layer_status.get(layer) != status:
                self.console.print(f"  {layer}: {status}", markup=False)
                self._layer_status[layer] = status
            return
        detail = event.get("progressDetail") or {}
        if layer not in layers:
            layers[layer] = progress.add_task(f"{layer} {status}", total=None)
        task = layers[layer]
        if status.startswith(_LAYER_DONE):
            total = progress.tasks[task].total or detail.get("total") or 1
            progress.update(task, description=f"{layer} {status}", total=total, completed=total)
        elif detail.get("current") is not None:
            # The engine's "total" for pushes is the uncompressed size and can be smaller than
            # "current" (compressed bytes sent); never let the bar overflow.
            current = int(detail["current"])
            total = max(int(detail.get("total") or 0), current)
            progress.update(task, description=f"{layer} {status}", completed=current, total=total)
        else:
            progress.update(task, description=f"{layer} {status}")

"""Fixtures of the supervisor specification: supervisors run against the stand-ins in
tests/unit/pinpoint_standins, each test in its own directory and on its own free ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.unit.pinpoint_standins.harness import Run, Supervisors, python_bin


@pytest.fixture(scope="session")
def python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return python_bin(tmp_path_factory.mktemp("python-bin"))


@pytest.fixture
def supervisors(tmp_path: Path, python: Path) -> Iterator[Supervisors]:
    started = Supervisors(tmp_path, python)
    yield started
    started.close()


@pytest.fixture
def workdir(supervisors: Supervisors) -> Path:
    return supervisors.workdir


@pytest.fixture
def launch(supervisors: Supervisors) -> Callable[..., Run]:
    return supervisors.launch

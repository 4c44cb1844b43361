"""Benchmarks (``make bench``): what a user waits for on every ``make synth``.

Measured with pytest-benchmark rather than asserted as timed tests: compare runs with
``make bench PYTEST_ARGS='--benchmark-compare'`` after ``--benchmark-autosave``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from pytest_benchmark.fixture import BenchmarkFixture

from app import create_app
from stacks.config import REPO_ROOT, parse_settings

# cdk.json's feature flags, no settings file: what `make synth` does on a fresh clone.
CONTEXT = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
NO_CONFIG = Path(tempfile.mkdtemp(prefix="bench-no-config-"))


def _synth_default() -> None:
    app, _ = create_app(CONTEXT, {}, NO_CONFIG)
    app.synth()


def test_synth_with_cdk_nag(benchmark: BenchmarkFixture) -> None:
    benchmark.pedantic(_synth_default, rounds=3, iterations=1, warmup_rounds=1)


def test_config_validation(benchmark: BenchmarkFixture) -> None:
    settings = {"cpu": "8192", "memory_mib": "32768", "web_allowed_cidrs": "10.0.0.0/8,192.168.0.0/16"}
    result = benchmark(parse_settings, settings)
    assert result.cpu == 8192

"""Benchmarks (``make bench``): what a user waits for on every ``make synth``.

Measured with pytest-benchmark rather than asserted as timed tests: compare runs with
``make bench PYTEST_ARGS='--benchmark-compare'`` after ``--benchmark-autosave``.
"""

from __future__ import annotations

from aws_cdk import App
from pytest_benchmark.fixture import BenchmarkFixture

from stacks.config import parse_settings, resolve_environment
from stacks.nag import enable_nag
from stacks.pinpoint_stack import PinpointStack


def _synth_default() -> None:
    app = App()
    PinpointStack(app, "Bench", config=resolve_environment(parse_settings({}), {}))
    enable_nag(app)
    app.synth()


def test_synth_with_cdk_nag(benchmark: BenchmarkFixture) -> None:
    benchmark.pedantic(_synth_default, rounds=3, iterations=1, warmup_rounds=1)


def test_config_validation(benchmark: BenchmarkFixture) -> None:
    settings = {"cpu": "8192", "memory_mib": "32768", "web_allowed_cidrs": "10.0.0.0/8,192.168.0.0/16"}
    result = benchmark(parse_settings, settings)
    assert result.cpu == 8192

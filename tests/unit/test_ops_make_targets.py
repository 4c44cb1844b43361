"""The Makefile's first-run contract: `make deploy` is the whole first run, in order."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def make_dry_run(target: str) -> str:
    """What ``make -n <target>`` would run, with CDK_ARGS set."""
    return subprocess.run(
        ["make", "-n", target, "CDK_ARGS=-c config=prod"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def dry_run(target: str) -> list[str]:
    return [line for line in make_dry_run(target).splitlines() if "scripts/" in line or "/cdk " in line]


def test_deploy_is_preflight_then_cost_then_cdk_deploy_then_the_wait_and_next_steps() -> None:
    lines = dry_run("deploy")
    assert len(lines) == 4, lines
    assert lines[0].endswith("scripts/preflight.py deploy -c config=prod")
    # The offline estimate never stops a deploy (an unknown region only skips it).
    assert "scripts/cost.py --source table -c config=prod || echo" in lines[1]
    # cdk deploy builds images/pinpoint with the docker CLI CDK_DOCKER names: one that does BuildKit.
    assert "scripts/with_buildkit.py " in lines[2]
    assert lines[2].endswith("/cdk deploy --require-approval never -c config=prod")
    assert lines[3].endswith("scripts/post_deploy.py -c config=prod")


def test_bootstrap_runs_the_preflight_which_runs_the_pinned_cli() -> None:
    lines = dry_run("bootstrap")
    assert len(lines) == 1, lines
    assert lines[0].endswith("scripts/preflight.py bootstrap -c config=prod")


def test_make_cost_and_make_deploy_run_the_script_with_cdk_args() -> None:
    assert "scripts/cost.py  -c config=prod" in make_dry_run("cost")
    # a failed estimate (e.g. missing prices) says so and never stops the deploy
    assert (
        'scripts/cost.py --source table -c config=prod || echo "cost: no estimate (see the line above); '
        'deploying anyway"'
    ) in make_dry_run("deploy")


def test_make_bench_runs_the_benchmarks_rather_than_refusing_them() -> None:
    """pyproject's addopts turn xdist on, and pytest-benchmark refuses --benchmark-only with it."""
    (command,) = [line for line in make_dry_run("bench").splitlines() if "pytest benchmarks" in line]
    argv = shlex.split(command.replace("pytest benchmarks", "pytest benchmarks/test_image_build_bench.py"))
    # As a user runs it: not inside this test run's xdist worker (pytest-benchmark reads its variables).
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    result = subprocess.run(
        [*argv, "--collect-only", "-q"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_cold_builds_and_rebuild_after_a_script_change_amd64_and_arm64" in result.stdout

"""Progress and failure reading of ECS service descriptions (scripts/ops/service.py).

Waiting against a real ECS API (moto) is tests/integration/test_post_deploy.py; moto never marks
a rollout FAILED, so that branch is checked here with the waiter error botocore raises, built
from a service description as ECS returns it.
"""

from __future__ import annotations

import io
from typing import Any

import botocore.exceptions
import pytest

from scripts.ops.errors import ScriptError
from scripts.ops.output import Reporter
from scripts.ops.service import failed_rollout, progress, wait_stable

IN_PROGRESS = {
    "runningCount": 0,
    "desiredCount": 1,
    "pendingCount": 1,
    "deployments": [{"status": "PRIMARY", "rolloutState": "IN_PROGRESS"}, {"status": "ACTIVE"}],
}
FAILED = {
    "runningCount": 1,
    "desiredCount": 1,
    "deployments": [
        {
            "status": "PRIMARY",
            "rolloutState": "FAILED",
            "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start.",
        }
    ],
}


def test_progress_names_counts_rollout_and_deployments() -> None:
    assert progress(IN_PROGRESS) == "running 0/1, pending 1, deployment IN_PROGRESS, 2 deployments"
    assert progress({}) == "running 0/0"


def test_only_a_failed_primary_rollout_is_a_failure() -> None:
    assert failed_rollout(FAILED) == "ECS deployment circuit breaker: tasks failed to start."
    assert failed_rollout(IN_PROGRESS) is None


class OneAnswerEcs:
    """describe_services always answers ``service`` (what botocore's waiter reports back)."""

    def __init__(self, service: dict[str, Any]) -> None:
        self.service = service

    def get_waiter(self, name: str) -> Any:
        assert name == "services_stable"
        service = self.service

        class Waiter:
            def wait(self, **_kwargs: Any) -> None:
                raise botocore.exceptions.WaiterError(
                    name="ServicesStable",
                    reason="Max attempts exceeded",
                    last_response={"services": [service]},
                )

        return Waiter()


def test_a_rolled_back_deployment_ends_the_wait_at_once() -> None:
    slept: list[float] = []
    with pytest.raises(
        ScriptError, match="the deployment failed and was rolled back: ECS deployment circuit"
    ):
        wait_stable(
            OneAnswerEcs(FAILED), cluster="c", service="s", timeout=600, poll=15,
            out=Reporter(stream=io.StringIO(), interactive=False), sleep=slept.append,
        )  # fmt: skip
    assert slept == []


def test_the_wait_is_bounded_by_its_timeout() -> None:
    now = [0.0]
    stream = io.StringIO()

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(ScriptError, match=r"was not stable within 60s \(running 0/1, pending 1"):
        wait_stable(
            OneAnswerEcs(IN_PROGRESS), cluster="c", service="s", timeout=60, poll=15,
            out=Reporter(stream=stream, interactive=False), clock=lambda: now[0], sleep=sleep,
        )  # fmt: skip
    assert now[0] == 60  # polled at 0, 15, 30, 45 and 60: the next poll would pass the timeout
    assert stream.getvalue().count("waiting for s to be stable") == 5

"""Bounded retries of transient failures, on tenacity.

The policy is ours (how many attempts, how long to wait, what counts as transient); tenacity
runs the loop. Only :class:`~scripts.ops.errors.TransientError` is retried: retrying
"unauthorized" or "tag already exists" only delays the same answer. Giving up raises one
plain ``ScriptError`` line, so an outer loop never retries the same failure again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from scripts.ops.errors import ScriptError, TransientError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Retry ``TransientError`` with capped exponential backoff and jitter.

    Delay before retry ``n`` (1-based) is ``min(max_delay, base_delay * 2**(n-1))`` scaled by a
    random factor in ``[1 - jitter, 1 + jitter]`` so that parallel CI jobs do not retry in step.
    (tenacity's own ``wait_exponential_jitter`` adds jitter on top of the cap instead of scaling
    the delay, so the wait is ours and the loop is tenacity's.)
    """

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 20.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError(f"invalid retry policy: {self}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1): {self.jitter}")

    def delay(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``retry`` (1 = the first retry)."""
        if retry < 1:
            raise ValueError("retry numbers start at 1")
        nominal = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return nominal * (1 + self.jitter * (2 * rand() - 1))

    def call(
        self,
        operation: Callable[[], T],
        *,
        what: str,
        on_retry: Callable[[int, float, TransientError], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> T:
        """Run ``operation`` until it succeeds, raises a non-transient error, or attempts run out."""

        def before_sleep(state: tenacity.RetryCallState) -> None:
            if on_retry is not None and state.outcome is not None and state.next_action is not None:
                error = state.outcome.exception()
                assert isinstance(error, TransientError)  # only those are retried
                on_retry(state.attempt_number, state.next_action.sleep, error)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=lambda state: self.delay(state.attempt_number),
            retry=tenacity.retry_if_exception_type(TransientError),
            before_sleep=before_sleep,
            sleep=sleep,
        )
        try:
            return retrying(operation)
        except tenacity.RetryError as gave_up:
            last = gave_up.last_attempt.exception()
            raise ScriptError(f"{what} failed after {self.attempts} attempts: {last}") from last

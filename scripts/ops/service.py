"""Waiting for an ECS service to be stable, with progress, bounded in time.

"Stable" is what boto3's ``services_stable`` waiter says (one deployment, running count equal
to the desired count); the waiter is asked once per poll so that progress (counts, rollout
state, new service events) is shown in between and the total wait has our bound. A rollout the
deployment circuit breaker marks FAILED ends the wait at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import botocore.exceptions

from scripts.ops.aws import BotoClient, aws_error
from scripts.ops.errors import ScriptError, one_line
from scripts.ops.output import Reporter

MAX_EVENTS_PER_POLL = 3


def progress(service: Mapping[str, Any]) -> str:
    """``running 0/1, pending 1, deployment IN_PROGRESS`` for a ``describe_services`` entry."""
    parts = [f"running {service.get('runningCount', 0)}/{service.get('desiredCount', 0)}"]
    if service.get("pendingCount"):
        parts.append(f"pending {service['pendingCount']}")
    deployments = service.get("deployments") or []
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    if primary is not None and primary.get("rolloutState"):
        parts.append(f"deployment {primary['rolloutState']}")
    if len(deployments) > 1:
        parts.append(f"{len(deployments)} deployments")
    return ", ".join(parts)


def failed_rollout(service: Mapping[str, Any]) -> str | None:
    """The reason of a FAILED primary rollout (the circuit breaker rolled it back), if any."""
    for deployment in service.get("deployments") or []:
        if deployment.get("status") == "PRIMARY" and deployment.get("rolloutState") == "FAILED":
            return one_line(deployment.get("rolloutStateReason") or "rollout FAILED")
    return None


def wait_stable(
    ecs: BotoClient,
    *,
    cluster: str,
    service: str,
    timeout: float,
    poll: float,
    out: Reporter,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Mapping[str, Any]:
    """Return the stable service's description, or raise one line on failure or timeout."""
    waiter = ecs.get_waiter("services_stable")
    started = clock()
    seen: set[str] = set()
    state: Mapping[str, Any] = {}
    where = f"ECS service {service} in cluster {cluster}"
    while True:
        try:
            waiter.wait(cluster=cluster, services=[service], WaiterConfig={"Delay": poll, "MaxAttempts": 1})
            return _describe(ecs, cluster, service)
        except botocore.exceptions.WaiterError as error:
            response = error.last_response or {}
            services = response.get("services") or []
            state = services[0] if services else {}
            if not str(error.kwargs.get("reason", "")).startswith("Max attempts exceeded"):
                failures = "; ".join(str(f.get("reason")) for f in response.get("failures") or [])
                detail = failures or state.get("status") or one_line(error.kwargs.get("reason", error))
                raise ScriptError(f"{where}: {detail}") from None
        except botocore.exceptions.BotoCoreError as error:
            raise ScriptError(f"cannot describe {where}: {aws_error(error)}") from None
        if reason := failed_rollout(state):
            raise ScriptError(f"{where}: the deployment failed and was rolled back: {reason}")
        new_events = [e for e in state.get("events") or [] if e.get("id") not in seen]
        seen.update(str(e.get("id")) for e in new_events)
        for event in reversed(new_events[:MAX_EVENTS_PER_POLL]):  # newest first from ECS
            out.note(f"  event: {one_line(event.get('message', ''))}")
        elapsed = clock() - started
        out.note(f"waiting for {service} to be stable: {progress(state)} ({elapsed:.0f}s of {timeout:.0f}s)")
        if elapsed + poll > timeout:
            raise ScriptError(
                f"{where} was not stable within {timeout:.0f}s ({progress(state)}): see its events with "
                f"`aws ecs describe-services --cluster {cluster} --services {service}` and the task logs"
            )
        sleep(poll)


def _describe(ecs: BotoClient, cluster: str, service: str) -> Mapping[str, Any]:
    try:
        services = ecs.describe_services(cluster=cluster, services=[service]).get("services") or [{}]
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
        raise ScriptError(f"cannot describe ECS service {service}: {aws_error(error)}") from None
    return services[0]

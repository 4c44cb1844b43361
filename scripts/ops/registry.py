"""Registry login and pushes through the engine, with retries of transient registry errors.

The docker SDK's push does not raise on failure: errors come as stream lines with an ``error``
key (see :func:`read_push_stream`). 5xx, throttling and dropped connections are retried by the
caller's :class:`~scripts.ops.retry.RetryPolicy`; anything else fails at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import docker
import docker.errors
import requests

from scripts.ops.ecr import RegistryAuth
from scripts.ops.engine import StreamEvent, api_error, stream_error
from scripts.ops.errors import ScriptError, TransientError, one_line
from scripts.ops.retry import RetryPolicy

# Registry failures that say "try again later", as the engine words them, e.g.
# "received unexpected HTTP status: 503 Service Unavailable", "toomanyrequests: ...",
# "read tcp ...: connection reset by peer", "net/http: TLS handshake timeout".
_TRANSIENT_STATUS = re.compile(r"\b(?:status(?: code)?:?\s*|HTTP\s+)(5\d\d|429)\b", re.IGNORECASE)
_TRANSIENT_TEXT = re.compile(
    r"toomanyrequests|too many requests|throttl|service unavailable|bad gateway|gateway time-?out"
    r"|internal server error|connection reset|connection refused|broken pipe|i/o timeout"
    r"|handshake timeout|timeout exceeded|unexpected EOF|: EOF$",
    re.IGNORECASE,
)


def is_transient_registry_error(message: str) -> bool:
    """True when a registry/engine error message describes a failure a retry can fix."""
    return bool(_TRANSIENT_STATUS.search(message) or _TRANSIENT_TEXT.search(message))


@dataclass(frozen=True)
class PushResult:
    reference: str
    digest: str
    size: int | None


def read_push_stream(
    events: Iterable[StreamEvent], on_event: Callable[[StreamEvent], None] | None = None
) -> PushResult:
    """Consume a push stream; return the pushed digest or raise on an ``error`` line.

    The docker SDK reports push failures only in the stream. Errors a retry can fix raise
    ``TransientError``; the others ``ScriptError``.
    """
    tag = digest = ""
    size: int | None = None
    for event in events:
        if on_event is not None:
            on_event(event)
        message = stream_error(event)
        if message is not None:
            error_class = TransientError if is_transient_registry_error(message) else ScriptError
            raise error_class(f"registry refused the push: {message}")
        aux = event.get("aux")
        if isinstance(aux, Mapping) and aux.get("Digest"):
            tag, digest = str(aux.get("Tag", "")), str(aux["Digest"])
            size = int(aux["Size"]) if aux.get("Size") is not None else None
    if not digest:
        raise TransientError("the push stream ended without a digest (connection to the engine dropped?)")
    return PushResult(reference=tag, digest=digest, size=size)


def registry_login(client: docker.DockerClient, auth: RegistryAuth, *, retry: RetryPolicy) -> None:
    """Have the engine verify ``auth`` against the registry before anything is built.

    ``reauth=True``: always ask the registry, never trust credentials cached in the client.
    Nothing is written to ``~/.docker/config.json``; pushes pass the credentials explicitly.
    """

    def attempt() -> None:
        try:
            client.login(username=auth.username, password=auth.password, registry=auth.registry, reauth=True)
        except (docker.errors.APIError, requests.RequestException) as error:
            message = api_error(error)
            if is_transient_registry_error(message) and "401" not in message:
                raise TransientError(f"registry {auth.registry} login: {message}") from error
            raise ScriptError(f"registry {auth.registry} refused the login: {message}") from error

    retry.call(attempt, what=f"login to {auth.registry}")


def push_image(
    client: docker.DockerClient,
    *,
    repository: str,
    tag: str,
    auth: RegistryAuth,
    retry: RetryPolicy,
    on_event: Callable[[StreamEvent], None] | None = None,
    on_retry: Callable[[int, float, TransientError], None] | None = None,
) -> PushResult:
    """Push ``repository:tag``, retrying transient registry errors; return the manifest digest.

    Layers that reached the registry before a failure are not sent again on retry ("Layer
    already exists"), so a retry costs little more than the manifest upload that failed.
    """

    def attempt() -> PushResult:
        try:
            events = client.api.push(
                repository, tag=tag, stream=True, decode=True, auth_config=auth.auth_config()
            )
            result = read_push_stream(events, on_event)
        except docker.errors.APIError as error:
            message = api_error(error)
            if is_transient_registry_error(message):
                raise TransientError(f"push {repository}:{tag}: {message}") from error
            raise ScriptError(f"push {repository}:{tag}: {message}") from error
        except requests.RequestException as error:
            raise TransientError(
                f"push {repository}:{tag}: lost the engine connection: {one_line(error)}"
            ) from error
        return PushResult(reference=f"{repository}:{tag}", digest=result.digest, size=result.size)

    return retry.call(attempt, what=f"push of {repository}:{tag}", on_retry=on_retry)

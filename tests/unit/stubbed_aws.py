"""boto3 clients answered by botocore's Stubber, for unit tests of code that takes a session.

Real clients (parameter validation, waiters, error parsing are botocore's own), no endpoint:
each call must match a response the test queued, in order, with the parameters it expects.
The answers follow the AWS API references' response shapes; the integration tier runs the same
code against moto over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.stub import Stubber

REGION = "eu-north-1"
ACCOUNT = "123456789012"


class StubbedSession:
    """What the scripts use of a boto3 Session: ``region_name`` and ``client(service, ...)``,
    answering with one stubbed client per service."""

    def __init__(self, region: str = REGION) -> None:
        self.region_name = region
        self._session = boto3.session.Session(
            region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        self.clients: dict[str, Any] = {}
        self.stubbers: dict[str, Stubber] = {}

    def stub(self, service: str) -> Stubber:
        if service not in self.stubbers:
            client = self._session.client(service)  # type: ignore[call-overload]
            self.clients[service] = client
            self.stubbers[service] = Stubber(client)
            self.stubbers[service].activate()
        return self.stubbers[service]

    def client(self, service: str, **_config: Any) -> Any:
        self.stub(service)
        return self.clients[service]

    @contextmanager
    def answering(self) -> Iterator[StubbedSession]:
        """Every queued answer must have been asked for by the end of the block."""
        yield self
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()

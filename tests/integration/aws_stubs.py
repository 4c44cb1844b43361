"""Loopback HTTP endpoints that answer AWS API calls the way AWS does when something is wrong.

moto accepts any credentials, so "AWS rejects these credentials" needs an endpoint that says so:
:func:`rejecting_sts` answers every STS call with the 403 ``InvalidClientTokenId`` error
document STS returns for an unknown access key (query protocol, XML, as botocore's STS model
``protocol: query`` expects). :func:`closed_port` is a port nothing listens on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

from tests.integration.conftest import free_port
from tests.loopback import QuietRequestLog, loopback_server

STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."


def sts_error_document(code: str, message: str) -> bytes:
    return (
        f'<ErrorResponse xmlns="{STS_NAMESPACE}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{message}</Message></Error><RequestId>0c8d7b1e-stub</RequestId></ErrorResponse>"
    ).encode()


@contextmanager
def rejecting_sts(code: str = "InvalidClientTokenId", message: str = INVALID_TOKEN_MESSAGE) -> Iterator[str]:
    """An STS endpoint on 127.0.0.1 that rejects every request; yields its URL."""
    body = sts_error_document(code, message)

    class Handler(QuietRequestLog, BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(403)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with loopback_server(Handler, name="rejecting-sts") as url:
        yield url


def closed_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    return free_port()

"""A real container registry on loopback, standing in for the ECR registry endpoint.

moto serves the ECR *control plane* (repositories, lifecycle policies, auth tokens) but no
registry API, so ``make push-image`` is tested against Debian's ``docker-registry`` (the CNCF
distribution registry, the same code ECR's API is modelled on) with an htpasswd file holding
the very user/password that moto's ``get_authorization_token`` hands out. The script logs in
with the token exactly as it would against ECR, and the registry accepts or refuses it for real.

``FaultProxy`` is a small reverse proxy that sits between the Docker engine and the registry and
answers the first N requests of one kind (method + path pattern) with a 5xx, then forwards
everything: real HTTP on 127.0.0.1, bounded in count, to test "5xx then recover" and
"5xx for good" without patching any client code.

The Docker engine treats 127.0.0.0/8 as an insecure registry, so plain HTTP works without
daemon configuration.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from tests.integration.conftest import free_port, skip_or_fail

REGISTRY_BINARY = "docker-registry"  # Debian package docker-registry (distribution 2.8)
HTPASSWD_BINARY = "htpasswd"  # Debian package apache2-utils
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)
# Hop-by-hop headers (RFC 9110 7.6.1) are per connection: a proxy must not forward them.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


def htpasswd_line(username: str, password: str) -> str:
    """A bcrypt htpasswd entry (the only hash the registry accepts), made by apache2-utils."""
    result = subprocess.run(
        [HTPASSWD_BINARY, "-niB", username],
        input=password,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return result.stdout.strip()


@dataclass
class LocalRegistry:
    """A running ``docker-registry`` with htpasswd auth on 127.0.0.1."""

    port: int
    root: Path
    username: str
    password: str
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def _get(self, path: str, accept: str | None = None) -> requests.Response:
        headers = {"Accept": accept} if accept else {}
        return requests.get(
            f"{self.url}{path}", auth=(self.username, self.password), headers=headers, timeout=10
        )

    def tags(self, repository: str) -> list[str]:
        """Tags of ``repository`` through the registry API; [] when it has never been pushed."""
        response = self._get(f"/v2/{repository}/tags/list")
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return sorted(response.json().get("tags") or [])

    def manifest_digest(self, repository: str, reference: str) -> str:
        response = self._get(f"/v2/{repository}/manifests/{reference}", accept=MANIFEST_TYPES)
        response.raise_for_status()
        return str(response.headers["Docker-Content-Digest"])

    def image_config(self, repository: str, reference: str) -> dict[str, object]:
        """The image config blob of a tag: where ``architecture`` and ``os`` really live."""
        response = self._get(f"/v2/{repository}/manifests/{reference}", accept=MANIFEST_TYPES)
        response.raise_for_status()
        config_digest = response.json()["config"]["digest"]
        blob = self._get(f"/v2/{repository}/blobs/{config_digest}")
        blob.raise_for_status()
        config: dict[str, object] = blob.json()
        return config

    def log(self) -> str:
        log_file = self.root / "registry.log"
        return log_file.read_text(errors="replace") if log_file.exists() else ""


@contextlib.contextmanager
def run_registry(
    workdir: Path, *, username: str, password: str, timeout: float = 20.0
) -> Iterator[LocalRegistry]:
    """Start ``docker-registry`` on a free loopback port with one htpasswd user; stop it on exit."""
    for binary, package in ((REGISTRY_BINARY, "docker-registry"), (HTPASSWD_BINARY, "apache2-utils")):
        if shutil.which(binary) is None:
            skip_or_fail(f"{binary} not found (apt-get install {package})")
    root = workdir / "registry"
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "htpasswd").write_text(htpasswd_line(username, password) + "\n")
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": False}},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}, "delete": {"enabled": True}},
        # relativeurls: upload Locations stay relative, so a proxy in front keeps seeing them.
        "http": {"addr": f"127.0.0.1:{port}", "relativeurls": True},
        "auth": {"htpasswd": {"realm": "pinpoint-test", "path": str(root / "htpasswd")}},
    }
    config_file = root / "config.yml"
    config_file.write_text(json.dumps(config))  # JSON is YAML
    with (root / "registry.log").open("wb") as log:
        process = subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(config_file)], stdout=log, stderr=subprocess.STDOUT
        )
    registry = LocalRegistry(port=port, root=root, username=username, password=password, process=process)
    try:
        _wait_until_serving(registry, timeout)
        yield registry
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_serving(registry: LocalRegistry, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if registry.process.poll() is not None:
            raise RuntimeError(f"docker-registry exited early:\n{registry.log()}")
        with contextlib.suppress(requests.ConnectionError):
            # 401 without credentials is the answer of a registry that is up and enforcing auth.
            if requests.get(f"{registry.url}/v2/", timeout=2).status_code == 401:
                return
        time.sleep(0.1)
    raise RuntimeError(f"docker-registry did not serve on {registry.address} within {timeout}s")


@dataclass
class FaultRule:
    """Answer the first ``count`` requests matching ``method`` and ``path`` with ``status``."""

    method: str
    path: str  # regular expression, searched in the request path
    count: int
    status: int = 503
    injected: int = 0

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and re.search(self.path, path) is not None


class FaultProxy:
    """A loopback reverse proxy to ``upstream`` that injects 5xx answers per ``FaultRule``.

    Bodies are buffered (test images are small), chunked requests are de-chunked and forwarded
    with a Content-Length, and the Host header is passed through so anything the registry
    derives from it still points at the proxy.
    """

    def __init__(self, upstream_port: int, rules: list[FaultRule]) -> None:
        self.upstream_port = upstream_port
        self.rules = rules
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status) as answered
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _fault_for(self, method: str, path: str) -> FaultRule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path) and rule.injected < rule.count:
                    rule.injected += 1
                    return rule
        return None

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.requests.append((method, path, status))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the proxy's own record in ``proxy.requests`` is what tests read."""

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()  # CRLF after each chunk
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle(self) -> None:
                body = self._read_body()
                rule = proxy._fault_for(self.command, self.path)
                if rule is not None:
                    payload = json.dumps(
                        {"errors": [{"code": "UNAVAILABLE", "message": "injected by FaultProxy"}]}
                    ).encode()
                    self.send_response(rule.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(payload)
                    self.close_connection = True
                    proxy._record(self.command, self.path, rule.status)
                    return
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    headers["Content-Length"] = str(len(body))
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                    self.send_response(response.status, response.reason)
                    for key, value in response.getheaders():
                        if key.lower() in HOP_BY_HOP or (
                            key.lower() == "content-length" and self.command != "HEAD"
                        ):
                            continue
                        self.send_header(key, value)
                    if self.command != "HEAD":
                        # HEAD keeps the upstream Content-Length: it describes the blob, not this body.
                        self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                    proxy._record(self.command, self.path, response.status)
                finally:
                    upstream.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        return Handler

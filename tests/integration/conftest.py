"""Shared fixtures for integration tests: a real Docker engine, local base images, moto server.

A missing prerequisite skips the test with the reason shown in pytest's summary (``-rs``), so a
developer without a Docker engine still gets the unit tier. Under CI (``CI=true``) the same
condition fails instead: CI provisions everything these tests need and must not skip them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from tests.integration import base_images

REPO_ROOT = Path(__file__).resolve().parents[2]


def skip_or_fail(reason: str) -> None:
    """Skip with a visible reason locally; fail in CI, where nothing may be skipped."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI must run integration tests, but: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.integration)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, *, timeout: float = 30.0) -> None:
    """Poll ``url`` until it answers any HTTP status (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError as error:
            last_error = error
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout}s: {last_error}")


def run_repo_script(
    script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/<script>`` as a user would: from the repository root, output captured."""
    return subprocess.run(
        [sys.executable, f"scripts/{script}", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def moto_credentials(endpoint: str) -> dict[str, str]:
    """Environment variables that send every AWS client of a script to the moto server."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except docker.errors.DockerException as error:
        skip_or_fail(f"no Docker engine reachable ({error}); start one as .ci/run does")
    return client


@pytest.fixture(scope="session")
def debootstrap_available() -> None:
    if shutil.which("debootstrap") is None:
        skip_or_fail("debootstrap is not installed (apt-get install debootstrap); needed for base images")


@pytest.fixture(scope="session")
def qemu_arm64() -> None:
    if not base_images.arm64_emulation_available():
        skip_or_fail(
            "arm64 emulation unavailable: apt-get install qemu-user-static binfmt-support; "
            "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; update-binfmts --enable qemu-aarch64"
        )


@pytest.fixture(scope="session")
def debian_base_image(docker_client: docker.DockerClient, debootstrap_available: None) -> str:
    """Tag of a minbase Debian bookworm amd64 image (no registry involved)."""
    return base_images.build_debian(docker_client, arch="amd64")


@pytest.fixture(scope="session")
def jre_base_image(docker_client: docker.DockerClient, debootstrap_available: None) -> str:
    """Tag of Debian + OpenJDK 17 JRE + curl (amd64): stand-in for a public JRE base image."""
    return base_images.build_jre(docker_client, arch="amd64")


@pytest.fixture(scope="session")
def jdk_base_image(docker_client: docker.DockerClient, debootstrap_available: None) -> str:
    """Tag of the JRE stand-in + the JDK 17 compiler, for this machine's platform: what the
    image's build stage (JDK_IMAGE) compiles the table tool with."""
    return base_images.build_jdk(docker_client, arch=base_images.host_arch())


@pytest.fixture(scope="session")
def debian_arm64_base_image(
    docker_client: docker.DockerClient, debootstrap_available: None, qemu_arm64: None
) -> str:
    """Tag of a minbase Debian bookworm arm64 image whose config says ``arm64``."""
    return base_images.build_debian(docker_client, arch="arm64")


@pytest.fixture(scope="session")
def jre_arm64_base_image(
    docker_client: docker.DockerClient, debootstrap_available: None, qemu_arm64: None
) -> str:
    """Tag of the arm64 JRE stand-in base image (built under QEMU emulation)."""
    return base_images.build_jre(docker_client, arch="arm64")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server (real HTTP on 127.0.0.1) for AWS APIs; yields its endpoint URL.

    Dummy credentials and a region are exported for the session so that boto3 in this
    process and in subprocesses resolves them through its normal chain.
    """
    moto_bin = Path(sys.executable).with_name("moto_server")
    if not moto_bin.exists():
        skip_or_fail("moto_server is not installed (pip install 'moto[server]')")
    port = free_port()
    process = subprocess.Popen(
        [str(moto_bin), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    saved = {
        key: os.environ.get(key)
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    }
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    try:
        wait_for_http(f"{endpoint}/moto-api/", timeout=30)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

"""The real-component tier (``make test-real``; part of ``make test``): the image built from the
real artifacts this machine's Maven Central serves (tests/maven_artifacts.py says which) and run
with the project's own supervisor, launcher, table tool and agent distributor.

It shares the integration tier's fixtures (Docker engine, base images) and rules: a missing
prerequisite skips with its reason, and fails under CI=true.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests import maven_artifacts
from tests.integration.conftest import (  # noqa: F401 - fixtures shared with the integration tier
    debootstrap_available,
    docker_client,
    jdk_base_image,
    jre_base_image,
    skip_or_fail,
)
from tests.integration.pinpoint_harness import probe_classes, stand_in_image, stand_in_mirror

REAL_VERSION = maven_artifacts.PINPOINT_VERSION


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/real/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.real)


@pytest.fixture(scope="session")
def real_web_jar() -> Path:
    try:
        return maven_artifacts.pinpoint_web_jar()
    except maven_artifacts.MavenError as error:
        skip_or_fail(f"the real Pinpoint web {REAL_VERSION} is not downloadable from Maven Central: {error}")
        raise


@pytest.fixture(scope="session")
def real_agent_tarball() -> Path:
    try:
        return maven_artifacts.pinpoint_agent_tarball()
    except maven_artifacts.MavenError as error:
        skip_or_fail(
            f"the real Pinpoint agent {REAL_VERSION} is not downloadable from Maven Central: {error}"
        )
        raise


@pytest.fixture(scope="session")
def real_mirror(
    tmp_path_factory: pytest.TempPathFactory, real_web_jar: Path, real_agent_tarball: Path
) -> Iterator[tuple[Path, str]]:
    """Real HBase, the real web and agent, the stand-in collector, under the release paths."""
    with stand_in_mirror(tmp_path_factory, version=REAL_VERSION, web=real_web_jar) as (root, url):
        agent = root / "github" / f"v{REAL_VERSION}" / real_agent_tarball.name
        agent.symlink_to(real_agent_tarball)
        yield root, url


@pytest.fixture(scope="session")
def real_image(request: pytest.FixtureRequest, real_mirror: tuple[Path, str]) -> Iterator[str]:
    # The shared fixtures by name: they are imported above, so parameters would shadow them.
    client: docker.DockerClient = request.getfixturevalue("docker_client")
    base = request.getfixturevalue("jre_base_image")
    request.getfixturevalue("jdk_base_image")  # the build stage's JDK, built if missing
    root, url = real_mirror
    with stand_in_image(client, base, root, url, version=REAL_VERSION) as image:
        yield image


@pytest.fixture(scope="session")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return probe_classes(tmp_path_factory.mktemp("probe"))

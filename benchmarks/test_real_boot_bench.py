"""Benchmark (``make bench``): the all-in-one on the real components this machine's Maven Central
serves (tests/maven_artifacts.py) — real HBase 2.6.4 and the real web 3.0.1, with the stand-in
collector (no Pinpoint 3.x collector is on Maven Central) — booted as ECS boots it: time to
healthy on a first start (22 tables created, the deployment's 32-region pre-splits), the clean
stop, the restart on the same data, and the image's size. Printed side by side; not asserted
(the machine is shared). The figures a trace would need (request to transaction, the traced
requests per second the all-in-one sustains) need a real collector: not measurable here.

Skips (with the reason) without a Docker engine, the base images or Maven Central.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from tests import maven_artifacts
from tests.integration import base_images
from tests.integration.pinpoint_harness import (
    Container,
    data_dir,
    removed_after,
    stand_in_image,
    stand_in_mirror,
)

VERSION = maven_artifacts.PINPOINT_VERSION
# What the deployment passes (stacks/constructs/pinpoint_service.py), on a 4 GiB container.
ENVIRONMENT = {"PINPOINT_BOOT_TIMEOUT_SECONDS": "240", "PINPOINT_WEB_ADMIN_PASSWORD": "bench"}


@pytest.fixture(scope="module")
def real_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[docker.DockerClient, str]]:
    try:
        client = docker.from_env(timeout=900)
        client.ping()
    except docker.errors.DockerException as error:
        pytest.skip(f"no Docker engine ({error})")
    arch = base_images.host_arch()
    for tag in (base_images.jre_tag(arch), base_images.jdk_tag(arch)):
        if not base_images.image_exists(client, tag):
            pytest.skip(f"base image {tag} missing: python -m tests.integration.base_images")
    try:
        web = maven_artifacts.pinpoint_web_jar()
    except maven_artifacts.MavenError as error:
        pytest.skip(f"Maven Central does not serve the real web: {error}")
    with (
        stand_in_mirror(tmp_path_factory, version=VERSION, web=web) as (root, url),
        stand_in_image(client, base_images.jre_tag(arch), root, url, version=VERSION) as image,
    ):
        yield client, image


def test_real_components_boot_stop_restart(
    benchmark: BenchmarkFixture,
    real_image: tuple[docker.DockerClient, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client, image = real_image
    figures: dict[str, float] = {}

    def boot_stop_restart() -> None:
        data = data_dir(tmp_path)
        with removed_after() as started:
            first = Container(client, image, data=data, environment=ENVIRONMENT, mem_limit="4g")
            started.append(first)
            figures["first_boot_to_healthy_s"] = first.wait_healthy(timeout=420)
            stop = time.monotonic()
            first.inner.stop(timeout=120)
            figures["clean_stop_s"] = time.monotonic() - stop
            second = Container(client, image, data=data, environment=ENVIRONMENT, mem_limit="4g")
            started.append(second)
            figures["restart_to_healthy_s"] = second.wait_healthy(timeout=420)
            figures["memory_in_use_mb"] = second.inner.stats(stream=False)["memory_stats"]["usage"] / 2**20

    benchmark.pedantic(boot_stop_restart, rounds=1, iterations=1)
    figures["image_size_mb"] = client.images.get(image).attrs["Size"] / 2**20
    benchmark.extra_info.update({key: round(value, 1) for key, value in figures.items()})
    with capsys.disabled():
        print(
            f"\nall-in-one on real HBase {maven_artifacts.HBASE_VERSION} + real web {VERSION} (4 GiB container):\n"
            f"  first start to healthy (22 tables)   {figures['first_boot_to_healthy_s']:.1f} s\n"
            f"  clean stop (flush, cluster shutdown) {figures['clean_stop_s']:.1f} s\n"
            f"  restart on the same data to healthy  {figures['restart_to_healthy_s']:.1f} s\n"
            f"  memory in use after the restart      {figures['memory_in_use_mb']:.0f} MB\n"
            f"  image size                           {figures['image_size_mb']:.0f} MB\n"
            "  request -> transaction, capacity     not measurable here: no Pinpoint collector on Maven Central"
        )

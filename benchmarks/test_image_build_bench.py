"""Benchmarks (``make bench``): building images/pinpoint at real artifact sizes.

The real HBase tarball and Pinpoint jars cannot be downloaded here, so the build downloads
stand-ins padded with random bytes (incompressible, like the real jars) to the real sizes —
HBase 2.6.5 hadoop3-bin.tar.gz ~336 MB, collector ~136 MB, web ~168 MB — from a loopback
mirror, through the classic builder, from the locally debootstrapped JRE base images
(tests/integration/base_images.py). Measured, and reported in the README:

* cold build (``--no-cache``) for linux/amd64, and for linux/arm64 under QEMU when available;
* a rebuild after a script change, right after that ``--no-cache`` build;
* the image size.

Figures go to pytest-benchmark's table and to ``extra_info`` (``--benchmark-json``); they are
not asserted, because the machine is shared. Skips without a Docker engine or base images.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from tests.integration import base_images
from tests.integration.mirror import serve_directory

REPO = Path(__file__).resolve().parents[1]
IMAGE_DIR = REPO / "images" / "pinpoint"
STANDIN_HBASE = REPO / "tests" / "integration" / "standins" / "pinpoint" / "hbase-dist"
PINPOINT_VERSION = "3.1.0"
HBASE_VERSION = "2.6.5"
MB = 1024 * 1024
SIZES = {"hbase": 336 * MB, "collector": 136 * MB, "web": 168 * MB}
TAG = "local/pinpoint-bench"


def _random_file(path: Path, size: int) -> None:
    with path.open("wb") as out:
        remaining = size
        while remaining:
            chunk = min(remaining, 8 * MB)
            out.write(os.urandom(chunk))
            remaining -= chunk


def _sha512(path: Path) -> str:
    digest = hashlib.sha512()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(MB), b""):
            digest.update(block)
    return digest.hexdigest()


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    try:
        engine = docker.from_env(timeout=900)
        engine.ping()
    except docker.errors.DockerException as error:
        pytest.skip(f"no Docker engine reachable ({error})")
    if not base_images.image_exists(engine, base_images.JRE_AMD64):
        pytest.skip(f"base image {base_images.JRE_AMD64} missing: python -m tests.integration.base_images")
    return engine


@pytest.fixture(scope="module")
def padded_mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A loopback mirror of padded stand-ins; yields (base URL, checksum build args)."""
    root = tmp_path_factory.mktemp("padded-mirror")
    padding = tmp_path_factory.mktemp("padding") / "padding.jar"
    _random_file(padding, SIZES["hbase"])
    hbase = root / "hbase" / HBASE_VERSION / f"hbase-{HBASE_VERSION}-hadoop3-bin.tar.gz"
    hbase.parent.mkdir(parents=True)
    # Level 1: random bytes do not compress anyway; the tarball ends up at the real size.
    with tarfile.open(hbase, "w:gz", compresslevel=1) as archive:
        archive.add(STANDIN_HBASE, arcname=f"hbase-{HBASE_VERSION}")
        archive.add(padding, arcname=f"hbase-{HBASE_VERSION}/lib/padding.jar")
    padding.unlink()
    args = {"HBASE_SHA512": _sha512(hbase)}
    for component in ("collector", "web"):
        jar = (
            root
            / "pinpoint"
            / f"pinpoint-{component}"
            / PINPOINT_VERSION
            / f"pinpoint-{component}-{PINPOINT_VERSION}-exec.jar"
        )
        jar.parent.mkdir(parents=True)
        _random_file(jar, SIZES[component])
        args[f"PINPOINT_{component.upper()}_SHA512"] = _sha512(jar)
    with serve_directory(root) as url:
        args.update(PINPOINT_BASE_URL=f"{url}/pinpoint", HBASE_BASE_URL=f"{url}/hbase")
        yield url, args


def _build(
    client: docker.DockerClient,
    context: Path,
    args: dict[str, str],
    tag: str,
    *,
    platform: str,
    nocache: bool,
) -> float:
    started = time.monotonic()
    client.images.build(
        path=str(context),
        tag=tag,
        buildargs=args,
        network_mode="host",
        platform=platform,
        nocache=nocache,
        rm=True,
        forcerm=True,
    )
    return time.monotonic() - started


def _remove(client: docker.DockerClient, tag: str) -> None:
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.remove(tag, force=True)


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_cold_build_then_rebuild_after_a_script_change(
    benchmark: BenchmarkFixture,
    client: docker.DockerClient,
    padded_mirror: tuple[str, dict[str, str]],
    tmp_path: Path,
    arch: str,
) -> None:
    base = base_images.JRE_ARM64 if arch == "arm64" else base_images.JRE_AMD64
    if arch == "arm64" and not (
        base_images.arm64_emulation_available() and base_images.image_exists(client, base)
    ):
        pytest.skip("arm64 emulation or the arm64 base image is unavailable")
    _, args = padded_mirror
    args = {**args, "BASE_IMAGE": base}
    tag = f"{TAG}:{arch}"
    platform = f"linux/{arch}"
    figures: dict[str, float] = {}

    def cold() -> None:
        figures["cold_build_s"] = _build(client, IMAGE_DIR, args, tag, platform=platform, nocache=True)

    try:
        benchmark.pedantic(cold, rounds=1, iterations=1)
        # Right after the --no-cache build: change a script, build with the cache.
        context = tmp_path / "context"
        shutil.copytree(IMAGE_DIR, context)
        supervisor = context / "bin" / "pinpoint-supervisor"
        supervisor.write_text(supervisor.read_text() + "# benchmark: a script change\n")
        figures["rebuild_after_script_change_s"] = _build(
            client, context, args, tag, platform=platform, nocache=False
        )
        figures["image_size_mb"] = client.images.get(tag).attrs["Size"] / MB
    finally:
        _remove(client, tag)
    benchmark.extra_info.update({key: round(value, 1) for key, value in figures.items()})
    print(f"\n{arch}: " + ", ".join(f"{key}={value:.1f}" for key, value in figures.items()))

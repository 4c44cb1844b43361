"""Local base images for integration tests, made without any container registry.

No registry (Docker Hub, public.ecr.aws) is reachable here or in CI, so every test image
starts from a Debian root filesystem made with ``debootstrap`` from the Debian mirror apt
already uses, imported into the local engine. Images are cached by tag: a second run (or a
second test session on the same engine) reuses them.

The JRE images are built with BuildKit through the docker CLI, as every image here is
(scripts.ops.build). Run directly to pre-build them:
``python -m tests.integration.base_images [--arm64]``.
"""

from __future__ import annotations

import io
import json
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import docker
import docker.errors

from scripts.ops.build import BuildSpec, build_image
from scripts.ops.engine import Platform, normalize_arch
from scripts.ops.output import Reporter

SUITE = "bookworm"
DEBIAN_AMD64 = "local/debian:bookworm-amd64"
DEBIAN_ARM64 = "local/debian:bookworm-arm64"
JRE_AMD64 = "local/jre17:bookworm-amd64"
JRE_ARM64 = "local/jre17:bookworm-arm64"
# The JDK the image's build stage compiles its table tool with (JDK_IMAGE; eclipse-temurin's
# JDK by default). Only the build platform's is needed: bytecode runs anywhere.
JDK_AMD64 = "local/jdk17:bookworm-amd64"
JDK_ARM64 = "local/jdk17:bookworm-arm64"

# What the public JRE base images we default to (eclipse-temurin) also ship: curl for
# downloads and health checks, ps/kill for supervisors.
JRE_PACKAGES = "openjdk-17-jre-headless curl ca-certificates procps"
JDK_PACKAGES = "openjdk-17-jdk-headless"

QEMU_AARCH64 = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")


def host_arch() -> str:
    """This machine's architecture as Docker names it (the tests' engine runs here)."""
    return normalize_arch(platform.machine())


def debian_tag(arch: str) -> str:
    return DEBIAN_ARM64 if arch == "arm64" else DEBIAN_AMD64


def jre_tag(arch: str) -> str:
    return JRE_ARM64 if arch == "arm64" else JRE_AMD64


def jdk_tag(arch: str) -> str:
    return JDK_ARM64 if arch == "arm64" else JDK_AMD64


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 or one-line sources)."""
    candidates = [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]
    for source in candidates:
        if not source.exists():
            continue
        text = source.read_text()
        match = re.search(r"^URIs:\s*(\S+)", text, re.M) or re.search(
            r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+" + SUITE + r"\b", text, re.M
        )
        if match:
            return match.group(1)
    return "http://deb.debian.org/debian"


def arm64_emulation_available() -> bool:
    """True when the kernel runs aarch64 binaries through QEMU (binfmt_misc, 'F' flag)."""
    try:
        text = QEMU_AARCH64.read_text()
    except OSError:
        return False
    return text.startswith("enabled") and re.search(r"^flags:.*F", text, re.M) is not None


def image_exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def _set_architecture(client: docker.DockerClient, tag: str, architecture: str) -> None:
    """Rewrite an image's config architecture (``docker import`` always says the host's).

    docker save -> edit the config JSON -> docker load; the config's file name is its digest,
    so the manifest is pointed at the rewritten file under a new name.
    """
    saved = io.BytesIO(b"".join(client.images.get(tag).save(named=True)))
    members: dict[str, bytes] = {}
    with tarfile.open(fileobj=saved) as archive:
        for member in archive.getmembers():
            if member.isfile():
                extracted = archive.extractfile(member)
                assert extracted is not None
                members[member.name] = extracted.read()
    manifest = json.loads(members["manifest.json"])
    old_config = manifest[0]["Config"]
    config = json.loads(members.pop(old_config))
    config["architecture"] = architecture
    new_config = f"{old_config.rsplit('.', 1)[0]}-{architecture}.json"
    members[new_config] = json.dumps(config).encode()
    manifest[0]["Config"] = new_config
    members["manifest.json"] = json.dumps(manifest).encode()
    members.pop("repositories", None)

    rebuilt = io.BytesIO()
    with tarfile.open(fileobj=rebuilt, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    client.images.remove(tag, force=True)
    client.images.load(rebuilt.getvalue())


def build_debian(client: docker.DockerClient, *, arch: str = "amd64") -> str:
    """A minbase Debian image for ``arch`` (amd64|arm64), imported from debootstrap."""
    tag = debian_tag(arch)
    if image_exists(client, tag):
        return tag
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is not installed (apt-get install debootstrap)")
    with tempfile.TemporaryDirectory(prefix="rootfs-") as workdir:
        rootfs = Path(workdir) / "rootfs"
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--arch={arch}", SUITE, str(rootfs), debian_mirror()],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tarball = Path(workdir) / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
        repository, image_tag = tag.split(":")
        with tarball.open("rb") as data:
            client.api.import_image_from_data(data.read(), repository=repository, tag=image_tag)
    if arch != "amd64":
        _set_architecture(client, tag, arch)
    return tag


def _with_packages(client: docker.DockerClient, base: str, packages: str, tag: str, arch: str) -> str:
    if image_exists(client, tag):
        return tag
    with tempfile.TemporaryDirectory(prefix="base-context-") as context:
        (Path(context) / "Dockerfile").write_text(
            f"FROM {base}\n"
            "RUN apt-get update \\\n"
            f" && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {packages} \\\n"
            " && rm -rf /var/lib/apt/lists/*\n"
        )
        spec = BuildSpec(context=Path(context), platform=Platform.parse(f"linux/{arch}"), tag=tag)
        build_image(spec, Reporter(interactive=False))
    return tag


def build_jre(client: docker.DockerClient, *, arch: str = "amd64") -> str:
    """Debian + OpenJDK 17 JRE + curl: a local stand-in for a public JRE base image."""
    if image_exists(client, jre_tag(arch)):
        return jre_tag(arch)
    return _with_packages(client, build_debian(client, arch=arch), JRE_PACKAGES, jre_tag(arch), arch)


def build_jdk(client: docker.DockerClient, *, arch: str = "amd64") -> str:
    """The JRE stand-in + OpenJDK 17's compiler: a local stand-in for eclipse-temurin's JDK."""
    if image_exists(client, jdk_tag(arch)):
        return jdk_tag(arch)
    return _with_packages(client, build_jre(client, arch=arch), JDK_PACKAGES, jdk_tag(arch), arch)


def main() -> None:
    import argparse  # noqa: PLC0415 - only for the command-line entry

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm64", action="store_true", help="also build the arm64 images (needs QEMU)")
    args = parser.parse_args()
    client = docker.from_env()
    for arch in ["amd64", "arm64"] if args.arm64 else ["amd64"]:
        print(f"base images ({arch}):", build_debian(client, arch=arch), build_jre(client, arch=arch))
    # The JDK runs on the build platform only (the image's build stages).
    print("build-platform JDK:", build_jdk(client, arch=host_arch()))


if __name__ == "__main__":
    main()

"""The Docker engine: reaching it, and whether it can run (build for) a target platform.

On x86 a linux/arm64 build needs QEMU registered in the kernel's binfmt_misc with the F
(fix-binary) flag; the check below fails before a build with the command that fixes it.
"""

from __future__ import annotations

import io
import os
import re
import sys
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests

from scripts.ops.errors import ScriptError, one_line

# The engine the docker SDK talks to when DOCKER_HOST is unset (docker.constants.DEFAULT_UNIX_SOCKET).
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"

# One decoded line of a build or push stream from the engine.
StreamEvent = Mapping[str, Any]


def docker_client(*, timeout: int = 600) -> docker.DockerClient:
    """A client for the engine named by ``DOCKER_HOST`` (default socket), proven reachable.

    ``timeout`` is per HTTP read; builds and pushes stream, so it bounds silence, not duration.
    """
    where = os.environ.get("DOCKER_HOST", f"the default socket ({DEFAULT_DOCKER_HOST})")
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as error:
        raise ScriptError(
            f"cannot reach the Docker daemon at {where}: {_root_cause(error)} "
            "(start the engine or point DOCKER_HOST at a running one)"
        ) from error
    return client


def _root_cause(error: BaseException) -> str:
    """The innermost meaningful reason, e.g. 'No such file or directory' for a missing socket."""
    text = one_line(error)
    for pattern in (r"(No such file or directory)", r"(Connection refused)", r"(Permission denied)"):
        if match := re.search(pattern, text):
            return match.group(1)
    return text


# Docker/OCI architecture names (GOARCH) for the names kernels and engines report.
_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "i386": "386",
    "i686": "386",
}
# binfmt_misc entry names registered by qemu-user-static (Debian) and tonistiigi/binfmt.
_QEMU_NAMES = {
    "amd64": "x86_64",
    "arm64": "aarch64",
    "arm": "arm",
    "386": "i386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "mips64le": "mips64el",
    "loong64": "loongarch64",
}
BINFMT_MISC = Path("/proc/sys/fs/binfmt_misc")


def normalize_arch(arch: str) -> str:
    return _ARCH_ALIASES.get(arch.lower(), arch.lower())


@dataclass(frozen=True)
class Platform:
    """An ``os/arch[/variant]`` build platform, e.g. ``linux/arm64``."""

    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.strip().lower().split("/")
        if len(parts) not in (2, 3) or not all(re.fullmatch(r"[a-z0-9_]+", part) for part in parts):
            raise ValueError(f"invalid platform {text!r}: expected os/arch[/variant], e.g. linux/arm64")
        variant = parts[2] if len(parts) == 3 else None
        return cls(os=parts[0], architecture=normalize_arch(parts[1]), variant=variant)

    def __str__(self) -> str:
        return "/".join(part for part in (self.os, self.architecture, self.variant) if part)


def qemu_fix(platform: Platform) -> str:
    qemu = _QEMU_NAMES.get(platform.architecture, platform.architecture)
    return (
        f"register QEMU for {platform.architecture}: `sudo apt-get install qemu-user-static binfmt-support "
        f"&& sudo update-binfmts --enable qemu-{qemu}` (Debian/Ubuntu), or "
        f"`docker run --privileged --rm tonistiigi/binfmt --install {platform.architecture}`"
    )


def _engine_shares_our_kernel(client: docker.DockerClient, info: Mapping[str, Any]) -> bool:
    """True when the engine runs on this kernel, so our /proc shows its binfmt_misc table.

    binfmt_misc is kernel-wide, so a CI job in a container talking to the host's socket still
    qualifies; Docker Desktop (a VM) and remote engines (tcp://, ssh://) do not.
    """
    local_socket = str(client.api.base_url).startswith("http+docker://local")
    return (
        sys.platform == "linux"
        and local_socket
        and info.get("KernelVersion") == os.uname().release
        and "docker desktop" not in str(info.get("OperatingSystem", "")).lower()
    )


def check_platform_runnable(
    client: docker.DockerClient, platform: Platform, *, binfmt_misc: Path = BINFMT_MISC
) -> str:
    """Fail before a build the engine cannot run; return how ``platform`` runs (for the log).

    A foreign architecture needs a QEMU binfmt_misc entry with the F (fix-binary) flag, so the
    emulator is opened by the kernel and need not exist inside the build's root filesystem.
    """
    info = client.info()
    engine_os = str(info.get("OSType", "linux"))
    engine_arch = normalize_arch(str(info.get("Architecture", "")))
    if platform.os != engine_os:
        raise ScriptError(f"the Docker engine runs {engine_os} containers, it cannot build {platform}")
    if platform.architecture == engine_arch:
        return f"native ({engine_arch} engine)"
    if not _engine_shares_our_kernel(client, info):
        return (
            f"emulated on a remote or VM engine ({engine_arch}); its QEMU setup cannot be inspected "
            "from here, the built image's architecture is checked instead"
        )
    if not (binfmt_misc / "status").exists():
        raise ScriptError(
            f"the engine ({engine_arch}) cannot run {platform}: binfmt_misc is not mounted "
            f"(`sudo mount -t binfmt_misc binfmt_misc {binfmt_misc}`), then {qemu_fix(platform)}"
        )
    entry = binfmt_misc / f"qemu-{_QEMU_NAMES.get(platform.architecture, platform.architecture)}"
    cannot = f"the engine ({engine_arch}) cannot run {platform}"
    try:
        text = entry.read_text()
    except OSError:
        raise ScriptError(f"{cannot}: no QEMU emulator is registered; {qemu_fix(platform)}") from None
    if not text.startswith("enabled"):
        raise ScriptError(f"{cannot}: {entry} is disabled; {qemu_fix(platform)}")
    flags = re.search(r"^flags:\s*(\S*)", text, re.MULTILINE)
    if flags is None or "F" not in flags.group(1):
        raise ScriptError(
            f"{cannot} in containers: {entry} lacks the F (fix-binary) flag, so the emulator is not "
            "visible inside builds; reinstall qemu-user-static (Debian registers it with F) "
            "or use tonistiigi/binfmt"
        )
    return f"emulated by QEMU ({entry.name})"


def image_platform(attrs: Mapping[str, Any]) -> Platform:
    """The platform an image's config declares (``docker image inspect`` attributes)."""
    return Platform(
        os=str(attrs.get("Os", "")),
        architecture=normalize_arch(str(attrs.get("Architecture", ""))),
        variant=attrs.get("Variant") or None,
    )


def verify_image_platform(attrs: Mapping[str, Any], expected: Platform) -> None:
    """Fail when the image's config names another platform than asked for.

    The classic builder kept a local base image's architecture whatever ``--platform`` said;
    BuildKit frontends may label the image with its last stage's platform. Either way Fargate
    ARM64 could not start it. A variant is compared only when both sides name one (arm64 images
    often omit ``v8``).
    """
    actual = image_platform(attrs)
    variant_differs = bool(expected.variant and actual.variant and expected.variant != actual.variant)
    if actual.os != expected.os or actual.architecture != expected.architecture or variant_differs:
        raise ScriptError(
            f"the built image is {actual}, not {expected}: its base image (FROM) is probably "
            f"{actual.architecture}-only; use a multi-arch or {expected.architecture} base image"
        )


# ELF e_machine values (System V ABI, elf.h EM_*) for the architectures Docker names.
_ELF_MACHINES = {
    0x03: "386",
    0x28: "arm",
    0x3E: "amd64",
    0xB7: "arm64",
    0x15: "ppc64le",
    0x16: "s390x",
    0xF3: "riscv64",
}
# Programs nearly every Linux image has; the first one found is inspected.
PROBE_BINARIES = ("/bin/sh", "/usr/bin/env", "/bin/busybox")


def elf_architecture(header: bytes) -> str | None:
    """The architecture an ELF header is for (Docker's names), None if it is not ELF."""
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    machine = int.from_bytes(header[18:20], "big" if header[5] == 2 else "little")
    return _ELF_MACHINES.get(machine, f"ELF machine {machine:#x}")


def _read_from_image(
    client: docker.DockerClient, container: str, path: str, hops: int = 8
) -> tuple[str, bytes] | None:
    """The first bytes of ``path`` in a created (never started) container, symlinks followed."""
    for _ in range(hops):
        try:
            stream, stat = client.api.get_archive(container, path)
        except docker.errors.NotFound:
            return None
        data = b"".join(stream)
        if target := stat.get("linkTarget"):
            path = target if target.startswith("/") else f"{path.rsplit('/', 1)[0]}/{target}"
            continue
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            member = next((item for item in archive.getmembers() if item.isfile()), None)
            handle = archive.extractfile(member) if member else None
            return (path, handle.read(64)) if handle else None
    return None


def binary_architecture(client: docker.DockerClient, image_id: str) -> tuple[str, str] | None:
    """(path, architecture) of the first of PROBE_BINARIES in the image, read without running it."""
    container = client.api.create_container(image_id, entrypoint=["/nonexistent"], command=[])["Id"]
    try:
        for path in PROBE_BINARIES:
            found = _read_from_image(client, container, path)
            if found and (architecture := elf_architecture(found[1])):
                return found[0], architecture
        return None
    finally:
        client.api.remove_container(container, force=True)


def verify_built_image(client: docker.DockerClient, image_id: str, expected: Platform) -> Platform:
    """Fail unless the image is ``expected`` by its config *and* by its code; return its platform.

    The config alone is not enough: the engine's BuildKit (dockerd 20.10) labels the image with
    the requested platform even when its last stage was pinned to another one
    (``FROM --platform=...``), so an arm64-labelled image can hold amd64 programs that Fargate
    ARM64 cannot run. One program's ELF header tells.
    """
    attrs = client.images.get(image_id).attrs
    verify_image_platform(attrs, expected)
    binary = binary_architecture(client, image_id)
    if binary is not None and binary[1] != expected.architecture:
        path, architecture = binary
        raise ScriptError(
            f"the built image is labelled {expected} but {path} in it is {architecture} code: its last stage "
            f"runs on another platform (a FROM --platform=...?); build that stage for {expected}"
        )
    return image_platform(attrs)


def stream_error(event: StreamEvent) -> str | None:
    """The error message carried by a build/push stream line, if it carries one."""
    if "errorDetail" in event or "error" in event:
        detail = event.get("errorDetail") or {}
        return one_line(detail.get("message") or event.get("error") or "unknown error")
    return None


def api_error(error: Exception) -> str:
    if isinstance(error, docker.errors.APIError) and error.explanation:
        return one_line(error.explanation)
    return one_line(error)
